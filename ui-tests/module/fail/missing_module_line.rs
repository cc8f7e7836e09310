mod notes {
    use convoke::{QueryCtx, Result, procedure};

    #[procedure(query)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
