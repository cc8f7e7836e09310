//! `#[derive(Table)]`: names the table a document type lives in, and declares its indexes.
//! Parse the `#[table(..)]` attributes and check the type into a `Table`, then expand it.
//!
//! The checks are those the runtime makes on the registered schema at start-up
//! (`Schema::linked`), made here so that a mistake is a compile error at its tokens.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Ident, Lit, LitStr};

use crate::crate_path::CratePath;
use crate::errors::Errors;
use crate::names::snake_case;

/// A checked document type.
struct Table<'a> {
    ident: &'a Ident,
    /// The table's name.
    name: String,
    /// The declared indexes: name and fields, in order.
    indexes: Vec<(LitStr, Vec<LitStr>)>,
    /// The path of the convoke crate (`crate = "..."`).
    krate: CratePath,
}

/// The most fields an index may list (the runtime's limit).
const MAX_INDEX_FIELDS: usize = 16;

const OPTIONS: &str =
    "expected `name = \"..\"`, `index(name = [\"field\", ..])` or `crate = \"..\"`";

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let table = check(&input, &mut errors);
    // A derive adds items next to the type, which stays as written: on error, only the
    // errors are emitted.
    if errors.is_empty() {
        expand_table(&table)
    } else {
        errors.into_compile_errors()
    }
}

/// The document type, with every mistake pushed to `errors`.
fn check<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Table<'a> {
    check_shape(input, errors);
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.push_spanned(
            &input.generics,
            "a table's document type cannot be generic: a table has one concrete document type, registered when the program is linked",
        );
    }
    let mut name: Option<LitStr> = None;
    let mut indexes: Vec<(LitStr, Vec<LitStr>)> = Vec::new();
    let mut krate = CratePath::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("table")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let value: Expr = meta.value()?.parse()?;
                table_name(&value, &mut name, errors);
            } else if meta.path.is_ident("index") {
                meta.parse_nested_meta(|index| table_index(&index, &mut indexes, errors))?;
            } else if meta.path.is_ident("crate") {
                let value: Expr = meta.value()?.parse()?;
                krate.set(&meta.path, &value, errors);
            } else {
                errors.push_spanned(&meta.path, format!("unknown table option: {OPTIONS}"));
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push_error(e);
        }
    }
    Table {
        ident: &input.ident,
        name: name
            .map(|n| n.value())
            .unwrap_or_else(|| snake_case(&input.ident.unraw().to_string())),
        indexes,
        krate,
    }
}

/// A document is stored as an object: refuses types that cannot serialize to one. (Fields
/// starting with `_` are left to the runtime, which refuses to write them: serde may rename
/// or skip them.)
fn check_shape(input: &DeriveInput, errors: &mut Errors) {
    let fields = match &input.data {
        Data::Union(data) => {
            errors.push(
                data.union_token.span,
                "a table's document type must serialize to an object: use a struct with named fields",
            );
            return;
        }
        Data::Enum(_) => return,
        Data::Struct(data) => &data.fields,
    };
    match fields {
        Fields::Unit => errors.push_spanned(
            &input.ident,
            "a table's document type must serialize to an object: a unit struct has no fields, give it named fields",
        ),
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() != 1 => errors.push_spanned(
            unnamed,
            "a table's document type must serialize to an object: a tuple struct serializes to an array, use named fields",
        ),
        Fields::Unnamed(_) | Fields::Named(_) => {}
    }
}

/// `name = "teams"`.
fn table_name(value: &Expr, name: &mut Option<LitStr>, errors: &mut Errors) {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = value
    else {
        errors.push_spanned(value, "`name` takes a string: `#[table(name = \"teams\")]`");
        return;
    };
    if let Err(reason) = check_table_name(&s.value()) {
        errors.push(s.span(), reason);
    } else if name.is_some() {
        errors.push(s.span(), "`name` is given twice");
    } else {
        *name = Some(s.clone());
    }
}

/// One `by_owner = ["owner_id", ..]` inside `index(..)`.
fn table_index(
    index: &ParseNestedMeta<'_>,
    indexes: &mut Vec<(LitStr, Vec<LitStr>)>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let Some(ident) = index.path.get_ident() else {
        return Err(index.error("expected an index name: `index(by_owner = [\"owner_id\"])`"));
    };
    let value: Expr = index.value()?.parse()?;
    let Expr::Array(array) = value else {
        errors.push_spanned(
            value,
            "an index lists its fields: `index(by_owner = [\"owner_id\", \"name\"])`",
        );
        return Ok(());
    };
    let index_name = ident.unraw().to_string();
    if let Err(reason) = check_index_name(&index_name) {
        errors.push_spanned(ident, reason);
    }
    if indexes.iter().any(|(n, _)| n.value() == index_name) {
        errors.push_spanned(ident, format!("index `{index_name}` is declared twice"));
    }
    let mut fields: Vec<LitStr> = Vec::new();
    for element in &array.elems {
        match element {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                let field = s.value();
                if let Err(reason) = check_field_path(&field) {
                    errors.push(s.span(), reason);
                } else if fields.iter().any(|f| f.value() == field) {
                    errors.push(
                        s.span(),
                        format!("index `{index_name}` lists `{field}` twice"),
                    );
                }
                fields.push(s.clone());
            }
            other => errors.push_spanned(other, "index fields are strings: `[\"owner_id\"]`"),
        }
    }
    if array.elems.is_empty() {
        errors.push_spanned(
            &array,
            format!("index `{index_name}` needs at least one field"),
        );
    }
    if array.elems.len() > MAX_INDEX_FIELDS {
        errors.push_spanned(
            &array,
            format!(
                "index `{index_name}` lists {} fields: the limit is {MAX_INDEX_FIELDS}",
                array.elems.len()
            ),
        );
    }
    indexes.push((LitStr::new(&index_name, ident.span()), fields));
    Ok(())
}

/// Skips the value of an unknown option (`= value` or `(..)`), so the options after it are
/// still checked.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn expand_table(table: &Table<'_>) -> TokenStream {
    let p = table.krate.private();
    let ident = table.ident;
    let name = &table.name;
    let index_names = table.indexes.iter().map(|(n, _)| n);
    let index_fields = table.indexes.iter().map(|(_, f)| f);
    quote! {
        impl #p::Table for #ident {
            const NAME: &'static str = #name;
            const INDEXES: &'static [(&'static str, &'static [&'static str])] =
                &[#( (#index_names, &[#(#index_fields),*]) ),*];
        }

        #p::inventory::submit! {
            #p::TableDefinition {
                name: <#ident as #p::Table>::NAME,
                indexes: <#ident as #p::Table>::INDEXES,
            }
        }
    }
}

/// Convex table names: ASCII letters, digits and `_`, starting with a letter (names
/// starting with `_` are system tables).
fn check_table_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        Some('_') => {
            return Err(format!(
                "invalid table name `{name}`: names starting with `_` are reserved for system tables"
            ));
        }
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

/// Index names: ASCII letters, digits and `_`, not starting with `_`, and not a system
/// index's.
fn check_index_name(name: &str) -> Result<(), String> {
    if name == "by_id" || name == "by_creation_time" {
        return Err(format!(
            "`{name}` is a system index: every table has it, declare the index under another name"
        ));
    }
    if name.starts_with('_') || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid index name `{name}`: use ASCII letters, digits and `_`, not starting with `_`"
        ));
    }
    Ok(())
}

/// An indexed field: a dotted path of non-empty parts, none starting with `$`, and not a
/// system field (those are added to every index).
fn check_field_path(field: &str) -> Result<(), String> {
    if field == "_id" || field == "_creationTime" {
        return Err(format!(
            "`{field}` is added to every index automatically: list only the document's own fields"
        ));
    }
    if field
        .split('.')
        .any(|part| part.is_empty() || part.starts_with('$'))
    {
        return Err(format!(
            "invalid index field `{field}`: a field path is field names separated by `.`, none empty or starting with `$`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(input: TokenStream) -> Vec<String> {
        let input = syn::parse2::<DeriveInput>(input).unwrap();
        let mut errors = Errors::default();
        check(&input, &mut errors);
        errors.messages()
    }

    #[test]
    fn valid_names_indexes_and_fields() {
        assert!(check_table_name("team_members2").is_ok());
        assert!(check_table_name("_scheduled").is_err());
        assert!(check_table_name("9lives").is_err());
        assert!(check_table_name(&"a".repeat(65)).is_err());
        assert!(check_index_name("by_owner").is_ok());
        assert!(check_index_name("by_creation_time").is_err());
        assert!(check_index_name("_hidden").is_err());
        assert!(check_field_path("profile.name").is_ok());
        assert!(check_field_path("profile..name").is_err());
        assert!(check_field_path("$size").is_err());
        assert!(check_field_path("_id").is_err());
    }

    #[test]
    fn every_mistake_is_reported() {
        let messages = errors_of(quote! {
            #[table(name = "_t", index(by_id = ["a"], empty = []), nope)]
            struct T<X> { a: X }
        });
        assert_eq!(messages.len(), 5, "{messages:?}");
    }

    #[test]
    fn a_valid_type_has_no_errors() {
        let messages = errors_of(quote! {
            #[table(name = "teams", index(by_owner = ["owner", "profile.name"]), crate = "::convoke")]
            struct Team { owner: String, #[serde(skip)] _cache: () }
        });
        assert!(messages.is_empty(), "{messages:?}");
    }
}
