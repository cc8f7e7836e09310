mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    pub struct Notes;

    impl Notes {
        #[procedure(query)]
        pub async fn count(&self, _ctx: &QueryCtx<'_>) -> Result<u64> {
            Ok(0)
        }
    }
}

fn main() {}
