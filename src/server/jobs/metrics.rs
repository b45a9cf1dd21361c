//! Job durations for `/metrics`: a fixed-bucket histogram per (kind, outcome).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::JobKind;

/// Upper bounds of the duration buckets, in seconds (Prometheus `le`).
pub const DURATION_BUCKETS_SECONDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// One histogram: how long jobs of `kind` that ended as `outcome` ran.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationSeries {
    pub kind: JobKind,
    pub outcome: &'static str,
    /// Cumulative counts per bucket of [`DURATION_BUCKETS_SECONDS`].
    pub cumulative: [u64; DURATION_BUCKETS_SECONDS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

#[derive(Debug, Default)]
pub struct JobMetrics {
    series: Mutex<BTreeMap<(JobKind, &'static str), DurationSeries>>,
}

impl JobMetrics {
    pub fn record(&self, kind: JobKind, outcome: &'static str, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = series
            .entry((kind, outcome))
            .or_insert_with(|| DurationSeries {
                kind,
                outcome,
                cumulative: [0; DURATION_BUCKETS_SECONDS.len()],
                count: 0,
                sum_seconds: 0.0,
            });
        for (bucket, bound) in entry.cumulative.iter_mut().zip(DURATION_BUCKETS_SECONDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        entry.count += 1;
        entry.sum_seconds += seconds;
    }

    /// Every series, ordered by kind then outcome.
    pub fn snapshot(&self) -> Vec<DurationSeries> {
        let series = self
            .series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        series.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let metrics = JobMetrics::default();
        metrics.record(JobKind::Gate, "done", Duration::from_millis(30));
        metrics.record(JobKind::Gate, "done", Duration::from_secs(400));
        let [series] = metrics.snapshot().try_into().unwrap();
        assert_eq!(series.count, 2);
        assert_eq!(series.cumulative[2], 0, "0.025 s bucket");
        assert_eq!(series.cumulative[3], 1, "0.05 s bucket");
        assert_eq!(
            *series.cumulative.last().unwrap(),
            1,
            "400 s is above every bound"
        );
        assert!((series.sum_seconds - 400.03).abs() < 1e-9);
    }
}
