mod notes {
    use convoke::{MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }

    #[procedure(mutation)]
    pub async fn count(_ctx: &MutationCtx<'_>) -> Result<u64> {
        Ok(1)
    }
}

fn main() {}
