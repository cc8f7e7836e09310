//! Convex's rules for object field names.

use super::ValueError;

/// The maximum length of a field name, in bytes (all valid names are ASCII,
/// so this is also the number of characters).
pub const MAX_FIELD_NAME_LENGTH: usize = 1024;

/// Checks a field name against Convex's rules for object fields:
///
/// * it is non-empty;
/// * it is at most [`MAX_FIELD_NAME_LENGTH`] characters long;
/// * it does not start with `$` (reserved for the Convex JSON encoding);
/// * it contains only non-control ASCII characters (`' '` to `'~'`).
///
/// These are convex-backend's `check_valid_field_name` and convex-js's
/// `validateObjectField`, except that the empty name, which their code lets
/// through and Convex's documentation forbids, is refused.
///
/// Names starting with `_` are accepted (they are system fields such as
/// `_id`); use [`validate_user_field_name`] for fields a user may set.
pub fn validate_field_name(name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        return Err(ValueError::invalid_field_name(
            name,
            "field names must be nonempty",
        ));
    }
    if name.len() > MAX_FIELD_NAME_LENGTH {
        return Err(ValueError::invalid_field_name(
            name,
            format!(
                "field names must be at most {MAX_FIELD_NAME_LENGTH} characters long (this one is {})",
                name.chars().count()
            ),
        ));
    }
    if name.starts_with('$') {
        return Err(ValueError::invalid_field_name(
            name,
            "field names must not start with '$', which is reserved",
        ));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(ValueError::invalid_field_name(
            name,
            format!(
                "invalid character {c:?}: field names may only contain non-control ASCII characters"
            ),
        ));
    }
    Ok(())
}

/// Like [`validate_field_name`], but also rejects names starting with `_`,
/// which are reserved for system fields (`_id`, `_creationTime`, ...).
pub fn validate_user_field_name(name: &str) -> Result<(), ValueError> {
    validate_field_name(name)?;
    if name.starts_with('_') {
        return Err(ValueError::invalid_field_name(
            name,
            "field names starting with '_' are reserved for system fields",
        ));
    }
    Ok(())
}
