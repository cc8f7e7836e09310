mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
