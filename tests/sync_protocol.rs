//! Property tests of the sync protocol's wire format (`convoke::wire::sync`): timestamps,
//! client and server messages and transition chunks round-trip, and no input — any text,
//! any JSON, any field value — makes parsing panic; it is a message or an error.
//!
//! `CONVOKE_PROPTEST_CASES` (default 256 here: these properties are cheap) raises the count.

use convoke::wire::sync::{
    AddQuery, AuthToken, Authenticate, ClientMessage, Connect, ModifyQuerySet,
    QuerySetModification, Request, ServerMessage, SyncTimestamp, split_transition,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value as Json, json};

fn config() -> Config {
    Config {
        cases: std::env::var("CONVOKE_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        any::<String>().prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::from),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|fields| Json::Object(fields.into_iter().collect())),
        ]
    })
}

fn args() -> impl Strategy<Value = Vec<Json>> {
    prop::collection::vec(json_value(), 0..3)
}

fn request() -> impl Strategy<Value = Request> {
    (any::<u32>(), any::<String>(), args()).prop_map(|(request_id, udf_path, args)| Request {
        request_id,
        udf_path,
        args,
        component_path: None,
    })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let connect = (
        any::<String>(),
        any::<u32>(),
        prop::option::of(any::<String>()),
        prop::option::of(any::<u64>().prop_map(SyncTimestamp)),
        prop::option::of((-1e15f64..1e15).prop_map(|f| f.trunc())),
    )
        .prop_map(
            |(session_id, connection_count, last_close_reason, ts, client_ts)| {
                ClientMessage::Connect(Connect {
                    session_id,
                    connection_count,
                    last_close_reason,
                    max_observed_timestamp: ts,
                    client_ts,
                })
            },
        );
    let modification = prop_oneof![
        (
            any::<u32>(),
            any::<String>(),
            args(),
            prop::option::of(any::<String>())
        )
            .prop_map(
                |(query_id, udf_path, args, journal)| QuerySetModification::Add(AddQuery {
                    query_id,
                    udf_path,
                    args,
                    journal,
                    component_path: None,
                })
            ),
        any::<u32>().prop_map(|query_id| QuerySetModification::Remove { query_id }),
    ];
    let modify = (
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(modification, 0..4),
    )
        .prop_map(|(base_version, new_version, modifications)| {
            ClientMessage::ModifyQuerySet(ModifyQuerySet {
                base_version,
                new_version,
                modifications,
            })
        });
    let token = prop_oneof![
        any::<String>().prop_map(|value| AuthToken::User { value }),
        (any::<String>(), prop::option::of(json_value())).prop_map(|(value, impersonating)| {
            AuthToken::Admin {
                value,
                impersonating: impersonating.filter(|j| !j.is_null()),
            }
        }),
        Just(AuthToken::None),
    ];
    prop_oneof![
        connect,
        modify,
        request().prop_map(ClientMessage::Mutation),
        request().prop_map(ClientMessage::Action),
        (any::<u32>(), token).prop_map(|(base_version, token)| {
            ClientMessage::Authenticate(Authenticate {
                base_version,
                token,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn timestamps_round_trip(n in any::<u64>()) {
        let text = SyncTimestamp(n).to_string();
        prop_assert_eq!(text.len(), 12);
        prop_assert_eq!(SyncTimestamp::decode(&text), Ok(SyncTimestamp(n)));
    }

    #[test]
    fn only_8_bytes_are_a_timestamp(bytes in prop::collection::vec(any::<u8>(), 0..20)) {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(SyncTimestamp::decode(&text).is_ok(), bytes.len() == 8);
    }

    #[test]
    fn any_text_is_a_message_or_an_error(text in any::<String>()) {
        let _ = SyncTimestamp::decode(&text);
        let _ = ClientMessage::parse(&text);
        let _ = ServerMessage::parse(&text);
    }

    #[test]
    fn any_json_is_a_message_or_an_error(value in json_value(), tag in prop::sample::select(vec![
        "Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event", "Transition",
        "MutationResponse", "Unknown",
    ])) {
        // Every field of a known message replaced by an arbitrary value.
        for field in ["sessionId", "connectionCount", "maxObservedTimestamp", "baseVersion",
                      "newVersion", "modifications", "requestId", "udfPath", "args",
                      "tokenType", "value"] {
            let frame = json!({ "type": tag, field: value.clone() }).to_string();
            let _ = ClientMessage::parse(&frame);
            let _ = ServerMessage::parse(&frame);
        }
        let _ = ClientMessage::parse(&value.to_string());
    }

    #[test]
    fn client_messages_round_trip(message in client_message()) {
        let text = message.to_json();
        prop_assert_eq!(ClientMessage::parse(&text), Ok(message));
    }

    #[test]
    fn chunks_join_back_and_fit(text in any::<String>(), max in 1usize..64) {
        let parts = split_transition(&text, max);
        let total = parts.len();
        let mut joined = String::new();
        for (i, part) in parts.iter().enumerate() {
            prop_assert!(part.chunk.len() <= max.max(4));
            prop_assert!(!part.chunk.is_empty() || total == 1);
            prop_assert_eq!(part.part_number as usize, i);
            prop_assert_eq!(part.total_parts as usize, total);
            prop_assert_eq!(&part.transition_id, &text.len().to_string());
            joined.push_str(&part.chunk);
        }
        prop_assert_eq!(joined, text);
    }
}
