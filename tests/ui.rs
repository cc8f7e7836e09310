//! Compile-time checks: forbidden calls of the call matrix and misuses of `#[procedure]`
//! fail to compile with the pinned messages in `ui-tests/fail/*.stderr`; every allowed cell
//! compiles and runs (`ui-tests/pass`). See `docs/compile-errors.md`.
//!
//! Regenerate the pinned messages with `TRYBUILD=overwrite cargo test --test ui`, then read
//! them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/fail/*.rs");
    t.pass("ui-tests/pass/*.rs");
}
