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
