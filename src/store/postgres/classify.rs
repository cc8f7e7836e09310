//! PostgreSQL and pool errors as [`StoreError`]s: which are conflicts, which make the
//! database unavailable or a commit's outcome unknown, and their messages.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Where in a transaction an error happened: it decides what a lost connection means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Begin,
    Read,
    Commit,
}

/// A PostgreSQL error as a store error: serialization failures and deadlocks are
/// conflicts; a lost or refused connection makes the database unavailable, or the commit's
/// outcome unknown if it was lost while committing.
pub(super) fn classify(e: &tokio_postgres::Error, table: &str, phase: Phase) -> StoreError {
    if let Some(code) = e.code() {
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Conflict {
                table: table.to_owned(),
            };
        }
        let unavailable = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ];
        if !unavailable.contains(code) {
            return StoreError::Engine(describe(e));
        }
    } else if !is_connection_error(e) {
        // E.g. a value the driver could not convert: a bug, not an outage.
        return StoreError::Engine(describe(e));
    }
    if phase == Phase::Commit {
        StoreError::CommitOutcomeUnknown {
            reason: describe(e),
        }
    } else {
        StoreError::Unavailable {
            reason: describe(e),
        }
    }
}

/// Whether the connection failed (refused, lost, timed out), as opposed to a statement.
pub(super) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

pub(super) fn pool_error(e: &PoolError) -> StoreError {
    match e {
        PoolError::Timeout(_) => StoreError::Unavailable {
            reason: "no database connection became free in time (all are in use, or the database does not answer)"
                .to_owned(),
        },
        PoolError::Backend(e) => classify(e, "", Phase::Begin),
        other => StoreError::Unavailable {
            reason: other.to_string(),
        },
    }
}

/// The error with PostgreSQL's own message, when there is one.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                message.push_str(": ");
                message.push_str(&inner.to_string());
                source = inner.source();
            }
            message
        }
    }
}
