//! `promptgate serve` put together: one database pool, opened and migrated
//! once at start-up (the registry's tables and the server's), shared by the
//! job queue, the API keys, the installation record and the registry; then
//! the HTTP server and a worker pool on it until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use super::handlers::GitHubWork;
use super::installations::{InstallationSyncHandler, Installations};
use super::jobs::{JobHandler, JobKind, JobQueue, KindRouter, run_worker, shutdown_channel};
use super::settings::{ENV_APP_ID, ENV_PRIVATE_KEY_PATH, ServeSettings};
use super::sources::FetchLimits;
use super::spend::PullRequestSpend;
use super::{
    EventRouter, GitHubEvents, HmacVerifier, PromptSource, RegistryPrompts, SelfTestHandler,
    ServerState, WebhookVerifier, schema,
};
use crate::edges::db::{Database, redact_url};
use crate::edges::github::ClientOptions;
use crate::edges::github::app::{AppCredentials, GitHubApp};
use crate::edges::registry::Registry;
use crate::edges::registry::sql::SqlRegistry;

/// The parts a test may replace: signature checks, event routing, the
/// prompts served to applications and the job handlers.
pub struct Plugins {
    pub verifier: Arc<dyn WebhookVerifier>,
    pub events: Arc<dyn EventRouter>,
    pub prompts: Arc<dyn PromptSource>,
    /// The registry the `/v1/repos/…` routes read and write.
    pub registry: Arc<dyn Registry>,
    pub handler: Arc<dyn JobHandler>,
    /// The App's work, shared with `/mcp` (when an App is configured).
    pub github: Option<Arc<GitHubWork>>,
}

impl Plugins {
    /// The production wiring: HMAC verification, GitHub's events routed to
    /// jobs, the registry in the server's database (serving prompts to
    /// applications, receiving publishes), the gate, publish and model-rerun
    /// handlers acting as the App (when one is configured), and the
    /// self-test handler (when enabled).
    /// `db` is the server's database, opened and migrated ([`open_database`]):
    /// the registry and the installation record use its pool.
    pub fn production(settings: &ServeSettings, db: &Database) -> anyhow::Result<Self> {
        let registry: Arc<dyn Registry> = Arc::new(
            SqlRegistry::on(db.clone()).described_as(redact_url(settings.database_url.expose())),
        );
        let installations = Installations::new(db.clone());
        let mut handlers = KindRouter::new().route(
            JobKind::InstallationSync,
            Arc::new(InstallationSyncHandler {
                installations: installations.clone(),
            }),
        );
        if let Some(dir) = &settings.selftest_dir {
            handlers = handlers.route(
                JobKind::SelfTest,
                Arc::new(SelfTestHandler { dir: dir.clone() }),
            );
        }
        let mut github = None;
        if let Some(app) = &settings.github_app {
            let credentials = AppCredentials {
                app_id: app.app_id,
                private_key_pem: app.private_key.clone(),
            };
            let app = GitHubApp::new(&app.api_url, &credentials, ClientOptions::default())
                .context("cannot set up the GitHub App")?;
            let work = GitHubWork {
                clients: Arc::new(app),
                registry: registry.clone(),
                data_dir: settings.data_dir.clone(),
                limits: FetchLimits::default(),
                installations,
                keys: settings.keys.clone(),
                spend: PullRequestSpend::new(db.clone()),
            };
            github = Some(Arc::new(work.clone()));
            handlers = work.handlers(handlers);
        }
        Ok(Plugins {
            verifier: Arc::new(HmacVerifier::new(settings.webhook_secrets.clone())),
            events: Arc::new(GitHubEvents::new(settings.selftest_dir.is_some())),
            prompts: Arc::new(RegistryPrompts::with_label_cache(
                registry.clone(),
                settings.serving_cache,
            )),
            registry,
            handler: Arc::new(handlers),
            github,
        })
    }
}

/// The server's one pool, with every migration the server needs applied
/// (the registry's, then the server's own).
pub async fn open_database(settings: &ServeSettings) -> anyhow::Result<Database> {
    let url = settings.database_url.expose();
    // Workers and HTTP handlers each hold a connection at times.
    let connections = (settings.worker.concurrency as u32)
        .saturating_mul(2)
        .max(8);
    let db = Database::connect(url, connections).await?;
    schema::migrate(&db)
        .await
        .with_context(|| format!("cannot migrate the database {}", redact_url(url)))?;
    Ok(db)
}

/// Opens the database, then serves HTTP and runs the workers until SIGTERM or
/// Ctrl-C; drains both before returning.
pub async fn run(listen: SocketAddr, settings: ServeSettings) -> anyhow::Result<()> {
    let shown_url = redact_url(settings.database_url.expose());
    let db = open_database(&settings).await?;
    let plugins = Plugins::production(&settings, &db)?;
    if settings.github_app.is_none() {
        tracing::warn!(
            "no GitHub App configured ({ENV_APP_ID}, {ENV_PRIVATE_KEY_PATH}): jobs cannot talk to GitHub"
        );
    }
    let queue = JobQueue::new(db.clone(), settings.retry);
    let mut state = ServerState::new(
        queue.clone(),
        plugins.verifier,
        plugins.events,
        plugins.prompts,
    );
    state.registry = Some(plugins.registry);
    state.github = plugins.github;
    state.max_webhook_bytes = settings.max_webhook_bytes;
    state.http = settings.http;
    state.telemetry = super::telemetry::Telemetry::new(db.clone(), settings.telemetry.clone());
    state.promotion_floor = settings.promotion_floor.clone();
    state.api_keys = super::ApiKeys::with_cache(db.clone(), settings.serving_cache);
    state.dashboard = Arc::new(super::dashboard::Dashboard::new(
        db.clone(),
        settings.dashboard.clone(),
    ));

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    // Machine-readable for scripts and tests: the one line on stdout.
    println!("promptgate serve: listening on http://{address}");
    tracing::info!(%address, database = %shown_url, worker = %settings.worker.worker_id, "serving");

    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: no new jobs, draining");
        stop.trigger();
    });
    tokio::spawn(state.telemetry.clone().run_upkeep(shutdown.clone()));
    let worker = tokio::spawn(run_worker(
        queue,
        plugins.handler,
        settings.worker.clone(),
        shutdown.clone(),
    ));
    let served = super::serve(listener, state, shutdown).await;
    let summary = worker.await.context("the worker pool stopped abnormally")?;
    db.close().await;
    tracing::info!(?summary, "stopped");
    served.context("the HTTP server failed")
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
