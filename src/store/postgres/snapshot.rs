//! A transaction's PostgreSQL side: its connection, how its snapshot begins (with its first
//! statement, or holding the commit lock when exclusive) and how it ends.

use std::collections::HashSet;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, PoisonError};

use deadpool_postgres::Object;

use super::PostgresStore;
use super::classify::{Phase, classify, pool_error};
#[cfg(doc)]
use crate::store::Storage;
use crate::store::{Exclusive, Held, StoreError, Timestamp};

/// How a transaction's first statement found it.
pub(super) enum Begun {
    /// Begun by an earlier statement.
    Already,
    /// Begun now; its snapshot shows the commits up to this number.
    At(i64),
    /// Begun, but `meta` has no commit number (not a schema convoke made).
    NoCommitNumber,
}

/// One convoke transaction's PostgreSQL side.
pub(super) struct OpenTransaction {
    pub(super) writable: bool,
    /// Begun with [`Storage::begin_exclusive`]: it holds the commit lock from its first
    /// statement and commits on its own connection.
    pub(super) exclusive: bool,
    /// Taken from the pool at the first statement; `BEGIN` has been sent on it.
    pub(super) connection: Option<Object>,
    /// The latest commit the snapshot shows (read with the snapshot's first statement);
    /// `None` until a statement has begun the snapshot.
    pub(super) snapshot_commit: Option<i64>,
    /// Set by the first failure: PostgreSQL refuses every later statement of the
    /// transaction, so each later operation fails the same way.
    pub(super) failed: Option<StoreError>,
    /// Numbers this transaction allocated: their documents are new (no old row, no old
    /// index entries).
    pub(super) allocated: HashSet<u64>,
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        // Still open (not committed, not rolled back): the connection must not serve
        // another transaction; closing it makes PostgreSQL roll back.
        if let Some(connection) = self.connection.take() {
            drop(Object::take(connection));
        }
    }
}

impl PostgresStore {
    pub(super) fn transaction(
        &self,
        handle: Timestamp,
    ) -> Result<Arc<tokio::sync::Mutex<OpenTransaction>>, StoreError> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&handle)
            .cloned()
            .ok_or_else(|| StoreError::Engine(format!("no open transaction {handle}")))
    }

    /// The transaction's connection, taken from the pool at its first use; then also the
    /// statement that begins the transaction (and reads its snapshot's commit number),
    /// which the caller sends together with its first read, in one round trip
    /// ([`Self::with_begin`]).
    pub(super) async fn connection<'s, 't>(
        &'s self,
        tx: &'t mut OpenTransaction,
    ) -> Result<(&'t Object, Option<&'s str>), StoreError> {
        if let Some(failed) = &tx.failed {
            return Err(failed.clone());
        }
        let mut begin = None;
        if tx.connection.is_none() {
            // A transaction that could not begin is doomed like one whose statement failed:
            // a caller that swallows the error cannot commit what it did after.
            let connection = match self.pool.get().await {
                Ok(connection) => connection,
                Err(e) => return Err(Self::failed(tx, pool_error(&e))),
            };
            tx.connection = Some(connection);
            begin = Some(if tx.writable {
                self.sql.begin_snapshot.as_str()
            } else {
                self.sql.begin_read_only_snapshot.as_str()
            });
        }
        match &tx.connection {
            Some(connection) => Ok((connection, begin)),
            None => Err(StoreError::Engine("no connection".to_owned())),
        }
    }

    /// Sends `begin` (if the transaction has not begun) and then `first`, pipelined.
    pub(super) async fn with_begin<T>(
        connection: &Object,
        begin: Option<&str>,
        first: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> (
        Result<Begun, tokio_postgres::Error>,
        Result<T, tokio_postgres::Error>,
    ) {
        let begun = async move {
            let Some(begin) = begin else {
                return Ok(Begun::Already);
            };
            let messages = connection.simple_query(begin).await?;
            Ok(messages
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        row.get(0).and_then(|v| v.parse::<i64>().ok())
                    }
                    _ => None,
                })
                .map_or(Begun::NoCommitNumber, Begun::At))
        };
        // `join` polls in order: `BEGIN` is sent first.
        futures::future::join(begun, first).await
    }

    /// Records how the transaction began (see [`Self::connection`]); a connection that
    /// failed this early is not returned to the pool.
    pub(super) fn begun(
        &self,
        tx: &mut OpenTransaction,
        begun: Result<Begun, tokio_postgres::Error>,
    ) -> Result<(), StoreError> {
        let error = match begun {
            Ok(Begun::Already) => return Ok(()),
            Ok(Begun::At(commit)) => {
                tx.snapshot_commit = Some(commit);
                return Ok(());
            }
            Ok(Begun::NoCommitNumber) => StoreError::Engine(format!(
                "schema '{}' has no commit number: was it created by convoke?",
                self.config.schema
            )),
            Err(e) => classify(&e, "", Phase::Begin),
        };
        if let Some(connection) = tx.connection.take() {
            drop(Object::take(connection));
        }
        Err(Self::failed(tx, error))
    }

    /// Records a failure: the transaction's later operations fail with it too.
    pub(super) fn failed(tx: &mut OpenTransaction, error: StoreError) -> StoreError {
        tx.failed.get_or_insert(error).clone()
    }

    /// Registers `tx` under a new handle, the number its operations name it by.
    pub(super) fn open_transaction(&self, tx: OpenTransaction) -> Timestamp {
        let handle = self.next_handle.fetch_add(1, AtomicOrdering::Relaxed);
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(handle, Arc::new(tokio::sync::Mutex::new(tx)));
        handle
    }

    /// Opens a transaction that holds the commit lock (see [`Storage::begin_exclusive`]):
    /// it waits for the batch being committed, by this or any process, and then no other
    /// commit is made until it ends.
    pub(super) async fn open_exclusive(&self) -> Result<Exclusive, StoreError> {
        let connection = self.pool.get().await.map_err(|e| pool_error(&e))?;
        let messages = match connection.simple_query(&self.sql.begin_exclusive).await {
            Ok(messages) => messages,
            Err(e) => {
                let error = classify(&e, "", Phase::Begin);
                drop(Object::take(connection));
                return Err(error);
            }
        };
        let commit = messages.iter().rev().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                row.get(0).and_then(|v| v.parse::<i64>().ok())
            }
            _ => None,
        });
        let Some(commit) = commit else {
            end_snapshot(connection);
            return Err(StoreError::Engine(format!(
                "schema '{}' has no commit number: was it created by convoke?",
                self.config.schema
            )));
        };
        let handle = self.open_transaction(OpenTransaction {
            writable: true,
            exclusive: true,
            connection: Some(connection),
            snapshot_commit: Some(commit),
            failed: None,
            allocated: HashSet::new(),
        });
        // The lock is the transaction's: it ends with its COMMIT or ROLLBACK.
        Ok(Exclusive {
            snapshot: handle,
            hold: Held::new(()),
        })
    }
}

/// Rolls back a snapshot's transaction, then returns its connection to the pool, without
/// waiting: the caller goes on at once. Without a tokio runtime to do it on, the
/// connection is closed instead (PostgreSQL then rolls back).
pub(super) fn end_snapshot(connection: Object) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if connection.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(connection));
                }
            });
        }
        Err(_) => drop(Object::take(connection)),
    }
}
