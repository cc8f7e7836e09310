//! `module!(teams)`: declares the caller types of the current module.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::names::{actions_alias, caller_alias, pascal_case, scheduled_alias};

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<Ident>(input) {
        Ok(module) => expand_module(&module),
        Err(e) => syn::Error::new(
            e.span(),
            "expected the module's name, as in `convoke::module!(teams);`",
        )
        .to_compile_error(),
    }
}

fn expand_module(module: &Ident) -> TokenStream {
    let pascal = pascal_case(&module.to_string());
    let caller = format_ident!("{}Caller", pascal, span = module.span());
    let actions = format_ident!("{}Actions", pascal, span = module.span());
    let scheduler = format_ident!("{}Scheduler", pascal, span = module.span());
    let scheduled = format_ident!("{}Scheduled", pascal, span = module.span());
    let create = format_ident!("create_{}_caller", module, span = module.span());
    let caller_alias = caller_alias();
    let actions_alias = actions_alias();
    let scheduled_alias = scheduled_alias();
    let module_name = module.to_string();
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
    let p = quote!(::convoke::__private);

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
