//! The path through which generated code reaches the runtime: `<crate>::__private`, where
//! `<crate>` is `::convoke` unless the macro's `crate = "..."` option names another path
//! (as serde's `#[serde(crate = "...")]`), for a crate that uses convoke through a
//! re-export or under another name.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit, Path};

use crate::errors::Errors;

/// The `crate = "..."` option of one macro invocation.
#[derive(Default)]
pub(crate) struct CratePath(Option<Path>);

impl CratePath {
    /// `<crate>::__private`, the only path generated code reaches the runtime through.
    pub(crate) fn private(&self) -> TokenStream {
        match &self.0 {
            Some(path) => quote!(#path::__private),
            None => quote!(::convoke::__private),
        }
    }

    /// Takes the value of `crate = "..."`: a path in a string literal. `key` is the option's
    /// name token, for the "given twice" error.
    pub(crate) fn set(&mut self, key: &Path, value: &Expr, errors: &mut Errors) {
        let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = value
        else {
            errors.push_spanned(
                value,
                "`crate` takes the path of the convoke crate as a string: `crate = \"my_reexport::convoke\"`",
            );
            return;
        };
        // The path's tokens get the string's span, so an unresolved path is reported there.
        let Ok(path) = s.parse::<Path>() else {
            errors.push(
                s.span(),
                format!(
                    "`{}` is not a path: `crate` takes the path of the convoke crate, as in `crate = \"my_reexport::convoke\"`",
                    s.value()
                ),
            );
            return;
        };
        if self.0.is_some() {
            errors.push_spanned(key, "`crate` is given twice");
        } else {
            self.0 = Some(path);
        }
    }
}
