//! `#[procedure(kind, options..)]`: parse the attribute and the function, check them into a
//! [`model::Procedure`], expand it.

mod attr;
mod expand;
mod model;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::errors::Errors;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(e) => {
            errors.push(
                e.span(),
                "`#[procedure]` goes on an `async fn`: expected a function",
            );
            let mut out = errors.into_compile_errors();
            out.extend(item);
            return out;
        }
    };
    let model = attr::parse(attr, &mut errors)
        .and_then(|options| model::Procedure::check(options, &function, &mut errors));
    match model {
        Some(model) if errors.is_empty() => expand::procedure(&model),
        _ => {
            // Keep the original item so the rest of the crate (and IDEs) still see it.
            let mut out = errors.into_compile_errors();
            out.extend(function.into_token_stream());
            out
        }
    }
}
