mod notes {
    use convoke::{MutationCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &MutationCtx<'_>) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
