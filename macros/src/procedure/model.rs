//! Checking the function into a model: the procedure's kind, names, argument and output types.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type, Visibility,
};

use super::attr::{Kind, Options};
use crate::crate_path::CratePath;
use crate::errors::Errors;

/// A checked procedure.
pub(crate) struct Procedure<'f> {
    pub(crate) function: &'f ItemFn,
    pub(crate) kind: Kind,
    pub(crate) internal: bool,
    /// The exported name (the path's last part).
    pub(crate) export_name: String,
    /// The function's name, also the marker type's and the caller method's.
    pub(crate) ident: &'f Ident,
    pub(crate) vis: &'f Visibility,
    /// The name the generated wrapper gives the context parameter.
    pub(crate) ctx_ident: Ident,
    /// The middleware (`with = M`) and the parameter receiving its value.
    pub(crate) middleware: Option<Middleware<'f>>,
    /// Whether the arguments are validated first (`validate`).
    pub(crate) validate: bool,
    /// The argument parameter, if the procedure takes one.
    pub(crate) args: Option<Args<'f>>,
    /// `T` in `Result<T>`.
    pub(crate) output: &'f Type,
    /// The declared return type, `Result<T>`.
    pub(crate) return_type: &'f Type,
    /// The path of the convoke crate (`crate = "..."`).
    pub(crate) krate: CratePath,
}

pub(crate) struct Middleware<'f> {
    pub(crate) path: syn::Path,
    pub(crate) ident: Ident,
    pub(crate) ty: &'f Type,
}

pub(crate) struct Args<'f> {
    pub(crate) ident: Ident,
    pub(crate) ty: &'f Type,
}

impl Kind {
    /// The context type's name, and how to write the parameter.
    fn context(self) -> (&'static str, &'static str) {
        match self {
            Kind::Query => ("QueryCtx", "&QueryCtx<'_>"),
            Kind::Mutation => ("MutationCtx", "&MutationCtx<'_>"),
            Kind::Action => ("ActionCtx", "&ActionCtx"),
        }
    }

    fn from_context(name: &str) -> Option<Kind> {
        match name {
            "QueryCtx" => Some(Kind::Query),
            "MutationCtx" => Some(Kind::Mutation),
            "ActionCtx" => Some(Kind::Action),
            _ => None,
        }
    }
}

impl<'f> Procedure<'f> {
    /// The procedure, with every mistake pushed to `errors`; `None` if it has no model at
    /// all. The caller expands it only if `errors` stayed empty.
    pub(crate) fn check(
        options: Options,
        function: &'f ItemFn,
        errors: &mut Errors,
    ) -> Option<Self> {
        let sig = &function.sig;
        let kind = options.kind;
        let (ctx_name, ctx_written) = kind.context();

        if sig.asyncness.is_none() {
            errors.push(
                sig.fn_token.span,
                format!(
                    "a procedure must be an `async fn`: write `async fn {}`",
                    sig.ident
                ),
            );
        }
        if let Some(constness) = &sig.constness {
            errors.push(constness.span, "a procedure cannot be a `const fn`");
        }
        if let Some(unsafety) = &sig.unsafety {
            errors.push(unsafety.span, "a procedure cannot be `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            errors.push_spanned(abi, "a procedure cannot have an `extern` ABI");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.push_spanned(
                &sig.generics,
                "a procedure cannot be generic: its argument and result types must be concrete",
            );
        }
        if let Some(variadic) = &sig.variadic {
            errors.push_spanned(variadic, "a procedure cannot be variadic");
        }

        let mut inputs = sig.inputs.iter().peekable();
        if let Some(FnArg::Receiver(receiver)) = inputs.peek() {
            errors.push_spanned(
                receiver,
                "a procedure is a free function: it cannot take `self`",
            );
            inputs.next();
        }
        let ctx_ident = match inputs.next() {
            None => {
                errors.push(
                    sig.paren_token.span.join(),
                    format!(
                        "{} takes its context, `{ctx_written}`, as its first parameter: `async fn {}(ctx: {ctx_written})`",
                        kind.with_article(),
                        sig.ident,
                    ),
                );
                Ident::new("ctx", Span::call_site())
            }
            Some(FnArg::Receiver(receiver)) => {
                errors.push_spanned(
                    receiver,
                    "a procedure is a free function: it cannot take `self`",
                );
                Ident::new("ctx", Span::call_site())
            }
            Some(FnArg::Typed(param)) => {
                check_context(&param.ty, kind, ctx_name, ctx_written, errors);
                param_ident(&param.pat, "__convoke_ctx")
            }
        };
        let middleware = match &options.with {
            None => None,
            Some(path) => match inputs.next() {
                Some(FnArg::Typed(param)) => Some(Middleware {
                    path: path.clone(),
                    ident: param_ident(&param.pat, "__convoke_middleware"),
                    ty: &param.ty,
                }),
                _ => {
                    errors.push_spanned(
                        &sig.inputs,
                        "a procedure with a middleware takes the middleware's value as its second parameter: `async fn f(ctx: &QueryCtx<'_>, user: CurrentUser, args: Args)`",
                    );
                    None
                }
            },
        };
        let args = match inputs.next() {
            None => None,
            Some(FnArg::Receiver(receiver)) => {
                errors.push_spanned(
                    receiver,
                    "a procedure is a free function: it cannot take `self`",
                );
                None
            }
            Some(FnArg::Typed(param)) => {
                if let Type::Reference(r) = &*param.ty {
                    errors.push_spanned(
                        r,
                        "procedure arguments are taken by value: use an owned type (arguments are deserialized, so they cannot borrow)",
                    );
                }
                Some(Args {
                    ident: param_ident(&param.pat, "__convoke_args"),
                    ty: &param.ty,
                })
            }
        };
        for extra in inputs {
            errors.push_spanned(
                extra,
                if options.with.is_some() {
                    "a procedure with a middleware takes at most three parameters, the context, the middleware's value and one argument value: put several values in one struct"
                } else {
                    "a procedure takes at most two parameters, the context and one argument value: put several values in one struct (a middleware's value needs `with = Middleware`)"
                },
            );
        }

        let (output, return_type) = match &sig.output {
            ReturnType::Default => {
                errors.push(
                    sig.ident.span(),
                    "a procedure must return `Result<T>` (`convoke::Result`)",
                );
                return None;
            }
            ReturnType::Type(_, ty) => match result_ok_type(ty) {
                Some(output) => (output, &**ty),
                None => {
                    errors.push_spanned(
                        ty,
                        "a procedure must return `Result<T>` (`convoke::Result`)",
                    );
                    return None;
                }
            },
        };

        Some(Procedure {
            function,
            kind,
            internal: options.internal,
            export_name: options
                .name
                .map(|n| n.value())
                .unwrap_or_else(|| sig.ident.to_string()),
            ident: &sig.ident,
            vis: &function.vis,
            ctx_ident,
            middleware,
            validate: options.validate,
            args,
            output,
            return_type,
            krate: options.krate,
        })
    }
}

fn check_context(ty: &Type, kind: Kind, ctx_name: &str, ctx_written: &str, errors: &mut Errors) {
    let found = match ty {
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        },
        _ => None,
    };
    match found.as_deref() {
        Some(name) if name == ctx_name => {}
        Some(other) if Kind::from_context(other).is_some() => {
            let other_kind = Kind::from_context(other)
                .map(Kind::as_str)
                .unwrap_or_default();
            errors.push_spanned(
                ty,
                format!(
                    "the first parameter of {} must be `{ctx_written}`, not `&{other}`: declare it as `#[procedure({other_kind})]` or change the context",
                    kind.with_article(),
                ),
            );
        }
        _ => errors.push_spanned(
            ty,
            format!(
                "the first parameter of {} must be its context, `{ctx_written}`",
                kind.with_article()
            ),
        ),
    }
}

/// The name to forward a parameter by: its identifier, or `fallback` for a pattern.
fn param_ident(pat: &Pat, fallback: &str) -> Ident {
    match pat {
        Pat::Ident(p) if p.subpat.is_none() => p.ident.clone(),
        _ => Ident::new(fallback, pat.span()),
    }
}

/// `T` in `Result<T>` or `Result<T, E>`.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
