//! Creating and migrating the tables at start, and rebuilding the indexes the schema changed.

use std::collections::BTreeMap;

use super::PostgresStore;
use super::classify::{Phase, classify, describe};
use super::key;
use super::rows::{EntryRows, document, from_sql};
use super::sql::Statements;
use crate::store::{DocumentId, Schema, StoreError, TableIndexes};

/// The layout this version of convoke writes; older ones are migrated at start.
pub(super) const LAYOUT_VERSION: i64 = 1;

impl PostgresStore {
    /// Creates or migrates the tables and brings every index up to `schema`: one
    /// transaction on a connection of its own, under an advisory lock, so processes
    /// starting together migrate one after the other.
    pub(super) async fn migrate(&self, schema: &Schema) -> Result<(), StoreError> {
        let (mut client, driver) = self.connector.connect(&self.pg_config).await?;
        let result = migrate_on(&mut client, &self.sql, &self.config.schema, schema).await;
        drop(client);
        let _ = driver.await;
        result
    }
}

pub(super) async fn migrate_on(
    client: &mut tokio_postgres::Client,
    sql: &Statements,
    schema_name: &str,
    schema: &Schema,
) -> Result<(), StoreError> {
    let fail = |what: &str, e: tokio_postgres::Error| {
        StoreError::Engine(format!(
            "cannot {what} in schema '{schema_name}': {}",
            describe(&e)
        ))
    };
    let tx = client
        .transaction()
        .await
        .map_err(|e| classify(&e, "", Phase::Begin))?;
    // The commit lock: no commit runs while indexes are rebuilt.
    tx.execute(&sql.commit_lock, &[&schema_name])
        .await
        .map_err(|e| fail("lock the schema", e))?;
    tx.batch_execute(&sql.create_meta)
        .await
        .map_err(|e| fail("create the tables", e))?;
    let layout: Option<i64> = tx
        .query_opt(&sql.layout, &[])
        .await
        .map_err(|e| fail("read the layout version", e))?
        .map(|row| row.get(0));
    match layout {
        None => {
            tx.batch_execute(&sql.create_tables)
                .await
                .map_err(|e| fail("create the tables", e))?;
        }
        Some(v) if v > LAYOUT_VERSION => {
            return Err(StoreError::Engine(format!(
                "schema '{schema_name}' has layout {v}, written by a newer convoke (this one knows layout {LAYOUT_VERSION})"
            )));
        }
        // Later layouts: `Some(1) => { migrate to 2 }`, each step ending at its version.
        Some(_) => {}
    }
    tx.batch_execute(&sql.create_apply_commit)
        .await
        .map_err(|e| fail("create the commit function", e))?;
    // The indexes the stored entries were built for, by table.
    let mut stored: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in tx
        .query(&sql.stored_indexes, &[])
        .await
        .map_err(|e| fail("read the indexes", e))?
    {
        stored
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1), row.get(2));
    }
    let mut tables: Vec<String> = schema.table_names().map(str::to_owned).collect();
    tables.extend(stored.keys().cloned());
    tables.sort();
    tables.dedup();
    let system: BTreeMap<String, String> = TableIndexes::system()
        .iter()
        .map(|(name, fields)| (name.to_owned(), fields.definition()))
        .collect();
    for table in tables {
        let defs = schema.table(&table);
        let wanted: BTreeMap<String, String> = defs
            .iter()
            .map(|(name, fields)| (name.to_owned(), fields.definition()))
            .collect();
        // A table without rows here has only ever had the system indexes.
        let have = stored.get(&table).unwrap_or(&system);
        if *have == wanted {
            continue;
        }
        for (name, definition) in have {
            if wanted.get(name) != Some(definition) {
                tx.execute(&sql.drop_index_entries, &[&table, name])
                    .await
                    .map_err(|e| fail("drop an index", e))?;
            }
        }
        let rebuild: Vec<&str> = wanted
            .iter()
            .filter(|(name, definition)| have.get(*name) != Some(definition))
            .map(|(name, _)| name.as_str())
            .collect();
        backfill(&tx, sql, &table, &defs, &rebuild)
            .await
            .map_err(|e| fail("build an index", e))?;
        tx.execute(&sql.forget_indexes, &[&table])
            .await
            .map_err(|e| fail("record the indexes", e))?;
        for (name, definition) in &wanted {
            tx.execute(&sql.record_index, &[&table, name, definition])
                .await
                .map_err(|e| fail("record the indexes", e))?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| fail("commit the migration", e))
}

/// Builds the entries of `indexes` for every document of `table`, in batches.
pub(super) async fn backfill(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &Statements,
    table: &str,
    defs: &TableIndexes,
    indexes: &[&str],
) -> Result<(), tokio_postgres::Error> {
    if indexes.is_empty() {
        return Ok(());
    }
    const BATCH: i64 = 1000;
    let mut after: i64 = i64::MIN;
    loop {
        let rows = tx
            .query(&sql.documents_after, &[&table, &after, &BATCH])
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.get(0);
        let mut entries = EntryRows::default();
        for row in &rows {
            let id = DocumentId::new(table, from_sql(row.get(0)));
            // A document that does not decode gets no entry; reading it reports the error.
            let Ok(doc) = document(id, row.get(1), row.get(2)) else {
                continue;
            };
            for name in indexes {
                if let Some(fields) = defs.get(name) {
                    entries.push(table, name, key::encode(&fields.key(&doc)), doc.id.number());
                }
            }
        }
        tx.execute(
            &sql.backfill_entries,
            &[
                &entries.tables,
                &entries.indexes,
                &entries.keys,
                &entries.numbers,
            ],
        )
        .await?;
    }
}
