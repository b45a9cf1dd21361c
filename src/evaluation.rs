//! Evaluating one prompt version: plan (render every case, compute the
//! version and fingerprint — cheap, no calls), then execute (provider calls
//! through the runner, then the evaluators) into an [`EvalResult`].
//!
//! The split is what makes baselines cheap: a check plans the base version,
//! looks its fingerprint up in the store, and executes only on a miss.

use crate::dataset::Case;
use crate::diagnostics::Diagnostics;
use crate::provider::ChatMessage;
use crate::spec::PromptSpec;
use crate::store::{Fingerprint, VersionId};

/// Everything needed to evaluate one prompt version, computed without a
/// single provider call.
#[derive(Debug, Clone)]
pub struct EvaluationPlan {
    pub prompt: PromptSpec,
    pub version: VersionId,
    pub fingerprint: Fingerprint,
    /// The cases, each with its rendered conversation.
    pub cases: Vec<PlannedCase>,
}

#[derive(Debug, Clone)]
pub struct PlannedCase {
    pub case: Case,
    pub messages: Vec<ChatMessage>,
}

/// Why a prompt could not be planned: problems in the user's files.
#[derive(Debug, thiserror::Error)]
#[error("{prompt}: {diagnostics}")]
pub struct PlanError {
    pub prompt: String,
    pub diagnostics: Diagnostics,
}
