//! The in-memory engine behind a wrapper that fails one operation when armed, as a
//! network engine (PostgreSQL) can: a conflict reported at a read, a commit refused because
//! the database is unreachable, or a commit applied whose acknowledgement was lost.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use convoke::store::{
    CommitRequest, Document, DocumentId, Exclusive, KeyRange, MemoryStore, Order, Schema, Storage,
    StoreError, StoreFuture, Timestamp,
};

/// The next `get` fails with a conflict on the document's table.
pub const CONFLICT_ON_GET: u8 = 1;
/// The next commit fails with `Unavailable`; nothing is committed.
pub const COMMIT_UNAVAILABLE: u8 = 2;
/// The next commit is applied, then fails with `CommitOutcomeUnknown`.
pub const COMMIT_APPLIED_BUT_UNKNOWN: u8 = 3;

/// See the module documentation. Disarmed when made; [`arm`](Self::arm) sets the fault.
pub struct FaultyStore {
    inner: MemoryStore,
    armed: AtomicU8,
    /// The faults injected so far.
    injected: Mutex<Vec<&'static str>>,
}

impl FaultyStore {
    /// A disarmed wrapper around a new in-memory engine.
    pub fn new() -> Arc<Self> {
        Arc::new(FaultyStore {
            inner: MemoryStore::new(),
            armed: AtomicU8::new(0),
            injected: Mutex::new(Vec::new()),
        })
    }

    /// Injects `fault` (one of the constants) into the next operation of its kind.
    pub fn arm(&self, fault: u8) {
        self.armed.store(fault, Ordering::SeqCst);
    }

    /// The faults injected so far: "conflict on get", "unavailable", "applied but unknown".
    pub fn injected(&self) -> Vec<&'static str> {
        self.injected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Disarms `fault` if it is armed; whether it was.
    fn take(&self, fault: u8) -> bool {
        let taken = self
            .armed
            .compare_exchange(fault, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if taken {
            let name = match fault {
                CONFLICT_ON_GET => "conflict on get",
                COMMIT_UNAVAILABLE => "unavailable",
                _ => "applied but unknown",
            };
            self.injected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
        }
        taken
    }
}

impl Storage for FaultyStore {
    fn set_schema(&self, schema: &Schema) -> Result<(), StoreError> {
        Storage::set_schema(&self.inner, schema)
    }

    fn begin(&self, writable: bool) -> Timestamp {
        Storage::begin(&self.inner, writable)
    }

    fn begin_exclusive(&self) -> StoreFuture<'_, Result<Exclusive, StoreError>> {
        Storage::begin_exclusive(&self.inner)
    }

    fn release(&self, snapshot: Timestamp) {
        Storage::release(&self.inner, snapshot)
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<Option<Arc<Document>>, StoreError>> {
        if self.take(CONFLICT_ON_GET) {
            return StoreFuture::ready(Err(StoreError::Conflict {
                table: id.table().to_owned(),
            }));
        }
        Storage::get(&self.inner, snapshot, id)
    }

    fn scan<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
        index: &'a str,
        range: &'a KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> StoreFuture<'a, Result<Vec<Arc<Document>>, StoreError>> {
        Storage::scan(&self.inner, snapshot, table, index, range, order, limit)
    }

    fn allocate_id<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, Result<DocumentId, StoreError>> {
        Storage::allocate_id(&self.inner, snapshot, table)
    }

    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        if self.take(COMMIT_UNAVAILABLE) {
            return StoreFuture::ready(Err(StoreError::Unavailable {
                reason: "connection refused (injected)".to_owned(),
            }));
        }
        if self.take(COMMIT_APPLIED_BUT_UNKNOWN) {
            return StoreFuture::boxed(async move {
                Storage::commit(&self.inner, request).await?;
                Err(StoreError::CommitOutcomeUnknown {
                    reason: "connection lost after COMMIT (injected)".to_owned(),
                })
            });
        }
        Storage::commit(&self.inner, request)
    }
}
