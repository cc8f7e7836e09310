mod notes {
    use convoke::{Result, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn count(_ctx: &String) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
