//! Model calls as plain data: what is sent, what comes back, and how the
//! calls of a run are counted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::prompt::{ModelParameters, ResponseFormat, Role};

/// A rendered message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// Everything that decides what a provider is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name as the provider knows it (no alias prefix).
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub parameters: ModelParameters,
    pub response_format: ResponseFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    pub finish_reason: Option<String>,
}

/// One call's outcome, as evaluators and reports see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// The reply, or why there is none (counted against the prompt).
    pub result: Result<String, String>,
    pub usage: Usage,
    pub latency_ms: u64,
    /// `None` when the model has no known price.
    pub cost_usd: Option<f64>,
    /// Served from the response cache; no provider call was made.
    pub cached: bool,
}

/// Calls and what they cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallStats {
    /// Calls sent to a provider.
    pub made: u64,
    /// Calls answered from the response cache (free).
    pub cached: u64,
    /// Calls that ended in an error (made or not).
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The cost of the calls made whose model has a known price.
    pub cost_usd: f64,
    /// Calls made whose model has no known price (not in `cost_usd`).
    pub unpriced: u64,
}

impl CallStats {
    /// Adds one call's outcome.
    pub fn record(&mut self, call: &CallOutcome) {
        if call.cached {
            self.cached += 1;
        } else {
            self.made += 1;
            self.input_tokens += call.usage.input_tokens;
            self.output_tokens += call.usage.output_tokens;
            match call.cost_usd {
                Some(cost) => self.cost_usd += cost,
                None => self.unpriced += 1,
            }
        }
        if call.result.is_err() {
            self.failed += 1;
        }
    }

    /// The counts of a set of outcomes (a batch, a prompt, a run).
    pub fn from_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a CallOutcome>) -> Self {
        let mut stats = CallStats::default();
        for outcome in outcomes {
            stats.record(outcome);
        }
        stats
    }

    pub fn add(&mut self, other: &CallStats) {
        self.made += other.made;
        self.cached += other.cached;
        self.failed += other.failed;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
        self.unpriced += other.unpriced;
    }

    /// `$0.0123`, with `+ N unpriced` when some calls have no known price.
    pub fn cost_text(&self) -> String {
        let known = format!("${:.4}", self.cost_usd);
        if self.unpriced > 0 {
            format!("{known} + {} unpriced call(s)", self.unpriced)
        } else {
            known
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_what_was_spent_apart_from_what_was_cached() {
        let outcome = |cached: bool, cost: Option<f64>, ok: bool| CallOutcome {
            result: if ok { Ok("x".into()) } else { Err("e".into()) },
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
            latency_ms: 100,
            cost_usd: cost,
            cached,
        };
        let stats = CallStats::from_outcomes(&[
            outcome(false, Some(0.5), true),
            outcome(true, Some(0.25), true),
            outcome(false, None, false),
        ]);
        assert_eq!((stats.made, stats.cached, stats.failed), (2, 1, 1));
        assert_eq!(stats.unpriced, 1);
        // Cached answers cost nothing this run and send no tokens.
        assert_eq!(stats.input_tokens, 20);
        assert!((stats.cost_usd - 0.5).abs() < 1e-9);
        assert_eq!(stats.cost_text(), "$0.5000 + 1 unpriced call(s)");
    }
}
