mod notes {
    use convoke::{MutationCtx, Result, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize)]
    pub struct AddNote {
        pub title: String,
    }

    #[procedure(mutation)]
    pub async fn add(_ctx: &MutationCtx<'_>, _args: AddNote) -> Result<()> {
        Ok(())
    }
}

fn main() {}
