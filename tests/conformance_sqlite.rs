//! The storage conformance suite against the durable engine, each case in a fresh data
//! directory.

mod conformance;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use conformance::Engine;
use convoke::Runtime;
use convoke::store::SqliteStore;

/// A data directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sqlite() -> Engine {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "convoke-conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(&dir).expect("open the store");
    let rt = Runtime::builder().storage(store).build().expect("runtime");
    Engine {
        rt,
        guard: Some(Box::new(TempDir(dir))),
    }
}

conformance_suite!(sqlite);
