//! The system tables: tables whose names start with `_`, which the runtime writes and
//! procedures can only read.

pub(crate) mod scheduled_functions;
pub(crate) mod session_requests;

use crate::db::{DbError, IndexRange, Transaction};
use crate::store::KeyRange;

/// The key range of `range` on the index `index` of the system table `table`.
pub(crate) fn index_range(
    tx: &Transaction,
    table: &str,
    index: &str,
    range: IndexRange,
) -> Result<KeyRange, DbError> {
    let defs = tx.schema().table(table);
    let Some(fields) = defs.get(index) else {
        return Err(DbError::UnknownIndex {
            table: table.to_owned(),
            index: index.to_owned(),
            available: defs.names(),
        });
    };
    range.resolve(table, index, fields)
}
