//! The test harness: typed calls, identities, direct database access, virtual time and the
//! scheduler, without sleeping.

use std::time::Duration;

use convoke::scheduler::JobState;
use convoke::testing::TestRuntime;
use convoke::{Result, UserIdentity};

mod todos {
    use std::time::Duration;

    use convoke::{Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(todos);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
    #[table(name = "todos")]
    pub struct Todo {
        pub text: String,
        pub done: bool,
        pub owner: Option<String>,
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Todo>> {
        let owner = ctx.auth().user_identity().map(|u| u.subject().to_owned());
        let id = ctx
            .db()
            .insert(&Todo {
                text,
                done: false,
                owner,
            })
            .await?;
        create_todos_caller(ctx)
            .schedule()
            .after(Duration::from_secs(60))
            .finish(id)
            .await?;
        Ok(id)
    }

    /// Marks a todo done, then schedules a reminder an hour later that schedules another:
    /// a chain `finish_all_scheduled_functions` must follow through virtual time.
    #[procedure(mutation, internal)]
    pub async fn finish(ctx: &MutationCtx<'_>, id: Id<Todo>) -> Result<()> {
        ctx.db()
            .patch(id, &serde_json::json!({ "done": true }))
            .await?;
        create_todos_caller(ctx)
            .schedule()
            .after(Duration::from_secs(3600))
            .remind(3)
            .await?;
        Ok(())
    }

    #[procedure(mutation, internal)]
    pub async fn remind(ctx: &MutationCtx<'_>, left: u32) -> Result<()> {
        if left > 1 {
            create_todos_caller(ctx)
                .schedule()
                .after(Duration::from_secs(3600))
                .remind(left - 1)
                .await?;
        }
        Ok(())
    }

    #[procedure(mutation, internal)]
    pub async fn forever(ctx: &MutationCtx<'_>) -> Result<()> {
        create_todos_caller(ctx)
            .schedule()
            .after(Duration::from_secs(1))
            .forever()
            .await?;
        Ok(())
    }

    #[procedure(mutation, internal)]
    pub async fn early(_ctx: &MutationCtx<'_>) -> Result<()> {
        Ok(())
    }

    /// Schedules the later job first: `scheduled_functions` lists by due time.
    #[procedure(mutation)]
    pub async fn plan(ctx: &MutationCtx<'_>) -> Result<()> {
        let todos = create_todos_caller(ctx);
        todos
            .schedule()
            .after(Duration::from_secs(7200))
            .remind(1)
            .await?;
        todos
            .schedule()
            .after(Duration::from_secs(60))
            .early()
            .await?;
        todos
            .schedule()
            .after(Duration::from_secs(7200))
            .early()
            .await?;
        Ok(())
    }

    #[procedure(query)]
    pub async fn done(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx
            .db()
            .query::<Todo>()
            .filter(|t| t.done)
            .collect()
            .await?
            .len())
    }
}

#[tokio::test]
async fn identities_reach_procedures() -> Result<()> {
    let t = TestRuntime::new()?;
    let ada = t.with_identity(UserIdentity::new("https://auth.example", "ada"));
    let id = ada.mutation(todos::add, "write tests".into()).await?;
    let anonymous = t.mutation(todos::add, "no owner".into()).await?;
    let owners = t
        .read(|db| {
            Box::pin(async move {
                Ok((
                    db.get(id).await?.and_then(|t| t.owner.clone()),
                    db.get(anonymous).await?.and_then(|t| t.owner.clone()),
                ))
            })
        })
        .await?;
    assert_eq!(owners, (Some("ada".to_owned()), None));
    assert_eq!(ada.identity().map(|user| user.subject()), Some("ada"));
    // Both stay test runtimes on the same clock.
    let nobody: TestRuntime = ada.without_identity();
    assert!(nobody.identity().is_none());
    ada.clock().advance(Duration::from_secs(1));
    assert_eq!(nobody.now(), t.now());
    Ok(())
}

#[tokio::test]
async fn direct_database_set_up_is_committed() -> Result<()> {
    let t = TestRuntime::new()?;
    t.run(|db| {
        Box::pin(async move {
            db.insert(&todos::Todo {
                text: "seeded".into(),
                done: true,
                owner: None,
            })
            .await?;
            Ok(())
        })
    })
    .await?;
    assert_eq!(t.query(todos::done, ()).await?, 1);
    Ok(())
}

#[tokio::test]
async fn time_moves_only_when_told() -> Result<()> {
    let t = TestRuntime::new()?;
    let start = t.now();
    t.mutation(todos::add, "a".into()).await?;
    assert_eq!(t.run_due_scheduled_functions().await?, 0, "nothing due yet");
    assert_eq!(t.advance_time(Duration::from_secs(58)).await?, 0);
    // Moving the clock alone runs nothing, even once the job is due.
    t.clock().advance(Duration::from_secs(2));
    assert_eq!(t.query(todos::done, ()).await?, 0);
    assert_eq!(t.run_due_scheduled_functions().await?, 1);
    assert_eq!(t.query(todos::done, ()).await?, 1);
    assert_eq!(
        t.now().duration_since(start).ok(),
        Some(Duration::from_secs(60))
    );
    Ok(())
}

#[tokio::test]
async fn finish_all_follows_chains_through_virtual_time() -> Result<()> {
    let t = TestRuntime::new()?;
    t.mutation(todos::add, "a".into()).await?;
    // finish (60 s), then remind(3), remind(2), remind(1) an hour apart.
    assert_eq!(t.finish_all_scheduled_functions().await?, 4);
    let states = t.scheduled_functions().await?;
    assert_eq!(states.len(), 4);
    assert!(
        states.iter().all(|(_, s)| *s == JobState::Success),
        "{states:?}"
    );
    let elapsed = t.now().duration_since(std::time::UNIX_EPOCH).ok();
    assert!(elapsed.is_some());
    Ok(())
}

#[tokio::test]
async fn endless_rescheduling_is_reported() -> Result<()> {
    let t = TestRuntime::new()?;
    t.mutation(todos::forever, ()).await?;
    let err = t.finish_all_scheduled_functions().await.unwrap_err();
    assert!(err.to_string().contains("scheduler rounds"), "{err}");
    Ok(())
}

#[tokio::test]
async fn scheduled_functions_are_listed_oldest_due_first() -> Result<()> {
    let t = TestRuntime::new()?;
    t.mutation(todos::plan, ()).await?;
    let names: Vec<String> = t
        .scheduled_functions()
        .await?
        .into_iter()
        .map(|(name, state)| {
            assert_eq!(state, JobState::Pending);
            name
        })
        .collect();
    // Due in 60 s, then the two due in 2 h in the order they were scheduled.
    assert_eq!(names, ["todos:early", "todos:remind", "todos:early"]);
    Ok(())
}
