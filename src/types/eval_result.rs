//! The result of evaluating one prompt version, which the store keeps by
//! fingerprint and the gate compares: its header and its cases.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::call::CallStats;
use super::cases::Cases;
use super::ids::{Fingerprint, VersionId};
use super::result::{CriterionInfo, ResultTotals};

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
    /// In memory, or in a temporary file for a large suite.
    pub cases: Cases,
    /// RFC 3339.
    pub created_at: String,
}

impl EvalResult {
    /// Calls that got no answer (provider errors, timeouts): a result with
    /// any is incomplete and is never stored or used as a baseline.
    pub fn failed_calls(&self) -> usize {
        self.totals().failed_calls
    }

    /// Cases whose every repeat scored above 0 on every criterion: `gh
    /// models eval`'s rule for a passed test (a failed call or an error
    /// fails the case). With the number of cases.
    pub fn cases_passing_every_criterion(&self) -> (usize, usize) {
        (self.totals().passing_every_criterion, self.cases.len())
    }

    /// The output calls recorded in the result (judge calls are not in it).
    pub fn call_stats(&self) -> CallStats {
        self.totals().calls.clone()
    }

    /// What the store and every report ask of the whole result, in one
    /// pass over its cases (remembered for cases in a file, which would
    /// otherwise be read back for each question).
    pub fn totals(&self) -> Cow<'_, ResultTotals> {
        self.cases.totals()
    }
}

#[cfg(test)]
impl EvalResult {
    /// A result of `cases` scored on `criteria`, its header made up: for
    /// unit tests of what reads results.
    pub(crate) fn of_cases(criteria: Vec<CriterionInfo>, cases: Cases) -> Self {
        Self {
            prompt: "p".to_owned(),
            version: VersionId("v".to_owned()),
            fingerprint: Fingerprint("f".to_owned()),
            model: "echo/echo".to_owned(),
            from_model: false,
            criteria,
            cases,
            created_at: String::new(),
        }
    }
}
