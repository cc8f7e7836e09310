//! Convex's WebSocket sync protocol on the wire: the messages the official `convex` client
//! (`ConvexClient`, `ConvexReactClient`) and a sync server exchange on
//! `GET /api/{client version}/sync`, one JSON text frame per message.
//!
//! These are the message types with their exact field names and encodings, parsing with
//! clear errors, and the splitting of a large transition into chunks. The server that speaks
//! them sits on top (it needs subscriptions); the types are here so that a server and a Rust
//! client share one definition.
//!
//! | direction | messages |
//! |---|---|
//! | client → server | [`ClientMessage`]: `Connect`, `ModifyQuerySet`, `Mutation`, `Action`, `Authenticate`, `Event` |
//! | server → client | [`ServerMessage`]: `Transition`, `TransitionChunk`, `MutationResponse`, `ActionResponse`, `AuthError`, `FatalError`, `Ping` |
//!
//! Encodings:
//!
//! - Timestamps ([`SyncTimestamp`]: `ts`, `maxObservedTimestamp`) are the base64 (standard
//!   alphabet, padded) of the 8-byte little-endian `u64`: always 12 characters, zero is
//!   `"AAAAAAAAAAA="`; anything that does not decode to exactly 8 bytes is refused.
//! - Small integers (`queryId`, `querySet`, `identity`, `requestId`, `baseVersion`) are JSON
//!   numbers that fit a `u32`.
//! - Function arguments are a one-element array holding the Convex JSON arguments object
//!   (`"args": [{..}]`); values (results, `errorData`) are Convex JSON.
//! - `serverTs` in a transition is a JSON number (nanoseconds since the Unix epoch).
//!
//! ```
//! use convoke::wire::sync::{ClientMessage, ServerMessage, StateVersion, SyncTimestamp};
//!
//! let frame = r#"{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}"#;
//! let ClientMessage::Mutation(mutation) = ClientMessage::parse(frame)? else { unreachable!() };
//! assert_eq!((mutation.request_id, mutation.udf_path.as_str()), (0, "messages:send"));
//!
//! let ping = ServerMessage::Ping.to_json();
//! assert_eq!(ping, r#"{"type":"Ping"}"#);
//! assert_eq!(SyncTimestamp(0).to_string(), "AAAAAAAAAAA=");
//! assert_eq!(StateVersion::INITIAL.ts, SyncTimestamp(0));
//! # Ok::<(), convoke::wire::sync::ProtocolError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

/// A timestamp of the sync protocol: a `u64` (nanoseconds since the Unix epoch in Convex),
/// sent as the base64 of its 8 little-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SyncTimestamp(pub u64);

impl SyncTimestamp {
    /// Decodes the wire form: base64 (standard, padded) of exactly 8 bytes.
    pub fn decode(text: &str) -> Result<SyncTimestamp, ProtocolError> {
        let bytes = STANDARD.decode(text).map_err(|e| {
            ProtocolError::invalid(format!("timestamp {text:?} is not base64: {e}"))
        })?;
        let bytes: [u8; 8] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            ProtocolError::invalid(format!(
                "timestamp {text:?} is {} bytes, not 8",
                bytes.len()
            ))
        })?;
        Ok(SyncTimestamp(u64::from_le_bytes(bytes)))
    }
}

impl fmt::Display for SyncTimestamp {
    /// The wire form, e.g. `"AAAAAAAAAAA="` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0.to_le_bytes()))
    }
}

impl Serialize for SyncTimestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SyncTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SyncTimestamp::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Where a client's view stands: its query set's version, its identity's version and the
/// timestamp of the results it holds. A transition moves it from one to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateVersion {
    /// The version of the query set (`ModifyQuerySet.newVersion` received last).
    pub query_set: u32,
    /// The version of the identity (one more per `Authenticate`).
    pub identity: u32,
    /// The snapshot the results are at.
    pub ts: SyncTimestamp,
}

impl StateVersion {
    /// Where every connection starts: `{querySet: 0, identity: 0, ts: 0}`.
    pub const INITIAL: StateVersion = StateVersion {
        query_set: 0,
        identity: 0,
        ts: SyncTimestamp(0),
    };
}

// ---------------------------------------------------------------------------------------
// Client → server
// ---------------------------------------------------------------------------------------

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ClientMessage {
    /// The first message on every new socket.
    Connect(Connect),
    /// Adds and removes queries of the client's query set.
    ModifyQuerySet(ModifyQuerySet),
    /// Runs a mutation.
    Mutation(Request),
    /// Runs an action.
    Action(Request),
    /// Sets or clears the identity.
    Authenticate(Authenticate),
    /// Client telemetry; a server may log it and must otherwise ignore it.
    Event(Event),
}

impl ClientMessage {
    /// Parses one text frame. The error says what was wrong (not JSON, an unknown `type`,
    /// a missing or mistyped field, an invalid timestamp).
    pub fn parse(frame: &str) -> Result<ClientMessage, ProtocolError> {
        serde_json::from_str(frame).map_err(|e| ProtocolError::invalid(e.to_string()))
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// `Connect`: who the client is and what it has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connect {
    /// The client object's session (a UUID), the same across its reconnects.
    pub session_id: String,
    /// How many times this client object connected before.
    pub connection_count: u32,
    /// Why the previous socket closed (`"InitialConnect"` the first time).
    #[serde(default)]
    pub last_close_reason: Option<String>,
    /// The highest timestamp the client has seen, on any connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_observed_timestamp: Option<SyncTimestamp>,
    /// The client's clock, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ts: Option<f64>,
}

/// `ModifyQuerySet`: moves the query set from `base_version` to `new_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyQuerySet {
    /// The version the modifications apply to: the last `new_version` received.
    pub base_version: u32,
    /// The version after them; greater than `base_version`.
    pub new_version: u32,
    /// Queries added and removed.
    pub modifications: Vec<QuerySetModification>,
}

/// One change to the query set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum QuerySetModification {
    /// Subscribes to a query.
    Add(AddQuery),
    /// Unsubscribes.
    Remove {
        /// The query's id.
        #[serde(rename = "queryId")]
        query_id: u32,
    },
}

/// `Add`: a query the client wants results of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddQuery {
    /// The client's id for it (never reused by that client).
    pub query_id: u32,
    /// The procedure's path (`messages:list`).
    pub udf_path: String,
    /// A one-element array holding the arguments object (Convex JSON).
    pub args: Vec<Json>,
    /// The pagination journal the client last received for this query, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// A component's path (admin only; convoke has no components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_path: Option<String>,
}

/// `Mutation` or `Action`: one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The client's id for the request (mutations and actions share one counter).
    pub request_id: u32,
    /// The procedure's path.
    pub udf_path: String,
    /// A one-element array holding the arguments object (Convex JSON).
    pub args: Vec<Json>,
    /// A component's path (convoke has no components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_path: Option<String>,
}

/// The arguments object of `args` (a one-element array), or an error saying what is wrong.
pub fn single_argument(args: &[Json]) -> Result<&Json, ProtocolError> {
    match args {
        [one] => Ok(one),
        _ => Err(ProtocolError::invalid(format!(
            "args must be an array of one arguments object, got {} elements",
            args.len()
        ))),
    }
}

/// `Authenticate`: the identity from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authenticate {
    /// The identity version this applies to.
    pub base_version: u32,
    /// The token.
    #[serde(flatten)]
    pub token: AuthToken,
}

/// What `Authenticate` carries, tagged by `tokenType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tokenType")]
#[non_exhaustive]
pub enum AuthToken {
    /// A user's JWT.
    User {
        /// The token.
        value: String,
    },
    /// A deployment admin key, optionally acting as a user.
    Admin {
        /// The key.
        value: String,
        /// The user's identity attributes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        impersonating: Option<Json>,
    },
    /// Signed out.
    None,
}

/// `Event`: telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// What kind of event (`ClientConnect`, `ClientReceivedTransition`, ...).
    pub event_type: String,
    /// Its data.
    pub event: Json,
}

// ---------------------------------------------------------------------------------------
// Server → client
// ---------------------------------------------------------------------------------------

/// A message from the server. The official client has no default case: a server must send
/// nothing but these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ServerMessage {
    /// New results: moves the client from `start_version` to `end_version`.
    Transition(Transition),
    /// One part of a transition too large for one frame ([`split_transition`]).
    TransitionChunk(TransitionChunk),
    /// A mutation's outcome.
    MutationResponse(MutationResponse),
    /// An action's outcome.
    ActionResponse(ActionResponse),
    /// The identity was refused or expired; the server closes the socket after it.
    AuthError(AuthError),
    /// The client broke the protocol; it stops for good after this.
    FatalError {
        /// What happened.
        error: String,
    },
    /// Sent when the server has sent nothing for a while.
    Ping,
}

impl ServerMessage {
    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// Parses one frame (for clients and tests).
    pub fn parse(frame: &str) -> Result<ServerMessage, ProtocolError> {
        serde_json::from_str(frame).map_err(|e| ProtocolError::invalid(e.to_string()))
    }
}

/// `Transition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// Must equal the client's current version, or the client refuses the transition.
    pub start_version: StateVersion,
    /// The version after it.
    pub end_version: StateVersion,
    /// The results that changed (possibly none).
    pub modifications: Vec<StateModification>,
    /// `clientTs` of `Connect` minus the server's clock, in milliseconds.
    pub client_clock_skew: Option<i64>,
    /// The server's clock when sending, nanoseconds since the Unix epoch (a JSON number).
    pub server_ts: Option<u64>,
}

/// One result in a transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum StateModification {
    /// The query's new result.
    QueryUpdated {
        /// The query's id.
        #[serde(rename = "queryId")]
        query_id: u32,
        /// The result (Convex JSON).
        value: Json,
        /// Its log lines (`"[LOG] 'message'"`).
        #[serde(rename = "logLines")]
        log_lines: Vec<String>,
        /// The pagination journal, or null.
        journal: Option<String>,
    },
    /// The query threw.
    QueryFailed {
        /// The query's id.
        #[serde(rename = "queryId")]
        query_id: u32,
        /// The error's message.
        #[serde(rename = "errorMessage")]
        error_message: String,
        /// Its log lines.
        #[serde(rename = "logLines")]
        log_lines: Vec<String>,
        /// The pagination journal, or null.
        journal: Option<String>,
        /// The data of a user error (`ConvexError`), if it was one.
        #[serde(rename = "errorData", default, skip_serializing_if = "Option::is_none")]
        error_data: Option<Json>,
    },
    /// The query left the set.
    QueryRemoved {
        /// The query's id.
        #[serde(rename = "queryId")]
        query_id: u32,
    },
}

/// `TransitionChunk`: part `part_number` (from 0) of `total_parts` of one transition's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionChunk {
    /// This part of the text.
    pub chunk: String,
    /// Its position, from 0.
    pub part_number: u32,
    /// How many parts.
    pub total_parts: u32,
    /// The same for every part of one transition (Convex sends the total length).
    pub transition_id: String,
}

/// `MutationResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationResponse {
    /// The request's id.
    pub request_id: u32,
    /// Whether the mutation committed.
    pub success: bool,
    /// The return value (Convex JSON) on success, the error message (a string) on failure.
    pub result: Json,
    /// The commit's timestamp on success; null on failure. The client resolves the
    /// mutation once a transition reaches it.
    pub ts: Option<SyncTimestamp>,
    /// Log lines.
    pub log_lines: Vec<String>,
    /// The data of a user error, if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<Json>,
}

/// `ActionResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResponse {
    /// The request's id.
    pub request_id: u32,
    /// Whether the action returned `Ok`.
    pub success: bool,
    /// The return value on success, the error message on failure.
    pub result: Json,
    /// Log lines.
    pub log_lines: Vec<String>,
    /// The data of a user error, if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<Json>,
}

/// `AuthError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthError {
    /// What was wrong with the token.
    pub error: String,
    /// The identity version of the last transition sent.
    pub base_version: Option<u32>,
    /// Whether an `Authenticate` caused it (false: the identity expired).
    pub auth_update_attempted: bool,
}

/// Splits a transition's JSON text into `TransitionChunk`s of at most `max_bytes` bytes
/// each, cut on character boundaries, for clients that accept chunks; one part if it fits.
/// Joining the chunks' text in order gives `json` back. `max_bytes` below 4 counts as 4 (a
/// character is at most 4 bytes).
pub fn split_transition(json: &str, max_bytes: usize) -> Vec<TransitionChunk> {
    let max_bytes = max_bytes.max(4);
    let mut parts = Vec::new();
    let mut rest = json;
    while !rest.is_empty() {
        let mut end = rest.len().min(max_bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part.to_owned());
        rest = tail;
    }
    if parts.is_empty() {
        parts.push(String::new());
    }
    let total = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let id = json.len().to_string();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| TransitionChunk {
            chunk,
            part_number: u32::try_from(i).unwrap_or(u32::MAX),
            total_parts: total,
            transition_id: id.clone(),
        })
        .collect()
}

fn to_json<T: Serialize>(message: &T) -> String {
    // Serializing these types cannot fail: every map key is a string and no `Serialize`
    // impl here returns an error.
    serde_json::to_string(message).unwrap_or_else(|e| {
        format!(
            r#"{{"type":"FatalError","error":"could not encode a message: {}"}}"#,
            e.to_string().replace(['"', '\\'], "'")
        )
    })
}

/// A frame the protocol refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sync message: {message}")]
#[non_exhaustive]
pub struct ProtocolError {
    /// What was wrong.
    pub message: String,
}

impl ProtocolError {
    fn invalid(message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_base64_of_8_little_endian_bytes() {
        assert_eq!(SyncTimestamp(0).to_string(), "AAAAAAAAAAA=");
        assert_eq!(SyncTimestamp(1).to_string(), "AQAAAAAAAAA=");
        assert_eq!(SyncTimestamp(u64::MAX).to_string(), "//////////8=");
        assert_eq!(SyncTimestamp::decode("AQAAAAAAAAA="), Ok(SyncTimestamp(1)));
        // 7 and 9 bytes, not base64, unpadded.
        for bad in [
            "AAAAAAAAAA==",
            "AAAAAAAAAAAA",
            "AAAAAAAAAAAAAA==",
            "not base64!",
            "",
        ] {
            assert!(SyncTimestamp::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_frames_the_official_client_sends_parse() {
        let frames = [
            r#"{"type":"Connect","sessionId":"3f2a","connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1724000000000}"#,
            r#"{"type":"Connect","sessionId":"3f2a","connectionCount":2,"lastCloseReason":null,"maxObservedTimestamp":"AQAAAAAAAAA=","clientTs":1.5}"#,
            r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{}]}]}"#,
            r#"{"type":"ModifyQuerySet","baseVersion":1,"newVersion":2,"modifications":[{"type":"Remove","queryId":0},{"type":"Add","queryId":1,"udfPath":"m:p","args":[{"n":{"$integer":"AQAAAAAAAAA="}}],"journal":null}]}"#,
            r#"{"type":"Authenticate","tokenType":"User","value":"eyJ","baseVersion":0}"#,
            r#"{"type":"Authenticate","tokenType":"None","baseVersion":1}"#,
            r#"{"type":"Authenticate","tokenType":"Admin","value":"key","impersonating":{"subject":"u"},"baseVersion":0}"#,
            r#"{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}"#,
            r#"{"type":"Action","requestId":1,"udfPath":"messages:act","args":[{}]}"#,
            r#"{"type":"Event","eventType":"ClientConnect","event":[1,2]}"#,
        ];
        for frame in frames {
            let message = ClientMessage::parse(frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
            // And it survives its own encoding.
            assert_eq!(
                ClientMessage::parse(&message.to_json()),
                Ok(message),
                "{frame}"
            );
        }
        let ClientMessage::Authenticate(auth) =
            ClientMessage::parse(frames[4]).unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("not Authenticate")
        };
        assert_eq!(
            auth.token,
            AuthToken::User {
                value: "eyJ".into()
            }
        );
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let cases = [
            ("not json", "expected"),
            (r#"{"type":"Nope"}"#, "Nope"),
            (r#"{"type":"Connect","connectionCount":0}"#, "sessionId"),
            (
                r#"{"type":"Mutation","requestId":-1,"udfPath":"a:b","args":[{}]}"#,
                "-1",
            ),
            (
                r#"{"type":"Mutation","requestId":4294967296,"udfPath":"a:b","args":[{}]}"#,
                "4294967296",
            ),
            (
                r#"{"type":"Connect","sessionId":"s","connectionCount":0,"maxObservedTimestamp":"AAAA"}"#,
                "3 bytes",
            ),
            (
                r#"{"type":"Authenticate","tokenType":"Bearer","baseVersion":0}"#,
                "Bearer",
            ),
            (r#"[]"#, "invalid"),
        ];
        for (frame, needle) in cases {
            let err = ClientMessage::parse(frame)
                .err()
                .unwrap_or_else(|| panic!("{frame} parsed"));
            assert!(err.to_string().contains(needle), "{frame}: {err}");
        }
    }

    #[test]
    fn server_frames_have_the_client_s_field_names() {
        let version = StateVersion {
            query_set: 1,
            identity: 0,
            ts: SyncTimestamp(1),
        };
        let transition = ServerMessage::Transition(Transition {
            start_version: StateVersion::INITIAL,
            end_version: version,
            modifications: vec![
                StateModification::QueryUpdated {
                    query_id: 0,
                    value: serde_json::json!([1]),
                    log_lines: vec!["[LOG] 'hi'".into()],
                    journal: None,
                },
                StateModification::QueryFailed {
                    query_id: 1,
                    error_message: "boom".into(),
                    log_lines: vec![],
                    journal: None,
                    error_data: Some(serde_json::json!({"code": 1})),
                },
                StateModification::QueryRemoved { query_id: 2 },
            ],
            client_clock_skew: None,
            server_ts: Some(5),
        });
        assert_eq!(
            transition.to_json(),
            concat!(
                r#"{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},"#,
                r#""endVersion":{"querySet":1,"identity":0,"ts":"AQAAAAAAAAA="},"modifications":["#,
                r#"{"type":"QueryUpdated","queryId":0,"value":[1],"logLines":["[LOG] 'hi'"],"journal":null},"#,
                r#"{"type":"QueryFailed","queryId":1,"errorMessage":"boom","logLines":[],"journal":null,"errorData":{"code":1}},"#,
                r#"{"type":"QueryRemoved","queryId":2}],"clientClockSkew":null,"serverTs":5}"#
            )
        );
        let failed = ServerMessage::MutationResponse(MutationResponse {
            request_id: 3,
            success: false,
            result: "nope".into(),
            ts: None,
            log_lines: vec![],
            error_data: None,
        });
        assert_eq!(
            failed.to_json(),
            r#"{"type":"MutationResponse","requestId":3,"success":false,"result":"nope","ts":null,"logLines":[]}"#
        );
        let auth = ServerMessage::AuthError(AuthError {
            error: "expired".into(),
            base_version: Some(1),
            auth_update_attempted: true,
        });
        assert_eq!(
            auth.to_json(),
            r#"{"type":"AuthError","error":"expired","baseVersion":1,"authUpdateAttempted":true}"#
        );
        assert_eq!(
            ServerMessage::FatalError { error: "x".into() }.to_json(),
            r#"{"type":"FatalError","error":"x"}"#
        );
        for message in [transition, failed, auth] {
            assert_eq!(ServerMessage::parse(&message.to_json()), Ok(message));
        }
    }

    #[test]
    fn single_argument_wants_one_object() {
        assert!(single_argument(&[serde_json::json!({})]).is_ok());
        assert!(single_argument(&[]).is_err());
        assert!(single_argument(&[serde_json::json!({}), serde_json::json!({})]).is_err());
    }

    #[test]
    fn an_empty_transition_is_one_empty_chunk() {
        let parts = split_transition("", 10);
        assert_eq!(parts.len(), 1);
        assert_eq!((parts[0].total_parts, parts[0].chunk.as_str()), (1, ""));
    }
}
