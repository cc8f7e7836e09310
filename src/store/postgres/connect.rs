//! How the engine's connections are made: in plain text, or with TLS when the URL says
//! `sslmode=require` (with the `tls` feature).

use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use super::PostgresConfig;
use super::classify::{Phase, classify};
use crate::store::StoreError;

/// The TLS side of every connection the store opens: the pool's, the runner's, the
/// migration's.
#[derive(Clone)]
pub(super) enum Connector {
    /// No TLS: `sslmode=disable`, or `prefer` (the default), which convoke takes as plain.
    Plain,
    /// TLS with a verified server certificate: `sslmode=require`.
    #[cfg(feature = "tls")]
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector for `pg_config`'s `sslmode`.
    pub(super) fn new(
        pg_config: &tokio_postgres::Config,
        config: &PostgresConfig,
    ) -> Result<Self, StoreError> {
        match pg_config.get_ssl_mode() {
            SslMode::Require => Self::tls(config),
            _ => Ok(Connector::Plain),
        }
    }

    #[cfg(not(feature = "tls"))]
    fn tls(_config: &PostgresConfig) -> Result<Self, StoreError> {
        Err(StoreError::Engine(
            "the PostgreSQL URL asks for TLS (sslmode=require), but this build of convoke has \
             no TLS: enable convoke's `tls` feature"
                .to_owned(),
        ))
    }

    #[cfg(feature = "tls")]
    fn tls(config: &PostgresConfig) -> Result<Self, StoreError> {
        use std::sync::Arc;

        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let mut roots = rustls::RootCertStore::empty();
        // The system's certificate authorities; a store that cannot be read adds none.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for path in &config.root_certificates {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certificates| certificates.collect())
                .map_err(|e| {
                    StoreError::Engine(format!(
                        "cannot read the root certificates in {}: {e}",
                        path.display()
                    ))
                })?;
            if certificates.is_empty() {
                return Err(StoreError::Engine(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| {
                    StoreError::Engine(format!(
                        "a root certificate in {} is not usable: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Engine(format!("cannot set up TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector::Tls(
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
        ))
    }

    /// A pool manager making connections this way.
    pub(super) fn manager(
        &self,
        pg_config: tokio_postgres::Config,
        manager_config: deadpool_postgres::ManagerConfig,
    ) -> deadpool_postgres::Manager {
        match self {
            Connector::Plain => {
                deadpool_postgres::Manager::from_config(pg_config, NoTls, manager_config)
            }
            #[cfg(feature = "tls")]
            Connector::Tls(tls) => {
                deadpool_postgres::Manager::from_config(pg_config, tls.clone(), manager_config)
            }
        }
    }

    /// A connection of its own, outside the pool, driven by a task on the current tokio
    /// runtime; the task ends when the connection does.
    pub(super) async fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
        let fail = |e: tokio_postgres::Error| classify(&e, "", Phase::Begin);
        match self {
            Connector::Plain => {
                let (client, connection) = pg_config.connect(NoTls).await.map_err(fail)?;
                Ok((
                    client,
                    tokio::spawn(async move {
                        let _ = connection.await;
                    }),
                ))
            }
            #[cfg(feature = "tls")]
            Connector::Tls(tls) => {
                let (client, connection) = pg_config.connect(tls.clone()).await.map_err(fail)?;
                Ok((
                    client,
                    tokio::spawn(async move {
                        let _ = connection.await;
                    }),
                ))
            }
        }
    }

    /// A connection of its own that listens: every notification it receives goes to
    /// `notified`. The task ends when the connection does.
    pub(super) async fn connect_listening(
        &self,
        pg_config: &tokio_postgres::Config,
        notified: impl Fn(tokio_postgres::Notification) + Send + 'static,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
        let fail = |e: tokio_postgres::Error| classify(&e, "", Phase::Begin);
        match self {
            Connector::Plain => {
                let (client, connection) = pg_config.connect(NoTls).await.map_err(fail)?;
                Ok((client, tokio::spawn(forward(connection, notified))))
            }
            #[cfg(feature = "tls")]
            Connector::Tls(tls) => {
                let (client, connection) = pg_config.connect(tls.clone()).await.map_err(fail)?;
                Ok((client, tokio::spawn(forward(connection, notified))))
            }
        }
    }
}

/// Drives `connection`, handing its notifications to `notified`.
async fn forward<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notified: impl Fn(tokio_postgres::Notification),
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => notified(n),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}
