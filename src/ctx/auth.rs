//! The caller's identity, as `ctx.auth()` gives it.

use crate::value::{Object, Value};

/// The authenticated caller, like Convex's `UserIdentity`.
///
/// Today an identity is given to the runtime with [`Runtime::with_identity`]
/// (the HTTP layer, which will verify JWTs and build identities from their claims, is
/// planned). Inside a procedure, `ctx.auth().user_identity()` returns it.
///
/// [`Runtime::with_identity`]: crate::Runtime::with_identity
///
/// ```
/// use convoke::UserIdentity;
/// let me = UserIdentity::new("https://auth.example.com", "user_42").with_claim("email", "a@b.c");
/// assert_eq!(me.token_identifier(), "https://auth.example.com|user_42");
/// assert_eq!(me.claim("email").and_then(|v| v.as_str()), Some("a@b.c"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UserIdentity {
    issuer: String,
    subject: String,
    token_identifier: String,
    claims: Object,
}

impl UserIdentity {
    /// An identity from its issuer (`iss`) and subject (`sub`).
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let subject = subject.into();
        let token_identifier = format!("{issuer}|{subject}");
        UserIdentity {
            issuer,
            subject,
            token_identifier,
            claims: Object::new(),
        }
    }

    /// Adds a claim (e.g. `email`, `name`, or a custom one).
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Who issued the token (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The user's id at the issuer (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `"<issuer>|<subject>"`: a stable, unique key for the user.
    pub fn token_identifier(&self) -> &str {
        &self.token_identifier
    }

    /// One claim of the token, by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// All claims other than issuer and subject.
    pub fn claims(&self) -> &Object {
        &self.claims
    }
}

/// Access to the caller's identity: `ctx.auth().user_identity()`.
///
/// The identity flows into every call a procedure makes, in-process; scheduled functions
/// will run without it, as in Convex.
///
/// ```
/// # mod users {
/// use convoke::{QueryCtx, Result, procedure};
/// # convoke::module!(users);
///
/// /// The caller's e-mail address, from the token's `email` claim.
/// #[procedure(query)]
/// pub async fn my_email(ctx: &QueryCtx<'_>) -> Result<String> {
///     let me = ctx.auth().user_identity().ok_or_else(|| convoke::Error::user("not signed in"))?;
///     match me.claim("email").and_then(|v| v.as_str()) {
///         Some(email) => Ok(email.to_owned()),
///         None => Err(convoke::Error::user("no e-mail address")),
///     }
/// }
/// # }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    identity: Option<&'a UserIdentity>,
}

impl<'a> Auth<'a> {
    pub(crate) fn new(identity: Option<&'a UserIdentity>) -> Self {
        Auth { identity }
    }

    /// The authenticated caller, or `None` for an anonymous call (and for scheduled
    /// functions, which run without the scheduler's identity).
    pub fn user_identity(&self) -> Option<&'a UserIdentity> {
        self.identity
    }
}
