//! The local store (`.promptgate/`): the response cache and results by
//! fingerprint. It is exactly the folder a CI cache step saves and restores.

pub mod cache;

use serde::{Deserialize, Serialize};

use crate::runner::CallOutcome;

pub mod results;

/// The identity of a prompt's content (see `spec::identity`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionId(pub String);

/// The identity of an evaluation: version + cases + evaluators + judge + repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl std::fmt::Display for VersionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A criterion as it was when the result was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionInfo {
    pub name: String,
    /// e.g. `judge`, `regex`, `string`.
    pub kind: String,
    pub weight: f64,
    pub threshold: Option<f64>,
    /// Scores are pass/fail (0 or 1) by construction: the gate may use an exact test.
    pub binary: bool,
    pub line: Option<u32>,
}

/// One criterion's score of one output: the score, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub score: Result<crate::eval::Score, String>,
}

/// One repeat of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatResult {
    pub call: CallOutcome,
    /// In the order of `EvalResult::criteria`.
    pub scores: Vec<CriterionScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub case_id: String,
    /// The case's variables, for reports of the worst cases.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub repeats: Vec<RepeatResult>,
}

/// The stored outcome of evaluating one prompt version: what the gate compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub prompt: String,
    pub version: VersionId,
    pub fingerprint: Fingerprint,
    /// `publisher/model` the outputs came from.
    pub model: String,
    /// False when the outputs came from the echo provider.
    pub from_model: bool,
    pub criteria: Vec<CriterionInfo>,
    pub cases: Vec<CaseResult>,
    /// RFC 3339.
    pub created_at: String,
}
