//! A mutation calls a query: same transaction, sees the mutation's writes.

mod notes {
    use convoke::{MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "notes")]
    pub struct Note {
        pub title: String,
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Note>().collect().await?.len())
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, title: String) -> Result<usize> {
        ctx.db().insert(&Note { title }).await?;
        create_notes_caller(ctx).count().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.mutation(notes::add, "a".to_owned()).await?, 1);
    assert_eq!(rt.mutation(notes::add, "b".to_owned()).await?, 2);
    Ok(())
}
