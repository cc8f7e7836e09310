//! The registry of every procedure linked into the program, filled at link time by
//! `#[procedure]` (through `inventory`), so no list is kept by hand.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use crate::ctx::{ActionCtx, MutationCtx, QueryCtx};
use crate::error::{Error, Result};
use crate::procedure::{
    ActionProcedure, MutationProcedure, Procedure, ProcedureKind, QueryProcedure, Visibility,
};
use crate::value::{self, Value};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs a query by name: arguments and result as [`Value`]s.
pub(crate) type ErasedQueryFn =
    for<'a, 't> fn(&'a QueryCtx<'t>, Value) -> BoxFuture<'a, Result<Value>>;
/// Runs a mutation by name.
pub(crate) type ErasedMutationFn =
    for<'a, 't> fn(&'a MutationCtx<'t>, Value) -> BoxFuture<'a, Result<Value>>;
/// Runs an action by name.
pub(crate) type ErasedActionFn = for<'a> fn(&'a ActionCtx, Value) -> BoxFuture<'a, Result<Value>>;

/// How to run a procedure by name, with arguments and result as [`Value`]s.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum ErasedInvoke {
    /// A query.
    Query(ErasedQueryFn),
    /// A mutation.
    Mutation(ErasedMutationFn),
    /// An action.
    Action(ErasedActionFn),
}

impl std::fmt::Debug for ErasedInvoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErasedInvoke::Query(_) => "ErasedInvoke::Query",
            ErasedInvoke::Mutation(_) => "ErasedInvoke::Mutation",
            ErasedInvoke::Action(_) => "ErasedInvoke::Action",
        })
    }
}

/// One registered procedure. Generated code submits one per `#[procedure]`.
#[doc(hidden)]
pub struct ProcedureEntry {
    pub(crate) path: fn() -> &'static str,
    pub(crate) kind: ProcedureKind,
    pub(crate) visibility: Visibility,
    pub(crate) invoke: ErasedInvoke,
}

impl std::fmt::Debug for ProcedureEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcedureEntry")
            .field("path", &(self.path)())
            .field("kind", &self.kind)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

impl ProcedureEntry {
    /// The entry of query `P`.
    pub const fn query<P: QueryProcedure>() -> Self {
        ProcedureEntry {
            path: P::path,
            kind: ProcedureKind::Query,
            visibility: P::VISIBILITY,
            invoke: ErasedInvoke::Query(erased_query::<P>),
        }
    }

    /// The entry of mutation `P`.
    pub const fn mutation<P: MutationProcedure>() -> Self {
        ProcedureEntry {
            path: P::path,
            kind: ProcedureKind::Mutation,
            visibility: P::VISIBILITY,
            invoke: ErasedInvoke::Mutation(erased_mutation::<P>),
        }
    }

    /// The entry of action `P`.
    pub const fn action<P: ActionProcedure>() -> Self {
        ProcedureEntry {
            path: P::path,
            kind: ProcedureKind::Action,
            visibility: P::VISIBILITY,
            invoke: ErasedInvoke::Action(erased_action::<P>),
        }
    }
}

inventory::collect!(ProcedureEntry);

pub(crate) fn decode_args<P: Procedure>(args: Value) -> Result<P::Args> {
    let invalid = |e: value::ValueError| Error::InvalidArguments {
        path: P::path().to_owned(),
        reason: e.to_string(),
    };
    match args {
        // Clients send `{}` for "no arguments": accept it for `()` too.
        Value::Object(o) if o.is_empty() => value::from_value(Value::Object(o))
            .or_else(|e| value::from_value(Value::Null).map_err(|_| invalid(e))),
        other => value::from_value(other).map_err(invalid),
    }
}

fn encode_output<P: Procedure>(output: &P::Output) -> Result<Value> {
    value::to_value(output).map_err(|e| Error::InvalidOutput {
        path: P::path().to_owned(),
        reason: e.to_string(),
    })
}

fn erased_query<'a, 't, P: QueryProcedure>(
    ctx: &'a QueryCtx<'t>,
    args: Value,
) -> BoxFuture<'a, Result<Value>> {
    Box::pin(async move {
        let args = decode_args::<P>(args)?;
        encode_output::<P>(&P::run(ctx, args).await?)
    })
}

fn erased_mutation<'a, 't, P: MutationProcedure>(
    ctx: &'a MutationCtx<'t>,
    args: Value,
) -> BoxFuture<'a, Result<Value>> {
    Box::pin(async move {
        let args = decode_args::<P>(args)?;
        encode_output::<P>(&P::run(ctx, args).await?)
    })
}

fn erased_action<'a, P: ActionProcedure>(
    ctx: &'a ActionCtx,
    args: Value,
) -> BoxFuture<'a, Result<Value>> {
    Box::pin(async move {
        let args = decode_args::<P>(args)?;
        encode_output::<P>(&P::run(ctx, args).await?)
    })
}

/// Every procedure by path.
pub(crate) struct Registry {
    by_path: HashMap<&'static str, &'static ProcedureEntry>,
    duplicates: Vec<&'static str>,
}

impl Registry {
    pub(crate) fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut by_path = HashMap::new();
            let mut duplicates = Vec::new();
            for entry in inventory::iter::<ProcedureEntry> {
                let path = (entry.path)();
                if by_path.insert(path, entry).is_some() {
                    duplicates.push(path);
                }
            }
            Registry {
                by_path,
                duplicates,
            }
        })
    }

    /// Fails if two procedures share a path.
    pub(crate) fn check(&self) -> Result<()> {
        match self.duplicates.first() {
            Some(path) => Err(Error::DuplicateProcedure {
                path: (*path).to_owned(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn lookup(&self, path: &str) -> Result<&'static ProcedureEntry> {
        self.by_path
            .get(path)
            .copied()
            .ok_or_else(|| Error::UnknownProcedure {
                path: path.to_owned(),
            })
    }
}

/// What the registry knows about one procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcedureInfo {
    /// `"teams:get_team"`.
    pub path: &'static str,
    /// Query, mutation or action.
    pub kind: ProcedureKind,
    /// Public or internal.
    pub visibility: Visibility,
}

/// Every procedure linked into this program, sorted by path.
///
/// ```
/// for p in convoke::procedures() {
///     println!("{} {} {:?}", p.kind, p.path, p.visibility);
/// }
/// ```
pub fn procedures() -> Vec<ProcedureInfo> {
    let mut all: Vec<ProcedureInfo> = Registry::get()
        .by_path
        .values()
        .map(|e| ProcedureInfo {
            path: (e.path)(),
            kind: e.kind,
            visibility: e.visibility,
        })
        .collect();
    all.sort_by_key(|p| p.path);
    all
}
