//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand:
//! a few counters here, the queue depth and job durations from the queue.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::webhook::DeliveryOutcome;
use crate::jobs::{DURATION_BUCKETS_SECONDS, DurationSeries, JobStatus, QueueDepth};

#[derive(Debug, Default)]
pub struct ServerMetrics {
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    signature_failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// Event names become label values; anything that is not a plain GitHub event
/// name is counted as `other` so a sender cannot grow the series.
fn event_label(event: &str) -> String {
    let plain = !event.is_empty()
        && event.len() <= 64
        && event
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    if plain {
        event.to_string()
    } else {
        "other".to_string()
    }
}

impl ServerMetrics {
    pub fn delivery(&self, event: &str, outcome: DeliveryOutcome) {
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        *deliveries
            .entry((event_label(event), outcome.label()))
            .or_default() += 1;
    }

    pub fn signature_failure(&self, reason: &'static str) {
        let mut failures = self
            .signature_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *failures.entry(reason).or_default() += 1;
    }

    /// Deliveries counted for (event, outcome label).
    pub fn deliveries_of(&self, event: &str, outcome: DeliveryOutcome) -> u64 {
        let deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        deliveries
            .get(&(event_label(event), outcome.label()))
            .copied()
            .unwrap_or(0)
    }

    /// The whole exposition; `depth` is `None` when the database did not answer.
    pub fn render(&self, depth: Option<QueueDepth>, durations: &[DurationSeries]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP promptgate_webhook_deliveries_total Webhook deliveries by event and outcome.\n",
        );
        out.push_str("# TYPE promptgate_webhook_deliveries_total counter\n");
        for ((event, outcome), count) in self
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "promptgate_webhook_deliveries_total{{event=\"{event}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        out.push_str("# HELP promptgate_webhook_signature_failures_total Webhooks refused for their signature.\n");
        out.push_str("# TYPE promptgate_webhook_signature_failures_total counter\n");
        for (reason, count) in self
            .signature_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "promptgate_webhook_signature_failures_total{{reason=\"{reason}\"}} {count}"
            );
        }
        out.push_str("# HELP promptgate_jobs Jobs in the queue by status.\n");
        out.push_str("# TYPE promptgate_jobs gauge\n");
        if let Some(depth) = depth {
            for status in JobStatus::ALL {
                let _ = writeln!(
                    out,
                    "promptgate_jobs{{status=\"{}\"}} {}",
                    status.as_str(),
                    depth.get(status)
                );
            }
        }
        out.push_str(
            "# HELP promptgate_job_duration_seconds How long jobs ran, by kind and outcome.\n",
        );
        out.push_str("# TYPE promptgate_job_duration_seconds histogram\n");
        for series in durations {
            let labels = format!("kind=\"{}\",outcome=\"{}\"", series.kind, series.outcome);
            for (bound, count) in DURATION_BUCKETS_SECONDS.iter().zip(series.cumulative) {
                let _ = writeln!(
                    out,
                    "promptgate_job_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "promptgate_job_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "promptgate_job_duration_seconds_sum{{{labels}}} {}",
                series.sum_seconds
            );
            let _ = writeln!(
                out,
                "promptgate_job_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_event_names_share_one_label() {
        let metrics = ServerMetrics::default();
        metrics.delivery("pull_request", DeliveryOutcome::Enqueued);
        metrics.delivery("x\"} 1\nevil", DeliveryOutcome::Ignored);
        let text = metrics.render(
            Some(QueueDepth {
                queued: 2,
                ..Default::default()
            }),
            &[],
        );
        assert!(text.contains(
            "promptgate_webhook_deliveries_total{event=\"pull_request\",outcome=\"enqueued\"} 1"
        ));
        assert!(text.contains("{event=\"other\",outcome=\"ignored\"} 1"));
        assert!(text.contains("promptgate_jobs{status=\"queued\"} 2"));
        assert!(!text.contains("evil"));
    }
}
