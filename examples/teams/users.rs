//! Users: the owners of teams.

use convoke::{Id, MutationCtx, QueryCtx, Result, Table, procedure};
use serde::{Deserialize, Serialize};

convoke::module!(users);

/// A user document.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "users")]
pub struct User {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUser {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetUser {
    pub id: Id<User>,
}

/// Creates a user.
#[procedure(mutation)]
pub async fn create_user(ctx: &MutationCtx<'_>, args: CreateUser) -> Result<Id<User>> {
    Ok(ctx.db().insert(&User { name: args.name }).await?)
}

/// Reads a user; a missing one is an error the caller can see.
#[procedure(query)]
pub async fn get_user(ctx: &QueryCtx<'_>, args: GetUser) -> Result<User> {
    match ctx.db().get(args.id).await? {
        Some(user) => Ok(user.into_inner()),
        None => Err(convoke::Error::user(format!("no user {}", args.id))),
    }
}

/// Who is calling: the identity from the request's bearer token, or `null`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Me {
    pub subject: String,
    pub issuer: String,
    pub token_identifier: String,
    pub email: Option<String>,
}

/// The caller's identity (`ctx.auth().user_identity()`), or `null` when anonymous.
#[procedure(query)]
pub async fn whoami(ctx: &QueryCtx<'_>) -> Result<Option<Me>> {
    Ok(ctx.auth().user_identity().map(|me| Me {
        subject: me.subject().to_owned(),
        issuer: me.issuer().to_owned(),
        token_identifier: me.token_identifier().to_owned(),
        email: me
            .claim("email")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }))
}
