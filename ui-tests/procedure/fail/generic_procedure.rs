mod notes {
    use convoke::{QueryCtx, Result, procedure};
    use serde::{Serialize, de::DeserializeOwned};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn echo<T: Serialize + DeserializeOwned>(_ctx: &QueryCtx<'_>, value: T) -> Result<T> {
        Ok(value)
    }
}

fn main() {}
