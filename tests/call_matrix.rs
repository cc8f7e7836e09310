//! Every allowed cell of the call matrix behaves as documented in `convoke::matrix`:
//! which transaction a nested call runs in, what it sees, what an error undoes, what
//! `schedule()` writes, and that the caller's identity reaches every nested call.

use convoke::{Error, Id, Result, Runtime, Table, UserIdentity};
use serde::{Deserialize, Serialize};

/// A note: one line of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "notes")]
pub struct Note {
    pub text: String,
}

/// Basic reads and writes on `notes`, called by the other modules.
mod notes {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};

    convoke::module!(notes);

    /// Every note's text, oldest first.
    #[procedure(query)]
    pub async fn list(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        let all = ctx.db().query::<Note>().collect().await?;
        Ok(all.into_iter().map(|n| n.into_inner().text).collect())
    }

    /// How many notes there are.
    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Note>().collect().await?.len())
    }

    /// The text of one note.
    #[procedure(query)]
    pub async fn text(ctx: &QueryCtx<'_>, id: Id<Note>) -> Result<Option<String>> {
        Ok(ctx.db().get(id).await?.map(|n| n.into_inner().text))
    }

    /// Adds a note.
    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&Note { text }).await?)
    }

    /// Adds a note, then fails.
    #[procedure(mutation)]
    pub async fn add_then_fail(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Note>> {
        ctx.db().insert(&Note { text }).await?;
        Err(Error::user("inner failed"))
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SetText {
        pub id: Id<Note>,
        pub text: String,
    }

    /// Changes a note's text, then fails.
    #[procedure(mutation)]
    pub async fn set_text_then_fail(ctx: &MutationCtx<'_>, args: SetText) -> Result<()> {
        ctx.db()
            .patch(args.id, &serde_json::json!({ "text": args.text }))
            .await?;
        Err(Error::user("set_text failed"))
    }

    /// Deletes a note, then fails.
    #[procedure(mutation)]
    pub async fn delete_then_fail(ctx: &MutationCtx<'_>, id: Id<Note>) -> Result<()> {
        ctx.db().delete(id).await?;
        Err(Error::user("delete failed"))
    }
}

// ---------------------------------------------------------------------------------------
// query -> query: same transaction
// ---------------------------------------------------------------------------------------

mod q2q {
    use super::*;
    use convoke::{QueryCtx, procedure};
    use tokio::sync::Notify;

    convoke::module!(q2q);

    pub static OUTER_READ: Notify = Notify::const_new();
    pub static COMMITTED: Notify = Notify::const_new();

    /// Counts the notes, lets the test commit a new one, then counts again through a
    /// nested query. Both counts come from the outer query's snapshot.
    #[procedure(query)]
    pub async fn count_around_commit(ctx: &QueryCtx<'_>) -> Result<(usize, usize, usize)> {
        let before = ctx.db().query::<Note>().collect().await?.len();
        OUTER_READ.notify_one();
        COMMITTED.notified().await;
        let nested = notes::create_notes_caller(ctx).count().await?;
        let own_again = ctx.db().query::<Note>().collect().await?.len();
        Ok((before, nested, own_again))
    }

    /// A query calling queries of its own module and of another module.
    #[procedure(query)]
    pub async fn texts_and_count(ctx: &QueryCtx<'_>) -> Result<(Vec<String>, usize)> {
        let caller = notes::create_notes_caller(ctx);
        Ok((caller.list().await?, caller.count().await?))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_to_query_runs_in_the_callers_transaction() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(notes::add, "first".into()).await?;

    let query = tokio::spawn({
        let rt = rt.clone();
        async move { rt.query(q2q::count_around_commit, ()).await }
    });
    q2q::OUTER_READ.notified().await;
    // Committed while the outer query is suspended between its two reads.
    rt.mutation(notes::add, "second".into()).await?;
    q2q::COMMITTED.notify_one();

    let (before, nested, own_again) = query.await.expect("query task")?;
    assert_eq!(before, 1);
    assert_eq!(
        nested, 1,
        "a nested query must read the outer query's snapshot, not the latest commit"
    );
    assert_eq!(own_again, 1);
    // A fresh query sees the commit.
    assert_eq!(rt.query(notes::count, ()).await?, 2);
    Ok(())
}

#[tokio::test]
async fn query_to_query_returns_the_nested_results() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(notes::add, "a".into()).await?;
    rt.mutation(notes::add, "b".into()).await?;
    let (texts, count) = rt.query(q2q::texts_and_count, ()).await?;
    assert_eq!(texts, ["a", "b"]);
    assert_eq!(count, 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// mutation -> query: same transaction, sees uncommitted writes
// ---------------------------------------------------------------------------------------

mod m2q {
    use super::*;
    use convoke::{MutationCtx, procedure};

    convoke::module!(m2q);

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct AddAndRead {
        pub text: String,
        pub fail: bool,
    }

    /// Inserts a note, reads it back through nested queries, and optionally fails (carrying
    /// what the nested queries saw in the error data).
    #[procedure(mutation)]
    pub async fn add_and_read(ctx: &MutationCtx<'_>, args: AddAndRead) -> Result<Vec<String>> {
        let id = ctx.db().insert(&Note { text: args.text }).await?;
        let caller = notes::create_notes_caller(ctx);
        let by_id = caller.text(id).await?;
        let mut seen = caller.list().await?;
        if by_id.as_ref() != seen.last() {
            return Err(Error::user("the nested get and scan disagree"));
        }
        if args.fail {
            return Err(Error::user_with_data("rolled back", &seen)?);
        }
        seen.push(format!("count={}", caller.count().await?));
        Ok(seen)
    }
}

#[tokio::test]
async fn mutation_to_query_sees_the_mutations_uncommitted_writes() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let seen = rt
        .mutation(
            m2q::add_and_read,
            m2q::AddAndRead {
                text: "one".into(),
                fail: false,
            },
        )
        .await?;
    assert_eq!(seen, ["one", "count=1"]);

    let err = rt
        .mutation(
            m2q::add_and_read,
            m2q::AddAndRead {
                text: "two".into(),
                fail: true,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_user(), "{err}");
    assert_eq!(err.to_string(), "rolled back");
    // The nested query saw "two" although it was never committed.
    let seen_inside = convoke::value::to_clean_json(err.data().expect("error data"));
    assert_eq!(seen_inside, serde_json::json!(["one", "two"]));
    assert_eq!(rt.query(notes::list, ()).await?, ["one"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// mutation -> mutation: savepoint of the same transaction
// ---------------------------------------------------------------------------------------

mod m2m {
    use super::*;
    use convoke::{MutationCtx, procedure};

    convoke::module!(m2m);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Outcome {
        pub inner_error: String,
        pub seen_after_inner: Vec<String>,
    }

    /// Writes, calls a failing inner mutation, writes again, commits.
    #[procedure(mutation)]
    pub async fn around_failing_inner(ctx: &MutationCtx<'_>) -> Result<Outcome> {
        let caller = notes::create_notes_caller(ctx);
        ctx.db()
            .insert(&Note {
                text: "outer-before".into(),
            })
            .await?;
        let inner = caller.add_then_fail("inner".into()).await;
        let inner_error = match inner {
            Ok(_) => return Err(Error::user("the inner mutation should have failed")),
            Err(e) => e.to_string(),
        };
        let seen_after_inner = caller.list().await?;
        ctx.db()
            .insert(&Note {
                text: "outer-after".into(),
            })
            .await?;
        Ok(Outcome {
            inner_error,
            seen_after_inner,
        })
    }

    /// Calls a succeeding inner mutation: its writes commit with the outer transaction.
    #[procedure(mutation)]
    pub async fn around_succeeding_inner(ctx: &MutationCtx<'_>, fail: bool) -> Result<()> {
        ctx.db()
            .insert(&Note {
                text: "outer".into(),
            })
            .await?;
        notes::create_notes_caller(ctx).add("inner".into()).await?;
        if fail {
            return Err(Error::user("outer failed after the inner mutation"));
        }
        Ok(())
    }

    /// Changes a note, lets an inner mutation change it again and fail, and returns the
    /// text the outer mutation sees afterwards.
    #[procedure(mutation)]
    pub async fn patch_around_failing_inner_patch(
        ctx: &MutationCtx<'_>,
        id: Id<Note>,
    ) -> Result<Option<String>> {
        ctx.db()
            .patch(id, &serde_json::json!({ "text": "outer" }))
            .await?;
        let inner = notes::create_notes_caller(ctx)
            .set_text_then_fail(notes::SetText {
                id,
                text: "inner".into(),
            })
            .await;
        if inner.is_ok() {
            return Err(Error::user("the inner mutation should have failed"));
        }
        Ok(ctx.db().get(id).await?.map(|n| n.into_inner().text))
    }

    /// Lets an inner mutation delete a note and fail; the note must still be there.
    #[procedure(mutation)]
    pub async fn around_failing_inner_delete(
        ctx: &MutationCtx<'_>,
        id: Id<Note>,
    ) -> Result<Option<String>> {
        let caller = notes::create_notes_caller(ctx);
        if caller.delete_then_fail(id).await.is_ok() {
            return Err(Error::user("the inner mutation should have failed"));
        }
        caller.text(id).await
    }

    /// Middle level that swallows the failure of its own inner mutation.
    #[procedure(mutation)]
    pub async fn middle_swallows(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&Note {
                text: "middle-swallows".into(),
            })
            .await?;
        let inner = notes::create_notes_caller(ctx)
            .add_then_fail("innermost-1".into())
            .await;
        if inner.is_ok() {
            return Err(Error::user("the innermost mutation should have failed"));
        }
        Ok(())
    }

    /// Middle level that propagates the failure of its own inner mutation.
    #[procedure(mutation)]
    pub async fn middle_propagates(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&Note {
                text: "middle-propagates".into(),
            })
            .await?;
        notes::create_notes_caller(ctx)
            .add_then_fail("innermost-2".into())
            .await?;
        Ok(())
    }

    /// Three levels: outer -> middle -> failing innermost.
    #[procedure(mutation)]
    pub async fn three_levels(ctx: &MutationCtx<'_>) -> Result<String> {
        let caller = create_m2m_caller(ctx);
        ctx.db()
            .insert(&Note {
                text: "outer".into(),
            })
            .await?;
        caller.middle_swallows().await?;
        let propagated = match caller.middle_propagates().await {
            Ok(()) => return Err(Error::user("middle_propagates should have failed")),
            Err(e) => e.to_string(),
        };
        ctx.db()
            .insert(&Note {
                text: "outer-end".into(),
            })
            .await?;
        Ok(propagated)
    }
}

#[tokio::test]
async fn mutation_to_mutation_error_rolls_back_only_the_inner_writes() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let outcome = rt.mutation(m2m::around_failing_inner, ()).await?;
    assert_eq!(
        outcome,
        m2m::Outcome {
            inner_error: "inner failed".into(),
            seen_after_inner: vec!["outer-before".into()],
        }
    );
    assert_eq!(
        rt.query(notes::list, ()).await?,
        ["outer-before", "outer-after"]
    );
    Ok(())
}

#[tokio::test]
async fn mutation_to_mutation_success_commits_with_the_outer_transaction() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(m2m::around_succeeding_inner, false).await?;
    assert_eq!(rt.query(notes::list, ()).await?, ["outer", "inner"]);

    // The inner mutation succeeded, but the outer one failed: nothing of either commits.
    let err = rt
        .mutation(m2m::around_succeeding_inner, true)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "outer failed after the inner mutation");
    assert_eq!(rt.query(notes::list, ()).await?, ["outer", "inner"]);
    Ok(())
}

#[tokio::test]
async fn failed_inner_patch_restores_the_outer_mutations_pending_version() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(notes::add, "committed".into()).await?;
    let seen = rt
        .mutation(m2m::patch_around_failing_inner_patch, id)
        .await?;
    assert_eq!(seen.as_deref(), Some("outer"));
    assert_eq!(rt.query(notes::text, id).await?.as_deref(), Some("outer"));
    Ok(())
}

#[tokio::test]
async fn failed_inner_delete_is_undone() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(notes::add, "keep me".into()).await?;
    let seen = rt.mutation(m2m::around_failing_inner_delete, id).await?;
    assert_eq!(seen.as_deref(), Some("keep me"));
    assert_eq!(rt.query(notes::text, id).await?.as_deref(), Some("keep me"));
    Ok(())
}

#[tokio::test]
async fn nested_mutation_calling_a_failing_nested_mutation() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let propagated = rt.mutation(m2m::three_levels, ()).await?;
    assert_eq!(propagated, "inner failed");
    // Kept: the outer writes and the writes of the middle mutation that swallowed its inner
    // failure. Undone: both innermost mutations and the middle one that propagated.
    assert_eq!(
        rt.query(notes::list, ()).await?,
        ["outer", "middle-swallows", "outer-end"]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// action -> query, action -> mutation, action -> actions()
// ---------------------------------------------------------------------------------------

mod act {
    use super::*;
    use convoke::{ActionCtx, procedure};
    use tokio::sync::Notify;

    convoke::module!(act);

    pub static FIRST_READ: Notify = Notify::const_new();
    pub static COMMITTED: Notify = Notify::const_new();

    /// Lists the notes twice, letting the test commit in between: each query has its own
    /// transaction, so the second sees the commit.
    #[procedure(action)]
    pub async fn list_twice(ctx: &ActionCtx) -> Result<(Vec<String>, Vec<String>)> {
        let caller = notes::create_notes_caller(ctx);
        let first = caller.list().await?;
        FIRST_READ.notify_one();
        COMMITTED.notified().await;
        let second = caller.list().await?;
        Ok((first, second))
    }

    /// Adds a note through a mutation, then reads it back through a query.
    #[procedure(action)]
    pub async fn add_then_read(ctx: &ActionCtx, text: String) -> Result<Option<String>> {
        let caller = notes::create_notes_caller(ctx);
        let id = caller.add(text).await?;
        caller.text(id).await
    }

    /// Commits a mutation, then fails.
    #[procedure(action)]
    pub async fn add_then_fail(ctx: &ActionCtx, text: String) -> Result<()> {
        notes::create_notes_caller(ctx).add(text).await?;
        Err(Error::user("the action failed after its mutation"))
    }

    /// A mutation that fails from an action: its own transaction is rolled back.
    #[procedure(action)]
    pub async fn call_failing_mutation(ctx: &ActionCtx, text: String) -> Result<String> {
        match notes::create_notes_caller(ctx).add_then_fail(text).await {
            Ok(_) => Err(Error::user("the mutation should have failed")),
            Err(e) => Ok(e.to_string()),
        }
    }

    /// The nested action: adds a note and returns the count.
    #[procedure(action)]
    pub async fn inner(ctx: &ActionCtx, text: String) -> Result<usize> {
        let caller = notes::create_notes_caller(ctx);
        caller.add(text).await?;
        caller.count().await
    }

    /// A nested action that commits and then fails.
    #[procedure(action)]
    pub async fn inner_fails(ctx: &ActionCtx, text: String) -> Result<usize> {
        notes::create_notes_caller(ctx).add(text).await?;
        Err(Error::user_with_data("inner action failed", 7)?)
    }

    /// Calls `inner` through `actions()`, twice.
    #[procedure(action)]
    pub async fn outer(ctx: &ActionCtx, text: String) -> Result<(usize, usize)> {
        let caller = create_act_caller(ctx);
        let first = caller.actions().inner(format!("{text}-1")).await?;
        let second = caller.actions().inner(format!("{text}-2")).await?;
        Ok((first, second))
    }

    /// Calls `inner_fails` through `actions()` and propagates its error.
    #[procedure(action)]
    pub async fn outer_of_failing(ctx: &ActionCtx, text: String) -> Result<usize> {
        create_act_caller(ctx).actions().inner_fails(text).await
    }

    /// The `ActionCtx` methods (`run_query`, `run_mutation`, `run_action`) behave like the
    /// module caller.
    #[procedure(action)]
    pub async fn through_ctx_methods(ctx: &ActionCtx, text: String) -> Result<(usize, usize)> {
        ctx.run_mutation(notes::add, text.clone()).await?;
        let after_mutation = ctx.run_query(notes::count, ()).await?;
        let from_action = ctx.run_action(inner, text).await?;
        Ok((after_mutation, from_action))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_to_query_runs_in_its_own_transaction() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(notes::add, "before".into()).await?;
    let action = tokio::spawn({
        let rt = rt.clone();
        async move { rt.action(act::list_twice, ()).await }
    });
    act::FIRST_READ.notified().await;
    rt.mutation(notes::add, "between".into()).await?;
    act::COMMITTED.notify_one();
    let (first, second) = action.await.expect("action task")?;
    assert_eq!(first, ["before"]);
    assert_eq!(
        second,
        ["before", "between"],
        "each query called from an action must read the latest commit"
    );
    Ok(())
}

#[tokio::test]
async fn action_to_mutation_commits_before_the_next_call() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let read = rt.action(act::add_then_read, "hello".into()).await?;
    assert_eq!(read.as_deref(), Some("hello"));
    assert_eq!(rt.query(notes::list, ()).await?, ["hello"]);
    Ok(())
}

#[tokio::test]
async fn action_to_mutation_stays_committed_when_the_action_fails() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let err = rt
        .action(act::add_then_fail, "survivor".into())
        .await
        .unwrap_err();
    assert!(err.is_user());
    assert_eq!(err.to_string(), "the action failed after its mutation");
    assert_eq!(rt.query(notes::list, ()).await?, ["survivor"]);
    Ok(())
}

#[tokio::test]
async fn action_to_failing_mutation_rolls_back_that_mutation() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let message = rt
        .action(act::call_failing_mutation, "ghost".into())
        .await?;
    assert_eq!(message, "inner failed");
    assert!(rt.query(notes::list, ()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn action_to_nested_action_through_actions() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let (first, second) = rt.action(act::outer, "n".into()).await?;
    assert_eq!((first, second), (1, 2));
    assert_eq!(rt.query(notes::list, ()).await?, ["n-1", "n-2"]);

    // A failing nested action: its error reaches the outer action unchanged, and the
    // mutation it committed stays.
    let err = rt
        .action(act::outer_of_failing, "kept".into())
        .await
        .unwrap_err();
    assert!(err.is_user());
    assert_eq!(err.to_string(), "inner action failed");
    assert_eq!(err.data().and_then(|d| d.as_i64()), Some(7));
    assert_eq!(rt.query(notes::list, ()).await?, ["n-1", "n-2", "kept"]);
    Ok(())
}

#[tokio::test]
async fn action_ctx_methods_match_the_caller() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let (after_mutation, from_action) = rt.action(act::through_ctx_methods, "x".into()).await?;
    assert_eq!(after_mutation, 1);
    assert_eq!(from_action, 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// schedule(): from a mutation, in its transaction; from an action, at once
// ---------------------------------------------------------------------------------------

mod sched {
    use super::*;
    use convoke::scheduler::ScheduledFunction;
    use convoke::{ActionCtx, Doc, MutationCtx, QueryCtx, ScheduledFunctionId, procedure};
    use std::time::{Duration, SystemTime};

    convoke::module!(sched);

    /// A mutation to schedule.
    #[procedure(mutation)]
    pub async fn target(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        ctx.db().insert(&Note { text }).await?;
        Ok(())
    }

    /// An action to schedule.
    #[procedure(action)]
    pub async fn target_action(ctx: &ActionCtx, text: String) -> Result<()> {
        create_sched_caller(ctx).target(text).await
    }

    /// Every way of scheduling from a mutation, then a cancel, then a write of its own.
    #[procedure(mutation)]
    pub async fn from_mutation(ctx: &MutationCtx<'_>) -> Result<Vec<ScheduledFunctionId>> {
        let caller = create_sched_caller(ctx);
        let ids = vec![
            caller.schedule().now().target("now".into()).await?,
            caller
                .schedule()
                .after(Duration::from_secs(600))
                .target("after".into())
                .await?,
            caller
                .schedule()
                .at(SystemTime::now())
                .target("at".into())
                .await?,
            caller
                .schedule()
                .now()
                .target_action("action".into())
                .await?,
            caller
                .schedule()
                .after(Duration::from_secs(3600))
                .target("canceled".into())
                .await?,
        ];
        caller.schedule().cancel(ids[4]).await?;
        ctx.db()
            .insert(&Note {
                text: "mutation committed".into(),
            })
            .await?;
        Ok(ids)
    }

    /// Every way of scheduling from an action, then a cancel.
    #[procedure(action)]
    pub async fn from_action(ctx: &ActionCtx) -> Result<Vec<ScheduledFunctionId>> {
        let caller = create_sched_caller(ctx);
        let ids = vec![
            caller.schedule().now().target("now".into()).await?,
            caller
                .schedule()
                .after(Duration::from_millis(1))
                .target("after".into())
                .await?,
            caller
                .schedule()
                .at(SystemTime::UNIX_EPOCH)
                .target_action("at".into())
                .await?,
            caller
                .schedule()
                .after(Duration::from_secs(3600))
                .target("canceled".into())
                .await?,
        ];
        caller.schedule().cancel(ids[3]).await?;
        Ok(ids)
    }

    /// Schedules, then fails: the job is rolled back with the note.
    #[procedure(mutation)]
    pub async fn schedule_then_fail(ctx: &MutationCtx<'_>) -> Result<String> {
        ctx.db()
            .insert(&Note {
                text: "rolled back".into(),
            })
            .await?;
        let id = create_sched_caller(ctx)
            .schedule()
            .now()
            .target("never".into())
            .await?;
        Err(Error::user(format!("failed after scheduling {id}")))
    }

    /// Every job, oldest first.
    #[procedure(query)]
    pub async fn jobs(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<ScheduledFunction>>> {
        Ok(ctx.db().query::<ScheduledFunction>().collect().await?)
    }
}

/// `(name, args, state)` of every job.
async fn job_summaries(rt: &Runtime) -> Result<Vec<(String, String, String)>> {
    Ok(rt
        .query(sched::jobs, ())
        .await?
        .into_iter()
        .map(|j| {
            (
                j.name.clone(),
                j.args.to_string(),
                j.state.kind().to_owned(),
            )
        })
        .collect())
}

fn summary(name: &str, args: &str, state: &str) -> (String, String, String) {
    (name.to_owned(), format!("\"{args}\""), state.to_owned())
}

#[tokio::test]
async fn schedule_from_a_mutation_writes_jobs_in_its_transaction() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let ids = rt.mutation(sched::from_mutation, ()).await?;
    let jobs = rt.query(sched::jobs, ()).await?;
    assert_eq!(jobs.iter().map(|j| j.id()).collect::<Vec<_>>(), ids);
    assert_eq!(
        job_summaries(&rt).await?,
        [
            summary("sched:target", "now", "pending"),
            summary("sched:target", "after", "pending"),
            summary("sched:target", "at", "pending"),
            summary("sched:target_action", "action", "pending"),
            summary("sched:target", "canceled", "canceled"),
        ]
    );
    // Nothing ran (no scheduler runs here); the mutation's own write committed.
    assert_eq!(rt.query(notes::list, ()).await?, ["mutation committed"]);

    // A failing mutation takes its jobs with it.
    let err = rt
        .mutation(sched::schedule_then_fail, ())
        .await
        .unwrap_err();
    assert!(err.is_user(), "{err}");
    assert!(err.to_string().contains("_scheduled_functions:"), "{err}");
    assert_eq!(rt.query(sched::jobs, ()).await?.len(), 5);
    assert_eq!(rt.query(notes::list, ()).await?, ["mutation committed"]);

    // Run them: due ones run, the canceled one never does.
    assert_eq!(rt.run_due_scheduled_functions().await?, 3);
    let mut notes = rt.query(notes::list, ()).await?;
    notes.sort();
    assert_eq!(notes, ["action", "at", "mutation committed", "now"]);
    Ok(())
}

#[tokio::test]
async fn schedule_from_an_action_writes_jobs_at_once() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let ids = rt.action(sched::from_action, ()).await?;
    let jobs = rt.query(sched::jobs, ()).await?;
    assert_eq!(jobs.iter().map(|j| j.id()).collect::<Vec<_>>(), ids);
    assert_eq!(
        job_summaries(&rt).await?,
        [
            summary("sched:target", "now", "pending"),
            summary("sched:target", "after", "pending"),
            summary("sched:target_action", "at", "pending"),
            summary("sched:target", "canceled", "canceled"),
        ]
    );
    assert_eq!(jobs[2].scheduled_time, 0.0);
    assert!(rt.query(notes::list, ()).await?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Identity propagates into nested calls in every context
// ---------------------------------------------------------------------------------------

mod who {
    use super::*;
    use convoke::{ActionCtx, Auth, MutationCtx, QueryCtx, procedure};

    convoke::module!(who);

    /// `token|email-claim`, or `None` for an anonymous call.
    fn describe(auth: Auth<'_>) -> Option<String> {
        auth.user_identity().map(|id| {
            let email = id.claim("email").and_then(|v| v.as_str()).unwrap_or("-");
            format!("{}#{email}", id.token_identifier())
        })
    }

    #[procedure(query)]
    pub async fn q(ctx: &QueryCtx<'_>) -> Result<Vec<Option<String>>> {
        Ok(vec![describe(ctx.auth())])
    }

    /// query -> query -> query
    #[procedure(query)]
    pub async fn qq(ctx: &QueryCtx<'_>) -> Result<Vec<Option<String>>> {
        let mut all = vec![describe(ctx.auth())];
        all.extend(create_who_caller(ctx).q().await?);
        Ok(all)
    }

    /// mutation -> query, mutation -> query -> query
    #[procedure(mutation)]
    pub async fn m(ctx: &MutationCtx<'_>) -> Result<Vec<Option<String>>> {
        let caller = create_who_caller(ctx);
        let mut all = vec![describe(ctx.auth())];
        all.extend(caller.q().await?);
        all.extend(caller.qq().await?);
        Ok(all)
    }

    /// mutation -> mutation -> ...
    #[procedure(mutation)]
    pub async fn mm(ctx: &MutationCtx<'_>) -> Result<Vec<Option<String>>> {
        let mut all = vec![describe(ctx.auth())];
        all.extend(create_who_caller(ctx).m().await?);
        Ok(all)
    }

    /// action -> query
    #[procedure(action)]
    pub async fn a_inner(ctx: &ActionCtx) -> Result<Vec<Option<String>>> {
        let mut all = vec![describe(ctx.auth())];
        all.extend(create_who_caller(ctx).q().await?);
        Ok(all)
    }

    /// action -> query / mutation / action, through the caller and the ctx methods.
    #[procedure(action)]
    pub async fn a(ctx: &ActionCtx) -> Result<Vec<Option<String>>> {
        let caller = create_who_caller(ctx);
        let mut all = vec![describe(ctx.auth())];
        all.extend(caller.qq().await?);
        all.extend(caller.mm().await?);
        all.extend(caller.actions().a_inner().await?);
        all.extend(ctx.run_query(q, ()).await?);
        all.extend(ctx.run_mutation(m, ()).await?);
        all.extend(ctx.run_action(a_inner, ()).await?);
        Ok(all)
    }
}

/// How many identity observations `who::a` makes: itself (1), qq (2), mm (1 + m's 4),
/// a_inner (2), run_query q (1), run_mutation m (4), run_action a_inner (2).
const OBSERVATIONS_IN_A: usize = 1 + 2 + 5 + 2 + 1 + 4 + 2;

#[tokio::test]
async fn identity_reaches_every_nested_call() -> Result<()> {
    let identity = UserIdentity::new("https://auth.example", "ada").with_claim("email", "a@b.c");
    let rt = Runtime::in_memory()?.with_identity(identity);
    let expected = Some("https://auth.example|ada#a@b.c".to_owned());

    let from_query = rt.query(who::qq, ()).await?;
    assert_eq!(from_query, vec![expected.clone(); 2]);
    let from_mutation = rt.mutation(who::mm, ()).await?;
    assert_eq!(from_mutation, vec![expected.clone(); 5]);
    let from_action = rt.action(who::a, ()).await?;
    assert_eq!(from_action, vec![expected.clone(); OBSERVATIONS_IN_A]);
    // By name too.
    let by_name = rt.run("who:a", serde_json::json!({})).await?;
    assert_eq!(
        by_name,
        serde_json::json!(vec![expected.clone(); OBSERVATIONS_IN_A])
    );
    Ok(())
}

#[tokio::test]
async fn identity_is_absent_when_the_runtime_has_none() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert!(rt.identity().is_none());
    assert_eq!(rt.query(who::qq, ()).await?, vec![None; 2]);
    assert_eq!(rt.mutation(who::mm, ()).await?, vec![None; 5]);
    assert_eq!(rt.action(who::a, ()).await?, vec![None; OBSERVATIONS_IN_A]);

    // `without_identity` drops it again, while the original handle keeps it.
    let signed_in = rt.with_identity(UserIdentity::new("iss", "sub"));
    let anonymous = signed_in.without_identity();
    assert_eq!(
        anonymous.action(who::a, ()).await?,
        vec![None; OBSERVATIONS_IN_A]
    );
    assert_eq!(
        signed_in.action(who::a, ()).await?,
        vec![Some("iss|sub#-".to_owned()); OBSERVATIONS_IN_A]
    );
    Ok(())
}

/// Different handles on one runtime keep their own identities when used concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_handles_keep_their_own_identity() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let handle = if i % 2 == 0 {
            rt.with_identity(UserIdentity::new("iss", format!("user{i}")))
        } else {
            rt.without_identity()
        };
        tasks.push(tokio::spawn(
            async move { (i, handle.action(who::a, ()).await) },
        ));
    }
    for task in tasks {
        let (i, result) = task.await.expect("task");
        let expected = (i % 2 == 0).then(|| format!("iss|user{i}#-"));
        assert_eq!(result?, vec![expected; OBSERVATIONS_IN_A]);
    }
    Ok(())
}
