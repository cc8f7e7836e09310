//! The engine's configuration: [`PostgresConfig`], and the check of its schema name.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(doc)]
use super::PostgresStore;
#[cfg(doc)]
use crate::store::StoreError;

/// How a [`PostgresStore`] connects, and its limits.
///
/// ```
/// use std::time::Duration;
/// use convoke::store::PostgresConfig;
/// let mut config = PostgresConfig::new("postgres://app@db.internal/prod");
/// config.schema = "shop".to_owned();
/// config.max_connections = 32;
/// assert_eq!(config.acquire_timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// The database, as a `postgres://user:password@host:port/database` URL or a
    /// `host=.. user=..` string. With `sslmode=require` (as in
    /// `postgres://app@db.example.com/app?sslmode=require`) every connection uses TLS and
    /// the server's certificate is verified, chain and host name, against the system's
    /// certificate authorities and [`root_certificates`](Self::root_certificates); this needs
    /// convoke's `tls` feature. Otherwise (`sslmode=prefer`, the default, or `disable`) the
    /// connections are plain: use them on a trusted network or a local socket.
    pub url: String,
    /// The PostgreSQL schema holding convoke's tables (default `convoke`); created if
    /// missing. Runtimes sharing data use the same one.
    pub schema: String,
    /// Connections in the pool (default 16). Each running transaction holds one.
    pub max_connections: usize,
    /// How long opening a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long a transaction waits for a free connection before failing with
    /// [`StoreError::Unavailable`] (default 5 s).
    pub acquire_timeout: Duration,
    /// The longest a single statement may run (default 30 s).
    pub statement_timeout: Duration,
    /// How often the scheduler looks for due jobs other processes scheduled (default 1 s;
    /// jobs this process schedules wake it at once).
    pub poll_interval: Duration,
    /// PEM files of certificate authorities to trust for TLS besides the system's, such as
    /// a hosted database's own CA bundle or a self-signed server certificate (default
    /// none). Used with `sslmode=require` only.
    pub root_certificates: Vec<PathBuf>,
}

impl PostgresConfig {
    /// The defaults, for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            schema: "convoke".to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            root_certificates: Vec::new(),
        }
    }
}

pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}
