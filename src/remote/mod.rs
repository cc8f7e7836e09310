//! Calling procedures on a server over HTTP, from server code: the remote caller.
//!
//! The Rust side of kitcn's `createCallerFactory` (the cRPC toolkit) and of the
//! `better-convex-nuxt` module's `fetchQuery` / `fetchMutation` / `fetchAction`.
//!
//! - [`CallerFactory`]: configured once with the deployment URL, a token getter, an
//!   unauthorized predicate and a [`Transformer`]; per request,
//!   [`create_context`](CallerFactory::create_context) gives a [`ServerContext`]
//!   (`token`, `is_authenticated`, `caller`) and
//!   [`create_caller`](CallerFactory::create_caller) a [`LazyCaller`].
//! - [`RemoteCtx`]: the context the generated module callers run on over HTTP:
//!   `create_teams_caller(&ctx.caller).get_team(args).await`. Public queries, mutations and
//!   actions (through `actions()`) only: the rest of the call matrix does not compile.
//! - [`fetch_query`], [`fetch_mutation`], [`fetch_action`] with [`FetchOptions`]: one-off
//!   calls by procedure function or by path.
//! - [`Date`] and [`Transformer`]: dates on the wire, and custom codecs.
//!
//! ```no_run
//! mod teams {
//!     use convoke::{QueryCtx, Result, procedure};
//!     convoke::module!(teams);
//!
//!     #[procedure(query)]
//!     pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u32> {
//!         Ok(3)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> convoke::Result<()> {
//! use convoke::remote::{CallerFactory, FetchOptions, HeaderMap, fetch_query};
//!
//! let factory = CallerFactory::new("http://127.0.0.1:3210")?;
//! let ctx = factory.create_context(&HeaderMap::new()).await;
//! let n = teams::create_teams_caller(&ctx.caller).count().await?;
//!
//! let same = fetch_query("http://127.0.0.1:3210", teams::count, (), FetchOptions::default()).await?;
//! assert_eq!(n, same);
//! # Ok(())
//! # }
//! ```

mod context;
mod error;
mod factory;
mod fetch;
mod matrix;

#[doc(no_inline)]
pub use crate::value::Date;
#[doc(no_inline)]
pub use crate::wire::{Codec, DATE_TAG, TAG_MARKER, Transformer};
pub use ::http::HeaderMap;
pub use context::{LazyCaller, RemoteCtx, ServerContext};
pub use error::RemoteError;
pub use factory::{CallerFactory, GetTokenOptions, Token};
pub use fetch::{
    ActionRef, ByPath, FetchOptions, FunctionRef, MutationRef, QueryRef, fetch_action,
    fetch_mutation, fetch_query,
};
