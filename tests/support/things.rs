//! A table whose documents are any object (`Thing`), procedures that write one and read it
//! back in the same transaction, and the engines to run them on (in memory, SQLite in a
//! data directory, PostgreSQL in a schema of its own).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use convoke::value::{Object, Value};
use convoke::{Id, Runtime, Table};
use serde::{Deserialize, Serialize};

#[path = "postgres.rs"]
pub mod postgres;

/// A document of any shape: its fields are the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Thing(pub Object);

impl Table for Thing {
    const NAME: &'static str = "things";
}

/// A second table, with a nested map, to write the listed cases with a typed struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "notes")]
pub struct Note {
    pub title: String,
    pub tags: std::collections::BTreeMap<String, i64>,
}

pub mod things {
    use super::*;
    use convoke::db::Patch;
    use convoke::{Error, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(things);

    fn gone() -> Error {
        Error::user("the document is gone")
    }

    /// Inserts, then reads the document back in the same transaction.
    #[procedure(mutation)]
    pub async fn insert(ctx: &MutationCtx<'_>, thing: Thing) -> Result<(Id<Thing>, Thing)> {
        let id = ctx.db().insert(&thing).await?;
        let back = ctx.db().get(id).await?.ok_or_else(gone)?;
        Ok((id, back.into_inner()))
    }

    /// Replaces, then reads back in the same transaction.
    #[procedure(mutation)]
    pub async fn replace(ctx: &MutationCtx<'_>, args: (Id<Thing>, Thing)) -> Result<Thing> {
        ctx.db().replace(args.0, &args.1).await?;
        Ok(ctx.db().get(args.0).await?.ok_or_else(gone)?.into_inner())
    }

    /// Patches (sets the fields given, removes those listed), then reads back.
    #[procedure(mutation)]
    pub async fn patch(
        ctx: &MutationCtx<'_>,
        args: (Id<Thing>, Thing, Vec<String>),
    ) -> Result<Thing> {
        let mut patch = Patch::new();
        for (name, value) in args.1.0 {
            patch = patch.set(&name, value);
        }
        for name in &args.2 {
            patch = patch.unset(name);
        }
        ctx.db().patch(args.0, patch).await?;
        Ok(ctx.db().get(args.0).await?.ok_or_else(gone)?.into_inner())
    }

    /// The document, if there is one.
    #[procedure(query)]
    pub async fn get(ctx: &QueryCtx<'_>, id: Id<Thing>) -> Result<Option<Thing>> {
        Ok(ctx.db().get(id).await?.map(|d| d.into_inner()))
    }

    /// Every document, oldest first.
    #[procedure(query)]
    pub async fn all(ctx: &QueryCtx<'_>) -> Result<Vec<(Id<Thing>, Thing)>> {
        Ok(ctx
            .db()
            .query::<Thing>()
            .collect()
            .await?
            .into_iter()
            .map(|d| (d.id(), d.into_inner()))
            .collect())
    }

    /// Inserts a note.
    #[procedure(mutation)]
    pub async fn insert_note(ctx: &MutationCtx<'_>, note: Note) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&note).await?)
    }

    /// Every note.
    #[procedure(query)]
    pub async fn notes(ctx: &QueryCtx<'_>) -> Result<Vec<Note>> {
        Ok(ctx
            .db()
            .query::<Note>()
            .collect()
            .await?
            .into_iter()
            .map(|d| d.into_inner())
            .collect())
    }
}

/// A one-field document.
pub fn thing(name: &str, value: Value) -> Thing {
    let mut fields = Object::new();
    fields.insert(name.to_owned(), value);
    Thing(fields)
}

/// A data directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "convoke-integrity-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a test's runtime keeps its data, and how to open it again.
pub enum Engine {
    Memory,
    Sqlite(TempDir),
    Postgres(postgres::DropSchema),
}

impl Engine {
    /// The engines to run on: memory, SQLite and, when the test server is there,
    /// PostgreSQL.
    pub fn all(test: &str) -> Vec<Engine> {
        let mut engines = vec![Engine::Memory, Engine::Sqlite(TempDir::new(test))];
        if postgres::available(test) {
            let schema = postgres::fresh_schema("convoke_integrity");
            engines.push(Engine::Postgres(postgres::DropSchema(schema)));
        }
        engines
    }

    pub fn name(&self) -> &'static str {
        match self {
            Engine::Memory => "memory",
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// A runtime on this engine with `limits`.
    pub fn runtime_with(&self, limits: convoke::db::TransactionLimits) -> Runtime {
        let builder = Runtime::builder().transaction_limits(limits);
        let builder = match self {
            Engine::Memory => builder,
            Engine::Sqlite(dir) => builder.storage(
                convoke::store::SqliteStore::open(dir.path()).expect("open the data directory"),
            ),
            Engine::Postgres(schema) => builder.storage(postgres::store(&schema.0)),
        };
        builder.build().expect("a runtime")
    }

    /// A runtime on this engine (again: a durable engine's data is there).
    pub fn runtime(&self) -> Runtime {
        self.runtime_with(convoke::db::TransactionLimits::default())
    }

    /// Whether a new runtime sees what an earlier one wrote.
    pub fn is_durable(&self) -> bool {
        !matches!(self, Engine::Memory)
    }
}
