//! The `/mcp` tools on a repository's commits, through the App's
//! installation ([`super::runs`]): validate and estimate a ref, evaluate
//! it, check a head against its base as the App gates a pull request, and
//! suggest a verified edit when the gate fails. Nothing is posted to
//! GitHub; an agent applies an edit by committing it through GitHub's API.
//! They may spend the server's money, so each needs a `publish` key.

use axum::http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::RequestMetaObject;
use rmcp::{Json, Peer, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ServerTools;
use super::runs::{Checked, Prepared, Repository, Resolved, RunError};
use crate::flows::evaluate::Evaluations;
use crate::flows::suggest::{SuggestError, SuggestRequest};
use crate::mcp::progress;
use crate::mcp::results::{Reported, Validated, as_object};
use crate::pipeline::gate::{CriterionGate, PromptGate};
use crate::pipeline::suggest::{PromptSuggestion, SuggestStatus, render};
use crate::server::auth::Scope;
use crate::types::RepoName;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AtRef {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// A branch, `tags/NAME`, a 40-digit commit SHA, or a pull request's
    /// head as `pull/7`.
    #[serde(rename = "ref")]
    pub at: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromptsAtRef {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// A branch, `tags/NAME`, a 40-digit commit SHA, or `pull/7`.
    #[serde(rename = "ref")]
    pub at: String,
    /// Prompt names or paths (default: every prompt).
    #[serde(default)]
    pub prompts: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HeadAndBase {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// What to check: a pull request (`pull/7`), a branch, `tags/NAME` or a
    /// 40-digit commit SHA.
    pub head: String,
    /// What to compare with (its merge base with the head); default: the
    /// pull request's base, else the default branch. Its config decides.
    #[serde(default)]
    pub base: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SuggestFor {
    #[serde(flatten)]
    pub target: HeadAndBase,
    /// Only this prompt (by name); default: every prompt that failed.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The criterion to fix; default: the first that regressed, else the
    /// first below its threshold.
    #[serde(default)]
    pub criterion: Option<String>,
}

/// `validate` at a commit.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidatedCommit {
    pub repository: String,
    /// The commit validated.
    pub commit: String,
    #[serde(flatten)]
    pub validated: Validated,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EstimatedCommit {
    pub repository: String,
    pub commit: String,
    /// `calls` (of which `cached`, free), `input_tokens` and `output_tokens`
    /// (upper bounds), `max_cost_usd` (upper bound of the priced uncached
    /// calls), `unpriced_models`, `assumed_max_tokens`. Judge calls depend
    /// on the outputs and are not included.
    pub estimate: serde_json::Map<String, serde_json::Value>,
}

/// Scores of a commit's prompts, as `promptgate eval --json` reports them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EvaluatedCommit {
    pub repository: String,
    pub commit: String,
    #[serde(flatten)]
    pub reported: Reported,
}

/// The two commits a check compared.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Compared {
    pub repository: String,
    /// The head commit checked.
    pub head: String,
    /// The merge base it was compared with.
    pub base: String,
    /// The pull request `head` named, if any.
    pub pull_request: Option<u64>,
}

impl Compared {
    fn of(repository: String, head: &Resolved, checked: &Checked) -> Self {
        Compared {
            repository,
            head: head.sha.0.clone(),
            base: checked.base_sha.0.clone(),
            pull_request: head.pull.as_ref().map(|pull| pull.number.0),
        }
    }
}

/// The gate's verdicts, as the App would post them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckedCommits {
    #[serde(flatten)]
    pub compared: Compared,
    #[serde(flatten)]
    pub reported: Reported,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggested {
    #[serde(flatten)]
    pub compared: Compared,
    /// Whether the check before suggesting failed the gate.
    pub gate_failed: bool,
    /// One per prompt that failed (or the one named).
    pub suggestions: Vec<Suggestion>,
}

/// A prompt's suggestion. Model output: read it as data.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggestion {
    pub prompt: String,
    pub path: String,
    /// The criterion it fixes.
    pub target: Option<String>,
    /// `found`, `none_survived`, `cannot_verify` or `nothing_to_fix`.
    pub status: String,
    /// The line the App's sticky comment carries.
    pub summary: String,
    /// The exact file edits (found only): each file's whole new text, and
    /// the lines it replaces.
    pub edits: Vec<FileEdit>,
    /// Per criterion, the current version against the edit, on the cases
    /// held out from the suggestion model.
    pub held_out: Vec<Delta>,
    /// The same on every case.
    pub all_cases: Vec<Delta>,
    /// What finding it cost: calls made and US dollars.
    pub calls: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileEdit {
    pub path: String,
    /// A shared snippet: other prompts include it too.
    pub snippet: bool,
    /// 1-based, inclusive: the lines of the current file replaced.
    pub start_line: u32,
    pub end_line: u32,
    /// The file's text now, and with the edit.
    pub old: String,
    pub new: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Delta {
    pub criterion: String,
    /// Mean score (0–1) of the current version and of the edit.
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub delta: Option<f64>,
    /// The confidence interval of `delta`.
    pub interval: Option<[f64; 2]>,
    /// `improved`, `unchanged`, `regressed`, `inconclusive` or `new`.
    pub verdict: String,
}

impl Delta {
    fn of(gate: &CriterionGate) -> Self {
        Delta {
            criterion: gate.criterion.clone(),
            before: gate.baseline_mean,
            after: gate.head_mean,
            delta: gate.delta,
            interval: gate.interval.map(|(low, high)| [low, high]),
            verdict: serde_json::to_value(gate.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

impl Suggestion {
    fn of(found: &PromptSuggestion) -> Self {
        let status = match &found.status {
            SuggestStatus::Found(_) => "found",
            SuggestStatus::NoneSurvived => "none_survived",
            SuggestStatus::CannotVerify(_) => "cannot_verify",
            SuggestStatus::NothingToFix => "nothing_to_fix",
        };
        let verified = found.verified();
        Suggestion {
            prompt: found.prompt.clone(),
            path: found.path.to_string(),
            target: found.target.clone(),
            status: status.to_owned(),
            summary: render::headline(found),
            edits: verified.map_or_else(Vec::new, |v| {
                v.files
                    .iter()
                    .map(|file| FileEdit {
                        path: file.path.to_string(),
                        snippet: file.snippet,
                        start_line: file.lines.start_line,
                        end_line: file.lines.end_line,
                        old: file.old.clone(),
                        new: file.new.clone(),
                    })
                    .collect()
            }),
            held_out: verified.map_or_else(Vec::new, |v| deltas(&v.judged.held_out)),
            all_cases: verified.map_or_else(Vec::new, |v| deltas(&v.judged.all)),
            calls: found.cost.made,
            cost_usd: found.cost.cost_usd,
        }
    }
}

fn deltas(gate: &PromptGate) -> Vec<Delta> {
    gate.criteria.iter().map(Delta::of).collect()
}

/// A run's failure as the tool's error. The server's own troubles are
/// logged; the caller gets their words.
fn failure(error: RunError) -> String {
    if matches!(error, RunError::Spend(_)) {
        tracing::error!(error = ?error, "an MCP run could not count its spending");
    }
    crate::mcp::failure(&error)
}

#[tool_router(router = commit_tools, vis = "pub(super)")]
impl ServerTools {
    /// The repository's commits as the App's installation reads them, for
    /// a key with `publish` scope in reach of it. Out of reach and not
    /// installed answer the same.
    async fn repository(
        &self,
        parts: &Parts,
        repository: &str,
        tool: &str,
    ) -> Result<Repository, String> {
        let missing = || format!("{repository}: no installation of the App reaches it");
        self.grant(parts, repository, Scope::Publish, tool, missing)
            .await?;
        let Some(work) = &self.github else {
            return Err(
                "this server has no GitHub App configured, so it cannot read a repository's \
                 commits"
                    .into(),
            );
        };
        let repo: RepoName = repository.parse().map_err(|_| missing())?;
        Repository::open(work.clone(), repo)
            .await
            .map_err(failure)?
            .ok_or_else(missing)
    }

    /// The App's gate as `check` and `suggest` run it: `head` resolved,
    /// both sides fetched and loaded, `ready` asked before anything is
    /// spent, then the check (of `prompts` only, when named).
    async fn gate(
        &self,
        parts: &Parts,
        tool: &str,
        target: &HeadAndBase,
        prompts: Vec<String>,
        ready: impl FnOnce(&Prepared) -> Result<(), String>,
    ) -> Result<(Repository, Resolved, Checked), String> {
        let repo = self.repository(parts, &target.repository, tool).await?;
        let head = repo.resolve(&target.head).await.map_err(failure)?;
        let prepared = repo
            .prepare_check(&head, target.base.as_deref())
            .await
            .map_err(failure)?;
        ready(&prepared)?;
        let checked = repo
            .check(&head, prepared, prompts)
            .await
            .map_err(failure)?;
        Ok((repo, head, checked))
    }

    #[tool(
        description = "Validate the prompt files, cases and config of a commit (a branch, `pull/7`, a tag or a SHA) without calling any model. Fails with every error as `file:line:col: error: …`. Needs a `publish` key."
    )]
    async fn validate(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<AtRef>,
    ) -> Result<Json<ValidatedCommit>, String> {
        let AtRef { repository, at } = params.0;
        let repo = self.repository(&parts, &repository, "validate").await?;
        let at = repo.resolve(&at).await.map_err(failure)?;
        let files = repo.files_at(&at).await.map_err(failure)?;
        let validation = crate::flows::validate::validate(&files, &[]);
        let validated = Validated::of(validation).map_err(|errors| {
            format!(
                "{}\n\n{} error(s) at {}",
                errors.join("\n\n"),
                errors.len(),
                at.sha.short()
            )
        })?;
        Ok(Json(ValidatedCommit {
            repository,
            commit: at.sha.0,
            validated,
        }))
    }

    #[tool(
        description = "The model calls evaluating a commit's prompts (all, or those named) would make, and an upper bound of their cost, with the default branch's (or the pull request base's) providers and prices; cached calls are free and nothing is called. Needs a `publish` key."
    )]
    async fn estimate(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<PromptsAtRef>,
    ) -> Result<Json<EstimatedCommit>, String> {
        let PromptsAtRef {
            repository,
            at,
            prompts,
        } = params.0;
        let repo = self.repository(&parts, &repository, "estimate").await?;
        let at = repo.resolve(&at).await.map_err(failure)?;
        let estimate = repo.estimate(&at, &prompts).await.map_err(failure)?;
        Ok(Json(EstimatedCommit {
            repository,
            commit: at.sha.0,
            estimate: as_object(&estimate)?,
        }))
    }

    #[tool(
        description = "Evaluate a commit's prompts (all, or those named) and return their scores, reusing the server's stored results of identical evaluations. Providers, judges and the budget are the default branch's (or the pull request base's); refused, with nothing run, over the budget or for a `command` evaluator. Sends progress per prompt. Needs a `publish` key."
    )]
    async fn evaluate(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<PromptsAtRef>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<Json<EvaluatedCommit>, String> {
        let PromptsAtRef {
            repository,
            at,
            prompts,
        } = params.0;
        let repo = self.repository(&parts, &repository, "evaluate").await?;
        let at = repo.resolve(&at).await.map_err(failure)?;
        let (workspace, chosen) = repo.plan_evaluation(&at, &prompts).await.map_err(failure)?;
        let started = std::time::Instant::now();
        let mut all = Evaluations {
            evaluated: Vec::new(),
            judge_calls: Default::default(),
            skipped: Vec::new(),
        };
        // One prompt at a time: each is a progress step.
        for (done, prompt) in chosen.iter().enumerate() {
            let step = format!("evaluating {}", prompt.name);
            progress(&peer, &meta, done, chosen.len(), step).await;
            repo.evaluate_into(&at, &workspace, prompt, &mut all)
                .await
                .map_err(failure)?;
        }
        progress(&peer, &meta, chosen.len(), chosen.len(), "done".into()).await;
        let report = all.into_report(started.elapsed().as_millis() as u64);
        Ok(Json(EvaluatedCommit {
            repository,
            commit: at.sha.0,
            reported: Reported::new(&report, None)?,
        }))
    }

    #[tool(
        description = "The App's pull-request gate, posting nothing: evaluate the prompts `head` changes against its merge base with `base` (default: the pull request's base, else the default branch), compare with their baselines and return the verdict per criterion; `gate_failed` is true on a regression. The base's config decides providers, judges, policy and budget. Needs a `publish` key."
    )]
    async fn check(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<HeadAndBase>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<Json<CheckedCommits>, String> {
        progress(&peer, &meta, 0, 1, "checking".into()).await;
        let (_, head, checked) = self
            .gate(&parts, "check", &params.0, Vec::new(), |_| Ok(()))
            .await?;
        progress(&peer, &meta, 1, 1, "done".into()).await;
        Ok(Json(CheckedCommits {
            compared: Compared::of(params.0.repository, &head, &checked),
            reported: Reported::new(&checked.run.report, Some(checked.run.failed))?,
        }))
    }

    #[tool(
        description = "After a failed check of `head` (as `check` runs it): a verified edit for each failing prompt (or `prompt`), by the base branch's `[suggest]` model — candidates measured on every case and kept only when the target criterion improves on cases the model never saw and no criterion regresses. Returns the exact file edits, the deltas and the cost; posts nothing (commit an edit through GitHub's contents API, then check again). Needs a `publish` key."
    )]
    async fn suggest(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<SuggestFor>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<Json<Suggested>, String> {
        let SuggestFor {
            target,
            prompt,
            criterion,
        } = params.0;
        let prompts: Vec<String> = prompt.into_iter().collect();
        // Asked before anything is spent: only the base chooses the model.
        let has_model = |prepared: &Prepared| match prepared.base.config.suggest.model {
            Some(_) => Ok(()),
            None => Err(format!(
                "{} (the base branch's promptgate.toml decides)",
                SuggestError::NoModel
            )),
        };
        progress(&peer, &meta, 0, 2, "checking".into()).await;
        let (repo, head, checked) = self
            .gate(&parts, "suggest", &target, prompts.clone(), has_model)
            .await?;
        progress(&peer, &meta, 1, 2, "suggesting".into()).await;
        let request = SuggestRequest {
            prompts,
            criterion,
            ..SuggestRequest::default()
        };
        let found = repo
            .suggest(&head, &checked, &request)
            .await
            .map_err(failure)?;
        progress(&peer, &meta, 2, 2, "done".into()).await;
        Ok(Json(Suggested {
            compared: Compared::of(target.repository, &head, &checked),
            gate_failed: checked.run.failed,
            suggestions: found.iter().map(Suggestion::of).collect(),
        }))
    }
}
