//! Figures shared by the benches that print a table of cases beside their floors: the
//! medians criterion wrote, and interleaved A/B medians measured in one loop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

#[path = "target_dir.rs"]
mod target_dir;

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// The median criterion recorded for `group/case` in its last run, in ns per iteration.
pub fn read_median(group: &str, case: &str) -> Option<f64> {
    let dir = match std::env::var_os("CRITERION_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir::target_dir().join("criterion"),
    };
    let path = dir
        .join(group)
        .join(case)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Estimates>(&text)
        .ok()
        .map(|e| e.median.point_estimate)
}

/// Interleaved A/B figures for one row: ns/op of the case and of its floor.
pub struct Paired {
    pub ours: f64,
    pub floor: f64,
}

/// Runs the case and its floor in alternating blocks of about `block` (ours, floor, floor,
/// ours...) for about `budget`, and returns the median ns/op of each. Machine load that
/// drifts during the run (other processes, other writers to the disk, a database server's
/// checkpoints) then hits both alike, which separate criterion runs cannot promise.
///
/// Each closure runs its operation `n` times and returns the time taken.
pub fn paired(
    ours: &dyn Fn(u64) -> Duration,
    floor: &dyn Fn(u64) -> Duration,
    block: Duration,
    budget: Duration,
) -> Paired {
    let mut n = 1u64;
    while n < 1 << 24 && ours(n).max(floor(n)) < block {
        n *= 2;
    }
    let per_op = |d: Duration| d.as_nanos() as f64 / n as f64;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < budget || a.len() < 6 {
        if a.len() % 2 == 0 {
            a.push(per_op(ours(n)));
            b.push(per_op(floor(n)));
        } else {
            b.push(per_op(floor(n)));
            a.push(per_op(ours(n)));
        }
    }
    Paired {
        ours: median(&mut a),
        floor: median(&mut b),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
