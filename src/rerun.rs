//! The rerun after a model changed: every prompt (or those on one model) is
//! evaluated afresh — the response cache is bypassed, since the point is
//! what the model answers now — and compared with the stored baseline
//! result of the same version: the local store first, then the registry.
//! The fresh result does not replace the baseline; publishing does that.

use std::path::Path;

use crate::check::{self, CheckError, CheckRequest, Locations, Workspace};
use crate::evaluation;
use crate::gate::{self, GateInput};
use crate::registry::{Registry, VersionRef};
use crate::repo::WorkingTree;
use crate::report::{BaselineSource, CallStats, CheckReport, PromptReport, ReportMode, RunTotals};
use crate::store::EvalResult;
use crate::store::cache::CacheMode;
use crate::store::results::ResultStore;

/// A finished rerun.
pub struct Rerun {
    pub report: CheckReport,
    pub failed: bool,
}

/// Re-evaluates the working tree's prompts on `model` (all when `None`)
/// against their baselines. `registry` is asked for the baselines the local
/// store does not have.
pub async fn rerun(
    root: &Path,
    model: Option<&str>,
    registry: Option<&dyn Registry>,
    request: &CheckRequest,
) -> Result<Rerun, CheckError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    rerun_workspace(
        &workspace,
        &Locations::checkout(root),
        model,
        registry,
        request,
    )
    .await
}

/// [`rerun`] on any workspace (the server's comes from the GitHub API),
/// with the store where `locations` says.
pub async fn rerun_workspace(
    workspace: &Workspace,
    locations: &Locations,
    model: Option<&str>,
    registry: Option<&dyn Registry>,
    request: &CheckRequest,
) -> Result<Rerun, CheckError> {
    let started = std::time::Instant::now();
    let config = &workspace.config;
    let fresh = CheckRequest {
        cache: CacheMode::Refresh,
        ..request.clone()
    };
    let engine = check::engine(locations, config, &fresh);
    let store = ResultStore::new(&locations.store_dir(config));
    let mut notes = Vec::new();
    let mut reports = Vec::new();
    let mut totals = CallStats::default();
    let chosen: Vec<_> = workspace
        .prompts
        .iter()
        .filter(|p| model.is_none_or(|m| p.model.to_string() == m))
        .collect();
    for prompt in &chosen {
        let plan = evaluation::plan(prompt, workspace.files.as_ref(), config)?;
        // Read before evaluating: the baseline is what was stored until now.
        let (baseline, source) = match store.load(&plan.fingerprint)? {
            Some(stored) => (Some(stored), Some(BaselineSource::LocalStore)),
            None => match registry_baseline(registry, &prompt.name, &plan).await {
                Ok(Some(result)) => (Some(result), Some(BaselineSource::Registry)),
                Ok(None) => (None, None),
                Err(message) => {
                    notes.push(format!("{}: {message}", prompt.name));
                    (None, None)
                }
            },
        };
        let (head, calls) = engine.execute(&plan).await?;
        totals.add(&calls);
        reports.push(PromptReport {
            gate: None,
            head,
            baseline,
            baseline_source: source,
            path: Some(prompt.path.to_string()),
            affected_because: vec![match model {
                Some(m) => format!("rerun of the prompts on {m}"),
                None => "rerun of every prompt".to_string(),
            }],
            prompt_diff_markdown: None,
            prompt_diff_terminal: None,
            policy_change: None,
            calls,
        });
    }
    totals.add(&engine.judge_stats());
    if reports.iter().any(|r| r.baseline.is_none()) {
        notes.push(
            "prompts without a stored baseline are reported as new; `promptgate baseline` or a publish records one"
                .to_string(),
        );
    }

    let mut policy = config.gate.clone();
    if let Some(fail_on) = request.fail_on {
        policy.fail_on = fail_on;
    }
    let inputs: Vec<GateInput> = reports
        .iter()
        .zip(&chosen)
        .map(|(report, prompt)| GateInput {
            head: &report.head,
            baseline: report.baseline.as_ref(),
            policy: &policy,
            overrides: &prompt.gate,
        })
        .collect();
    let gates = gate::gate_all(&inputs);
    let failed = gates.iter().any(|g| g.failed);
    for (report, gate) in reports.iter_mut().zip(gates) {
        report.gate = Some(gate);
    }
    Ok(Rerun {
        report: CheckReport {
            mode: ReportMode::Check,
            prompts: reports,
            totals: RunTotals {
                calls: totals,
                prompts_unaffected: workspace.prompts.len() - chosen.len(),
                elapsed_ms: Some(started.elapsed().as_millis() as u64),
            },
            notes,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at: evaluation::now_rfc3339(),
        },
        failed,
    })
}

/// The registry's baseline of the published version with this content.
async fn registry_baseline(
    registry: Option<&dyn Registry>,
    prompt: &str,
    plan: &evaluation::EvaluationPlan,
) -> Result<Option<EvalResult>, String> {
    let Some(registry) = registry else {
        return Ok(None);
    };
    let lookup = async {
        let at = VersionRef::Id(plan.version.clone());
        let Some(version) = registry.version(prompt, &at).await? else {
            return Ok(None);
        };
        Ok(registry
            .baseline(prompt, version.number)
            .await?
            .map(|b| b.result))
    };
    lookup.await.map_err(|e: crate::registry::RegistryError| {
        format!("the registry's baseline could not be read: {e}")
    })
}
