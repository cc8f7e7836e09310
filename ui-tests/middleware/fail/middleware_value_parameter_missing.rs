use convoke::{CallContext, CallInfo, Middleware, QueryCtx, Result, procedure};

pub struct Authed;

impl<C: CallContext> Middleware<C> for Authed {
    type Value = String;

    async fn before(_ctx: &C, _call: &CallInfo) -> Result<String> {
        Ok("ada".into())
    }
}

mod notes {
    use super::*;
    convoke::module!(notes);

    #[procedure(query, with = Authed)]
    pub async fn whoami(_ctx: &QueryCtx<'_>) -> Result<String> {
        Ok(String::new())
    }
}

fn main() {}
