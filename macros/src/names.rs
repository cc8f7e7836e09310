//! Names shared by `module!` and `#[procedure]`: the hidden aliases through which a
//! procedure adds its methods to the caller types of its module.
//!
//! The aliases are named so that forgetting `convoke::module!(..)` reads plainly:
//! "cannot find type `convoke_module_line_missing_Caller` in this scope".

use proc_macro2::{Ident, Span};

/// The alias of the module's root caller type.
pub(crate) fn caller_alias() -> Ident {
    Ident::new("convoke_module_line_missing_Caller", Span::call_site())
}

/// The alias of the module's `actions()` namespace type.
pub(crate) fn actions_alias() -> Ident {
    Ident::new("convoke_module_line_missing_Actions", Span::call_site())
}

/// The alias of the module's scheduled-call namespace type (`schedule().after(..)`).
pub(crate) fn scheduled_alias() -> Ident {
    Ident::new("convoke_module_line_missing_Scheduled", Span::call_site())
}

/// `team_members` -> `TeamMembers`.
pub(crate) fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// `TeamMember` -> `team_member`.
pub(crate) fn snake_case(pascal: &str) -> String {
    let mut out = String::new();
    for (i, ch) in pascal.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
