//! Middleware and argument validation: what runs around a procedure on every path into it.
//!
//! [`Middleware`] has the guide, with an example; [`Validate`] checks arguments.

use std::future::Future;
use std::time::Instant;

use crate::ctx::{ActionCtx, Auth, LogLevel, MutationCtx, QueryCtx};
use crate::error::{Error, Result};
use crate::procedure::ProcedureKind;
use crate::value::{Object, Value};

/// What every context offers a middleware: the caller's identity and logging.
pub trait CallContext: Send + Sync {
    /// The caller's identity.
    fn auth(&self) -> Auth<'_>;
    /// Logs a line at a level (see [`QueryCtx::log`]).
    fn log_at(&self, level: LogLevel, message: &dyn std::fmt::Display);
}

impl CallContext for QueryCtx<'_> {
    fn auth(&self) -> Auth<'_> {
        QueryCtx::auth(self)
    }
    fn log_at(&self, level: LogLevel, message: &dyn std::fmt::Display) {
        QueryCtx::log_at(self, level, message)
    }
}

impl CallContext for MutationCtx<'_> {
    fn auth(&self) -> Auth<'_> {
        MutationCtx::auth(self)
    }
    fn log_at(&self, level: LogLevel, message: &dyn std::fmt::Display) {
        MutationCtx::log_at(self, level, message)
    }
}

impl CallContext for ActionCtx {
    fn auth(&self) -> Auth<'_> {
        ActionCtx::auth(self)
    }
    fn log_at(&self, level: LogLevel, message: &dyn std::fmt::Display) {
        ActionCtx::log_at(self, level, message)
    }
}

/// The call a middleware runs around.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The procedure's path, `"teams:create"`.
    pub path: &'static str,
    /// Its kind.
    pub kind: ProcedureKind,
    /// When the call started (before the middleware ran).
    pub started: Instant,
}

/// Runs around the procedures that name it (`#[procedure(query, with = M)]`), in contexts
/// of type `C`.
///
/// [`before`](Middleware::before) runs first: it may reject the call with an error (the
/// handler never runs) or hand the handler a value (its second parameter).
/// [`after`](Middleware::after) runs with the outcome, for timing and logging. Implement it
/// for the contexts it supports: `impl<C: CallContext> Middleware<C>` for all of them, or
/// `impl Middleware<ActionCtx>` for actions only; using it elsewhere does not compile.
///
/// A middleware is a type implementing [`Middleware`]; procedures opt in with one word in
/// their attribute, `#[procedure(mutation, with = Authed)]`, and receive the middleware's
/// value as their second parameter. It runs on every path that enters the procedure: the
/// typed and by-name runtime entry points, module callers in every context, `run_*` from
/// actions, HTTP, and the scheduler. Calling the handler function directly ("handler
/// mode") skips it: the caller passes the value itself.
///
/// ```
/// use convoke::{CallContext, CallInfo, Error, MutationCtx, Middleware, Result, procedure};
///
/// /// The signed-in user: only [`Authed`] makes one, so a handler that takes it cannot
/// /// forget the check.
/// pub struct CurrentUser { pub subject: String }
///
/// /// Rejects anonymous calls; hands the user to the handler.
/// pub struct Authed;
///
/// impl<C: CallContext> Middleware<C> for Authed {
///     type Value = CurrentUser;
///
///     async fn before(ctx: &C, call: &CallInfo) -> Result<CurrentUser> {
///         match ctx.auth().user_identity() {
///             Some(user) => Ok(CurrentUser { subject: user.subject().to_owned() }),
///             None => Err(Error::user(format!("{} needs a signed-in user", call.path))),
///         }
///     }
/// }
///
/// mod notes {
///     use super::*;
///     convoke::module!(notes);
///
///     #[procedure(mutation, with = Authed)]
///     pub async fn add(ctx: &MutationCtx<'_>, user: CurrentUser, text: String) -> Result<String> {
///         Ok(format!("{} wrote {text}", user.subject))
///     }
/// }
/// # fn main() {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a middleware for `{C}`",
    label = "this procedure's context has no `{Self}` middleware",
    note = "implement `Middleware<{C}>` for `{Self}`, or use the middleware on procedures of a context it supports"
)]
pub trait Middleware<C: ?Sized>: Send + Sync + 'static {
    /// What the handler receives.
    type Value: Send;

    /// Runs before the handler; `Err` rejects the call.
    fn before(ctx: &C, call: &CallInfo) -> impl Future<Output = Result<Self::Value>> + Send;

    /// Runs after the handler with whether it succeeded. Does nothing by default.
    fn after(
        ctx: &C,
        call: &CallInfo,
        outcome: std::result::Result<(), &Error>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, call, outcome);
        async {}
    }
}

/// Checks a procedure's arguments beyond their types: `#[procedure(mutation, validate)]`
/// calls it on every path before the handler runs.
///
/// ```
/// use convoke::{Validate, ValidationError};
///
/// #[derive(serde::Deserialize)]
/// struct Rename { name: String }
///
/// impl Validate for Rename {
///     fn validate(&self) -> Result<(), ValidationError> {
///         if self.name.trim().is_empty() {
///             return Err(ValidationError::new("name", "must not be empty"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Validate {
    /// `Ok` if the arguments are acceptable.
    fn validate(&self) -> std::result::Result<(), ValidationError>;
}

/// Why arguments were refused, and where: a field path such as `"members[2].email"`.
///
/// Callers receive it as a user error (`Error::User`) whose message names the field and
/// whose data is `{ "path": .., "message": .. }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid argument `{path}`: {message}")]
pub struct ValidationError {
    path: String,
    message: String,
}

impl ValidationError {
    /// A failure at field `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same failure inside field `parent`: `"email"` becomes `"owner.email"`.
    pub fn within(mut self, parent: &str) -> Self {
        self.path = if self.path.is_empty() {
            parent.to_owned()
        } else if self.path.starts_with('[') {
            format!("{parent}{}", self.path)
        } else {
            format!("{parent}.{}", self.path)
        };
        self
    }

    /// The field path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        let mut data = Object::new();
        data.insert("path".to_owned(), Value::String(e.path.clone()));
        data.insert("message".to_owned(), Value::String(e.message.clone()));
        Error::User {
            message: e.to_string(),
            data: Some(Value::Object(data)),
        }
    }
}

/// Runs a handler future inside middleware `M`. Used by generated code.
#[doc(hidden)]
pub async fn run_with<C, M, T, F, Fut>(ctx: &C, call: CallInfo, handler: F) -> Result<T>
where
    C: ?Sized + Sync,
    M: Middleware<C>,
    F: FnOnce(M::Value) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let value = M::before(ctx, &call).await?;
    let result = handler(value).await;
    M::after(ctx, &call, result.as_ref().map(|_| ())).await;
    result
}

/// Validates arguments. Used by generated code.
#[doc(hidden)]
pub fn validate<A: Validate>(args: &A) -> Result<()> {
    args.validate().map_err(Error::from)
}
