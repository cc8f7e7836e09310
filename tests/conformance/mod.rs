//! The storage conformance suite: the same cases against every storage engine.
//!
//! An engine's test file declares `mod conformance;` and calls
//! `conformance_suite!(make)`, where `make()` returns an [`Engine`]: a fresh runtime over
//! an empty store of that engine (and whatever must live as long as the test, such as a
//! temporary directory).

#![allow(dead_code)]

pub mod cases;
pub mod procs;

use convoke::Runtime;

/// A fresh, empty store of one engine, behind a runtime.
pub struct Engine {
    /// The runtime over the store.
    pub rt: Runtime,
    /// Kept alive for the test's duration (e.g. a temporary directory).
    pub guard: Option<Box<dyn std::any::Any + Send>>,
}

impl Engine {
    /// An engine needing no guard.
    pub fn new(rt: Runtime) -> Self {
        Engine { rt, guard: None }
    }
}

/// Declares one `#[tokio::test]` per conformance case, each on a fresh engine from `$make`.
#[macro_export]
macro_rules! conformance_suite {
    // `make()` returns `Option<Engine>`: `None` when the engine's server is not there (the
    // maker says so; see `support/postgres.rs`).
    (optional $make:expr) => {
        $crate::conformance_suite!(@list $make);
    };
    ($make:expr) => {
        $crate::conformance_suite!(@list (|| Some(($make)())));
    };
    (@list $make:expr) => {
        $crate::conformance_suite!(@cases $make;
            crud_round_trip,
            system_fields_are_refused,
            patch_sets_and_unsets_fields,
            missing_documents,
            values_keep_convex_types,
            value_limits_are_enforced,
            default_order_is_creation_time,
            index_equality_prefix,
            index_range_bounds,
            index_order_descending,
            missing_fields_sort_first,
            unknown_index_and_bad_ranges,
            unique_first_take,
            paginate_covers_everything_once,
            paginate_under_concurrent_writes,
            cursor_from_another_query_is_refused,
            range_read_conflicts_with_insert_into_range,
            disjoint_range_does_not_conflict,
            empty_range_read_conflicts_with_insert,
            limited_read_only_covers_what_it_returned,
            point_read_conflicts_with_write,
            conflicts_give_up_naming_the_table,
            queries_never_conflict,
            savepoints_undo_index_entries,
            transaction_limits,
            concurrent_increments_are_exact,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() -> convoke::Result<()> {
                let engine: Option<$crate::conformance::Engine> = ($make)();
                match engine {
                    Some(engine) => $crate::conformance::cases::$case(&engine.rt).await,
                    None => Ok(()),
                }
            }
        )*
    };
}
