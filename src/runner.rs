//! The runner: cases × repeats → provider calls, with the response cache,
//! bounded concurrency, rate limits, retries and cost accounting.

use serde::{Deserialize, Serialize};

use crate::provider::Usage;

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
