//! The stored document: its id ([`DocumentId`]), its creation time and fields
//! ([`Document`]), commit timestamps and scan order.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::value::{Object, Value};

/// A commit timestamp: commits are numbered 1, 2, 3...; 0 is the empty store.
pub type Timestamp = u64;

/// The id of a document in any table: its table name and a number unique in the store.
///
/// Its string form is `"<table>:<number>"`, e.g. `"teams:42"`. Use [`Id<T>`](crate::Id) where the
/// table is known; `DocumentId` is for code that handles any table.
///
/// ```
/// use convoke::db::DocumentId;
/// let id: DocumentId = "teams:42".parse().unwrap();
/// assert_eq!((id.table(), id.number()), ("teams", 42));
/// assert_eq!(id, DocumentId::new("teams", 42));
/// assert!("teams".parse::<DocumentId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId {
    table: Arc<str>,
    number: u64,
}

impl DocumentId {
    /// An id from its parts.
    pub fn new(table: impl Into<Arc<str>>, number: u64) -> Self {
        DocumentId {
            table: table.into(),
            number,
        }
    }

    /// The table the document lives in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The document's number, unique in the store.
    pub fn number(&self) -> u64 {
        self.number
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.table, self.number)
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl Serialize for DocumentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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

    /// The document's size as Convex counts it: its fields plus the system fields.
    pub fn size(&self) -> usize {
        fields_size(&self.fields) + SYSTEM_FIELDS_SIZE
    }
}

/// `_id` and `_creationTime` as counted in a document's size.
const SYSTEM_FIELDS_SIZE: usize = 64;

/// The size of a document's user fields, as Convex counts it.
pub fn fields_size(fields: &Object) -> usize {
    2 + fields
        .iter()
        .map(|(k, v)| k.len() + 1 + v.size())
        .sum::<usize>()
}

/// Scan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending index order (oldest first on `by_creation_time`).
    #[default]
    Asc,
    /// Descending index order.
    Desc,
}

#[cfg(test)]
mod tests {
    use super::DocumentId;
    use crate::value::{Value, from_value};

    #[test]
    fn an_id_is_never_read_from_bytes() {
        assert!(from_value::<DocumentId>(Value::Bytes(b"teams:1".to_vec())).is_err());
    }
}
