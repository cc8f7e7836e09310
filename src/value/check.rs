//! The one check of Convex's value rules: every value that enters a document (and every
//! argument of a by-name call) passes [`check_document`] or [`check_value`], which look at
//! every depth: field names, nesting, array lengths, field counts and size.

use std::fmt::Write as _;

use super::{
    MAX_NESTING_DEPTH, Object, Value, ValueError, validate_field_name, validate_user_field_name,
};

/// The maximum number of elements of an array: 8,192, as in Convex.
pub const MAX_ARRAY_LENGTH: usize = 8192;

/// The maximum number of fields of an object (a document's top level included): 1,024, as
/// in Convex.
pub const MAX_OBJECT_FIELDS: usize = 1024;

/// The maximum size of the arguments of a by-name call ([`Value::size`]): 16 MiB, Convex's
/// limit on function arguments. (Documents are limited to
/// [`MAX_VALUE_SIZE`](super::MAX_VALUE_SIZE).)
pub const MAX_ARGUMENTS_SIZE: usize = 16 << 20;

/// One step of a field path.
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

/// Checks a value on its own (not a document): at every depth, object field names pass
/// [`validate_field_name`], arrays have at most [`MAX_ARRAY_LENGTH`] elements, objects at
/// most [`MAX_OBJECT_FIELDS`] fields, nesting is at most [`MAX_NESTING_DEPTH`]; and its
/// [`Value::size`] is at most `max_size`.
///
/// A refused value is a [`ValueError::AtPath`] naming where (`tags.$x`, `items[3]`), unless
/// the problem is the whole value (its size, or a top-level array's length).
///
/// ```
/// use convoke::value::{self, Value, check_value, MAX_VALUE_SIZE};
///
/// let ok = value::from_convex_json(serde_json::json!({ "tags": { "x": 1 } })).unwrap();
/// assert!(check_value(&ok, MAX_VALUE_SIZE).is_ok());
///
/// let mut tags = value::Object::new();
/// tags.insert("$x".to_owned(), Value::Int64(1));
/// let mut doc = value::Object::new();
/// doc.insert("tags".to_owned(), Value::Object(tags));
/// let err = check_value(&Value::Object(doc), MAX_VALUE_SIZE).unwrap_err();
/// assert_eq!(err.path(), Some("tags.$x"));
/// assert!(err.is_invalid_field_name());
/// ```
pub fn check_value(value: &Value, max_size: usize) -> Result<(), ValueError> {
    walk(value, 0).map_err(|(error, steps)| at_path(error, &steps))?;
    check_size(value.size(), max_size)
}

/// Checks a document's user fields, as [`check_value`] checks a value, with the rules of a
/// document's top level: its field names also pass [`validate_user_field_name`] (no `_`:
/// system fields), the document itself is one level of nesting (so a field's value may be
/// nested [`MAX_NESTING_DEPTH`]` - 1` levels), it has at most [`MAX_OBJECT_FIELDS`] fields,
/// and its size is at most [`MAX_VALUE_SIZE`](super::MAX_VALUE_SIZE).
pub fn check_document(fields: &Object) -> Result<(), ValueError> {
    if fields.len() > MAX_OBJECT_FIELDS {
        return Err(ValueError::TooManyFields {
            count: fields.len(),
            max: MAX_OBJECT_FIELDS,
        });
    }
    for (name, value) in fields {
        validate_user_field_name(name).map_err(|e| at_path(e, &[Step::Field(name)]))?;
        walk(value, 1).map_err(|(error, mut steps)| {
            steps.push(Step::Field(name));
            at_path(error, &steps)
        })?;
    }
    let size = 2 + fields
        .iter()
        .map(|(k, v)| (k.len() + 1).saturating_add(v.size()))
        .fold(0usize, usize::saturating_add);
    check_size(size, super::MAX_VALUE_SIZE)
}

fn check_size(size: usize, max: usize) -> Result<(), ValueError> {
    if size > max {
        return Err(ValueError::TooLarge { size, max });
    }
    Ok(())
}

/// Walks `value`, nested in `enclosing` levels. On failure, the error and the path to it,
/// innermost step first.
fn walk(value: &Value, enclosing: usize) -> Result<(), (ValueError, Vec<Step<'_>>)> {
    let depth = enclosing + 1;
    match value {
        Value::Array(items) => {
            if depth > MAX_NESTING_DEPTH {
                return Err((too_deep(depth), Vec::new()));
            }
            if items.len() > MAX_ARRAY_LENGTH {
                return Err((
                    ValueError::ArrayTooLong {
                        length: items.len(),
                        max: MAX_ARRAY_LENGTH,
                    },
                    Vec::new(),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                walk(item, depth).map_err(|(e, mut steps)| {
                    steps.push(Step::Index(i));
                    (e, steps)
                })?;
            }
            Ok(())
        }
        Value::Object(fields) => {
            if depth > MAX_NESTING_DEPTH {
                return Err((too_deep(depth), Vec::new()));
            }
            if fields.len() > MAX_OBJECT_FIELDS {
                return Err((
                    ValueError::TooManyFields {
                        count: fields.len(),
                        max: MAX_OBJECT_FIELDS,
                    },
                    Vec::new(),
                ));
            }
            for (name, item) in fields {
                validate_field_name(name).map_err(|e| (e, vec![Step::Field(name)]))?;
                walk(item, depth).map_err(|(e, mut steps)| {
                    steps.push(Step::Field(name));
                    (e, steps)
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn too_deep(depth: usize) -> ValueError {
    ValueError::TooDeep {
        depth,
        max: MAX_NESTING_DEPTH,
    }
}

/// Wraps `error` with the path of `steps` (innermost first); no wrapping for the root.
fn at_path(error: ValueError, steps: &[Step<'_>]) -> ValueError {
    if steps.is_empty() {
        return error;
    }
    let mut path = String::new();
    for (i, step) in steps.iter().rev().enumerate() {
        match step {
            Step::Field(name) => {
                if i > 0 {
                    path.push('.');
                }
                push_name(&mut path, name);
            }
            Step::Index(index) => {
                let _ = write!(path, "[{index}]");
            }
        }
    }
    ValueError::AtPath {
        path,
        error: Box::new(error),
    }
}

/// Appends a field name to a path for an error message: control characters escaped, at
/// most 64 characters of it.
fn push_name(path: &mut String, name: &str) {
    const KEEP: usize = 64;
    for (i, c) in name.chars().enumerate() {
        if i == KEEP {
            path.push_str("...");
            return;
        }
        if c.is_control() {
            path.extend(c.escape_default());
        } else {
            path.push(c);
        }
    }
}
