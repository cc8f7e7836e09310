//! A bounded load test of the HTTP API on loopback: requests per second for a query through
//! `POST /api/query`, beside a bare axum route that answers the same JSON, in the same run.
//!
//! ```sh
//! cargo run --release --example http_load            # 20000 requests per round
//! cargo run --release --example http_load -- 50000   # more
//! ```
//!
//! Each round sends a fixed number of requests (stopping early after 20 s) from 16
//! concurrent connections; five rounds alternate between the two servers and the median
//! round of each is reported. Figures are in docs/performance-http.md.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use convoke::http::Server;
use convoke::{Id, QueryCtx, Result, Runtime, Table, procedure};
use serde::{Deserialize, Serialize};

mod load {
    use super::*;

    convoke::module!(load);

    /// The document the query reads.
    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "items")]
    pub struct Item {
        pub name: String,
        pub tags: Vec<String>,
        pub price: f64,
        pub stock: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct GetItem {
        pub id: Id<Item>,
    }

    /// Reads one item by id.
    #[procedure(query)]
    pub async fn get_item(ctx: &QueryCtx<'_>, args: GetItem) -> Result<Option<Item>> {
        Ok(ctx.db().get(args.id).await?.map(|d| d.into_inner()))
    }

    /// Inserts the item.
    #[procedure(mutation)]
    pub async fn seed(ctx: &convoke::MutationCtx<'_>) -> Result<Id<Item>> {
        let item = Item {
            name: "widget".into(),
            tags: vec!["blue".into(), "small".into()],
            price: 9.5,
            stock: 120,
        };
        Ok(ctx.db().insert(&item).await?)
    }
}

const CONCURRENCY: usize = 16;
const ROUNDS: usize = 5;
const ROUND_TIME_LIMIT: Duration = Duration::from_secs(20);

struct Round {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    /// Process CPU time (user + system, client and server together) per request, where
    /// `/proc` tells it: unlike throughput, it does not depend on what else the machine runs.
    cpu_per_request: Option<Duration>,
    p50: Duration,
    p99: Duration,
}

impl Round {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// This process's CPU time so far (Linux; `None` elsewhere).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

async fn round(client: &reqwest::Client, url: &str, body: &'static str, total: usize) -> Round {
    let cpu_before = cpu_time();
    let started = Instant::now();
    let per_worker = total.div_ceil(CONCURRENCY);
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let url = url.to_owned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            let mut errors = 0;
            for _ in 0..per_worker {
                if started.elapsed() > ROUND_TIME_LIMIT {
                    break;
                }
                let sent = Instant::now();
                let ok = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        response.status().is_success() && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for worker in workers {
        if let Ok((l, e)) = worker.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed();
    let cpu_per_request = match (cpu_before, cpu_time()) {
        (Some(before), Some(after)) if !latencies.is_empty() => {
            Some((after.saturating_sub(before)) / latencies.len() as u32)
        }
        _ => None,
    };
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Round {
        requests: latencies.len(),
        errors,
        elapsed,
        cpu_per_request,
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn median(mut rounds: Vec<Round>) -> Round {
    rounds.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    // (`rounds` is not empty: ROUNDS > 0.)
    let mid = rounds.len() / 2;
    rounds.swap_remove(mid)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let total: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 20_000,
    };

    let runtime = Runtime::in_memory()?;
    let id = runtime.mutation(load::seed, ()).await?;
    let server = Server::builder(runtime)
        .build()
        .await?
        .spawn("127.0.0.1:0")
        .await?;
    let body: &'static str = Box::leak(
        format!(r#"{{"path":"load:get_item","args":{{"id":"{id}"}},"format":"json"}}"#)
            .into_boxed_str(),
    );

    // The bare route answers exactly what convoke answers.
    let client = reqwest::Client::new();
    let convoke_url = format!("{}/api/query", server.url());
    let answer = client
        .post(&convoke_url)
        .body(body)
        .send()
        .await?
        .bytes()
        .await?;
    println!("response: {}", String::from_utf8_lossy(&answer));
    let bare = axum::Router::new().route(
        "/bare",
        post(move |_body: Bytes| {
            let answer = answer.clone();
            async move { ([("content-type", "application/json")], answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/bare", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, bare).await });

    println!(
        "{total} requests per round, {CONCURRENCY} connections, {} worker threads",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm up both (connections, allocator, caches).
    round(&client, &bare_url, body, total / 10).await;
    round(&client, &convoke_url, body, total / 10).await;

    let (mut bare_rounds, mut convoke_rounds) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare_rounds.push(round(&client, &bare_url, body, total).await);
        convoke_rounds.push(round(&client, &convoke_url, body, total).await);
    }
    let cpu = |rounds: &[Round]| -> Option<Duration> {
        let total: Option<Duration> = rounds.iter().map(|r| r.cpu_per_request).sum();
        total.map(|t| t / rounds.len() as u32)
    };
    let (bare_cpu, convoke_cpu) = (cpu(&bare_rounds), cpu(&convoke_rounds));
    let (bare, convoke) = (median(bare_rounds), median(convoke_rounds));
    for (name, r, cpu) in [
        ("bare axum route", &bare, bare_cpu),
        ("convoke /api/query", &convoke, convoke_cpu),
    ] {
        let cpu = cpu.map_or("-".to_owned(), |c| {
            format!("{:.1} µs", c.as_secs_f64() * 1e6)
        });
        println!(
            "{name:<20} {:>9.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   CPU/request {cpu:>9} ({} requests, {} errors, {:.2} s)",
            r.rps(),
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.requests,
            r.errors,
            r.elapsed.as_secs_f64()
        );
    }
    if let (Some(b), Some(c)) = (bare_cpu, convoke_cpu) {
        println!(
            "server-side cost of convoke over the bare route: {:.1} µs of CPU per request",
            (c.as_secs_f64() - b.as_secs_f64()) * 1e6
        );
    }
    let ratio = convoke.rps() / bare.rps();
    println!(
        "convoke / bare = {ratio:.2} (target: at least 0.70){}",
        if ratio >= 0.7 { "" } else { "  BELOW TARGET" }
    );
    server.shutdown().await?;
    Ok(())
}
