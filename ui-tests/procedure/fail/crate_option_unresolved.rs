// A `crate` path that does not resolve is reported at the string.
mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query, crate = "crate::nowhere")]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
