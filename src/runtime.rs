//! The runtime: entry points that open transactions, run procedures and commit.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::caller::Call;
use crate::contention::{Attempts, Contention, Lanes};
use crate::ctx::{ActionCtx, CallEnv, LogLines, MutationCtx, QueryCtx, UserIdentity};
use crate::db::commit_hook::CommitObserver;
use crate::db::system::session_requests;
use crate::db::{Database, DbError, RetainedSnapshot, Transaction, TransactionLimits};
use crate::error::{Error, Result};
use crate::procedure::{
    ActionProcedure, Handler, MutationProcedure, Procedure, ProcedureKind, QueryProcedure,
};
use crate::registry::{
    ErasedInvoke, ErasedMutationFn, ErasedQueryFn, ProcedureEntry, ProcedureInfo, Registry,
};
use crate::scheduling::{Scheduler, SchedulerConfig};
use crate::store::{DocumentId, ForeignCommit, MemoryStore, ReadSet, Schema, Storage};
use crate::subscription::{Subscription, Subscriptions};
use crate::value::{self, Value};

/// Convex's limit on nested calls.
const DEFAULT_MAX_CALL_DEPTH: u32 = 8;
const DEFAULT_MAX_MUTATION_ATTEMPTS: u32 = 16;

/// Runs procedures over a store: the entry point for servers, schedulers and tests.
///
/// Cheap to clone (all clones share one store). The typed entry points
/// ([`query`](Runtime::query), [`mutation`](Runtime::mutation), [`action`](Runtime::action))
/// take the procedure function itself; [`Runtime::run`] takes a path and JSON.
///
/// # Scheduling and test time
///
/// The scheduler's methods are defined in the `scheduler` module (src/scheduler/):
/// [`start_scheduler`](Runtime::start_scheduler) starts the worker that runs scheduled
/// functions as they come due, and
/// [`run_due_scheduled_functions`](Runtime::run_due_scheduled_functions) runs the ones due
/// now without a worker. The test-time operations (a virtual clock, moving time and running
/// what became due, direct database access) are on
/// [`TestRuntime`](crate::testing::TestRuntime), which dereferences to `Runtime`.
///
/// ```standalone_crate
/// use convoke::{procedure, QueryCtx, Result, Runtime};
///
/// mod ping {
///     use super::*;
///     convoke::module!(ping);
///
///     #[procedure(query)]
///     pub async fn ping(_ctx: &QueryCtx<'_>, n: i64) -> Result<i64> {
///         Ok(n + 1)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// let rt = Runtime::in_memory()?;
/// assert_eq!(rt.query(ping::ping, 41).await?, 42);
/// assert_eq!(rt.run("ping:ping", serde_json::json!(1)).await?, serde_json::json!(2));
/// assert!(rt.run("ping:nope", serde_json::json!({})).await.unwrap_err().is_unknown_procedure());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
    identity: Option<Arc<UserIdentity>>,
    /// The scheduled action whose calls run through this handle, if any: once that job is
    /// canceled, what they schedule is written canceled.
    parent_job: Option<DocumentId>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

struct RuntimeInner {
    db: Arc<Database>,
    scheduler: Scheduler,
    registry: &'static Registry,
    max_call_depth: u32,
    max_mutation_attempts: u32,
    lanes: Lanes,
    /// The subscriptions' registry, made (and installed in the database's commit hook) by
    /// the first subscription.
    subscriptions: tokio::sync::OnceCell<Arc<Subscriptions>>,
}

/// The result of a call and the lines it logged: what [`Runtime::run_value_logged`]
/// returns.
#[derive(Debug)]
#[non_exhaustive]
pub struct Logged<T> {
    /// What the call returned.
    pub result: Result<T>,
    /// What it logged, with the lines of every call it made, in order: `[LOG] 'message'`.
    pub log_lines: Vec<String>,
}

/// A query run for a subscription: its result and logs, what it read, and the pagination
/// journal it recorded (see [`Runtime::run_query_tracked`]).
pub(crate) struct TrackedRun {
    pub(crate) logged: Logged<Value>,
    pub(crate) reads: ReadSet,
    pub(crate) journal: Option<String>,
}

/// Configures a [`Runtime`]: [`Runtime::builder()`], then [`build`](RuntimeBuilder::build).
///
/// ```
/// use convoke::{Runtime, store::MemoryStore};
/// let rt = Runtime::builder()
///     .storage(MemoryStore::new())
///     .max_call_depth(4)
///     .build()
///     .unwrap();
/// ```
#[must_use]
pub struct RuntimeBuilder {
    store: Option<Arc<dyn Storage>>,
    scheduler: SchedulerConfig,
    limits: TransactionLimits,
    max_call_depth: u32,
    max_mutation_attempts: u32,
    contention: Contention,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("has_storage", &self.store.is_some())
            .field("scheduler", &self.scheduler)
            .field("max_call_depth", &self.max_call_depth)
            .field("max_mutation_attempts", &self.max_mutation_attempts)
            .field("contention", &self.contention)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// The storage engine (default: a fresh [`MemoryStore`]).
    pub fn storage(mut self, store: impl Storage) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The storage engine, shared with other runtimes or with your own code.
    pub fn shared_storage(mut self, store: Arc<dyn Storage>) -> Self {
        self.store = Some(store);
        self
    }

    /// How scheduled functions run: concurrency, retention of finished jobs, and the clock
    /// (a [`VirtualClock`](crate::scheduler::VirtualClock) in tests). Jobs run once
    /// [`Runtime::start_scheduler`] starts the worker, or when a test calls
    /// [`Runtime::run_due_scheduled_functions`].
    pub fn scheduler(mut self, config: SchedulerConfig) -> Self {
        self.scheduler = config;
        self
    }

    /// Per-transaction limits (default: [`TransactionLimits::default`], Convex's).
    pub fn transaction_limits(mut self, limits: TransactionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How deep calls may nest, the entry call counting as 1 (default 8, as in Convex).
    ///
    /// A call that would go deeper fails with [`Error::DepthExceeded`] before it starts.
    /// Values below 1 count as 1.
    pub fn max_call_depth(mut self, depth: u32) -> Self {
        self.max_call_depth = depth.max(1);
        self
    }

    /// How many times a mutation runs before conflicts make it give up (default 16). Then
    /// the call fails with [`Error::TooManyConflicts`]. Values below 1 count as 1.
    ///
    /// A conflicting mutation re-runs in this process's contention lane, then exclusively
    /// (see [`Contention`]), so it needs at most three runs unless the engine reports
    /// conflicts of its own; the limit is a guard against a mutation that conflicts
    /// forever, not a way to shed load.
    pub fn max_mutation_attempts(mut self, attempts: u32) -> Self {
        self.max_mutation_attempts = attempts.max(1);
        self
    }

    /// How conflicting mutations wait for their turn to re-run, and how long (default:
    /// [`Contention::default`]). A call that cannot get its turn fails with
    /// [`Error::Overloaded`].
    pub fn contention(mut self, contention: Contention) -> Self {
        self.contention = contention;
        self
    }

    /// Builds the runtime. Fails with [`Error::DuplicateProcedure`] if two procedures
    /// linked into the program share a path, and with a schema error
    /// ([`StoreError::InvalidSchema`](crate::store::StoreError::InvalidSchema)) if a table
    /// declaration is invalid.
    pub fn build(self) -> Result<Runtime> {
        let registry = Registry::get();
        registry.check()?;
        let schema = Schema::linked()?;
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        store.set_schema(&schema)?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                scheduler: Scheduler::new(self.scheduler),
                db: Arc::new(Database {
                    store,
                    schema: Arc::new(schema),
                    limits: self.limits,
                    hook: Default::default(),
                }),
                registry,
                max_call_depth: self.max_call_depth,
                max_mutation_attempts: self.max_mutation_attempts,
                lanes: Lanes::new(self.contention),
                subscriptions: tokio::sync::OnceCell::new(),
            }),
            identity: None,
            parent_job: None,
        })
    }
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            store: None,
            limits: TransactionLimits::default(),
            scheduler: SchedulerConfig::default(),
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
            max_mutation_attempts: DEFAULT_MAX_MUTATION_ATTEMPTS,
            contention: Contention::default(),
        }
    }

    /// A runtime over a fresh in-memory store, with the default limits.
    ///
    /// Every runtime sees every procedure linked into the program; this fails only if two
    /// of them share a path (see [`RuntimeBuilder::build`]).
    ///
    /// ```
    /// let rt = convoke::Runtime::in_memory()?;
    /// # Ok::<(), convoke::Error>(())
    /// ```
    pub fn in_memory() -> Result<Runtime> {
        Runtime::builder().build()
    }

    /// A handle on the same runtime (same store) whose calls run as `identity`:
    /// `ctx.auth().user_identity()` returns it, in the called procedure and in every call it
    /// makes.
    ///
    /// ```
    /// # mod users {
    /// #     use convoke::{QueryCtx, Result, procedure};
    /// #     convoke::module!(users);
    /// /// Who is calling, by subject.
    /// #[procedure(query)]
    /// pub async fn whoami(ctx: &QueryCtx<'_>) -> Result<Option<String>> {
    ///     Ok(ctx.auth().user_identity().map(|me| me.subject().to_owned()))
    /// }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// use convoke::{Runtime, UserIdentity};
    ///
    /// let rt = Runtime::in_memory()?;
    /// let ada = rt.with_identity(UserIdentity::new("https://auth.example.com", "ada"));
    /// assert_eq!(ada.query(users::whoami, ()).await?.as_deref(), Some("ada"));
    /// assert_eq!(rt.query(users::whoami, ()).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_identity(&self, identity: UserIdentity) -> Runtime {
        Runtime {
            inner: self.inner.clone(),
            identity: Some(Arc::new(identity)),
            parent_job: self.parent_job.clone(),
        }
    }

    /// A handle on the same runtime (same store) whose calls run without identity.
    #[must_use]
    pub fn without_identity(&self) -> Runtime {
        Runtime {
            inner: self.inner.clone(),
            identity: None,
            parent_job: self.parent_job.clone(),
        }
    }

    /// The handle the scheduler runs jobs through: no identity, no parent job.
    pub(crate) fn for_scheduler(&self) -> Runtime {
        Runtime {
            inner: self.inner.clone(),
            identity: None,
            parent_job: None,
        }
    }

    /// The handle a scheduled action runs through: no identity, and `job` as the parent of
    /// what it schedules.
    pub(crate) fn for_job(&self, job: DocumentId) -> Runtime {
        Runtime {
            inner: self.inner.clone(),
            identity: None,
            parent_job: Some(job),
        }
    }

    /// The scheduled action whose calls run through this handle, if any.
    pub(crate) fn parent_job(&self) -> Option<&DocumentId> {
        self.parent_job.as_ref()
    }

    /// The identity calls through this handle run as, if any.
    pub fn identity(&self) -> Option<&UserIdentity> {
        self.identity.as_deref()
    }

    /// What the registry knows about the procedure at `path`: its kind and visibility.
    ///
    /// Servers use it to refuse internal procedures and wrong kinds before running anything.
    pub fn procedure(&self, path: &str) -> Result<ProcedureInfo> {
        let entry = self.inner.registry.lookup(path)?;
        Ok(ProcedureInfo {
            path: (entry.path)(),
            kind: entry.kind,
            visibility: entry.visibility,
        })
    }

    /// The storage engine under this runtime, e.g. to build a second runtime with other
    /// limits over the same data (`Runtime::builder().shared_storage(rt.storage())`).
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.inner.db.store.clone()
    }

    pub(crate) fn database(&self) -> &Arc<Database> {
        &self.inner.db
    }

    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    pub(crate) fn procedure_entry(&self, path: &str) -> Result<&'static ProcedureEntry> {
        self.inner.registry.lookup(path)
    }

    pub(crate) fn max_call_depth(&self) -> u32 {
        self.inner.max_call_depth
    }

    /// Runs a query in a fresh read transaction: `rt.query(teams::get_team, args)`.
    ///
    /// Pass the procedure function itself; the arguments and the result are the
    /// procedure's own Rust types (`()` for a procedure without arguments). Passing a
    /// mutation or an action here is a compile error.
    ///
    /// ```
    /// # mod teams {
    /// #     use convoke::{MutationCtx, QueryCtx, Result, Table, procedure};
    /// #     convoke::module!(teams);
    /// #     #[derive(serde::Serialize, serde::Deserialize, Table)]
    /// #     #[table(name = "teams")]
    /// #     pub struct Team { pub name: String }
    /// /// How many teams there are.
    /// #[procedure(query)]
    /// pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
    ///     Ok(ctx.db().query::<Team>().collect().await?.len())
    /// }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// let rt = convoke::Runtime::in_memory()?;
    /// assert_eq!(rt.query(teams::count, ()).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn query<H, M>(
        &self,
        query: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: QueryProcedure,
    {
        let _ = query;
        // A boxed future whose type does not mention `H` or `M`: an `async fn` here would
        // capture the handler's lifetime-carrying marker `M`, and rustc then fails to prove
        // the future `Send` ("implementation of `FnOnce` is not general enough") wherever it
        // must be, e.g. in `tokio::spawn` or inside an action.
        Call::new(self.execute_query::<H::Procedure>(
            args,
            self.identity.clone(),
            1,
            LogLines::disabled(),
        ))
    }

    /// Subscribes to a query: `rt.subscribe(teams::get_team, args)` returns a
    /// [`Subscription`], a stream of the query's results (typed as
    /// [`query`](Runtime::query)'s), first the current one, then a new one each time a
    /// commit changes what the query read and its result with it. The same mechanism serves
    /// the WebSocket sync protocol (see `docs/sync.md`).
    ///
    /// ```
    /// # mod counters {
    /// #     use convoke::{Id, MutationCtx, QueryCtx, Result, Table, procedure};
    /// #     convoke::module!(counters);
    /// #     #[derive(serde::Serialize, serde::Deserialize, Table)]
    /// #     #[table(name = "counters")]
    /// #     pub struct Counter { pub n: i64 }
    /// #[procedure(query)]
    /// pub async fn total(ctx: &QueryCtx<'_>) -> Result<i64> {
    ///     Ok(ctx.db().query::<Counter>().collect().await?.iter().map(|c| c.n).sum())
    /// }
    /// #[procedure(mutation)]
    /// pub async fn add(ctx: &MutationCtx<'_>, n: i64) -> Result<Id<Counter>> {
    ///     Ok(ctx.db().insert(&Counter { n }).await?)
    /// }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// use futures::StreamExt;
    ///
    /// let rt = convoke::Runtime::in_memory()?;
    /// let mut total = rt.subscribe(counters::total, ());
    /// assert_eq!(total.next().await.transpose()?, Some(0));
    /// rt.mutation(counters::add, 5).await?;
    /// assert_eq!(total.next().await.transpose()?, Some(5));
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe<H, M>(
        &self,
        query: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Subscription<<H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: QueryProcedure,
    {
        let _ = query;
        let args = value::to_value(&args).map_err(|e| e.to_string());
        Subscription::new(self.clone(), H::Procedure::path(), args)
    }

    /// Runs a mutation in a fresh transaction and commits it: `rt.mutation(teams::create_team,
    /// args)`.
    ///
    /// If a concurrent commit conflicts with what the mutation read, the transaction is
    /// thrown away and the mutation runs again: in this process's contention lane, then
    /// exclusively, so that it makes progress however hot its documents are (see
    /// [`Contention`]). If the load is more than the store can commit, the call fails with
    /// [`Error::Overloaded`] after a bounded wait. If the mutation returns an error or
    /// panics, nothing is committed.
    ///
    /// ```
    /// # mod teams {
    /// #     use convoke::{Id, MutationCtx, Result, Table, procedure};
    /// #     convoke::module!(teams);
    /// #     #[derive(serde::Serialize, serde::Deserialize, Table)]
    /// #     #[table(name = "teams")]
    /// #     pub struct Team { pub name: String }
    /// /// Creates a team and returns its id.
    /// #[procedure(mutation)]
    /// pub async fn create_team(ctx: &MutationCtx<'_>, name: String) -> Result<Id<Team>> {
    ///     Ok(ctx.db().insert(&Team { name }).await?)
    /// }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// let rt = convoke::Runtime::in_memory()?;
    /// let id = rt.mutation(teams::create_team, "Engines".to_owned()).await?;
    /// assert_eq!(id.to_string(), "teams:1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn mutation<H, M>(
        &self,
        mutation: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: MutationProcedure,
    {
        let _ = mutation;
        // Boxed for `Send`: see `query`.
        Call::new(self.execute_mutation::<H::Procedure>(
            args,
            self.identity.clone(),
            1,
            LogLines::disabled(),
        ))
    }

    /// Runs an action: `rt.action(teams::onboard, args)`.
    ///
    /// An action has no transaction of its own: each query or mutation it calls runs in
    /// its own, and a mutation's writes stay committed whatever the action does next.
    ///
    /// ```
    /// # mod teams {
    /// #     use convoke::{ActionCtx, QueryCtx, Result, procedure};
    /// #     convoke::module!(teams);
    /// #     #[procedure(query)]
    /// #     pub async fn count(_ctx: &QueryCtx<'_>) -> Result<usize> { Ok(2) }
    /// /// Reports on the teams (an action could also call outside services).
    /// #[procedure(action)]
    /// pub async fn report(ctx: &ActionCtx) -> Result<String> {
    ///     let n = create_teams_caller(ctx).count().await?;
    ///     Ok(format!("{n} teams"))
    /// }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// let rt = convoke::Runtime::in_memory()?;
    /// assert_eq!(rt.action(teams::report, ()).await?, "2 teams");
    /// # Ok(())
    /// # }
    /// ```
    pub fn action<H, M>(
        &self,
        action: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: ActionProcedure,
    {
        let _ = action;
        // Boxed for `Send`: see `query`.
        Call::new(self.execute_action::<H::Procedure>(
            args,
            self.identity.clone(),
            1,
            LogLines::disabled(),
        ))
    }

    /// Runs any procedure by path, with JSON arguments and result:
    /// `rt.run("teams:get_team", json!({ "id": "teams:1" }))`.
    ///
    /// This is by-name dispatch, as the HTTP API and the scheduler use it. Arguments may use
    /// Convex's JSON encoding (`{"$integer": ..}`); `{}` and `null` both mean "no
    /// arguments". The result is plain JSON. Internal procedures are reachable, because
    /// this is an in-process entry point.
    ///
    /// Fails with [`Error::UnknownProcedure`] for an unknown path and
    /// [`Error::InvalidArguments`] when the arguments do not fit the procedure's argument
    /// type.
    ///
    /// ```standalone_crate
    /// mod math {
    ///     use convoke::{QueryCtx, Result, procedure};
    ///     convoke::module!(math);
    ///
    ///     #[derive(serde::Serialize, serde::Deserialize)]
    ///     pub struct Double { pub n: i64 }
    ///
    ///     #[procedure(query)]
    ///     pub async fn double(_ctx: &QueryCtx<'_>, args: Double) -> Result<i64> {
    ///         Ok(args.n * 2)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// use serde_json::json;
    ///
    /// let rt = convoke::Runtime::in_memory()?;
    /// assert_eq!(rt.run("math:double", json!({ "n": 21 })).await?, json!(42));
    ///
    /// let err = rt.run("math:double", json!({ "n": "x" })).await.unwrap_err();
    /// assert!(err.is_invalid_arguments());
    /// let err = rt.run("math:triple", json!({})).await.unwrap_err();
    /// assert!(err.is_unknown_procedure());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(&self, path: &str, args: serde_json::Value) -> Result<serde_json::Value> {
        let args = value::from_convex_json(args).map_err(|e| Error::InvalidArguments {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let output = self.run_value(None, path, args).await?;
        Ok(value::to_clean_json(&output))
    }

    /// Runs a procedure by path with [`Value`] arguments and result, as [`Runtime::run`]
    /// does with JSON.
    ///
    /// With `Some(kind)`, fails with [`Error::WrongKind`] unless the procedure is of that
    /// kind: this is how an endpoint such as `POST /api/query` refuses a mutation.
    ///
    /// ```standalone_crate
    /// mod teams {
    ///     use convoke::{QueryCtx, Result, procedure};
    ///     convoke::module!(teams);
    ///
    ///     #[procedure(query)]
    ///     pub async fn count(_ctx: &QueryCtx<'_>) -> Result<i64> {
    ///         Ok(3)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// use convoke::{ProcedureKind, value::Value};
    ///
    /// let rt = convoke::Runtime::in_memory()?;
    /// let n = rt.run_value(Some(ProcedureKind::Query), "teams:count", Value::Null).await?;
    /// assert_eq!(n, Value::Int64(3));
    ///
    /// let err = rt
    ///     .run_value(Some(ProcedureKind::Mutation), "teams:count", Value::Null)
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_wrong_kind());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_value(
        &self,
        kind: Option<ProcedureKind>,
        path: &str,
        args: Value,
    ) -> Result<Value> {
        self.run_erased(kind, path, args, LogLines::disabled())
            .await
    }

    /// Runs a procedure by path as [`Runtime::run_value`] does, and also returns the lines
    /// it logged (`ctx.log(..)`), with those of every call it made, in Convex's format
    /// (`[LOG] 'message'`). This is what the HTTP API answers with `logLines`.
    ///
    /// The call runs as this handle's identity: combine with
    /// [`with_identity`](Runtime::with_identity) to run it as a user.
    ///
    /// ```standalone_crate
    /// mod notes {
    ///     use convoke::{QueryCtx, Result, procedure};
    ///     convoke::module!(notes);
    ///
    ///     #[procedure(query)]
    ///     pub async fn count(ctx: &QueryCtx<'_>) -> Result<i64> {
    ///         ctx.log("counting");
    ///         Ok(3)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> convoke::Result<()> {
    /// use convoke::{ProcedureKind, value::Value};
    ///
    /// let rt = convoke::Runtime::in_memory()?;
    /// let out = rt.run_value_logged(Some(ProcedureKind::Query), "notes:count", Value::Null).await;
    /// assert_eq!(out.result?, Value::Int64(3));
    /// assert_eq!(out.log_lines, ["[LOG] 'counting'"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_value_logged(
        &self,
        kind: Option<ProcedureKind>,
        path: &str,
        args: Value,
    ) -> Logged<Value> {
        let logs = LogLines::collecting();
        let result = self.run_erased(kind, path, args, logs.clone()).await;
        Logged {
            result,
            log_lines: logs.take(),
        }
    }

    /// Opens a read snapshot at the latest commit, kept until the last clone of the
    /// returned handle is dropped, for queries run later with
    /// [`run_query_at_logged`](Runtime::run_query_at_logged) (`/api/query_ts`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP API's query_at_ts reads at a retained snapshot
    pub(crate) async fn retain_snapshot(&self) -> Result<Arc<RetainedSnapshot>> {
        Ok(Arc::new(
            RetainedSnapshot::open(self.inner.db.clone()).await?,
        ))
    }

    /// Runs the query at `path` by name, like [`run_value_logged`](Runtime::run_value_logged),
    /// but reading at `snapshot` rather than at the latest commit (`/api/query_at_ts`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP API's query_at_ts reads at a retained snapshot
    pub(crate) async fn run_query_at_logged(
        &self,
        snapshot: Arc<RetainedSnapshot>,
        path: &str,
        args: Value,
    ) -> Logged<Value> {
        self.run_query_tracked(snapshot, path, args, None)
            .await
            .logged
    }

    /// Runs the query at `path` by name at `snapshot`, as
    /// [`run_query_at_logged`](Runtime::run_query_at_logged) does, given the pagination
    /// journal of its previous run, and also returns what it read (the read set a
    /// subscription to it registers) and the journal it recorded.
    pub(crate) async fn run_query_tracked(
        &self,
        snapshot: Arc<RetainedSnapshot>,
        path: &str,
        args: Value,
        journal: Option<String>,
    ) -> TrackedRun {
        let logs = LogLines::collecting();
        let mut reads = ReadSet::default();
        let mut journal_out = None;
        let result = async {
            let entry = self.by_name(Some(ProcedureKind::Query), path, &args)?;
            // `by_name` checked the kind.
            let ErasedInvoke::Query(run) = entry.invoke else {
                return Err(wrong_kind(path, ProcedureKind::Query, entry));
            };
            let path = (entry.path)();
            let env = CallEnv {
                runtime: self.clone(),
                identity: self.identity.clone(),
                logs: logs.clone(),
            };
            let tx = Transaction::read_at(snapshot);
            tx.set_journal(journal);
            let ctx = QueryCtx::new(&tx, &env, 1);
            let result = catch_panic(path, (ErasedQuery { run, args }).run(&ctx)).await;
            reads = tx.read_set();
            journal_out = tx.recorded_journal();
            result
        }
        .await;
        TrackedRun {
            logged: Logged {
                result,
                log_lines: logs.take(),
            },
            reads,
            journal: journal_out,
        }
    }

    /// Runs the mutation at `path` by name as [`run_value_logged`](Runtime::run_value_logged)
    /// does, at most once for request `request` of client session `session`: its result is
    /// recorded in its own transaction (in `_session_requests`, until `expires_at_ms`), and
    /// a request already recorded returns that result without running again. What the sync
    /// protocol does with mutations a client re-sends after a reconnect.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the sync protocol's mutations
    pub(crate) async fn run_mutation_once(
        &self,
        path: &str,
        args: Value,
        session: &str,
        request: u32,
        expires_at_ms: f64,
    ) -> Logged<Value> {
        let logs = LogLines::collecting();
        let result = async {
            let entry = self.by_name(Some(ProcedureKind::Mutation), path, &args)?;
            let ErasedInvoke::Mutation(run) = entry.invoke else {
                return Err(wrong_kind(path, ProcedureKind::Mutation, entry));
            };
            let path = (entry.path)();
            let body = OnceMutation {
                run,
                args,
                session: session.into(),
                request,
                expires_at_ms,
            };
            self.in_mutation(path, self.identity.clone(), 1, logs.clone(), body)
                .await
        }
        .await;
        Logged {
            result,
            log_lines: logs.take(),
        }
    }

    /// Deletes up to `limit` expired records of [`run_mutation_once`](Runtime::run_mutation_once);
    /// how many it deleted.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the sync protocol's mutations
    pub(crate) async fn prune_session_requests(&self, limit: usize) -> Result<usize> {
        self.in_mutation(
            "_session_requests:prune",
            None,
            1,
            LogLines::disabled(),
            PruneSessionRequests { limit },
        )
        .await
    }

    /// The registry of subscriptions, made and installed in the database's commit hook on
    /// first use (see [`crate::subscription`]).
    pub(crate) async fn subscriptions(&self) -> Arc<Subscriptions> {
        let registry = self
            .inner
            .subscriptions
            .get_or_init(|| async {
                let registry = Arc::new(Subscriptions::new(self.inner.db.schema.clone()));
                // Commits of other processes sharing the store, if it has any. The engine
                // says `Unknown` once it listens: wait for that (a bounded time), so that
                // no subscription starts before commits can be heard.
                if let Some(mut foreign) = self.inner.db.store.foreign_commits() {
                    let _ = tokio::time::timeout(Duration::from_secs(5), foreign.recv()).await;
                    let weak = Arc::downgrade(&registry);
                    tokio::spawn(async move {
                        loop {
                            let commit = match foreign.recv().await {
                                Ok(commit) => commit,
                                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                    ForeignCommit::Unknown
                                }
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                            };
                            let Some(registry) = weak.upgrade() else {
                                return;
                            };
                            registry.foreign_commit(&commit);
                        }
                    });
                }
                registry
            })
            .await
            .clone();
        let observer = registry.clone();
        self.inner
            .db
            .hook
            .install(move || observer as Arc<dyn CommitObserver>)
            .await;
        registry
    }

    /// The procedure at `path` for a by-name call, checked to be of `kind` (any kind for
    /// `None`), and `args` checked against Convex's value rules: the one check, at every
    /// depth, for every by-name call (`run`, `run_value`, HTTP, sync). Scheduled arguments
    /// pass it as part of their job.
    fn by_name(
        &self,
        kind: Option<ProcedureKind>,
        path: &str,
        args: &Value,
    ) -> Result<&'static ProcedureEntry> {
        let entry = self.inner.registry.lookup(path)?;
        if let Some(expected) = kind.filter(|k| *k != entry.kind) {
            return Err(wrong_kind(path, expected, entry));
        }
        value::check_value(args, value::MAX_ARGUMENTS_SIZE).map_err(|e| {
            Error::InvalidArguments {
                path: (entry.path)().to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(entry)
    }

    async fn run_erased(
        &self,
        kind: Option<ProcedureKind>,
        path: &str,
        args: Value,
        logs: LogLines,
    ) -> Result<Value> {
        let entry = self.by_name(kind, path, &args)?;
        let path = (entry.path)();
        let identity = self.identity.clone();
        match entry.invoke {
            ErasedInvoke::Query(run) => {
                self.in_query(path, identity, 1, logs, ErasedQuery { run, args })
                    .await
            }
            ErasedInvoke::Mutation(run) => {
                self.in_mutation(path, identity, 1, logs, ErasedMutation { run, args })
                    .await
            }
            ErasedInvoke::Action(run) => {
                let ctx = ActionCtx::new(self.clone(), identity, 1, logs);
                catch_panic(path, run(&ctx, args)).await
            }
        }
    }

    pub(crate) async fn execute_query<P: QueryProcedure>(
        &self,
        args: P::Args,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
    ) -> Result<P::Output> {
        self.in_query(P::path(), identity, depth, logs, TypedQuery::<P>(args))
            .await
    }

    pub(crate) async fn execute_mutation<P: MutationProcedure>(
        &self,
        args: P::Args,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
    ) -> Result<P::Output> {
        self.in_mutation(P::path(), identity, depth, logs, TypedMutation::<P>(args))
            .await
    }

    pub(crate) async fn execute_action<P: ActionProcedure>(
        &self,
        args: P::Args,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
    ) -> Result<P::Output> {
        let ctx = ActionCtx::new(self.clone(), identity, depth, logs);
        catch_panic(P::path(), P::run(&ctx, args)).await
    }

    async fn in_query<B: QueryBody>(
        &self,
        path: &str,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
        body: B,
    ) -> Result<B::Output> {
        let env = CallEnv {
            runtime: self.clone(),
            identity,
            logs,
        };
        let tx = Transaction::begin(self.inner.db.clone(), false);
        let ctx = QueryCtx::new(&tx, &env, depth);
        catch_panic(path, body.run(&ctx)).await
    }

    pub(crate) async fn in_mutation<B: MutationBody>(
        &self,
        path: &str,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
        body: B,
    ) -> Result<B::Output> {
        let db = &self.inner.db;
        let mut attempts = Attempts::new(&self.inner.lanes, path, self.inner.max_mutation_attempts);
        loop {
            // The first run's transaction opens at once. Later runs wait for their turn, in a
            // boxed future: kept out of this one, it does not make every call's future
            // larger (to allocate and to move) for the sake of the contended path.
            let tx = match attempts.first(db) {
                Some(tx) => tx,
                None => Box::pin(attempts.begin(db)).await?,
            };
            // Each attempt logs into a sink of its own: the lines of an attempt that
            // conflicted and runs again are dropped, as in Convex.
            let env = CallEnv {
                runtime: self.clone(),
                identity: identity.clone(),
                logs: logs.attempt(),
            };
            let output = {
                let ctx = MutationCtx::new(&tx, &env, depth);
                catch_panic(path, body.run(&ctx)).await
            };
            let committed = match output {
                Ok(output) => {
                    let scheduled = tx.scheduled_any();
                    tx.commit().await.map(|_| (output, scheduled))
                }
                // The engine reported a conflict while the procedure ran (PostgreSQL can, at
                // a read): re-run it, whatever error the procedure made of it.
                Err(e) => match tx.conflict() {
                    Some(conflict) => Err(DbError::Store(conflict)),
                    None => {
                        logs.absorb(env.logs);
                        return Err(e);
                    }
                },
            };
            drop(tx);
            match committed {
                Ok((output, scheduled)) => {
                    logs.absorb(env.logs);
                    if scheduled {
                        self.inner.scheduler.wake();
                    }
                    return Ok(output);
                }
                Err(DbError::Store(conflict)) if conflict.is_conflict() => {
                    if let Err(give_up) = attempts.conflicted(conflict) {
                        logs.absorb(env.logs);
                        return Err(give_up);
                    }
                }
                Err(other) => {
                    logs.absorb(env.logs);
                    return Err(other.into());
                }
            }
        }
    }

    /// The lane of conflicting mutations (see [`crate::contention`]).
    pub(crate) fn lanes(&self) -> &Lanes {
        &self.inner.lanes
    }
}

fn wrong_kind(path: &str, expected: ProcedureKind, entry: &ProcedureEntry) -> Error {
    Error::WrongKind {
        path: path.to_owned(),
        expected,
        actual: entry.kind,
    }
}

/// Runs `future`, turning a panic into [`Error::Panicked`].
pub(crate) async fn catch_panic<T>(
    path: &str,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(Error::Panicked {
            path: path.to_owned(),
            message: panic_message(payload.as_ref()),
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// What runs inside a query transaction: a typed procedure or an erased one.
trait QueryBody: Send {
    type Output;
    fn run<'a, 't>(
        self,
        ctx: &'a QueryCtx<'t>,
    ) -> impl Future<Output = Result<Self::Output>> + Send + 'a;
}

/// What runs inside a mutation transaction, once per attempt.
pub(crate) trait MutationBody: Send + Sync {
    type Output;
    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<Self::Output>> + Send + 'a;
}

struct TypedQuery<P: Procedure>(P::Args);

impl<P: QueryProcedure> QueryBody for TypedQuery<P> {
    type Output = P::Output;
    fn run<'a, 't>(
        self,
        ctx: &'a QueryCtx<'t>,
    ) -> impl Future<Output = Result<P::Output>> + Send + 'a {
        P::run(ctx, self.0)
    }
}

struct TypedMutation<P: Procedure>(P::Args);

impl<P: MutationProcedure> MutationBody for TypedMutation<P> {
    type Output = P::Output;
    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<P::Output>> + Send + 'a {
        P::run(ctx, P::clone_args(&self.0))
    }
}

struct ErasedQuery {
    run: ErasedQueryFn,
    args: Value,
}

impl QueryBody for ErasedQuery {
    type Output = Value;
    fn run<'a, 't>(self, ctx: &'a QueryCtx<'t>) -> impl Future<Output = Result<Value>> + Send + 'a {
        (self.run)(ctx, self.args)
    }
}

struct ErasedMutation {
    run: ErasedMutationFn,
    args: Value,
}

impl MutationBody for ErasedMutation {
    type Output = Value;
    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<Value>> + Send + 'a {
        (self.run)(ctx, self.args.clone())
    }
}

/// A by-name mutation run at most once per client request (see
/// [`Runtime::run_mutation_once`]).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
struct OnceMutation {
    run: ErasedMutationFn,
    args: Value,
    session: Arc<str>,
    request: u32,
    expires_at_ms: f64,
}

impl MutationBody for OnceMutation {
    type Output = Value;
    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<Value>> + Send + 'a {
        let (run, args, session) = (self.run, self.args.clone(), self.session.clone());
        let (request, expires_at_ms) = (self.request, self.expires_at_ms);
        async move {
            let now = crate::scheduling::clock::system_now_ms();
            if let Some(recorded) = session_requests::find(ctx.tx, &session, request, now).await? {
                return Ok(recorded);
            }
            let output = run(ctx, args).await?;
            session_requests::record(ctx.tx, &session, request, &output, expires_at_ms).await?;
            Ok(output)
        }
    }
}

/// Deletes expired records of `_session_requests`.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
struct PruneSessionRequests {
    limit: usize,
}

impl MutationBody for PruneSessionRequests {
    type Output = usize;
    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<usize>> + Send + 'a {
        let limit = self.limit;
        async move {
            let now = crate::scheduling::clock::system_now_ms();
            Ok(session_requests::prune(ctx.tx, now, limit).await?)
        }
    }
}
