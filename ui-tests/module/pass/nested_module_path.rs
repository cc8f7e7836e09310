//! Procedures in nested modules: paths follow Convex (`app/notes:count`), and callers of
//! other modules are reached by path.

mod app {
    pub mod notes {
        use convoke::{QueryCtx, Result, procedure};

        convoke::module!(notes);

        #[procedure(query)]
        pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
            Ok(2)
        }
    }

    pub mod stats {
        use convoke::{QueryCtx, Result, procedure};

        convoke::module!(stats);

        #[procedure(query)]
        pub async fn summary(ctx: &QueryCtx<'_>) -> Result<String> {
            let n = super::notes::create_notes_caller(ctx).count().await?;
            Ok(format!("{n} notes"))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    use convoke::Procedure;

    assert_eq!(app::notes::count::path(), "app/notes:count");
    assert_eq!(app::stats::summary::path(), "app/stats:summary");
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.query(app::stats::summary, ()).await?, "2 notes");
    assert_eq!(
        rt.run("app/stats:summary", serde_json::json!({})).await?,
        "2 notes"
    );
    Ok(())
}
