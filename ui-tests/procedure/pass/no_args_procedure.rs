//! Procedures without an argument: `()` for the runtime, no parameter on the caller.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn ping(_ctx: &QueryCtx<'_>) -> Result<String> {
        Ok("pong".to_owned())
    }

    #[procedure(mutation)]
    pub async fn touch(ctx: &MutationCtx<'_>) -> Result<String> {
        create_notes_caller(ctx).ping().await
    }

    #[procedure(action)]
    pub async fn wake(ctx: &ActionCtx) -> Result<String> {
        let caller = create_notes_caller(ctx);
        let a = caller.ping().await?;
        let b = caller.touch().await?;
        Ok(format!("{a} {b}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.query(notes::ping, ()).await?, "pong");
    assert_eq!(rt.mutation(notes::touch, ()).await?, "pong");
    assert_eq!(rt.action(notes::wake, ()).await?, "pong pong");
    assert_eq!(rt.run("notes:ping", serde_json::json!({})).await?, "pong");
    Ok(())
}
