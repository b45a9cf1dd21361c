//! What a suggestion run found, as plain data: the flow fills it in, the
//! renderers and the front ends read it.

use super::edit::LineEdit;
use super::request::Candidate;
use super::split::Split;
use super::survival::Judged;
use crate::types::{CallStats, RepoPath};

/// One file a suggestion changes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEdit {
    pub path: RepoPath,
    /// A shared snippet (other prompts include it too).
    pub snippet: bool,
    pub old: String,
    pub new: String,
    /// The lines replaced, for a pull-request suggestion block.
    pub lines: LineEdit,
}

/// A candidate that survived, with the files it changes.
#[derive(Debug, Clone)]
pub struct Verified {
    pub candidate: Candidate,
    pub judged: Judged,
    pub files: Vec<FileEdit>,
}

/// One candidate's fate, for the report.
#[derive(Debug, Clone)]
pub struct CandidateFate {
    /// 1-based, in the model's order.
    pub number: usize,
    pub rationale: Vec<String>,
    /// `None`: it survived.
    pub rejected: Option<String>,
}

/// How a prompt's suggestion ended.
#[derive(Debug, Clone)]
pub enum SuggestStatus {
    /// The prompt passed and no criterion was named.
    NothingToFix,
    /// Too few cases, or over the budget: nothing was asked.
    CannotVerify(String),
    /// Candidates were measured and none passed the rule.
    NoneSurvived,
    Found(Box<Verified>),
}

/// The suggestion for one prompt.
#[derive(Debug, Clone)]
pub struct PromptSuggestion {
    pub prompt: String,
    pub path: RepoPath,
    pub target: Option<String>,
    pub split: Option<Split>,
    pub candidates: Vec<CandidateFate>,
    pub status: SuggestStatus,
    /// Everything finding it cost: the suggestion call, the candidates'
    /// evaluations and their judges.
    pub cost: CallStats,
}

impl PromptSuggestion {
    /// A suggestion that ended before any candidate was asked for.
    pub fn ended(
        prompt: &str,
        path: RepoPath,
        target: Option<String>,
        status: SuggestStatus,
    ) -> Self {
        Self {
            prompt: prompt.to_owned(),
            path,
            target,
            split: None,
            candidates: Vec::new(),
            status,
            cost: CallStats::default(),
        }
    }

    pub fn verified(&self) -> Option<&Verified> {
        match &self.status {
            SuggestStatus::Found(found) => Some(found),
            _ => None,
        }
    }
}
