//! Helpers of the HTTP tests: servers on loopback, raw requests, signed tokens.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use convoke::Runtime;
use convoke::http::{AuthConfig, AuthProvider, RunningServer, Server, ServerBuilder};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value as Json, json};

pub const ISSUER: &str = "https://auth.test.convoke";
pub const APP_ID: &str = "convoke-tests";
pub const DEV_SECRET: &[u8] = b"development secret, never for production";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

/// The auth config most tests use: RS256 and ES256 keys from the inline JWKS.
pub fn auth_config() -> AuthConfig {
    let jwks = std::fs::read_to_string(fixture("jwks.json")).expect("fixture jwks.json");
    AuthConfig::new().provider(AuthProvider::jwks(ISSUER, APP_ID, &jwks).expect("valid JWKS"))
}

/// Starts a server on an ephemeral loopback port.
pub async fn spawn_with(configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> RunningServer {
    let runtime = Runtime::in_memory().expect("runtime");
    let builder = configure(Server::builder(runtime));
    builder
        .build()
        .await
        .expect("server builds")
        .spawn("127.0.0.1:0")
        .await
        .expect("server binds")
}

/// A server with the test auth config, in production mode.
pub async fn spawn() -> RunningServer {
    spawn_with(|b| b.auth(auth_config())).await
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Standard claims for `subject`, valid for an hour.
pub fn claims(subject: &str) -> Json {
    json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": APP_ID,
        "iat": now(),
        "exp": now() + 3600,
        "email": format!("{subject}@example.com"),
        "name": subject,
    })
}

/// Signs `claims` with the RSA key `rsa1` (kid `rsa-1`) or `rsa2` (kid `rsa-2`).
pub fn rs256(key: &str, claims: &Json) -> String {
    let der = std::fs::read(fixture(&format!("{key}.der"))).expect("fixture key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.replace("rsa", "rsa-"));
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).expect("sign RS256")
}

/// Signs `claims` with the P-256 key (kid `ec-1`).
pub fn es256(claims: &Json) -> String {
    let der = std::fs::read(fixture("ec.der")).expect("fixture key");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&der)).expect("sign ES256")
}

/// Signs `claims` with the development HS256 secret.
pub fn hs256(claims: &Json) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(DEV_SECRET),
    )
    .expect("sign HS256")
}

/// A token for `subject` signed with `rsa1`.
pub fn token(subject: &str) -> String {
    rs256("rsa1", &claims(subject))
}

/// A raw HTTP response: status and JSON body (or the text as a JSON string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Json,
}

/// POSTs `body` (raw bytes) to `url` + `endpoint`, with optional bearer token.
pub async fn post_raw(
    server: &RunningServer,
    endpoint: &str,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("{}{endpoint}", server.url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    reply(request.send().await.expect("request sent")).await
}

/// POSTs JSON.
pub async fn post(
    server: &RunningServer,
    endpoint: &str,
    body: Json,
    token: Option<&str>,
) -> Reply {
    post_raw(server, endpoint, body.to_string(), token).await
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
    Reply {
        status,
        content_type,
        body,
    }
}

/// Asserts a 4xx JSON error whose message contains `needle`.
pub fn assert_client_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{reply:?}"
    );
    assert_eq!(reply.body["status"], "error", "{reply:?}");
    let message = reply.body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
    assert_eq!(reply.body["message"], reply.body["errorMessage"]);
}
