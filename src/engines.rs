//! The runtime's constructors over the optional engines, `Runtime::open` (feature `sqlite`)
//! and `Runtime::postgres` (feature `postgres`). They live above both the runtime and the
//! engines, so that the runtime itself names no engine (docs/design.md, "Layers").

use crate::error::Result;
use crate::runtime::Runtime;
#[cfg(feature = "postgres")]
use crate::store::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::store::SqliteStore;

impl Runtime {
    /// A runtime over the durable store in data directory `dir` (a
    /// [`SqliteStore`](crate::store::SqliteStore), created if needed), with the default
    /// limits. Every acknowledged commit is on disk; reopening the directory later (after a
    /// restart or a crash) finds every committed document.
    ///
    /// Fails with a store error ([`StoreError::Engine`](crate::store::StoreError::Engine))
    /// if the directory cannot be opened, for example because another runtime has it open,
    /// and as [`RuntimeBuilder::build`] does. A stored document that does not decode does
    /// not make it fail: see [`SqliteStore::open`](crate::store::SqliteStore::open).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("convoke-open-{}", std::process::id()));
    /// let rt = convoke::Runtime::open(&dir)?;
    /// # drop(rt);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), convoke::Error>(())
    /// ```
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<Runtime> {
        Runtime::builder().storage(SqliteStore::open(dir)?).build()
    }

    /// A runtime over the PostgreSQL database at `url` (see [`PostgresStore`]), with the
    /// procedures and tables linked into the program. Creates or migrates convoke's tables
    /// (schema `convoke`) before it returns. Several processes may share one database; use
    /// [`PostgresStore::with_config`] for another schema, pool size or timeouts.
    ///
    /// Fails with [`StoreError::Unavailable`] if the database cannot be reached, and as
    /// [`RuntimeBuilder::build`] does.
    ///
    /// ```no_run
    /// let rt = convoke::Runtime::postgres("postgres://postgres@127.0.0.1:5432/app")?;
    /// # Ok::<(), convoke::Error>(())
    /// ```
    ///
    /// [`PostgresStore`]: crate::store::PostgresStore
    /// [`PostgresStore::with_config`]: crate::store::PostgresStore::with_config
    /// [`StoreError::Unavailable`]: crate::store::StoreError::Unavailable
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres(url: &str) -> Result<Runtime> {
        Runtime::builder()
            .storage(PostgresStore::connect(url)?)
            .build()
    }
}
