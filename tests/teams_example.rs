//! The teams example's procedures, tested with the harness (`convoke::testing`).

#[path = "../examples/teams/auth.rs"]
mod auth;
#[path = "../examples/teams/teams.rs"]
mod teams;
#[path = "../examples/teams/users.rs"]
mod users;

use std::time::Duration;

use convoke::scheduler::JobState;
use convoke::testing::TestRuntime;
use convoke::{Id, Result, UserIdentity};

async fn team_owned_by_ada(t: &TestRuntime) -> Result<Id<teams::Team>> {
    let owner = t
        .mutation(users::create_user, users::CreateUser { name: "Ada".into() })
        .await?;
    t.mutation(
        teams::create_team,
        teams::CreateTeam {
            name: "Engines".into(),
            owner_id: owner,
        },
    )
    .await
}

#[tokio::test]
async fn the_composed_query_reads_team_and_owner() -> Result<()> {
    let t = TestRuntime::new()?;
    let team_id = team_owned_by_ada(&t).await?;
    let both = t
        .query(teams::get_team_and_owner, teams::GetTeam { team_id })
        .await?;
    assert_eq!(both.team.name, "Engines");
    assert_eq!(both.owner.name, "Ada");
    Ok(())
}

#[tokio::test]
async fn joining_needs_a_signed_in_user() -> Result<()> {
    let t = TestRuntime::new()?;
    let team_id = team_owned_by_ada(&t).await?;
    let err = t
        .mutation(teams::join_team, teams::JoinTeam { team_id })
        .await
        .unwrap_err();
    assert!(err.is_user(), "{err}");
    assert_eq!(err.data().and_then(|d| d.as_str()), Some("unauthenticated"));

    let grace = t.with_identity(
        UserIdentity::new("https://auth.example", "g-hopper").with_claim("name", "Grace"),
    );
    assert_eq!(
        grace
            .mutation(teams::join_team, teams::JoinTeam { team_id })
            .await?,
        1
    );
    // Joining twice is refused by the inner mutation; nothing changes.
    assert!(
        grace
            .mutation(teams::join_team, teams::JoinTeam { team_id })
            .await
            .is_err()
    );
    let team = t.query(teams::get_team, teams::GetTeam { team_id }).await?;
    assert_eq!(team.members, ["Grace"]);
    Ok(())
}

#[tokio::test]
async fn renaming_schedules_a_notification_a_minute_later() -> Result<()> {
    let t = TestRuntime::new()?;
    let team_id = team_owned_by_ada(&t).await?;
    t.mutation(
        teams::rename_team,
        teams::RenameTeam {
            team_id,
            name: "Looms".into(),
        },
    )
    .await?;
    let jobs = t.scheduled_functions().await?;
    assert_eq!(jobs, [("teams:notify".to_owned(), JobState::Pending)]);
    assert_eq!(t.advance_time(Duration::from_secs(59)).await?, 0);
    assert_eq!(t.advance_time(Duration::from_secs(1)).await?, 1);
    assert_eq!(
        t.scheduled_functions().await?,
        [("teams:notify".to_owned(), JobState::Success)]
    );
    Ok(())
}

#[tokio::test]
async fn onboarding_commits_the_member_even_before_notifying() -> Result<()> {
    let t = TestRuntime::new()?;
    let team_id = team_owned_by_ada(&t).await?;
    let report = t
        .action(
            teams::onboard,
            teams::Onboard {
                team_id,
                name: "Charles".into(),
            },
        )
        .await?;
    assert!(report.contains("1 member(s)"), "{report}");
    assert_eq!(t.finish_all_scheduled_functions().await?, 1);
    let members = t
        .read(|db| Box::pin(async move { Ok(db.get(team_id).await?.map(|t| t.members.clone())) }))
        .await?;
    assert_eq!(members, Some(vec!["Charles".to_owned()]));
    Ok(())
}
