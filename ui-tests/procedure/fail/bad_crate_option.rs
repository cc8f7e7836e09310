// `crate` takes the path of the convoke crate as a string, once.
mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query, crate = convoke)]
    pub async fn not_a_string(_ctx: &QueryCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(query, crate = "not a path")]
    pub async fn not_a_path(_ctx: &QueryCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(query, crate = "::convoke", crate = "::convoke")]
    pub async fn given_twice(_ctx: &QueryCtx<'_>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
