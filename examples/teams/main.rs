//! The seeds' teams example: procedures in two modules composed through generated callers.
//!
//! Run it with `cargo run --example teams`.

mod teams;
mod users;

use convoke::{Runtime, UserIdentity};

#[tokio::main]
async fn main() -> convoke::Result<()> {
    let rt = Runtime::in_memory()?.with_identity(UserIdentity::new("https://auth.example", "ada"));

    // Typed entry points take the procedure function itself.
    let owner = rt
        .mutation(users::create_user, users::CreateUser { name: "Ada".into() })
        .await?;
    let team = rt
        .mutation(
            teams::create_team,
            teams::CreateTeam {
                name: "Analytical Engines".into(),
                owner_id: owner,
            },
        )
        .await?;
    println!("created team {team} owned by {owner}");

    // A query that composes two other queries through the module callers.
    let both = rt
        .query(teams::get_team_and_owner, teams::GetTeam { team_id: team })
        .await?;
    println!("{} is owned by {}", both.team.name, both.owner.name);

    // A mutation calling a query (same transaction) and a mutation (savepoint).
    let renamed = rt
        .mutation(
            teams::rename_team,
            teams::RenameTeam {
                team_id: team,
                name: "Difference Engines".into(),
            },
        )
        .await?;
    println!("renamed; the team now has {} member(s)", renamed.members);

    // An action reaching the database through queries and mutations, and other actions.
    let report = rt
        .action(
            teams::onboard,
            teams::Onboard {
                team_id: team,
                name: "Charles".into(),
            },
        )
        .await?;
    println!("onboarding: {report}");

    // By-name dispatch, as the HTTP layer and the scheduler use it.
    let json = rt
        .run(
            "teams:getTeam",
            serde_json::json!({ "team_id": team.to_string() }),
        )
        .await?;
    println!("teams:getTeam -> {json}");

    // Bad input is a clear error, never a crash.
    let err = rt
        .run("teams:getTeam", serde_json::json!({ "team_id": 5 }))
        .await
        .unwrap_err();
    println!("bad arguments -> {err}");
    let err = rt
        .run("teams:nope", serde_json::json!({}))
        .await
        .unwrap_err();
    println!("unknown path -> {err}");

    println!("\nregistered procedures:");
    for p in convoke::procedures() {
        println!("  {:<8} {:<28} {:?}", p.kind, p.path, p.visibility);
    }
    Ok(())
}
