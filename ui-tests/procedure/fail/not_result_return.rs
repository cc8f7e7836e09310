mod notes {
    use convoke::{QueryCtx, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> u64 {
        0
    }
}

fn main() {}
