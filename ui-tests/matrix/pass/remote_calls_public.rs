//! A remote context (HTTP) calls public queries and mutations on the caller, and public
//! actions through `actions()`, with the same generated callers as in-process code.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(3)
    }

    #[procedure(mutation)]
    pub async fn clear(_ctx: &MutationCtx<'_>) -> Result<u64> {
        Ok(0)
    }

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx, to: String) -> Result<String> {
        Ok(format!("sent to {to}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = convoke::http::Server::builder(convoke::Runtime::in_memory()?)
        .build()
        .await?
        .spawn("127.0.0.1:0")
        .await?;

    let remote = convoke::remote::RemoteCtx::new(&server.url())?;
    let caller = notes::create_notes_caller(&remote);
    assert_eq!(caller.count().await?, 3);
    assert_eq!(caller.clear().await?, 0);
    assert_eq!(
        caller.actions().send("ada".to_owned()).await?,
        "sent to ada"
    );

    // The lazy caller of a factory is a remote context too.
    let factory = convoke::remote::CallerFactory::new(&server.url())?;
    let lazy = factory.create_caller(convoke::remote::HeaderMap::new());
    assert_eq!(notes::create_notes_caller(&lazy).count().await?, 3);

    server.shutdown().await?;
    Ok(())
}
