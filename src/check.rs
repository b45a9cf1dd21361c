//! The check: which prompts a change affects, each evaluated at the head and
//! compared with its baseline, decided by the gate and put into a report.
//! The CLI, the GitHub Action and the server all run this same code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::changes::{self, Affected, ChangedPath, PromptDeps};
use crate::config::{Config, GatePolicy};
use crate::diagnostics::Diagnostics;
use crate::eval::EvalContext;
use crate::evaluation::{self, Engine, EvaluationPlan};
use crate::gate::{self, GateInput};
use crate::repo::{GitRevision, RepoFiles, WorkingTree};
use crate::report::{BaselineSource, CallStats, CheckReport, PromptReport, ReportMode, RunTotals};
use crate::runner::{ProgressMode, Runner, RunnerOptions};
use crate::spec::GateOverrides;
use crate::spec::{PromptSpec, RepoPath};
use crate::store::EvalResult;
use crate::store::cache::{CacheMode, ResponseCache};
use crate::store::results::ResultStore;

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
    /// The change comes from someone without write access (a fork): the
    /// base branch's config decides providers, judges and the gate policy,
    /// and command evaluators are refused.
    pub untrusted: bool,
    /// Refuse `command` evaluators even for a trusted change: the server
    /// runs no code from the repositories it checks.
    pub refuse_commands: bool,
    /// Overrides the config's `fail_on` for this run (trusted runs only).
    pub fail_on: Option<crate::config::FailOn>,
    pub cache: CacheMode,
    pub progress: ProgressMode,
}

/// A repository's prompts and config, as of one revision.
pub struct Workspace {
    pub files: Box<dyn RepoFiles>,
    pub config: Config,
    pub prompts: Vec<PromptSpec>,
    /// Warnings found while loading (unknown keys and such).
    pub warnings: Diagnostics,
}

impl Workspace {
    /// Loads the config and every prompt; any error in them fails the load
    /// with every problem listed.
    pub fn load(files: Box<dyn RepoFiles>) -> Result<Self, Diagnostics> {
        let config = crate::config::load(files.as_ref())?;
        let (prompts, found) = crate::spec::load_workspace(files.as_ref(), &config);
        if found.has_errors() {
            return Err(found);
        }
        Ok(Self {
            files,
            config,
            prompts,
            warnings: found,
        })
    }

    pub fn prompt(&self, name: &str) -> Option<&PromptSpec> {
        self.prompts.iter().find(|p| p.name == name)
    }

    /// The files each prompt depends on: its own, every snippet it includes
    /// (transitively) and its dataset.
    pub fn dependencies(&self) -> Vec<PromptDeps> {
        self.prompts
            .iter()
            .map(|prompt| PromptDeps {
                name: prompt.name.clone(),
                path: prompt.path.clone(),
                includes: includes_of(prompt, self.files.as_ref()),
                dataset: prompt.dataset.clone(),
            })
            .collect()
    }
}

fn includes_of(prompt: &PromptSpec, files: &dyn RepoFiles) -> Vec<RepoPath> {
    let mut seen: Vec<RepoPath> = Vec::new();
    let mut pending: Vec<String> = prompt
        .messages
        .iter()
        .flat_map(|m| changes::template_includes(&m.content))
        .collect();
    while let Some(name) = pending.pop() {
        let Ok(path) = crate::repo::normalize(&name) else {
            continue;
        };
        if seen.contains(&path) {
            continue;
        }
        if let Ok(Some(bytes)) = files.read(&path) {
            pending.extend(changes::template_includes(&String::from_utf8_lossy(&bytes)));
        }
        seen.push(path);
    }
    seen.sort();
    seen
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

/// Builds the engine for one run from the config that is trusted to choose
/// providers and judges.
pub fn engine(locations: &Locations, config: &Config, request: &CheckRequest) -> Engine {
    let cache = ResponseCache::in_store(&locations.store_dir(config), request.cache);
    let runner = Runner::new(
        cache,
        crate::pricing::PriceTable::new(&config.pricing),
        RunnerOptions {
            progress: request.progress,
            ..RunnerOptions::default()
        },
    );
    let mut eval = EvalContext::new(&locations.work_dir);
    eval.untrusted = request.untrusted || request.refuse_commands;
    eval.default_judge = config.judge_model();
    Engine::new(config.clone(), Arc::new(runner), eval)
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
    #[error("the base revision ({rev}) could not be loaded:\n{diagnostics}")]
    InvalidBase {
        rev: String,
        diagnostics: Diagnostics,
    },
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    #[error(transparent)]
    Execute(#[from] evaluation::ExecuteError),
    #[error(transparent)]
    Store(#[from] crate::store::results::ResultStoreError),
    #[error("no prompt named `{name}`; the prompts are: {}", known.join(", "))]
    UnknownPrompt { name: String, known: Vec<String> },
}

/// The base revision: the request's, or the merge base with the default branch.
pub fn base_revision(root: &Path, request: &CheckRequest) -> Result<String, CheckError> {
    if let Some(base) = &request.base {
        return Ok(crate::repo::resolve_commit(root, base)?);
    }
    let default = crate::repo::default_branch(root)?;
    let head = request.head.as_deref().unwrap_or("HEAD");
    Ok(crate::repo::merge_base(root, &default, head)?)
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

/// Where a run keeps its store and runs `command` evaluators.
#[derive(Debug, Clone)]
pub struct Locations {
    /// The checkout (command evaluators run here).
    pub work_dir: PathBuf,
    /// The store folder; `None`: the config's `store` inside `work_dir`.
    pub store_dir: Option<PathBuf>,
}

impl Locations {
    pub fn checkout(root: &Path) -> Self {
        Self {
            work_dir: root.to_path_buf(),
            store_dir: None,
        }
    }

    pub fn store_dir(&self, config: &Config) -> PathBuf {
        self.store_dir.clone().unwrap_or_else(|| {
            self.work_dir
                .join(config.store.as_deref().unwrap_or(".promptgate"))
        })
    }
}

/// The sources of a check in a local git checkout: the working tree (or
/// `--head`), the base revision, and `git diff` between them.
pub fn git_sources(root: &Path, request: &CheckRequest) -> Result<Sources, CheckError> {
    let head: Box<dyn RepoFiles> = match &request.head {
        Some(rev) => Box::new(GitRevision::new(root, rev)?),
        None => Box::new(WorkingTree::new(root)?),
    };
    let base_sha = base_revision(root, request)?;
    let changed = changes::changed_paths(root, &base_sha, request.head.as_deref())?;
    Ok(Sources {
        head,
        base: Box::new(GitRevision::new(root, &base_sha)?),
        base_sha,
        changed,
    })
}

/// The check of a local checkout.
pub async fn run_check(root: &Path, request: &CheckRequest) -> Result<CheckRun, CheckError> {
    let sources = git_sources(root, request)?;
    check_sources(sources, request, &Locations::checkout(root)).await
}

/// The check itself, on any sources: the CLI, the Action and the server
/// all end here.
pub async fn check_sources(
    sources: Sources,
    request: &CheckRequest,
    locations: &Locations,
) -> Result<CheckRun, CheckError> {
    let started = std::time::Instant::now();
    let Sources {
        head,
        base,
        base_sha,
        changed,
    } = sources;
    let head = Workspace::load(head)?;
    let base = Workspace::load(base).map_err(|diagnostics| CheckError::InvalidBase {
        rev: base_sha.clone(),
        diagnostics,
    });
    // A base with broken files has no usable baseline; for a trusted change
    // the head's own config still runs the check, but an untrusted change
    // must never pick its own providers or policy.
    let base = match base {
        Ok(base) => Some(base),
        Err(error) if request.untrusted => return Err(error),
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    };
    let trusted_config = match (&base, request.untrusted) {
        (Some(base), true) => &base.config,
        _ => &head.config,
    };
    let mut notes = Vec::new();
    let policy_change = base
        .as_ref()
        .filter(|_| !request.untrusted)
        .and_then(|base| describe_policy_change(&base.config.gate, &head.config.gate));
    if request.untrusted {
        notes.push(
            "untrusted change: providers, judges and the gate policy come from the base branch; \
             command evaluators are refused"
                .to_string(),
        );
    }

    let affected = select_prompts(request, &changed, &head, base.as_ref());
    let engine = engine(locations, trusted_config, request);
    let store = ResultStore::new(&locations.store_dir(trusted_config));

    let mut prompt_reports = Vec::new();
    let mut gate_inputs = Vec::new();
    let mut head_results = Vec::new();
    let mut totals = CallStats::default();
    for item in &affected {
        let Some(head_prompt) = head.prompt(&item.name) else {
            continue;
        };
        let head_plan = evaluation::plan(head_prompt, head.files.as_ref(), trusted_config)?;
        let base_prompt = base
            .as_ref()
            .and_then(|b| b.prompt(&item.name).map(|p| (b, p)));
        let baseline_plan = match base_prompt {
            Some((base, base_prompt)) => {
                let measured = measured_like(base_prompt, head_prompt);
                let cases = head_plan.cases.iter().map(|c| c.case.clone()).collect();
                match evaluation::plan_with_cases(
                    &measured,
                    cases,
                    base.files.as_ref(),
                    trusted_config,
                ) {
                    Ok(plan) => Some(plan),
                    Err(problems) => {
                        notes.push(format!(
                            "{}: the base version cannot be evaluated on the head's cases, so it has no baseline:\n{problems}",
                            item.name
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        let (head_result, head_stats) = result_for(&engine, &store, &head_plan).await?;
        let (baseline, baseline_source, baseline_stats) = match &baseline_plan {
            Some(plan) => {
                let (result, stats, source) =
                    baseline_for(&engine, &store, plan, &base_sha).await?;
                (Some(result), Some(source), stats)
            }
            None => (None, None, CallStats::default()),
        };
        let mut calls = head_stats;
        calls.add(&baseline_stats);
        totals.add(&calls);
        let diff = base_prompt
            .map(|(_, base_prompt)| crate::textdiff::diff_specs(base_prompt, head_prompt));
        // An untrusted change is held to the base version's own overrides.
        let overrides = match (request.untrusted, base_prompt) {
            (true, Some((_, base_prompt))) => base_prompt.gate.clone(),
            (true, None) => GateOverrides::default(),
            (false, _) => head_prompt.gate.clone(),
        };
        gate_inputs.push(overrides);
        prompt_reports.push(PromptReport {
            gate: None,
            head: head_result.clone(),
            baseline,
            baseline_source,
            path: Some(head_prompt.path.to_string()),
            affected_because: item.reasons.iter().map(ToString::to_string).collect(),
            prompt_diff_markdown: diff
                .as_ref()
                .filter(|d| !d.is_empty())
                .map(|d| d.render_markdown()),
            prompt_diff_terminal: diff
                .as_ref()
                .filter(|d| !d.is_empty())
                .map(|d| d.render_terminal(false)),
            policy_change: policy_change.clone(),
            calls,
        });
        head_results.push(head_result);
    }
    totals.add(&engine.judge_stats());

    let mut policy = trusted_config.gate.clone();
    if let (Some(fail_on), false) = (request.fail_on, request.untrusted) {
        policy.fail_on = fail_on;
    }
    let inputs: Vec<GateInput> = prompt_reports
        .iter()
        .zip(&gate_inputs)
        .map(|(report, overrides)| GateInput {
            head: &report.head,
            baseline: report.baseline.as_ref(),
            policy: &policy,
            overrides,
        })
        .collect();
    let gates = gate::gate_all(&inputs);
    let failed = gates.iter().any(|g| g.failed);
    for (report, gate) in prompt_reports.iter_mut().zip(gates) {
        report.gate = Some(gate);
    }
    let report = CheckReport {
        mode: ReportMode::Check,
        prompts: prompt_reports,
        totals: RunTotals {
            calls: totals,
            prompts_unaffected: head.prompts.len().saturating_sub(affected.len()),
            elapsed_ms: Some(started.elapsed().as_millis() as u64),
        },
        notes,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: evaluation::now_rfc3339(),
    };
    Ok(CheckRun {
        report,
        failed,
        head_results,
        base_sha,
    })
}

/// The prompts to evaluate, with why.
fn select_prompts(
    request: &CheckRequest,
    changed: &[ChangedPath],
    head: &Workspace,
    base: Option<&Workspace>,
) -> Vec<Affected> {
    let deps = head.dependencies();
    let mut affected = if request.all || request.model.is_some() || !request.prompts.is_empty() {
        changes::everything(&deps)
    } else {
        let mut found = changes::affected(changed, &deps);
        // A snippet or dataset the base version used may be gone at the head.
        if let Some(base) = base {
            let base_deps = base.dependencies();
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
    }
    if !request.prompts.is_empty() {
        affected.retain(|a| request.prompts.contains(&a.name));
    }
    affected
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

async fn result_for(
    engine: &Engine,
    store: &ResultStore,
    plan: &EvaluationPlan,
) -> Result<(EvalResult, CallStats), CheckError> {
    if let Some(stored) = store.load(&plan.fingerprint)? {
        return Ok((stored, CallStats::default()));
    }
    let (result, stats) = engine.execute(plan).await?;
    save_if_complete(engine, store, plan, &result)?;
    Ok((result, stats))
}

/// Stores a result under its fingerprint, unless it is not the evaluation
/// the fingerprint names: in untrusted mode `command` evaluators are
/// refused, so their "scores" are refusals that a later trusted run must
/// never reuse as measurements.
fn save_if_complete(
    engine: &Engine,
    store: &ResultStore,
    plan: &EvaluationPlan,
    result: &EvalResult,
) -> Result<(), CheckError> {
    let refused = engine.eval.untrusted
        && plan
            .prompt
            .evaluators
            .iter()
            .any(|e| matches!(e.kind, crate::spec::EvaluatorKind::Command { .. }));
    if !refused {
        store.save(result)?;
    }
    Ok(())
}

/// Where a check finds its baseline, in order: the local store, then a
/// fresh evaluation of the base version (stored for next time).
async fn baseline_for(
    engine: &Engine,
    store: &ResultStore,
    plan: &EvaluationPlan,
    base_sha: &str,
) -> Result<(EvalResult, CallStats, BaselineSource), CheckError> {
    if let Some(stored) = store.load(&plan.fingerprint)? {
        return Ok((stored, CallStats::default(), BaselineSource::LocalStore));
    }
    let (result, stats) = engine.execute(plan).await?;
    save_if_complete(engine, store, plan, &result)?;
    Ok((
        result,
        stats,
        BaselineSource::FreshEvaluation {
            rev: base_sha.chars().take(12).collect(),
        },
    ))
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

/// The prompts named by name or path; all of them when none are named.
pub fn select_by_name<'w>(
    workspace: &'w Workspace,
    selectors: &[String],
) -> Result<Vec<&'w PromptSpec>, CheckError> {
    if selectors.is_empty() {
        return Ok(workspace.prompts.iter().collect());
    }
    selectors
        .iter()
        .map(|selector| {
            let path = selector.trim_start_matches("./");
            workspace
                .prompts
                .iter()
                .find(|p| p.name == *selector || p.path.0 == path)
                .ok_or_else(|| CheckError::UnknownPrompt {
                    name: selector.clone(),
                    known: workspace.prompts.iter().map(|p| p.name.clone()).collect(),
                })
        })
        .collect()
}

/// One prompt evaluated as it is now.
pub struct Evaluated {
    pub prompt: PromptSpec,
    pub plan: EvaluationPlan,
    pub result: EvalResult,
    pub calls: CallStats,
    /// The result came from the local store: nothing was called.
    pub from_store: bool,
}

/// Evaluates prompts of the working tree (all, or those named by name or
/// path), reusing stored results of identical evaluations. `eval`,
/// `baseline` and `publish` share this.
pub async fn evaluate_current(
    root: &Path,
    selectors: &[String],
    request: &CheckRequest,
) -> Result<(Workspace, Vec<Evaluated>, CallStats), CheckError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    let (evaluated, judge_calls) =
        evaluate_workspace(&workspace, selectors, request, &Locations::checkout(root)).await?;
    Ok((workspace, evaluated, judge_calls))
}

/// [`evaluate_current`] on any workspace (the server's comes from the
/// GitHub API), with the store where `locations` says.
pub async fn evaluate_workspace(
    workspace: &Workspace,
    selectors: &[String],
    request: &CheckRequest,
    locations: &Locations,
) -> Result<(Vec<Evaluated>, CallStats), CheckError> {
    let chosen = select_by_name(workspace, selectors)?;
    let engine = engine(locations, &workspace.config, request);
    let store = ResultStore::new(&locations.store_dir(&workspace.config));
    let mut evaluated = Vec::new();
    for prompt in chosen {
        let plan = evaluation::plan(prompt, workspace.files.as_ref(), &workspace.config)?;
        let from_store = matches!(request.cache, CacheMode::ReadWrite)
            && store.load(&plan.fingerprint)?.is_some();
        let (result, calls) = if matches!(request.cache, CacheMode::ReadWrite) {
            result_for(&engine, &store, &plan).await?
        } else {
            let (result, calls) = engine.execute(&plan).await?;
            save_if_complete(&engine, &store, &plan, &result)?;
            (result, calls)
        };
        evaluated.push(Evaluated {
            prompt: prompt.clone(),
            plan,
            result,
            calls,
            from_store,
        });
    }
    Ok((evaluated, engine.judge_stats()))
}
