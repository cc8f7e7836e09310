//! Where criterion writes its results, found the way criterion finds it: shared by the
//! benches that read criterion's estimates back to print their tables.

use std::path::PathBuf;

use serde::Deserialize;

/// Cargo's target directory for this workspace.
pub fn target_dir() -> PathBuf {
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO")
        .and_then(|cargo| {
            std::process::Command::new(cargo)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()
                .ok()
        })
        .and_then(|out| serde_json::from_slice::<Metadata>(&out.stdout).ok())
        .map(|m| m.target_directory)
        .unwrap_or_else(|| PathBuf::from("target"))
}
