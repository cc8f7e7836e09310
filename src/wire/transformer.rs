//! Values that JSON has no type for, on the wire: custom codecs on top of dates.
//!
//! A [`Transformer`] adds custom codecs: other tags of cRPC's tagged form
//! (`{"__crpc": 1, "t": <tag>, "v": <payload>}`), converted between their wire payload and
//! the value the Rust side serializes. Dates ([`Date`]) are always understood.

use std::fmt;
use std::sync::Arc;

use crate::value::date::{DATE_TAG, TAG_MARKER};
use crate::value::{Date, Object, Value, ValueError};

/// A custom wire codec: one tag, converted between its wire payload and the value the Rust
/// side serializes.
///
/// On the way out ([`Transformer::serialize`]), every value the codec recognizes
/// ([`encode`](Codec::encode) returns `Some(payload)`) is sent as
/// `{"__crpc": 1, "t": <tag>, "v": <payload>}`; on the way in
/// ([`Transformer::deserialize`]), each value tagged with the codec's tag is replaced by
/// [`decode`](Codec::decode) of its payload.
///
/// ```
/// use convoke::wire::{Codec, Transformer};
/// use convoke::value::{Value, ValueError};
///
/// /// Sends every int64 as a decimal string tagged `$bigint`.
/// struct BigInt;
///
/// impl Codec for BigInt {
///     fn tag(&self) -> &str {
///         "$bigint"
///     }
///     fn encode(&self, value: &Value) -> Option<Value> {
///         value.as_i64().map(|n| Value::String(n.to_string()))
///     }
///     fn decode(&self, payload: Value) -> Result<Value, ValueError> {
///         let text = payload.as_str().ok_or_else(|| ValueError::custom("expected a string"))?;
///         text.parse::<i64>().map(Value::Int64).map_err(ValueError::custom)
///     }
/// }
///
/// let transformer = Transformer::new().with_codec(BigInt).unwrap();
/// let wire = transformer.serialize(Value::Int64(7));
/// assert_eq!(wire.get("t").and_then(Value::as_str), Some("$bigint"));
/// assert_eq!(transformer.deserialize(wire).unwrap(), Value::Int64(7));
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The tag, written as `t`, e.g. `"$bigint"`. `"$date"` is reserved for dates.
    fn tag(&self) -> &str;

    /// The wire payload of `value`, if it is of this codec's type.
    fn encode(&self, value: &Value) -> Option<Value>;

    /// The value the Rust side deserializes, from a payload received with this tag.
    fn decode(&self, payload: Value) -> Result<Value, ValueError>;
}

/// The value transformer of a remote caller (and, optionally, of the HTTP server): the
/// built-in date codec plus custom [`Codec`]s.
///
/// Dates are always on: [`Date`] is the tagged form itself, tagged dates are always
/// checked on the way in, and a custom codec cannot take the `$date` tag. Custom codecs only
/// add tags. Values already tagged (by a [`Date`], or by a type that serializes the tagged
/// form itself) are left as they are; unknown tags pass through untouched.
///
/// ```
/// use convoke::Date;
/// use convoke::wire::Transformer;
/// use convoke::value::{self, Value};
///
/// let transformer = Transformer::new();
/// let wire = transformer.serialize(value::to_value(&Date::from_millis(5)).unwrap());
/// assert_eq!(wire.get("t").and_then(Value::as_str), Some("$date"));
/// let back: Date = value::from_value(transformer.deserialize(wire).unwrap()).unwrap();
/// assert_eq!(back.millis(), 5);
/// ```
#[derive(Clone, Default)]
pub struct Transformer {
    codecs: Arc<[Arc<dyn Codec>]>,
}

impl fmt::Debug for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<&str> = std::iter::once(DATE_TAG)
            .chain(self.codecs.iter().map(|c| c.tag()))
            .collect();
        f.debug_struct("Transformer").field("tags", &tags).finish()
    }
}

impl Transformer {
    /// Dates only.
    pub fn new() -> Self {
        Transformer::default()
    }

    /// Adds a custom codec on top of the ones already there.
    ///
    /// Fails if the tag is `"$date"` (dates cannot be switched off or replaced), is already
    /// taken, or is empty.
    pub fn with_codec(self, codec: impl Codec) -> Result<Self, ValueError> {
        let tag = codec.tag();
        if tag.is_empty() {
            return Err(ValueError::custom("a codec needs a non-empty tag"));
        }
        if tag == DATE_TAG {
            return Err(ValueError::custom(
                "the tag \"$date\" belongs to the built-in date codec, which is always on",
            ));
        }
        if self.codecs.iter().any(|c| c.tag() == tag) {
            return Err(ValueError::custom(format!(
                "two codecs use the tag \"{tag}\""
            )));
        }
        let mut codecs: Vec<Arc<dyn Codec>> = self.codecs.iter().cloned().collect();
        codecs.push(Arc::new(codec));
        Ok(Transformer {
            codecs: codecs.into(),
        })
    }

    /// Whether custom codecs were added (without them, both directions only check dates).
    pub fn has_custom_codecs(&self) -> bool {
        !self.codecs.is_empty()
    }

    /// The tags handled, `"$date"` first.
    pub fn tags(&self) -> Vec<&str> {
        std::iter::once(DATE_TAG)
            .chain(self.codecs.iter().map(|c| c.tag()))
            .collect()
    }

    /// Outgoing: replaces each value a custom codec recognizes by its tagged form.
    pub fn serialize(&self, value: Value) -> Value {
        if !self.has_custom_codecs() || tagged(&value).is_some() {
            return value;
        }
        for codec in self.codecs.iter() {
            if let Some(payload) = codec.encode(&value) {
                return tag_value(codec.tag(), payload);
            }
        }
        match value {
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.serialize(v)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, self.serialize(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Incoming: checks tagged dates, and replaces each value tagged by a custom codec by
    /// the codec's decoding of its payload.
    pub fn deserialize(&self, value: Value) -> Result<Value, ValueError> {
        if let Some((tag, payload)) = tagged(&value) {
            if tag == DATE_TAG {
                let date = match payload {
                    Value::Float64(ms) => Date::from_f64(*ms).map_err(ValueError::custom)?,
                    Value::Int64(ms) => Date::from_f64(*ms as f64).map_err(ValueError::custom)?,
                    Value::String(text) => Date::parse_rfc3339(text)?,
                    other => {
                        return Err(ValueError::custom(format!(
                            "a tagged date needs milliseconds as \"v\", not {}",
                            other.type_name()
                        )));
                    }
                };
                return crate::value::to_value(&date);
            }
            if let Some(codec) = self.codecs.iter().find(|c| c.tag() == tag) {
                let payload = payload.clone();
                return codec.decode(payload);
            }
            return Ok(value);
        }
        Ok(match value {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| self.deserialize(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| Ok((k, self.deserialize(v)?)))
                    .collect::<Result<Object, ValueError>>()?,
            ),
            other => other,
        })
    }
}

/// `{"__crpc": 1, "t": tag, "v": payload}`.
fn tag_value(tag: &str, payload: Value) -> Value {
    let mut fields = Object::with_capacity(3);
    fields.insert(TAG_MARKER.to_owned(), Value::Float64(1.0));
    fields.insert("t".to_owned(), Value::String(tag.to_owned()));
    fields.insert("v".to_owned(), payload);
    Value::Object(fields)
}

/// The tag and payload of a tagged value.
fn tagged(value: &Value) -> Option<(&str, &Value)> {
    let fields = value.as_object()?;
    if fields.len() != 3 {
        return None;
    }
    let marker_ok = match fields.get(TAG_MARKER)? {
        Value::Float64(f) => *f == 1.0,
        Value::Int64(i) => *i == 1,
        _ => false,
    };
    if !marker_ok {
        return None;
    }
    Some((fields.get("t")?.as_str()?, fields.get("v")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    struct Upper;
    impl Codec for Upper {
        fn tag(&self) -> &str {
            "$upper"
        }
        fn encode(&self, value: &Value) -> Option<Value> {
            value
                .as_str()
                .filter(|s| s.starts_with("up:"))
                .map(|s| Value::String(s[3..].to_uppercase()))
        }
        fn decode(&self, payload: Value) -> Result<Value, ValueError> {
            let text = payload
                .as_str()
                .ok_or_else(|| ValueError::custom("not a string"))?;
            Ok(Value::String(format!("up:{}", text.to_lowercase())))
        }
    }

    #[test]
    fn custom_codecs_compose_with_dates() {
        assert!(Transformer::new().with_codec(DateImpostor).is_err());
        let transformer = Transformer::new().with_codec(Upper).unwrap();
        assert!(transformer.clone().with_codec(Upper).is_err());
        assert_eq!(transformer.tags(), [DATE_TAG, "$upper"]);

        let date = value::to_value(&Date::from_millis(42)).unwrap();
        let value: Value = [
            ("when".to_owned(), date.clone()),
            ("name".to_owned(), Value::String("up:ada".into())),
            ("plain".to_owned(), Value::String("ada".into())),
        ]
        .into_iter()
        .collect();
        let wire = transformer.serialize(value.clone());
        assert_eq!(wire.get("when"), Some(&date));
        assert_eq!(
            wire.get("name").and_then(|v| v.get("v")),
            Some(&Value::String("ADA".into()))
        );
        assert_eq!(wire.get("plain"), Some(&Value::String("ada".into())));
        assert_eq!(transformer.deserialize(wire).unwrap(), value);

        // A tagged date with a bad payload is refused, whatever the codecs.
        let bad = tag_value(DATE_TAG, Value::Boolean(true));
        assert!(transformer.deserialize(bad.clone()).is_err());
        assert!(Transformer::new().deserialize(bad).is_err());
        // Unknown tags pass through.
        let unknown = tag_value("$other", Value::Null);
        assert_eq!(transformer.deserialize(unknown.clone()).unwrap(), unknown);
    }

    struct DateImpostor;
    impl Codec for DateImpostor {
        fn tag(&self) -> &str {
            DATE_TAG
        }
        fn encode(&self, _: &Value) -> Option<Value> {
            None
        }
        fn decode(&self, payload: Value) -> Result<Value, ValueError> {
            Ok(payload)
        }
    }
}
