//! The Model Context Protocol front end: the tools an agent calls to run
//! the maintenance loop in one repository — list, read, diff, validate,
//! estimate, evaluate, check, suggest a verified fix, read the results,
//! and (only when writes are allowed) publish, promote and roll back.
//! Every tool calls the same flows as the CLI command of the same name; the
//! protocol itself is the official SDK's (`rmcp`).
//!
//! A failing tool answers with a tool error (`isError`) carrying the
//! message the CLI prints, `file:line:col` included; protocol errors are
//! kept for protocol faults (an unknown resource).

pub mod results;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rmcp::Json;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    ListResourcesResult, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, RequestMetaObject,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};
use tokio_util::sync::CancellationToken;

use crate::edges::git::WorkingTree;
use crate::edges::registry::VersionRef;
use crate::flows::evaluate::{
    Evaluations, Locations, RunOptions, evaluate_workspace, over_run_budget, select_by_name,
};
use crate::flows::registry::{actor, environments, open_registry};
use crate::flows::suggest::{
    PromptProgress, SuggestRequest, suggest_in_checkout, write_suggestion,
};
use crate::pipeline::report::CheckReport;
use crate::pipeline::runner::ProgressMode;
use crate::pipeline::spec::Workspace;
use crate::types::{RepoFiles, RepoPath};
use results::*;

/// How `promptgate mcp` serves a repository.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Offer `publish`, `promote` and `rollback`.
    pub allow_writes: bool,
    /// The registry to read and write (else the config's, else the default).
    pub registry: Option<String>,
}

/// The names of the tools that write to the registry.
const WRITE_TOOLS: [&str; 3] = ["publish", "promote", "rollback"];

const LAST_EVAL: &str = "promptgate://reports/last-eval";
const LAST_CHECK: &str = "promptgate://reports/last-check";
const PROMPT_FILE: &str = "promptgate://prompts/";

/// The MCP server of one repository.
#[derive(Clone)]
pub struct PromptgateMcp {
    repo: PathBuf,
    options: Options,
    last: Arc<Mutex<LastReports>>,
    tool_router: ToolRouter<Self>,
}

/// This session's last reports (the `results` tool and the report resources).
#[derive(Default)]
struct LastReports {
    eval: Option<CheckReport>,
    check: Option<(CheckReport, bool)>,
}

/// Serves MCP over stdin/stdout until the client closes it.
pub async fn serve_stdio(repo: &Path, options: Options) -> anyhow::Result<()> {
    let server = PromptgateMcp::new(repo, options);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting the MCP session: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP session ended abnormally: {e}"))?;
    Ok(())
}

/// A failed tool call: the error and its causes, one per line, as the CLI
/// shows them.
pub(crate) fn failure(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.contains(&line) {
            text.push_str(&format!("\n  caused by: {line}"));
        }
        cause = inner.source();
    }
    text
}

/// Runs `work` unless the client cancels the call first (dropping the run:
/// no further model calls are made).
async fn cancellable<T>(
    ct: &CancellationToken,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::select! {
        done = work => done,
        () = ct.cancelled() => Err("cancelled by the client; results finished before that are stored".into()),
    }
}

/// Sends a progress notification when the client asked for them.
pub(crate) async fn progress(
    peer: &Peer<RoleServer>,
    meta: &RequestMetaObject,
    done: usize,
    total: usize,
    message: String,
) {
    if let Some(token) = meta.get_progress_token() {
        let note = ProgressNotificationParam::new(token, done as f64)
            .with_total(total as f64)
            .with_message(message);
        // A client that went away gets no progress; the run goes on.
        let _ = peer.notify_progress(note).await;
    }
}

fn local_run() -> RunOptions {
    RunOptions {
        // stderr is the agent's log: no progress bars there.
        progress: ProgressMode::Hidden,
        ..RunOptions::default()
    }
}

#[tool_router]
impl PromptgateMcp {
    pub fn new(repo: &Path, options: Options) -> Self {
        let mut tool_router = Self::tool_router();
        if !options.allow_writes {
            for name in WRITE_TOOLS {
                tool_router.remove_route(name);
            }
        }
        Self {
            repo: repo.to_path_buf(),
            options,
            last: Arc::default(),
            tool_router,
        }
    }

    fn workspace(&self) -> Result<Workspace, String> {
        let files = WorkingTree::new(&self.repo).map_err(|e| failure(&e))?;
        Workspace::load(Box::new(files)).map_err(|e| e.to_string())
    }

    fn config(&self) -> Result<crate::pipeline::config::Config, String> {
        let files = WorkingTree::new(&self.repo).map_err(|e| failure(&e))?;
        crate::pipeline::config::load(&files).map_err(|e| e.to_string())
    }

    async fn registry(&self) -> Result<Box<dyn crate::edges::registry::Registry>, String> {
        let config = self.config()?;
        open_registry(&self.repo, self.options.registry.as_deref(), None, &config)
            .await
            .map_err(|e| failure(&e))
    }

    /// Every prompt: name, path, model, version id, number of cases, evaluators.
    #[tool(
        description = "List every prompt of the repository: name, path, model, version id, number of cases and evaluators. Fails, naming file:line, when a prompt file or the config cannot be read."
    )]
    async fn list_prompts(&self) -> Result<Json<PromptList>, String> {
        let files = WorkingTree::new(&self.repo).map_err(|e| failure(&e))?;
        let (prompts, errors) = crate::flows::listing::list_prompts(&files);
        if !errors.is_empty() {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(lines.join("\n\n"));
        }
        Ok(Json(PromptList { prompts }))
    }

    #[tool(
        description = "Read a prompt: its file in the working tree, or with `version` a published version (`v3`) or label (`production`) from the registry."
    )]
    async fn read_prompt(
        &self,
        params: Parameters<ReadPrompt>,
    ) -> Result<Json<PromptText>, String> {
        let ReadPrompt { prompt, version } = params.0;
        let Some(version) = version else {
            let workspace = self.workspace()?;
            let spec = select_by_name(&workspace, std::slice::from_ref(&prompt))
                .map_err(|e| failure(&e))?
                .remove(0);
            let text = workspace
                .files
                .read(&spec.path)
                .map_err(|e| failure(&e))?
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            return Ok(Json(PromptText {
                name: spec.name,
                source: spec.path.to_string(),
                text,
                published: None,
            }));
        };
        let registry = self.registry().await?;
        let found = match VersionRef::parse(&version) {
            VersionRef::Number(n) => registry
                .version(&prompt, &VersionRef::Number(n))
                .await
                .and_then(|v| {
                    v.ok_or_else(|| {
                        crate::edges::registry::not_found(&prompt, &VersionRef::Number(n))
                    })
                }),
            VersionRef::Id(_) => registry.resolve(&prompt, &version, None).await,
        }
        .map_err(|e| {
            format!(
                "reading {prompt}@{version} from the registry {}: {}",
                registry.describe(),
                failure(&e)
            )
        })?;
        Ok(Json(PromptText {
            name: prompt,
            source: format!(
                "{}@v{} (registry {})",
                found.prompt,
                found.number,
                registry.describe()
            ),
            text: None,
            published: Some(as_object(&found)?),
        }))
    }

    #[tool(
        description = "What changed in one prompt between two versions (git revisions, the working tree, or published versions `@v7` / `@production`), as a word-level markdown diff with includes resolved."
    )]
    async fn diff_prompt(&self, params: Parameters<DiffPrompt>) -> Result<Json<DiffText>, String> {
        let args = params.0;
        let request = crate::flows::diff::DiffRequest {
            prompt: &args.prompt,
            from: args.from.as_deref(),
            to: args.to.as_deref(),
            registry: self.options.registry.as_deref(),
            repository: None,
        };
        let compared = crate::flows::diff::diff_prompt(&self.repo, &request)
            .await
            .map_err(|e| failure(&e))?;
        Ok(Json(DiffText {
            name: compared.name,
            from: compared.old.place,
            to: compared.new.place,
            note: compared.only_one_side,
            markdown: compared.diff.render_markdown(),
        }))
    }

    #[tool(
        description = "Check every prompt file, its cases and the config without calling any model. Fails with every error as `file:line:col: error: …`, as `promptgate validate` prints them."
    )]
    async fn validate(&self, params: Parameters<Validate>) -> Result<Json<Validated>, String> {
        let files = WorkingTree::new(&self.repo).map_err(|e| failure(&e))?;
        let only = params
            .0
            .paths
            .iter()
            .map(|path| {
                RepoPath::relative(path.trim_start_matches("./"))
                    .map(|p| PathBuf::from(p.0))
                    .map_err(|e| format!("{path}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validation = crate::flows::validate::validate(&files, &only);
        let validated = Validated::of(validation).map_err(|mut errors| {
            let count = errors.len();
            errors.push(format!(
                "{count} error{}; fix them and validate again",
                if count == 1 { "" } else { "s" }
            ));
            errors.join("\n\n")
        })?;
        Ok(Json(validated))
    }

    #[tool(
        description = "The number of model calls evaluating the prompts would make and an upper bound of their cost, cached calls free; nothing is called or spent."
    )]
    async fn estimate(&self, params: Parameters<Selection>) -> Result<Json<Estimated>, String> {
        let estimate = crate::flows::evaluate::estimate_current(&self.repo, &params.0.prompts)
            .map_err(|e| failure(&e))?;
        Ok(Json(Estimated {
            calls: estimate.calls,
            cached: estimate.cached,
            input_tokens: estimate.input_tokens,
            output_tokens: estimate.output_tokens,
            max_cost_usd: estimate.max_cost_usd,
            unpriced_models: estimate.unpriced_models,
            judge_calls_included: false,
        }))
    }

    #[tool(
        description = "Evaluate prompts as they are (all, or those named) and return their scores, reusing stored results of identical evaluations. Refused when it would exceed `[budget]`. Sends a progress notification per prompt; cancelling stops the run."
    )]
    async fn evaluate(
        &self,
        params: Parameters<Selection>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<Reported>, String> {
        let workspace = self.workspace()?;
        let chosen = select_by_name(&workspace, &params.0.prompts).map_err(|e| failure(&e))?;
        if let Some(refusal) = over_run_budget(&workspace, &chosen) {
            return Err(refusal);
        }
        let started = std::time::Instant::now();
        let locations = Locations::checkout(&self.repo);
        let options = local_run();
        let total = chosen.len();
        let run = async {
            let mut all = Evaluations {
                evaluated: Vec::new(),
                judge_calls: Default::default(),
                skipped: Vec::new(),
            };
            // One prompt at a time: each finished prompt is one progress step.
            for (done, prompt) in chosen.iter().enumerate() {
                progress(
                    &peer,
                    &meta,
                    done,
                    total,
                    format!("evaluating {}", prompt.name),
                )
                .await;
                let one = evaluate_workspace(
                    &workspace,
                    std::slice::from_ref(&prompt.path.0),
                    &options,
                    &locations,
                )
                .await
                .map_err(|e| failure(&e))?;
                all.judge_calls.add(&one.judge_calls);
                all.evaluated.extend(one.evaluated);
                all.skipped.extend(one.skipped);
            }
            progress(&peer, &meta, total, total, "done".into()).await;
            Ok(all)
        };
        let evaluations = cancellable(&ct, run).await?;
        let report = evaluations.into_report(started.elapsed().as_millis() as u64);
        let reported = Reported::new(&report, None)?;
        self.lock().eval = Some(report);
        Ok(Json(reported))
    }

    #[tool(
        description = "The pull-request gate, locally: evaluate the prompts the working tree changes against a base revision (default: the merge base with the default branch), compare with their baselines, and return the verdict per criterion. `gate_failed` is true on a regression. Budgets apply; cancelling stops the run."
    )]
    async fn check(
        &self,
        params: Parameters<Check>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<Reported>, String> {
        let args = params.0;
        let request = crate::flows::check::CheckRequest {
            base: args.base,
            all: args.all,
            prompts: args.prompts,
            run: local_run(),
            ..Default::default()
        };
        progress(&peer, &meta, 0, 1, "checking".into()).await;
        let run = async {
            crate::flows::check::run_check(&self.repo, &request)
                .await
                .map_err(|e| failure(&e))
        };
        let run = cancellable(&ct, run).await?;
        progress(&peer, &meta, 1, 1, "done".into()).await;
        let reported = Reported::new(&run.report, Some(run.failed))?;
        self.lock().check = Some((run.report, run.failed));
        Ok(Json(reported))
    }

    #[tool(
        description = "Suggest a verified fix for each prompt whose gate fails (or the prompts named): runs the check against `base`, splits the cases into a part the `[suggest]` model is shown and a held-out part, asks it for candidate edits, evaluates every candidate on all cases and keeps the best one that improves the target criterion on the held-out cases without any criterion regressing. Returns each candidate's fate, the verified edit's measured deltas, its word diff and the exact file edits; `apply: true` writes it as `promptgate suggest --write` does. Budgets apply; a progress notification per prompt; cancelling stops the run."
    )]
    async fn suggest(
        &self,
        params: Parameters<Suggest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<Suggested>, String> {
        let args = params.0;
        let most = crate::pipeline::config::SuggestSettings::MAX_CANDIDATES;
        if let Some(count) = args.candidates.filter(|c| !(1..=most).contains(c)) {
            return Err(format!("`candidates` must be 1 to {most}, not {count}"));
        }
        let check = crate::flows::check::CheckRequest {
            base: args.base,
            run: local_run(),
            ..Default::default()
        };
        // Each prompt's start is told through a channel: the flow calls
        // back synchronously, the notification is sent here.
        let (told, mut steps) = tokio::sync::mpsc::unbounded_channel();
        let request = SuggestRequest {
            prompts: args.prompts.into_iter().chain(args.prompt).collect(),
            criterion: args.criterion,
            candidates: args.candidates,
            progress: Some(PromptProgress(Arc::new(
                move |done: usize, total: usize, name: &str| {
                    let _ = told.send((done, total, format!("suggesting a fix for {name}")));
                },
            ))),
        };
        progress(&peer, &meta, 0, 1, "checking".into()).await;
        // The request (and so the sender) goes with the run: the steps end
        // when it does.
        let run = async move {
            suggest_in_checkout(&self.repo, &check, &request)
                .await
                .map_err(|e| failure(&e))
        };
        // Steps: the check, then one per prompt.
        let tell = async {
            let mut prompts = 0;
            while let Some((done, of, message)) = steps.recv().await {
                prompts = of;
                progress(&peer, &meta, done + 1, of + 1, message).await;
            }
            prompts
        };
        let (ran, prompts) = tokio::join!(cancellable(&ct, run), tell);
        let (checked, suggestions) = ran?;
        progress(&peer, &meta, prompts + 1, prompts + 1, "done".into()).await;
        let mut applied = Vec::new();
        if args.apply {
            for suggestion in &suggestions {
                let written = write_suggestion(&self.repo, suggestion).map_err(|e| failure(&e))?;
                applied.extend(written.iter().map(ToString::to_string));
            }
        }
        Ok(Json(Suggested {
            gate_failed: checked.failed,
            note: suggestions
                .is_empty()
                .then(|| crate::pipeline::suggest::render::NOTHING_FAILED.to_owned()),
            suggestions: suggestions.iter().map(SuggestionOf::of).collect(),
            applied,
        }))
    }

    #[tool(
        description = "Read results without running anything: `of: eval` gives the scores of the prompts as they are now (this session's last evaluation, else the stored results; prompts never evaluated are listed in `not_evaluated`); `of: check` gives the verdicts of this session's last check."
    )]
    async fn results(&self, params: Parameters<Results>) -> Result<Json<Reported>, String> {
        let Results { of, prompts } = params.0;
        if of == ResultsOf::Check {
            let last = self.lock();
            let Some((report, failed)) = &last.check else {
                return Err("no check has run in this session; call `check` first".into());
            };
            return Ok(Json(Reported::new(report, Some(*failed))?));
        }
        let (evaluations, missing) = crate::flows::evaluate::stored_current(&self.repo, &prompts)
            .map_err(|e| failure(&e))?;
        let report = evaluations.into_report(0);
        let mut reported = Reported::new(&report, None)?;
        reported.not_evaluated = missing;
        Ok(Json(reported))
    }

    #[tool(
        description = "Publish the current versions (all, or those named) to the registry: each is evaluated or its stored result reused, gated against the version `latest` names, and recorded as a baseline. Offered only with `--allow-writes`."
    )]
    async fn publish(&self, params: Parameters<Selection>) -> Result<Json<Published>, String> {
        let registry = self.registry().await?;
        let meta = crate::flows::publish::PublishMeta {
            author: actor(&self.repo),
            git_commit: crate::edges::git::resolve_commit(&self.repo, "HEAD").ok(),
            message: None,
        };
        let published = crate::flows::publish::publish_current(
            &self.repo,
            registry.as_ref(),
            &params.0.prompts,
            &local_run(),
            &meta,
        )
        .await
        .map_err(|e| failure(&e))?;
        Ok(Json(Published {
            published: published.iter().map(|p| p.describe()).collect(),
        }))
    }

    #[tool(
        description = "Move an environment label (e.g. `production`) to a published version, following the promotion policy. Offered only with `--allow-writes`."
    )]
    async fn promote(&self, params: Parameters<Promote>) -> Result<Json<Moved>, String> {
        let args = params.0;
        let config = self.config()?;
        let registry = self.registry().await?;
        let request = crate::edges::registry::Promote {
            prompt: args.prompt,
            version: VersionRef::parse(&args.version),
            to: args.to,
            actor: actor(&self.repo),
            reason: args.reason,
            force: args.force,
        };
        let moved = registry
            .promote(request, &environments(&config), &config.promotion)
            .await
            .map_err(|e| failure(&e))?;
        Ok(Json(Moved::of(&moved)))
    }

    #[tool(
        description = "Move a label back to its previous version. Offered only with `--allow-writes`."
    )]
    async fn rollback(&self, params: Parameters<Rollback>) -> Result<Json<Moved>, String> {
        let args = params.0;
        let registry = self.registry().await?;
        let moved = registry
            .rollback(&args.prompt, &args.label, &actor(&self.repo), args.reason)
            .await
            .map_err(|e| failure(&e))?;
        Ok(Json(Moved::of(&moved)))
    }
}

impl PromptgateMcp {
    fn lock(&self) -> std::sync::MutexGuard<'_, LastReports> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The prompt files and this session's reports.
    fn resources(&self) -> Vec<Resource> {
        let files = WorkingTree::new(&self.repo).ok();
        let listed = files
            .as_ref()
            .map(|f| crate::flows::listing::list_prompts(f).0)
            .unwrap_or_default();
        let mut out: Vec<Resource> = listed
            .into_iter()
            .map(|p| {
                Resource::new(format!("{PROMPT_FILE}{}", p.path), p.name)
                    .with_description(format!("the prompt file {}", p.path))
                    .with_mime_type("application/yaml")
            })
            .collect();
        let last = self.lock();
        if last.eval.is_some() {
            out.push(
                Resource::new(LAST_EVAL, "last evaluation report")
                    .with_mime_type("application/json"),
            );
        }
        if last.check.is_some() {
            out.push(
                Resource::new(LAST_CHECK, "last check report").with_mime_type("application/json"),
            );
        }
        out
    }

    fn read(&self, uri: &str) -> Option<(String, &'static str)> {
        if let Some(path) = uri.strip_prefix(PROMPT_FILE) {
            // Only files the config lists as prompts: the resource is no
            // window onto the rest of the disk.
            let files = WorkingTree::new(&self.repo).ok()?;
            let (listed, _) = crate::flows::listing::list_prompts(&files);
            let listed = listed.into_iter().find(|p| p.path == path)?;
            let bytes = files.read(&RepoPath(listed.path)).ok()??;
            return Some((
                String::from_utf8_lossy(&bytes).into_owned(),
                "application/yaml",
            ));
        }
        let last = self.lock();
        let report = match uri {
            LAST_EVAL => last.eval.as_ref()?,
            LAST_CHECK => &last.check.as_ref()?.0,
            _ => return None,
        };
        let json = crate::pipeline::report::json::render(report).ok()?;
        Some((json, "application/json"))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PromptgateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(rmcp::model::Implementation::new(
            "promptgate",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "promptgate gates prompt changes in this repository. Typical loop: list_prompts, \
             evaluate, results, edit a .prompt.yml file, validate, check (gate_failed says \
             whether the change regresses). When the gate fails, suggest asks the configured \
             `[suggest]` model for edits and returns only one verified on cases it never saw; \
             suggest with apply: true writes it, then validate and check again.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(self.resources()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some((text, mime)) = self.read(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ));
        };
        let contents = ResourceContents::TextResourceContents {
            uri: request.uri,
            mime_type: Some(mime.into()),
            text,
            meta: None,
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
