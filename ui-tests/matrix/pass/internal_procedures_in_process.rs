//! Internal procedures are callable in-process, from every context that may call their kind.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query, internal)]
    pub async fn secret(_ctx: &QueryCtx<'_>) -> Result<i64> {
        Ok(7)
    }

    #[procedure(mutation, internal)]
    pub async fn bump(ctx: &MutationCtx<'_>, by: i64) -> Result<i64> {
        Ok(create_notes_caller(ctx).secret().await? + by)
    }

    #[procedure(action, internal)]
    pub async fn relay(ctx: &ActionCtx, by: i64) -> Result<i64> {
        create_notes_caller(ctx).bump(by).await
    }

    #[procedure(query)]
    pub async fn public_secret(ctx: &QueryCtx<'_>) -> Result<i64> {
        create_notes_caller(ctx).secret().await
    }

    #[procedure(action)]
    pub async fn entry(ctx: &ActionCtx) -> Result<i64> {
        let caller = create_notes_caller(ctx);
        let a = caller.secret().await?;
        let b = caller.actions().relay(1).await?;
        Ok(a + b)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.query(notes::public_secret, ()).await?, 7);
    assert_eq!(rt.action(notes::entry, ()).await?, 15);
    // In-process entry points reach internal procedures too.
    assert_eq!(rt.query(notes::secret, ()).await?, 7);
    assert_eq!(rt.run("notes:secret", serde_json::json!({})).await?, 7);
    Ok(())
}
