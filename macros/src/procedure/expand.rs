//! Expanding a checked procedure: the wrapped handler, the marker type and its trait impls,
//! the registry entry, and the methods on the module's caller types.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::attr::Kind;
use super::model::Procedure;
use crate::names::{actions_alias, caller_alias, scheduled_alias};

pub(crate) fn procedure(model: &Procedure<'_>) -> TokenStream {
    let handler = handler(model);
    let marker = marker(model);
    let methods = caller_methods(model);
    quote! {
        #handler
        #marker
        #methods
    }
}

/// The context parameter type of the wrapper, with its lifetimes named.
fn context_type(p: &TokenStream, kind: Kind) -> TokenStream {
    match kind {
        Kind::Query => quote!(&'__convoke_c #p::QueryCtx<'__convoke_t>),
        Kind::Mutation => quote!(&'__convoke_c #p::MutationCtx<'__convoke_t>),
        Kind::Action => quote!(&'__convoke_c #p::ActionCtx),
    }
}

/// The user's function, kept as written inside a wrapper of the same signature whose
/// future names the procedure (see `convoke::ProcedureFuture`).
fn handler(model: &Procedure<'_>) -> TokenStream {
    let p = model.krate.private();
    let function = model.function;
    let attrs = &function.attrs;
    let vis = model.vis;
    let ident = model.ident;
    let ctx_ident = &model.ctx_ident;
    let ctx_type = context_type(&p, model.kind);
    let return_type = model.return_type;
    let (lifetimes, captures) = match model.kind {
        Kind::Action => (quote!(<'__convoke_c>), quote!(use<'__convoke_c>)),
        _ => (
            quote!(<'__convoke_c, '__convoke_t>),
            quote!(use<'__convoke_c, '__convoke_t>),
        ),
    };
    let (mut args_param, mut args_forward) = match &model.middleware {
        Some(m) => {
            let (name, ty) = (&m.ident, m.ty);
            (quote!(, #name: #ty), quote!(, #name))
        }
        None => (quote!(), quote!()),
    };
    if let Some(args) = &model.args {
        let (name, ty) = (&args.ident, args.ty);
        args_param.extend(quote!(, #name: #ty));
        args_forward.extend(quote!(, #name));
    }
    let mut inner = function.clone();
    if model.kind != Kind::Action {
        elide_context_lifetime(&mut inner);
    }
    inner.attrs.clear();
    inner.vis = syn::Visibility::Inherited;
    inner.sig.ident = Ident::new("__convoke_handler", ident.span());
    quote! {
        #(#attrs)*
        #vis fn #ident #lifetimes (#ctx_ident: #ctx_type #args_param)
            -> #p::ProcedureFuture<#ident, impl #p::Future<Output = #return_type> + #captures>
        {
            #inner
            #p::ProcedureFuture::new(__convoke_handler(#ctx_ident #args_forward))
        }
    }
}

/// Lets a handler write `ctx: &QueryCtx` for `ctx: &QueryCtx<'_>`: an `async fn` rejects the
/// hidden lifetime (E0726), so the kept handler gets the `'_` spelled out.
fn elide_context_lifetime(function: &mut syn::ItemFn) {
    let Some(syn::FnArg::Typed(param)) = function.sig.inputs.first_mut() else {
        return;
    };
    let syn::Type::Reference(reference) = &mut *param.ty else {
        return;
    };
    let syn::Type::Path(path) = &mut *reference.elem else {
        return;
    };
    if let Some(last) = path.path.segments.last_mut()
        && last.arguments.is_none()
    {
        last.arguments = syn::PathArguments::AngleBracketed(syn::parse_quote!(<'_>));
    }
}

/// The marker type, its `Procedure` and kind impls, and its registry entry.
fn marker(model: &Procedure<'_>) -> TokenStream {
    let p = model.krate.private();
    let vis = model.vis;
    let ident = model.ident;
    let output = model.output;
    let export_name = &model.export_name;
    let args_type = match &model.args {
        Some(args) => {
            let ty = args.ty;
            quote!(#ty)
        }
        None => quote!(()),
    };
    let handler_args = match (&model.middleware, &model.args) {
        (Some(_), Some(_)) => quote!(ctx, value, args),
        (Some(_), None) => quote!(ctx, value),
        (None, Some(_)) => quote!(ctx, args),
        (None, None) => quote!(ctx),
    };
    let discard_args = if model.args.is_some() {
        quote!()
    } else {
        quote!(let () = args;)
    };
    let validate = if model.validate {
        let span = model
            .args
            .as_ref()
            .map_or(Span::call_site(), |a| a.ty.span());
        quote_spanned!(span=> #p::validate(&args)?;)
    } else {
        quote!()
    };
    // The `ProcedureKind` variant.
    let kind_variant = match model.kind {
        Kind::Query => quote!(Query),
        Kind::Mutation => quote!(Mutation),
        Kind::Action => quote!(Action),
    };
    // The body of `run`: validation and middleware around the handler, when asked for.
    let call_args = match &model.middleware {
        Some(m) => {
            let path = &m.path;
            let middleware = quote_spanned!(path.span()=> #path);
            let value_type = m.ty;
            // Checked at the handler's parameter, so a mismatch points there.
            let value_binding = quote_spanned!(value_type.span()=> let value: #value_type = value;);
            let ctx_type = match model.kind {
                Kind::Query => quote!(#p::QueryCtx<'_>),
                Kind::Mutation => quote!(#p::MutationCtx<'_>),
                Kind::Action => quote!(#p::ActionCtx),
            };
            quote! {
                async move {
                    let call = #p::CallInfo {
                        path: <Self as #p::Procedure>::path(),
                        kind: #p::ProcedureKind::#kind_variant,
                        started: ::std::time::Instant::now(),
                    };
                    #p::run_with::<#ctx_type, #middleware, _, _, _>(ctx, call, |value| async move {
                        #value_binding
                        #validate
                        #ident(#handler_args).await
                    })
                    .await
                }
            }
        }
        None if model.validate => quote! {
            async move {
                #validate
                #ident(#handler_args).await
            }
        },
        None => quote!(#ident(#handler_args)),
    };
    let visibility = if model.internal {
        quote!(Internal)
    } else {
        quote!(Public)
    };
    let doc = format!(
        "The procedure [`{ident}()`](fn@{ident}): {} registered as `{export_name}` in this module.",
        model.kind.with_article()
    );
    let kind_impl = match model.kind {
        Kind::Query => quote! {
            impl #p::QueryProcedure for #ident {
                fn run<'a, 't>(ctx: &'a #p::QueryCtx<'t>, args: #args_type)
                    -> impl #p::Future<Output = #p::Result<#output>> + ::core::marker::Send + 'a
                {
                    #discard_args
                    #call_args
                }
            }
        },
        Kind::Mutation => {
            let args_span = model
                .args
                .as_ref()
                .map_or(Span::call_site(), |a| a.ty.span());
            let clone = quote_spanned!(args_span=> ::core::clone::Clone::clone(args));
            quote! {
                impl #p::MutationProcedure for #ident {
                    fn run<'a, 't>(ctx: &'a #p::MutationCtx<'t>, args: #args_type)
                        -> impl #p::Future<Output = #p::Result<#output>> + ::core::marker::Send + 'a
                    {
                        #discard_args
                        #call_args
                    }

                    fn clone_args(args: &#args_type) -> #args_type {
                        #clone
                    }
                }
            }
        }
        Kind::Action => quote! {
            impl #p::ActionProcedure for #ident {
                fn run<'a>(ctx: &'a #p::ActionCtx, args: #args_type)
                    -> impl #p::Future<Output = #p::Result<#output>> + ::core::marker::Send + 'a
                {
                    #discard_args
                    #call_args
                }
            }
        },
    };
    let entry = match model.kind {
        Kind::Query => quote!(query),
        Kind::Mutation => quote!(mutation),
        Kind::Action => quote!(action),
    };
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #ident {
            _private: (),
        }

        impl #p::Procedure for #ident {
            type Args = #args_type;
            type Output = #output;
            const KIND: #p::ProcedureKind = #p::ProcedureKind::#kind_variant;
            const VISIBILITY: #p::Visibility = #p::Visibility::#visibility;
            const NAME: &'static str = #export_name;

            fn path() -> &'static str {
                static PATH: #p::OnceLock<::std::string::String> = #p::OnceLock::new();
                PATH.get_or_init(|| #p::procedure_path(::core::module_path!(), #export_name))
            }
        }

        #kind_impl

        #p::inventory::submit! {
            #p::ProcedureEntry::#entry::<#ident>()
        }
    }
}

/// Methods on the module's caller types. Each carries the capability its cell of the call
/// matrix needs as a bound on the context type, so forbidden calls fail to compile.
fn caller_methods(model: &Procedure<'_>) -> TokenStream {
    let p = model.krate.private();
    let vis = model.vis;
    let ident = model.ident;
    let output = model.output;
    let caller = caller_alias();
    let actions = actions_alias();
    let scheduled = scheduled_alias();
    let (param, arg) = match &model.args {
        Some(args) => {
            let ty = args.ty;
            (quote!(, args: #ty), quote!(args))
        }
        None => (quote!(), quote!(())),
    };
    let internal = if model.internal {
        quote!(+ #p::CallInternal)
    } else {
        quote!()
    };
    let path_doc = format!("Calls [`{ident}()`](fn@{ident}).");
    let schedule_doc = format!("Schedules [`{ident}()`](fn@{ident}).");
    let lt = quote!('__convoke_caller);
    let ctx = format_ident!("__ConvokeCtx");

    let (root, namespaced) = match model.kind {
        Kind::Query => (
            quote! {
                #[doc = #path_doc]
                #vis fn #ident(&self #param) -> #p::Call<#lt, #output>
                where
                    #ctx: #p::CallQuery #internal,
                {
                    #p::CallQuery::call_query::<#ident>(self.ctx, #arg)
                }
            },
            quote! {},
        ),
        Kind::Mutation => (
            quote! {
                #[doc = #path_doc]
                #vis fn #ident(&self #param) -> #p::Call<#lt, #output>
                where
                    #ctx: #p::CallMutation #internal,
                {
                    #p::CallMutation::call_mutation::<#ident>(self.ctx, #arg)
                }
            },
            quote! {},
        ),
        Kind::Action => (
            quote! {
                #[doc = "Actions are not called as root procedures: use `actions()`."]
                #[doc(hidden)]
                #vis fn #ident(&self #param) -> #p::Call<#lt, #output>
                where
                    #ctx: #p::RootActionCall,
                {
                    #p::RootActionCall::call_root_action::<#ident>(self.ctx, #arg)
                }
            },
            quote! {
                impl<#lt, #ctx> #actions<#lt, #ctx> {
                    #[doc = #path_doc]
                    #vis fn #ident(&self #param) -> #p::Call<#lt, #output>
                    where
                        #ctx: #p::CallAction #internal,
                    {
                        #p::CallAction::call_action::<#ident>(self.ctx, #arg)
                    }
                }
            },
        ),
    };
    let schedule = match model.kind {
        Kind::Query => quote! {
            #[doc(hidden)]
            #vis fn #ident(&self #param) -> #p::Call<#lt, #p::ScheduledFunctionId>
            where
                #ctx: #p::ScheduleQuery,
            {
                #p::ScheduleQuery::schedule_query::<#ident>(self.ctx, self.when, #arg)
            }
        },
        Kind::Mutation | Kind::Action => quote! {
            #[doc = #schedule_doc]
            #vis fn #ident(&self #param) -> #p::Call<#lt, #p::ScheduledFunctionId>
            where
                #ctx: #p::Schedule,
            {
                #p::Schedule::schedule_call::<#ident>(self.ctx, self.when, #arg)
            }
        },
    };
    quote! {
        impl<#lt, #ctx> #caller<#lt, #ctx> {
            #root
        }

        #namespaced

        impl<#lt, #ctx> #scheduled<#lt, #ctx> {
            #schedule
        }
    }
}
