//! A conflict an engine reports at a read, before commit (PostgreSQL can), re-runs the
//! mutation even when the procedure swallowed the error: the transaction is doomed and
//! cannot commit what it wrote after the failed read.
//!
//! The engine here is the in-memory one behind a wrapper that reports one conflict on the
//! first read of a document by id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use convoke::db::DocumentId;
use convoke::db::index::KeyRange;
use convoke::db::schema::Schema;
use convoke::store::{
    CommitRequest, Document, MemoryStore, Order, Storage, StoreError, StoreFuture, Timestamp,
};
use convoke::{Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "notes")]
pub struct Note {
    pub text: String,
}

/// Handler runs of `swallow`.
static RUNS: AtomicUsize = AtomicUsize::new(0);

mod notes {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn create(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&Note { text }).await?)
    }

    /// Reads `id`, ignoring any error, then writes a note saying what it saw.
    #[procedure(mutation)]
    pub async fn swallow(ctx: &MutationCtx<'_>, id: Id<Note>) -> Result<()> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let seen = match ctx.db().get(id).await {
            Ok(Some(note)) => note.text.clone(),
            Ok(None) => "nothing".to_owned(),
            Err(_) => "an error".to_owned(),
        };
        ctx.db()
            .insert(&Note {
                text: format!("saw {seen}"),
            })
            .await?;
        Ok(())
    }

    #[procedure(query)]
    pub async fn texts(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        Ok(ctx
            .db()
            .query::<Note>()
            .collect()
            .await?
            .into_iter()
            .map(|n| n.into_inner().text)
            .collect())
    }
}

/// The in-memory engine, reporting a conflict on the first `get` once armed.
struct ConflictOnce {
    inner: MemoryStore,
    armed: AtomicBool,
}

impl Storage for ConflictOnce {
    fn set_schema(&self, schema: &Schema) -> std::result::Result<(), StoreError> {
        Storage::set_schema(&self.inner, schema)
    }

    fn begin(&self, writable: bool) -> Timestamp {
        Storage::begin(&self.inner, writable)
    }

    fn release(&self, snapshot: Timestamp) {
        Storage::release(&self.inner, snapshot)
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, std::result::Result<Option<Arc<Document>>, StoreError>> {
        if self.armed.swap(false, Ordering::SeqCst) {
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
    ) -> StoreFuture<'a, std::result::Result<Vec<Arc<Document>>, StoreError>> {
        Storage::scan(&self.inner, snapshot, table, index, range, order, limit)
    }

    fn allocate_id<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, std::result::Result<DocumentId, StoreError>> {
        Storage::allocate_id(&self.inner, snapshot, table)
    }

    fn commit(
        &self,
        request: CommitRequest,
    ) -> StoreFuture<'_, std::result::Result<Timestamp, StoreError>> {
        Storage::commit(&self.inner, request)
    }
}

#[tokio::test]
async fn a_conflict_at_a_read_reruns_the_mutation_even_if_swallowed() -> Result<()> {
    let store = Arc::new(ConflictOnce {
        inner: MemoryStore::new(),
        armed: AtomicBool::new(false),
    });
    let rt = Runtime::builder().shared_storage(store.clone()).build()?;
    let id = rt.mutation(notes::create, "first".to_owned()).await?;

    store.armed.store(true, Ordering::SeqCst);
    rt.mutation(notes::swallow, id).await?;

    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        2,
        "the attempt that met the conflict was re-run"
    );
    let mut texts = rt.query(notes::texts, ()).await?;
    texts.sort();
    assert_eq!(
        texts,
        ["first", "saw first"],
        "only the re-run's write was committed, not the doomed attempt's"
    );
    Ok(())
}
