//! Graceful shutdown: stop accepting connections, let in-flight requests finish.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ServerError;

/// Resolves on Ctrl-C, or on SIGTERM on Unix: pass it to
/// [`Server::serve`](super::Server::serve) to shut down gracefully when the process is asked
/// to stop.
///
/// If the signal handlers cannot be installed, it never resolves (and logs why).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(target: "convoke::http", "cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::error!(target: "convoke::http", "cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!(target: "convoke::http", "shutting down: finishing in-flight requests");
}

/// A server running in a background task, from [`Server::spawn`](super::Server::spawn).
///
/// Dropping it does not stop the server; call [`shutdown`](RunningServer::shutdown).
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    pub(crate) fn new(
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), ServerError>>,
    ) -> Self {
        RunningServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// The address the server listens on (with the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's URL, `http://127.0.0.1:<port>`: the deployment URL for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, waits for in-flight requests to finish, and returns
    /// how the server ended.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
        }
    }
}
