//! A conflict an engine reports at a read, before commit (PostgreSQL can), re-runs the
//! mutation even when the procedure swallowed the error: the transaction is doomed and
//! cannot commit what it wrote after the failed read.
//!
//! The engine here is the in-memory one behind a wrapper that reports one conflict on the
//! first read of a document by id.

#[path = "support/faulty_store.rs"]
mod faulty_store;

use std::sync::atomic::{AtomicUsize, Ordering};

use convoke::{Id, Result, Runtime, Table};
use faulty_store::{CONFLICT_ON_GET, FaultyStore};
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

#[tokio::test]
async fn a_conflict_at_a_read_reruns_the_mutation_even_if_swallowed() -> Result<()> {
    let store = FaultyStore::new();
    let rt = Runtime::builder().shared_storage(store.clone()).build()?;
    let id = rt.mutation(notes::create, "first".to_owned()).await?;

    store.arm(CONFLICT_ON_GET);
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
