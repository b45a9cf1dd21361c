//! Evaluators: (case, output, call metadata) → a score in [0, 1] and a reason.

use serde::{Deserialize, Serialize};

/// One criterion's verdict on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// In [0, 1]; a judge's 1–5 maps to (n − 1) / 4.
    pub value: f64,
    /// Short, human: why this score (a judge's reason is kept here).
    pub reason: String,
    /// How to show the score when not as 0–1, e.g. `4/5`.
    pub display: Option<String>,
}
