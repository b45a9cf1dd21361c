//! The HTTP shell of `promptgate serve`: an axum router over a
//! [`ServerState`]. Handlers only check, record and enqueue; the workers in
//! [`crate::server::jobs`] do the work. [`settings`] reads the configuration,
//! [`start`] puts the server together on one database pool ([`schema`]).
//!
//! Plug points (traits, so the GitHub edge and the registry drop in):
//! [`WebhookVerifier`], [`EventRouter`], [`PromptSource`], and the job handler
//! given to [`crate::server::jobs::run_worker`].

pub mod auth;
pub mod connections;
pub mod dashboard;
pub mod events;
pub mod handlers;
pub mod installations;
pub mod jobs;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod prompts;
pub mod registry_api;
pub mod registry_prompts;
pub mod reviews;
pub mod schema;
pub mod selftest;
pub mod settings;
pub mod sources;
pub mod spend;
pub mod start;
pub mod telemetry;
pub mod ttl_cache;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use auth::{ApiKeyInfo, ApiKeyRecord, ApiKeys, AuthFailure, KeyReach, NewApiKey, Scope};
pub use events::{
    GateJob, GateTrigger, GitHubEvents, InstallationSyncJob, ModelRerunJob, PublishJob,
};
pub use metrics::ServerMetrics;
pub use prompts::{NoPrompts, PromptSource, PromptSourceError, ServedPrompt};
pub use registry_prompts::RegistryPrompts;
pub use selftest::{SelfTestHandler, SelfTestOrder};
pub use webhook::{
    BuiltinEvents, DeliveryOutcome, EventError, EventRouter, HmacVerifier, Routing,
    SELFTEST_DISPATCH, SignatureError, WebhookVerifier,
};

use crate::edges::registry::Registry;
use crate::pipeline::config::PromotionPolicy;
use crate::server::jobs::{JobQueue, Shutdown};
pub use connections::HttpLimits;
use connections::{BodyBudget, GuardedListener};

/// GitHub sends at most 25 MB per delivery.
pub const DEFAULT_MAX_WEBHOOK_BYTES: usize = 25 * 1024 * 1024;

/// Webhook secrets, API keys and the App key are the same never-printed
/// type the GitHub client uses.
pub use crate::edges::github::Secret;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub queue: JobQueue,
    pub verifier: Arc<dyn WebhookVerifier>,
    pub events: Arc<dyn EventRouter>,
    pub prompts: Arc<dyn PromptSource>,
    /// The registry the `/v1/repos/…` registry routes read and write (each
    /// request in its repository's namespace); `None` answers them 503.
    pub registry: Option<Arc<dyn Registry>>,
    /// The least a promotion over the API is checked against, whatever
    /// policy the caller sends (each rule the stricter of the two). By
    /// default none: the caller's repository policy applies as sent.
    pub promotion_floor: PromotionPolicy,
    pub api_keys: ApiKeys,
    pub metrics: Arc<ServerMetrics>,
    /// Webhook bodies above this get 413.
    pub max_webhook_bytes: usize,
    /// What a connection may cost before it has proven anything.
    pub http: HttpLimits,
    /// Executions reported by applications, and their metrics.
    pub telemetry: telemetry::Telemetry,
    /// The web dashboard's sessions, templates and settings.
    pub dashboard: Arc<dashboard::Dashboard>,
    /// The App's access to repositories, for the `/mcp` tools that check
    /// commits (as the gate jobs do); `None` without a GitHub App.
    pub github: Option<Arc<handlers::GitHubWork>>,
}

impl ServerState {
    /// A state whose API keys live in the queue's database, with the default
    /// body limit and fresh metrics.
    pub fn new(
        queue: JobQueue,
        verifier: Arc<dyn WebhookVerifier>,
        events: Arc<dyn EventRouter>,
        prompts: Arc<dyn PromptSource>,
    ) -> Self {
        let api_keys = ApiKeys::new(queue.database().clone());
        let telemetry = telemetry::Telemetry::new(queue.database().clone(), Default::default());
        let dashboard = Arc::new(dashboard::Dashboard::new(
            queue.database().clone(),
            Default::default(),
        ));
        ServerState {
            queue,
            verifier,
            events,
            prompts,
            registry: None,
            promotion_floor: PromotionPolicy {
                min_cases: 0,
                min_score: None,
                require_gate_passed: false,
            },
            api_keys,
            metrics: Arc::new(ServerMetrics::default()),
            max_webhook_bytes: DEFAULT_MAX_WEBHOOK_BYTES,
            http: HttpLimits::default(),
            telemetry,
            dashboard,
            github: None,
        }
    }
}

/// The application: every route of [`openapi::ROUTES`] and the MCP
/// endpoint ([`mcp::PATH`]), with request spans.
pub fn router(state: ServerState) -> Router {
    router_until(state, CancellationToken::new())
}

/// [`router`], whose MCP requests in flight end when `stop` is cancelled.
fn router_until(state: ServerState, stop: CancellationToken) -> Router {
    let webhook = post(webhook::receive)
        // tower-http enforces the cap (413 on Content-Length, or while
        // streaming); axum's own default of 2 MB would be too small.
        .layer::<_, std::convert::Infallible>(RequestBodyLimitLayer::new(state.max_webhook_bytes))
        .layer(DefaultBodyLimit::disable())
        // Unsigned bodies are read before their signature can be checked:
        // bound how many bytes of them are held at once.
        .layer(axum::middleware::from_fn_with_state(
            BodyBudget::new(
                state.http.max_unverified_body_bytes,
                state.max_webhook_bytes,
            ),
            connections::reserve_body,
        ));
    Router::new()
        .route("/webhooks/github", webhook)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .route(
            "/v1/repos/{owner}/{repo}/prompts/{name}",
            get(prompts::resolve),
        )
        .route(
            "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}",
            get(prompts::version),
        )
        .route("/v1/prompts/{*rest}", get(prompts::moved))
        .merge(registry_routes())
        .merge(telemetry::routes())
        .merge(mcp::routes(&state, stop))
        .merge(reviews::routes())
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(
            connections::close_unless_body_read,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The registry's JSON routes ([`registry_api`]).
fn registry_routes() -> Router<ServerState> {
    const REPO: &str = "/v1/repos/{owner}/{repo}";
    const PROMPT: &str = "/v1/repos/{owner}/{repo}/prompts/{name}";
    // An evaluation result holds every case's output: more than axum's
    // default 2 MB. Bodies are read only after the key is checked.
    let results_limit = DefaultBodyLimit::max(MAX_RESULT_BYTES);
    Router::new()
        .route(&format!("{REPO}/prompts"), get(registry_api::list_prompts))
        .route(&format!("{REPO}/audit"), get(registry_api::audit))
        .route(
            &format!("{REPO}/results/{{fingerprint}}"),
            get(registry_api::get_result)
                .put(registry_api::put_result)
                .layer(results_limit),
        )
        .route(
            &format!("{PROMPT}/versions"),
            get(registry_api::list_versions).post(registry_api::publish),
        )
        .route(
            &format!("{PROMPT}/versions/{{n}}/baseline"),
            get(registry_api::get_baseline).put(registry_api::put_baseline),
        )
        .route(&format!("{PROMPT}/diff"), get(registry_api::diff))
        .route(&format!("{PROMPT}/labels"), get(registry_api::labels))
        .route(
            &format!("{PROMPT}/labels/{{label}}"),
            post(registry_api::move_label),
        )
        .route(&format!("{PROMPT}/history"), get(registry_api::history))
        .route(&format!("{PROMPT}/promote"), post(registry_api::promote))
        .route(&format!("{PROMPT}/rollback"), post(registry_api::rollback))
}

/// The largest evaluation result `PUT …/results/{fingerprint}` takes.
pub const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// One span per request: method, path (no query, no headers: keys and tokens
/// live there) and a request id (the delivery id for webhooks).
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let request_id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    tracing::info_span!(
        "request",
        id = request_id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Serves `router` on `listener` until `shutdown`, then finishes the requests
/// in flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let listener = GuardedListener::new(listener, state.http);
    let mcp_stop = CancellationToken::new();
    let app = router_until(state, mcp_stop.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.wait().await;
            mcp_stop.cancel();
        })
        .await
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "alive"}))
}

async fn readyz(State(state): State<ServerState>) -> Response {
    let db = state.queue.database();
    let problem = match db.ping().await {
        Err(error) => {
            tracing::warn!(%error, "not ready: database unreachable");
            Some("the database does not answer".to_string())
        }
        Ok(()) => match schema::pending_migrations(db).await {
            Ok(pending) if pending.is_empty() => None,
            Ok(pending) => Some(format!("migrations not applied: {pending:?}")),
            Err(error) => {
                tracing::warn!(%error, "not ready: cannot read migrations");
                Some("cannot read the applied migrations".to_string())
            }
        },
    };
    match problem {
        None => Json(json!({"status": "ready"})).into_response(),
        Some(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "error": problem})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    let depth = match state.queue.depth().await {
        Ok(depth) => Some(depth),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the queue depth");
            None
        }
    };
    let mut text = state
        .metrics
        .render(depth, &state.queue.metrics().snapshot());
    state.telemetry.render_prometheus(&mut text);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }
}
