use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;

fn obj(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn round_trip<T>(v: &T) -> T
where
    T: Serialize + serde::de::DeserializeOwned,
{
    let value = to_value(v).unwrap();
    let back: T = from_value(value.clone()).unwrap();
    // Also through the Convex wire encoding.
    let json = to_convex_json(&value);
    let text = serde_json::to_string(&json).unwrap();
    let decoded = from_convex_json(serde_json::from_str(&text).unwrap()).unwrap();
    let again: T = from_value(decoded).unwrap();
    let _ = again;
    back
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: u32,
    email: Option<String>,
    tags: Vec<String>,
    score: f64,
    #[serde(with = "serde_bytes_compat")]
    avatar: Vec<u8>,
    role: Role,
    nested: Inner,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    counts: BTreeMap<String, i64>,
    pair: (i32, bool),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Role {
    Admin,
    Member(u8),
    Guest(String, i16),
    Custom { label: String, level: i64 },
}

/// Serializes a `Vec<u8>` as bytes (what `serde_bytes` does).
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

fn sample_user(role: Role) -> User {
    User {
        name: "Ada".into(),
        age: 36,
        email: None,
        tags: vec!["a".into(), "b".into()],
        score: 1.5,
        avatar: vec![0, 1, 2, 255],
        role,
        nested: Inner {
            counts: [("x".to_owned(), 1), ("y".to_owned(), -2)].into(),
            pair: (-7, true),
        },
    }
}

#[test]
fn struct_round_trips_with_all_enum_shapes() {
    for role in [
        Role::Admin,
        Role::Member(3),
        Role::Guest("g".into(), -1),
        Role::Custom {
            label: "l".into(),
            level: i64::MIN,
        },
    ] {
        let user = sample_user(role);
        assert_eq!(round_trip(&user), user);
    }
}

#[test]
fn struct_serializes_in_declared_order_with_expected_types() {
    let value = to_value(&sample_user(Role::Member(3))).unwrap();
    let object = value.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name", "age", "email", "tags", "score", "avatar", "role", "nested"
        ]
    );
    assert_eq!(object["age"], Value::Int64(36));
    assert_eq!(object["email"], Value::Null);
    assert_eq!(object["score"], Value::Float64(1.5));
    assert_eq!(object["avatar"], Value::Bytes(vec![0, 1, 2, 255]));
    assert_eq!(object["role"], obj(vec![("Member", Value::Int64(3))]));
}

#[test]
fn enum_encodings_match_serde_json() {
    for role in [
        Role::Admin,
        Role::Member(3),
        Role::Guest("g".into(), -1),
        Role::Custom {
            label: "l".into(),
            level: 5,
        },
    ] {
        let value = to_value(&role).unwrap();
        assert_eq!(to_clean_json(&value), serde_json::to_value(&role).unwrap());
    }
    assert_eq!(to_value(&Role::Admin).unwrap(), Value::from("Admin"));
    // `{"Admin": null}` is accepted for unit variants, like serde_json.
    let r: Role = from_value(obj(vec![("Admin", Value::Null)])).unwrap();
    assert_eq!(r, Role::Admin);
    let err = from_value::<Role>(obj(vec![("A", Value::Null), ("B", Value::Null)])).unwrap_err();
    assert!(err.to_string().contains("single key"), "{err}");
    let err = from_value::<Role>(Value::from("Nope")).unwrap_err();
    assert!(err.to_string().contains("unknown variant"), "{err}");
}

#[test]
fn options_and_units() {
    assert_eq!(to_value(&None::<i32>).unwrap(), Value::Null);
    assert_eq!(to_value(&Some(3i32)).unwrap(), Value::Int64(3));
    assert_eq!(to_value(&()).unwrap(), Value::Null);
    assert_eq!(from_value::<Option<i32>>(Value::Null).unwrap(), None);
    assert_eq!(from_value::<Option<i32>>(Value::Int64(4)).unwrap(), Some(4));
    assert_eq!(
        from_value::<Option<Option<String>>>(Value::from("x")).unwrap(),
        Some(Some("x".into()))
    );
    from_value::<()>(Value::Null).unwrap();
    assert!(from_value::<()>(Value::Int64(1)).is_err());

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Opt {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        a: Option<i64>,
        b: Option<i64>,
    }
    let v = to_value(&Opt { a: None, b: None }).unwrap();
    assert_eq!(v, obj(vec![("b", Value::Null)]));
    assert_eq!(from_value::<Opt>(v).unwrap(), Opt { a: None, b: None });
    // Missing Option fields default to None.
    assert_eq!(
        from_value::<Opt>(obj(vec![])).unwrap(),
        Opt { a: None, b: None }
    );
}

#[test]
fn maps_and_keys() {
    let mut m = HashMap::new();
    m.insert(1u32, "one".to_owned());
    m.insert(2u32, "two".to_owned());
    let v = to_value(&m).unwrap();
    assert_eq!(v.get("1"), Some(&Value::from("one")));
    assert_eq!(from_value::<HashMap<u32, String>>(v).unwrap(), m);

    let b: BTreeMap<bool, i64> = [(true, 1), (false, 0)].into();
    assert_eq!(round_trip(&b), b);

    let mut bad = HashMap::new();
    bad.insert(vec![1], 1);
    assert!(to_value(&bad).unwrap_err().is_non_string_key());
    let mut float_keys = BTreeMap::new();
    float_keys.insert("k".to_owned(), 1);
    assert!(to_value(&float_keys).is_ok());

    // Field order of IndexMap-backed objects is preserved.
    let o = obj(vec![("z", 1.into()), ("a", 2.into()), ("m", 3.into())]);
    let keys: Vec<String> = from_value::<indexmap::IndexMap<String, i64>>(o)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn nested_values_round_trip() {
    let nested: Vec<Vec<Option<(i64, String)>>> = vec![vec![Some((1, "a".into())), None], vec![]];
    assert_eq!(round_trip(&nested), nested);
    let sets: Vec<HashSet<i64>> = vec![[1, 2, 3].into()];
    assert_eq!(round_trip(&sets), sets);
}

#[test]
fn value_is_its_own_round_trip() {
    let v = obj(vec![
        ("n", Value::Null),
        ("i", Value::Int64(-5)),
        ("f", Value::Float64(f64::NAN)),
        ("z", Value::Float64(-0.0)),
        ("b", Value::Boolean(true)),
        ("s", Value::from("s")),
        ("y", Value::Bytes(vec![1, 2])),
        (
            "a",
            Value::Array(vec![Value::Int64(1), Value::Float64(1.0)]),
        ),
        ("o", obj(vec![("k", Value::Null)])),
    ]);
    assert_eq!(to_value(&v).unwrap(), v);
    assert_eq!(from_value::<Value>(v.clone()).unwrap(), v);
    let through_json = from_convex_json(to_convex_json(&v)).unwrap();
    assert_eq!(through_json, v);
}

#[test]
fn value_deserializes_from_plain_json() {
    let v: Value = serde_json::from_str(r#"{"a":1,"b":1.5,"c":[true,null,"x"]}"#).unwrap();
    assert_eq!(
        v,
        obj(vec![
            ("a", Value::Int64(1)),
            ("b", Value::Float64(1.5)),
            (
                "c",
                Value::Array(vec![Value::Boolean(true), Value::Null, Value::from("x")])
            ),
        ])
    );
    let err = serde_json::from_str::<Value>("18446744073709551615").unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let deep = "[".repeat(100) + &"]".repeat(100);
    let err = serde_json::from_str::<Value>(&deep).unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
}

#[test]
fn integer_limits() {
    assert!(to_value(&u64::MAX).unwrap_err().is_integer_out_of_range());
    assert_eq!(
        to_value(&(i64::MAX as u64)).unwrap(),
        Value::Int64(i64::MAX)
    );
    assert!(to_value(&i128::MIN).unwrap_err().is_integer_out_of_range());
    assert_eq!(to_value(&-5i128).unwrap(), Value::Int64(-5));
    assert_eq!(to_value(&7u128).unwrap(), Value::Int64(7));
    let err = to_value(&u64::MAX).unwrap_err();
    assert_eq!(
        err.to_string(),
        "integer 18446744073709551615 is out of range for int64"
    );
    assert!(from_value::<u8>(Value::Int64(256)).is_err());
    assert!(from_value::<u32>(Value::Int64(-1)).is_err());
    assert_eq!(from_value::<i128>(Value::Int64(-3)).unwrap(), -3);
}

#[test]
fn lenient_float_to_int() {
    assert_eq!(from_value::<i32>(Value::Float64(42.0)).unwrap(), 42);
    assert_eq!(from_value::<u8>(Value::Float64(255.0)).unwrap(), 255);
    assert_eq!(from_value::<i64>(Value::Float64(-0.0)).unwrap(), 0);
    assert_eq!(
        from_value::<i64>(Value::Float64(-9_223_372_036_854_775_808.0)).unwrap(),
        i64::MIN
    );
    assert_eq!(
        from_value::<u64>(Value::Float64(1e19)).unwrap(),
        10_000_000_000_000_000_000
    );
    assert!(from_value::<i64>(Value::Float64(9_223_372_036_854_775_808.0)).is_err());
    assert!(from_value::<u8>(Value::Float64(256.0)).is_err());
    assert!(from_value::<u32>(Value::Float64(-1.0)).is_err());
    let err = from_value::<i32>(Value::Float64(1.5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: floating point `1.5`, expected i32"
    );
    assert!(from_value::<i32>(Value::Float64(f64::NAN)).is_err());
    assert!(from_value::<i32>(Value::Float64(f64::INFINITY)).is_err());
    // Int64 is accepted for floats.
    assert_eq!(from_value::<f64>(Value::Int64(3)).unwrap(), 3.0);
    assert_eq!(from_value::<f32>(Value::Int64(-2)).unwrap(), -2.0);

    // A struct decoded from what a JS client sends (all numbers floats).
    #[derive(Debug, PartialEq, Deserialize)]
    struct Args {
        limit: u32,
        offset: Option<i64>,
    }
    let json = json!({"limit": 10, "offset": 5});
    let args: Args = from_value(from_convex_json(json).unwrap()).unwrap();
    assert_eq!(
        args,
        Args {
            limit: 10,
            offset: Some(5)
        }
    );
}

#[test]
fn type_errors_are_clear() {
    let err = from_value::<i64>(Value::from("x")).unwrap_err();
    assert_eq!(err.to_string(), "invalid type: string \"x\", expected i64");
    let err = from_value::<String>(Value::Int64(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: integer `5`, expected a string"
    );
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct S {
        a: i64,
    }
    let err = from_value::<S>(obj(vec![])).unwrap_err();
    assert_eq!(err.to_string(), "missing field `a`");
    let err =
        from_value::<(i64, i64)>(Value::Array(vec![1.into(), 2.into(), 3.into()])).unwrap_err();
    assert!(err.to_string().contains("invalid length 3"), "{err}");
}

#[test]
fn bytes_conversions() {
    // Vec<u8> without serde_bytes is a sequence of integers...
    assert_eq!(
        to_value(&vec![1u8, 2]).unwrap(),
        Value::Array(vec![1.into(), 2.into()])
    );
    // ...but can be read back from Bytes.
    assert_eq!(
        from_value::<Vec<u8>>(Value::Bytes(vec![9, 8])).unwrap(),
        vec![9, 8]
    );
    // Byte-buffer visitors accept arrays of small integers.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct B(#[serde(with = "serde_bytes_compat")] Vec<u8>);
    assert_eq!(
        from_value::<B>(Value::Array(vec![1.into(), Value::Float64(2.0)])).unwrap(),
        B(vec![1, 2])
    );
    assert_eq!(to_value(&B(vec![3])).unwrap(), Value::Bytes(vec![3]));

    let bytes = Value::Bytes((0..=255).collect());
    let json = to_convex_json(&bytes);
    assert!(json["$bytes"].is_string());
    assert_eq!(from_convex_json(json).unwrap(), bytes);
    assert_eq!(
        to_convex_json(&Value::Bytes(b"hello".to_vec())),
        json!({"$bytes": "aGVsbG8="})
    );
    assert_eq!(
        from_convex_json(json!({"$bytes": ""})).unwrap(),
        Value::Bytes(vec![])
    );
}

#[test]
fn int64_convex_json() {
    for i in [i64::MIN, -1, 0, 1, 42, i64::MAX] {
        let json = to_convex_json(&Value::Int64(i));
        let text = serde_json::to_string(&json).unwrap();
        let back = from_convex_json(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, Value::Int64(i));
    }
    // Matches the convex npm client: base64 of 8 little-endian bytes.
    assert_eq!(
        to_convex_json(&Value::Int64(1)),
        json!({"$integer": "AQAAAAAAAAA="})
    );
    assert_eq!(
        to_convex_json(&Value::Int64(-1)),
        json!({"$integer": "//////////8="})
    );
}

#[test]
fn special_floats_convex_json() {
    assert_eq!(to_convex_json(&Value::Float64(1.5)), json!(1.5));
    assert_eq!(to_convex_json(&Value::Float64(0.0)), json!(0.0));
    assert!(to_convex_json(&Value::Float64(-0.0))["$float"].is_string());
    assert_eq!(
        to_convex_json(&Value::Float64(f64::INFINITY)),
        json!({"$float": "AAAAAAAA8H8="})
    );
    for f in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1e300,
        -2.5,
    ] {
        let json = to_convex_json(&Value::Float64(f));
        let text = serde_json::to_string(&json).unwrap();
        let back = from_convex_json(serde_json::from_str(&text).unwrap()).unwrap();
        match back {
            Value::Float64(g) => assert_eq!(f.to_bits(), g.to_bits(), "{f}"),
            other => panic!("expected float, got {other:?}"),
        }
    }
    // Plain JSON numbers are floats, even integral ones.
    assert_eq!(from_convex_json(json!(3)).unwrap(), Value::Float64(3.0));
}

#[test]
fn convex_json_decoding_errors() {
    let bad = [
        json!({"$integer": "AQ=="}),
        json!({"$integer": "not base64!"}),
        json!({"$integer": 5}),
        json!({"$float": "AAAA"}),
        json!({"$bytes": "%%%"}),
        json!({"$foo": "AQAAAAAAAAA="}),
    ];
    for j in bad {
        let err = from_convex_json(j.clone()).unwrap_err();
        assert!(err.is_invalid_encoding(), "{j}: {err:?}");
    }
    let err = from_convex_json(json!({"$integer": "AQAAAAAAAAA=", "x": 1})).unwrap_err();
    assert!(err.is_invalid_field_name(), "{err:?}");
    let err = from_convex_json(json!({"ok": {"$weird": 1, "b": 2}})).unwrap_err();
    assert!(err.is_invalid_field_name(), "{err:?}");
    let err = from_convex_json(json!({"": 1})).unwrap_err();
    assert!(err.is_invalid_field_name(), "{err:?}");
    // System fields are fine in documents.
    assert!(from_convex_json(json!({"_id": "abc", "_creationTime": 1.0})).is_ok());
}

#[test]
fn clean_json() {
    let v = obj(vec![
        ("i", Value::Int64(i64::MAX)),
        ("nan", Value::Float64(f64::NAN)),
        ("inf", Value::Float64(f64::INFINITY)),
        ("ninf", Value::Float64(f64::NEG_INFINITY)),
        ("f", Value::Float64(0.25)),
        ("b", Value::Bytes(b"hi".to_vec())),
        ("a", Value::Array(vec![Value::Null, Value::Boolean(false)])),
    ]);
    assert_eq!(
        to_clean_json(&v),
        json!({
            "i": i64::MAX,
            "nan": "NaN",
            "inf": "Infinity",
            "ninf": "-Infinity",
            "f": 0.25,
            "b": "aGk=",
            "a": [null, false],
        })
    );
}

#[test]
fn ordering_across_types() {
    let ordered = vec![
        Value::Null,
        Value::Int64(i64::MIN),
        Value::Int64(5),
        Value::Float64(f64::NEG_INFINITY),
        Value::Float64(-0.0),
        Value::Float64(0.0),
        Value::Float64(1.0),
        Value::Float64(f64::NAN),
        Value::Boolean(false),
        Value::Boolean(true),
        Value::from(""),
        Value::from("a"),
        Value::from("b"),
        Value::Bytes(vec![]),
        Value::Bytes(vec![0]),
        Value::Array(vec![]),
        Value::Array(vec![Value::Null]),
        Value::Array(vec![Value::Int64(1)]),
        Value::Array(vec![Value::Int64(1), Value::Null]),
        Value::Array(vec![Value::Float64(0.0)]),
        obj(vec![]),
        obj(vec![("a", Value::Int64(1))]),
        obj(vec![("a", Value::Int64(1)), ("b", Value::Null)]),
        obj(vec![("a", Value::Int64(2))]),
        obj(vec![("b", Value::Null)]),
    ];
    for (i, a) in ordered.iter().enumerate() {
        for (j, b) in ordered.iter().enumerate() {
            assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
            assert_eq!(a == b, i == j);
        }
    }
    let mut shuffled = ordered.clone();
    shuffled.reverse();
    shuffled.sort();
    assert_eq!(shuffled, ordered);
}

#[test]
fn equality_and_hash_semantics() {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    assert_eq!(Value::Float64(f64::NAN), Value::Float64(f64::NAN));
    assert_eq!(
        state.hash_one(Value::Float64(f64::NAN)),
        state.hash_one(Value::Float64(f64::NAN))
    );
    assert_ne!(Value::Float64(0.0), Value::Float64(-0.0));
    assert_ne!(Value::Int64(1), Value::Float64(1.0));
    // Objects compare as ordered lists: field order matters.
    let ab = obj(vec![("a", 1.into()), ("b", 2.into())]);
    let ba = obj(vec![("b", 2.into()), ("a", 1.into())]);
    assert_ne!(ab, ba);
    assert_eq!(ab, ab.clone());
    assert_eq!(state.hash_one(&ab), state.hash_one(ab.clone()));
    let set: HashSet<Value> = [ab.clone(), ab.clone(), ba].into_iter().collect();
    assert_eq!(set.len(), 2);
}

#[test]
fn accessors_and_conversions() {
    assert_eq!(Value::Null.type_name(), "null");
    assert_eq!(Value::Int64(1).type_name(), "int64");
    assert_eq!(Value::Float64(1.0).type_name(), "float64");
    assert_eq!(Value::Boolean(true).type_name(), "boolean");
    assert_eq!(Value::from("s").type_name(), "string");
    assert_eq!(Value::from(vec![1u8]).type_name(), "bytes");
    assert_eq!(Value::from(vec![Value::Null]).type_name(), "array");
    assert_eq!(Value::from(Object::new()).type_name(), "object");
    assert_eq!(Value::from(3i64).as_i64(), Some(3));
    assert_eq!(Value::from(3.5).as_f64(), Some(3.5));
    assert_eq!(Value::from(3i64).as_f64(), None);
    assert_eq!(Value::from(String::from("x")).as_str(), Some("x"));
    assert_eq!(Value::from(true), Value::Boolean(true));
    assert_eq!(Value::from(None::<i64>), Value::Null);
    let o = obj(vec![("k", Value::Null)]);
    assert_eq!(o.as_object().map(Object::len), Some(1));
    assert!(o.clone().into_object().is_some());
    assert!(Value::Null.into_object().is_none());
}

#[test]
fn display_is_compact() {
    let v = obj(vec![
        ("a", Value::Int64(1)),
        ("b", Value::Float64(2.0)),
        ("c", Value::Array(vec![Value::Null, Value::from("q\"")])),
        ("d", Value::Bytes(vec![1])),
        ("e", Value::Float64(f64::NAN)),
        ("f", Value::Float64(0.5)),
    ]);
    assert_eq!(
        v.to_string(),
        r#"{"a":1n,"b":2,"c":[null,"q\""],"d":b"AQ==","e":NaN,"f":0.5}"#
    );
    assert_eq!(Value::Float64(1e300).to_string(), "1e300");
    assert_eq!(Value::Float64(-0.0).to_string(), "-0");
}

#[test]
fn size_is_convex_like() {
    assert_eq!(Value::Null.size(), 1);
    assert_eq!(Value::Boolean(true).size(), 1);
    assert_eq!(Value::Int64(1).size(), 9);
    assert_eq!(Value::Float64(1.0).size(), 9);
    assert_eq!(Value::from("abc").size(), 5);
    assert_eq!(Value::Bytes(vec![0; 4]).size(), 6);
    assert_eq!(Value::Array(vec![Value::Null, Value::Int64(1)]).size(), 12);
    assert_eq!(obj(vec![("ab", Value::Null)]).size(), 2 + 3 + 1);
    let big = Value::from("x".repeat(MAX_VALUE_SIZE));
    assert!(big.check_limits().unwrap_err().is_too_large());
    assert!(Value::from("x").check_limits().is_ok());
}

fn nest_array(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn depth_limits() {
    assert_eq!(Value::Null.nesting_depth(), 0);
    assert_eq!(Value::Array(vec![]).nesting_depth(), 1);
    assert_eq!(
        nest_array(MAX_NESTING_DEPTH).nesting_depth(),
        MAX_NESTING_DEPTH
    );
    assert!(nest_array(MAX_NESTING_DEPTH).check_limits().is_ok());
    assert!(
        nest_array(MAX_NESTING_DEPTH + 1)
            .check_limits()
            .unwrap_err()
            .is_too_deep()
    );

    // Serializer.
    assert!(to_value(&nest_array(MAX_NESTING_DEPTH)).is_ok());
    let err = to_value(&nest_array(MAX_NESTING_DEPTH + 1)).unwrap_err();
    assert_eq!(
        err,
        ValueError::TooDeep {
            depth: MAX_NESTING_DEPTH + 1,
            max: MAX_NESTING_DEPTH
        }
    );

    #[derive(Serialize)]
    struct Node {
        next: Option<Box<Node>>,
    }
    let mut node = Node { next: None };
    for _ in 0..200 {
        node = Node {
            next: Some(Box::new(node)),
        };
    }
    assert!(to_value(&node).unwrap_err().is_too_deep());

    // Enum variants count their wrapper object.
    #[derive(Serialize)]
    enum E {
        T(i64, i64),
    }
    let mut v = to_value(&E::T(1, 2)).unwrap();
    assert_eq!(v.nesting_depth(), 2);
    for _ in 0..MAX_NESTING_DEPTH - 2 {
        v = Value::Array(vec![v]);
    }
    assert_eq!(v.nesting_depth(), MAX_NESTING_DEPTH);

    // Convex JSON decoding: special objects are scalars.
    let mut j = json!({"$integer": "AQAAAAAAAAA="});
    for _ in 0..MAX_NESTING_DEPTH {
        j = json!([j]);
    }
    assert!(from_convex_json(j.clone()).is_ok());
    let err = from_convex_json(json!({ "x": j })).unwrap_err();
    assert!(err.is_too_deep(), "{err:?}");
}

#[test]
fn very_deep_json_is_rejected_without_overflow() {
    let mut j = serde_json::Value::Null;
    for _ in 0..10_000 {
        j = serde_json::Value::Array(vec![j]);
    }
    let err = from_convex_json(j).unwrap_err();
    assert_eq!(
        err,
        ValueError::TooDeep {
            depth: MAX_NESTING_DEPTH + 1,
            max: MAX_NESTING_DEPTH
        }
    );

    let mut j = serde_json::Value::Null;
    for _ in 0..10_000 {
        let mut m = serde_json::Map::new();
        m.insert("k".into(), j);
        j = serde_json::Value::Object(m);
    }
    assert!(from_convex_json(j).unwrap_err().is_too_deep());

    // A deep payload under a special key is rejected without overflow too.
    let mut p = serde_json::Value::Null;
    for _ in 0..10_000 {
        p = serde_json::Value::Array(vec![p]);
    }
    let mut m = serde_json::Map::new();
    m.insert("$bytes".into(), p);
    assert!(
        from_convex_json(serde_json::Value::Object(m))
            .unwrap_err()
            .is_invalid_encoding()
    );
}

#[test]
fn field_name_validation() {
    for ok in ["a", "_id", "with space", "~!@#%^&*()", &"x".repeat(1024)] {
        validate_field_name(ok).unwrap();
    }
    for bad in ["", "$a", "tab\t", "é", "nul\0", &"x".repeat(1025)] {
        let err = validate_field_name(bad).unwrap_err();
        assert!(err.is_invalid_field_name(), "{bad:?}");
    }
    validate_user_field_name("name").unwrap();
    let err = validate_user_field_name("_id").unwrap_err();
    assert!(err.is_invalid_field_name());
    assert!(
        err.to_string().contains("reserved for system fields"),
        "{err}"
    );
    let err = validate_field_name(&"y".repeat(5000)).unwrap_err();
    assert!(err.to_string().len() < 300, "{err}");
}

#[test]
fn into_deserializer_works() {
    use serde::de::IntoDeserializer;
    let d = Value::Int64(7).into_deserializer();
    assert_eq!(i64::deserialize(d).unwrap(), 7);
}

#[test]
fn newtype_structs_and_tuples() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Id(String);
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pt(i64, f64);
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;
    assert_eq!(to_value(&Id("x".into())).unwrap(), Value::from("x"));
    assert_eq!(round_trip(&Id("x".into())), Id("x".into()));
    assert_eq!(
        to_value(&Pt(1, 2.0)).unwrap(),
        Value::Array(vec![Value::Int64(1), Value::Float64(2.0)])
    );
    assert_eq!(round_trip(&Pt(1, 2.0)), Pt(1, 2.0));
    assert_eq!(to_value(&Unit).unwrap(), Value::Null);
    assert_eq!(round_trip(&Unit), Unit);
    assert_eq!(to_value(&'c').unwrap(), Value::from("c"));
    assert_eq!(from_value::<char>(Value::from("c")).unwrap(), 'c');
}

#[test]
fn the_check_names_the_path_of_what_it_refuses() {
    use super::{check_document, check_value};
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let doc = object(vec![(
        "a",
        Value::Array(vec![Value::Null, object(vec![("b\nc", Value::Null)])]),
    )]);
    let err = check_value(&doc, MAX_VALUE_SIZE).unwrap_err();
    assert_eq!(err.path(), Some("a[1].b\\nc"));
    assert!(err.is_invalid_field_name());
    assert!(
        err.to_string()
            .starts_with("at a[1].b\\nc: invalid field name")
    );
    // A long name is cut in the path.
    let long = "x".repeat(2000);
    let err = check_value(&object(vec![(&long, Value::Null)]), MAX_VALUE_SIZE).unwrap_err();
    assert_eq!(err.path(), Some(format!("{}...", "x".repeat(64)).as_str()));
    // What is wrong with the whole value has no path.
    let err = check_value(&Value::Array(vec![Value::Null; 8193]), MAX_VALUE_SIZE).unwrap_err();
    assert!(err.is_array_too_long() && err.path().is_none());
    let err = check_value(&Value::Bytes(vec![0; 100]), 50).unwrap_err();
    assert!(err.is_too_large() && err.is_limit() && err.path().is_none());
    // A document's top level: `_` is refused there, not below.
    let Value::Object(fields) = object(vec![("_x", Value::Null)]) else {
        unreachable!()
    };
    let err = check_document(&fields).unwrap_err();
    assert_eq!(err.path(), Some("_x"));
    let Value::Object(fields) = object(vec![("x", object(vec![("_y", Value::Null)]))]) else {
        unreachable!()
    };
    assert!(check_document(&fields).is_ok());
}
