mod notes {
    use std::time::Duration;

    use convoke::{MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn clear(_ctx: &MutationCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
        create_notes_caller(ctx)
            .schedule()
            .after(Duration::from_secs(1))
            .clear()
            .await?;
        Ok(0)
    }
}

fn main() {}
