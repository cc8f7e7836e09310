//! An action calls a mutation: its own transaction, committed when the call returns.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "notes")]
    pub struct Note {
        pub title: String,
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, title: String) -> Result<()> {
        ctx.db().insert(&Note { title }).await?;
        Ok(())
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Note>().collect().await?.len())
    }

    #[procedure(action)]
    pub async fn import(ctx: &ActionCtx, titles: Vec<String>) -> Result<usize> {
        let caller = create_notes_caller(ctx);
        for title in titles {
            caller.add(title).await?;
        }
        caller.count().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let titles = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(rt.action(notes::import, titles).await?, 2);
    Ok(())
}
