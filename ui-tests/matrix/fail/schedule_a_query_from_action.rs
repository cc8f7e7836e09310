mod notes {
    use std::time::{Duration, SystemTime};

    use convoke::{ActionCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }

    #[procedure(action)]
    pub async fn report(ctx: &ActionCtx) -> Result<()> {
        let at = SystemTime::now() + Duration::from_secs(60);
        create_notes_caller(ctx).schedule().at(at).count().await?;
        Ok(())
    }
}

fn main() {}
