//! The error of the storage engines: [`StoreError`].

/// What a storage engine fails with: a conflict, an outage, a failure of the engine, a
/// stored document that does not decode, or an invalid schema at start-up.
///
/// What the database API refuses (a missing document, a write in a query, a limit...) is
/// a `DbError` (in `convoke::db`), which carries these as its `Store` variant.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A concurrent commit changed what this transaction read: re-run it.
    #[error("a concurrent write to table '{table}' conflicted with this transaction")]
    Conflict {
        /// The table the conflicting write touched.
        table: String,
    },
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

    /// Whether the connection was lost after the commit was sent, so that it may or may not
    /// have been applied ([`StoreError::CommitOutcomeUnknown`]).
    pub fn is_commit_outcome_unknown(&self) -> bool {
        matches!(self, StoreError::CommitOutcomeUnknown { .. })
    }

    /// Whether a stored document does not decode (see [`StoreError::Unreadable`]).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, StoreError::Unreadable { .. })
    }

    /// Whether the schema is invalid.
    pub fn is_invalid_schema(&self) -> bool {
        matches!(self, StoreError::InvalidSchema { .. })
    }
}
