//! Evaluating prompts as they are: the engine a run uses (built from the
//! config trusted to choose providers and judges), where a run keeps its
//! results, and the rule for storing them. `eval`, `baseline`, `publish`,
//! the check and the rerun all evaluate through here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::FlowError;
use crate::edges::git::WorkingTree;
use crate::edges::registry::Registry;
use crate::edges::store::ResultStore;
use crate::pipeline::budget::{self, Spending};
use crate::pipeline::config::{Config, ProviderConfig, ProviderKind};
use crate::pipeline::eval::EvalContext;
use crate::pipeline::evaluation::{self, Engine, PlanFiles, StreamedPlan};
use crate::pipeline::report::{CheckReport, PromptReport, ReportMode, RunTotals};
use crate::pipeline::runner::cache::{CacheMode, ResponseCache};
use crate::pipeline::runner::pricing::{self, PriceTable};
use crate::pipeline::runner::{ProgressMode, Runner, RunnerOptions};
use crate::pipeline::spec::{Workspace, holds_prompt, load_prompts};
use crate::types::{CallStats, EvalResult, EvaluatorKind, PromptSpec, RepoPath};

/// How a run treats what it evaluates: whom it trusts, how it uses the
/// response cache, how it shows progress.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The change comes from someone without write access (a fork): the
    /// base branch's config decides providers, judges and the gate policy,
    /// and command evaluators are refused.
    pub untrusted: bool,
    /// Refuse `command` evaluators even for a trusted change: the server
    /// runs no code from the repositories it checks.
    pub refuse_commands: bool,
    pub cache: CacheMode,
    pub progress: ProgressMode,
    /// Where the run's provider keys may be sent.
    pub keys: KeyPolicy,
}

/// The rule a provider must pass before a key is sent to it: the alias and
/// its table (kind, `base_url`, `api_key_env`, defaults filled in); `Err`
/// says why not.
pub type KeyRule = dyn Fn(&str, &ProviderConfig) -> Result<(), String> + Send + Sync;

/// Where a run's provider keys may go. The CLI and the Action send the
/// caller's own keys where the caller's config says (no rule); the server
/// sends its operator's keys only where the operator allows.
#[derive(Clone, Default)]
pub struct KeyPolicy(Option<Arc<KeyRule>>);

impl std::fmt::Debug for KeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "KeyPolicy(rule)"
        } else {
            "KeyPolicy(any)"
        })
    }
}

impl KeyPolicy {
    pub fn new(
        rule: impl Fn(&str, &ProviderConfig) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        KeyPolicy(Some(Arc::new(rule)))
    }

    /// Every provider the trusted config can route to with a key
    /// (`[providers]`, and the built-ins at their own endpoints), checked
    /// before anything is called.
    pub fn check(&self, config: &Config) -> Result<(), FlowError> {
        let Some(rule) = &self.0 else {
            return Ok(());
        };
        for (alias, table) in &config.providers {
            let table = table.clone().with_defaults();
            if table.kind == ProviderKind::Echo || table.api_key_env.is_none() {
                continue;
            }
            rule(alias, &table).map_err(|reason| FlowError::KeyRefused {
                provider: alias.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// Which registry a run may take published results from. Registries named
/// by URL are opened from the checkout when first needed, so a run whose
/// local store has every baseline never touches one.
#[derive(Clone, Default)]
pub enum RegistryAccess {
    /// None: results come from the local store or are evaluated.
    #[default]
    Off,
    /// The one the trusted config names (`registry = …`), else `default`.
    FromConfig { default: Option<String> },
    /// This URL, chosen by whoever runs promptgate (the Action's input).
    Url(String),
    /// This one (the server's own).
    Given(Arc<dyn Registry>),
}

impl std::fmt::Debug for RegistryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAccess::Off => f.write_str("Off"),
            RegistryAccess::FromConfig { default } => write!(f, "FromConfig({default:?})"),
            RegistryAccess::Url(_) => f.write_str("Url"),
            RegistryAccess::Given(registry) => write!(f, "Given({})", registry.describe()),
        }
    }
}

/// Where a run works, keeps its results and finds published ones.
#[derive(Debug, Clone)]
pub struct Locations {
    /// The checkout (command evaluators run here).
    pub work_dir: PathBuf,
    /// The store folder; `None`: the config's `store` inside `work_dir`.
    pub store_dir: Option<PathBuf>,
    pub registry: RegistryAccess,
}

impl Locations {
    /// A local checkout: its own store, and the registry its config names.
    pub fn checkout(root: &Path) -> Self {
        Self {
            work_dir: root.to_path_buf(),
            store_dir: None,
            registry: RegistryAccess::FromConfig { default: None },
        }
    }

    pub fn store_dir(&self, config: &Config) -> PathBuf {
        self.store_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join(config.store_dir()))
    }

    pub fn store(&self, config: &Config) -> ResultStore {
        ResultStore::new(&self.store_dir(config))
    }

    /// Whether a run may read stored results and cached answers. An
    /// untrusted change carries the checkout's store with it (a fork can
    /// commit `.promptgate/` holding a forged result under the right
    /// fingerprint), so its run reads only a store kept outside the
    /// checkout (the server's own); it still writes what it measured.
    pub fn reads_store(&self, options: &RunOptions) -> bool {
        !(options.untrusted && self.store_dir.is_none())
    }

    /// `options` as this location lets them run: the cache never read
    /// when the store is the change's own ([`Locations::reads_store`]).
    pub fn run_options(&self, options: &RunOptions) -> RunOptions {
        let mut options = options.clone();
        if !self.reads_store(&options) && options.cache == CacheMode::ReadWrite {
            options.cache = CacheMode::Refresh;
        }
        options
    }
}

/// Builds the engine for one run from the config that is trusted to choose
/// providers and judges, after checking where its keys would go.
pub fn engine(
    locations: &Locations,
    config: &Config,
    options: &RunOptions,
) -> Result<Engine, FlowError> {
    options.keys.check(config)?;
    let cache = ResponseCache::in_store(&locations.store_dir(config), options.cache);
    let runner = Runner::new(
        cache,
        PriceTable::new(&config.pricing),
        RunnerOptions {
            progress: options.progress,
            ..RunnerOptions::default()
        },
    );
    let mut eval = EvalContext::new(&locations.work_dir);
    eval.untrusted = options.untrusted || options.refuse_commands;
    eval.default_judge = config.judge_model();
    Ok(Engine::new(config.clone(), Arc::new(runner), eval))
}

/// Executes a plan (its cases rendered again from `files` as they run,
/// [`Engine::execute_streamed`]) and stores its result under its
/// fingerprint, unless the
/// result is not the evaluation the fingerprint names:
/// - calls failed (an outage, a timeout): the result is incomplete, and a
///   later run must evaluate again rather than reuse it or gate against it;
/// - in untrusted mode `command` evaluators are refused, so their "scores"
///   are refusals that a later trusted run must never reuse as measurements.
pub async fn evaluate_and_store(
    engine: &Engine,
    store: &ResultStore,
    (plan, files): (&StreamedPlan, PlanFiles<'_>),
) -> Result<(EvalResult, CallStats), FlowError> {
    let (result, stats) = engine.execute_streamed(plan, files).await?;
    store_if_measured(engine, store, &plan.prompt, &result)?;
    Ok((result, stats))
}

/// Stores a whole evaluation of `prompt` under its fingerprint, unless it
/// is not the evaluation the fingerprint names (see [`evaluate_and_store`]).
pub fn store_if_measured(
    engine: &Engine,
    store: &ResultStore,
    prompt: &PromptSpec,
    result: &EvalResult,
) -> Result<(), FlowError> {
    let refused = engine.eval.untrusted
        && prompt
            .evaluators
            .iter()
            .any(|e| matches!(e.kind, EvaluatorKind::Command { .. }));
    if result.failed_calls() > 0 {
        tracing::warn!(
            prompt = %result.prompt,
            failed = result.failed_calls(),
            "not storing a result whose calls failed"
        );
    } else if !refused {
        store.save(result)?;
    }
    Ok(())
}

/// The stored result of this exact evaluation when the cache may be read,
/// else a fresh one ([`evaluate_and_store`]). `true` when it was stored.
pub async fn stored_or_evaluated(
    engine: &Engine,
    store: &ResultStore,
    plan: (&StreamedPlan, PlanFiles<'_>),
    cache: CacheMode,
) -> Result<(EvalResult, CallStats, bool), FlowError> {
    if cache == CacheMode::ReadWrite
        && let Some(stored) = store.load(&plan.0.fingerprint)?
    {
        return Ok((stored, CallStats::default(), true));
    }
    let (result, calls) = evaluate_and_store(engine, store, plan).await?;
    Ok((result, calls, false))
}

/// The prompts named by name or path; all of them when none are named. A
/// path the config's globs do not find is read as a prompt when it holds
/// one ([`holds_prompt`]): a file named on the command line is what it is.
pub fn select_by_name(
    workspace: &Workspace,
    selectors: &[String],
) -> Result<Vec<PromptSpec>, FlowError> {
    if selectors.is_empty() {
        return Ok(workspace.prompts.clone());
    }
    selectors
        .iter()
        .map(|selector| {
            let path = selector.trim_start_matches("./");
            if let Some(found) = workspace
                .prompts
                .iter()
                .find(|p| p.name == *selector || p.path.0 == path)
            {
                return Ok(found.clone());
            }
            let unknown = || FlowError::UnknownPrompt {
                name: selector.clone(),
                known: workspace.prompts.iter().map(|p| p.name.clone()).collect(),
            };
            let Ok(named) = RepoPath::relative(path) else {
                return Err(unknown());
            };
            let files = workspace.files.as_ref();
            if !matches!(files.read(&named), Ok(Some(_))) || !holds_prompt(files, &named) {
                return Err(unknown());
            }
            let (mut prompts, problems) = load_prompts(files, std::slice::from_ref(&named));
            if problems.has_errors() {
                return Err(problems.into());
            }
            prompts.pop().ok_or_else(unknown)
        })
        .collect()
}

/// One prompt evaluated as it is now. Its plan is not kept (the rendered
/// cases are most of a large evaluation's memory): the version is the
/// result's.
pub struct Evaluated {
    pub prompt: PromptSpec,
    pub result: EvalResult,
    pub calls: CallStats,
    /// The result came from the local store: nothing was called.
    pub from_store: bool,
}

/// What evaluating a set of prompts produced.
pub struct Evaluations {
    pub evaluated: Vec<Evaluated>,
    /// Judge calls, which belong to no single result.
    pub judge_calls: CallStats,
    /// Prompts not evaluated (they have no cases), in order.
    pub skipped: Vec<Skipped>,
}

impl Evaluations {
    /// The report of an evaluation without comparison (`eval`'s).
    pub fn into_report(self, elapsed_ms: u64) -> CheckReport {
        let mut totals = self.judge_calls;
        let prompts = self
            .evaluated
            .into_iter()
            .map(|item| {
                totals.add(&item.calls);
                PromptReport {
                    gate: None,
                    head: item.result,
                    baseline: None,
                    baseline_source: None,
                    path: Some(item.prompt.path.to_string()),
                    affected_because: Vec::new(),
                    prompt_diff_markdown: None,
                    prompt_diff_terminal: None,
                    policy_change: None,
                    calls: item.calls,
                    // A GitHub-format file fails exactly when `gh models eval` would.
                    cases_must_pass: item.prompt.semantics.is_github(),
                    sequential: None,
                }
            })
            .collect();
        CheckReport::new(
            ReportMode::Eval,
            prompts,
            RunTotals {
                calls: totals,
                prompts_unaffected: 0,
                elapsed_ms: Some(elapsed_ms),
            },
            self.skipped.into_iter().map(|s| s.note).collect(),
        )
    }
}

/// A prompt left out of a run, and the note that says why.
pub struct Skipped {
    pub prompt: PromptSpec,
    pub note: String,
}

/// Evaluates prompts of the working tree (all, or those named by name or
/// path), reusing stored results of identical evaluations.
pub async fn evaluate_current(
    root: &Path,
    selectors: &[String],
    options: &RunOptions,
) -> Result<(Workspace, Evaluations), FlowError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    let evaluations =
        evaluate_workspace(&workspace, selectors, options, &Locations::checkout(root)).await?;
    Ok((workspace, evaluations))
}

/// [`evaluate_current`] on any workspace (the server's comes from the
/// GitHub API), with the store where `locations` says. A prompt without
/// cases is skipped with a note, as `gh models eval` runs 0 of 0 tests.
pub async fn evaluate_workspace(
    workspace: &Workspace,
    selectors: &[String],
    options: &RunOptions,
    locations: &Locations,
) -> Result<Evaluations, FlowError> {
    let chosen = select_by_name(workspace, selectors)?;
    let engine = engine(locations, &workspace.config, options)?;
    let store = locations.store(&workspace.config);
    let mut evaluated = Vec::new();
    let mut skipped = Vec::new();
    for prompt in chosen {
        let files = workspace.files.as_ref();
        let plan = evaluation::plan_streamed(&prompt, files, &workspace.config)?;
        if let Some(note) = plan.skip_note() {
            skipped.push(Skipped { prompt, note });
            continue;
        }
        let (result, calls, from_store) = stored_or_evaluated(
            &engine,
            &store,
            (&plan, PlanFiles::of(files)),
            options.cache,
        )
        .await?;
        evaluated.push(Evaluated {
            prompt,
            result,
            calls,
            from_store,
        });
    }
    Ok(Evaluations {
        evaluated,
        judge_calls: engine.judge_stats(),
        skipped,
    })
}

/// Cases planned at once by [`estimate_current`].
const ESTIMATE_CHUNK: usize = 1024;

/// The calls evaluating the working tree's prompts (all, or those named)
/// would make, priced, counting the cached ones as free. Nothing is called.
pub fn estimate_current(root: &Path, selectors: &[String]) -> Result<pricing::Estimate, FlowError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    estimate_workspace(
        &workspace,
        selectors,
        &Locations::checkout(root),
        &RunOptions::default(),
    )
}

/// [`estimate_current`] on any workspace (the server's comes from the
/// GitHub API), with the response cache where `locations` says.
pub fn estimate_workspace(
    workspace: &Workspace,
    selectors: &[String],
    locations: &Locations,
    options: &RunOptions,
) -> Result<pricing::Estimate, FlowError> {
    let engine = engine(locations, &workspace.config, options)?.pricing_only();
    let mut estimate = pricing::Estimate::default();
    let (prices, cache) = (engine.runner.prices(), engine.runner.cache());
    for prompt in select_by_name(workspace, selectors)? {
        // A chunk at a time: a million cases are counted, never held.
        evaluation::plan_in_chunks(
            &prompt,
            workspace.files.as_ref(),
            ESTIMATE_CHUNK,
            |chunk| -> Result<(), FlowError> {
                estimate.add(&engine.calls_of(&prompt, &chunk)?, prices, Some(cache));
                Ok(())
            },
        )?;
    }
    Ok(estimate)
}

/// Why evaluating `prompts` would spend more than the config's `[budget]`
/// allows for one run, estimated from the files alone; `None` when it fits.
/// For front ends whose evaluations nobody reviews first (an agent's).
pub fn over_run_budget(workspace: &Workspace, prompts: &[PromptSpec]) -> Option<String> {
    let config = &workspace.config;
    let mut spending = Spending::default();
    for prompt in prompts {
        spending.add(&budget::estimate_prompt(
            prompt,
            workspace.files.as_ref(),
            config,
        ));
    }
    let why = budget::over_budget(&spending, &config.budget.per_run(false))?;
    Some(format!(
        "refused, nothing was run: this evaluation would spend up to {spending} ({why}); the \
         budget is `[budget]` in promptgate.toml"
    ))
}

/// The stored results of the working tree's prompts as they are now (all,
/// or those named), without calling anything; the names of prompts whose
/// current version has no stored result are returned apart.
pub fn stored_current(
    root: &Path,
    selectors: &[String],
) -> Result<(Evaluations, Vec<String>), FlowError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    let store = Locations::checkout(root).store(&workspace.config);
    let mut evaluated = Vec::new();
    let mut skipped = Vec::new();
    let mut missing = Vec::new();
    for prompt in select_by_name(&workspace, selectors)? {
        let plan = evaluation::plan_streamed(&prompt, workspace.files.as_ref(), &workspace.config)?;
        if let Some(note) = plan.skip_note() {
            skipped.push(Skipped { prompt, note });
            continue;
        }
        match store.load(&plan.fingerprint)? {
            Some(result) => evaluated.push(Evaluated {
                prompt,
                result,
                calls: CallStats::default(),
                from_store: true,
            }),
            None => missing.push(prompt.name),
        }
    }
    let evaluations = Evaluations {
        evaluated,
        judge_calls: CallStats::default(),
        skipped,
    };
    Ok((evaluations, missing))
}
