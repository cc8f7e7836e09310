//! Interop with the official `convex` npm package: `tests/interop/interop.mjs` runs its
//! `ConvexHttpClient` (and requests shaped like the Nuxt module's helpers) under Node.js
//! against a convoke server on an ephemeral loopback port.
//!
//! Needs `node` and the package: `npm ci --prefix tests/interop` (`.ci/run` does it). This
//! test fails, loudly, when either is missing: it never skips.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use http_support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_convex_client_works_against_convoke() {
    run_script("interop.mjs").await;
}

/// The official `ConvexClient` over the WebSocket sync protocol (`tests/interop/sync.mjs`),
/// then raw-protocol checks of ordering and bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_convex_client_syncs_over_websocket() {
    run_script("sync.mjs").await;
}

/// Runs `tests/interop/<script>` under Node.js against a fresh server; fails with its output.
async fn run_script(script: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let version = Command::new(&node).arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        other => panic!(
            "Node.js is required for the interop test but `{node} --version` failed ({other:?}). \
             Install Node.js 18 or later (or set NODE to its path)."
        ),
    };
    assert!(
        dir.join("node_modules/convex/package.json").is_file()
            && dir.join("node_modules/ws/package.json").is_file(),
        "the `convex` and `ws` npm packages are not installed: run `npm ci --prefix tests/interop` \
         (Node.js {version} found)"
    );

    let snapshot_retention = Duration::from_secs(2);
    let server = spawn_with(|b| {
        b.auth(auth_config())
            .snapshot_retention(snapshot_retention)
            .sync(convoke::http::SyncConfig::default().ping_interval(Duration::from_millis(500)))
    })
    .await;
    let mut expired = claims("ada");
    expired["exp"] = json!(now() - 60);

    let mut child = Command::new(&node)
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("CONVOKE_URL", server.url())
        .env("CONVOKE_TOKEN", token("ada"))
        .env("CONVOKE_BAD_TOKEN", rs256("rsa1", &expired))
        // For tokens the script signs itself (with `exp` a moment ahead of its own clock).
        .env("CONVOKE_CLAIMS", claims("ada").to_string())
        .env("CONVOKE_KEY_DER", http_support::fixture("rsa1.der"))
        .env(
            "CONVOKE_SNAPSHOT_MS",
            snapshot_retention.as_millis().to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    // The server runs on this runtime: wait for node without blocking it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("tests/interop/{script} did not finish within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    println!("node {version}\n{out}{err}");
    server.shutdown().await.unwrap();
    assert!(
        status.success(),
        "tests/interop/{script} failed ({status}):\n{out}{err}"
    );
    assert!(out.contains("checks passed"), "{out}{err}");
}
