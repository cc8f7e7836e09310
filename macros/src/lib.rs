//! Procedural macros for [convoke](https://docs.rs/convoke): `#[procedure]`, `module!` and
//! `#[derive(Table)]`. Use them through the `convoke` crate, which re-exports them.
//!
//! Each macro is built in three steps: parse the input, check it into a model, expand the
//! model. Errors point at the offending tokens, and `#[procedure]` still emits the original
//! function when it fails, so IDEs keep working.

use proc_macro::TokenStream;

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
