//! The check: which prompts a change affects, each evaluated at the head and
//! compared with its baseline, decided by the gate and put into a report.
//! The CLI, the GitHub Action and the server all run this same code; only
//! where the files come from differs ([`Sources`]).

use std::path::Path;
use std::time::Instant;

use super::baseline::Baselines;
use super::error::FlowError;
use super::evaluate::{Locations, RunOptions, engine, evaluate_and_store, store_if_measured};
use super::review;
use crate::edges::git::{self, GitRevision, WorkingTree};
use crate::pipeline::budget::{self, Spending};
use crate::pipeline::changes::{self, Affected, ChangedPath};
use crate::pipeline::config::{Config, GatePolicy, ProviderKind};
use crate::pipeline::evaluation::filed::file_sides;
use crate::pipeline::evaluation::sequential::{
    BaselineSide, SequentialOptions, execute_sequential,
};
use crate::pipeline::evaluation::{self, Engine, PlanFiles, StreamedPlan};
use crate::pipeline::gate::sequential::{self, SequentialOutcome};
use crate::pipeline::gate::{self, GateInput};
use crate::pipeline::report::{BaselineSource, CheckReport, PromptReport, ReportMode, RunTotals};
use crate::pipeline::review::ReviewedJudges;
use crate::pipeline::runner::cache::CacheMode;
use crate::pipeline::spec::Workspace;
use crate::pipeline::textdiff;
use crate::types::{
    CallStats, Diagnostic, Diagnostics, EvalResult, FailOn, GateOverrides, PromptSpec, RepoFiles,
};

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
    /// What this pull request already spent today, where someone keeps
    /// count (the server): `[budget.pull_request_per_day]` then applies.
    pub spent_today: Option<Spending>,
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

    /// The base version of a head prompt: by name, and for an untrusted
    /// change also by file (a fork that renames a prompt does not escape
    /// its baseline).
    fn base_prompt(&self, head: &PromptSpec) -> Option<(&Workspace, &PromptSpec)> {
        let base = self.base.as_ref()?;
        let found = base.prompt(&head.name).or_else(|| {
            self.untrusted
                .then(|| base.prompts.iter().find(|p| p.path == head.path))
                .flatten()
        });
        found.map(|p| (base, p))
    }

    /// The head prompt as the run judges it. For an untrusted change the
    /// base's criteria are the criteria: every evaluator the base version
    /// defines, as the base defines it, plus any the head adds; repeats
    /// never fewer than the base's. A model the base never routes to the
    /// built-in `echo` (not a model) is refused.
    fn judged_head(&self, head: &PromptSpec) -> Result<PromptSpec, FlowError> {
        if !self.untrusted {
            return Ok(head.clone());
        }
        self.refuse_unrouted_echo(head)?;
        let Some((_, base)) = self.base_prompt(head) else {
            return Ok(head.clone());
        };
        let mut evaluators = base.evaluators.clone();
        evaluators.extend(
            head.evaluators
                .iter()
                .filter(|e| !base.evaluators.iter().any(|b| b.name == e.name))
                .cloned(),
        );
        Ok(PromptSpec {
            evaluators,
            repeats: head.repeats.max(base.repeats),
            ..head.clone()
        })
    }

    /// `echo` answers with the prompt itself, so a criterion on it says
    /// nothing about a model: an untrusted head may use it only where the
    /// base branch does.
    fn refuse_unrouted_echo(&self, head: &PromptSpec) -> Result<(), FlowError> {
        let config = self.trusted_config();
        let provider = &head.model.provider;
        let routed_by_base = config.providers.contains_key(provider)
            || self
                .base
                .as_ref()
                .is_some_and(|b| b.prompts.iter().any(|p| p.model.provider == *provider));
        if config.provider_for(&head.model).config.kind != ProviderKind::Echo || routed_by_base {
            return Ok(());
        }
        Err(FlowError::Invalid(Diagnostics(vec![Diagnostic::error(
            head.path.clone(),
            0,
            0,
            format!(
                "model `{}` is refused for an untrusted change: the base branch never routes \
                 provider `{provider}`, and the built-in echo provider is not a model",
                head.model
            ),
        )])))
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
    if let Some(refusal) = refuse_over_budget(&sides, &affected, request.spent_today.as_ref()) {
        notes.push(refusal);
        let totals = RunTotals {
            calls: CallStats::default(),
            prompts_unaffected: sides.head.prompts.len(),
            elapsed_ms: Some(started.elapsed().as_millis() as u64),
        };
        return Ok(CheckRun {
            report: CheckReport::new(ReportMode::Check, Vec::new(), totals, notes),
            failed: true,
            head_results: Vec::new(),
            base_sha,
        });
    }
    let run = locations.run_options(&request.run);
    let engine = engine(locations, config, &run)?;
    let mut baselines = Baselines::new(locations, config);
    if !locations.reads_store(&run) {
        notes.push(
            "untrusted change: stored results and cached answers in the checkout are not read \
             (the change could carry forged ones); both sides are evaluated"
                .to_string(),
        );
        baselines = baselines.ignoring_store();
    }
    let policy_change = sides.policy_change();
    let policy = sides.policy(request);
    let family = affected
        .iter()
        .filter_map(|item| sides.head.prompt(&item.name))
        .filter_map(|prompt| sides.judged_head(prompt).ok())
        .map(|prompt| prompt.evaluators.len())
        .sum();

    let mut reports = Vec::new();
    let mut overrides = Vec::new();
    let mut totals = CallStats::default();
    for item in &affected {
        let Some(head_prompt) = sides.head.prompt(&item.name) else {
            continue;
        };
        let base_prompt = sides.base_prompt(head_prompt).map(|(_, p)| p);
        let prompt_overrides = sides.overrides(head_prompt, base_prompt);
        let checking = Checking {
            sides: &sides,
            engine: &engine,
            baselines: &baselines,
            cache: run.cache,
            base_sha: &base_sha,
            policy: gate::effective_policy(&policy, &prompt_overrides),
            family,
        };
        let Some(checked) = checking.check_prompt(head_prompt, &mut notes).await? else {
            continue;
        };
        totals.add(&checked.calls);
        overrides.push(prompt_overrides);
        reports.push(PromptReport {
            affected_because: item.reasons.iter().map(ToString::to_string).collect(),
            policy_change: policy_change.clone(),
            ..checked
        });
    }
    totals.add(&engine.judge_stats());
    notes.extend(baselines.notes());

    let reviews = review::for_check(
        &reports,
        baselines.registry().await,
        &locations.store_dir(config),
        locations.reads_store(&run),
        config,
    )
    .await;
    notes.extend(reviews.note.clone());
    // The evaluations' buffers are freed; the gate's tables take their pages.
    crate::edges::memory::give_back();
    let failed = decide(&mut reports, &overrides, &policy, &reviews.judges);
    reviews.attach(&mut reports);
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

/// What checking one prompt needs from the whole run.
struct Checking<'r, 'b> {
    sides: &'r Sides,
    engine: &'r Engine,
    baselines: &'r Baselines<'b>,
    cache: CacheMode,
    base_sha: &'r str,
    /// The prompt's effective gate policy (with its overrides).
    policy: GatePolicy,
    /// Criteria in the whole check, for the sequential tests' correction.
    family: usize,
}

/// Both sides of one prompt as measured.
struct Measured {
    head: EvalResult,
    calls: CallStats,
    baseline: Option<EvalResult>,
    baseline_source: Option<BaselineSource>,
    sequential: Option<SequentialOutcome>,
}

impl Checking<'_, '_> {
    /// One affected prompt: the head evaluated (or its stored result), the
    /// base version measured the head's way and looked up as a baseline,
    /// and the text diff between them. The gate is decided later, for all
    /// at once. `None`, with a note, for a prompt without cases.
    async fn check_prompt(
        &self,
        head_prompt: &PromptSpec,
        notes: &mut Vec<String>,
    ) -> Result<Option<PromptReport>, FlowError> {
        let sides = self.sides;
        let config = sides.trusted_config();
        let as_written = head_prompt;
        let judged = sides.judged_head(head_prompt)?;
        let head_prompt = &judged;
        let head_files = PlanFiles::of(sides.head.files.as_ref());
        let head_plan = evaluation::plan_streamed_from(head_prompt, head_files, config)?;
        if let Some(note) = head_plan.skip_note() {
            notes.push(note);
            return Ok(None);
        }
        let base = sides.base_prompt(head_prompt);
        let baseline_plan = match base {
            Some((base, base_prompt)) => {
                let files = PlanFiles {
                    templates: base.files.as_ref(),
                    cases: head_files.cases,
                };
                match baseline_plan(base_prompt, head_prompt, files, config) {
                    Ok(plan) => Some((plan, files)),
                    Err(note) => {
                        notes.push(note);
                        None
                    }
                }
            }
            None => None,
        };
        let baseline = baseline_plan.as_ref().map(|(plan, files)| (plan, *files));
        let measured = self.measure((&head_plan, head_files), baseline).await?;
        let diff = base
            .map(|(_, base_prompt)| textdiff::diff_specs(base_prompt, as_written))
            .filter(|d| !d.is_empty());
        Ok(Some(PromptReport {
            gate: None,
            head: measured.head,
            baseline: measured.baseline,
            baseline_source: measured.baseline_source,
            path: Some(as_written.path.to_string()),
            affected_because: Vec::new(),
            prompt_diff_markdown: diff.as_ref().map(|d| d.render_markdown()),
            prompt_diff_terminal: diff.as_ref().map(|d| d.render_terminal(false)),
            policy_change: None,
            calls: measured.calls,
            cases_must_pass: false,
            sequential: measured.sequential,
        }))
    }

    /// The head and its baseline: sequentially when the policy and the
    /// suite allow it, else every case of both.
    async fn measure(
        &self,
        head: (&StreamedPlan, PlanFiles<'_>),
        baseline: Option<(&StreamedPlan, PlanFiles<'_>)>,
    ) -> Result<Measured, FlowError> {
        let store = self.baselines.store();
        let stored_head = match self.cache {
            CacheMode::ReadWrite => store.load(&head.0.fingerprint)?,
            _ => None,
        };
        if let (None, Some(baseline), true) = (
            &stored_head,
            baseline,
            self.policy.sequential && head.0.cases >= sequential::MIN_CASES,
        ) {
            return self.measure_sequentially(head, baseline).await;
        }
        let (head, mut calls) = match stored_head {
            Some(stored) => (stored, CallStats::default()),
            None => evaluate_and_store(self.engine, store, head).await?,
        };
        let (baseline, baseline_source) = match baseline {
            Some(plan) => {
                let found = self
                    .baselines
                    .stored_or_evaluated(self.engine, plan, self.base_sha)
                    .await?;
                calls.add(&found.calls);
                (Some(found.result), Some(found.source))
            }
            None => (None, None),
        };
        Ok(Measured {
            head,
            calls,
            baseline,
            baseline_source,
            sequential: None,
        })
    }

    /// Head and baseline in batches until the anytime-valid tests settle
    /// the prompt. The cases are filed once ([`file_sides`]) so a batch
    /// reads only its own. Only whole evaluations are stored: a run that
    /// stopped early leaves nothing a later run could mistake for a
    /// measurement.
    async fn measure_sequentially(
        &self,
        head: (&StreamedPlan, PlanFiles<'_>),
        baseline: (&StreamedPlan, PlanFiles<'_>),
    ) -> Result<Measured, FlowError> {
        let engine = self.engine;
        let (head_plan, baseline_plan) = (head.0, baseline.0);
        let known = self.baselines.stored(&baseline_plan.fingerprint).await?;
        let filed = file_sides(engine, head, known.is_none().then_some(baseline))?;
        let side = match (&known, &filed.baseline) {
            (Some((result, _)), _) => BaselineSide::Known(result),
            (None, Some(plan)) => BaselineSide::Evaluate(plan),
            (None, None) => unreachable!("a baseline is filed whenever none is known"),
        };
        let options = SequentialOptions {
            batch: sequential::batch_size(head_plan.cases),
            cached: &filed.cached,
            family: self.family,
        };
        let run = execute_sequential(engine, &filed.head, side, &self.policy, &options).await?;
        let complete = run.complete();
        let store = self.baselines.store();
        if complete {
            store_if_measured(engine, store, &head_plan.prompt, &run.head)?;
        }
        let mut calls = run.head_calls;
        let baseline = match (known, run.baseline) {
            (Some(found), _) => Some(found),
            (None, Some((result, base_calls))) => {
                calls.add(&base_calls);
                if complete {
                    store_if_measured(engine, store, &baseline_plan.prompt, &result)?;
                }
                Some((result, BaselineSource::fresh(self.base_sha)))
            }
            // The run evaluates the baseline whenever none was known.
            (None, None) => None,
        };
        let (baseline, baseline_source) = baseline.unzip();
        Ok(Measured {
            head: run.head,
            calls,
            baseline,
            baseline_source,
            sequential: Some(run.outcome),
        })
    }
}

/// The refusal, with the estimate, when the affected prompts would spend
/// more than the trusted config's `[budget]` allows (for an untrusted run,
/// with its defaults for unset limits). Estimated from the files alone:
/// nothing is rendered or planned first.
fn refuse_over_budget(
    sides: &Sides,
    affected: &[Affected],
    spent_today: Option<&Spending>,
) -> Option<String> {
    let config = sides.trusted_config();
    let mut spending = Spending::default();
    for item in affected {
        let Some(head) = sides.head.prompt(&item.name) else {
            continue;
        };
        let one = budget::estimate_prompt(head, sides.head.files.as_ref(), config);
        spending.add(&one);
        // The baseline is measured on the head's cases too.
        if sides.base_prompt(head).is_some() {
            spending.add(&one);
        }
    }
    budget_refusal(config, sides.untrusted, &spending, spent_today)
}

/// The refusal, with the estimate, when `spending` would exceed the trusted
/// `config`'s `[budget]` for one run or, with what the pull request already
/// `spent_today`, its daily budget; `None` when it fits. The server's MCP
/// tools refuse their runs by the same rule.
pub(crate) fn budget_refusal(
    config: &Config,
    untrusted: bool,
    spending: &Spending,
    spent_today: Option<&Spending>,
) -> Option<String> {
    let limits = config.budget.per_run(untrusted);
    let whose = if untrusted {
        "the base branch's promptgate.toml (or the defaults for untrusted changes)"
    } else {
        "promptgate.toml"
    };
    if let Some(why) = budget::over_budget(spending, &limits) {
        return Some(format!(
            "refused, nothing was run: this change would spend up to {spending} ({why}); the \
             budget is `[budget]` in {whose}"
        ));
    }
    let spent = spent_today?;
    let mut today = spent.clone();
    today.add(spending);
    let why = budget::over_budget(&today, &config.budget.per_pull_request_day(untrusted))?;
    Some(format!(
        "refused, nothing was run: this pull request spent {spent} today, and this run would add \
         up to {spending} ({why}); the daily budget is `[budget.pull_request_per_day]` in \
         {whose}; it starts again at 00:00 UTC"
    ))
}

/// The base version planned on the head's cases (read from `files`), or
/// why it cannot be.
fn baseline_plan(
    base_prompt: &PromptSpec,
    head_prompt: &PromptSpec,
    files: PlanFiles<'_>,
    config: &Config,
) -> Result<StreamedPlan, String> {
    let measured = measured_like(base_prompt, head_prompt);
    evaluation::plan_streamed_from(&measured, files, config).map_err(|problems| {
        format!(
            "{}: the base version cannot be evaluated on the head's cases, so it has no baseline:\n{problems}",
            head_prompt.name
        )
    })
}

/// Gates every prompt report against its baseline under `policy` (with each
/// prompt's overrides, and the judges in `judges` corrected by reviewers'
/// labels) in one family, so the false-alarm rate holds across
/// criteria and prompts; true when any prompt fails.
pub fn decide(
    reports: &mut [PromptReport],
    overrides: &[GateOverrides],
    policy: &GatePolicy,
    judges: &ReviewedJudges,
) -> bool {
    let inputs: Vec<GateInput> = reports
        .iter()
        .zip(overrides)
        .map(|(report, overrides)| GateInput {
            head: &report.head,
            baseline: report.baseline.as_ref(),
            policy,
            overrides,
            sequential: report.sequential.as_ref(),
        })
        .collect();
    let gates = gate::gate_all_reviewed(&inputs, judges);
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
    if old.sequential != new.sequential {
        parts.push(format!(
            "sequential {} → {}",
            old.sequential, new.sequential
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
