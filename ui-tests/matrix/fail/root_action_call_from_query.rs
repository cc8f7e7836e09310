mod notes {
    use convoke::{ActionCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }

    #[procedure(query)]
    pub async fn start(ctx: &QueryCtx<'_>) -> Result<()> {
        create_notes_caller(ctx).send().await
    }
}

fn main() {}
