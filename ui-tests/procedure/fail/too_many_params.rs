mod notes {
    use convoke::{MutationCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn add(_ctx: &MutationCtx<'_>, _title: String, _body: String) -> Result<()> {
        Ok(())
    }
}

fn main() {}
