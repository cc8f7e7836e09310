mod notes {
    use convoke::{ActionCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn start(ctx: &ActionCtx) -> Result<()> {
        create_notes_caller(ctx).send().await
    }
}

fn main() {}
