//! What a transaction read ([`ReadSet`]), which the engine checks against later commits.

use std::collections::HashSet;
use std::sync::Arc;

use super::document::{Document, DocumentId};
use super::key::KeyRange;
use super::schema::TableIndexes;

/// A range of one index that a transaction read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRange {
    /// The table.
    pub table: Arc<str>,
    /// The index.
    pub index: String,
    /// The keys read, including those where nothing was found.
    pub range: KeyRange,
}

/// What a transaction read: the data its outcome depends on.
///
/// Documents read by id, and index ranges scanned (including ranges in which nothing was
/// found, so a later insert into them is noticed). A commit conflicts with the transaction
/// when it wrote a document read by id, or a document whose old or new key in an index lies
/// in a range read on that index.
#[derive(Debug, Clone, Default)]
pub struct ReadSet {
    documents: HashSet<DocumentId>,
    ranges: Vec<ReadRange>,
}

impl ReadSet {
    /// Records a read of one document by id.
    pub fn read_document(&mut self, id: &DocumentId) {
        if !self.documents.contains(id) {
            self.documents.insert(id.clone());
        }
    }

    /// Records a scan of an index range.
    pub fn read_range(&mut self, range: ReadRange) {
        if !self.ranges.contains(&range) {
            self.ranges.push(range);
        }
    }

    /// Whether a write of document `id`, from `old` to `new`, changes something this read
    /// set depends on. `indexes` gives a table's index definitions.
    pub fn is_affected_by(
        &self,
        id: &DocumentId,
        old: Option<&Document>,
        new: Option<&Document>,
        indexes: &dyn Fn(&str) -> Arc<TableIndexes>,
    ) -> bool {
        if self.documents.contains(id) {
            return true;
        }
        let mut table_indexes = None;
        for read in self.ranges.iter().filter(|r| &*r.table == id.table()) {
            let defs = table_indexes.get_or_insert_with(|| indexes(id.table()));
            let Some(fields) = defs.get(&read.index) else {
                continue;
            };
            let hit =
                |doc: Option<&Document>| doc.is_some_and(|d| read.range.contains(&fields.key(d)));
            if hit(old) || hit(new) {
                return true;
            }
        }
        false
    }

    /// The documents read by id.
    pub fn documents(&self) -> impl Iterator<Item = &DocumentId> {
        self.documents.iter()
    }

    /// The index ranges scanned.
    pub fn ranges(&self) -> &[ReadRange] {
        &self.ranges
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty() && self.ranges.is_empty()
    }
}
