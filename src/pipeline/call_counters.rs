//! Process-wide counters of the calls promptgate makes to the outside world:
//! the GitHub API (by operation and status class, plus the rate limit GitHub
//! last reported) and LLM providers (by kind and outcome).
//!
//! The GitHub client and the runner record into [`global`] at their one
//! choke point each; `/metrics` renders a [`Snapshot`]. Every label comes
//! from a closed set — operation names are `&'static str` constants of the
//! client, kinds and outcomes are enums — so no caller, payload or URL can
//! grow the series, and nothing secret ever becomes a label.
//!
//! Each request sent counts once, retries included: that is what GitHub's
//! rate limit and a provider's bill count. Answers served from the response
//! cache never reach a provider and are not counted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pipeline::config::ProviderKind;
use crate::pipeline::provider::ProviderError;

/// No `x-ratelimit-remaining` header seen yet.
const UNSEEN: u64 = u64::MAX;

/// Counters for one process (or one test).
#[derive(Debug)]
pub struct Telemetry {
    github_calls: Mutex<Counts>,
    github_rate_limit_remaining: AtomicU64,
    provider_calls: Mutex<Counts>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

static GLOBAL: Telemetry = Telemetry::new();

/// The counters of this process.
pub fn global() -> &'static Telemetry {
    &GLOBAL
}

/// Records one GitHub API request in [`global`]; see [`Telemetry::github_call`].
pub fn record_github_call(
    operation: &'static str,
    status: Option<u16>,
    rate_limit_remaining: Option<&str>,
) {
    GLOBAL.github_call(operation, status, rate_limit_remaining);
}

/// Records one provider request in [`global`]; see [`Telemetry::provider_call`].
pub fn record_provider_call(kind: ProviderKind, error: Option<&ProviderError>) {
    GLOBAL.provider_call(kind, error);
}

/// What the counters hold at one moment, sorted, with labels ready to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// (operation id, status class, requests).
    pub github_calls: Vec<(String, &'static str, u64)>,
    /// The last `x-ratelimit-remaining` GitHub sent, if any.
    pub github_rate_limit_remaining: Option<u64>,
    /// (provider kind, outcome, requests).
    pub provider_calls: Vec<(&'static str, &'static str, u64)>,
}

impl Telemetry {
    pub const fn new() -> Self {
        Telemetry {
            github_calls: Mutex::new(BTreeMap::new()),
            github_rate_limit_remaining: AtomicU64::new(UNSEEN),
            provider_calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// One GitHub request: `operation` is the client's description of the
    /// call (a constant), `status` the HTTP status or `None` when no answer
    /// came (timeout, connection failure), and the raw
    /// `x-ratelimit-remaining` header when the answer had one.
    pub fn github_call(
        &self,
        operation: &'static str,
        status: Option<u16>,
        rate_limit_remaining: Option<&str>,
    ) {
        bump(&self.github_calls, (operation, status_class(status)));
        if let Some(remaining) = rate_limit_remaining.and_then(|v| v.trim().parse::<u64>().ok()) {
            self.github_rate_limit_remaining
                .store(remaining.min(UNSEEN - 1), Ordering::Relaxed);
        }
    }

    /// One provider request of `kind`: `None` when it answered, else why not.
    pub fn provider_call(&self, kind: ProviderKind, error: Option<&ProviderError>) {
        bump(
            &self.provider_calls,
            (kind_label(kind), error.map_or("ok", error_class)),
        );
    }

    pub fn snapshot(&self) -> Snapshot {
        let remaining = self.github_rate_limit_remaining.load(Ordering::Relaxed);
        Snapshot {
            github_calls: locked(&self.github_calls)
                .iter()
                .map(|(&(operation, class), &count)| (operation_id(operation), class, count))
                .collect(),
            github_rate_limit_remaining: (remaining != UNSEEN).then_some(remaining),
            provider_calls: locked(&self.provider_calls)
                .iter()
                .map(|(&(kind, outcome), &count)| (kind, outcome, count))
                .collect(),
        }
    }
}

type Counts = BTreeMap<(&'static str, &'static str), u64>;

fn locked(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bump(counts: &Mutex<Counts>, key: (&'static str, &'static str)) {
    *locked(counts).entry(key).or_default() += 1;
}

/// `2xx` … `5xx`, or `error` when there was no HTTP answer to classify.
fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "error",
    }
}

/// The kind as `promptgate.toml` spells it.
fn kind_label(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Ollama => "ollama",
        ProviderKind::OpenaiCompatible => "openai-compatible",
        ProviderKind::GithubModels => "github-models",
        ProviderKind::Echo => "echo",
    }
}

/// Why a provider request failed, coarsely enough to alert on.
fn error_class(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Http { status: 429, .. } => "rate_limited",
        ProviderError::Http {
            status: 400..=499, ..
        } => "http_4xx",
        ProviderError::Http {
            status: 500..=599, ..
        } => "http_5xx",
        ProviderError::Http { .. } => "http_other",
        ProviderError::Timeout(_) => "timeout",
        ProviderError::Transport(_) => "transport",
        ProviderError::Malformed(_) => "malformed",
        ProviderError::MissingKey { .. }
        | ProviderError::UnknownProvider { .. }
        | ProviderError::Config { .. } => "config",
    }
}

/// "get a collaborator's permission" → `get_a_collaborators_permission`:
/// lower-case words joined by `_`, safe inside a label value as it is.
fn operation_id(operation: &str) -> String {
    let mut id = String::with_capacity(operation.len());
    for word in operation
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
        .map(|word| word.replace('\'', ""))
        .filter(|word| !word.is_empty())
    {
        if !id.is_empty() {
            id.push('_');
        }
        id.push_str(&word.to_ascii_lowercase());
    }
    if id.is_empty() {
        id.push_str("other");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn github_calls_count_by_operation_and_status_class() {
        let telemetry = Telemetry::new();
        assert_eq!(telemetry.snapshot(), Snapshot::default());
        telemetry.github_call("get the pull request", Some(200), Some("4999"));
        telemetry.github_call("get the pull request", Some(204), None);
        telemetry.github_call("get the pull request", Some(502), Some("4997"));
        telemetry.github_call("get a collaborator's permission", Some(404), Some("junk"));
        telemetry.github_call("create a comment", None, None);
        let snapshot = telemetry.snapshot();
        assert_eq!(
            snapshot.github_calls,
            [
                ("create_a_comment".to_string(), "error", 1),
                ("get_a_collaborators_permission".to_string(), "4xx", 1),
                ("get_the_pull_request".to_string(), "2xx", 2),
                ("get_the_pull_request".to_string(), "5xx", 1),
            ]
        );
        // The last parseable header wins; junk leaves it alone.
        assert_eq!(snapshot.github_rate_limit_remaining, Some(4997));
    }

    #[test]
    fn provider_calls_count_by_kind_and_outcome() {
        let telemetry = Telemetry::new();
        let http = |status| ProviderError::Http {
            status,
            message: "sk-secret-in-a-message".into(),
            retry_after: None,
        };
        telemetry.provider_call(ProviderKind::OpenaiCompatible, None);
        telemetry.provider_call(ProviderKind::OpenaiCompatible, None);
        telemetry.provider_call(ProviderKind::OpenaiCompatible, Some(&http(429)));
        telemetry.provider_call(ProviderKind::Anthropic, Some(&http(401)));
        telemetry.provider_call(ProviderKind::Anthropic, Some(&http(529)));
        telemetry.provider_call(
            ProviderKind::Ollama,
            Some(&ProviderError::Timeout(Duration::from_secs(1))),
        );
        assert_eq!(
            telemetry.snapshot().provider_calls,
            [
                ("anthropic", "http_4xx", 1),
                ("anthropic", "http_5xx", 1),
                ("ollama", "timeout", 1),
                ("openai-compatible", "ok", 2),
                ("openai-compatible", "rate_limited", 1),
            ]
        );
    }

    #[test]
    fn operation_ids_are_plain_words() {
        assert_eq!(operation_id("list issue comments"), "list_issue_comments");
        assert_eq!(operation_id("x\"} 1\nevil"), "x_1_evil");
        assert_eq!(operation_id("\"}"), "other");
    }
}
