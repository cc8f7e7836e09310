//! Rows as statement parameters: read sets as key ranges, writes and index entries as the
//! columns of array statements, and documents decoded from their rows.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use super::key;
use crate::store::document_json;
use crate::store::{
    BY_ID, CommitRequest, Document, DocumentId, KeyPart, KeyRange, ReadSet, Schema, StoreError,
    TableIndexes,
};
use crate::value::Value;

/// A read set as half-open byte ranges of index keys, `[low, high)`, the columns of the
/// validation statement. A document read by id is the range of its `by_id` key.
pub(super) struct ReadRanges {
    pub(super) tables: Vec<String>,
    pub(super) indexes: Vec<String>,
    pub(super) lows: Vec<Vec<u8>>,
    pub(super) highs: Vec<Vec<u8>>,
}

impl ReadRanges {
    pub(super) fn new(reads: &ReadSet) -> Self {
        let mut ranges = ReadRanges {
            tables: Vec::new(),
            indexes: Vec::new(),
            lows: Vec::new(),
            highs: Vec::new(),
        };
        for id in reads.documents() {
            let key = key::encode(&[KeyPart::Value(Value::Int64(to_sql(id.number())))]);
            let high = next_after(key.clone());
            ranges.push(id.table(), BY_ID, key, high);
        }
        for read in reads.ranges() {
            let bounds = read.range.map_bounds();
            if KeyRange::is_empty_map_range(&bounds) {
                continue;
            }
            let low = match &bounds.0 {
                Bound::Unbounded => Vec::new(),
                Bound::Included(k) => key::encode(k),
                Bound::Excluded(k) => next_after(key::encode(k)),
            };
            let high = match &bounds.1 {
                Bound::Unbounded => vec![0xFF],
                Bound::Included(k) => next_after(key::encode(k)),
                Bound::Excluded(k) => key::encode(k),
            };
            ranges.push(&read.table, &read.index, low, high);
        }
        ranges
    }

    pub(super) fn push(&mut self, table: &str, index: &str, low: Vec<u8>, high: Vec<u8>) {
        self.tables.push(table.to_owned());
        self.indexes.push(index.to_owned());
        self.lows.push(low);
        self.highs.push(high);
    }
}

/// The least byte string greater than `bytes`: `bytes` followed by `0x00`.
pub(super) fn next_after(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(0x00);
    bytes
}

/// Index entries as the columns of an `unnest(..)` insert.
#[derive(Default)]
pub(super) struct EntryRows {
    pub(super) tables: Vec<String>,
    pub(super) indexes: Vec<String>,
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) numbers: Vec<i64>,
}

impl EntryRows {
    pub(super) fn push(&mut self, table: &str, index: &str, key: Vec<u8>, number: u64) {
        self.tables.push(table.to_owned());
        self.indexes.push(index.to_owned());
        self.keys.push(key);
        self.numbers.push(to_sql(number));
    }
}

/// A commit's writes as the columns of array statements.
pub(super) struct WriteRows {
    /// Every written document: its old index entries go.
    pub(super) written_tables: Vec<String>,
    pub(super) written_numbers: Vec<i64>,
    pub(super) deleted_tables: Vec<String>,
    pub(super) deleted_numbers: Vec<i64>,
    /// Documents this transaction created.
    pub(super) inserted: DocumentRows,
    /// Documents that existed before.
    pub(super) updated: DocumentRows,
    pub(super) entry_tables: Vec<String>,
    pub(super) entry_indexes: Vec<String>,
    pub(super) entry_keys: Vec<Vec<u8>>,
    pub(super) entry_numbers: Vec<i64>,
}

impl WriteRows {
    /// The tables of the documents written (updated, deleted or inserted).
    pub(super) fn tables(&self) -> impl Iterator<Item = &str> {
        self.written_tables
            .iter()
            .chain(&self.inserted.tables)
            .map(String::as_str)
    }

    pub(super) fn new(
        request: &CommitRequest,
        schema: &Schema,
        allocated: &HashSet<u64>,
    ) -> Result<Self, StoreError> {
        let n = request.writes.len();
        let mut rows = WriteRows {
            written_tables: Vec::with_capacity(n),
            written_numbers: Vec::with_capacity(n),
            deleted_tables: Vec::new(),
            deleted_numbers: Vec::new(),
            inserted: DocumentRows::default(),
            updated: DocumentRows::default(),
            entry_tables: Vec::with_capacity(3 * n),
            entry_indexes: Vec::with_capacity(3 * n),
            entry_keys: Vec::with_capacity(3 * n),
            entry_numbers: Vec::with_capacity(3 * n),
        };
        let mut indexes: HashMap<&str, Arc<TableIndexes>> = HashMap::new();
        for (id, doc) in &request.writes {
            let table = id.table();
            let number = to_sql(id.number());
            let new = allocated.contains(&id.number());
            if !new {
                rows.written_tables.push(table.to_owned());
                rows.written_numbers.push(number);
            }
            let Some(doc) = doc else {
                // Inserted and deleted again in this transaction: nothing to write.
                if !new {
                    rows.deleted_tables.push(table.to_owned());
                    rows.deleted_numbers.push(number);
                }
                continue;
            };
            let fields = document_json::encode_fields(&doc.fields).map_err(StoreError::Engine)?;
            let docs = if new {
                &mut rows.inserted
            } else {
                &mut rows.updated
            };
            docs.tables.push(table.to_owned());
            docs.numbers.push(number);
            docs.creation_times.push(doc.creation_time);
            docs.fields.push(fields);
            let defs = indexes.entry(table).or_insert_with(|| schema.table(table));
            for (name, fields) in defs.iter() {
                rows.entry_tables.push(table.to_owned());
                rows.entry_indexes.push(name.to_owned());
                rows.entry_keys.push(key::encode(&fields.key(doc)));
                rows.entry_numbers.push(number);
            }
        }
        Ok(rows)
    }
}

/// Documents as the columns of an `unnest(..)` insert.
#[derive(Default)]
pub(super) struct DocumentRows {
    pub(super) tables: Vec<String>,
    pub(super) numbers: Vec<i64>,
    pub(super) creation_times: Vec<f64>,
    pub(super) fields: Vec<String>,
}

/// A document from its row; [`StoreError::Unreadable`] naming it if its fields do not
/// decode.
pub(super) fn document(
    id: DocumentId,
    creation_time: f64,
    fields: &str,
) -> Result<Document, StoreError> {
    let fields = document_json::decode_fields(fields).map_err(|reason| StoreError::Unreadable {
        table: id.table().to_owned(),
        id: id.to_string(),
        reason,
    })?;
    Ok(Document {
        id,
        creation_time,
        fields,
    })
}

/// Numbers are `u64`, PostgreSQL's `bigint` is `i64`: the bits are kept (numbers never
/// reach 2^63 in practice, and the order of those that do is not used).
pub(super) fn to_sql(n: u64) -> i64 {
    n as i64
}

pub(super) fn from_sql(n: i64) -> u64 {
    n as u64
}
