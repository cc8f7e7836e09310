mod notes {
    use convoke::{ActionCtx, MutationCtx, Result, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize)]
    pub struct Send {
        pub to: String,
    }

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx, _args: Send) -> Result<()> {
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>) -> Result<()> {
        create_notes_caller(ctx)
            .actions()
            .send(Send { to: "ada".into() })
            .await
    }
}

fn main() {}
