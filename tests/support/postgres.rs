//! The PostgreSQL server the PostgreSQL tests use, and a fresh schema per test.
//!
//! The server is `CONVOKE_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached, each test that
//! needs it says so on the terminal and does not run, unless `CONVOKE_REQUIRE_POSTGRES=1`
//! (as `.ci/run` sets): then it fails.

#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use convoke::store::{PostgresConfig, PostgresStore};

/// The test server's URL.
pub fn url() -> String {
    std::env::var("CONVOKE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the test server accepts connections; if not, reports `test` as not run (or
/// fails it, when PostgreSQL is required).
pub fn available(test: &str) -> bool {
    let url = url();
    let reachable = address(&url)
        .and_then(|addr| addr.to_socket_addrs().ok()?.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return true;
    }
    if std::env::var("CONVOKE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: PostgreSQL is required (CONVOKE_REQUIRE_POSTGRES=1) but {url} is not reachable"
        );
    }
    // Straight to the terminal: the test harness captures `eprintln!` of passing tests.
    // One write, on a line of its own, so that parallel tests do not split it.
    let line = format!(
        "\nNOT RUN: {test}: no PostgreSQL server at {url} (start one, or set CONVOKE_TEST_POSTGRES_URL)\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// `host:port` of a `postgres://` URL.
fn address(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    Some(if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    })
}

/// A schema name no other test (in this or another process) uses.
pub fn fresh_schema(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on the test server in `schema`.
pub fn store(schema: &str) -> PostgresStore {
    PostgresStore::with_config(config(schema)).expect("a PostgreSQL store")
}

/// The test server's configuration, in `schema`, polling every 50 ms.
pub fn config(schema: &str) -> PostgresConfig {
    let mut config = PostgresConfig::new(url());
    config.schema = schema.to_owned();
    config.poll_interval = Duration::from_millis(50);
    config
}

/// Drops its schema (and every table in it) when dropped.
pub struct DropSchema(pub String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        run_sql(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0));
    }
}

/// Runs `f` with a client of the test server, on a connection, a thread and a runtime of
/// its own (so that it may be called from inside or outside a tokio runtime).
pub fn with_client<T: Send + 'static>(
    f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let url = url();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            f(&client).await
        })
    })
    .join()
    .map_err(|_| "the thread running the SQL panicked".to_owned())?
}

/// Runs `sql` on the test server; a failure is written to stderr.
pub fn run_sql(sql: &str) {
    let statement = sql.to_owned();
    let outcome = with_client(async move |client| {
        client
            .batch_execute(&statement)
            .await
            .map_err(|e| e.to_string())
    });
    if let Err(e) = outcome {
        let _ = writeln!(std::io::stderr(), "could not run `{sql}`: {e}");
    }
}

/// The first column of the first row `sql` returns on the test server, as text.
pub fn query_text(sql: &str) -> Option<String> {
    let sql = sql.to_owned();
    with_client(async move |client| {
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get::<_, Option<String>>(0))
    })
    .ok()
    .flatten()
}
