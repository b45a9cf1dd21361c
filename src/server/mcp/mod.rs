//! MCP over Streamable HTTP at `/mcp`: the tools an agent uses on this
//! server, in the repositories its API key reaches. On the registry
//! ([`registry`]): list the prompts, read a version or label, diff two
//! versions, read the result and verdict published with a version, read the
//! history, and (with a `publish` key) promote and roll back. On a
//! repository's commits, read through the App's installation as the gate
//! jobs read them ([`commits`]): validate, estimate, evaluate, check (the
//! App's gate, posting nothing) and suggest a verified edit. The protocol
//! is the official SDK's (`rmcp`): its tower service runs inside the axum
//! router, behind the same `Authorization: Bearer` keys as the `/v1` routes.
//!
//! A request without a valid key is answered 401 before the SDK reads it.
//! Every tool call then checks the key against the repository it names, in
//! the order the `/v1` routes do: out of reach answers exactly as a
//! repository with nothing (published, or installed), then a scope too
//! small is a tool error naming the scope needed. Failures are tool errors
//! (`isError`) in the words the CLI uses, never protocol errors.

mod commits;
mod registry;
mod runs;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool_handler};
use tokio_util::sync::CancellationToken;

use super::ServerState;
use super::auth::{ApiKeyInfo, ApiKeys, AuthFailure, Scope};
use super::handlers::GitHubWork;
use super::prompts::{PromptSource, error};
use crate::edges::registry::wire::WireError;
use crate::edges::registry::{Namespace, Registry, RegistryError};
use crate::pipeline::config::PromotionPolicy;

/// Where the MCP endpoint is routed.
pub const PATH: &str = "/mcp";

/// The `/mcp` route: the SDK's service behind the key check. `stop` ends
/// the requests in flight when the server shuts down.
pub(super) fn routes(state: &ServerState, stop: CancellationToken) -> Router<ServerState> {
    let tools = ServerTools::new(state);
    let config = StreamableHttpServerConfig::default()
        // No sessions: every request stands alone, so replicas behind a load
        // balancer need not share any state. A tool that sends progress
        // answers as an event stream instead of one JSON body.
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

/// The MCP server of `promptgate serve`, one per request (cheap to clone).
#[derive(Clone)]
pub struct ServerTools {
    registry: Option<Arc<dyn Registry>>,
    /// What `/v1/…/prompts` serves: told when a label moves here.
    prompts: Arc<dyn PromptSource>,
    keys: ApiKeys,
    floor: PromotionPolicy,
    /// The App's access to repositories; `None` without an App.
    github: Option<Arc<GitHubWork>>,
    tool_router: ToolRouter<Self>,
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

impl ServerTools {
    pub fn new(state: &ServerState) -> Self {
        ServerTools {
            registry: state.registry.clone(),
            prompts: state.prompts.clone(),
            keys: state.api_keys.clone(),
            floor: state.promotion_floor.clone(),
            github: state.github.clone(),
            tool_router: Self::registry_tools() + Self::commit_tools(),
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
}

/// Who a move over MCP is recorded as: the key's name (never the key).
fn actor(key: &ApiKeyInfo) -> String {
    format!("API key `{}` (MCP)", key.name)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ServerTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(rmcp::model::Implementation::new(
                "promptgate-serve",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "promptgate's registry of published prompt versions, and checks of a \
                 repository's commits. Every tool names a repository (`owner/repo`) your API \
                 key reaches. Typical use: list_prompts, read_prompt, results of a version \
                 (its gate verdict); with a publish key evaluate or check a branch or pull \
                 request (`pull/7`), suggest a verified edit when the gate fails, commit it \
                 through GitHub and check again; promote (staging before production) or \
                 rollback.",
            )
    }
}
