//! Teams: `getTeam` / `getOwner` / `getTeamAndOwner`, plus a mutation and an
//! action that use every cell of the call matrix they are allowed.

use std::time::Duration;

use convoke::scheduler::ScheduledFunction;
use convoke::{ActionCtx, Id, MutationCtx, QueryCtx, Result, Table, procedure};
use serde::{Deserialize, Serialize};

use crate::auth::{Authed, CurrentUser};
use crate::users::{self, User};

convoke::module!(teams);

/// A team document.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "teams")]
pub struct Team {
    pub name: String,
    pub owner_id: Id<User>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetTeam {
    pub team_id: Id<Team>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTeam {
    pub name: String,
    pub owner_id: Id<User>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenameTeam {
    pub team_id: Id<Team>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddMember {
    pub team_id: Id<Team>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Onboard {
    pub team_id: Id<Team>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamAndOwner {
    pub team: Team,
    pub owner: User,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Renamed {
    pub members: usize,
}

/// Reads a team.
#[procedure(query, name = "getTeam")]
pub async fn get_team(ctx: &QueryCtx<'_>, args: GetTeam) -> Result<Team> {
    match ctx.db().get(args.team_id).await? {
        Some(team) => Ok(team.into_inner()),
        None => Err(convoke::Error::user(format!("no team {}", args.team_id))),
    }
}

/// Reads a team's owner.
#[procedure(query, name = "getOwner")]
pub async fn get_owner(ctx: &QueryCtx<'_>, args: GetTeam) -> Result<User> {
    let team = create_teams_caller(ctx).get_team(args).await?;
    users::create_users_caller(ctx)
        .get_user(users::GetUser { id: team.owner_id })
        .await
}

/// The composed query: both reads run in this query's transaction.
#[procedure(query, name = "getTeamAndOwner")]
pub async fn get_team_and_owner(ctx: &QueryCtx<'_>, args: GetTeam) -> Result<TeamAndOwner> {
    let caller = create_teams_caller(ctx);
    let team = caller.get_team(args.clone()).await?;
    let owner = caller.get_owner(args).await?;
    Ok(TeamAndOwner { team, owner })
}

/// Creates a team. An empty name is a user error with data (Convex's `ConvexError`).
#[procedure(mutation)]
pub async fn create_team(ctx: &MutationCtx<'_>, args: CreateTeam) -> Result<Id<Team>> {
    if args.name.trim().is_empty() {
        return Err(convoke::Error::user_with_data(
            "a team needs a name",
            serde_json::json!({ "field": "name" }),
        )?);
    }
    ctx.log(format!("creating team {}", args.name));
    // Root query from a mutation: same transaction.
    users::create_users_caller(ctx)
        .get_user(users::GetUser { id: args.owner_id })
        .await?;
    Ok(ctx
        .db()
        .insert(&Team {
            name: args.name,
            owner_id: args.owner_id,
            members: Vec::new(),
        })
        .await?)
}

/// Adds a member; refuses duplicates with an error (which rolls back only this mutation's
/// writes when called from another mutation).
#[procedure(mutation, internal)]
pub async fn add_member(ctx: &MutationCtx<'_>, args: AddMember) -> Result<usize> {
    let caller = create_teams_caller(ctx);
    let mut team = caller
        .get_team(GetTeam {
            team_id: args.team_id,
        })
        .await?;
    if team.members.contains(&args.name) {
        return Err(convoke::Error::user(format!(
            "{} is already a member",
            args.name
        )));
    }
    team.members.push(args.name);
    ctx.db().replace(args.team_id, &team).await?;
    Ok(team.members.len())
}

/// Renames a team, using every cell a mutation context is allowed.
#[procedure(mutation)]
pub async fn rename_team(ctx: &MutationCtx<'_>, args: RenameTeam) -> Result<Renamed> {
    let caller = create_teams_caller(ctx);
    // Root query: sees this mutation's writes.
    let team = caller
        .get_team(GetTeam {
            team_id: args.team_id,
        })
        .await?;
    ctx.db()
        .patch(args.team_id, &serde_json::json!({ "name": args.name }))
        .await?;
    // Root mutation: a savepoint. Adding the owner twice fails the second time, and only
    // that call's writes are undone.
    let owner = users::create_users_caller(ctx)
        .get_user(users::GetUser { id: team.owner_id })
        .await?;
    let members = caller
        .add_member(AddMember {
            team_id: args.team_id,
            name: owner.name.clone(),
        })
        .await?;
    let again = caller
        .add_member(AddMember {
            team_id: args.team_id,
            name: owner.name,
        })
        .await;
    if again.is_ok() {
        return Err(convoke::Error::user("a member was added twice"));
    }
    // schedule(): an action to run a minute after this mutation commits (its job is written
    // in this transaction, so it exists only if the mutation commits).
    caller
        .schedule()
        .after(Duration::from_secs(60))
        .notify(Notify {
            team_id: args.team_id,
        })
        .await?;
    Ok(Renamed { members })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notify {
    pub team_id: Id<Team>,
}

/// Pretends to notify a team's members (an action may call outside services).
#[procedure(action, internal)]
pub async fn notify(ctx: &ActionCtx, args: Notify) -> Result<String> {
    let team = create_teams_caller(ctx)
        .get_team(GetTeam {
            team_id: args.team_id,
        })
        .await?;
    Ok(format!(
        "notified {} member(s) of {}",
        team.members.len(),
        team.name
    ))
}

/// Onboards a member, using every cell an action context is allowed.
#[procedure(action)]
pub async fn onboard(ctx: &ActionCtx, args: Onboard) -> Result<String> {
    let caller = create_teams_caller(ctx);
    // Root mutation: its own transaction, committed before the next line runs.
    let members = caller
        .add_member(AddMember {
            team_id: args.team_id,
            name: args.name,
        })
        .await?;
    // Root query: its own read transaction; sees the committed member.
    let team = caller
        .get_team(GetTeam {
            team_id: args.team_id,
        })
        .await?;
    // actions(): another action.
    let notified = caller
        .actions()
        .notify(Notify {
            team_id: args.team_id,
        })
        .await?;
    // schedule(): from an action, the job is written at once; it runs as soon as possible.
    caller
        .schedule()
        .now()
        .notify(Notify {
            team_id: args.team_id,
        })
        .await?;
    Ok(format!(
        "{} now has {members} member(s); {notified}",
        team.name
    ))
}

/// The scheduled functions and what became of them: `(path, state)` from the system table
/// `_scheduled_functions`, which queries can read like any table.
#[procedure(query, internal)]
pub async fn scheduled_jobs(ctx: &QueryCtx<'_>) -> Result<Vec<(String, String)>> {
    let jobs = ctx.db().query::<ScheduledFunction>().collect().await?;
    Ok(jobs
        .into_iter()
        .map(|job| (job.name.clone(), job.state.kind().to_owned()))
        .collect())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinTeam {
    pub team_id: Id<Team>,
}

/// The signed-in user joins a team: `Authed` rejects anonymous calls and hands over the
/// user, so this handler cannot forget the check.
#[procedure(mutation, with = Authed)]
pub async fn join_team(ctx: &MutationCtx<'_>, user: CurrentUser, args: JoinTeam) -> Result<usize> {
    ctx.log(format!("{} joins {}", user.token_identifier, args.team_id));
    create_teams_caller(ctx)
        .add_member(AddMember {
            team_id: args.team_id,
            name: user.name,
        })
        .await
}
