//! `promptgate action`: what the GitHub Action does, per event.
//!
//! - `pull_request`: the check of the pull request's changes, then one
//!   sticky comment, a check run with annotations (a commit status where
//!   check runs are not allowed), the JUnit and JSON reports, the step
//!   summary, the outputs and `::error` workflow commands. A pull request
//!   from a fork is untrusted: the base branch's config decides, nothing is
//!   posted, and without credentials the run is skipped as neutral.
//! - `push` to the default branch: the prompts the push changed are
//!   published to the registry, their results recorded as baselines.
//! - `workflow_dispatch` (`model` or `all`): the rerun after a model changed.
//!
//! Every GitHub call goes through [`GitHubApi`]; its errors name the call.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::edges::git::{GitRevision, WorkingTree};
use crate::edges::github::actions::{ActionsEnv, ActionsEnvError, ActionsEvent};
use crate::edges::github::annotations::neutralise_commands;
use crate::edges::github::post::{self, CheckVerdict, PostError, PullRequestTarget};
use crate::edges::github::webhook::{Event, PullRequestEvent, PushEvent};
use crate::edges::github::{DeploymentState, GitHubApi, GitHubError, NewDeployment};
use crate::edges::registry::{self, Registry, RegistryError};
use crate::flows::check::{CheckRequest, check_sources, git_sources};
use crate::flows::error::FlowError;
use crate::flows::evaluate::{Locations, RegistryAccess, RunOptions};
use crate::flows::publish::{PublishError, PublishMeta, PublishedPrompt, publish_current};
use crate::flows::rerun::rerun_workspace;
use crate::pipeline::config::Config;
use crate::pipeline::report::{CheckReport, ReportError, ReportMode, RunTotals, markdown};
use crate::pipeline::spec::Workspace;
use crate::types::{CommitSha, FailOn};

pub use crate::edges::github::post::CHECK_NAME;

/// The registry the Action publishes to when neither the input nor the config names one.
pub const DEFAULT_ACTION_REGISTRY: &str = "git+branch://promptgate-registry";

/// The action's inputs, as `action.yml` passes them (`PROMPTGATE_*`), and
/// the parts of the run's environment [`ActionsEnv`] does not hold.
#[derive(Debug, Clone)]
pub struct ActionInputs {
    /// The folder of the `config` input's `promptgate.toml`, relative to the
    /// working directory; promptgate works there. `None`: the working directory.
    pub config_dir: Option<PathBuf>,
    /// Compare against this revision instead of the pull request's base.
    pub base: Option<String>,
    pub fail_on: Option<FailOn>,
    /// Post (and keep updating) the sticky comment.
    pub comment: bool,
    /// Where the JUnit XML goes, relative to the working directory.
    pub junit: PathBuf,
    /// Where the JSON report goes, relative to the working directory.
    pub report_json: PathBuf,
    /// Where the self-contained HTML report goes, when asked for (the
    /// workflow's upload step makes it an artifact).
    pub html: Option<PathBuf>,
    pub registry: Option<String>,
    /// Create a GitHub deployment (and status) for each label a push moves.
    pub deployments: bool,
    /// The run's page, linked from the check run.
    pub details_url: Option<String>,
    /// `GITHUB_ACTOR`: recorded as the author of published versions.
    pub actor: Option<String>,
}

impl ActionInputs {
    /// Reads the inputs through `var` (the process environment, or a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ActionError> {
        let present = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let config_dir = match present("PROMPTGATE_CONFIG") {
            None => None,
            Some(config) => config_folder(config.trim())?,
        };
        let fail_on = match present("PROMPTGATE_FAIL_ON").as_deref().map(str::trim) {
            None => None,
            Some("regression") => Some(FailOn::Regression),
            Some("inconclusive") => Some(FailOn::Inconclusive),
            Some("never") => Some(FailOn::Never),
            Some(other) => {
                return Err(ActionError::Input {
                    input: "fail-on",
                    message: format!(
                        "`{other}` is not one of `regression`, `inconclusive`, `never`"
                    ),
                });
            }
        };
        let flag = |name: &str, input: &'static str, default: bool| match present(name)
            .as_deref()
            .map(str::trim)
        {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ActionError::Input {
                input,
                message: format!("`{other}` is not `true` or `false`"),
            }),
        };
        let details_url = match (
            present("GITHUB_SERVER_URL"),
            present("GITHUB_REPOSITORY"),
            present("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repo), Some(run)) => Some(format!(
                "{}/{repo}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Ok(Self {
            config_dir,
            base: present("PROMPTGATE_BASE"),
            fail_on,
            comment: flag("PROMPTGATE_COMMENT", "comment", true)?,
            junit: PathBuf::from(
                present("PROMPTGATE_JUNIT").unwrap_or_else(|| "promptgate-junit.xml".into()),
            ),
            report_json: PathBuf::from(
                present("PROMPTGATE_REPORT_JSON")
                    .unwrap_or_else(|| "promptgate-report.json".into()),
            ),
            html: present("PROMPTGATE_HTML").map(PathBuf::from),
            registry: present("PROMPTGATE_REGISTRY"),
            deployments: flag("PROMPTGATE_DEPLOYMENTS", "deployments", false)?,
            details_url,
            actor: present("GITHUB_ACTOR"),
        })
    }
}

/// The folder of a `config` input: any path inside the working directory to
/// a file named `promptgate.toml` (the name every revision is read by).
fn config_folder(config: &str) -> Result<Option<PathBuf>, ActionError> {
    use std::path::Component;
    let path = Path::new(config);
    let refuse = |message: String| ActionError::Input {
        input: "config",
        message,
    };
    if path.file_name() != Some(std::ffi::OsStr::new(crate::pipeline::config::CONFIG_FILE)) {
        return Err(refuse(format!(
            "`{config}`: the file must be named `promptgate.toml` (promptgate reads it by that name at the base and the head); point `config` at the promptgate.toml of the folder to gate, e.g. `services/chat/promptgate.toml`"
        )));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(refuse(format!(
            "`{config}`: give a path inside `working-directory` (no leading `/`, no `..`)"
        )));
    }
    Ok(path
        .parent()
        .filter(|dir| dir.components().any(|c| matches!(c, Component::Normal(_))))
        .map(Path::to_path_buf))
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Env(#[from] ActionsEnvError),
    #[error("the `{input}` input: {message}")]
    Input {
        input: &'static str,
        message: String,
    },
    #[error(transparent)]
    Check(Box<FlowError>),
    #[error(transparent)]
    Publish(Box<PublishError>),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("opening the {scheme} registry: {source}")]
    Registry {
        scheme: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(transparent)]
    Repo(#[from] crate::types::RepoError),
    #[error("appending to {what} ({path}): {source}")]
    Append {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<FlowError> for ActionError {
    fn from(error: FlowError) -> Self {
        Self::Check(Box::new(error))
    }
}

impl From<PublishError> for ActionError {
    fn from(error: PublishError) -> Self {
        Self::Publish(Box::new(error))
    }
}

/// How the step ends: exit 0, or exit 1 when the gate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    Passed,
    GateFailed,
}

/// One run of the action.
pub struct Action<'a> {
    pub root: &'a Path,
    pub env: &'a ActionsEnv,
    pub inputs: &'a ActionInputs,
    /// `None` without a token: then nothing is posted.
    pub github: Option<&'a dyn GitHubApi>,
    /// Reads provider keys (the process environment; a map in tests).
    pub secret_present: &'a (dyn Fn(&str) -> bool + Sync),
}

impl Action<'_> {
    pub async fn run(&self) -> Result<ActionOutcome, ActionError> {
        let event = self.env.read_event()?;
        match (&event.event, self.env.event_name.as_str()) {
            (Event::PullRequest(pr), _) => self.pull_request(pr).await,
            (Event::Push(push), _) => self.push(push).await,
            (_, "workflow_dispatch") => self.rerun(&event).await,
            (other, name) => {
                let why = match other {
                    Event::Ignored { reason, .. } => reason.clone(),
                    _ => "promptgate acts on pull_request, push and workflow_dispatch".into(),
                };
                self.append_summary(&format!(
                    "### promptgate\n\nNothing to do for the `{name}` event: {why}.\n"
                ))?;
                Ok(ActionOutcome::Passed)
            }
        }
    }

    async fn pull_request(&self, pr: &PullRequestEvent) -> Result<ActionOutcome, ActionError> {
        let request = CheckRequest {
            base: Some(self.inputs.base.clone().unwrap_or(pr.base_sha.0.clone())),
            // The checked-out commit (the merge commit GitHub prepares).
            head: Some("HEAD".into()),
            fail_on: self.inputs.fail_on,
            run: RunOptions {
                untrusted: pr.fork,
                ..RunOptions::default()
            },
            ..CheckRequest::default()
        };
        let mut preface = Vec::new();
        if pr.fork {
            preface.push(
                "> [!NOTE]\n> This pull request comes from a fork, so it runs untrusted: its token is \
                 read-only and secrets are absent. Providers, judges and the gate policy come from \
                 the base branch, command evaluators do not run, and promptgate posts no comment \
                 or check run — the annotations come from workflow commands."
                    .to_string(),
            );
            let missing = self.missing_credentials(&request);
            if !missing.is_empty() {
                let report = empty_report(format!(
                    "skipped: no credentials ({} not available to a fork's workflow)",
                    missing.join(", ")
                ));
                self.deliver(&report, CheckVerdict::Skipped, &preface)?;
                return Ok(ActionOutcome::Passed);
            }
        }
        // A fork's token may post nothing: do not try.
        let github = self.github.filter(|_| !pr.fork);
        let path_prefix = self.path_prefix();
        let target = PullRequestTarget {
            repo: &pr.repo,
            number: pr.number,
            head_sha: &pr.head_sha,
            details_url: self.inputs.details_url.as_deref(),
            path_prefix: &path_prefix,
        };
        let handle = match github {
            Some(gh) => Some(post::start_check(gh, &target, None).await?),
            None => None,
        };
        let checked = async {
            let sources = git_sources(self.root, &request)?;
            check_sources(sources, &request, &self.locations()).await
        };
        let run = match checked.await {
            Ok(run) => run,
            Err(error) => {
                if let (Some(gh), Some(handle)) = (github, &handle) {
                    post::post_could_not_run(gh, &target, handle, &error.to_string()).await;
                }
                return Err(error.into());
            }
        };
        let mut run = run;
        if let Some(gh) = github {
            let notes = self.suggest(gh, &target, &request, &run).await?;
            run.report.notes.extend(notes);
        }
        let verdict = CheckVerdict::of(&run.report, run.failed);
        if let Some(gh) = github {
            post::post_report(
                gh,
                &target,
                handle.as_ref(),
                &run.report,
                verdict,
                self.inputs.comment,
            )
            .await?;
        }
        self.deliver(&run.report, verdict, &preface)?;
        Ok(outcome_of(verdict))
    }

    /// After a failed gate, when the base branch's `[suggest]` enables it:
    /// verified fixes posted as one-click suggestions on the prompt files'
    /// lines. Returns the sticky comment's lines about them. A suggestion
    /// that cannot be made is a note, never a failed step.
    async fn suggest(
        &self,
        github: &dyn GitHubApi,
        target: &PullRequestTarget<'_>,
        request: &CheckRequest,
        run: &crate::flows::check::CheckRun,
    ) -> Result<Vec<String>, ActionError> {
        if !run.failed {
            return Ok(Vec::new());
        }
        let found = async {
            let sources = git_sources(self.root, request)?;
            crate::flows::suggest::suggest_in_pull_request(
                run,
                sources,
                &self.locations(),
                &request.run,
            )
            .await
        };
        let suggestions = match found.await {
            Ok(suggestions) => suggestions,
            Err(error) => return Ok(vec![format!("no suggestion: {error}")]),
        };
        let mut notes: Vec<String> = suggestions
            .iter()
            .map(crate::pipeline::suggest::render::headline)
            .collect();
        notes.extend(post::post_suggestions(github, target, &suggestions).await?);
        Ok(notes)
    }

    /// The provider keys the base branch's config needs for the head's
    /// prompts (and the judge) that this run does not have. GitHub Models
    /// through `GITHUB_TOKEN` counts when the token is there.
    fn missing_credentials(&self, request: &CheckRequest) -> Vec<String> {
        let load = |rev: &str| {
            GitRevision::new(self.root, rev)
                .ok()
                .and_then(|files| Workspace::load(Box::new(files)).ok())
        };
        let base_rev = request.base.as_deref().unwrap_or("HEAD");
        let (Some(base), Some(head)) = (load(base_rev), load("HEAD")) else {
            // The check itself reports what is wrong with the files.
            return Vec::new();
        };
        let models = head
            .prompts
            .iter()
            .map(|p| p.model.clone())
            .chain(base.config.judge_model());
        let mut missing: Vec<String> = models
            .filter_map(|model| key_variable(&base.config, &model))
            .filter(|var| !(self.secret_present)(var))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    async fn push(&self, push: &PushEvent) -> Result<ActionOutcome, ActionError> {
        if !push.is_to_default_branch() {
            self.append_summary(&format!(
                "### promptgate\n\nA push to `{}`, not the default branch: nothing to publish.\n",
                push.git_ref
            ))?;
            return Ok(ActionOutcome::Passed);
        }
        let Some(selectors) = self.changed_prompts(&push.before)? else {
            self.append_summary(
                "### promptgate\n\nThe push changed no prompt: nothing to publish.\n",
            )?;
            return Ok(ActionOutcome::Passed);
        };
        let workspace =
            Workspace::load(Box::new(WorkingTree::new(self.root)?)).map_err(FlowError::from)?;
        let registry = self.open_registry(&workspace.config).await?;
        let short = push.after.short();
        let meta = PublishMeta {
            author: self
                .inputs
                .actor
                .clone()
                .unwrap_or_else(|| "github-actions".into()),
            git_commit: Some(push.after.0.clone()),
            message: Some(format!("published on push of {short} to {}", push.git_ref)),
        };
        let published = publish_current(
            self.root,
            registry.as_ref(),
            &selectors,
            &RunOptions::default(),
            &meta,
        )
        .await?;
        let mut summary = format!(
            "### promptgate: published to {}\n\n| prompt | version | gate | latest |\n|---|---|---|---|\n",
            registry.describe()
        );
        for item in &published {
            summary.push_str(&format!(
                "| {} | v{}{} | {} | {} |\n",
                item.prompt,
                item.number,
                if item.created { "" } else { " (unchanged)" },
                item.gate.as_str().replace('_', " "),
                if item.latest_moved { "moved" } else { "—" }
            ));
            println!("{}", neutralise_commands(&item.describe()));
        }
        if self.inputs.deployments
            && let Some(github) = self.github
        {
            self.deploy(github, push, &published).await?;
            summary.push_str("\nA GitHub deployment to `latest` records the published versions.\n");
        }
        self.append_summary(&summary)?;
        self.set_outputs(&[
            ("verdict", "published".into()),
            ("published", published.len().to_string()),
        ])?;
        Ok(ActionOutcome::Passed)
    }

    /// The names of the prompts the push changed; `None` when none did. A
    /// new branch (`before` is all zeros) or an unknown `before` publishes
    /// every prompt.
    fn changed_prompts(&self, before: &CommitSha) -> Result<Option<Vec<String>>, ActionError> {
        let workspace =
            Workspace::load(Box::new(WorkingTree::new(self.root)?)).map_err(FlowError::from)?;
        let known = !before.0.bytes().all(|b| b == b'0')
            && crate::edges::git::resolve_commit(self.root, &before.0).is_ok();
        let names: Vec<String> = if known {
            let changed = crate::edges::git::changed_paths(self.root, &before.0, None)?;
            crate::pipeline::changes::affected(
                &changed,
                &crate::pipeline::changes::dependencies(&workspace),
            )
            .into_iter()
            .map(|a| a.name)
            .collect()
        } else {
            workspace.prompts.iter().map(|p| p.name.clone()).collect()
        };
        Ok((!names.is_empty()).then_some(names))
    }

    /// The checkout, and the registry this Action publishes to as the source
    /// of baselines the local store lacks.
    fn locations(&self) -> Locations {
        let registry = match &self.inputs.registry {
            Some(url) => RegistryAccess::Url(url.clone()),
            None => RegistryAccess::FromConfig {
                default: Some(DEFAULT_ACTION_REGISTRY.into()),
            },
        };
        Locations {
            registry,
            ..Locations::checkout(self.root)
        }
    }

    async fn open_registry(&self, config: &Config) -> Result<Box<dyn Registry>, ActionError> {
        let url = self
            .inputs
            .registry
            .clone()
            .or_else(|| config.registry.clone())
            .unwrap_or_else(|| DEFAULT_ACTION_REGISTRY.into());
        registry::open(&url, self.root)
            .await
            .map_err(|source| ActionError::Registry {
                // The URL may hold a password: name only its kind.
                scheme: url.split("://").next().unwrap_or("registry").to_string(),
                source: Box::new(source),
            })
    }

    /// One deployment to `latest` carrying the published versions, marked successful.
    async fn deploy(
        &self,
        github: &dyn GitHubApi,
        push: &PushEvent,
        published: &[PublishedPrompt],
    ) -> Result<(), ActionError> {
        let moved: Vec<&PublishedPrompt> = published.iter().filter(|p| p.latest_moved).collect();
        if moved.is_empty() {
            return Ok(());
        }
        let versions: serde_json::Map<String, serde_json::Value> = moved
            .iter()
            .map(|p| (p.prompt.clone(), serde_json::json!(p.number)))
            .collect();
        let description: Vec<String> = moved
            .iter()
            .map(|p| format!("{} v{}", p.prompt, p.number))
            .collect();
        let id = github
            .create_deployment(
                &push.repo,
                &NewDeployment {
                    git_ref: push.after.0.clone(),
                    environment: registry::LATEST.into(),
                    description: crate::edges::github::truncate_chars(&description.join(", "), 140),
                    payload: serde_json::json!({ "promptgate": { "versions": versions } }),
                },
            )
            .await?;
        github
            .create_deployment_status(
                &push.repo,
                id,
                DeploymentState::Success,
                &crate::edges::github::truncate_chars(&description.join(", "), 140),
                self.inputs.details_url.as_deref(),
            )
            .await?;
        Ok(())
    }

    async fn rerun(&self, event: &ActionsEvent) -> Result<ActionOutcome, ActionError> {
        let input = |name: &str| {
            event.inputs.get(name).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.trim().to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        };
        let model = input("model").filter(|m| !m.is_empty() && m != "all");
        let model = match (model, input("all").as_deref()) {
            (_, Some("true")) => None,
            (model, _) => model,
        };
        let workspace =
            Workspace::load(Box::new(WorkingTree::new(self.root)?)).map_err(FlowError::from)?;
        let request = CheckRequest {
            fail_on: self.inputs.fail_on,
            ..CheckRequest::default()
        };
        // The registry is consulted for baselines the local store lacks; a
        // registry that cannot be opened leaves those prompts without one
        // (the report's notes say so).
        let done =
            rerun_workspace(&workspace, &self.locations(), model.as_deref(), &request).await?;
        let notes = vec![format!(
            "Rerun of {} against the stored baselines, evaluated fresh (no cached responses).",
            model.map_or_else(
                || "every prompt".to_string(),
                |m| format!("the prompts on `{m}`")
            )
        )];
        let verdict = CheckVerdict::of(&done.report, done.failed);
        self.deliver(&done.report, verdict, &notes)?;
        Ok(outcome_of(verdict))
    }

    /// Reports that need no GitHub call: JUnit and JSON files, the step
    /// summary (after `preface`), the outputs and the workflow commands.
    fn deliver(
        &self,
        report: &CheckReport,
        verdict: CheckVerdict,
        preface: &[String],
    ) -> Result<(), ActionError> {
        let junit = self.root.join(&self.inputs.junit);
        crate::pipeline::report::write_file(
            &junit,
            &crate::pipeline::report::junit::render(report)?,
        )?;
        let json = self.root.join(&self.inputs.report_json);
        crate::pipeline::report::write_file_with(&json, |file| {
            crate::pipeline::report::json::write(report, file)
        })?;
        let html = match &self.inputs.html {
            Some(path) => {
                let html = self.root.join(path);
                crate::pipeline::report::write_file(
                    &html,
                    &crate::pipeline::report::html::render(report)?,
                )?;
                Some(html)
            }
            None => None,
        };
        let mut summary = String::new();
        for note in preface {
            summary.push_str(note);
            summary.push_str("\n\n");
        }
        summary.push_str(&markdown::render_step_summary(report)?);
        self.append_summary(&summary)?;
        let counts = report.summary();
        let mut outputs = vec![
            ("verdict", verdict.as_str().into()),
            ("regressions", counts.regressed.to_string()),
            ("improvements", counts.improved.to_string()),
            ("report-json", json.display().to_string()),
            ("junit-path", junit.display().to_string()),
        ];
        if let Some(html) = html {
            outputs.push(("html-path", html.display().to_string()));
        }
        self.set_outputs(&outputs)?;
        let annotations = crate::edges::github::annotations::in_folder(
            crate::edges::github::annotations::annotations(report),
            &self.path_prefix(),
        );
        for annotation in annotations {
            println!(
                "{}",
                crate::edges::github::annotations::workflow_command(&annotation)
            );
        }
        println!("promptgate: {}", neutralise_commands(&report.headline()));
        for note in &report.notes {
            println!("promptgate: {}", neutralise_commands(note));
        }
        Ok(())
    }

    /// Where the root sits in the repository (`services/chat/`, or empty):
    /// the report's paths are relative to the root, GitHub's to the repository.
    fn path_prefix(&self) -> String {
        crate::edges::git::run_git(self.root, ["rev-parse", "--show-prefix"])
            .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
            .unwrap_or_default()
    }

    fn append_summary(&self, markdown: &str) -> Result<(), ActionError> {
        match &self.env.step_summary_path {
            Some(path) => append(path, "the step summary", &format!("{markdown}\n")),
            None => Ok(()),
        }
    }

    fn set_outputs(&self, outputs: &[(&str, String)]) -> Result<(), ActionError> {
        let Some(path) = &self.env.output_path else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            // Values are numbers, words and paths: one line each.
            text.push_str(&format!("{name}={}\n", value.replace(['\n', '\r'], " ")));
        }
        append(path, "GITHUB_OUTPUT", &text)
    }
}

fn append(path: &Path, what: &'static str, text: &str) -> Result<(), ActionError> {
    let wrap = |source| ActionError::Append {
        what,
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(wrap)?;
    file.write_all(text.as_bytes()).map_err(wrap)
}

/// The variable holding the key a model's provider needs under `config`;
/// `None` when it needs none (echo, a local server) or cannot be routed.
fn key_variable(config: &Config, model: &crate::types::ModelId) -> Option<String> {
    let route = config.provider_for(model);
    if route.config.kind == crate::pipeline::config::ProviderKind::Echo {
        return None;
    }
    route
        .config
        .api_key_env
        .clone()
        .or_else(|| route.config.kind.default_api_key_env().map(str::to_owned))
}

/// A report with nothing evaluated, carrying why.
fn empty_report(note: String) -> CheckReport {
    CheckReport {
        mode: ReportMode::Check,
        prompts: Vec::new(),
        totals: RunTotals::default(),
        notes: vec![note],
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: crate::types::now_rfc3339(),
    }
}

/// The step fails only when the gate did.
fn outcome_of(verdict: CheckVerdict) -> ActionOutcome {
    match verdict {
        CheckVerdict::Fail => ActionOutcome::GateFailed,
        _ => ActionOutcome::Passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inputs(vars: &[(&str, &str)]) -> Result<ActionInputs, ActionError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ActionInputs::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn inputs_have_defaults_and_bad_values_name_the_input() {
        let defaults = inputs(&[("PROMPTGATE_CONFIG", "promptgate.toml")]).unwrap();
        assert!(defaults.comment && !defaults.deployments);
        assert_eq!(defaults.junit, PathBuf::from("promptgate-junit.xml"));
        assert_eq!(defaults.fail_on, None);
        let set = inputs(&[
            ("PROMPTGATE_FAIL_ON", "never"),
            ("PROMPTGATE_COMMENT", "false"),
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
        ])
        .unwrap();
        assert_eq!(set.fail_on, Some(FailOn::Never));
        assert!(!set.comment);
        assert_eq!(
            set.details_url.as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
        for (var, input) in [
            ("PROMPTGATE_FAIL_ON", "fail-on"),
            ("PROMPTGATE_COMMENT", "comment"),
            ("PROMPTGATE_CONFIG", "config"),
        ] {
            let err = inputs(&[(var, "sometimes/x.toml")]).unwrap_err();
            assert!(err.to_string().contains(&format!("`{input}`")), "{err}");
        }
    }

    #[test]
    fn the_config_input_names_the_folder_promptgate_works_in() {
        let dir = |config: &str| inputs(&[("PROMPTGATE_CONFIG", config)]).map(|i| i.config_dir);
        assert_eq!(dir("promptgate.toml").unwrap(), None);
        assert_eq!(dir("./promptgate.toml").unwrap(), None);
        assert_eq!(
            dir("services/chat/promptgate.toml").unwrap(),
            Some(PathBuf::from("services/chat"))
        );
        for bad in [
            "ci/gate.toml",
            "../other/promptgate.toml",
            "/etc/promptgate.toml",
        ] {
            let err = dir(bad).unwrap_err().to_string();
            assert!(err.contains("`config`") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn keys_come_from_the_routed_provider() {
        let config: Config = toml::from_str(
            "[providers.local]\nkind = \"echo\"\n[providers.corp]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1\"\napi_key_env = \"CORP_KEY\"\n",
        )
        .unwrap();
        let model = |id: &str| crate::types::ModelId::parse(id).unwrap();
        assert_eq!(key_variable(&config, &model("local/x")), None);
        assert_eq!(
            key_variable(&config, &model("corp/x")).as_deref(),
            Some("CORP_KEY")
        );
        assert_eq!(
            key_variable(&config, &model("openai/gpt-4o-mini")).as_deref(),
            Some("OPENAI_API_KEY")
        );
        let models = Config {
            github_models: true,
            ..Config::default()
        };
        assert_eq!(
            key_variable(&models, &model("openai/gpt-4o-mini")).as_deref(),
            Some("GITHUB_TOKEN")
        );
    }
}
