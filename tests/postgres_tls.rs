//! TLS to PostgreSQL: a URL with `sslmode=require`.
//!
//! With convoke's `tls` feature (`cargo test --features tls --test postgres_tls`, as
//! `.ci/run` does), the runtime connects with TLS and verifies the server's certificate:
//!
//! - trusting the server's own certificate (read from the server's `ssl_cert_file`, this
//!   machine's server being the test server), every connection the runtime opens is
//!   encrypted, as PostgreSQL's `pg_stat_ssl` shows;
//! - trusting no authority that vouches for the server's certificate, the runtime refuses
//!   the server with a clear error, and so it does when the host name is not the one the
//!   certificate names.
//!
//! Without the feature, such a URL is refused at once with an error naming the feature.
//!
//! The server is `CONVOKE_TEST_POSTGRES_TLS_URL`, by default
//! `postgres://postgres@localhost:5432/test?sslmode=require` (Debian's default server
//! certificate names `localhost`).

#[path = "support/child.rs"]
mod child;
#[path = "support/postgres.rs"]
mod postgres;

use std::time::Duration;

use convoke::store::{PostgresConfig, PostgresStore};
use convoke::{Runtime, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "notes")]
pub struct Note {
    pub text: String,
}

mod notes {
    use super::Note;
    use convoke::{Id, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&Note { text }).await?)
    }

    #[procedure(query)]
    pub async fn get(ctx: &QueryCtx<'_>, id: Id<Note>) -> Result<Option<String>> {
        Ok(ctx.db().get(id).await?.map(|note| note.into_inner().text))
    }
}

/// How many of the connections of `application` are encrypted, and how many there are.
fn encrypted_connections(application: &str) -> (u64, u64) {
    let counts = postgres::query_text(&format!(
        "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = '{application}'"
    ))
    .expect("the connections' counts");
    let (encrypted, all) = counts.split_once('/').expect("two counts");
    (
        encrypted.parse().expect("a count"),
        all.parse().expect("a count"),
    )
}

/// `url` with `application_name` set, to find its connections in `pg_stat_activity`.
fn with_application(url: &str, application: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={application}")
}

/// Builds a runtime on `config`, commits and reads a note, and keeps the runtime (and its
/// pool's connections) open while `check` runs.
fn commit_and_read(config: PostgresConfig, check: impl FnOnce()) {
    let rt = Runtime::builder()
        .storage(PostgresStore::with_config(config).expect("a store"))
        .build()
        .expect("a runtime (the schema is created through it)");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let id = rt
            .mutation(notes::add, "a note".to_owned())
            .await
            .expect("a commit");
        let text = rt.query(notes::get, id).await.expect("a read");
        assert_eq!(text.as_deref(), Some("a note"));
        // Let the snapshot's connection go back to the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    check();
    drop(rt);
}

fn tls_url() -> String {
    std::env::var("CONVOKE_TEST_POSTGRES_TLS_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/test?sslmode=require".to_owned())
}

#[cfg(not(feature = "tls"))]
#[test]
fn sslmode_require_without_the_tls_feature_is_a_clear_error() {
    let error = PostgresStore::connect(&tls_url()).expect_err("no TLS in this build");
    let message = error.to_string();
    assert!(
        message.contains("sslmode=require") && message.contains("`tls` feature"),
        "{message}"
    );
}

#[test]
fn sslmode_prefer_and_disable_connect_in_plain_text() {
    if !postgres::available("sslmode_prefer_and_disable_connect_in_plain_text") {
        return;
    }
    for mode in ["prefer", "disable"] {
        let schema = postgres::fresh_schema("convoke_plain");
        let _guard = postgres::DropSchema(schema.clone());
        let application = format!("convoke_plain_{mode}_{}", std::process::id());
        let url = format!(
            "{}?sslmode={mode}",
            postgres::url().split('?').next().unwrap_or("")
        );
        let mut config = PostgresConfig::new(with_application(&url, &application));
        config.schema = schema.clone();
        commit_and_read(config, || {
            let (encrypted, all) = encrypted_connections(&application);
            assert!(all > 0, "the runtime has connections open");
            assert_eq!(encrypted, 0, "sslmode={mode} connects in plain text");
        });
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use super::*;

    use std::ffi::OsStr;

    /// The server's certificate file, if the server has TLS on and the file is readable
    /// here; otherwise reports the test as not run (or fails it when PostgreSQL is
    /// required).
    fn server_certificate(test: &str) -> Option<String> {
        if !postgres::available(test) {
            return None;
        }
        let on = postgres::query_text("SHOW ssl").as_deref() == Some("on");
        let file = postgres::query_text("SHOW ssl_cert_file")
            .filter(|f| std::path::Path::new(f).is_file() && std::fs::read(f).is_ok());
        match (on, file) {
            (true, Some(file)) => Some(file),
            _ => {
                let why = format!(
                    "{test}: the PostgreSQL server has TLS off, or its certificate file is not readable here"
                );
                if std::env::var("CONVOKE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("{why}");
                }
                eprintln!("\nNOT RUN: {why}");
                None
            }
        }
    }

    fn tls_config(schema: &str, application: &str) -> PostgresConfig {
        let mut config = PostgresConfig::new(with_application(&tls_url(), application));
        config.schema = schema.to_owned();
        config
    }

    #[test]
    fn connections_are_encrypted_and_the_server_is_verified() {
        let test = "connections_are_encrypted_and_the_server_is_verified";
        let Some(certificate) = server_certificate(test) else {
            return;
        };
        let schema = postgres::fresh_schema("convoke_tls");
        let _guard = postgres::DropSchema(schema.clone());
        let application = format!("convoke_tls_{}", std::process::id());
        let mut config = tls_config(&schema, &application);
        config.root_certificates = vec![certificate.into()];
        commit_and_read(config, || {
            let (encrypted, all) = encrypted_connections(&application);
            assert!(all > 0, "the runtime has connections open");
            assert_eq!(encrypted, all, "every connection is encrypted");
        });
    }

    /// The error building a runtime on `config` gives (the migration's connection is the
    /// first).
    fn build_error(config: PostgresConfig) -> String {
        let store = PostgresStore::with_config(config).expect("a TLS store");
        match Runtime::builder().storage(store).build() {
            Ok(_) => panic!("the connection was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_host_name_the_certificate_does_not_name_is_refused() {
        let test = "a_host_name_the_certificate_does_not_name_is_refused";
        let Some(certificate) = server_certificate(test) else {
            return;
        };
        let schema = postgres::fresh_schema("convoke_tls_refused");
        let _guard = postgres::DropSchema(schema.clone());
        // The right authority, but the certificate names `localhost`, not `127.0.0.1`.
        let mut config = tls_config(&schema, "convoke_tls_refused");
        assert!(
            config.url.contains("@localhost"),
            "this test swaps the host `localhost` of the TLS URL for `127.0.0.1`: {}",
            config.url
        );
        config.url = config.url.replace("@localhost", "@127.0.0.1");
        config.root_certificates = vec![certificate.into()];
        let message = build_error(config);
        assert!(message.contains("certificate"), "{message}");
    }

    /// Set by [`an_unknown_issuer_is_refused`] for its child process.
    const UNTRUSTED_SCHEMA_VAR: &str = "CONVOKE_TLS_UNTRUSTED_SCHEMA";

    /// The system's authorities are read from `SSL_CERT_FILE` / `SSL_CERT_DIR` when set:
    /// this child process runs with both pointing at nothing, so no authority vouches for
    /// the server (a machine may list its own self-signed certificate among its
    /// authorities, as Debian's `/etc/ssl/certs` does).
    #[test]
    #[ignore = "run by an_unknown_issuer_is_refused as a child process"]
    fn unknown_issuer_child() {
        let Ok(schema) = std::env::var(UNTRUSTED_SCHEMA_VAR) else {
            return;
        };
        let message = build_error(tls_config(&schema, "convoke_tls_untrusted"));
        assert!(message.contains("certificate"), "{message}");
        println!("\nrefused: {message}");
    }

    #[test]
    fn an_unknown_issuer_is_refused() {
        if server_certificate("an_unknown_issuer_is_refused").is_none() {
            return;
        }
        let schema = postgres::fresh_schema("convoke_tls_untrusted");
        let _guard = postgres::DropSchema(schema.clone());
        let empty = std::env::temp_dir().join(format!("convoke-no-ca-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("an empty directory");
        let child = child::spawn_test_child_with(
            "with_tls::unknown_issuer_child",
            &[
                (UNTRUSTED_SCHEMA_VAR, OsStr::new(&schema)),
                ("SSL_CERT_FILE", OsStr::new("/dev/null")),
                ("SSL_CERT_DIR", empty.as_os_str()),
            ],
        );
        let output = child.wait_with_output().expect("the child");
        let _ = std::fs::remove_dir(&empty);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("refused: "),
            "the child did not see the connection refused:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn a_missing_root_certificate_file_is_a_clear_error() {
        let mut config = PostgresConfig::new(tls_url());
        config.root_certificates = vec!["/nonexistent/ca.pem".into()];
        let error = PostgresStore::with_config(config).expect_err("no such file");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }
}
