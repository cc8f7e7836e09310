//! A Zipf sampler over `1..=n` (rank `k` drawn with probability proportional to `1/k^α`)
//! and the small random number generator it draws from, for the transfer bench.
//!
//! Written here rather than taken from `rand_distr`: the bench needs one distribution, and
//! an exact one (an inverted cumulative table, binary-searched) is a few lines.

#![allow(dead_code)]

/// SplitMix64: fast, statistically good enough for choosing accounts, seedable per client.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Zipf(n, α): `sample` returns a rank in `0..n` (rank 0 the most likely). α = 0 is
/// uniform.
pub struct Zipf {
    /// `cdf[k]` = P(rank ≤ k), the last entry 1.
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, alpha: f64) -> Zipf {
        assert!(n > 0);
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += (k as f64).powf(-alpha);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        *cdf.last_mut().expect("n > 0") = 1.0;
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// P(rank = k).
    pub fn probability(&self, k: usize) -> f64 {
        self.cdf[k] - if k == 0 { 0.0 } else { self.cdf[k - 1] }
    }

    /// Two distinct ranks (the second redrawn while equal to the first).
    pub fn pair(&self, rng: &mut Rng) -> (usize, usize) {
        let from = self.sample(rng);
        loop {
            let to = self.sample(rng);
            if to != from || self.cdf.len() == 1 {
                return (from, to);
            }
        }
    }
}
