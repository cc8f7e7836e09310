//! The commit path: the group-commit committer task, which sends the commits queued by a
//! process as one PostgreSQL transaction, and the exclusive commit on its own connection.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, PoisonError};

use deadpool_postgres::{Object, Pool};
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::classify::{Phase, classify, is_connection_error, pool_error};
use super::notify;
use super::rows::{ReadRanges, WriteRows};
use super::snapshot::{OpenTransaction, end_snapshot};
use super::sql::Statements;
use crate::store::{CommitRequest, ReadSet, StoreError, Timestamp};

/// How often (in this process's commits) a commit also prunes the commit log of commits
/// older than [`COMMIT_LOG_RETENTION`].
pub(super) const PRUNE_EVERY: u64 = 256;

/// How long commits are kept for validation: a transaction whose snapshot is older than
/// the pruned commits conflicts (statements time out much sooner).
pub(super) const COMMIT_LOG_RETENTION: &str = "10 minutes";

/// Commits one process sends in one PostgreSQL transaction, at most.
pub(super) const MAX_BATCH: usize = 64;

/// A commit waiting for the committer: its snapshot's commit number, what it read, what it
/// writes, and where its outcome goes.
pub(super) struct QueuedCommit {
    pub(super) snapshot: i64,
    pub(super) reads: ReadRanges,
    pub(super) rows: WriteRows,
    /// The table named by a conflict `apply_commit` cannot name (a pruned snapshot).
    pub(super) table: String,
    pub(super) outcome: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

impl QueuedCommit {
    /// The tables it writes.
    fn tables(&self) -> impl Iterator<Item = &str> {
        self.rows.tables()
    }

    /// The arguments of `apply_commit`.
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        apply_params(&self.snapshot, &self.reads, &self.rows)
    }
}

/// The arguments of `apply_commit` for a commit whose snapshot showed the commits up to
/// `snapshot`.
pub(super) fn apply_params<'a>(
    snapshot: &'a i64,
    r: &'a ReadRanges,
    w: &'a WriteRows,
) -> [&'a (dyn ToSql + Sync); 21] {
    [
        snapshot,
        &r.tables,
        &r.indexes,
        &r.lows,
        &r.highs,
        &w.written_tables,
        &w.written_numbers,
        &w.deleted_tables,
        &w.deleted_numbers,
        &w.updated.tables,
        &w.updated.numbers,
        &w.updated.creation_times,
        &w.updated.fields,
        &w.inserted.tables,
        &w.inserted.numbers,
        &w.inserted.creation_times,
        &w.inserted.fields,
        &w.entry_tables,
        &w.entry_indexes,
        &w.entry_keys,
        &w.entry_numbers,
    ]
}

/// Where in a batch a statement failed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// `BEGIN`, the lock, pruning.
    Other,
    /// The `apply_commit` of the batch's commit at this position.
    Commit(usize),
    /// `COMMIT`.
    End,
}

/// What the committer task needs from the store.
#[derive(Clone)]
pub(super) struct Committer {
    pub(super) pool: Pool,
    pub(super) sql: Arc<Statements>,
    pub(super) schema: String,
    /// Commits made by this process: every [`PRUNE_EVERY`]th also prunes the commit log.
    pub(super) commits: Arc<AtomicU64>,
    /// The notification channel, and this store's id in its payloads (see [`notify`]).
    pub(super) channel: String,
    pub(super) origin: u64,
}

impl Committer {
    /// Commits what arrives, in batches: each batch is one PostgreSQL transaction, sent in
    /// one round trip, so commits that queue up while one batch is written share the next
    /// batch's commit lock, round trip and flush (group commit).
    async fn run(self, mut queue: tokio::sync::mpsc::UnboundedReceiver<QueuedCommit>) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(commit) => batch.push(commit),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
        }
    }

    /// `BEGIN`, the commit lock, `apply_commit` for each commit in order (it checks the
    /// commit's reads against every commit since its snapshot, earlier ones of the batch
    /// included, then writes it, or names the table it conflicts on), pruning now and then,
    /// and `COMMIT`, pipelined: the lock is held while the server executes and flushes,
    /// never across the network. Each commit's outcome goes back to its transaction.
    async fn commit(&self, batch: Vec<QueuedCommit>) {
        let reply = |batch: Vec<QueuedCommit>, error: &dyn Fn(&QueuedCommit) -> StoreError| {
            for commit in batch {
                let error = error(&commit);
                let _ = commit.outcome.send(Err(error));
            }
        };
        let connection = match self.pool.get().await {
            Ok(connection) => connection,
            Err(e) => return reply(batch, &|_| pool_error(&e)),
        };
        let sql = &self.sql;
        let previous = self
            .commits
            .fetch_add(batch.len() as u64, AtomicOrdering::Relaxed);
        let prune = previous / PRUNE_EVERY != (previous + batch.len() as u64) / PRUNE_EVERY;
        // Prepared once per connection (a round trip the first time only).
        let prepared = tokio::try_join!(
            connection.prepare_cached(&sql.commit_lock),
            connection.prepare_cached(&sql.apply_commit),
            connection.prepare_cached(&sql.prune_log),
            connection.prepare_cached(&sql.prune_keys),
            connection.prepare_cached(notify::NOTIFY),
        );
        let (lock, apply, prune_log, prune_keys, notify) = match prepared {
            Ok(statements) => statements,
            Err(e) => return reply(batch, &|c| classify(&e, &c.table, Phase::Begin)),
        };
        let lock_params: [&(dyn ToSql + Sync); 1] = [&self.schema];
        let params: Vec<[&(dyn ToSql + Sync); 21]> =
            batch.iter().map(QueuedCommit::params).collect();
        // Each statement its own future, all polled together: a statement is sent when its
        // future is first polled, so awaiting one before creating the next would send the
        // second after `COMMIT`.
        // The other processes' subscriptions learn of the batch when it commits.
        let payload = notify::payload(self.origin, batch.iter().flat_map(QueuedCommit::tables));
        let notify_params: [&(dyn ToSql + Sync); 2] = [&self.channel, &payload];
        let mut extra: Vec<(&Statement, &[&(dyn ToSql + Sync)])> = Vec::with_capacity(3);
        if prune {
            extra.push((&prune_log, &[]));
            extra.push((&prune_keys, &[]));
        }
        extra.push((&notify, &notify_params));
        let pruning = join_in_order(
            extra
                .into_iter()
                .map(|(statement, params)| connection.execute(statement, params)),
        );
        // Sent in this order (`join5` and `join_in_order` poll every future, in order, at
        // each poll, and tokio-postgres sends a statement when first polled); PostgreSQL
        // runs them in order. After a failure the rest fail (the transaction is aborted)
        // and `COMMIT` rolls back. Should `COMMIT` ever go out before an `apply_commit`,
        // that `apply_commit` refuses to run (it checks that its transaction holds the
        // commit lock).
        let (began, locked, applied, pruned, committed) = futures::future::join5(
            connection.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
            connection.execute(&lock, &lock_params),
            join_in_order(params.iter().map(|p| connection.query_one(&apply, p))),
            pruning,
            connection.batch_execute("COMMIT"),
        )
        .await;
        // The first failure in order is the cause.
        let mut failure: Option<(Step, tokio_postgres::Error)> = None;
        let mut conflicts: Vec<Option<String>> = Vec::with_capacity(batch.len());
        for result in [began, locked.map(drop)] {
            if let Err(e) = result {
                failure.get_or_insert((Step::Other, e));
            }
        }
        for (i, result) in applied.into_iter().enumerate() {
            match result {
                Ok(row) => conflicts.push(row.get::<_, Option<String>>(0)),
                Err(e) => {
                    conflicts.push(None);
                    failure.get_or_insert((Step::Commit(i), e));
                }
            }
        }
        for result in pruned {
            if let Err(e) = result {
                failure.get_or_insert((Step::Other, e));
            }
        }
        if let Err(e) = committed {
            failure.get_or_insert((Step::End, e));
        }
        if connection.is_closed() {
            drop(Object::take(connection));
        }
        for (i, (commit, conflict)) in batch.into_iter().zip(conflicts).enumerate() {
            let outcome = match (conflict, &failure) {
                // Checked and refused: not written, whatever happened next.
                (Some(table), _) => Err(StoreError::Conflict {
                    table: if table.is_empty() {
                        commit.table.clone()
                    } else {
                        table
                    },
                }),
                (None, None) => Ok(()),
                // The connection was lost, or `COMMIT` itself failed: what the server did
                // is not known, or it is its own error.
                (None, Some((step, e))) if is_connection_error(e) || *step == Step::End => {
                    Err(classify(e, &commit.table, Phase::Commit))
                }
                // This commit's own statement failed.
                (None, Some((Step::Commit(failed), e))) if *failed == i => {
                    Err(classify(e, &commit.table, Phase::Commit))
                }
                // Another statement failed and the whole batch rolled back: run it again.
                (None, Some(_)) => Err(StoreError::Conflict {
                    table: commit.table.clone(),
                }),
            };
            let _ = commit.outcome.send(outcome);
        }
    }
}

/// Awaits every future, polling all of them in order at each poll, as `join5` does: the
/// statements they send go out in this order, each when its future is first polled.
/// (`futures::future::join_all` does not promise that: past a few dozen futures it may
/// return from a poll before it has polled them all.)
pub(super) async fn join_in_order<F: Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures
        .into_iter()
        .map(|future| Box::pin(futures::future::maybe_done(future)))
        .collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for future in &mut futures {
            done &= future.as_mut().poll(cx).is_ready();
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    futures
        .iter_mut()
        .filter_map(|future| future.as_mut().take_output())
        .collect()
}

impl PostgresStore {
    pub(super) async fn commit_writes(
        &self,
        request: CommitRequest,
    ) -> Result<Timestamp, StoreError> {
        let entry = self.transaction(request.snapshot)?;
        let mut tx = entry.lock().await;
        if let Some(failed) = &tx.failed {
            return Err(failed.clone());
        }
        // Nothing to write: nothing to check (the snapshot was consistent) or to wait for
        // (PostgreSQL shows committed, durable data only).
        if request.writes.is_empty() {
            if let Some(connection) = tx.connection.take() {
                end_snapshot(connection);
            }
            return Ok(request.snapshot);
        }
        if tx.exclusive {
            return self.commit_exclusive(&mut tx, &request).await;
        }
        let table = request
            .writes
            .first()
            .map(|(id, _)| id.table().to_owned())
            .unwrap_or_default();
        let rows = WriteRows::new(&request, &self.schema(), &tx.allocated)?;
        // Without a snapshot nothing was read from the database: what the read set holds
        // was answered without it (a limit of 0), whatever the data, so there is nothing
        // to check.
        let (snapshot, reads) = match tx.snapshot_commit {
            Some(snapshot) => (snapshot, ReadRanges::new(&request.reads)),
            None => (0, ReadRanges::new(&ReadSet::default())),
        };
        // The snapshot ends now (and with it the locks of `try_lock`): its connection goes
        // back to the pool for the committer.
        if let Some(connection) = tx.connection.take() {
            end_snapshot(connection);
        }
        let (sender, outcome) = tokio::sync::oneshot::channel();
        self.submit(QueuedCommit {
            snapshot,
            reads,
            rows,
            table,
            outcome: sender,
        })?;
        let result = outcome.await.unwrap_or_else(|_| {
            Err(StoreError::CommitOutcomeUnknown {
                reason: "the committer stopped while committing".to_owned(),
            })
        });
        result
            .map(|()| request.snapshot)
            .map_err(|e| Self::failed(&mut tx, e))
    }

    /// Commits an exclusive transaction on its own connection, which holds the commit
    /// lock: `apply_commit` (whose check finds nothing, as no commit came between) and
    /// `COMMIT`, pipelined.
    pub(super) async fn commit_exclusive(
        &self,
        tx: &mut OpenTransaction,
        request: &CommitRequest,
    ) -> Result<Timestamp, StoreError> {
        let table = request
            .writes
            .first()
            .map(|(id, _)| id.table().to_owned())
            .unwrap_or_default();
        let rows = WriteRows::new(request, &self.schema(), &tx.allocated)?;
        let reads = ReadRanges::new(&request.reads);
        let snapshot = tx.snapshot_commit.unwrap_or(0);
        let Some(connection) = tx.connection.take() else {
            return Err(Self::failed(
                tx,
                StoreError::Engine("an exclusive transaction without its connection".to_owned()),
            ));
        };
        // Prepared first: `COMMIT` must go out after `apply_commit`, and a statement is sent
        // when its future is first polled (`join` polls in order).
        let outcome = async {
            let statement = connection
                .prepare_cached(&self.sql.apply_commit)
                .await
                .map_err(|e| classify(&e, &table, Phase::Begin))?;
            let notify_statement = connection
                .prepare_cached(notify::NOTIFY)
                .await
                .map_err(|e| classify(&e, &table, Phase::Begin))?;
            let params = apply_params(&snapshot, &reads, &rows);
            let payload = notify::payload(self.origin, rows.tables());
            let channel = notify::channel(&self.config.schema);
            let notify_params: [&(dyn ToSql + Sync); 2] = [&channel, &payload];
            let (applied, notified, committed) = futures::future::join3(
                connection.query_one(&statement, &params),
                connection.execute(&notify_statement, &notify_params),
                connection.batch_execute("COMMIT"),
            )
            .await;
            let conflict = applied
                .and_then(|row| notified.map(|_| row))
                .and_then(|row| committed.map(|()| row.get::<_, Option<String>>(0)))
                .map_err(|e| classify(&e, &table, Phase::Commit))?;
            match conflict {
                None => Ok(request.snapshot),
                // Refused (it cannot be, as it held the lock): the COMMIT wrote nothing.
                Some(hit) => Err(StoreError::Conflict {
                    table: if hit.is_empty() { table.clone() } else { hit },
                }),
            }
        }
        .await;
        if connection.is_closed() || outcome.is_err() {
            drop(Object::take(connection));
        }
        outcome.map_err(|e| Self::failed(tx, e))
    }

    /// Hands a commit to this process's committer task, starting it if needed.
    pub(super) fn submit(&self, mut commit: QueuedCommit) -> Result<(), StoreError> {
        let mut committer = self
            .committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = committer.as_ref() {
            match queue.send(commit) {
                Ok(()) => return Ok(()),
                // Its runtime ended: start another on the current one.
                Err(tokio::sync::mpsc::error::SendError(back)) => commit = back,
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Engine("a PostgreSQL commit needs a tokio runtime".to_owned())
        })?;
        let (queue, commits) = tokio::sync::mpsc::unbounded_channel();
        let context = Committer {
            pool: self.pool.clone(),
            sql: self.sql.clone(),
            schema: self.config.schema.clone(),
            commits: self.commits.clone(),
            channel: notify::channel(&self.config.schema),
            origin: self.origin,
        };
        runtime.spawn(context.run(commits));
        let sent = queue.send(commit).is_ok();
        *committer = Some(queue);
        if sent {
            Ok(())
        } else {
            Err(StoreError::Engine("the committer did not start".to_owned()))
        }
    }
}
