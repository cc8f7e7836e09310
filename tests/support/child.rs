//! Re-running this test binary as a child process: one `#[ignore]`d test, selected by name,
//! with a data directory passed through an environment variable. The crash and restart
//! tests kill such children with SIGKILL.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts this test binary running only the ignored test `test`, with `dir_var=dir`, its
/// stdout and stderr piped.
pub fn spawn_test_child(test: &str, dir_var: &str, dir: &Path) -> Child {
    spawn_test_child_with(test, &[(dir_var, dir.as_os_str())])
}

/// Starts this test binary running only the ignored test `test`, with these environment
/// variables, its stdout and stderr piped.
pub fn spawn_test_child_with(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([
            test,
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process")
}
