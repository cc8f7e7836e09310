//! `module!(teams)` or `module!(teams, crate = "..")`: declares the caller types of the
//! current module. Parse the input, check it into a [`Module`], expand it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Meta, Token};

use crate::crate_path::CratePath;
use crate::errors::Errors;
use crate::names::{actions_alias, caller_alias, pascal_case, scheduled_alias};

/// A checked `module!` invocation.
struct Module {
    /// The module's name, as written (`teams`).
    name: Ident,
    /// The path of the convoke crate (`crate = "..."`).
    krate: CratePath,
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let model = parse(input, &mut errors);
    // With a name, the caller types are emitted even when an option is wrong, so the
    // module's procedures do not add errors of their own about a missing `module!`.
    let mut out = errors.into_compile_errors();
    if let Some(model) = model {
        out.extend(expand_module(&model));
    }
    out
}

const OPTIONS: &str = "expected `crate = \"..\"` after the module's name, as in `convoke::module!(teams, crate = \"my_reexport::convoke\");`";

/// The module, or `None` if its name is missing; every mistake is pushed to `errors`.
fn parse(input: TokenStream, errors: &mut Errors) -> Option<Module> {
    let split = |stream: ParseStream<'_>| -> syn::Result<(Ident, TokenStream)> {
        let name = stream.parse::<Ident>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the module's name, as in `convoke::module!(teams);`",
            )
        })?;
        if !stream.is_empty() {
            stream
                .parse::<Token![,]>()
                .map_err(|e| syn::Error::new(e.span(), OPTIONS))?;
        }
        Ok((name, stream.parse()?))
    };
    let (name, rest) = match split.parse2(input) {
        Ok(split) => split,
        Err(e) => {
            errors.push_error(e);
            return None;
        }
    };
    let mut krate = CratePath::default();
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(rest) {
        Ok(options) => {
            for option in options {
                match &option {
                    Meta::NameValue(nv) if nv.path.is_ident("crate") => {
                        krate.set(&nv.path, &nv.value, errors);
                    }
                    other => errors.push_spanned(
                        other,
                        "unknown `module!` option: the only option is `crate = \"..\"`",
                    ),
                }
            }
        }
        Err(e) => errors.push(e.span(), OPTIONS),
    }
    Some(Module { name, krate })
}

fn expand_module(model: &Module) -> TokenStream {
    let module = &model.name;
    // `r#type` gives `TypeCaller` and `create_type_caller`.
    let module_name = module.unraw().to_string();
    let pascal = pascal_case(&module_name);
    let caller = format_ident!("{}Caller", pascal, span = module.span());
    let actions = format_ident!("{}Actions", pascal, span = module.span());
    let scheduler = format_ident!("{}Scheduler", pascal, span = module.span());
    let scheduled = format_ident!("{}Scheduled", pascal, span = module.span());
    let create = format_ident!("create_{}_caller", module_name, span = module.span());
    let caller_alias = caller_alias();
    let actions_alias = actions_alias();
    let scheduled_alias = scheduled_alias();
    let caller_doc = format!(
        "The caller of module `{module_name}`: one method per procedure. Create it with [`{create}`]."
    );
    let create_doc = format!(
        "Creates the caller of module `{module_name}` from a context (`&QueryCtx`, `&MutationCtx` or `&ActionCtx`)."
    );
    let actions_doc = format!("The actions of module `{module_name}`: `caller.actions()`.");
    let scheduler_doc =
        format!("Schedules procedures of module `{module_name}`: `caller.schedule()`.");
    let scheduled_doc = format!(
        "Procedures of module `{module_name}` to schedule at a chosen time: `caller.schedule().after(..)`."
    );
    let p = model.krate.private();

    quote! {
        #[doc = #caller_doc]
        pub struct #caller<'c, C> {
            ctx: &'c C,
        }

        impl<'c, C> ::core::clone::Clone for #caller<'c, C> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<'c, C> ::core::marker::Copy for #caller<'c, C> {}

        #[doc = #create_doc]
        pub fn #create<C: #p::CallQuery>(ctx: &C) -> #caller<'_, C> {
            #caller { ctx }
        }

        impl<'c, C> #caller<'c, C> {
            /// The module's actions, callable from an action context.
            pub fn actions(&self) -> #actions<'c, C> {
                #actions { ctx: self.ctx }
            }

            /// Schedules the module's mutations and actions, from a mutation or an action context.
            pub fn schedule(&self) -> #scheduler<'c, C> {
                #scheduler { ctx: self.ctx }
            }
        }

        #[doc = #actions_doc]
        pub struct #actions<'c, C> {
            ctx: &'c C,
        }

        #[doc = #scheduler_doc]
        pub struct #scheduler<'c, C> {
            ctx: &'c C,
        }

        impl<'c, C> #scheduler<'c, C> {
            /// Runs the call after `delay`.
            pub fn after(&self, delay: ::core::time::Duration) -> #scheduled<'c, C> {
                #scheduled { ctx: self.ctx, when: #p::ScheduleTime::After(delay) }
            }

            /// Runs the call at `time` (at once if it is in the past).
            pub fn at(&self, time: ::std::time::SystemTime) -> #scheduled<'c, C> {
                #scheduled { ctx: self.ctx, when: #p::ScheduleTime::At(time) }
            }

            /// Runs the call as soon as possible (after the mutation commits, if scheduled from one).
            pub fn now(&self) -> #scheduled<'c, C> {
                self.after(::core::time::Duration::ZERO)
            }

            /// Cancels a scheduled function.
            pub fn cancel(&self, id: #p::ScheduledFunctionId) -> #p::Call<'c, ()>
            where
                C: #p::Schedule,
            {
                #p::Schedule::cancel_scheduled(self.ctx, id)
            }
        }

        #[doc = #scheduled_doc]
        pub struct #scheduled<'c, C> {
            ctx: &'c C,
            when: #p::ScheduleTime,
        }

        #[allow(dead_code, non_camel_case_types)]
        type #caller_alias<'c, C> = #caller<'c, C>;
        #[allow(dead_code, non_camel_case_types)]
        type #actions_alias<'c, C> = #actions<'c, C>;
        #[allow(dead_code, non_camel_case_types)]
        type #scheduled_alias<'c, C> = #scheduled<'c, C>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(input: TokenStream) -> (bool, Vec<String>) {
        let mut errors = Errors::default();
        let model = parse(input, &mut errors);
        (model.is_some(), errors.messages())
    }

    #[test]
    fn name_and_crate_option() {
        let (model, errors) = messages(quote!(teams, crate = "my_reexport::convoke"));
        assert!(model && errors.is_empty(), "{errors:?}");
        let (model, errors) = messages(quote!(teams,));
        assert!(model && errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn every_mistake_is_reported_and_the_name_kept() {
        let (model, errors) = messages(quote!(
            teams,
            krate = "x",
            crate = x,
            crate = "y",
            crate = "z"
        ));
        assert!(model);
        assert_eq!(errors.len(), 3, "{errors:?}");
        let (model, errors) = messages(quote!("teams"));
        assert!(!model);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn raw_names_are_unraw() {
        let mut errors = Errors::default();
        let model = parse(quote!(r#type), &mut errors).unwrap();
        let out = expand_module(&model).to_string();
        assert!(
            out.contains("TypeCaller") && out.contains("create_type_caller"),
            "{out}"
        );
    }
}
