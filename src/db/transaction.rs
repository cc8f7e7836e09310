//! A transaction over a storage engine: snapshot reads, buffered writes, savepoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::db::DocumentId;
use crate::store::{CommitRequest, Document, Order, ReadSet, Storage, StoreError, Timestamp};
use crate::value::Object;

/// One transaction: reads at a snapshot, writes buffered until commit.
///
/// Shared by every context of one call chain (a query called from a mutation sees the
/// mutation's writes); interior state sits behind a mutex held only for single operations.
pub(crate) struct Transaction {
    store: Arc<dyn Storage>,
    snapshot: Timestamp,
    writable: bool,
    state: Mutex<TxState>,
}

#[derive(Default)]
struct TxState {
    /// The latest pending version of each written document (`None`: deleted).
    writes: HashMap<DocumentId, Option<Arc<Document>>>,
    /// For savepoints: each write with the pending entry it replaced.
    undo: Vec<(DocumentId, Option<Option<Arc<Document>>>)>,
    reads: ReadSet,
}

impl Transaction {
    pub(crate) fn begin(store: Arc<dyn Storage>, writable: bool) -> Self {
        let snapshot = store.begin();
        Transaction {
            store,
            snapshot,
            writable,
            state: Mutex::new(TxState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, id: &DocumentId) -> Result<Option<Arc<Document>>, StoreError> {
        let mut state = self.lock();
        if let Some(pending) = state.writes.get(id) {
            return Ok(pending.clone());
        }
        state.reads.read_document(id);
        drop(state);
        self.store.get(self.snapshot, id)
    }

    /// Every document of `table` as this transaction sees it, in `order`.
    pub(crate) fn scan(&self, table: &str, order: Order) -> Result<Vec<Arc<Document>>, StoreError> {
        let mut state = self.lock();
        state.reads.read_table(table);
        let committed = self.store.scan(self.snapshot, table)?;
        let mut docs: Vec<Arc<Document>> = if state.writes.keys().any(|id| id.table() == table) {
            let mut merged: BTreeMap<u64, Arc<Document>> =
                committed.into_iter().map(|d| (d.id.number(), d)).collect();
            for (id, doc) in state.writes.iter().filter(|(id, _)| id.table() == table) {
                match doc {
                    Some(doc) => merged.insert(id.number(), doc.clone()),
                    None => merged.remove(&id.number()),
                };
            }
            merged.into_values().collect()
        } else {
            committed
        };
        if order == Order::Desc {
            docs.reverse();
        }
        Ok(docs)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly)
        }
    }

    fn write(&self, id: DocumentId, doc: Option<Arc<Document>>) {
        let mut state = self.lock();
        let previous = state.writes.insert(id.clone(), doc);
        state.undo.push((id, previous));
    }

    pub(crate) fn insert(&self, table: &str, fields: Object) -> Result<DocumentId, StoreError> {
        self.check_writable()?;
        check_user_fields(&fields)?;
        check_document_size(&fields)?;
        let id = self.store.allocate_id(table);
        let doc = Document {
            id: id.clone(),
            creation_time: now_millis(),
            fields,
        };
        self.write(id.clone(), Some(Arc::new(doc)));
        Ok(id)
    }

    fn existing(&self, id: &DocumentId) -> Result<Arc<Document>, StoreError> {
        self.get(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_string() })
    }

    pub(crate) fn replace(&self, id: &DocumentId, fields: Object) -> Result<(), StoreError> {
        self.check_writable()?;
        check_user_fields(&fields)?;
        check_document_size(&fields)?;
        let old = self.existing(id)?;
        let doc = Document {
            id: id.clone(),
            creation_time: old.creation_time,
            fields,
        };
        self.write(id.clone(), Some(Arc::new(doc)));
        Ok(())
    }

    pub(crate) fn patch(&self, id: &DocumentId, fields: Object) -> Result<(), StoreError> {
        self.check_writable()?;
        check_user_fields(&fields)?;
        let old = self.existing(id)?;
        let mut merged = old.fields.clone();
        for (k, v) in fields {
            merged.insert(k, v);
        }
        // The patch may be small while the merged document is not.
        check_document_size(&merged)?;
        let doc = Document {
            id: id.clone(),
            creation_time: old.creation_time,
            fields: merged,
        };
        self.write(id.clone(), Some(Arc::new(doc)));
        Ok(())
    }

    pub(crate) fn delete(&self, id: &DocumentId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.existing(id)?;
        self.write(id.clone(), None);
        Ok(())
    }

    /// Marks the current point, to undo the writes made after it.
    pub(crate) fn savepoint(&self) -> Savepoint<'_> {
        Savepoint {
            tx: self,
            mark: self.lock().undo.len(),
            done: false,
        }
    }

    fn roll_back_to(&self, mark: usize) {
        let mut state = self.lock();
        while state.undo.len() > mark {
            let Some((id, previous)) = state.undo.pop() else {
                break;
            };
            match previous {
                Some(doc) => state.writes.insert(id, doc),
                None => state.writes.remove(&id),
            };
        }
    }

    /// Commits the writes, or fails with a conflict if a concurrent commit changed what this
    /// transaction read.
    pub(crate) fn commit(self) -> Result<Timestamp, StoreError> {
        let state = std::mem::take(&mut *self.lock());
        if state.writes.is_empty() {
            return Ok(self.snapshot);
        }
        self.store.commit(CommitRequest {
            snapshot: self.snapshot,
            reads: state.reads,
            writes: state.writes.into_iter().collect(),
        })
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.store.release(self.snapshot);
    }
}

/// A savepoint in a transaction: [`release`](Savepoint::release) keeps the writes made since,
/// [`roll_back`](Savepoint::roll_back) (or dropping it, e.g. when the call is cancelled or
/// panics) undoes them.
pub(crate) struct Savepoint<'t> {
    tx: &'t Transaction,
    mark: usize,
    done: bool,
}

impl Savepoint<'_> {
    pub(crate) fn release(mut self) {
        self.done = true;
    }

    pub(crate) fn roll_back(mut self) {
        self.done = true;
        self.tx.roll_back_to(self.mark);
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tx.roll_back_to(self.mark);
        }
    }
}

fn check_user_fields(fields: &Object) -> Result<(), StoreError> {
    for name in fields.keys() {
        if name == "_id" || name == "_creationTime" {
            return Err(StoreError::SystemField {
                field: name.clone(),
            });
        }
        crate::value::validate_user_field_name(name)?;
    }
    Ok(())
}

/// A document's size, as Convex counts it, must stay within the limit.
fn check_document_size(fields: &Object) -> Result<(), StoreError> {
    let size: usize = fields.iter().map(|(k, v)| k.len() + v.size()).sum();
    if size > crate::value::MAX_VALUE_SIZE {
        return Err(StoreError::Value(crate::value::ValueError::TooLarge {
            size,
            max: crate::value::MAX_VALUE_SIZE,
        }));
    }
    Ok(())
}

fn now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
