// The messages that name an action's kind say "an action".
mod notes {
    use convoke::{ActionCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action, query)]
    pub async fn two_kinds(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn no_context() -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn query_context(_ctx: &QueryCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn not_a_context(_ctx: &String) -> Result<()> {
        Ok(())
    }
}

fn main() {}
