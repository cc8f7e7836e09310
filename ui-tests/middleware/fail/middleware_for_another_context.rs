use convoke::{ActionCtx, CallInfo, Middleware, QueryCtx, Result, procedure};

/// A middleware only for actions.
pub struct ActionsOnly;

impl Middleware<ActionCtx> for ActionsOnly {
    type Value = ();

    async fn before(_ctx: &ActionCtx, _call: &CallInfo) -> Result<()> {
        Ok(())
    }
}

mod notes {
    use super::*;
    convoke::module!(notes);

    #[procedure(query, with = ActionsOnly)]
    pub async fn count(_ctx: &QueryCtx<'_>, _value: ()) -> Result<u64> {
        Ok(0)
    }
}

fn main() {}
