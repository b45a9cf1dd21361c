//! Reports: what a check (or an eval-only run) found, rendered for people and
//! machines — the terminal table, the markdown body posted on pull requests
//! and written to the step summary, JUnit XML and versioned JSON.
//!
//! The input is plain data ([`CheckReport`]); every renderer is a pure
//! function of it, so the same run reads the same everywhere. Writing files
//! is the caller's business ([`write_file`] helps with a clear error).

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pipeline::gate::sequential::SequentialOutcome;
use crate::pipeline::gate::{PromptGate, Verdict};
use crate::types::{CallStats, EvalResult};

pub mod escape;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;
mod view;

/// The hidden line that identifies promptgate's sticky pull-request comment.
/// Anyone can paste it, so a finder must also check the comment's author.
pub const COMMENT_MARKER: &str = "<!-- promptgate:comment -->";

/// Whether the run compared head with a baseline or only evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    /// `promptgate check`: head vs baseline, with verdicts.
    Check,
    /// `promptgate eval`: per-criterion means and pass rates, no comparison.
    Eval,
}

/// Everything one run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub mode: ReportMode,
    pub prompts: Vec<PromptReport>,
    pub totals: RunTotals,
    /// Run-wide notes shown under the verdict line, e.g. "skipped: no
    /// credentials" or why some prompt has no baseline.
    pub notes: Vec<String>,
    /// promptgate's version (`env!("CARGO_PKG_VERSION")`).
    pub tool_version: String,
    /// RFC 3339.
    pub generated_at: String,
}

/// Where a prompt's baseline came from (DESIGN.md "Storage").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BaselineSource {
    LocalStore,
    Registry,
    /// The base version was evaluated from git during this run.
    FreshEvaluation {
        rev: String,
    },
}

impl BaselineSource {
    /// The base version evaluated from git at `rev` during this run.
    pub fn fresh(rev: &str) -> Self {
        BaselineSource::FreshEvaluation {
            rev: crate::types::ids::short_hex(rev).to_owned(),
        }
    }
}

impl fmt::Display for BaselineSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaselineSource::LocalStore => f.write_str("local store"),
            BaselineSource::Registry => f.write_str("registry"),
            BaselineSource::FreshEvaluation { rev } => write!(f, "fresh evaluation of {rev}"),
        }
    }
}

/// One prompt's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptReport {
    /// The gate's decision; `None` in eval-only mode.
    pub gate: Option<PromptGate>,
    pub head: EvalResult,
    /// `None` in eval-only mode and for a prompt without a baseline.
    pub baseline: Option<EvalResult>,
    pub baseline_source: Option<BaselineSource>,
    /// The prompt file, repository-relative, e.g. `prompts/support.prompt.yml`.
    pub path: Option<String>,
    /// Why the prompt was evaluated, e.g. `snippets/tone.md changed`.
    pub affected_because: Vec<String>,
    /// The word-level diff of the prompt, rendered as markdown by the diff
    /// module. Treated as untrusted: tags and mentions are defused here.
    pub prompt_diff_markdown: Option<String>,
    /// The same diff for a terminal (may carry SGR colour codes).
    pub prompt_diff_terminal: Option<String>,
    /// A trusted pull request changed the gate policy: `old → new`.
    pub policy_change: Option<String>,
    /// Calls this run made for this prompt (outputs, judges, a fresh baseline).
    pub calls: CallStats,
    /// Judged as `gh models eval` judges it: the prompt fails when a case
    /// fails any evaluator. Set for a GitHub-format prompt in an eval run.
    #[serde(default)]
    pub cases_must_pass: bool,
    /// How the sequential tests ended when the head was evaluated in
    /// batches (a check's suites of 50 cases or more); when they stopped
    /// early, `head` holds only the cases evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialOutcome>,
}

impl PromptReport {
    /// Cases failing an evaluator, when the prompt is judged by gh's rule.
    pub fn failed_cases(&self) -> Option<usize> {
        self.cases_must_pass.then(|| {
            let (passed, total) = self.head.cases_passing_every_criterion();
            total - passed
        })
    }

    /// False when either side's outputs came from the echo provider: the
    /// scores then test the pipeline, not a model.
    pub fn from_model(&self) -> bool {
        self.head.from_model && self.baseline.as_ref().is_none_or(|b| b.from_model)
    }

    /// Whether a head call failed: without a gate (eval mode) that alone
    /// fails the prompt, since a run that could not evaluate never passes.
    fn incomplete(&self) -> bool {
        self.head.failed_calls() > 0
    }

    /// This prompt's outcome, in the one vocabulary every report uses
    /// ([`Status`]).
    pub fn status(&self) -> Status {
        self.status_with(&view::rows(self))
    }

    /// [`status`](Self::status), from this prompt's rows already built.
    pub(crate) fn status_with(&self, rows: &[view::CriterionRow]) -> Status {
        let failed = self.gate.as_ref().is_some_and(|g| g.failed)
            || self.failed_cases().is_some_and(|n| n > 0)
            || (self.gate.is_none() && self.incomplete());
        if failed {
            return Status::Fail;
        }
        let needs_look = !self.from_model()
            || rows.iter().any(|r| {
                matches!(r.verdict, Some(Verdict::Regressed | Verdict::Inconclusive))
                    || r.threshold_met == Some(false)
                    || r.head_errors > 0
            });
        if needs_look {
            Status::Warn
        } else {
            Status::Pass
        }
    }
}

/// Run-wide totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTotals {
    pub calls: CallStats,
    /// Prompts left out because nothing they depend on changed.
    pub prompts_unaffected: usize,
    pub elapsed_ms: Option<u64>,
}

/// The outcome of a prompt, and of a run (its worst prompt's): the one
/// vocabulary of the terminal, markdown and JSON reports and the exit code
/// (the table is in the README, "Outcomes").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing regressed, nothing undecided.
    Pass,
    /// Passes the gate, but something needs a look: inconclusive criteria,
    /// regressions under `fail_on = never`, the echo provider.
    Warn,
    /// Fails the gate (or, in `eval`, a call failed or a GitHub-format case
    /// failed).
    Fail,
}

impl Status {
    /// The word every report shows for it: `check` passes or fails a gate,
    /// `eval` only evaluates.
    pub fn word(self, mode: ReportMode) -> &'static str {
        match (self, mode) {
            (Status::Pass, ReportMode::Eval) => "evaluated",
            (Status::Warn, ReportMode::Eval) => "evaluated, needs a look",
            (Status::Pass, _) => "passed",
            (Status::Warn, _) => "passed, needs a look",
            (Status::Fail, _) => "failed",
        }
    }
}

/// Counts behind the verdict line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub prompts: usize,
    pub prompts_failed: usize,
    pub regressed: usize,
    pub improved: usize,
    pub unchanged: usize,
    pub inconclusive: usize,
    pub new: usize,
    /// Criteria whose head mean is below their absolute threshold.
    pub below_threshold: usize,
    /// Failed head calls, and failed scores of calls that succeeded.
    pub errors: usize,
    /// Prompts whose outputs came from the echo provider.
    pub not_model: usize,
    /// Cases that failed an evaluator in prompts judged as `gh models eval`
    /// judges them (a GitHub-format file in `promptgate eval`).
    #[serde(default)]
    pub cases_failed: usize,
}

impl CheckReport {
    /// A report made now by this version of promptgate.
    pub fn new(
        mode: ReportMode,
        prompts: Vec<PromptReport>,
        totals: RunTotals,
        notes: Vec<String>,
    ) -> Self {
        Self {
            mode,
            prompts,
            totals,
            notes,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at: crate::types::now_rfc3339(),
        }
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            prompts: self.prompts.len(),
            ..Summary::default()
        };
        for prompt in &self.prompts {
            let cases_failed = prompt.failed_cases().unwrap_or(0);
            summary.cases_failed += cases_failed;
            // Without a gate (eval mode) a failed call still fails the run:
            // a run that could not evaluate never passes.
            let rows = view::rows(prompt);
            if prompt.status_with(&rows) == Status::Fail {
                summary.prompts_failed += 1;
            }
            if !prompt.from_model() {
                summary.not_model += 1;
            }
            for row in rows {
                match row.verdict {
                    Some(Verdict::Regressed) => summary.regressed += 1,
                    Some(Verdict::Improved) => summary.improved += 1,
                    Some(Verdict::Unchanged) => summary.unchanged += 1,
                    Some(Verdict::Inconclusive) => summary.inconclusive += 1,
                    Some(Verdict::New) => summary.new += 1,
                    None => {}
                }
                if row.threshold_met == Some(false) {
                    summary.below_threshold += 1;
                }
            }
            summary.errors += view::head_errors(&prompt.head).len();
        }
        summary
    }

    /// The run's outcome: its worst prompt's.
    pub fn status(&self) -> Status {
        self.prompts
            .iter()
            .map(PromptReport::status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// One line, no emoji or colour: `1 of 3 prompts failed · 2 regressed, 1 improved`.
    pub fn headline(&self) -> String {
        let s = self.summary();
        let mut parts = Vec::new();
        let counts = [
            (s.regressed, "regressed"),
            (s.below_threshold, "below threshold"),
            (s.inconclusive, "inconclusive"),
            (s.improved, "improved"),
            (s.unchanged, "unchanged"),
            (s.new, "new"),
        ];
        for (n, word) in counts {
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        if s.errors > 0 {
            parts.push(format!("{} failed call(s) or score(s)", s.errors));
        }
        let cases_failed = (s.cases_failed > 0).then(|| {
            let noun = if s.cases_failed == 1 { "case" } else { "cases" };
            format!("{} {noun} failed", s.cases_failed)
        });
        let noun = if s.prompts == 1 { "prompt" } else { "prompts" };
        let lead = match self.mode {
            ReportMode::Eval => {
                let lead = format!("{} {noun} evaluated", s.prompts);
                match cases_failed {
                    Some(failed) => format!("{lead}, {failed}"),
                    None => lead,
                }
            }
            ReportMode::Check if s.prompts == 0 => "no prompt affected".to_string(),
            ReportMode::Check if s.prompts_failed > 0 => {
                format!("{} of {} {noun} failed", s.prompts_failed, s.prompts)
            }
            ReportMode::Check => format!("{} {noun} passed", s.prompts),
        };
        if parts.is_empty() {
            lead
        } else {
            format!("{lead} · criteria: {}", parts.join(", "))
        }
    }
}

/// Why a report could not be produced or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("could not render the markdown report (template `{template}`): {source}")]
    Template {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("could not write the JUnit XML: {0}")]
    Xml(String),
    #[error("could not serialize the JSON report: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "could not write the report to {path}: {source} \
         (check that the directory exists and is writable)"
    )]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a rendered report, creating missing parent directories.
pub fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    write_file_with(path, |file| file.write_all(contents.as_bytes()))
}

/// Creates `path` (and its folder) and lets `write` fill it: a report
/// written as it is made, never held whole.
pub fn write_file_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let wrap = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(wrap)?;
    }
    let mut file = std::fs::File::create(path).map_err(wrap)?;
    write(&mut file).map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_creates_parents_and_names_the_path_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/reports/report.md");
        write_file(&path, "body").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "body");
        let err = write_file(dir.path(), "x").unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("writable"), "{err}");
    }

    #[test]
    fn baseline_sources_read_as_the_report_says_them() {
        let fresh = BaselineSource::FreshEvaluation {
            rev: "origin/main".into(),
        };
        assert_eq!(fresh.to_string(), "fresh evaluation of origin/main");
        assert_eq!(BaselineSource::LocalStore.to_string(), "local store");
        assert_eq!(BaselineSource::Registry.to_string(), "registry");
    }
}
