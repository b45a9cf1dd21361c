//! The check: which prompts a change affects, each evaluated at the head and
//! compared with its baseline, decided by the gate and put into a report.
//! The CLI, the GitHub Action and the server all run this same code; only
//! where the files come from differs ([`Sources`]).

use std::path::Path;
use std::time::Instant;

use super::baseline::Baselines;
use super::error::FlowError;
use super::evaluate::{Locations, RunOptions, engine, stored_or_evaluated};
use crate::edges::git::{self, GitRevision, WorkingTree};
use crate::pipeline::changes::{self, Affected, ChangedPath};
use crate::pipeline::config::{Config, GatePolicy};
use crate::pipeline::evaluation::{self, Engine, EvaluationPlan};
use crate::pipeline::gate::{self, GateInput};
use crate::pipeline::report::{CheckReport, PromptReport, ReportMode, RunTotals};
use crate::pipeline::spec::Workspace;
use crate::pipeline::textdiff;
use crate::types::{CallStats, EvalResult, FailOn, GateOverrides, PromptSpec, RepoFiles};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// The base revision; default: the merge base of the head with the
    /// default branch.
    pub base: Option<String>,
    /// The head revision; `None` is the working tree.
    pub head: Option<String>,
    /// Every prompt, changed or not.
    pub all: bool,
    /// Only prompts on this model (`publisher/model`), e.g. after a model update.
    pub model: Option<String>,
    /// Only these prompts (by name).
    pub prompts: Vec<String>,
    /// Overrides the config's `fail_on` for this run (trusted runs only).
    pub fail_on: Option<FailOn>,
    pub run: RunOptions,
}

/// A finished check: the report, and whether it failed the gate.
pub struct CheckRun {
    pub report: CheckReport,
    pub failed: bool,
    /// The head's results, for publishing after a merge.
    pub head_results: Vec<EvalResult>,
    /// The base revision compared against.
    pub base_sha: String,
}

/// What a check reads: the head's and the base's files, and which paths
/// differ between them. A local checkout provides them through git
/// ([`git_sources`]); the server reads them through the GitHub API.
pub struct Sources {
    pub head: Box<dyn RepoFiles>,
    pub base: Box<dyn RepoFiles>,
    /// The base commit, named in reports.
    pub base_sha: String,
    /// Paths that differ between base and head.
    pub changed: Vec<ChangedPath>,
}

/// The base revision: the request's, or the merge base with the default branch.
pub fn base_revision(root: &Path, request: &CheckRequest) -> Result<String, FlowError> {
    if let Some(base) = &request.base {
        return Ok(git::resolve_commit(root, base)?);
    }
    let default = git::default_branch(root)?;
    let head = request.head.as_deref().unwrap_or("HEAD");
    Ok(git::merge_base(root, &default, head)?)
}

/// The sources of a check in a local git checkout: the working tree (or
/// `--head`), the base revision, and `git diff` between them.
pub fn git_sources(root: &Path, request: &CheckRequest) -> Result<Sources, FlowError> {
    let head: Box<dyn RepoFiles> = match &request.head {
        Some(rev) => Box::new(GitRevision::new(root, rev)?),
        None => Box::new(WorkingTree::new(root)?),
    };
    let base_sha = base_revision(root, request)?;
    let changed = git::changed_paths(root, &base_sha, request.head.as_deref())?;
    Ok(Sources {
        head,
        base: Box::new(GitRevision::new(root, &base_sha)?),
        base_sha,
        changed,
    })
}

/// The check of a local checkout.
pub async fn run_check(root: &Path, request: &CheckRequest) -> Result<CheckRun, FlowError> {
    let sources = git_sources(root, request)?;
    check_sources(sources, request, &Locations::checkout(root)).await
}

/// Both sides of a change, loaded, and which config is trusted to decide.
struct Sides {
    head: Workspace,
    /// `None` when the base's files are broken (a trusted change only).
    base: Option<Workspace>,
    untrusted: bool,
}

impl Sides {
    fn load(
        sources: Sources,
        untrusted: bool,
    ) -> Result<(Self, String, Vec<ChangedPath>), FlowError> {
        let Sources {
            head,
            base,
            base_sha,
            changed,
        } = sources;
        let head = Workspace::load(head)?;
        // A base with broken files has no usable baseline; for a trusted
        // change the head's own config still runs the check, but an
        // untrusted change must never pick its own providers or policy.
        let base = match Workspace::load(base) {
            Ok(base) => Some(base),
            Err(diagnostics) => {
                let error = FlowError::InvalidBase {
                    rev: base_sha.clone(),
                    diagnostics,
                };
                if untrusted {
                    return Err(error);
                }
                tracing::warn!("{error}");
                None
            }
        };
        Ok((
            Sides {
                head,
                base,
                untrusted,
            },
            base_sha,
            changed,
        ))
    }

    /// The config that chooses providers, judges, the store and the policy:
    /// the base's for an untrusted change.
    fn trusted_config(&self) -> &Config {
        match (&self.base, self.untrusted) {
            (Some(base), true) => &base.config,
            _ => &self.head.config,
        }
    }

    /// The gate policy of the run: the trusted config's, with `fail_on`
    /// overridden by a trusted request.
    fn policy(&self, request: &CheckRequest) -> GatePolicy {
        let mut policy = self.trusted_config().gate.clone();
        if let (Some(fail_on), false) = (request.fail_on, self.untrusted) {
            policy.fail_on = fail_on;
        }
        policy
    }

    /// How a trusted change moved the gate policy, to say in the comment.
    fn policy_change(&self) -> Option<String> {
        let base = self.base.as_ref().filter(|_| !self.untrusted)?;
        describe_policy_change(&base.config.gate, &self.head.config.gate)
    }

    /// A prompt's per-prompt gate overrides: an untrusted change is held to
    /// the base version's own.
    fn overrides(&self, head: &PromptSpec, base: Option<&PromptSpec>) -> GateOverrides {
        match (self.untrusted, base) {
            (true, Some(base)) => base.gate.clone(),
            (true, None) => GateOverrides::default(),
            (false, _) => head.gate.clone(),
        }
    }
}

/// The check itself, on any sources: the CLI, the Action and the server
/// all end here.
pub async fn check_sources(
    sources: Sources,
    request: &CheckRequest,
    locations: &Locations,
) -> Result<CheckRun, FlowError> {
    let started = Instant::now();
    let (sides, base_sha, changed) = Sides::load(sources, request.run.untrusted)?;
    let config = sides.trusted_config();
    let mut notes = Vec::new();
    if sides.untrusted {
        notes.push(
            "untrusted change: providers, judges and the gate policy come from the base branch; \
             command evaluators are refused"
                .to_string(),
        );
    }
    let affected = select_prompts(request, &changed, &sides.head, sides.base.as_ref())?;
    let engine = engine(locations, config, &request.run);
    let baselines = Baselines::new(locations, config);
    let policy_change = sides.policy_change();

    let mut reports = Vec::new();
    let mut overrides = Vec::new();
    let mut totals = CallStats::default();
    for item in &affected {
        let Some(head_prompt) = sides.head.prompt(&item.name) else {
            continue;
        };
        let base_prompt = sides.base.as_ref().and_then(|b| b.prompt(&item.name));
        let Some(checked) = check_prompt(
            &sides,
            &engine,
            &baselines,
            request,
            head_prompt,
            &base_sha,
            &mut notes,
        )
        .await?
        else {
            continue;
        };
        totals.add(&checked.calls);
        overrides.push(sides.overrides(head_prompt, base_prompt));
        reports.push(PromptReport {
            affected_because: item.reasons.iter().map(ToString::to_string).collect(),
            policy_change: policy_change.clone(),
            ..checked
        });
    }
    totals.add(&engine.judge_stats());
    notes.extend(baselines.notes());

    let failed = decide(&mut reports, &overrides, &sides.policy(request));
    let head_results = reports.iter().map(|r| r.head.clone()).collect();
    let report = CheckReport::new(
        ReportMode::Check,
        reports,
        RunTotals {
            calls: totals,
            prompts_unaffected: sides.head.prompts.len().saturating_sub(affected.len()),
            elapsed_ms: Some(started.elapsed().as_millis() as u64),
        },
        notes,
    );
    Ok(CheckRun {
        report,
        failed,
        head_results,
        base_sha,
    })
}

/// One affected prompt: the head evaluated (or its stored result), the
/// base version measured the head's way and looked up as a baseline, and
/// the text diff between them. The gate is decided later, for all at once.
/// `None`, with a note, for a prompt without cases.
async fn check_prompt(
    sides: &Sides,
    engine: &Engine,
    baselines: &Baselines<'_>,
    request: &CheckRequest,
    head_prompt: &PromptSpec,
    base_sha: &str,
    notes: &mut Vec<String>,
) -> Result<Option<PromptReport>, FlowError> {
    let config = sides.trusted_config();
    let head_plan = evaluation::plan(head_prompt, sides.head.files.as_ref(), config)?;
    if let Some(note) = head_plan.skip_note() {
        notes.push(note);
        return Ok(None);
    }
    let base = sides
        .base
        .as_ref()
        .and_then(|b| b.prompt(&head_prompt.name).map(|p| (b, p)));
    let baseline_plan = match base {
        Some((base, base_prompt)) => {
            match baseline_plan(base, base_prompt, head_prompt, &head_plan, config) {
                Ok(plan) => Some(plan),
                Err(note) => {
                    notes.push(note);
                    None
                }
            }
        }
        None => None,
    };
    let (head, mut calls, _) =
        stored_or_evaluated(engine, baselines.store(), &head_plan, request.run.cache).await?;
    let (baseline, baseline_source) = match &baseline_plan {
        Some(plan) => {
            let found = baselines
                .stored_or_evaluated(engine, plan, base_sha)
                .await?;
            calls.add(&found.calls);
            (Some(found.result), Some(found.source))
        }
        None => (None, None),
    };
    let diff = base
        .map(|(_, base_prompt)| textdiff::diff_specs(base_prompt, head_prompt))
        .filter(|d| !d.is_empty());
    Ok(Some(PromptReport {
        gate: None,
        head,
        baseline,
        baseline_source,
        path: Some(head_prompt.path.to_string()),
        affected_because: Vec::new(),
        prompt_diff_markdown: diff.as_ref().map(|d| d.render_markdown()),
        prompt_diff_terminal: diff.as_ref().map(|d| d.render_terminal(false)),
        policy_change: None,
        calls,
        cases_must_pass: false,
    }))
}

/// The base version planned on the head's cases, or why it cannot be.
fn baseline_plan(
    base: &Workspace,
    base_prompt: &PromptSpec,
    head_prompt: &PromptSpec,
    head_plan: &EvaluationPlan,
    config: &Config,
) -> Result<EvaluationPlan, String> {
    let measured = measured_like(base_prompt, head_prompt);
    let cases = head_plan.cases.iter().map(|c| c.case.clone()).collect();
    evaluation::plan_with_cases(&measured, cases, base.files.as_ref(), config).map_err(|problems| {
        format!(
            "{}: the base version cannot be evaluated on the head's cases, so it has no baseline:\n{problems}",
            head_prompt.name
        )
    })
}

/// Gates every prompt report against its baseline under `policy` (with each
/// prompt's overrides) in one family, so the false-alarm rate holds across
/// criteria and prompts; true when any prompt fails.
pub fn decide(
    reports: &mut [PromptReport],
    overrides: &[GateOverrides],
    policy: &GatePolicy,
) -> bool {
    let inputs: Vec<GateInput> = reports
        .iter()
        .zip(overrides)
        .map(|(report, overrides)| GateInput {
            head: &report.head,
            baseline: report.baseline.as_ref(),
            policy,
            overrides,
        })
        .collect();
    let gates = gate::gate_all(&inputs);
    let failed = gates.iter().any(|g| g.failed);
    for (report, gate) in reports.iter_mut().zip(gates) {
        report.gate = Some(gate);
    }
    failed
}

/// The prompts to evaluate, with why.
fn select_prompts(
    request: &CheckRequest,
    changed: &[ChangedPath],
    head: &Workspace,
    base: Option<&Workspace>,
) -> Result<Vec<Affected>, FlowError> {
    let deps = changes::dependencies(head);
    let mut affected = if request.all || request.model.is_some() || !request.prompts.is_empty() {
        changes::everything(&deps)
    } else {
        let mut found = changes::affected(changed, &deps);
        // A snippet or dataset the base version used may be gone at the head.
        if let Some(base) = base {
            let base_deps = changes::dependencies(base);
            for extra in changes::affected(changed, &base_deps) {
                if head.prompt(&extra.name).is_some() && !found.iter().any(|a| a.name == extra.name)
                {
                    found.push(extra);
                }
            }
        }
        found
    };
    if let Some(model) = &request.model {
        affected.retain(|a| {
            head.prompt(&a.name)
                .is_some_and(|p| p.model.to_string() == *model)
        });
        // "No prompt affected" would hide a typo in the model id.
        if affected.is_empty() {
            let models: std::collections::BTreeSet<String> =
                head.prompts.iter().map(|p| p.model.to_string()).collect();
            return Err(FlowError::NoPromptOnModel {
                model: model.clone(),
                models: models.into_iter().collect(),
            });
        }
    }
    if !request.prompts.is_empty() {
        affected.retain(|a| request.prompts.contains(&a.name));
    }
    Ok(affected)
}

/// The base version's content measured the head's way: the base's
/// messages, model, parameters and response format, with the head's
/// evaluators and repeats. Only the prompt's content differs between the
/// two sides, so a delta is the change's effect and nothing else.
fn measured_like(base: &PromptSpec, head: &PromptSpec) -> PromptSpec {
    PromptSpec {
        evaluators: head.evaluators.clone(),
        repeats: head.repeats,
        test_data: head.test_data.clone(),
        dataset: head.dataset.clone(),
        ..base.clone()
    }
}

/// "tolerance 0.02 → 0.05, fail_on regression → never", or `None` when unchanged.
pub fn describe_policy_change(old: &GatePolicy, new: &GatePolicy) -> Option<String> {
    let mut parts = Vec::new();
    if old.tolerance != new.tolerance {
        parts.push(format!("tolerance {} → {}", old.tolerance, new.tolerance));
    }
    if old.confidence != new.confidence {
        parts.push(format!(
            "confidence {} → {}",
            old.confidence, new.confidence
        ));
    }
    if old.min_cases != new.min_cases {
        parts.push(format!("min_cases {} → {}", old.min_cases, new.min_cases));
    }
    if old.fail_on != new.fail_on {
        parts.push(format!("fail_on {:?} → {:?}", old.fail_on, new.fail_on).to_lowercase());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
