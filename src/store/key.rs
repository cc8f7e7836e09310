//! Index keys and index ranges.
//!
//! Every index orders documents by a key: the indexed fields' values, then `_creationTime`,
//! then the document's number (so keys are unique). The system index `by_id` is keyed by the
//! number alone, `by_creation_time` by `_creationTime` then the number. A range selects keys
//! by prefix: equality on the first fields, then at most one lower and one upper bound on the
//! next field, as Convex's `withIndex`.

use std::ops::Bound;

use super::document::Document;
use crate::value::Value;

/// The system index ordering documents by id.
pub const BY_ID: &str = "by_id";
/// The system index ordering documents by creation time.
pub const BY_CREATION_TIME: &str = "by_creation_time";

/// One part of an index key: a field's value, or the field being absent.
///
/// Absent fields sort before every value, as `undefined` does in Convex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    /// The document has no such field.
    Missing,
    /// The field's value.
    Value(Value),
    /// Above every key part: a bound only, never stored.
    #[doc(hidden)]
    Max,
}

/// A full index key: indexed fields, `_creationTime`, document number.
pub type IndexKey = Vec<KeyPart>;

/// The fields of one index, in order (dotted paths reach into nested objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFields {
    fields: Vec<String>,
    system: SystemIndex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemIndex {
    ById,
    User,
}

impl IndexFields {
    /// The `by_id` index.
    pub fn by_id() -> Self {
        IndexFields {
            fields: Vec::new(),
            system: SystemIndex::ById,
        }
    }

    /// An index over these fields (`by_creation_time` is the index over no fields).
    pub fn over(fields: Vec<String>) -> Self {
        IndexFields {
            fields,
            system: SystemIndex::User,
        }
    }

    /// The indexed fields, without the implicit `_creationTime` and id.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The key of `doc` in this index.
    pub fn key(&self, doc: &Document) -> IndexKey {
        let number = KeyPart::Value(Value::Int64(doc.id.number() as i64));
        if self.system == SystemIndex::ById {
            return vec![number];
        }
        let mut key = Vec::with_capacity(self.fields.len() + 2);
        for field in &self.fields {
            key.push(match field_value(doc, field) {
                Some(v) => KeyPart::Value(v.clone()),
                None => KeyPart::Missing,
            });
        }
        key.push(KeyPart::Value(Value::Float64(doc.creation_time)));
        key.push(number);
        key
    }

    /// A text that differs between indexes with different keys: `_id` for `by_id`, the
    /// fields otherwise. Durable engines store it to notice a changed index.
    pub fn definition(&self) -> String {
        match self.system {
            SystemIndex::ById => "_id".to_owned(),
            SystemIndex::User => {
                let mut parts = self.fields.clone();
                parts.extend(["_creationTime".to_owned(), "_id".to_owned()]);
                parts.join(",")
            }
        }
    }

    /// Whether this is the `by_id` index, keyed by the document number alone.
    pub(crate) fn is_by_id(&self) -> bool {
        self.system == SystemIndex::ById
    }

    /// The name of key position `i`, for error messages.
    pub(crate) fn position_name(&self, i: usize) -> &str {
        match self.system {
            SystemIndex::ById => "_id",
            SystemIndex::User => self
                .fields
                .get(i)
                .map(String::as_str)
                .unwrap_or("_creationTime"),
        }
    }
}

/// A field of a document by dotted path (`"address.city"`).
fn field_value<'d>(doc: &'d Document, path: &str) -> Option<&'d Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut current = doc.fields.get(first)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A range over an index: the keys whose prefixes lie between `start` and `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRange {
    /// Lower bound on key prefixes.
    pub start: Bound<IndexKey>,
    /// Upper bound on key prefixes.
    pub end: Bound<IndexKey>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Exactly the keys starting with `prefix`.
    pub fn prefix(prefix: IndexKey) -> Self {
        KeyRange {
            start: Bound::Included(prefix.clone()),
            end: Bound::Included(prefix),
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[KeyPart]) -> bool {
        let above_start = match &self.start {
            Bound::Unbounded => true,
            Bound::Included(p) => prefix_of(key, p.len()) >= p.as_slice(),
            Bound::Excluded(p) => prefix_of(key, p.len()) > p.as_slice(),
        };
        above_start && self.below_end(key)
    }

    /// Whether `key` lies at or below the upper bound.
    pub fn below_end(&self, key: &[KeyPart]) -> bool {
        match &self.end {
            Bound::Unbounded => true,
            Bound::Included(p) => prefix_of(key, p.len()) <= p.as_slice(),
            Bound::Excluded(p) => prefix_of(key, p.len()) < p.as_slice(),
        }
    }

    /// Whether `key` lies at or above the lower bound.
    pub fn above_start(&self, key: &[KeyPart]) -> bool {
        match &self.start {
            Bound::Unbounded => true,
            Bound::Included(p) => prefix_of(key, p.len()) >= p.as_slice(),
            Bound::Excluded(p) => prefix_of(key, p.len()) > p.as_slice(),
        }
    }

    /// Bounds on full keys for an ordered map, equivalent to the prefix bounds.
    pub fn map_bounds(&self) -> (Bound<IndexKey>, Bound<IndexKey>) {
        let with_max = |p: &IndexKey| {
            let mut k = p.clone();
            k.push(KeyPart::Max);
            k
        };
        let start = match &self.start {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(p) => Bound::Included(p.clone()),
            Bound::Excluded(p) => Bound::Excluded(with_max(p)),
        };
        let end = match &self.end {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(p) => Bound::Excluded(with_max(p)),
            Bound::Excluded(p) => Bound::Excluded(p.clone()),
        };
        (start, end)
    }

    /// Whether the bounds of [`map_bounds`](KeyRange::map_bounds) select nothing (an
    /// ordered map panics on such bounds, so callers check first).
    pub fn is_empty_map_range(bounds: &(Bound<IndexKey>, Bound<IndexKey>)) -> bool {
        match bounds {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
                s >= e
            }
            _ => false,
        }
    }

    /// The part of this range strictly after `key` in `order`'s direction.
    pub fn after(&self, key: IndexKey, descending: bool) -> KeyRange {
        let mut range = self.clone();
        if descending {
            range.end = Bound::Excluded(key);
        } else {
            range.start = Bound::Excluded(key);
        }
        range
    }

    /// The part of this range up to and including `key` in `order`'s direction: what a
    /// scan that stopped at `key` has read.
    pub fn up_to(&self, key: IndexKey, descending: bool) -> KeyRange {
        let mut range = self.clone();
        if descending {
            range.start = Bound::Included(key);
        } else {
            range.end = Bound::Included(key);
        }
        range
    }
}

fn prefix_of(key: &[KeyPart], len: usize) -> &[KeyPart] {
    &key[..len.min(key.len())]
}
