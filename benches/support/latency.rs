//! A latency histogram: logarithmic buckets with 64 sub-buckets per power of two (values
//! within 1.6 % of the truth), the exact maximum, mergeable across clients and processes.

#![allow(dead_code)]

use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    max_ns: u64,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            max_ns: 0,
            total: 0,
        }
    }
}

fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros() as u64; // ≥ SUB_BITS
    let shift = e - SUB_BITS as u64;
    let mantissa = (ns >> shift) & (SUB - 1);
    (SUB + shift * SUB + mantissa) as usize
}

/// The middle of bucket `i`'s range, in ns.
fn value(i: usize) -> f64 {
    let i = i as u64;
    if i < SUB {
        return i as f64;
    }
    let shift = (i - SUB) / SUB;
    let mantissa = (i - SUB) % SUB;
    let low = (SUB + mantissa) << shift;
    low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[bucket(ns)] += 1;
        self.max_ns = self.max_ns.max(ns);
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_ns = self.max_ns.max(other.max_ns);
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The `q` quantile (0 < q ≤ 1), in ns.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let v = value(i).min(self.max_ns as f64);
                return Duration::from_nanos(v as u64);
            }
        }
        self.max()
    }

    /// As text for a child process's report: `max total i:count,i:count..`.
    pub fn to_text(&self) -> String {
        let mut out = format!("{} {}", self.max_ns, self.total);
        let mut sep = ' ';
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                out.push(sep);
                out.push_str(&format!("{i}:{c}"));
                sep = ',';
            }
        }
        out
    }

    pub fn from_text(text: &str) -> Option<Histogram> {
        let mut parts = text.split_whitespace();
        let mut h = Histogram {
            max_ns: parts.next()?.parse().ok()?,
            total: parts.next()?.parse().ok()?,
            ..Histogram::default()
        };
        if let Some(buckets) = parts.next() {
            for pair in buckets.split(',') {
                let (i, c) = pair.split_once(':')?;
                let i: usize = i.parse().ok()?;
                *h.counts.get_mut(i)? = c.parse().ok()?;
            }
        }
        Some(h)
    }
}
