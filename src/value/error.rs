//! The error type shared by every part of [`crate::value`].

use std::fmt::Display;

/// Everything that can go wrong while building, converting, encoding or
/// decoding a [`Value`](super::Value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A message produced by a `Serialize` or `Deserialize` implementation
    /// (including serde's own "invalid type" / "missing field" messages).
    #[error("{0}")]
    Custom(String),

    /// An integer does not fit in Convex's signed 64-bit integer type.
    #[error("integer {value} is out of range for int64")]
    IntegerOutOfRange {
        /// The offending integer, printed in decimal.
        value: String,
    },

    /// An object field name breaks Convex's field name rules.
    #[error("invalid field name {}: {reason}", abbreviate(.name))]
    InvalidFieldName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A value is nested more deeply than [`MAX_NESTING_DEPTH`](super::MAX_NESTING_DEPTH).
    #[error("value is nested too deeply: depth {depth} exceeds the maximum of {max}")]
    TooDeep {
        /// The depth that was reached (the first depth past the limit when
        /// the check stops early).
        depth: usize,
        /// The maximum allowed depth.
        max: usize,
    },

    /// A value is larger than allowed, e.g. [`MAX_VALUE_SIZE`](super::MAX_VALUE_SIZE).
    #[error("value is too large: {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The (approximate) size of the value in bytes.
        size: usize,
        /// The maximum allowed size in bytes.
        max: usize,
    },

    /// A map key did not serialize to a string (integers, booleans and chars
    /// are stringified; anything else is rejected).
    #[error("object keys must be strings (integer, boolean and char keys are stringified)")]
    NonStringKey,

    /// An array has more elements than [`MAX_ARRAY_LENGTH`](super::MAX_ARRAY_LENGTH).
    #[error("array is too long: {length} elements exceeds the maximum of {max}")]
    ArrayTooLong {
        /// The array's length.
        length: usize,
        /// The maximum allowed length.
        max: usize,
    },

    /// An object has more fields than [`MAX_OBJECT_FIELDS`](super::MAX_OBJECT_FIELDS).
    #[error("object has too many fields: {count} exceeds the maximum of {max}")]
    TooManyFields {
        /// The object's number of fields.
        count: usize,
        /// The maximum allowed number.
        max: usize,
    },

    /// `error` was found at `path` inside the value checked (see
    /// [`check_value`](super::check_value)): `tags.$x`, `items[3].name`. The predicates
    /// (`is_invalid_field_name`...) look through it.
    #[error("at {path}: {error}")]
    AtPath {
        /// Where: field names joined by `.`, array indexes in brackets.
        path: String,
        /// What is wrong there.
        error: Box<ValueError>,
    },

    /// Convex JSON input was malformed (bad `$integer`/`$float`/`$bytes`
    /// payload, unknown `$`-prefixed key, non-representable number, ...).
    #[error("invalid Convex JSON encoding: {0}")]
    InvalidEncoding(String),
}

impl ValueError {
    /// Builds a [`ValueError::Custom`] from any displayable message.
    pub fn custom(msg: impl Display) -> Self {
        ValueError::Custom(msg.to_string())
    }

    /// Builds a [`ValueError::InvalidFieldName`].
    pub fn invalid_field_name(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ValueError::InvalidFieldName {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// The error itself, without the [`ValueError::AtPath`] saying where it is.
    pub fn innermost(&self) -> &ValueError {
        match self {
            ValueError::AtPath { error, .. } => error.innermost(),
            other => other,
        }
    }

    /// The field path of a [`ValueError::AtPath`] error (`tags.$x`), if it has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ValueError::AtPath { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Is this a [`ValueError::Custom`] error?
    pub fn is_custom(&self) -> bool {
        matches!(self.innermost(), ValueError::Custom(_))
    }

    /// Is this a [`ValueError::IntegerOutOfRange`] error?
    pub fn is_integer_out_of_range(&self) -> bool {
        matches!(self.innermost(), ValueError::IntegerOutOfRange { .. })
    }

    /// Is this a [`ValueError::InvalidFieldName`] error?
    pub fn is_invalid_field_name(&self) -> bool {
        matches!(self.innermost(), ValueError::InvalidFieldName { .. })
    }

    /// Is this a [`ValueError::TooDeep`] error?
    pub fn is_too_deep(&self) -> bool {
        matches!(self.innermost(), ValueError::TooDeep { .. })
    }

    /// Is this a [`ValueError::TooLarge`] error?
    pub fn is_too_large(&self) -> bool {
        matches!(self.innermost(), ValueError::TooLarge { .. })
    }

    /// Is this a [`ValueError::NonStringKey`] error?
    pub fn is_non_string_key(&self) -> bool {
        matches!(self.innermost(), ValueError::NonStringKey)
    }

    /// Is this a [`ValueError::InvalidEncoding`] error?
    pub fn is_invalid_encoding(&self) -> bool {
        matches!(self.innermost(), ValueError::InvalidEncoding(_))
    }

    /// Is this a [`ValueError::ArrayTooLong`] error?
    pub fn is_array_too_long(&self) -> bool {
        matches!(self.innermost(), ValueError::ArrayTooLong { .. })
    }

    /// Is this a [`ValueError::TooManyFields`] error?
    pub fn is_too_many_fields(&self) -> bool {
        matches!(self.innermost(), ValueError::TooManyFields { .. })
    }

    /// Is this error about a value exceeding a limit (depth, size, array length, number
    /// of fields)?
    pub fn is_limit(&self) -> bool {
        self.is_too_deep()
            || self.is_too_large()
            || self.is_array_too_long()
            || self.is_too_many_fields()
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: Display>(msg: T) -> Self {
        ValueError::Custom(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: Display>(msg: T) -> Self {
        ValueError::Custom(msg.to_string())
    }
}

/// Quotes a (possibly huge) field name for an error message, keeping at most
/// 64 characters of it.
fn abbreviate(name: &str) -> String {
    const KEEP: usize = 64;
    match name.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{:?}...", &name[..cut]),
        None => format!("{name:?}"),
    }
}
