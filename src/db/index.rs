//! Index keys and index ranges.
//!
//! Every index orders documents by a key: the indexed fields' values, then `_creationTime`,
//! then the document's number (so keys are unique). The system index `by_id` is keyed by the
//! number alone, `by_creation_time` by `_creationTime` then the number. A range selects keys
//! by prefix: equality on the first fields, then at most one lower and one upper bound on the
//! next field, as Convex's `withIndex`.

use std::ops::Bound;

use serde::Serialize;

use crate::store::{Document, StoreError};
use crate::value::{self, Value};

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

    /// The name of key position `i`, for error messages.
    fn position_name(&self, i: usize) -> &str {
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

/// Builds an index range, Convex-style: `|r| r.eq("owner", id).gte("score", 10)`.
///
/// Conditions must follow the index's field order: equalities on a prefix of the fields,
/// then at most one lower bound (`gt`/`gte`) and one upper bound (`lt`/`lte`) on the next
/// field. Mistakes are reported when the query runs, with the index's fields named.
#[derive(Debug, Default)]
#[must_use]
pub struct IndexRange {
    eqs: Vec<(String, Value)>,
    lower: Option<(String, Value, bool)>,
    upper: Option<(String, Value, bool)>,
    error: Option<String>,
}

impl IndexRange {
    fn encode(&mut self, value: impl Serialize) -> Value {
        match value::to_value(&value) {
            Ok(v) => v,
            Err(e) => {
                self.error.get_or_insert_with(|| e.to_string());
                Value::Null
            }
        }
    }

    /// The next indexed field equals `value`.
    pub fn eq(mut self, field: &str, value: impl Serialize) -> Self {
        let v = self.encode(value);
        if self.lower.is_some() || self.upper.is_some() {
            self.error.get_or_insert_with(|| {
                format!("`eq(\"{field}\", ..)` must come before the range bounds")
            });
        }
        self.eqs.push((field.to_owned(), v));
        self
    }

    /// The field after the equalities is greater than `value`.
    pub fn gt(self, field: &str, value: impl Serialize) -> Self {
        self.lower_bound(field, value, false)
    }

    /// The field after the equalities is greater than or equal to `value`.
    pub fn gte(self, field: &str, value: impl Serialize) -> Self {
        self.lower_bound(field, value, true)
    }

    /// The field after the equalities is less than `value`.
    pub fn lt(self, field: &str, value: impl Serialize) -> Self {
        self.upper_bound(field, value, false)
    }

    /// The field after the equalities is less than or equal to `value`.
    pub fn lte(self, field: &str, value: impl Serialize) -> Self {
        self.upper_bound(field, value, true)
    }

    fn lower_bound(mut self, field: &str, value: impl Serialize, inclusive: bool) -> Self {
        let v = self.encode(value);
        if self.lower.is_some() {
            self.error
                .get_or_insert_with(|| "an index range has at most one lower bound".to_owned());
        }
        self.lower = Some((field.to_owned(), v, inclusive));
        self
    }

    fn upper_bound(mut self, field: &str, value: impl Serialize, inclusive: bool) -> Self {
        let v = self.encode(value);
        if self.upper.is_some() {
            self.error
                .get_or_insert_with(|| "an index range has at most one upper bound".to_owned());
        }
        self.upper = Some((field.to_owned(), v, inclusive));
        self
    }

    /// Checks the conditions against the index and turns them into a key range.
    pub(crate) fn resolve(
        self,
        table: &str,
        index: &str,
        fields: &IndexFields,
    ) -> Result<KeyRange, StoreError> {
        let invalid = |reason: String| StoreError::InvalidIndexRange {
            table: table.to_owned(),
            index: index.to_owned(),
            reason,
        };
        if let Some(reason) = self.error {
            return Err(invalid(reason));
        }
        let expected = |i: usize| fields.position_name(i).to_owned();
        let mut prefix: IndexKey = Vec::with_capacity(self.eqs.len() + 1);
        for (i, (field, v)) in self.eqs.into_iter().enumerate() {
            if field != expected(i) {
                return Err(invalid(format!(
                    "conditions must follow the index's fields in order: expected `{}`, found `{field}`",
                    expected(i)
                )));
            }
            prefix.push(key_part(fields, &field, v)?);
        }
        let next = expected(prefix.len());
        let mut range = KeyRange::prefix(prefix.clone());
        if prefix.is_empty() {
            range = KeyRange::all();
        }
        if let Some((field, v, inclusive)) = self.lower {
            if field != next {
                return Err(invalid(format!(
                    "a lower bound must be on the field after the equalities, `{next}`, not `{field}`"
                )));
            }
            let mut bound = prefix.clone();
            bound.push(key_part(fields, &field, v)?);
            range.start = if inclusive {
                Bound::Included(bound)
            } else {
                Bound::Excluded(bound)
            };
        }
        if let Some((field, v, inclusive)) = self.upper {
            if field != next {
                return Err(invalid(format!(
                    "an upper bound must be on the field after the equalities, `{next}`, not `{field}`"
                )));
            }
            let mut bound = prefix;
            bound.push(key_part(fields, &field, v)?);
            range.end = if inclusive {
                Bound::Included(bound)
            } else {
                Bound::Excluded(bound)
            };
        }
        Ok(range)
    }
}

/// The key part for a condition's value; `_id` conditions take the id's string form.
fn key_part(fields: &IndexFields, field: &str, v: Value) -> Result<KeyPart, StoreError> {
    if fields.system == SystemIndex::ById || field == "_id" {
        let id = match &v {
            Value::String(s) => s.parse::<crate::db::DocumentId>()?,
            other => {
                return Err(StoreError::InvalidId {
                    id: other.to_string(),
                });
            }
        };
        return Ok(KeyPart::Value(Value::Int64(id.number() as i64)));
    }
    Ok(KeyPart::Value(v))
}
