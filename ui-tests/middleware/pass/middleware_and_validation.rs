//! A middleware for every context, one for actions only, and validated arguments.

use convoke::{
    ActionCtx, CallContext, CallInfo, Error, Middleware, MutationCtx, QueryCtx, Result, Runtime,
    UserIdentity, Validate, ValidationError, procedure,
};
use serde::{Deserialize, Serialize};

pub struct CurrentUser(pub String);

pub struct Authed;

impl<C: CallContext> Middleware<C> for Authed {
    type Value = CurrentUser;

    async fn before(ctx: &C, _call: &CallInfo) -> Result<CurrentUser> {
        ctx.auth()
            .user_identity()
            .map(|u| CurrentUser(u.subject().to_owned()))
            .ok_or_else(|| Error::user("sign in first"))
    }
}

pub struct Timed;

impl Middleware<ActionCtx> for Timed {
    type Value = ();

    async fn before(_ctx: &ActionCtx, _call: &CallInfo) -> Result<()> {
        Ok(())
    }

    async fn after(ctx: &ActionCtx, call: &CallInfo, _outcome: std::result::Result<(), &Error>) {
        ctx.log(format!("{} took {:?}", call.path, call.started.elapsed()));
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
}

impl Validate for Note {
    fn validate(&self) -> std::result::Result<(), ValidationError> {
        if self.text.is_empty() {
            return Err(ValidationError::new("text", "must not be empty"));
        }
        Ok(())
    }
}

mod notes {
    use super::*;
    convoke::module!(notes);

    #[procedure(query, with = Authed)]
    pub async fn whoami(_ctx: &QueryCtx<'_>, user: CurrentUser) -> Result<String> {
        Ok(user.0)
    }

    #[procedure(mutation, with = Authed, validate)]
    pub async fn add(_ctx: &MutationCtx<'_>, user: CurrentUser, note: Note) -> Result<String> {
        Ok(format!("{}: {}", user.0, note.text))
    }

    #[procedure(action, with = Timed)]
    pub async fn report(ctx: &ActionCtx, (): ()) -> Result<String> {
        create_notes_caller(ctx).whoami().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let rt = Runtime::in_memory()?.with_identity(UserIdentity::new("iss", "ada"));
    assert_eq!(rt.query(notes::whoami, ()).await?, "ada");
    let added = rt.mutation(notes::add, Note { text: "hi".into() }).await?;
    assert_eq!(added, "ada: hi");
    assert!(rt.mutation(notes::add, Note { text: String::new() }).await.is_err());
    assert_eq!(rt.action(notes::report, ()).await?, "ada");
    Ok(())
}
