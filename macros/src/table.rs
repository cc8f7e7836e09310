//! `#[derive(Table)]`: names the table a document type lives in.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Expr, ExprLit, Lit};

use crate::names::snake_case;

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input).and_then(|input| expand_table(&input)) {
        Ok(tokens) => tokens,
        Err(e) => e.to_compile_error(),
    }
}

fn expand_table(input: &DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "a table's document type cannot be generic",
        ));
    }
    let mut name = None;
    let mut indexes: Vec<(syn::LitStr, Vec<syn::LitStr>)> = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("table")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let value: Expr = meta.value()?.parse()?;
                match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => {
                        check_table_name(&s.value()).map_err(|m| syn::Error::new(s.span(), m))?;
                        name = Some(s.value());
                        Ok(())
                    }
                    other => Err(syn::Error::new_spanned(
                        other,
                        "`name` takes a string: `#[table(name = \"teams\")]`",
                    )),
                }
            } else if meta.path.is_ident("index") {
                meta.parse_nested_meta(|index| {
                    let Some(ident) = index.path.get_ident() else {
                        return Err(index.error("expected an index name: `index(by_owner = [\"owner_id\"])`"));
                    };
                    let value: Expr = index.value()?.parse()?;
                    let Expr::Array(array) = value else {
                        return Err(syn::Error::new_spanned(
                            value,
                            "an index lists its fields: `index(by_owner = [\"owner_id\", \"name\"])`",
                        ));
                    };
                    let mut fields = Vec::new();
                    for element in array.elems {
                        match element {
                            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => fields.push(s),
                            other => {
                                return Err(syn::Error::new_spanned(
                                    other,
                                    "index fields are strings: `[\"owner_id\"]`",
                                ));
                            }
                        }
                    }
                    if fields.is_empty() {
                        return Err(syn::Error::new_spanned(ident, "an index needs at least one field"));
                    }
                    if indexes.iter().any(|(n, _)| ident == n.value().as_str()) {
                        return Err(syn::Error::new_spanned(ident, "this index is declared twice"));
                    }
                    indexes.push((syn::LitStr::new(&ident.to_string(), ident.span()), fields));
                    Ok(())
                })
            } else {
                Err(meta.error("unknown table option: expected `name = \"..\"` or `index(name = [\"field\", ..])`"))
            }
        })?;
    }
    let ident = &input.ident;
    let name = name.unwrap_or_else(|| snake_case(&ident.to_string()));
    let index_names = indexes.iter().map(|(n, _)| n);
    let index_fields = indexes.iter().map(|(_, f)| f);
    Ok(quote! {
        impl ::convoke::__private::Table for #ident {
            const NAME: &'static str = #name;
            const INDEXES: &'static [(&'static str, &'static [&'static str])] =
                &[#( (#index_names, &[#(#index_fields),*]) ),*];
        }

        ::convoke::__private::inventory::submit! {
            ::convoke::__private::TableDefinition {
                name: <#ident as ::convoke::__private::Table>::NAME,
                indexes: <#ident as ::convoke::__private::Table>::INDEXES,
            }
        }
    })
}

/// Convex table names: ASCII letters, digits and `_`, starting with a letter.
fn check_table_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => {
            return Err(format!(
                "invalid table name `{name}`: it must start with a letter"
            ));
        }
    }
    if chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "invalid table name `{name}`: use at most 64 ASCII letters, digits and `_`"
        ))
    }
}
