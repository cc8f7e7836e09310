//! Interop with the official `convex` npm package: `tests/interop/interop.mjs` runs its
//! `ConvexHttpClient` (and requests shaped like the Nuxt module's helpers) under Node.js
//! against a convoke server on an ephemeral loopback port.
//!
//! Needs `node` and the package: `npm ci --prefix tests/interop` (`.ci/run` does it). This
//! test fails, loudly, when either is missing: it never skips.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use convoke::Runtime;
use convoke::http::{Server, ServerBuilder};
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

/// The official `ConvexClient` across a restart of the server (`tests/interop/reconnect.mjs`):
/// the script prints `RESTART`, the server shuts down (closing its sync sessions) and comes
/// back on the same port with the same runtime, the script reads `UP`, and its subscriptions
/// and mutations must work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_convex_client_reconnects_after_a_server_restart() {
    run_script("reconnect.mjs").await;
}

fn server(runtime: &Runtime) -> ServerBuilder {
    Server::builder(runtime.clone())
        .auth(auth_config())
        .snapshot_retention(SNAPSHOT_RETENTION)
        .sync(convoke::http::SyncConfig::default().ping_interval(Duration::from_millis(500)))
}

const SNAPSHOT_RETENTION: Duration = Duration::from_secs(2);

/// Runs `tests/interop/<script>` under Node.js against a fresh server; fails with its output.
/// A line `RESTART` from the script restarts the server (answered `UP` on its stdin).
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

    let runtime = Runtime::in_memory().expect("runtime");
    let mut server = server(&runtime)
        .build()
        .await
        .expect("server builds")
        .spawn("127.0.0.1:0")
        .await
        .expect("server binds");
    let addr = server.local_addr();
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
            SNAPSHOT_RETENTION.as_millis().to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut stdin = child.stdin.take().expect("node's stdin");
    let stdout = child.stdout.take().expect("node's stdout");
    let stderr = child.stderr.take().expect("node's stderr");
    // Node's output, a line at a time, read on threads: the server runs on this runtime.
    let (lines, mut from_node) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = std::io::BufReader::new(stderr).read_to_string(&mut err);
        err
    });
    let mut out = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let line = tokio::time::timeout_at(deadline, from_node.recv()).await;
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                panic!("tests/interop/{script} did not finish within 2 minutes:\n{out}");
            }
        };
        if line == "RESTART" {
            tokio::time::timeout(Duration::from_secs(20), server.shutdown())
                .await
                .expect("the server shuts down with sync sessions open")
                .expect("the server shuts down cleanly");
            server = server_on(&runtime, addr).await;
            writeln!(stdin, "UP").expect("tell node");
            out.push_str("(server restarted)\n");
            continue;
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().expect("wait for node");
    let err = err.join().unwrap_or_default();
    println!("node {version}\n{out}{err}");
    server.shutdown().await.unwrap();
    assert!(
        status.success(),
        "tests/interop/{script} failed ({status}):\n{out}{err}"
    );
    assert!(out.contains("checks passed"), "{out}{err}");
}

/// A server on `addr` again (retrying while the port is still held).
async fn server_on(runtime: &Runtime, addr: std::net::SocketAddr) -> convoke::http::RunningServer {
    for _ in 0..50 {
        match server(runtime)
            .build()
            .await
            .expect("server builds")
            .spawn(addr)
            .await
        {
            Ok(server) => return server,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("could not bind {addr} again");
}
