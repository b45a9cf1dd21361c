//! MCP over Streamable HTTP at `/mcp`: the tools an agent uses on this
//! server's registry, in the repositories its API key reaches — list the
//! prompts, read a version or label, diff two versions, read the result and
//! verdict published with a version, read the history, and (with a
//! `publish` key) promote and roll back. The protocol is the official SDK's
//! (`rmcp`): its tower service runs inside the axum router, behind the same
//! `Authorization: Bearer` keys as the `/v1` routes.
//!
//! A request without a valid key is answered 401 before the SDK reads it.
//! Every tool call then checks the key against the repository it names, in
//! the order the `/v1` routes do: out of reach answers exactly as a prompt
//! with nothing published, then a scope too small is a tool error naming
//! the scope needed. Failures are tool errors (`isError`) in the words the
//! CLI uses, never protocol errors.
//!
//! Evaluating and checking are not offered here: the server has no working
//! tree to run them in (`promptgate mcp` offers them over stdio).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::Json;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::ServerState;
use super::auth::{ApiKeyInfo, ApiKeys, AuthFailure, Scope};
use super::prompts::{PromptSource, error};
use super::registry_api::{DEFAULT_ENVIRONMENTS, at_least, named_version};
use crate::edges::registry::wire::WireError;
use crate::edges::registry::{
    LATEST, Namespace, Promote, Registry, RegistryError, ResultSummary, Version, VersionRef,
};
use crate::mcp::results::{self, DiffText, Moved, PromptText, as_object};
use crate::pipeline::config::PromotionPolicy;
use crate::pipeline::textdiff;

/// Where the MCP endpoint is routed.
pub const PATH: &str = "/mcp";

/// The `/mcp` route: the SDK's service behind the key check. `stop` ends
/// the requests in flight when the server shuts down.
pub(super) fn routes(state: &ServerState, stop: CancellationToken) -> Router<ServerState> {
    let tools = RegistryTools::new(state);
    let config = StreamableHttpServerConfig::default()
        // No sessions: every request stands alone, so replicas behind a load
        // balancer need not share any state, and no tool streams progress.
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The Host check guards keyless local servers against DNS
        // rebinding; here every request needs a key, which a rebinding page
        // does not have, and the server answers under any public name.
        .disable_allowed_hosts()
        .with_cancellation_token(stop);
    let service = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(PATH, service)
        .layer(axum::middleware::from_fn_with_state(
            state.api_keys.clone(),
            require_key,
        ))
}

/// 401 (with `WWW-Authenticate: Bearer`) unless the request carries an
/// active key: nothing of the MCP session starts without one.
async fn require_key(State(keys): State<ApiKeys>, request: Request, next: Next) -> Response {
    match keys.require(request.headers(), Scope::Read).await {
        Ok(_) => next.run(request).await,
        Err(refused) => {
            let mut response = error(refused.status(), refused.message());
            if refused == AuthFailure::Unauthenticated {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

/// The MCP server of the registry, one per request (cheap to clone).
#[derive(Clone)]
pub struct RegistryTools {
    registry: Option<Arc<dyn Registry>>,
    /// What `/v1/…/prompts` serves: told when a label moves here.
    prompts: Arc<dyn PromptSource>,
    keys: ApiKeys,
    floor: PromotionPolicy,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InRepository {
    /// The repository, as `owner/repo`.
    pub repository: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct OnePrompt {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AtVersion {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
    /// A version number (`v3`, `3`), a label (`production`) or a version
    /// id; default `latest`, the newest published.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Between {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
    /// The old version: number, label or version id.
    pub from: String,
    /// The new version, in the same forms; default `latest`.
    #[serde(default)]
    pub to: Option<String>,
}

/// The stdio server's promote, in a repository (`force` needs an `admin` key).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromoteIn {
    /// The repository, as `owner/repo`.
    pub repository: String,
    #[serde(flatten)]
    pub promote: results::Promote,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RollbackIn {
    /// The repository, as `owner/repo`.
    pub repository: String,
    #[serde(flatten)]
    pub rollback: results::Rollback,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedPrompts {
    pub repository: String,
    pub prompts: Vec<PublishedPrompt>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedPrompt {
    pub name: String,
    /// How many versions are published.
    pub versions: usize,
    pub latest_version: Option<u32>,
    /// Each label and the version(s) it serves (`v3`, or an A/B split).
    pub labels: BTreeMap<String, String>,
}

/// The result published with a version and its gate verdict.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedResult {
    pub prompt: String,
    pub version: u32,
    /// `passed`, `failed`, or `not_run` (a first version, or recorded by hand).
    pub gate: String,
    pub cases: usize,
    /// The weighted mean score (0–1) over cases and criteria; absent without cases.
    pub score: Option<f64>,
    /// Who made it the version's baseline, and when (RFC 3339).
    pub set_by: String,
    pub set_at: String,
    /// The evaluation result: per criterion and per case.
    pub result: serde_json::Map<String, serde_json::Value>,
}

/// As `promptgate history --json` prints it: newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct History {
    pub prompt: String,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub versions: Vec<serde_json::Map<String, serde_json::Value>>,
    pub moves: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// What a tool was given access to: the repository's registry view and the key.
struct Granted {
    registry: Arc<dyn Registry>,
    namespace: Namespace,
    key: ApiKeyInfo,
}

/// A registry error as the tool's error: the caller's fault in the words the
/// CLI uses; the registry failing is logged, not shown.
fn registry_failure(failure: RegistryError) -> String {
    let callers_fault = WireError::of(&failure).is_some()
        || matches!(
            failure,
            RegistryError::InvalidName { .. } | RegistryError::InvalidNamespace(_)
        );
    if callers_fault {
        return failure.to_string();
    }
    tracing::error!(error = %failure, "the registry failed (MCP)");
    "the prompt registry is unavailable".to_string()
}

/// What a repository out of reach and a prompt never published both answer.
fn nothing_published(prompt: &str, repository: &str) -> String {
    format!("{prompt}: nothing published in {repository} yet")
}

#[tool_router]
impl RegistryTools {
    pub fn new(state: &ServerState) -> Self {
        RegistryTools {
            registry: state.registry.clone(),
            prompts: state.prompts.clone(),
            keys: state.api_keys.clone(),
            floor: state.promotion_floor.clone(),
            tool_router: Self::tool_router(),
        }
    }

    /// The request's key, checked against `repository`: out of reach is
    /// `missing` (before the scope, so a key learns nothing of repositories
    /// it cannot see), then the scope `tool` needs.
    async fn grant(
        &self,
        parts: &Parts,
        repository: &str,
        need: Scope,
        tool: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<Granted, String> {
        let namespace = Namespace::parse(repository).map_err(|e| e.to_string())?;
        let key = match self.keys.require_in(&parts.headers, need, &namespace).await {
            Ok(key) => key,
            Err(AuthFailure::OutOfReach) => return Err(missing()),
            Err(AuthFailure::Forbidden { have, need }) => {
                return Err(format!(
                    "this API key has scope `{have}`; `{tool}` needs `{need}`"
                ));
            }
            Err(refused) => return Err(refused.message()),
        };
        let Some(registry) = &self.registry else {
            return Err("this server has no registry".into());
        };
        Ok(Granted {
            registry: registry.scoped(&namespace),
            namespace,
            key,
        })
    }

    /// [`Self::grant`] for one prompt, which must have a published version:
    /// a prompt never published answers as a repository out of reach.
    async fn grant_prompt(
        &self,
        parts: &Parts,
        repository: &str,
        prompt: &str,
        need: Scope,
        tool: &str,
    ) -> Result<Granted, String> {
        let missing = || nothing_published(prompt, repository);
        let granted = self.grant(parts, repository, need, tool, missing).await?;
        let versions = granted
            .registry
            .versions(prompt)
            .await
            .map_err(registry_failure)?;
        if versions.is_empty() {
            return Err(missing());
        }
        Ok(granted)
    }

    /// The version `at` names, in a repository the key may read.
    async fn read_version(
        &self,
        parts: &Parts,
        at: AtVersion,
        tool: &str,
    ) -> Result<(Granted, Version), String> {
        let granted = self
            .grant_prompt(parts, &at.repository, &at.prompt, Scope::Read, tool)
            .await?;
        let version = at.version.unwrap_or_else(|| LATEST.to_string());
        let found = named_version(granted.registry.as_ref(), &at.prompt, &version)
            .await
            .map_err(registry_failure)?;
        Ok((granted, found))
    }

    #[tool(
        description = "List the prompts published in a repository of this server: each with its number of versions, newest version and labels. Needs an API key that reaches the repository."
    )]
    async fn list_prompts(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<InRepository>,
    ) -> Result<Json<PublishedPrompts>, String> {
        let repository = params.0.repository;
        let missing = || format!("nothing published in {repository} yet");
        let at = self
            .grant(&parts, &repository, Scope::Read, "list_prompts", missing)
            .await?;
        let names = at.registry.prompts().await.map_err(registry_failure)?;
        if names.is_empty() {
            return Err(missing());
        }
        let mut prompts = Vec::new();
        for name in names {
            let versions = at
                .registry
                .versions(&name)
                .await
                .map_err(registry_failure)?;
            let labels = at.registry.labels(&name).await.map_err(registry_failure)?;
            prompts.push(PublishedPrompt {
                versions: versions.len(),
                latest_version: versions.last().map(|v| v.number),
                labels: labels
                    .into_iter()
                    .map(|(label, target)| (label, target.to_string()))
                    .collect(),
                name,
            });
        }
        Ok(Json(PublishedPrompts {
            repository: at.namespace.to_string(),
            prompts,
        }))
    }

    #[tool(
        description = "Read a published version of a prompt: by number (`v3`), label (`production`) or version id; default `latest`. Returns its content, author, commit and message."
    )]
    async fn read_prompt(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<AtVersion>,
    ) -> Result<Json<PromptText>, String> {
        let (at, found) = self.read_version(&parts, params.0, "read_prompt").await?;
        Ok(Json(PromptText {
            source: format!("{}@v{} ({})", found.prompt, found.number, at.namespace),
            name: found.prompt.clone(),
            text: None,
            published: Some(as_object(&found)?),
        }))
    }

    #[tool(
        description = "What changed in a prompt between two published versions (numbers, labels or version ids), as a word-level markdown diff."
    )]
    async fn diff_prompt(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<Between>,
    ) -> Result<Json<DiffText>, String> {
        let Between {
            repository,
            prompt,
            from,
            to,
        } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &prompt, Scope::Read, "diff_prompt")
            .await?;
        let to = to.unwrap_or_else(|| LATEST.to_string());
        let old = named_version(at.registry.as_ref(), &prompt, &from)
            .await
            .map_err(registry_failure)?;
        let new = named_version(at.registry.as_ref(), &prompt, &to)
            .await
            .map_err(registry_failure)?;
        let diff = textdiff::diff_contents(Some(&old.content), Some(&new.content));
        Ok(Json(DiffText {
            name: prompt,
            from: format!("v{} ({from})", old.number),
            to: format!("v{} ({to})", new.number),
            note: None,
            markdown: diff.render_markdown(),
        }))
    }

    #[tool(
        description = "The evaluation result published with a version (number, label or version id; default `latest`) and its gate verdict: passed, failed or not_run, with the case count, overall score and per-criterion, per-case scores."
    )]
    async fn results(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<AtVersion>,
    ) -> Result<Json<PublishedResult>, String> {
        let (at, found) = self.read_version(&parts, params.0, "results").await?;
        let prompt = found.prompt;
        let baseline = at
            .registry
            .baseline(&prompt, found.number)
            .await
            .map_err(registry_failure)?
            .ok_or_else(|| {
                format!(
                    "{prompt} v{}: no result was published with this version",
                    found.number
                )
            })?;
        let summary = ResultSummary::of(&baseline.result);
        Ok(Json(PublishedResult {
            prompt,
            version: found.number,
            gate: baseline.gate.as_str().to_string(),
            cases: summary.cases,
            score: summary.score,
            set_by: baseline.set_by,
            set_at: baseline.set_at,
            result: as_object(&baseline.result)?,
        }))
    }

    #[tool(
        description = "A prompt's published versions and every move of its labels, newest first, as `promptgate history --json` gives them."
    )]
    async fn history(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<OnePrompt>,
    ) -> Result<Json<History>, String> {
        let OnePrompt { repository, prompt } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &prompt, Scope::Read, "history")
            .await?;
        let versions = at
            .registry
            .versions(&prompt)
            .await
            .map_err(registry_failure)?;
        let moves = at
            .registry
            .label_history(&prompt)
            .await
            .map_err(registry_failure)?;
        let labels = at
            .registry
            .labels(&prompt)
            .await
            .map_err(registry_failure)?;
        Ok(Json(History {
            labels: as_object(&labels)?,
            versions: versions
                .iter()
                .rev()
                .map(as_object)
                .collect::<Result<_, _>>()?,
            moves: moves
                .iter()
                .rev()
                .map(as_object)
                .collect::<Result<_, _>>()?,
            prompt,
        }))
    }

    #[tool(
        description = "Move an environment label (`staging`, then `production`) to a published version under the promotion policy (the gate must have passed for the version's result, and the server's promotion floor applies); refused with every rule that refused it. Needs a `publish` key; `force` (with a `reason`) needs an `admin` key."
    )]
    async fn promote(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<PromoteIn>,
    ) -> Result<Json<Moved>, String> {
        let PromoteIn {
            repository,
            promote: args,
        } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &args.prompt, Scope::Publish, "promote")
            .await?;
        if args.force {
            if args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(RegistryError::ForceWithoutReason.to_string());
            }
            if !at.key.scope.allows(Scope::Admin) {
                return Err(format!(
                    "a forced promotion needs an API key with scope `admin`; this one has `{}`",
                    at.key.scope
                ));
            }
        }
        let environments: Vec<String> = DEFAULT_ENVIRONMENTS.map(String::from).to_vec();
        // No repository config reaches the server over MCP: the default
        // policy, never weaker than the server's floor.
        let policy = at_least(&self.floor, None);
        let moved = at
            .registry
            .promote(
                Promote {
                    prompt: args.prompt,
                    version: VersionRef::parse(&args.version),
                    to: args.to,
                    actor: actor(&at.key),
                    reason: args.reason,
                    force: args.force,
                },
                &environments,
                &policy,
            )
            .await
            .map_err(registry_failure)?;
        // Served from the next request on (see `registry_api::moved`).
        self.prompts.forget(&at.namespace, &moved.prompt);
        Ok(Json(Moved::of(&moved)))
    }

    #[tool(
        description = "Move a label back to the version it pointed to before its last move. Needs a `publish` key."
    )]
    async fn rollback(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<RollbackIn>,
    ) -> Result<Json<Moved>, String> {
        let RollbackIn {
            repository,
            rollback: args,
        } = params.0;
        let at = self
            .grant_prompt(
                &parts,
                &repository,
                &args.prompt,
                Scope::Publish,
                "rollback",
            )
            .await?;
        let moved = at
            .registry
            .rollback(&args.prompt, &args.label, &actor(&at.key), args.reason)
            .await
            .map_err(registry_failure)?;
        // Served from the next request on (see `registry_api::moved`).
        self.prompts.forget(&at.namespace, &moved.prompt);
        Ok(Json(Moved::of(&moved)))
    }
}

/// Who a move over MCP is recorded as: the key's name (never the key).
fn actor(key: &ApiKeyInfo) -> String {
    format!("API key `{}` (MCP)", key.name)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for RegistryTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(rmcp::model::Implementation::new(
                "promptgate-serve",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "promptgate's registry of published prompt versions. Every tool names a \
                 repository (`owner/repo`) your API key reaches. Typical use: list_prompts, \
                 read_prompt, diff_prompt between two versions, results of a version (its \
                 gate verdict), history, then promote (staging before production) or \
                 rollback with a publish key.",
            )
    }
}
