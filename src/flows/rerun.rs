//! The rerun after a model changed: every prompt (or those on one model) is
//! evaluated afresh — the response cache is bypassed, since the point is
//! what the model answers now — and compared with the stored baseline
//! result of the same evaluation ([`Baselines::stored`]: the local store,
//! then the registry). The fresh result does not replace the baseline;
//! publishing does that.

use std::path::Path;

use super::baseline::Baselines;
use super::check::{CheckRequest, decide};
use super::error::FlowError;
use super::evaluate::{Locations, RunOptions, engine};
use super::review;
use crate::edges::git::WorkingTree;
use crate::pipeline::evaluation;
use crate::pipeline::report::{CheckReport, PromptReport, ReportMode, RunTotals};
use crate::pipeline::runner::cache::CacheMode;
use crate::pipeline::spec::Workspace;
use crate::types::CallStats;

/// A finished rerun.
pub struct Rerun {
    pub report: CheckReport,
    pub failed: bool,
}

/// Re-evaluates the working tree's prompts on `model` (all when `None`)
/// against their baselines, found in the local store or the registry the
/// config names.
pub async fn rerun(
    root: &Path,
    model: Option<&str>,
    request: &CheckRequest,
) -> Result<Rerun, FlowError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root)?))?;
    rerun_workspace(&workspace, &Locations::checkout(root), model, request).await
}

/// [`rerun`] on any workspace (the server's comes from the GitHub API),
/// with the store and registry where `locations` says.
pub async fn rerun_workspace(
    workspace: &Workspace,
    locations: &Locations,
    model: Option<&str>,
    request: &CheckRequest,
) -> Result<Rerun, FlowError> {
    let started = std::time::Instant::now();
    let config = &workspace.config;
    let fresh = RunOptions {
        cache: CacheMode::Refresh,
        ..request.run.clone()
    };
    let engine = engine(locations, config, &fresh)?;
    let baselines = Baselines::new(locations, config);
    let mut reports = Vec::new();
    let mut overrides = Vec::new();
    let mut totals = CallStats::default();
    let chosen: Vec<_> = workspace
        .prompts
        .iter()
        .filter(|p| model.is_none_or(|m| p.model.to_string() == m))
        .collect();
    let mut skipped = Vec::new();
    for prompt in &chosen {
        let plan = evaluation::plan(prompt, workspace.files.as_ref(), config)?;
        if let Some(note) = plan.skip_note() {
            skipped.push(note);
            continue;
        }
        // Read before evaluating: the baseline is what was stored until now.
        let (baseline, source) = match baselines.stored(&plan.fingerprint).await? {
            Some((result, source)) => (Some(result), Some(source)),
            None => (None, None),
        };
        let (head, calls) = engine.execute(&plan).await?;
        totals.add(&calls);
        overrides.push(prompt.gate.clone());
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
            cases_must_pass: false,
            sequential: None,
        });
    }
    totals.add(&engine.judge_stats());
    let mut notes = baselines.notes();
    notes.extend(skipped);
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
    let reviews = review::for_check(
        &reports,
        baselines.registry().await,
        &locations.store_dir(config),
        locations.reads_store(&fresh),
        config,
    )
    .await;
    notes.extend(reviews.note.clone());
    let failed = decide(&mut reports, &overrides, &policy, &reviews.judges);
    reviews.attach(&mut reports);
    Ok(Rerun {
        report: CheckReport::new(
            ReportMode::Check,
            reports,
            RunTotals {
                calls: totals,
                prompts_unaffected: workspace.prompts.len() - chosen.len(),
                elapsed_ms: Some(started.elapsed().as_millis() as u64),
            },
            notes,
        ),
        failed,
    })
}
