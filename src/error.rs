//! The runtime's error type: what a procedure returns and what a caller sees.

use crate::db::DbError;
use crate::procedure::ProcedureKind;
use crate::store::StoreError;
use crate::value::{Value, ValueError};

/// `Result` with [`Error`] as the default error: the return type of every procedure.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when calling a procedure.
///
/// Procedures return their own failures as [`Error::user`] (Convex's `ConvexError`), which
/// carries a message and optional data to the caller. The other variants come from the
/// runtime: unknown paths, bad arguments, conflicts, depth limits, panics.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and use the predicates
/// (`is_user()`, `is_conflict()`, `is_unknown_procedure()`...) for the rest.
///
/// ```
/// use convoke::Error;
/// let err = Error::user_with_data("team is full", serde_json::json!({ "max": 10 })).unwrap();
/// assert!(err.is_user());
/// assert_eq!(err.to_string(), "team is full");
/// assert_eq!(err.data().and_then(|d| d.get("max")).and_then(|v| v.as_i64()), Some(10));
/// ```
///
/// In a procedure, return it like any error; `?` converts the database's errors:
///
/// ```
/// # mod teams {
/// use convoke::{Error, Id, QueryCtx, Result, Table, procedure};
/// # convoke::module!(teams);
/// # #[derive(serde::Serialize, serde::Deserialize, Table)]
/// # #[table(name = "teams")]
/// # pub struct Team { pub name: String }
///
/// #[procedure(query)]
/// pub async fn team_name(ctx: &QueryCtx<'_>, id: Id<Team>) -> Result<String> {
///     match ctx.db().get(id).await? {
///         Some(team) => Ok(team.into_inner().name),
///         None => Err(Error::user(format!("no team {id}"))),
///     }
/// }
/// # }
/// # fn main() {}
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error the procedure chose to return, with optional data for the caller.
    #[error("{message}")]
    User {
        /// What happened, for people.
        message: String,
        /// Structured data for programs (Convex's `errorData`).
        data: Option<Value>,
    },
    /// No procedure is registered under this path.
    #[error("Could not find function for '{path}'")]
    UnknownProcedure {
        /// The path that was asked for.
        path: String,
    },
    /// The procedure exists but is of another kind than the entry point expects.
    #[error("'{path}' is a {actual}, but was called as a {expected}")]
    WrongKind {
        /// The procedure's path.
        path: String,
        /// The kind the entry point runs.
        expected: ProcedureKind,
        /// The procedure's kind.
        actual: ProcedureKind,
    },
    /// The arguments do not match the procedure's argument type.
    #[error("invalid arguments for '{path}': {reason}")]
    InvalidArguments {
        /// The procedure's path.
        path: String,
        /// Why the arguments were rejected.
        reason: String,
    },
    /// The procedure's result could not be encoded as a value.
    #[error("'{path}' returned a value that cannot be encoded: {reason}")]
    InvalidOutput {
        /// The procedure's path.
        path: String,
        /// Why the value could not be encoded.
        reason: String,
    },
    /// Calls nested deeper than the runtime allows.
    #[error(
        "call depth limit exceeded: calling '{path}' would nest calls {depth} deep (the limit is {max})"
    )]
    DepthExceeded {
        /// The procedure that was about to be called.
        path: String,
        /// The depth the call would have had.
        depth: u32,
        /// The configured limit.
        max: u32,
    },
    /// The procedure panicked; its transaction was rolled back.
    #[error("'{path}' panicked: {message}")]
    Panicked {
        /// The procedure's path.
        path: String,
        /// The panic's message, when it had one.
        message: String,
    },
    /// A mutation kept conflicting with concurrent writes and was given up.
    #[error(
        "mutation '{path}' conflicted with concurrent writes {attempts} times and was given up: {source}"
    )]
    TooManyConflicts {
        /// The mutation's path.
        path: String,
        /// How many times it ran.
        attempts: u32,
        /// The last conflict.
        #[source]
        source: StoreError,
    },
    /// The mutation conflicted and could not get its turn to re-run: too many calls wait
    /// already, or the wait was too long (see [`Contention`](crate::Contention)). The load
    /// exceeds what the store can commit; nothing was committed, and the call can be tried
    /// again later (over HTTP: status 503 with `Retry-After`).
    #[error("mutation '{path}' was not run: the server is overloaded ({reason}); try again later")]
    Overloaded {
        /// The mutation's path.
        path: String,
        /// Which bound was reached.
        reason: String,
    },
    /// Two procedures were registered under one path.
    #[error("two procedures are registered under the path '{path}'")]
    DuplicateProcedure {
        /// The path both use.
        path: String,
    },
    /// A value could not be converted to or from Convex's data model.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The database refused an operation, or its engine failed ([`DbError::Store`]: a
    /// conflict, an outage...). The one variant for both, so that a failure has one shape
    /// whether it came through `ctx.db()` or from the runtime's own use of the engine
    /// (start-up, commit): a [`StoreError`] converts into `Db(DbError::Store(..))`.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A call to a procedure on another server failed outside the procedure: the server
    /// refused the request (bad token, unknown procedure...), the procedure failed there
    /// with a non-user error, or the server could not be reached. (A user error of a remote
    /// procedure is [`Error::User`], as in-process.) The transport's own error is inside
    /// the [`RemoteFailure`].
    #[error(transparent)]
    Remote(RemoteFailure),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Db(DbError::Store(e))
    }
}

impl Error {
    /// A user error with a message, like throwing `new ConvexError(message)` in Convex.
    ///
    /// ```
    /// let err = convoke::Error::user("no such team");
    /// assert!(err.is_user());
    /// assert!(err.data().is_none());
    /// ```
    pub fn user(message: impl Into<String>) -> Self {
        Error::User {
            message: message.into(),
            data: None,
        }
    }

    /// A user error with a message and data for the caller (Convex's `errorData`).
    ///
    /// Fails only when `data` cannot be encoded as a [`Value`].
    pub fn user_with_data(
        message: impl Into<String>,
        data: impl serde::Serialize,
    ) -> std::result::Result<Self, ValueError> {
        Ok(Error::User {
            message: message.into(),
            data: Some(crate::value::to_value(&data)?),
        })
    }

    /// The data of a user error, if any.
    pub fn data(&self) -> Option<&Value> {
        match self {
            Error::User { data, .. } => data.as_ref(),
            _ => None,
        }
    }

    /// Whether the procedure itself returned this error (see [`Error::user`]).
    pub fn is_user(&self) -> bool {
        matches!(self, Error::User { .. })
    }

    /// Whether this is an optimistic-concurrency conflict: [`Error::TooManyConflicts`]
    /// (the runtime re-ran a mutation until it gave up) or a store conflict.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::TooManyConflicts { .. } => true,
            Error::Db(e) => e.is_conflict(),
            _ => false,
        }
    }

    /// Whether a conflicting mutation could not get its turn to re-run because the load
    /// exceeds what the store can commit ([`Error::Overloaded`]): try again later.
    pub fn is_overloaded(&self) -> bool {
        matches!(self, Error::Overloaded { .. })
    }

    /// Whether the database could not be reached (see [`StoreError::is_unavailable`]):
    /// nothing was committed, or (`CommitOutcomeUnknown`) the outcome is not known.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Db(e) if e.is_unavailable())
    }

    /// Whether no procedure was found under the requested path.
    pub fn is_unknown_procedure(&self) -> bool {
        matches!(self, Error::UnknownProcedure { .. })
    }

    /// Whether the procedure was called through the entry point of another kind.
    pub fn is_wrong_kind(&self) -> bool {
        matches!(self, Error::WrongKind { .. })
    }

    /// Whether the arguments did not match the procedure's argument type.
    pub fn is_invalid_arguments(&self) -> bool {
        matches!(self, Error::InvalidArguments { .. })
    }

    /// Whether the call nesting limit was reached.
    pub fn is_depth_exceeded(&self) -> bool {
        matches!(self, Error::DepthExceeded { .. })
    }

    /// Whether the procedure panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }

    /// Whether a call to another server failed outside the procedure (see
    /// [`Error::Remote`]).
    pub fn is_remote(&self) -> bool {
        matches!(self, Error::Remote(_))
    }

    /// The failure of a call to another server, if this is one.
    pub fn as_remote(&self) -> Option<&RemoteFailure> {
        match self {
            Error::Remote(e) => Some(e),
            _ => None,
        }
    }

    /// Whether a server refused a remote call's credentials (HTTP 401): what the remote
    /// caller retries once with a refreshed token.
    pub fn is_unauthorized(&self) -> bool {
        self.as_remote().is_some_and(RemoteFailure::is_unauthorized)
    }
}

/// How a call to a procedure on another server failed, outside the procedure itself: carried
/// by [`Error::Remote`].
///
/// The core does not know the transport: a `RemoteFailure` holds the transport's own error
/// (with the `remote` feature, a `convoke::remote::RemoteError`), the
/// HTTP status when a server answered, and the server's error code. The predicates cover
/// what callers decide on; [`downcast_ref`](RemoteFailure::downcast_ref) reaches the rest.
///
/// ```
/// use convoke::{Error, RemoteFailure};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("the gateway said no")]
/// struct Refused;
///
/// let err = Error::Remote(RemoteFailure::new(Refused).with_status(401));
/// assert!(err.is_unauthorized());
/// assert_eq!(err.to_string(), "the gateway said no");
/// assert!(err.as_remote().unwrap().downcast_ref::<Refused>().is_some());
/// ```
#[derive(Debug)]
pub struct RemoteFailure {
    status: Option<u16>,
    code: Option<String>,
    timeout: bool,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl RemoteFailure {
    /// A failure described by a transport's error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> RemoteFailure {
        RemoteFailure {
            status: None,
            code: None,
            timeout: false,
            source: Box::new(source),
        }
    }

    /// The HTTP status the server answered with.
    pub fn with_status(mut self, status: u16) -> RemoteFailure {
        self.status = Some(status);
        self
    }

    /// The server's error code, such as `"Unauthenticated"` or `"FunctionNotFound"`.
    pub fn with_code(mut self, code: impl Into<String>) -> RemoteFailure {
        self.code = Some(code.into());
        self
    }

    /// Marks the failure as a timeout.
    pub fn with_timeout(mut self) -> RemoteFailure {
        self.timeout = true;
        self
    }

    /// The HTTP status of a refused request, if a server answered one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's error code, if it sent one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether the server refused the request's credentials (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        self.status == Some(401)
    }

    /// Whether the server has no public procedure at the requested path: HTTP 404, or the
    /// code `"FunctionNotFound"` (an internal procedure, refused before any request).
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || self.code() == Some("FunctionNotFound")
    }

    /// Whether the call timed out: on the client, or on the server (HTTP 408).
    pub fn is_timeout(&self) -> bool {
        self.timeout || self.status == Some(408)
    }

    /// The transport's error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The transport's error as `E`, if it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for RemoteFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}
