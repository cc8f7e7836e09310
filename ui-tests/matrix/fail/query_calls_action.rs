mod notes {
    use convoke::{ActionCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
        create_notes_caller(ctx).actions().send().await?;
        Ok(0)
    }
}

fn main() {}
