//! `#[procedure(kind, options..)]`: parse the attribute and the function, check them into a
//! [`model::Procedure`], expand it.

mod attr;
mod expand;
mod model;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(e) => {
            let mut out = syn::Error::new(
                e.span(),
                "`#[procedure]` goes on an `async fn`: expected a function",
            )
            .to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let options = attr::parse(attr);
    match options.and_then(|options| model::Procedure::check(options, &function)) {
        Ok(model) => expand::procedure(&model),
        Err(errors) => {
            // Keep the original item so the rest of the crate (and IDEs) still see it.
            let mut out = errors.to_compile_error();
            out.extend(function.into_token_stream());
            out
        }
    }
}
