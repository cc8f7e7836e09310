//! The error of the database API: [`DbError`], what `ctx.db()` (and the scheduler's job
//! table) refuses, with the engine's own failures as [`DbError::Store`].

use crate::store::StoreError;
use crate::value::ValueError;

/// What an operation of the database API fails with: a refusal of the operation itself (a
/// missing document, a write in a query, an invalid id, range or cursor, a limit...) or a
/// failure of the engine ([`DbError::Store`]).
///
/// `#[non_exhaustive]`: match the variants you handle and use the predicates
/// ([`is_not_found`](DbError::is_not_found), [`is_conflict`](DbError::is_conflict)...)
/// for the rest.
///
/// ```
/// use convoke::db::{DbError, DocumentId};
/// let err = "teams".parse::<DocumentId>().unwrap_err();
/// assert!(matches!(err, DbError::InvalidId { .. }));
/// assert!(!err.is_conflict());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The transaction is read-only (a query's).
    #[error("a query cannot write to the database")]
    ReadOnly,
    /// No document has this id.
    #[error("no document with id '{id}'")]
    NotFound {
        /// The id that was asked for.
        id: String,
    },
    /// The id belongs to another table than the one asked for.
    #[error("id '{id}' is not an id of table '{expected}'")]
    WrongTable {
        /// The id.
        id: String,
        /// The table expected.
        expected: String,
    },
    /// The string is not a document id.
    #[error("'{id}' is not a valid document id")]
    InvalidId {
        /// The string.
        id: String,
    },
    /// A document must be an object.
    #[error("a document must be an object, not {found}")]
    NotAnObject {
        /// The type that was given.
        found: &'static str,
    },
    /// System fields (`_id`, `_creationTime`) are set by the store.
    #[error("field '{field}' is a system field and cannot be written")]
    SystemField {
        /// The field.
        field: String,
    },
    /// System tables (names starting with `_`, such as `_scheduled_functions`) are
    /// written by the runtime only; procedures can read them.
    #[error(
        "table '{table}' is a system table: procedures can read it but not {operation} its documents"
    )]
    SystemTable {
        /// The table.
        table: String,
        /// What was refused: `"insert"`, `"patch"`, `"replace"` or `"delete"`.
        operation: &'static str,
    },
    /// A value could not be converted to or from a document.
    #[error("invalid document: {0}")]
    Value(#[from] ValueError),
    /// The table has no index of this name.
    #[error("table '{table}' has no index '{index}' (its indexes: {available})")]
    UnknownIndex {
        /// The table.
        table: String,
        /// The index asked for.
        index: String,
        /// The indexes the table has.
        available: String,
    },
    /// An index range's conditions do not fit the index.
    #[error("invalid range on index '{index}' of table '{table}': {reason}")]
    InvalidIndexRange {
        /// The table.
        table: String,
        /// The index.
        index: String,
        /// What is wrong.
        reason: String,
    },
    /// `unique()` found more than one document.
    #[error("unique() found more than one document in table '{table}'")]
    NotUnique {
        /// The table.
        table: String,
    },
    /// A pagination cursor is malformed or belongs to another query.
    #[error("invalid pagination cursor: {reason}")]
    InvalidCursor {
        /// What is wrong.
        reason: String,
    },
    /// A per-transaction limit was reached.
    #[error(
        "transaction limit exceeded: {what} ({limit} max); split the work over several transactions"
    )]
    LimitExceeded {
        /// Which limit, e.g. "documents read".
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A scheduled function's arguments do not fit in its job, a document of
    /// `_scheduled_functions` (documents are limited to 1 MiB). A limit, like
    /// [`DbError::LimitExceeded`] (see [`DbError::is_limit_exceeded`]), kept apart because
    /// it names the procedure and the size.
    #[error(
        "the arguments of scheduled function '{path}' are {size} bytes; at most {max} bytes fit in a scheduled job (a document, limited to 1 MiB)"
    )]
    ScheduledArgsTooLarge {
        /// The procedure that was scheduled.
        path: String,
        /// The arguments' size.
        size: usize,
        /// The largest arguments that fit.
        max: usize,
    },
    /// The storage engine failed: a conflict, an outage, an unreadable document...
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DbError {
    /// The engine's error, if the engine failed.
    pub fn as_store(&self) -> Option<&StoreError> {
        match self {
            DbError::Store(e) => Some(e),
            _ => None,
        }
    }

    /// Whether a concurrent commit conflicted with the transaction
    /// ([`StoreError::Conflict`]).
    pub fn is_conflict(&self) -> bool {
        self.as_store().is_some_and(StoreError::is_conflict)
    }

    /// Whether the database could not be reached (see [`StoreError::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.as_store().is_some_and(StoreError::is_unavailable)
    }

    /// Whether a document was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::NotFound { .. })
    }

    /// Whether the transaction is read-only (a query's) and was asked to write.
    pub fn is_read_only(&self) -> bool {
        matches!(self, DbError::ReadOnly)
    }

    /// Whether a per-transaction limit was reached, or a scheduled function's arguments
    /// were too large.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            DbError::LimitExceeded { .. } | DbError::ScheduledArgsTooLarge { .. }
        )
    }

    /// Whether a stored document does not decode (see [`StoreError::Unreadable`]).
    pub fn is_unreadable(&self) -> bool {
        self.as_store().is_some_and(StoreError::is_unreadable)
    }

    /// Whether a query named an index its table does not have, or a range that does not fit.
    pub fn is_invalid_index(&self) -> bool {
        matches!(
            self,
            DbError::UnknownIndex { .. } | DbError::InvalidIndexRange { .. }
        )
    }

    /// Whether a procedure tried to write a system table (see [`DbError::SystemTable`]).
    pub fn is_system_table(&self) -> bool {
        matches!(self, DbError::SystemTable { .. })
    }

    /// Whether the schema is invalid (see [`StoreError::InvalidSchema`]).
    pub fn is_invalid_schema(&self) -> bool {
        self.as_store().is_some_and(StoreError::is_invalid_schema)
    }
}
