//! Procedural macros for [convoke](https://docs.rs/convoke): `#[procedure]`, `module!` and
//! `#[derive(Table)]`. Use them through the `convoke` crate, which re-exports them.
//!
//! Each macro is built in three steps: parse the input, check it into a model, expand the
//! model. Every mistake is collected in one `Errors` accumulator and
//! reported at the offending tokens, all at once. The attribute macro `#[procedure]` still
//! emits the original function when it fails, and `module!` still declares the caller types
//! once it has a name, so the rest of the crate (and IDEs) keep working; the derive emits
//! only its errors, the type itself being left as written.
//!
//! Generated code reaches the runtime only through `<crate>::__private`, where `<crate>` is
//! `::convoke` unless the macro's `crate = "..."` option names another path.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use proc_macro::TokenStream;

mod crate_path;
mod errors;
mod module;
mod names;
mod procedure;
mod table;

/// See `convoke::procedure`.
#[proc_macro_attribute]
pub fn procedure(attr: TokenStream, item: TokenStream) -> TokenStream {
    procedure::expand(attr.into(), item.into()).into()
}

/// See `convoke::module`.
#[proc_macro]
pub fn module(input: TokenStream) -> TokenStream {
    module::expand(input.into()).into()
}

/// See `convoke::Table`.
#[proc_macro_derive(Table, attributes(table))]
pub fn derive_table(input: TokenStream) -> TokenStream {
    table::expand(input.into()).into()
}
