//! Storage engines: where committed documents live.
//!
//! An engine keeps versions of documents by commit timestamp, serves reads at a snapshot,
//! and commits a transaction's writes atomically after checking its read set against every
//! commit made since its snapshot (optimistic concurrency control, serializable). The
//! transaction layer ([`crate::db`]) sits on top and is the same for every engine.
//!
//! Engines: [`MemoryStore`] (in-memory, for tests and examples).

mod memory;

use std::collections::HashSet;
use std::sync::Arc;

pub use memory::MemoryStore;

use crate::db::DocumentId;
use crate::value::{Object, Value, ValueError};

/// A commit timestamp: commits are numbered 1, 2, 3...; 0 is the empty store.
pub type Timestamp = u64;

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
    /// A value could not be converted to or from a document.
    #[error("invalid document: {0}")]
    Value(#[from] ValueError),
    /// The engine failed (I/O, corruption...).
    #[error("storage engine error: {0}")]
    Engine(String),
}

impl StoreError {
    /// Whether a concurrent commit conflicted with the transaction.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether a document was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// A stored document: its id, creation time and user fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`.
    pub id: DocumentId,
    /// `_creationTime`, in milliseconds since the Unix epoch.
    pub creation_time: f64,
    /// The user's fields, in order.
    pub fields: Object,
}

impl Document {
    /// The document as one object: `_id`, `_creationTime`, then the user's fields.
    pub fn to_value(&self) -> Value {
        let mut object = Object::with_capacity(self.fields.len() + 2);
        object.insert("_id".to_owned(), Value::String(self.id.to_string()));
        object.insert(
            "_creationTime".to_owned(),
            Value::Float64(self.creation_time),
        );
        for (k, v) in &self.fields {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object)
    }
}

/// Scan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

/// What a transaction read: the data its outcome depends on.
///
/// A commit conflicts with the transaction when it wrote a document the transaction read
/// by id, or any document of a table the transaction scanned (including scans that found
/// nothing, so a later insert is noticed too).
#[derive(Debug, Clone, Default)]
pub struct ReadSet {
    documents: HashSet<DocumentId>,
    tables: HashSet<Arc<str>>,
}

impl ReadSet {
    /// Records a read of one document by id.
    pub fn read_document(&mut self, id: &DocumentId) {
        if !self.documents.contains(id) {
            self.documents.insert(id.clone());
        }
    }

    /// Records a scan of a whole table.
    pub fn read_table(&mut self, table: &str) {
        if !self.tables.contains(table) {
            self.tables.insert(Arc::from(table));
        }
    }

    /// Whether a write of `id` changes something this read set depends on.
    pub fn is_affected_by(&self, id: &DocumentId) -> bool {
        self.tables.contains(id.table()) || self.documents.contains(id)
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty() && self.tables.is_empty()
    }
}

/// One write of a commit: the new version of a document, or `None` for a delete.
pub type Write = (DocumentId, Option<Arc<Document>>);

/// A transaction asking to commit.
#[derive(Debug)]
pub struct CommitRequest {
    /// The snapshot the transaction read at.
    pub snapshot: Timestamp,
    /// What it read.
    pub reads: ReadSet,
    /// What it wrote, one entry per document.
    pub writes: Vec<Write>,
}

/// A storage engine. See the [module documentation](self).
pub trait Storage: Send + Sync + 'static {
    /// Opens a snapshot at the latest commit and keeps its versions readable until
    /// [`Storage::release`] is called with the same timestamp.
    fn begin(&self) -> Timestamp;

    /// Releases a snapshot opened by [`Storage::begin`].
    fn release(&self, snapshot: Timestamp);

    /// The document with this id as of `snapshot`.
    fn get(
        &self,
        snapshot: Timestamp,
        id: &DocumentId,
    ) -> Result<Option<Arc<Document>>, StoreError>;

    /// Every document of `table` as of `snapshot`, in creation order.
    fn scan(&self, snapshot: Timestamp, table: &str) -> Result<Vec<Arc<Document>>, StoreError>;

    /// A fresh id for a new document of `table`.
    fn allocate_id(&self, table: &str) -> DocumentId;

    /// Validates the request's reads against every commit after its snapshot and, if none
    /// conflicts, applies its writes atomically as a new commit.
    fn commit(&self, request: CommitRequest) -> Result<Timestamp, StoreError>;
}
