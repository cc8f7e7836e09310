//! The error of the document store: [`StoreError`].

use crate::value::ValueError;

/// Errors of the document store.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A concurrent commit changed what this transaction read: re-run it.
    #[error("a concurrent write to table '{table}' conflicted with this transaction")]
    Conflict {
        /// The table the conflicting write touched.
        table: String,
    },
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
    /// The engine failed (I/O, corruption...).
    #[error("storage engine error: {0}")]
    Engine(String),
    /// The database could not be reached: connection refused or lost, or no connection
    /// free in time. Nothing was committed; the request can be tried again.
    #[error("the database is unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// The connection was lost while the database was committing: the commit may or may
    /// not have been applied. (Not re-run, so that nothing is applied twice.)
    #[error(
        "the connection to the database was lost while committing; the commit may or may not have been applied: {reason}"
    )]
    CommitOutcomeUnknown {
        /// What went wrong.
        reason: String,
    },
    /// A table declaration is invalid (checked at start-up).
    #[error("invalid schema for table '{table}': {reason}")]
    InvalidSchema {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
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
    /// A scheduled function's arguments do not fit in its job, a document of
    /// `_scheduled_functions` (documents are limited to 1 MiB).
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
    /// A stored document does not decode (written by an older build, or changed by hand):
    /// the store opened without it, and reading it (by id) fails with this error. See the
    /// README, "Repairing a store".
    #[error("document {id} of table '{table}' is stored but unreadable: {reason}")]
    Unreadable {
        /// The document's table.
        table: String,
        /// The document's id (`table:number`).
        id: String,
        /// Why it does not decode.
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
}

impl StoreError {
    /// Whether a concurrent commit conflicted with the transaction.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether the database could not be reached ([`StoreError::Unavailable`] or
    /// [`StoreError::CommitOutcomeUnknown`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::CommitOutcomeUnknown { .. }
        )
    }

    /// Whether a document was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether a per-transaction limit was reached, or a scheduled function's arguments
    /// were too large.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            StoreError::LimitExceeded { .. } | StoreError::ScheduledArgsTooLarge { .. }
        )
    }

    /// Whether a stored document does not decode (see [`StoreError::Unreadable`]).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, StoreError::Unreadable { .. })
    }

    /// Whether a query named an index its table does not have, or a range that does not fit.
    pub fn is_invalid_index(&self) -> bool {
        matches!(
            self,
            StoreError::UnknownIndex { .. } | StoreError::InvalidIndexRange { .. }
        )
    }

    /// Whether a procedure tried to write a system table (see [`StoreError::SystemTable`]).
    pub fn is_system_table(&self) -> bool {
        matches!(self, StoreError::SystemTable { .. })
    }

    /// Whether the schema is invalid.
    pub fn is_invalid_schema(&self) -> bool {
        matches!(self, StoreError::InvalidSchema { .. })
    }
}
