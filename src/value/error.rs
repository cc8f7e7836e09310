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

    /// Is this a [`ValueError::Custom`] error?
    pub fn is_custom(&self) -> bool {
        matches!(self, ValueError::Custom(_))
    }

    /// Is this a [`ValueError::IntegerOutOfRange`] error?
    pub fn is_integer_out_of_range(&self) -> bool {
        matches!(self, ValueError::IntegerOutOfRange { .. })
    }

    /// Is this a [`ValueError::InvalidFieldName`] error?
    pub fn is_invalid_field_name(&self) -> bool {
        matches!(self, ValueError::InvalidFieldName { .. })
    }

    /// Is this a [`ValueError::TooDeep`] error?
    pub fn is_too_deep(&self) -> bool {
        matches!(self, ValueError::TooDeep { .. })
    }

    /// Is this a [`ValueError::TooLarge`] error?
    pub fn is_too_large(&self) -> bool {
        matches!(self, ValueError::TooLarge { .. })
    }

    /// Is this a [`ValueError::NonStringKey`] error?
    pub fn is_non_string_key(&self) -> bool {
        matches!(self, ValueError::NonStringKey)
    }

    /// Is this a [`ValueError::InvalidEncoding`] error?
    pub fn is_invalid_encoding(&self) -> bool {
        matches!(self, ValueError::InvalidEncoding(_))
    }

    /// Is this error about a value exceeding a limit (depth or size)?
    pub fn is_limit(&self) -> bool {
        self.is_too_deep() || self.is_too_large()
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
