//! A handler may write its context without the lifetime: `&QueryCtx`, `&MutationCtx`.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn one(_ctx: &QueryCtx) -> Result<i64> {
        Ok(1)
    }

    #[procedure(mutation)]
    pub async fn two(ctx: &MutationCtx) -> Result<i64> {
        Ok(create_notes_caller(ctx).one().await? + 1)
    }

    #[procedure(action)]
    pub async fn three(ctx: &ActionCtx) -> Result<i64> {
        Ok(create_notes_caller(ctx).two().await? + 1)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.action(notes::three, ()).await?, 3);
    Ok(())
}
