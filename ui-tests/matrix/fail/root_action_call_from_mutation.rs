mod notes {
    use convoke::{ActionCtx, MutationCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn start(ctx: &MutationCtx<'_>) -> Result<()> {
        create_notes_caller(ctx).send().await
    }
}

fn main() {}
