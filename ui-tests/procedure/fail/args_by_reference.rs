mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn find(_ctx: &QueryCtx<'_>, _title: &str) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
