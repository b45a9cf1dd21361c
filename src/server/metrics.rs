//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand:
//! a few counters here, the queue depth and job durations from the queue,
//! and the process-wide GitHub and provider call counters of
//! [`crate::pipeline::call_counters`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::webhook::DeliveryOutcome;
use crate::pipeline::call_counters::{self as telemetry, Snapshot};
use crate::server::jobs::{DURATION_BUCKETS_SECONDS, DurationSeries, JobStatus, QueueDepth};

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

/// The `# HELP` and `# TYPE` lines that open a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample per row: `name{first="…",second="…"} value`. The values must
/// already be safe inside quotes (every caller's labels come from closed sets).
fn two_label_samples<'a>(
    out: &mut String,
    name: &str,
    [first_key, second_key]: [&str; 2],
    rows: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) {
    for (first, second, value) in rows {
        let _ = writeln!(
            out,
            "{name}{{{first_key}=\"{first}\",{second_key}=\"{second}\"}} {value}"
        );
    }
}

/// GitHub API and provider calls made by this process (also by jobs).
fn render_outbound(out: &mut String, calls: &Snapshot) {
    family(
        out,
        "promptgate_github_api_calls_total",
        "counter",
        "GitHub API requests by operation and status class (retries included).",
    );
    two_label_samples(
        out,
        "promptgate_github_api_calls_total",
        ["operation", "status"],
        calls
            .github_calls
            .iter()
            .map(|(operation, class, count)| (operation.as_str(), *class, *count)),
    );
    family(
        out,
        "promptgate_github_rate_limit_remaining",
        "gauge",
        "Requests left in the GitHub rate limit, from the last x-ratelimit-remaining header.",
    );
    if let Some(remaining) = calls.github_rate_limit_remaining {
        let _ = writeln!(out, "promptgate_github_rate_limit_remaining {remaining}");
    }
    family(
        out,
        "promptgate_provider_calls_total",
        "counter",
        "LLM provider requests by provider kind and outcome (ok or an error class; cache hits excluded).",
    );
    two_label_samples(
        out,
        "promptgate_provider_calls_total",
        ["kind", "outcome"],
        calls.provider_calls.iter().copied(),
    );
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
        family(
            &mut out,
            "promptgate_webhook_deliveries_total",
            "counter",
            "Webhook deliveries by event and outcome.",
        );
        two_label_samples(
            &mut out,
            "promptgate_webhook_deliveries_total",
            ["event", "outcome"],
            self.deliveries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|((event, outcome), count)| (event.as_str(), *outcome, *count)),
        );
        family(
            &mut out,
            "promptgate_webhook_signature_failures_total",
            "counter",
            "Webhooks refused for their signature.",
        );
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
        family(
            &mut out,
            "promptgate_jobs",
            "gauge",
            "Jobs in the queue by status.",
        );
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
        family(
            &mut out,
            "promptgate_job_duration_seconds",
            "histogram",
            "How long jobs ran, by kind and outcome.",
        );
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
        render_outbound(&mut out, &telemetry::global().snapshot());
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

    #[test]
    fn outbound_calls_render_as_prometheus_text() {
        let mut out = String::new();
        render_outbound(&mut out, &Snapshot::default());
        // Families are announced even before the first call; no samples yet.
        assert_eq!(
            out.lines().filter(|line| !line.starts_with('#')).count(),
            0,
            "{out}"
        );
        assert!(out.contains("# TYPE promptgate_github_rate_limit_remaining gauge\n"));

        let calls = Snapshot {
            github_calls: vec![
                ("create_a_check_run".into(), "2xx", 3),
                ("get_the_pull_request".into(), "error", 1),
            ],
            github_rate_limit_remaining: Some(4990),
            provider_calls: vec![("openai", "ok", 7), ("openai", "rate_limited", 2)],
        };
        let mut out = String::new();
        render_outbound(&mut out, &calls);
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "promptgate_github_api_calls_total{operation=\"create_a_check_run\",status=\"2xx\"} 3",
                "promptgate_github_api_calls_total{operation=\"get_the_pull_request\",status=\"error\"} 1",
                "promptgate_github_rate_limit_remaining 4990",
                "promptgate_provider_calls_total{kind=\"openai\",outcome=\"ok\"} 7",
                "promptgate_provider_calls_total{kind=\"openai\",outcome=\"rate_limited\"} 2",
            ]
        );
        for family in [
            "promptgate_github_api_calls_total counter",
            "promptgate_github_rate_limit_remaining gauge",
            "promptgate_provider_calls_total counter",
        ] {
            assert!(out.contains(&format!("# TYPE {family}\n")), "{family}");
        }
        // The whole exposition carries the families too.
        let text = ServerMetrics::default().render(None, &[]);
        assert!(text.contains("# TYPE promptgate_provider_calls_total counter\n"));
    }
}
