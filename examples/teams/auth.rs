//! The app's authenticated procedure builder: `#[procedure(mutation, with = Authed)]`.

use convoke::{CallContext, CallInfo, Error, Middleware, Result};

/// The signed-in caller. Only [`Authed`] makes one, so a handler that takes it cannot
/// forget to check that someone is signed in.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// `"<issuer>|<subject>"`, stable per user.
    pub token_identifier: String,
    /// The user's name claim, or their subject.
    pub name: String,
}

/// Rejects anonymous calls with a typed error (`errorData: "unauthenticated"`), hands the
/// handler the [`CurrentUser`], and logs how long each call took.
pub struct Authed;

impl<C: CallContext> Middleware<C> for Authed {
    type Value = CurrentUser;

    async fn before(ctx: &C, call: &CallInfo) -> Result<CurrentUser> {
        let Some(identity) = ctx.auth().user_identity() else {
            return Err(Error::user_with_data(
                format!("{} requires a signed-in user", call.path),
                "unauthenticated",
            )?);
        };
        Ok(CurrentUser {
            token_identifier: identity.token_identifier().to_owned(),
            name: identity
                .claim("name")
                .and_then(|n| n.as_str())
                .unwrap_or(identity.subject())
                .to_owned(),
        })
    }

    async fn after(ctx: &C, call: &CallInfo, outcome: std::result::Result<(), &Error>) {
        let status = if outcome.is_ok() { "ok" } else { "error" };
        ctx.log_at(
            convoke::LogLevel::Info,
            &format!("{} {status} in {:?}", call.path, call.started.elapsed()),
        );
    }
}
