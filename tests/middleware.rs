//! Middleware and argument validation: they run exactly once per call on every path into a
//! procedure, reject calls, hand typed values to handlers, and wrap calls.

use std::collections::HashMap;
use std::sync::Mutex;

use convoke::{
    CallContext, CallInfo, Error, Middleware, Result, Runtime, UserIdentity, Validate,
    ValidationError,
};
use serde::{Deserialize, Serialize};

/// How many times `before` and `after` ran, per procedure path.
static RUNS: Mutex<Option<HashMap<&'static str, (usize, usize)>>> = Mutex::new(None);

/// Tests that count middleware runs take turns: they call the same procedures.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn runs(path: &str) -> (usize, usize) {
    RUNS.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(path).copied())
        .unwrap_or_default()
}

/// The signed-in user; only `Authed` makes one.
#[derive(Debug)]
pub struct CurrentUser {
    pub subject: String,
}

/// Rejects anonymous calls, hands the user over, and counts its runs.
#[derive(Debug)]
pub struct Authed;

impl<C: CallContext> Middleware<C> for Authed {
    type Value = CurrentUser;

    async fn before(ctx: &C, call: &CallInfo) -> Result<CurrentUser> {
        RUNS.lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(call.path)
            .or_default()
            .0 += 1;
        match ctx.auth().user_identity() {
            Some(user) => Ok(CurrentUser {
                subject: user.subject().to_owned(),
            }),
            None => Err(Error::user_with_data("sign in first", "unauthorized")
                .unwrap_or_else(|e| Error::user(e.to_string()))),
        }
    }

    async fn after(_ctx: &C, call: &CallInfo, outcome: std::result::Result<(), &Error>) {
        let _ = outcome;
        RUNS.lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(call.path)
            .or_default()
            .1 += 1;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rename {
    pub name: String,
    pub tags: Vec<String>,
}

impl Validate for Rename {
    fn validate(&self) -> std::result::Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.len() > 5 {
                return Err(ValidationError::new(format!("[{i}]"), "longer than 5").within("tags"));
            }
        }
        Ok(())
    }
}

mod guarded {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};

    use super::{Authed, CurrentUser, Rename};

    convoke::module!(guarded);

    #[procedure(query, with = Authed)]
    pub async fn whoami(_ctx: &QueryCtx<'_>, user: CurrentUser) -> Result<String> {
        Ok(user.subject)
    }

    #[procedure(mutation, with = Authed, validate)]
    pub async fn rename(_ctx: &MutationCtx<'_>, user: CurrentUser, args: Rename) -> Result<String> {
        Ok(format!("{} renamed to {}", user.subject, args.name))
    }

    #[procedure(query, validate)]
    pub async fn check_only(_ctx: &QueryCtx<'_>, args: Rename) -> Result<usize> {
        Ok(args.tags.len())
    }

    #[procedure(action, with = Authed)]
    pub async fn act(ctx: &ActionCtx, user: CurrentUser) -> Result<String> {
        // In-process calls from an action: each runs the middleware once more.
        let caller = create_guarded_caller(ctx);
        let from_query = caller.whoami().await?;
        let from_run = ctx.run_query(whoami, ()).await?;
        Ok(format!("{}:{from_query}:{from_run}", user.subject))
    }

    /// Calls `whoami` from a query and `rename` from a mutation, in-process.
    #[procedure(query)]
    pub async fn nested_query(ctx: &QueryCtx<'_>) -> Result<String> {
        create_guarded_caller(ctx).whoami().await
    }

    #[procedure(mutation)]
    pub async fn nested_mutation(ctx: &MutationCtx<'_>, args: Rename) -> Result<String> {
        create_guarded_caller(ctx).rename(args).await
    }

    /// Handler mode: calling the function directly passes the value itself.
    #[procedure(query)]
    pub async fn direct(ctx: &QueryCtx<'_>) -> Result<String> {
        whoami(
            ctx,
            CurrentUser {
                subject: "handler mode".into(),
            },
        )
        .await
    }
}

fn ada(rt: &Runtime) -> Runtime {
    rt.with_identity(UserIdentity::new("https://auth.example", "ada"))
}

fn rename(name: &str) -> Rename {
    Rename {
        name: name.into(),
        tags: vec!["a".into()],
    }
}

#[tokio::test]
async fn middleware_rejects_anonymous_calls_before_the_handler() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let rt = Runtime::in_memory()?;
    let err = rt.query(guarded::whoami, ()).await.unwrap_err();
    assert!(err.is_user(), "{err}");
    assert_eq!(err.to_string(), "sign in first");
    assert_eq!(err.data().and_then(|d| d.as_str()), Some("unauthorized"));
    let err = rt
        .run("guarded:whoami", serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "sign in first");
    Ok(())
}

#[tokio::test]
async fn middleware_runs_once_per_call_on_every_path() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let rt = ada(&Runtime::in_memory()?);
    let path = "guarded:whoami";
    let (before, after) = runs(path);

    // Typed entry point.
    assert_eq!(rt.query(guarded::whoami, ()).await?, "ada");
    assert_eq!(runs(path), (before + 1, after + 1));
    // By name (what HTTP and the scheduler use).
    assert_eq!(
        rt.run(path, serde_json::json!({})).await?,
        serde_json::json!("ada")
    );
    assert_eq!(runs(path), (before + 2, after + 2));
    // In-process caller from a query context.
    assert_eq!(rt.query(guarded::nested_query, ()).await?, "ada");
    assert_eq!(runs(path), (before + 3, after + 3));
    // From an action: the caller and run_query, plus the action's own middleware run.
    let act_before = runs("guarded:act");
    assert_eq!(rt.action(guarded::act, ()).await?, "ada:ada:ada");
    assert_eq!(runs(path), (before + 5, after + 5));
    assert_eq!(runs("guarded:act").0, act_before.0 + 1);
    Ok(())
}

#[tokio::test]
async fn middleware_runs_for_mutations_in_process_and_wraps_failures() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let rt = ada(&Runtime::in_memory()?);
    let path = "guarded:rename";
    let (before, after) = runs(path);
    assert_eq!(
        rt.mutation(guarded::nested_mutation, rename("x")).await?,
        "ada renamed to x"
    );
    assert_eq!(runs(path), (before + 1, after + 1));
    // A failing handler (here: validation) still runs `after` once.
    let err = rt.mutation(guarded::rename, rename(" ")).await.unwrap_err();
    assert!(err.is_user());
    assert_eq!(runs(path), (before + 2, after + 2));
    Ok(())
}

#[tokio::test]
async fn middleware_runs_for_scheduled_functions() -> Result<()> {
    let _serial = SERIAL.lock().await;
    // The scheduler runs jobs by name, without identity: the middleware sees an anonymous
    // call and rejects it, once.
    mod sched {
        use convoke::{MutationCtx, Result, procedure};
        convoke::module!(sched);

        #[procedure(mutation)]
        pub async fn plan(ctx: &MutationCtx<'_>) -> Result<()> {
            create_sched_caller(ctx);
            super::guarded::create_guarded_caller(ctx)
                .schedule()
                .now()
                .rename(super::rename("later"))
                .await?;
            Ok(())
        }
    }
    let rt = ada(&Runtime::in_memory()?);
    let path = "guarded:rename";
    rt.mutation(sched::plan, ()).await?;
    let (before, _) = runs(path);
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    assert_eq!(runs(path).0, before + 1);
    Ok(())
}

#[tokio::test]
async fn handler_mode_skips_the_middleware() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let rt = Runtime::in_memory()?;
    let (before, _) = runs("guarded:whoami");
    assert_eq!(rt.query(guarded::direct, ()).await?, "handler mode");
    assert_eq!(runs("guarded:whoami").0, before);
    Ok(())
}

#[tokio::test]
async fn validation_errors_name_the_field_on_every_path() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let rt = ada(&Runtime::in_memory()?);
    let bad = Rename {
        name: "ok".into(),
        tags: vec!["a".into(), "toolong".into()],
    };
    let typed = rt
        .query(guarded::check_only, bad.clone())
        .await
        .unwrap_err();
    let by_name = rt
        .run(
            "guarded:check_only",
            serde_json::json!({ "name": "ok", "tags": ["a", "toolong"] }),
        )
        .await
        .unwrap_err();
    let nested = rt
        .mutation(guarded::nested_mutation, bad)
        .await
        .unwrap_err();
    for err in [&typed, &by_name, &nested] {
        assert!(err.is_user(), "{err}");
        assert_eq!(err.to_string(), "invalid argument `tags[1]`: longer than 5");
        let data = err.data().and_then(|d| d.as_object()).expect("data");
        assert_eq!(data.get("path").and_then(|p| p.as_str()), Some("tags[1]"));
    }
    assert_eq!(rt.query(guarded::check_only, rename("fine")).await?, 1);
    Ok(())
}
