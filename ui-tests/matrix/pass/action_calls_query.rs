//! An action calls a query: its own read transaction.

mod notes {
    use convoke::{ActionCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn answer(_ctx: &QueryCtx<'_>) -> Result<i64> {
        Ok(42)
    }

    #[procedure(action)]
    pub async fn report(ctx: &ActionCtx) -> Result<String> {
        let n = create_notes_caller(ctx).answer().await?;
        Ok(format!("the answer is {n}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.action(notes::report, ()).await?, "the answer is 42");
    Ok(())
}
