//! A bounded load test of subscriptions and the WebSocket sync protocol, on loopback.
//!
//! ```sh
//! cargo run --release --example sync_load                 # the figures of docs/performance-sync.md
//! cargo run --release --example sync_load -- 2000 20000   # sockets, idle subscriptions
//! ```
//!
//! 1. Fan-out to distinct subscriptions: 1,000 `Runtime::subscribe` streams, each on its own
//!    document; one mutation changes all 1,000 documents; the time from the mutation's
//!    return (its commit) to each subscriber holding the new value, over 20 rounds.
//! 2. Fan-out to sockets: N WebSocket clients (10,000 by default) speaking the sync
//!    protocol (in a child process: 10,000 sockets on each side would pass one process's
//!    limit of open files), all subscribed to one query; one mutation changes its result;
//!    the time from the commit to each socket's `Transition`, over 5 rounds.
//! 3. The cost of unaffected subscriptions: the mean time of a mutation writing one
//!    document, with no subscriptions and with M (100,000 by default) idle subscriptions
//!    each reading another document by id, in the same run; and the memory (resident set)
//!    per idle subscription.
//! 4. Sockets that come and go: 10,000 cycles of connect, subscribe, first result, close;
//!    the resident set after them beside after a warm-up of 500.

use std::time::{Duration, Instant};

use convoke::http::Server;
use convoke::{Id, MutationCtx, QueryCtx, Result, Runtime, Table, procedure};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

mod load {
    use super::*;
    use convoke::db::Patch;

    convoke::module!(load);

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "cells")]
    pub struct Cell {
        pub n: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct GetCell {
        pub id: Id<Cell>,
    }

    /// One cell's value.
    #[procedure(query)]
    pub async fn cell(ctx: &QueryCtx<'_>, args: GetCell) -> Result<i64> {
        Ok(ctx.db().get(args.id).await?.map_or(-1, |c| c.n))
    }

    /// Inserts `count` cells at 0.
    #[procedure(mutation)]
    pub async fn insert_cells(ctx: &MutationCtx<'_>, count: usize) -> Result<Vec<Id<Cell>>> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(ctx.db().insert(&Cell { n: 0 }).await?);
        }
        Ok(ids)
    }

    /// Sets every listed cell to `n`.
    #[procedure(mutation)]
    pub async fn set_cells(ctx: &MutationCtx<'_>, args: (Vec<Id<Cell>>, i64)) -> Result<()> {
        for id in args.0 {
            ctx.db().patch(id, Patch::new().set("n", args.1)).await?;
        }
        Ok(())
    }
}

use load::*;

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--clients") {
        let _ = args.next();
        let url = args.next().ok_or("--clients <url> <count> <id>")?;
        let count: usize = args.next().ok_or("--clients <url> <count> <id>")?.parse()?;
        let id = args.next().ok_or("--clients <url> <count> <id>")?;
        return clients(&url, count, &id).await;
    }
    let sockets: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let idle: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;

    // SYNC_LOAD_PARTS=24 runs parts 2 and 4 only.
    let parts = std::env::var("SYNC_LOAD_PARTS").unwrap_or_else(|_| "1234".to_owned());
    if parts.contains('1') {
        distinct_subscriptions(1_000, 20).await?;
    }
    if parts.contains('2') {
        sockets_on_one_query(sockets, 5).await?;
    }
    if parts.contains('3') {
        unaffected_subscriptions(idle).await?;
    }
    if parts.contains('4') {
        connect_cycles(10_000).await?;
    }
    Ok(())
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

async fn distinct_subscriptions(count: usize, rounds: i64) -> Result<()> {
    let rt = Runtime::in_memory()?;
    let ids = rt.mutation(insert_cells, count).await?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(i64, Instant)>();
    for id in &ids {
        let mut sub = rt.subscribe(cell, GetCell { id: *id });
        let seen_tx = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(n)) = sub.next().await {
                let _ = seen_tx.send((n, Instant::now()));
            }
        });
    }
    // The first values.
    for _ in 0..count {
        seen.recv().await;
    }
    let mut latencies = Vec::new();
    let mut lasts = Vec::new();
    let started = Instant::now();
    for round in 1..=rounds {
        rt.mutation(set_cells, (ids.clone(), round)).await?;
        let committed = Instant::now();
        let mut last = Duration::ZERO;
        for _ in 0..count {
            let Some((n, at)) = seen.recv().await else {
                break;
            };
            assert_eq!(n, round);
            let latency = at.saturating_duration_since(committed);
            last = last.max(latency);
            latencies.push(latency);
        }
        lasts.push(last);
    }
    let cpu = started.elapsed();
    println!(
        "1. {count} subscriptions, each on its own document; one commit changes all of them ({rounds} rounds)"
    );
    percentiles("   commit -> each subscriber", latencies);
    percentiles("   commit -> last subscriber", lasts);
    println!(
        "   wall time per invalidated subscription, mutation included: {:.2} µs",
        cpu.as_secs_f64() * 1e6 / (count as f64 * rounds as f64)
    );
    Ok(())
}

/// The sockets run in a child process (this program with `--clients`): 10,000 sockets on
/// each side would pass one process's limit of open files.
async fn sockets_on_one_query(
    count: usize,
    rounds: i64,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (rt, ids, server, url) = serve_one_cell().await?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--clients", &url, &count.to_string(), &ids[0].to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut to_child = child.stdin.take().ok_or("no stdin")?;
    let mut from_child = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    // "ready <seconds>" once every socket has its first result.
    let ready = from_child
        .next_line()
        .await?
        .ok_or("the client process ended")?;
    println!("2. {count} sockets (another process) subscribed to one query ({ready})");
    for round in 1..=rounds {
        rt.mutation(set_cells, (ids.clone(), round)).await?;
        let committed = now_nanos();
        to_child
            .write_all(format!("{round} {committed}\n").as_bytes())
            .await?;
        let line = from_child
            .next_line()
            .await?
            .ok_or("the client process ended")?;
        println!("   round {round}: commit -> socket {line}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(to_child);
    child.wait().await?;
    server.shutdown().await?;
    Ok(())
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The client process: `count` sockets subscribed to `load:cell` of `id`; for each line
/// `<round> <commit ns>` on stdin, waits until every socket has the round's value and
/// prints the latencies from the commit.
async fn clients(
    url: &str,
    count: usize,
    id: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use tokio::io::AsyncBufReadExt;
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(i64, u128)>();
    let (connect, add) = first_frames(id);
    let opened = Instant::now();
    for _ in 0..count {
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        ws.send(Message::text(connect.clone())).await?;
        ws.send(Message::text(add.clone())).await?;
        let seen_tx = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(json) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                    continue;
                };
                if json["type"] == "Transition"
                    && let Some(value) = json["modifications"][0]["value"]["$integer"].as_str()
                {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(value)
                        .unwrap_or_default();
                    let n = i64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
                    let _ = seen_tx.send((n, now_nanos()));
                }
            }
        });
    }
    for _ in 0..count {
        seen.recv().await;
    }
    println!(
        "connected and first results in {:.2} s",
        opened.elapsed().as_secs_f64()
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut parts = line.split_whitespace();
        let round: i64 = parts.next().ok_or("no round")?.parse()?;
        let committed: u128 = parts.next().ok_or("no time")?.parse()?;
        let mut latencies = Vec::with_capacity(count);
        while latencies.len() < count {
            let (n, at) = seen.recv().await.ok_or("sockets closed")?;
            if n == round {
                latencies.push(Duration::from_nanos(at.saturating_sub(committed) as u64));
            }
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "p50={:.3} ms p99={:.3} ms last={:.3} ms",
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            at(1.0).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// A runtime with one cell, served on loopback: the runtime, the cell's id (in a list),
/// the server and its sync URL.
async fn serve_one_cell() -> std::result::Result<
    (Runtime, Vec<Id<Cell>>, convoke::http::RunningServer, String),
    Box<dyn std::error::Error>,
> {
    let rt = Runtime::in_memory()?;
    let ids = rt.mutation(insert_cells, 1).await?;
    let server = Server::builder(rt.clone())
        .build()
        .await?
        .spawn("127.0.0.1:0")
        .await?;
    let url = format!("ws://{}/api/1.48.0/sync", server.local_addr());
    Ok((rt, ids, server, url))
}

/// What a client sends first: `Connect`, then a query set with `load:cell` of `id`.
fn first_frames(id: &str) -> (String, String) {
    let connect = serde_json::json!({
        "type": "Connect", "sessionId": "00000000-0000-4000-8000-000000000000",
        "connectionCount": 0, "lastCloseReason": "InitialConnect"
    });
    let add = serde_json::json!({
        "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
        "modifications": [{"type": "Add", "queryId": 0, "udfPath": "load:cell", "args": [{"id": id}]}]
    });
    (connect.to_string(), add.to_string())
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn mean_write(rt: &Runtime, id: Id<Cell>, n: usize) -> Result<Duration> {
    let started = Instant::now();
    for i in 0..n {
        rt.mutation(set_cells, (vec![id], i as i64)).await?;
    }
    Ok(started.elapsed() / n as u32)
}

async fn unaffected_subscriptions(count: usize) -> Result<()> {
    let rt = Runtime::in_memory()?;
    let target = rt.mutation(insert_cells, 1).await?[0];
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        ids.extend(
            rt.mutation(insert_cells, 1_000.min(count - ids.len()))
                .await?,
        );
    }
    // Subscriptions exist from here on (the registry is installed), none on `target`.
    let warm = rt.subscribe(cell, GetCell { id: ids[0] });
    drop(warm);
    let writes = 5_000;
    mean_write(&rt, target, 500).await?;
    let none = mean_write(&rt, target, writes).await?;
    let before = resident_bytes();
    let mut subs = Vec::with_capacity(count);
    for id in &ids {
        let mut sub = rt.subscribe(cell, GetCell { id: *id });
        sub.next().await;
        subs.push(sub);
    }
    let after = resident_bytes();
    let with = mean_write(&rt, target, writes).await?;
    let again = mean_write(&rt, target, writes).await?;
    drop(subs);
    let without_again = mean_write(&rt, target, writes).await?;
    println!("3. a mutation writing one document ({writes} times each), same runtime");
    println!(
        "   no subscriptions: {:.2} µs; {count} unaffected subscriptions: {:.2} µs and {:.2} µs; none again: {:.2} µs; ratio {:.2}",
        none.as_secs_f64() * 1e6,
        with.as_secs_f64() * 1e6,
        again.as_secs_f64() * 1e6,
        without_again.as_secs_f64() * 1e6,
        (with.as_secs_f64() + again.as_secs_f64())
            / (none.as_secs_f64() + without_again.as_secs_f64())
    );
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "   memory per idle subscription (resident set): {:.0} bytes",
            after.saturating_sub(before) as f64 / count as f64
        );
    }
    Ok(())
}

async fn connect_cycles(cycles: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (_rt, ids, server, url) = serve_one_cell().await?;
    let (connect, add) = first_frames(&ids[0].to_string());
    let cycle = || async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await?;
        ws.send(Message::text(connect.clone())).await?;
        ws.send(Message::text(add.clone())).await?;
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message?
                && text.as_str().contains("\"Transition\"")
            {
                break;
            }
        }
        ws.close(None).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    for _ in 0..500 {
        cycle().await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_bytes();
    let started = Instant::now();
    for _ in 0..cycles {
        cycle().await?;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_bytes();
    println!(
        "4. {cycles} connect/subscribe/close cycles in {:.2} s",
        took.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "   resident set after the warm-up: {:.1} MiB; after the cycles: {:.1} MiB (delta {:+.1} MiB)",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            (after as f64 - before as f64) / 1048576.0
        );
    }
    server.shutdown().await?;
    Ok(())
}
