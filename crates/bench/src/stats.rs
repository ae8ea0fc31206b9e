//! Latency samples and their summary (nearest-rank percentiles).

use std::time::Duration;

/// Percentiles of a set of latency samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The largest sample.
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples`; all zero when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        Summary {
            count: samples.len(),
            p50: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
            p99: percentile(&samples, 99.0),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// The nearest-rank `p`th percentile of sorted `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Operations per second.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s = Summary::of(millis(&(1..=100).rev().collect::<Vec<_>>()));
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        let one = Summary::of(millis(&[7]));
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
    }

    #[test]
    fn empty_samples_summarise_to_zero() {
        let s = Summary::of(Vec::new());
        assert_eq!((s.count, s.p50, s.max), (0, Duration::ZERO, Duration::ZERO));
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
