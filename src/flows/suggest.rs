//! Verified suggestions: after a check, for each prompt that failed, ask
//! the `[suggest]` model for candidate edits (it sees only the fit part of
//! the cases), evaluate every candidate on all cases through the same
//! engine as any run (cache, limits, `[budget]`), keep only those the gate
//! finds improving the target criterion on the held-out cases without any
//! criterion regressing, and hand back the best with the exact file edits.
//! The CLI prints (and writes) it; the Action and the App post it as a
//! one-click suggestion.

use std::collections::BTreeMap;

use super::check::{CheckRequest, CheckRun, Sources, check_sources, git_sources};
use super::error::FlowError;
use super::evaluate::{Locations, RunOptions, engine};
use crate::pipeline::budget;
use crate::pipeline::changes;
use crate::pipeline::config::Config;
use crate::pipeline::evaluation::{self, Engine};
use crate::pipeline::gate::PromptGate;
use crate::pipeline::report::PromptReport;
use crate::pipeline::runner::Call;
use crate::pipeline::spec::{Workspace, load_prompts};
use crate::pipeline::suggest::{
    self, Candidate, CandidateFate, EvidenceInput, FileEdit, Judged, PromptSuggestion, Split,
    SuggestStatus, Verified, changed_lines, replace_messages,
};
use crate::pipeline::template::includes::Includes;
use crate::types::{
    CallStats, ChatRequest, EvalResult, ModelId, ModelParameters, PromptSpec, RepoError, RepoFiles,
    RepoPath,
};

#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(
        "no suggestion model: set `model` under `[suggest]` in promptgate.toml, e.g. \
         `model = \"openai/gpt-4o\"`"
    )]
    NoModel,
    #[error("{prompt} has no criterion `{criterion}`; its criteria are: {}", known.join(", "))]
    UnknownCriterion {
        prompt: String,
        criterion: String,
        known: Vec<String>,
    },
    #[error("reading the pull request's files again: {0}")]
    Sources(String),
    #[error("the suggestion model `{model}` cannot be used: {reason}")]
    Model { model: String, reason: String },
    #[error("{0} changed while the suggestion was measured; run `promptgate suggest` again")]
    ChangedSince(RepoPath),
    #[error("writing the suggestion into {path}: {source}")]
    Write {
        path: RepoPath,
        source: std::io::Error,
    },
}

/// What to suggest for.
#[derive(Debug, Clone, Default)]
pub struct SuggestRequest {
    /// Only these prompts (names); default: every prompt that failed.
    pub prompts: Vec<String>,
    /// The criterion to fix; default: the first that regressed, else the
    /// first below its threshold.
    pub criterion: Option<String>,
    /// Candidates to ask for; default `[suggest] candidates`.
    pub candidates: Option<u32>,
    /// Told as each prompt's suggestion starts, for a caller that shows
    /// progress.
    pub progress: Option<PromptProgress>,
}

/// Called with (prompts done, prompts to do, the next prompt's name).
pub type ProgressFn = dyn Fn(usize, usize, &str) + Send + Sync;

/// A [`ProgressFn`] a request can carry and clone.
#[derive(Clone)]
pub struct PromptProgress(pub std::sync::Arc<ProgressFn>);

impl std::fmt::Debug for PromptProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptProgress")
    }
}

/// Everything a suggestion run reads: the check that failed, the head's
/// files as written, and the config trusted to choose the suggestion model
/// and pay for it (the base branch's in a pull request).
pub struct SuggestInput<'a> {
    pub check: &'a CheckRun,
    pub head: &'a Workspace,
    pub config: &'a Config,
    pub locations: &'a Locations,
    pub options: &'a RunOptions,
}

/// Suggests a verified fix for each prompt of the check that failed (or
/// that `request` names).
pub async fn suggest_fixes(
    input: &SuggestInput<'_>,
    request: &SuggestRequest,
) -> Result<Vec<PromptSuggestion>, SuggestError> {
    let model = input
        .config
        .suggest
        .model_id()
        .ok_or(SuggestError::NoModel)?;
    let run = input.locations.run_options(input.options);
    let chosen: Vec<_> = input
        .check
        .report
        .prompts
        .iter()
        .filter_map(|report| {
            let named = request.prompts.is_empty() || request.prompts.contains(&report.head.prompt);
            let gate = report.gate.as_ref().filter(|_| named)?;
            // A passing prompt is improved only when asked by name or criterion.
            if request.prompts.is_empty() && request.criterion.is_none() && !gate.failed {
                return None;
            }
            let spec = input.head.prompt(&report.head.prompt)?;
            Some((report, gate, spec))
        })
        .collect();
    let mut suggestions = Vec::new();
    for (done, (report, gate, spec)) in chosen.iter().copied().enumerate() {
        if let Some(PromptProgress(told)) = &request.progress {
            told(done, chosen.len(), &spec.name);
        }
        // One engine per prompt: its judge calls are that prompt's cost.
        let engine = engine(input.locations, input.config, &run)?;
        let suggesting = Suggesting {
            input,
            engine: &engine,
            model: &model,
            spec,
            report,
            gate,
        };
        suggestions.push(suggesting.run(request).await?);
        engine.runner.flush().await;
    }
    Ok(suggestions)
}

/// `promptgate suggest` in a checkout: the check of the working tree (the
/// prompts named, else those a change affects), then a verified fix for
/// each prompt that failed. The checkout's own config is trusted.
pub async fn suggest_in_checkout(
    root: &std::path::Path,
    check: &CheckRequest,
    request: &SuggestRequest,
) -> Result<(CheckRun, Vec<PromptSuggestion>), SuggestError> {
    let locations = Locations::checkout(root);
    let head = Workspace::load(Box::new(
        crate::edges::git::WorkingTree::new(root).map_err(FlowError::from)?,
    ))
    .map_err(FlowError::from)?;
    if head.config.suggest.model.is_none() {
        return Err(SuggestError::NoModel);
    }
    let mut check = check.clone();
    check.prompts = request
        .prompts
        .iter()
        .map(|selector| {
            super::evaluate::select_by_name(&head, std::slice::from_ref(selector))
                .map(|found| found.into_iter().map(|p| p.name).collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let sources = git_sources(root, &check)?;
    let run = check_sources(sources, &check, &locations).await?;
    let request = SuggestRequest {
        prompts: check.prompts.clone(),
        ..request.clone()
    };
    let input = SuggestInput {
        check: &run,
        head: &head,
        config: &head.config,
        locations: &locations,
        options: &check.run,
    };
    let suggestions = suggest_fixes(&input, &request).await?;
    Ok((run, suggestions))
}

/// In a pull request whose gate failed: a verified fix per failing prompt,
/// when the **base** branch's config enables `[suggest]` (a pull request
/// never chooses the suggestion model or spends on it). `sources` are the
/// check's own, read again. Nothing when the gate passed, the base
/// disables it or its files do not load.
pub async fn suggest_in_pull_request(
    check: &CheckRun,
    sources: Sources,
    locations: &Locations,
    options: &RunOptions,
) -> Result<Vec<PromptSuggestion>, SuggestError> {
    if !check.failed {
        return Ok(Vec::new());
    }
    let Ok(base) = Workspace::load(sources.base) else {
        return Ok(Vec::new());
    };
    if !base.config.suggest.enabled {
        return Ok(Vec::new());
    }
    let head = Workspace::load(sources.head).map_err(FlowError::from)?;
    let input = SuggestInput {
        check,
        head: &head,
        config: &base.config,
        locations,
        options,
    };
    suggest_fixes(&input, &SuggestRequest::default()).await
}

/// Writes a verified suggestion's files into the checkout at `root`
/// (`promptgate suggest --write`, the MCP tool's `apply`), refusing any
/// file that changed since it was measured; the paths written, in order.
/// Nothing is written for a suggestion that was not verified.
pub fn write_suggestion(
    root: &std::path::Path,
    suggestion: &PromptSuggestion,
) -> Result<Vec<RepoPath>, SuggestError> {
    let Some(verified) = suggestion.verified() else {
        return Ok(Vec::new());
    };
    let failed = |path: &RepoPath| {
        let path = path.clone();
        move |source: std::io::Error| SuggestError::Write { path, source }
    };
    // Every file is checked before any is written: a suggestion is applied
    // whole or not at all.
    for file in &verified.files {
        let now = std::fs::read_to_string(root.join(&file.path.0)).map_err(failed(&file.path))?;
        if now != file.old {
            return Err(SuggestError::ChangedSince(file.path.clone()));
        }
    }
    let mut written = Vec::new();
    for file in &verified.files {
        std::fs::write(root.join(&file.path.0), &file.new).map_err(failed(&file.path))?;
        written.push(file.path.clone());
    }
    Ok(written)
}

/// One prompt's suggestion in the making.
struct Suggesting<'a> {
    input: &'a SuggestInput<'a>,
    engine: &'a Engine,
    model: &'a ModelId,
    spec: &'a PromptSpec,
    report: &'a PromptReport,
    gate: &'a PromptGate,
}

impl Suggesting<'_> {
    async fn run(&self, request: &SuggestRequest) -> Result<PromptSuggestion, SuggestError> {
        let (report, spec) = (self.report, self.spec);
        let target = match &request.criterion {
            Some(name) if !report.head.criteria.iter().any(|c| c.name == *name) => {
                return Err(SuggestError::UnknownCriterion {
                    prompt: spec.name.clone(),
                    criterion: name.clone(),
                    known: report
                        .head
                        .criteria
                        .iter()
                        .map(|c| c.name.clone())
                        .collect(),
                });
            }
            Some(name) => name.clone(),
            None => match suggest::failing_criterion(self.gate) {
                Some(name) => name,
                None => {
                    return Ok(PromptSuggestion::ended(
                        &spec.name,
                        spec.path.clone(),
                        None,
                        SuggestStatus::NothingToFix,
                    ));
                }
            },
        };
        let files = self.input.head.files.as_ref();
        let config = self.input.config;
        let current_plan = evaluation::plan(spec, files, config).map_err(FlowError::from)?;
        let mut cost = CallStats::default();
        // A sequential check may have stopped before every case: the
        // current version is measured on all of them, as candidates are.
        let current = if current_plan.cases.len() > report.head.cases.len() {
            let (result, calls) = self
                .engine
                .execute(&current_plan)
                .await
                .map_err(FlowError::from)?;
            cost.add(&calls);
            result
        } else {
            report.head.clone()
        };
        let ended = |status| {
            PromptSuggestion::ended(&spec.name, spec.path.clone(), Some(target.clone()), status)
        };
        let stratified = suggest::failing_on(&current, report.baseline.as_ref(), &target);
        let version: String = current.version.0.chars().take(12).collect();
        let seed = format!("{}@{version}", spec.name);
        let split = match suggest::split(&stratified, &seed, self.gate.policy.min_cases as usize) {
            Ok(split) => split,
            Err(too_few) => return Ok(ended(SuggestStatus::CannotVerify(too_few.to_string()))),
        };
        let count = request
            .candidates
            .unwrap_or(config.suggest.candidates)
            .clamp(1, crate::pipeline::config::SuggestSettings::MAX_CANDIDATES);
        if let Some(refusal) = self.over_budget(count) {
            return Ok(ended(SuggestStatus::CannotVerify(refusal)));
        }
        let snippets = Includes::of_prompt(spec, files).texts();
        let included_elsewhere = other_includers(self.input.head, &spec.name);
        let evidence = suggest::gather(&EvidenceInput {
            prompt: &spec.name,
            path: &spec.path,
            messages: &spec.messages,
            snippets: &snippets,
            included_elsewhere: &included_elsewhere,
            head: &current,
            baseline: report.baseline.as_ref(),
            target: &target,
            fit: &split.fit,
        });
        let (answer, asked) = self.ask(&evidence, count).await?;
        cost.add(&asked);
        let (candidates, refused) =
            suggest::read_answer(&answer, &evidence, count).map_err(|e| SuggestError::Model {
                model: self.model.to_string(),
                reason: e.to_string(),
            })?;
        let mut fates: Vec<CandidateFate> = refused
            .into_iter()
            .map(|r| CandidateFate {
                number: r.number,
                rationale: Vec::new(),
                rejected: Some(r.why),
            })
            .collect();
        let mut survivors: Vec<Verified> = Vec::new();
        for (i, candidate) in candidates.into_iter().enumerate() {
            let rationale = candidate
                .rationale
                .iter()
                .map(|r| format!("{}: {}", r.location, r.why))
                .collect();
            let measured = self
                .measure(&candidate, &snippets, &current, &split, &target)
                .await?;
            let rejected = match measured {
                Measured::Invalid(why) => Some(why),
                Measured::Judged {
                    judged,
                    files,
                    calls,
                } => {
                    cost.add(&calls);
                    let rejected = judged.rejected.clone();
                    if judged.survived() {
                        survivors.push(Verified {
                            candidate,
                            judged: *judged,
                            files,
                        });
                    }
                    rejected
                }
            };
            fates.push(CandidateFate {
                number: i + 1,
                rationale,
                rejected,
            });
        }
        fates.sort_by_key(|f| f.number);
        cost.add(&self.engine.judge_stats());
        survivors.sort_by(|a, b| suggest::best_first(&a.judged, &b.judged, &target));
        let status = match survivors.into_iter().next() {
            Some(best) => SuggestStatus::Found(Box::new(best)),
            None => SuggestStatus::NoneSurvived,
        };
        Ok(PromptSuggestion {
            prompt: spec.name.clone(),
            path: spec.path.clone(),
            target: Some(target),
            split: Some(split),
            candidates: fates,
            status,
            cost,
        })
    }

    /// The refusal when evaluating `count` candidates would exceed the
    /// trusted config's `[budget]` for one run.
    fn over_budget(&self, count: u32) -> Option<String> {
        let config = self.input.config;
        let one = budget::estimate_prompt(self.spec, self.input.head.files.as_ref(), config);
        let mut spending = budget::Spending::default();
        for _ in 0..count {
            spending.add(&one);
        }
        let limits = config.budget.per_run(self.input.options.untrusted);
        let why = budget::over_budget(&spending, &limits)?;
        Some(format!(
            "refused, nothing was asked: evaluating {count} candidate(s) would spend up to \
             {spending} ({why}); the budget is `[budget]` in promptgate.toml"
        ))
    }

    /// Asks the suggestion model, through the runner (cached, limited,
    /// retried, priced like any call).
    async fn ask(
        &self,
        evidence: &suggest::Evidence,
        count: u32,
    ) -> Result<(String, CallStats), SuggestError> {
        let unusable = |reason: String| SuggestError::Model {
            model: self.model.to_string(),
            reason,
        };
        let (provider, model_name) = self
            .engine
            .providers
            .route(self.model)
            .map_err(|e| unusable(e.to_string()))?;
        if !provider.is_model() {
            return Err(unusable("it is the echo provider, not a model".into()));
        }
        let call = Call {
            provider,
            request: ChatRequest {
                model: model_name,
                messages: suggest::conversation(evidence, count),
                parameters: ModelParameters::default(),
                response_format: suggest::response_format(),
            },
            repeat: 0,
            label: format!("suggest {}", evidence.prompt),
        };
        let outcome = self.engine.runner.complete_one(&call).await;
        let stats = CallStats::from_outcomes([&outcome]);
        let text = outcome.result.map_err(unusable)?;
        Ok((text, stats))
    }

    /// A candidate written into the files, validated as a prompt file,
    /// evaluated on every case and judged by the rule.
    async fn measure(
        &self,
        candidate: &Candidate,
        snippets: &BTreeMap<RepoPath, String>,
        current: &EvalResult,
        split: &Split,
        target: &str,
    ) -> Result<Measured, SuggestError> {
        let files = self.input.head.files.as_ref();
        let spec = self.spec;
        let old_text = match files.read(&spec.path) {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => return Ok(Measured::Invalid(format!("{} is gone", spec.path))),
            Err(error) => return Err(FlowError::from(error).into()),
        };
        let new_text = match replace_messages(&old_text, &candidate.messages) {
            Ok(text) => text,
            Err(error) => return Ok(Measured::Invalid(error.to_string())),
        };
        let mut edits = Vec::new();
        if let Some(lines) = changed_lines(&old_text, &new_text) {
            edits.push(FileEdit {
                path: spec.path.clone(),
                snippet: false,
                old: old_text,
                new: new_text,
                lines,
            });
        }
        for (path, text) in &candidate.snippets {
            let path = RepoPath(path.clone());
            let old = snippets.get(&path).cloned().unwrap_or_default();
            if let Some(lines) = changed_lines(&old, text) {
                edits.push(FileEdit {
                    path,
                    snippet: true,
                    old,
                    new: text.clone(),
                    lines,
                });
            }
        }
        let edited = EditedFiles {
            inner: files,
            edits: edits
                .iter()
                .map(|e| (e.path.clone(), e.new.clone().into_bytes()))
                .collect(),
        };
        let (mut parsed, problems) = load_prompts(&edited, std::slice::from_ref(&spec.path));
        if problems.has_errors() {
            return Ok(Measured::Invalid(format!(
                "the edited file does not validate: {problems}"
            )));
        }
        let Some(parsed) = parsed.pop() else {
            return Ok(Measured::Invalid("the edited file holds no prompt".into()));
        };
        // The candidate is measured the way the current version was: only
        // its messages (and snippets) differ.
        let measured = PromptSpec {
            messages: parsed.messages,
            ..spec.clone()
        };
        let plan = match evaluation::plan(&measured, &edited, self.input.config) {
            Ok(plan) => plan,
            Err(problems) => {
                return Ok(Measured::Invalid(format!(
                    "the edited prompt cannot be rendered: {problems}"
                )));
            }
        };
        let (result, calls) = self.engine.execute(&plan).await.map_err(FlowError::from)?;
        let judged = suggest::judge(current, &result, &split.held_out, target, &self.gate.policy);
        Ok(Measured::Judged {
            judged: Box::new(judged),
            files: edits,
            calls,
        })
    }
}

/// The snippets other prompts of `head` than `prompt` include, each with
/// the names of those prompts.
fn other_includers(head: &Workspace, prompt: &str) -> BTreeMap<RepoPath, Vec<String>> {
    let mut sharing: BTreeMap<RepoPath, Vec<String>> = BTreeMap::new();
    for other in changes::dependencies(head)
        .into_iter()
        .filter(|deps| deps.name != prompt)
    {
        for include in other.includes {
            sharing.entry(include).or_default().push(other.name.clone());
        }
    }
    sharing
}

enum Measured {
    /// Never evaluated: the edit cannot be written, validated or rendered.
    Invalid(String),
    Judged {
        judged: Box<Judged>,
        files: Vec<FileEdit>,
        calls: CallStats,
    },
}

/// A repository's files with some replaced: a candidate as if applied.
struct EditedFiles<'a> {
    inner: &'a dyn RepoFiles,
    edits: BTreeMap<RepoPath, Vec<u8>>,
}

impl RepoFiles for EditedFiles<'_> {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        match self.edits.get(path) {
            Some(bytes) => Ok(Some(bytes.clone())),
            None => self.inner.read(path),
        }
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        self.inner.list()
    }

    fn describe(&self) -> String {
        format!("{} with a suggested edit", self.inner.describe())
    }
}
