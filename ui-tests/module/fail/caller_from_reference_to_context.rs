mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn total(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
        create_notes_caller(&ctx).total().await
    }
}

fn main() {}
