//! Re-running this test binary as a child process: one `#[ignore]`d test, selected by name,
//! with a data directory passed through an environment variable. The crash and restart
//! tests kill such children with SIGKILL.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts this test binary running only the ignored test `test`, with `dir_var=dir`, its
/// stdout and stderr piped.
pub fn spawn_test_child(test: &str, dir_var: &str, dir: &Path) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([
            test,
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(dir_var, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process")
}
