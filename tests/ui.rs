//! Compile-time checks, grouped by topic under `ui-tests/<topic>/`: the forbidden calls of
//! the call matrix (`matrix`), misuses of `#[procedure]` (`procedure`), of middleware
//! (`middleware`), of `module!` (`module`) and of `#[derive(Table)]` (`table`). Each
//! `<topic>/fail/<case>.rs` fails to compile with the message pinned in `<case>.stderr`;
//! each `<topic>/pass/<case>.rs` compiles and runs. See `docs/compile-errors.md`.
//!
//! Regenerate the pinned messages with `TRYBUILD=overwrite cargo test --test ui`, then read
//! them.

/// The topic directories under `ui-tests/`.
const TOPICS: &[&str] = &["matrix", "procedure", "middleware", "module", "table"];

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for topic in TOPICS {
        t.compile_fail(format!("ui-tests/{topic}/fail/*.rs"));
        t.pass(format!("ui-tests/{topic}/pass/*.rs"));
    }
}
