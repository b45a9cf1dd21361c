//! Cases: inline `testData` and dataset files (JSONL, CSV, YAML).

use serde::{Deserialize, Serialize};

use crate::spec::RepoPath;

/// Where a case came from, for errors and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSource {
    pub file: RepoPath,
    /// 1-based line (for CSV: the line the row starts on).
    pub line: u32,
}

/// One set of template variables plus optional expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Stable within a prompt: the `id` column/key when the data has one,
    /// otherwise derived from the position (`testData[3]`, `cases.jsonl:12`).
    /// The gate pairs head and baseline by this id.
    pub id: String,
    /// Every variable, including `expected` (GitHub Models templates refer to
    /// `{{expected}}` like any other variable).
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub expected: Option<String>,
    pub keywords: Vec<String>,
    pub regex: Option<String>,
    pub schema: Option<serde_json::Value>,
    pub source: CaseSource,
}
