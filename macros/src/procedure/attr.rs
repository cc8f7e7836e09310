//! Parsing the attribute: `query | mutation | action`, then the options `internal`,
//! `validate`, `name = ".."`, `with = Middleware` and `crate = ".."`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

use crate::crate_path::CratePath;
use crate::errors::Errors;

/// The kind of procedure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Query,
    Mutation,
    Action,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Mutation => "mutation",
            Kind::Action => "action",
        }
    }

    /// The kind with its article: "a query", "a mutation", "an action".
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            Kind::Query => "a query",
            Kind::Mutation => "a mutation",
            Kind::Action => "an action",
        }
    }
}

/// The attribute's options, checked.
pub(crate) struct Options {
    pub(crate) kind: Kind,
    pub(crate) internal: bool,
    pub(crate) name: Option<LitStr>,
    /// `with = Middleware`: the middleware type.
    pub(crate) with: Option<syn::Path>,
    /// `validate`: call `Validate::validate` on the arguments first.
    pub(crate) validate: bool,
    /// `crate = "..."`: the path of the convoke crate.
    pub(crate) krate: CratePath,
}

const EXPECTED: &str = "expected `query`, `mutation` or `action`, then optionally `internal`, `validate`, `name = \"..\"`, `with = Middleware` and `crate = \"..\"`";

/// The options, or `None` (with the errors pushed) if the attribute does not parse or names
/// no kind. Mistakes in the other options are pushed but still give the options, so the
/// function is checked too.
pub(crate) fn parse(attr: TokenStream, errors: &mut Errors) -> Option<Options> {
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push_error(e);
            return None;
        }
    };
    let mut kind: Option<(Kind, Span)> = None;
    let mut internal = false;
    let mut validate = false;
    let mut name = None;
    let mut with = None;
    let mut krate = CratePath::default();
    for meta in metas {
        match &meta {
            Meta::Path(path) if path.get_ident().is_some() => {
                let word = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                let this = match word.as_str() {
                    "query" => Some(Kind::Query),
                    "mutation" => Some(Kind::Mutation),
                    "action" => Some(Kind::Action),
                    "internal" => {
                        if internal {
                            errors.push(path.span(), "`internal` is given twice");
                        }
                        internal = true;
                        None
                    }
                    "validate" => {
                        if validate {
                            errors.push(path.span(), "`validate` is given twice");
                        }
                        validate = true;
                        None
                    }
                    other => {
                        errors.push(
                            path.span(),
                            format!("unknown procedure option `{other}`: {EXPECTED}"),
                        );
                        None
                    }
                };
                if let Some(this) = this {
                    if let Some((first, _)) = kind {
                        errors.push(
                            path.span(),
                            format!(
                                "a procedure has one kind: it is already {}",
                                first.with_article()
                            ),
                        );
                    } else {
                        kind = Some((this, path.span()));
                    }
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("with") => match &nv.value {
                Expr::Path(p) if with.is_none() => with = Some(p.path.clone()),
                Expr::Path(p) => errors.push(
                    p.span(),
                    "a procedure has one middleware: compose several in one type",
                ),
                other => errors.push(
                    other.span(),
                    "`with` takes a middleware type: `with = Authed`",
                ),
            },
            Meta::NameValue(nv) if nv.path.is_ident("crate") => {
                krate.set(&nv.path, &nv.value, errors);
            }
            Meta::NameValue(nv) if nv.path.is_ident("name") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => {
                    if let Err(reason) = check_name(&s.value()) {
                        errors.push(s.span(), reason);
                    } else if name.is_some() {
                        errors.push(s.span(), "`name` is given twice");
                    } else {
                        name = Some(s.clone());
                    }
                }
                other => errors.push(other.span(), "`name` takes a string: `name = \"getTeam\"`"),
            },
            other => errors.push(
                other.span(),
                format!("unknown procedure option: {EXPECTED}"),
            ),
        }
    }
    match kind {
        Some((kind, _)) => Some(Options {
            kind,
            internal,
            name,
            with,
            validate,
            krate,
        }),
        None => {
            errors.push(
                Span::call_site(),
                "missing procedure kind: write `#[procedure(query)]`, `#[procedure(mutation)]` or `#[procedure(action)]`",
            );
            None
        }
    }
}

/// A Convex function name: an identifier of ASCII letters, digits and `_`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("a procedure name cannot be empty".to_owned()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => Err(format!(
            "invalid procedure name `{name}`: it must start with a letter or `_`"
        )),
        _ if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') => Err(format!(
            "invalid procedure name `{name}`: use only ASCII letters, digits and `_`"
        )),
        _ if name.len() > 64 => Err(format!(
            "invalid procedure name `{name}`: at most 64 characters"
        )),
        _ => Ok(()),
    }
}
