mod notes {
    use convoke::{MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn clear(_ctx: &MutationCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
        create_notes_caller(ctx).clear().await?;
        Ok(0)
    }
}

fn main() {}
