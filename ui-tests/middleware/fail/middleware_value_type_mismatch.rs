use convoke::{CallContext, CallInfo, Middleware, QueryCtx, Result, procedure};

pub struct CurrentUser(pub String);

pub struct Authed;

impl<C: CallContext> Middleware<C> for Authed {
    type Value = CurrentUser;

    async fn before(_ctx: &C, _call: &CallInfo) -> Result<CurrentUser> {
        Ok(CurrentUser("ada".into()))
    }
}

mod notes {
    use super::*;
    convoke::module!(notes);

    // The handler asks for a `String`, but `Authed` hands over a `CurrentUser`.
    #[procedure(query, with = Authed)]
    pub async fn whoami(_ctx: &QueryCtx<'_>, user: String) -> Result<String> {
        Ok(user)
    }
}

fn main() {}
