//! A mutation calls another mutation: a savepoint of the same transaction.

mod notes {
    use convoke::{MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "notes")]
    pub struct Note {
        pub title: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    pub struct AddNote {
        pub title: String,
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Note>().collect().await?.len())
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, args: AddNote) -> Result<()> {
        ctx.db().insert(&Note { title: args.title }).await?;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn add_two(ctx: &MutationCtx<'_>, args: AddNote) -> Result<usize> {
        let caller = create_notes_caller(ctx);
        caller.add(args.clone()).await?;
        caller.add(args).await?;
        caller.count().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let args = notes::AddNote { title: "a".into() };
    assert_eq!(rt.mutation(notes::add_two, args).await?, 2);
    Ok(())
}
