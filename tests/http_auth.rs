//! Token auth over HTTP: providers with keys inline, in a file and at a URL (with key
//! rotation), RS256 and ES256, HS256 only in development, the checks on issuer, audience,
//! expiry and signature, and the identity procedures see.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use convoke::Runtime;
use convoke::http::{AuthConfig, AuthProvider, Server};
use http_support::*;
use serde_json::json;

async fn whoami(server: &convoke::http::RunningServer, token: &str) -> Reply {
    post(
        server,
        "/api/query",
        json!({ "path": "app:whoami", "args": {} }),
        Some(token),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_tokens_reach_user_identity() {
    let server = spawn().await;
    for token in [token("ada"), es256(&claims("ada"))] {
        let r = whoami(&server, &token).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.body["value"],
            json!({
                "subject": "ada",
                "issuer": ISSUER,
                "token_identifier": format!("{ISSUER}|ada"),
                "email": "ada@example.com",
            })
        );
    }
    // No token: anonymous.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:whoami", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], json!(null));

    // The identity flows into nested calls (action → query) and into writes.
    let r = post(
        &server,
        "/api/action",
        json!({ "path": "app:whoami_nested", "args": {} }),
        Some(&token("grace")),
    )
    .await;
    assert_eq!(r.body["value"]["subject"], "grace", "{r:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_with_a_clear_message() {
    let server = spawn().await;
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims("ada");
        f(&mut c);
        rs256("rsa1", &c)
    };
    // Change one character inside the signature (the last one may only carry padding bits).
    let tampered = {
        let token = token("ada");
        let at = token.rfind('.').unwrap() + 10;
        let replacement = if &token[at..=at] == "A" { "B" } else { "A" };
        format!("{}{replacement}{}", &token[..at], &token[at + 1..])
    };
    let cases = [
        (
            with(&|c| c["exp"] = json!(now() - 30)),
            "the auth token has expired",
        ),
        (with(&|c| c["nbf"] = json!(now() + 600)), "not valid yet"),
        (
            with(&|c| c["aud"] = json!("someone-else")),
            "does not match the application id 'convoke-tests'",
        ),
        (
            with(&|c| c["iss"] = json!("https://evil.example.com")),
            "no auth provider is configured for the token's issuer 'https://evil.example.com'",
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            "'sub'",
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "'exp'",
        ),
        // Signed by a key the provider does not have.
        (
            rs256("rsa2", &claims("ada")),
            "no RS256 key with kid 'rsa-2'",
        ),
        (tampered, "signature is invalid"),
        // HS256 is not accepted from a JWKS provider.
        (
            hs256(&claims("ada")),
            "signed with HS256, which its provider does not accept",
        ),
        ("a.b.c".to_owned(), "not a valid JWT"),
    ];
    for (token, needle) in cases {
        let r = whoami(&server, &token).await;
        assert_client_error(&r, 401, needle);
    }
    // Still serving.
    assert_eq!(whoami(&server, &token("ada")).await.status, 200);
    server.shutdown().await.unwrap();

    // A server without providers refuses tokens rather than ignoring them.
    let bare = spawn_with(|b| b).await;
    assert_client_error(
        &whoami(&bare, &token("ada")).await,
        401,
        "no auth provider configured",
    );
    bare.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_only_in_development() {
    let provider = AuthProvider::hs256_for_development(ISSUER, APP_ID, DEV_SECRET);
    let err = Server::builder(Runtime::in_memory().unwrap())
        .auth(AuthConfig::new().provider(provider.clone()))
        .build()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("development only"), "{err}");

    let dev = spawn_with(|b| {
        b.development(true)
            .auth(AuthConfig::new().provider(provider))
    })
    .await;
    let r = whoami(&dev, &hs256(&claims("dev"))).await;
    assert_eq!(r.body["value"]["subject"], "dev", "{r:?}");
    dev.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_file() {
    let provider = AuthProvider::jwks_file(ISSUER, APP_ID, fixture("jwks.json"));
    let server = spawn_with(|b| b.auth(AuthConfig::new().provider(provider))).await;
    assert_eq!(whoami(&server, &es256(&claims("ada"))).await.status, 200);
    server.shutdown().await.unwrap();

    let missing = AuthProvider::jwks_file(ISSUER, APP_ID, fixture("no-such-file.json"));
    let err = Server::builder(Runtime::in_memory().unwrap())
        .auth(AuthConfig::new().provider(missing))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-file.json"), "{err}");
}

/// A JWKS endpoint whose key set can be swapped (a key rotation), counting fetches.
async fn jwks_endpoint(
    keys: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            let fetches = fetches.clone();
            async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = keys.lock().unwrap().clone();
                ([("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_url_are_cached_and_refreshed_on_an_unknown_kid() {
    let keys = Arc::new(Mutex::new(
        std::fs::read_to_string(fixture("jwks.json")).unwrap(),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (url, endpoint) = jwks_endpoint(keys.clone(), fetches.clone()).await;
    let provider = AuthProvider::jwks_url(ISSUER, APP_ID, url);
    let server = spawn_with(|b| b.auth(AuthConfig::new().provider(provider))).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "fetched at start-up");

    for _ in 0..3 {
        assert_eq!(whoami(&server, &token("ada")).await.status, 200);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "cached");

    // The provider rotates in a new key: the first token with its kid makes the server
    // fetch again, once.
    *keys.lock().unwrap() = std::fs::read_to_string(fixture("jwks_rotated.json")).unwrap();
    let rotated = rs256("rsa2", &claims("ada"));
    let r = whoami(&server, &rotated).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(whoami(&server, &rotated).await.status, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "cached again");

    // Made-up kids cost at most one fetch per interval.
    for i in 0..5 {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        let der = std::fs::read(fixture("rsa1.der")).unwrap();
        let forged = jsonwebtoken::encode(
            &header,
            &claims("ada"),
            &jsonwebtoken::EncodingKey::from_rsa_der(&der),
        )
        .unwrap();
        assert_client_error(&whoami(&server, &forged).await, 401, "made-up");
    }
    assert!(fetches.load(Ordering::SeqCst) <= 3, "{fetches:?}");
    server.shutdown().await.unwrap();
    endpoint.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_key_url_gives_503_not_401() {
    // A port with nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let provider =
        AuthProvider::jwks_url(ISSUER, APP_ID, format!("http://127.0.0.1:{port}/jwks.json"));
    let server = spawn_with(|b| b.auth(AuthConfig::new().provider(provider))).await;
    let r = whoami(&server, &token("ada")).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.body["code"], "AuthProviderUnavailable");
    assert!(
        r.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cannot load the keys")
    );
    // Anonymous calls are unaffected.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:whoami", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    server.shutdown().await.unwrap();
}
