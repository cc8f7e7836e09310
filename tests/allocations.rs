//! Heap allocations on the same-transaction caller path: a composed call from a query or a
//! mutation context allocates exactly once, for the boxed call future (`Call`), and calling
//! the handler directly ("handler mode") does not allocate at all.
//!
//! A counting global allocator counts the allocations made on the current thread while
//! counting is on; every call here runs on the test's own thread (a current-thread tokio
//! runtime), so tests running in parallel do not disturb each other's counts.

// A global allocator is `unsafe` to implement; this test is the one place that does.
#![allow(unsafe_code)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use convoke::{Id, Runtime};
use serde::{Deserialize, Serialize};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count_one() {
    // `try_with`: the allocator can run while thread-locals are being torn down.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts the allocations `body` makes on this thread while it runs.
async fn count_allocations<F: Future<Output = convoke::Result<()>>>(
    body: F,
) -> convoke::Result<u64> {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let result = body.await;
    COUNTING.with(|c| c.set(false));
    result.map(|()| ALLOCATIONS.with(Cell::get))
}

/// How many calls each measurement makes.
const CALLS: u64 = 1_000;

/// Allocations counted for `CALLS` calls made each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// The handler called directly with the context.
    direct: u64,
    /// Through `create_allocs_caller(ctx)`, built for each call.
    caller_per_call: u64,
    /// Through one caller, reused.
    caller_reused: u64,
}

mod allocs {
    use convoke::{Error, Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    use super::{CALLS, Counts, count_allocations};

    convoke::module!(allocs);

    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "items")]
    pub struct Item {
        pub n: i64,
    }

    #[procedure(query)]
    pub async fn plus_one(_ctx: &QueryCtx<'_>, id: i64) -> Result<i64> {
        Ok(id + 1)
    }

    #[procedure(query)]
    pub async fn get_item(ctx: &QueryCtx<'_>, id: Id<Item>) -> Result<i64> {
        match ctx.db().get(id).await? {
            Some(item) => Ok(item.n),
            None => Err(Error::user("no such item")),
        }
    }

    #[procedure(mutation)]
    pub async fn plus_one_mut(_ctx: &MutationCtx<'_>, id: i64) -> Result<i64> {
        Ok(id + 1)
    }

    #[procedure(mutation)]
    pub async fn insert_item(ctx: &MutationCtx<'_>, n: i64) -> Result<Id<Item>> {
        Ok(ctx.db().insert(&Item { n }).await?)
    }

    /// Query → query, trivial callee.
    #[procedure(query)]
    pub async fn query_to_query(ctx: &QueryCtx<'_>) -> Result<Counts> {
        let caller = create_allocs_caller(ctx);
        Ok(Counts {
            direct: count_allocations(async {
                for i in 0..CALLS as i64 {
                    plus_one(ctx, i).await?;
                }
                Ok(())
            })
            .await?,
            caller_per_call: count_allocations(async {
                for i in 0..CALLS as i64 {
                    create_allocs_caller(ctx).plus_one(i).await?;
                }
                Ok(())
            })
            .await?,
            caller_reused: count_allocations(async {
                for i in 0..CALLS as i64 {
                    caller.plus_one(i).await?;
                }
                Ok(())
            })
            .await?,
        })
    }

    /// Query → query, callee with one `get` by id.
    #[procedure(query)]
    pub async fn query_to_query_get(ctx: &QueryCtx<'_>, id: Id<Item>) -> Result<Counts> {
        let caller = create_allocs_caller(ctx);
        // The first read of a document records it in the transaction's read set (one
        // allocation, once): make it before counting.
        get_item(ctx, id).await?;
        Ok(Counts {
            direct: count_allocations(async {
                for _ in 0..CALLS {
                    get_item(ctx, id).await?;
                }
                Ok(())
            })
            .await?,
            caller_per_call: count_allocations(async {
                for _ in 0..CALLS {
                    create_allocs_caller(ctx).get_item(id).await?;
                }
                Ok(())
            })
            .await?,
            caller_reused: count_allocations(async {
                for _ in 0..CALLS {
                    caller.get_item(id).await?;
                }
                Ok(())
            })
            .await?,
        })
    }

    /// Mutation → query: the query runs in the mutation's transaction.
    #[procedure(mutation)]
    pub async fn mutation_to_query(ctx: &MutationCtx<'_>) -> Result<Counts> {
        let caller = create_allocs_caller(ctx);
        Ok(Counts {
            // A mutation context cannot call a query handler directly (it needs a
            // `QueryCtx`): the direct figure is the mutation handler's.
            direct: count_allocations(async {
                for i in 0..CALLS as i64 {
                    plus_one_mut(ctx, i).await?;
                }
                Ok(())
            })
            .await?,
            caller_per_call: count_allocations(async {
                for i in 0..CALLS as i64 {
                    create_allocs_caller(ctx).plus_one(i).await?;
                }
                Ok(())
            })
            .await?,
            caller_reused: count_allocations(async {
                for i in 0..CALLS as i64 {
                    caller.plus_one(i).await?;
                }
                Ok(())
            })
            .await?,
        })
    }

    /// Mutation → mutation: a savepoint of the same transaction.
    #[procedure(mutation)]
    pub async fn mutation_to_mutation(ctx: &MutationCtx<'_>) -> Result<Counts> {
        let caller = create_allocs_caller(ctx);
        Ok(Counts {
            direct: count_allocations(async {
                for i in 0..CALLS as i64 {
                    plus_one_mut(ctx, i).await?;
                }
                Ok(())
            })
            .await?,
            caller_per_call: count_allocations(async {
                for i in 0..CALLS as i64 {
                    create_allocs_caller(ctx).plus_one_mut(i).await?;
                }
                Ok(())
            })
            .await?,
            caller_reused: count_allocations(async {
                for i in 0..CALLS as i64 {
                    caller.plus_one_mut(i).await?;
                }
                Ok(())
            })
            .await?,
        })
    }
}

/// What a same-transaction composed call must cost: one allocation (the boxed call future)
/// more than calling the handler directly.
fn assert_one_allocation_per_call(what: &str, counts: Counts) {
    assert_eq!(
        counts.caller_per_call,
        counts.direct + CALLS,
        "{what}, caller built per call: {counts:?} for {CALLS} calls"
    );
    assert_eq!(
        counts.caller_reused,
        counts.direct + CALLS,
        "{what}, caller reused: {counts:?} for {CALLS} calls"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn query_to_query_allocates_only_the_call_future() -> convoke::Result<()> {
    let rt = Runtime::in_memory()?;
    let counts = rt.query(allocs::query_to_query, ()).await?;
    assert_eq!(
        counts.direct, 0,
        "handler mode does not allocate: {counts:?}"
    );
    assert_one_allocation_per_call("query → query", counts);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn query_to_query_with_a_get_adds_only_the_call_future() -> convoke::Result<()> {
    let rt = Runtime::in_memory()?;
    let id: Id<allocs::Item> = rt.mutation(allocs::insert_item, 41).await?;
    let counts = rt.query(allocs::query_to_query_get, id).await?;
    // The `get` itself allocates (the document is decoded into an `Item`); the composed
    // call adds exactly the call future.
    assert_one_allocation_per_call("query → query with a get", counts);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn mutation_to_query_allocates_only_the_call_future() -> convoke::Result<()> {
    let rt = Runtime::in_memory()?;
    let counts = rt.mutation(allocs::mutation_to_query, ()).await?;
    assert_eq!(
        counts.direct, 0,
        "handler mode does not allocate: {counts:?}"
    );
    assert_one_allocation_per_call("mutation → query", counts);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn mutation_to_mutation_allocates_only_the_call_future() -> convoke::Result<()> {
    let rt = Runtime::in_memory()?;
    let counts = rt.mutation(allocs::mutation_to_mutation, ()).await?;
    assert_eq!(
        counts.direct, 0,
        "handler mode does not allocate: {counts:?}"
    );
    assert_one_allocation_per_call("mutation → mutation (savepoint)", counts);
    Ok(())
}
