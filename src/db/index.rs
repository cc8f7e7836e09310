//! Index ranges as queries build them ([`IndexRange`], the `with_index` builder), and the
//! index keys and key ranges of the stored model, re-exported from [`crate::store`].
//!
//! A range selects keys by prefix: equality on the first fields, then at most one lower and
//! one upper bound on the next field, as Convex's `withIndex`.

use std::ops::Bound;

use serde::Serialize;

use crate::db::DbError;
pub use crate::store::{BY_CREATION_TIME, BY_ID, IndexFields, IndexKey, KeyPart, KeyRange};
use crate::value::{self, Value};

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
    ) -> Result<KeyRange, DbError> {
        let invalid = |reason: String| DbError::InvalidIndexRange {
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
fn key_part(fields: &IndexFields, field: &str, v: Value) -> Result<KeyPart, DbError> {
    if fields.is_by_id() || field == "_id" {
        let id = match &v {
            Value::String(s) => s.parse::<crate::db::DocumentId>()?,
            other => {
                return Err(DbError::InvalidId {
                    id: other.to_string(),
                });
            }
        };
        return Ok(KeyPart::Value(Value::Int64(id.number() as i64)));
    }
    Ok(KeyPart::Value(v))
}
