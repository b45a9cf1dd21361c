//! Telemetry per version: applications post what happened after they ran a
//! served prompt (`POST /v1/repos/{owner}/{repo}/executions`), and anyone
//! with a key reads per-version and per-arm metrics and A/B comparisons
//! (`GET …/prompts/{name}/metrics`, `…/metrics/compare`).
//!
//! Ingest checks every record ([`records`]), resolves labels to the arm the
//! application was served (the same resolve as `GET /v1/prompts/{name}`),
//! prices tokens from `[pricing]`, and hands the batch to one writer task
//! that commits concurrent batches together ([`store`]): a batch is
//! acknowledged only once it is committed. The statistics are plain data in
//! [`crate::pipeline::telemetry`].

pub mod records;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::auth::Scope;
use super::jobs::Shutdown;
use super::{ServedPrompt, ServerState};
use crate::edges::db::{Database, DatabaseError};
use crate::edges::registry::Namespace;
use crate::pipeline::runner::pricing::{PriceTable, cost_usd};
use crate::pipeline::telemetry::{
    self as stats, Comparison, Execution, Metrics, SKETCH_RELATIVE_ERROR, Tally,
};
use crate::types::{RepoName, Usage};
use records::{Rejection, Reported, Served};
use store::{DAY_MS, HOUR_MS, StoredExecution, TelemetryStore, Upkeep};

/// The routes of this module, as (path, method), for `/openapi.json`.
pub const ROUTES: [(&str, &str); 3] = [
    ("/v1/repos/{owner}/{repo}/executions", "post"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/metrics", "get"),
    (
        "/v1/repos/{owner}/{repo}/prompts/{name}/metrics/compare",
        "get",
    ),
];

/// Executions a batch may hold by default (`[telemetry] max_batch`).
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Rows the writer commits in one transaction at most.
const MAX_GROUP_ROWS: usize = 4000;

/// `[telemetry]` and `[pricing]` of the server config.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub max_batch: usize,
    /// Hourly rollups (what the metrics read) are kept this long.
    pub retention_days: u32,
    /// Raw executions and idempotency keys are kept this long.
    pub raw_retention_days: u32,
    /// PostgreSQL day partitions created ahead of today.
    pub partitions_ahead_days: u32,
    pub upkeep_interval: Duration,
    /// Prices for executions reported with tokens but no cost.
    pub prices: PriceTable,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            max_batch: DEFAULT_MAX_BATCH,
            retention_days: 90,
            raw_retention_days: 14,
            partitions_ahead_days: 3,
            upkeep_interval: Duration::from_secs(600),
            prices: PriceTable::default(),
        }
    }
}

/// Ingest counters for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    /// Rejected records by the field at fault (a closed set of names).
    rejected_fields: Mutex<BTreeMap<&'static str, u64>>,
    /// Batches by answer: accepted, refused (bad request), unavailable.
    batches: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    fn batch(&self, status: &'static str) {
        *self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    fn rejections(&self, rejected: &[Rejection]) {
        self.rejected
            .fetch_add(rejected.len() as u64, Ordering::Relaxed);
        let mut fields = self
            .rejected_fields
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for rejection in rejected {
            *fields
                .entry(records::field_label(rejection.field))
                .or_default() += 1;
        }
    }
}

/// A batch waiting for the writer, and where its answer goes.
struct Pending {
    rows: Vec<StoredExecution>,
    reply: oneshot::Sender<Result<Vec<bool>, String>>,
}

struct Inner {
    store: Arc<TelemetryStore>,
    settings: TelemetrySettings,
    counters: Counters,
    /// The writer task's queue, started on first use (inside the runtime).
    writer: OnceLock<mpsc::Sender<Pending>>,
}

/// Telemetry of the server: shared by the handlers. Cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Commits what is queued, many batches per transaction, until every
/// sender is gone.
async fn write_batches(store: Arc<TelemetryStore>, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        let mut rows = group[0].rows.len();
        while rows < MAX_GROUP_ROWS {
            match queue.try_recv() {
                Ok(next) => {
                    rows += next.rows.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let sizes: Vec<usize> = group.iter().map(|pending| pending.rows.len()).collect();
        let all: Vec<StoredExecution> = group
            .iter_mut()
            .flat_map(|pending| std::mem::take(&mut pending.rows))
            .collect();
        let result = store.append(&all).await;
        let mut offset = 0;
        for (pending, size) in group.into_iter().zip(sizes) {
            let answer = match &result {
                Ok(stored) => Ok(stored[offset..offset + size].to_vec()),
                Err(error) => Err(error.to_string()),
            };
            offset += size;
            let _ = pending.reply.send(answer);
        }
    }
}

impl Telemetry {
    pub fn new(db: Database, settings: TelemetrySettings) -> Self {
        Telemetry {
            inner: Arc::new(Inner {
                store: Arc::new(TelemetryStore::new(db)),
                settings,
                counters: Counters::default(),
                writer: OnceLock::new(),
            }),
        }
    }

    pub fn settings(&self) -> &TelemetrySettings {
        &self.inner.settings
    }

    pub fn store(&self) -> &TelemetryStore {
        &self.inner.store
    }

    /// Stores `rows` (committed before this returns); per row, whether it
    /// was new (`false`: a duplicate of an idempotency key).
    pub async fn append(&self, rows: Vec<StoredExecution>) -> Result<Vec<bool>, String> {
        let writer = self.inner.writer.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(1024);
            tokio::spawn(write_batches(self.inner.store.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        writer
            .send(Pending { rows, reply })
            .await
            .map_err(|_| "the telemetry writer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the telemetry writer has stopped".to_string())?
    }

    /// Retention and compaction now (also run every `upkeep_interval` by
    /// [`Telemetry::run_upkeep`]).
    pub async fn upkeep_at(&self, now_ms: i64) -> Result<Upkeep, DatabaseError> {
        let settings = &self.inner.settings;
        self.inner
            .store
            .upkeep(
                now_ms,
                settings.raw_retention_days,
                settings.retention_days,
                settings.partitions_ahead_days,
            )
            .await
    }

    /// Runs the upkeep at start and every `upkeep_interval` until `shutdown`.
    pub async fn run_upkeep(self, shutdown: Shutdown) {
        loop {
            match self.upkeep_at(now_ms()).await {
                Ok(done) => tracing::info!(
                    raw_deleted = done.raw_deleted,
                    partitions_created = done.partitions_created.len(),
                    partitions_dropped = done.partitions_dropped.len(),
                    rollups_deleted = done.rollups_deleted,
                    daily_rollups_deleted = done.daily_rollups_deleted,
                    "telemetry upkeep"
                ),
                Err(error) => tracing::warn!(%error, "telemetry upkeep failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.settings.upkeep_interval) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// The `/metrics` families of ingest.
    pub fn render_prometheus(&self, out: &mut String) {
        let counters = &self.inner.counters;
        let family = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
        };
        family(
            out,
            "promptgate_telemetry_executions_total",
            "Executions posted to /v1/repos/…/executions, by result (stored, duplicate, rejected).",
        );
        for (result, counter) in [
            ("stored", &counters.stored),
            ("duplicate", &counters.duplicates),
            ("rejected", &counters.rejected),
        ] {
            let _ = writeln!(
                out,
                "promptgate_telemetry_executions_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        labelled(
            out,
            "promptgate_telemetry_rejections_total",
            "Executions refused, by the field at fault.",
            "field",
            &counters.rejected_fields,
        );
        labelled(
            out,
            "promptgate_telemetry_batches_total",
            "Execution batches by answer: accepted, refused (the whole batch) or unavailable.",
            "status",
            &counters.batches,
        );
    }
}

/// One counter family with a sample per label value, from a map kept
/// under a lock.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    counts: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (value, count) in counts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

/// The routes, for [`crate::server::router`].
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/v1/repos/{owner}/{repo}/executions", post(ingest))
        .route(
            "/v1/repos/{owner}/{repo}/prompts/{name}/metrics",
            get(metrics),
        )
        .route(
            "/v1/repos/{owner}/{repo}/prompts/{name}/metrics/compare",
            get(compare),
        )
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The repository of a route, or 400.
fn repository(owner: &str, repo: &str) -> Result<RepoName, Box<Response>> {
    format!("{owner}/{repo}").parse::<RepoName>().map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("`{owner}/{repo}` is not a repository (owner/name)"),
        ))
    })
}

/// The one place the telemetry routes check keys: today any key of scope
/// `need`; repository-scoped keys plug in here.
async fn authorize(
    state: &ServerState,
    headers: &HeaderMap,
    repo: &RepoName,
    need: Scope,
) -> Result<Namespace, Response> {
    // A repository the key does not reach answers as the registry's routes
    // do (404): nothing confirms that it exists.
    let namespace = Namespace::parse(&repo.to_string())
        .map_err(|refused| error(StatusCode::BAD_REQUEST, refused.to_string()))?;
    state
        .api_keys
        .require_in(headers, need, &namespace)
        .await
        .map_err(|refused| error(refused.status(), refused.message()))?;
    Ok(namespace)
}

/// What the registry said about the version a record names.
#[derive(Debug, Clone)]
enum Resolved {
    Found {
        version: u64,
        /// `(provider, model)` of the version, to price tokens.
        model: Option<(String, String)>,
    },
    Missing(String),
}

fn model_of(prompt: &ServedPrompt) -> Option<(String, String)> {
    let model = prompt.content.get("model")?;
    Some((
        model.get("provider")?.as_str()?.to_string(),
        model.get("model")?.as_str()?.to_string(),
    ))
}

/// Resolves `served` for `prompt` through the prompt source, as serving
/// does. `Err` is the registry failing (the whole batch gets 503).
async fn resolve(
    state: &ServerState,
    repo: &Namespace,
    prompt: &str,
    served: &Served,
) -> Result<Resolved, super::PromptSourceError> {
    Ok(match served {
        Served::Version(number) => match state.prompts.version(repo, prompt, *number).await? {
            Some(found) => Resolved::Found {
                version: found.version,
                model: model_of(&found),
            },
            None => Resolved::Missing(format!("no version {number} of prompt `{prompt}`")),
        },
        Served::Label { label, key } => {
            match state
                .prompts
                .resolve(repo, prompt, label, key.as_deref())
                .await?
            {
                Some(found) => Resolved::Found {
                    version: found.version,
                    model: model_of(&found),
                },
                None => Resolved::Missing(format!("no prompt `{prompt}` with label `{label}`")),
            }
        }
    })
}

/// The cost of a record: as reported, or its tokens priced from the
/// record's model (or the version's) when a price is known.
fn cost(
    prices: &PriceTable,
    record: &Reported,
    version_model: Option<&(String, String)>,
) -> Option<f64> {
    if record.cost_usd.is_some() {
        return record.cost_usd;
    }
    if record.input_tokens.is_none() && record.output_tokens.is_none() {
        return None;
    }
    let (alias, model) = match &record.model {
        Some(text) => match text.split_once('/') {
            Some((alias, model)) => (alias.to_string(), model.to_string()),
            None => (String::new(), text.clone()),
        },
        None => version_model.cloned()?,
    };
    let price = prices.price(&alias, &model)?;
    Some(cost_usd(
        price,
        Usage {
            input_tokens: record.input_tokens.unwrap_or(0),
            output_tokens: record.output_tokens.unwrap_or(0),
        },
    ))
}

#[derive(Debug, Serialize)]
struct IngestAnswer {
    /// Set when every record was refused, so a client that checks only
    /// for an `error` still notices.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    stored: usize,
    duplicates: usize,
    rejected: Vec<Rejection>,
}

async fn ingest(
    State(state): State<ServerState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let telemetry = state.telemetry.clone();
    let counters = &telemetry.inner.counters;
    let repo = match repository(&owner, &repo) {
        Ok(repo) => repo,
        Err(refused) => return *refused,
    };
    let namespace = match authorize(&state, &headers, &repo, Scope::Telemetry).await {
        Ok(namespace) => namespace,
        Err(refused) => return refused,
    };
    let refuse = |status: StatusCode, message: String| {
        counters.batch("refused");
        error(status, message)
    };
    let document: Value = match serde_json::from_slice(&body) {
        Ok(document) => document,
        Err(problem) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {problem}"),
            );
        }
    };
    let Some(batch) = document.get("executions").and_then(Value::as_array) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be {\"executions\": [...]}".to_string(),
        );
    };
    let max_batch = telemetry.settings().max_batch;
    if batch.len() > max_batch {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} executions in one batch; send at most {max_batch}",
                batch.len()
            ),
        );
    }
    let batch_key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) if is_idempotency_key(key) => Some(key.to_string()),
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "the Idempotency-Key header must be 1 to {} visible characters",
                    records::MAX_TEXT
                ),
            );
        }
    };

    let now = now_ms();
    let oldest = now - i64::from(telemetry.settings().raw_retention_days) * DAY_MS;
    let mut rejected = Vec::new();
    let mut rows = Vec::with_capacity(batch.len());
    let mut resolved: HashMap<(String, Served), Resolved> = HashMap::new();
    for (index, value) in batch.iter().enumerate() {
        let record = match records::parse(index, value, now, oldest) {
            Ok(record) => record,
            Err(rejection) => {
                rejected.push(rejection);
                continue;
            }
        };
        let lookup = (record.prompt.clone(), record.served.clone());
        let resolution = match resolved.get(&lookup) {
            Some(known) => known.clone(),
            None => match resolve(&state, &namespace, &record.prompt, &record.served).await {
                Ok(found) => {
                    resolved.insert(lookup, found.clone());
                    found
                }
                Err(failure) => {
                    tracing::error!(error = %failure, "telemetry: the prompt registry failed");
                    counters.batch("unavailable");
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the prompt registry is unavailable; send the batch again",
                    );
                }
            },
        };
        let (version, model) = match resolution {
            Resolved::Found { version, model } => (version, model),
            Resolved::Missing(why) => {
                let field = match record.served {
                    Served::Version(_) => "version",
                    Served::Label { .. } => "label",
                };
                rejected.push(Rejection {
                    index,
                    field,
                    error: why,
                });
                continue;
            }
        };
        let key = record
            .id
            .clone()
            .or_else(|| batch_key.as_ref().map(|key| format!("{key}#{index}")));
        rows.push(StoredExecution {
            repo: repo.to_string(),
            prompt: record.prompt.clone(),
            version: version as i64,
            label: record.label.clone(),
            at_ms: record.at_ms.unwrap_or(now),
            execution: Execution {
                latency_ms: record.latency_ms,
                outcome: record.outcome,
                input_tokens: record.input_tokens,
                output_tokens: record.output_tokens,
                cost_usd: cost(&telemetry.settings().prices, &record, model.as_ref()),
                feedback: record.feedback,
                quality: record.quality,
            },
            error_kind: record.error_kind.clone(),
            key,
            received_at_ms: now,
        });
    }
    let stored = match telemetry.append(rows).await {
        Ok(stored) => stored,
        Err(problem) => {
            tracing::error!(error = %problem, "telemetry: cannot store executions");
            counters.batch("unavailable");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store executions now; send the batch again (it is counted once)",
            );
        }
    };
    let new = stored.iter().filter(|s| **s).count();
    let duplicates = stored.len() - new;
    counters.stored.fetch_add(new as u64, Ordering::Relaxed);
    counters
        .duplicates
        .fetch_add(duplicates as u64, Ordering::Relaxed);
    counters.rejections(&rejected);
    // A well-formed batch is answered 200 even when every record in it was
    // refused (as bulk APIs do): the records were read, and `rejected`
    // says, per index and field, why each was not stored.
    let refused_all = !batch.is_empty() && rejected.len() == batch.len();
    counters.batch(if refused_all { "refused" } else { "accepted" });
    (
        StatusCode::OK,
        Json(IngestAnswer {
            error: refused_all.then(|| {
                "every record was refused: `rejected` says why, by index and field".into()
            }),
            stored: new,
            duplicates,
            rejected,
        }),
    )
        .into_response()
}

/// How metrics group executions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum GroupBy {
    #[default]
    Version,
    /// Label and version: the arms of each label's split.
    Arm,
}

#[derive(Debug, Deserialize)]
struct MetricsQuery {
    window: Option<String>,
    by: Option<String>,
    label: Option<String>,
}

/// `24h`, `7d`: whole hours or days, at least an hour, at most the retention.
fn parse_window(text: &str, retention_days: u32) -> Result<i64, String> {
    let refuse = || {
        format!(
            "window `{text}`: write hours or days, like 24h or 7d (at least 1h; windows past the {retention_days}d retention read all there is)"
        )
    };
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let amount: i64 = digits.parse().map_err(|_| refuse())?;
    let ms = match unit {
        "h" => amount.checked_mul(HOUR_MS),
        "d" => amount.checked_mul(DAY_MS),
        _ => None,
    }
    .ok_or_else(refuse)?;
    if ms < HOUR_MS {
        return Err(refuse());
    }
    // Nothing older than the retention is kept: a longer window reads all
    // there is.
    Ok(ms.min(i64::from(retention_days) * DAY_MS))
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The window's tallies per (version, label): hours from the one holding
/// `now − window` through the current one.
struct Window {
    text: String,
    from_ms: i64,
    to_ms: i64,
    tallies: BTreeMap<(i64, String), Tally>,
}

async fn read_window(
    state: &ServerState,
    repo: &RepoName,
    prompt: &str,
    window: Option<&str>,
    label: Option<&str>,
) -> Result<Window, Response> {
    if prompt.chars().any(char::is_control)
        || label.is_some_and(|l| l.chars().any(char::is_control))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "prompt names and labels have no control characters",
        ));
    }
    let telemetry = &state.telemetry;
    let text = window.unwrap_or("24h").to_string();
    let span = parse_window(&text, telemetry.settings().retention_days)
        .map_err(|why| error(StatusCode::BAD_REQUEST, why))?;
    let now = now_ms();
    let from_ms = (now - span) - (now - span).rem_euclid(HOUR_MS);
    let to_ms = now - now.rem_euclid(HOUR_MS) + HOUR_MS;
    let tallies = telemetry
        .store()
        .tallies(&repo.to_string(), prompt, from_ms, to_ms, label)
        .await
        .map_err(|failure| {
            tracing::error!(error = %failure, "telemetry: cannot read metrics");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the telemetry store is unavailable",
            )
        })?;
    Ok(Window {
        text,
        from_ms,
        to_ms,
        tallies,
    })
}

#[derive(Debug, Serialize)]
struct Group {
    version: i64,
    /// For `by=arm`: the label it was served by (`null`: reported by version).
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Option<String>>,
    metrics: Metrics,
}

async fn metrics(
    State(state): State<ServerState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    Query(query): Query<MetricsQuery>,
    headers: HeaderMap,
) -> Response {
    let repo = match repository(&owner, &repo) {
        Ok(repo) => repo,
        Err(refused) => return *refused,
    };
    if let Err(refused) = authorize(&state, &headers, &repo, Scope::Read).await {
        return refused;
    }
    let by = match query.by.as_deref() {
        None | Some("version") => GroupBy::Version,
        Some("arm") => GroupBy::Arm,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("by `{other}`: use version or arm"),
            );
        }
    };
    let window = match read_window(
        &state,
        &repo,
        &name,
        query.window.as_deref(),
        query.label.as_deref(),
    )
    .await
    {
        Ok(window) => window,
        Err(refused) => return refused,
    };
    let mut groups: BTreeMap<(i64, Option<String>), Tally> = BTreeMap::new();
    for ((version, label), tally) in &window.tallies {
        let label = match by {
            GroupBy::Version => None,
            GroupBy::Arm => Some(label.clone()),
        };
        groups.entry((*version, label)).or_default().merge(tally);
    }
    let groups: Vec<Group> = groups
        .into_iter()
        .map(|((version, label), tally)| Group {
            version,
            label: label.map(|l| (!l.is_empty()).then_some(l)),
            metrics: tally.metrics(),
        })
        .collect();
    Json(json!({
        "repository": repo.to_string(),
        "prompt": name,
        "window": window.text,
        "from": rfc3339(window.from_ms),
        "to": rfc3339(window.to_ms),
        "by": by,
        "label": query.label,
        "latency_relative_error": SKETCH_RELATIVE_ERROR,
        "groups": groups,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct CompareQuery {
    window: Option<String>,
    label: Option<String>,
    a: Option<String>,
    b: Option<String>,
}

#[derive(Debug, Serialize)]
struct Arm {
    version: i64,
    count: u64,
}

#[derive(Debug, Serialize)]
struct CompareAnswer {
    repository: String,
    prompt: String,
    window: String,
    label: Option<String>,
    a: Arm,
    b: Arm,
    #[serde(flatten)]
    comparison: Comparison,
}

fn version_param(name: &str, text: Option<&str>) -> Result<Option<i64>, Box<Response>> {
    match text {
        None => Ok(None),
        Some(text) => {
            let digits = text.strip_prefix('v').unwrap_or(text);
            match digits.parse::<i64>() {
                Ok(number) if number >= 1 => Ok(Some(number)),
                _ => Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    format!("{name} `{text}` is not a version number (like 3 or v3)"),
                ))),
            }
        }
    }
}

async fn compare(
    State(state): State<ServerState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    Query(query): Query<CompareQuery>,
    headers: HeaderMap,
) -> Response {
    let repo = match repository(&owner, &repo) {
        Ok(repo) => repo,
        Err(refused) => return *refused,
    };
    if let Err(refused) = authorize(&state, &headers, &repo, Scope::Read).await {
        return refused;
    }
    let (a, b) = match (
        version_param("a", query.a.as_deref()),
        version_param("b", query.b.as_deref()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(refused), _) | (_, Err(refused)) => return *refused,
    };
    let window = match read_window(
        &state,
        &repo,
        &name,
        query.window.as_deref(),
        query.label.as_deref(),
    )
    .await
    {
        Ok(window) => window,
        Err(refused) => return refused,
    };
    let mut versions: BTreeMap<i64, Tally> = BTreeMap::new();
    for ((version, _), tally) in &window.tallies {
        versions.entry(*version).or_default().merge(tally);
    }
    // Without a and b: the two versions with the most executions, the
    // older as the control.
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            let mut busiest: Vec<(i64, u64)> =
                versions.iter().map(|(v, t)| (*v, t.count)).collect();
            busiest.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            let mut chosen: Vec<i64> = busiest.iter().map(|(v, _)| *v).collect();
            chosen.retain(|v| Some(*v) != a && Some(*v) != b);
            let mut pair: Vec<i64> = a.into_iter().chain(b).chain(chosen).take(2).collect();
            if pair.len() < 2 {
                return error(
                    StatusCode::NOT_FOUND,
                    format!(
                        "fewer than two versions of `{name}` have executions in the last {}; name them with a and b",
                        window.text
                    ),
                );
            }
            if a.is_none() && b.is_none() {
                pair.sort_unstable();
            }
            (pair[0], pair[1])
        }
    };
    if a == b {
        return error(StatusCode::BAD_REQUEST, "a and b are the same version");
    }
    let empty = Tally::default();
    let tally_a = versions.get(&a).unwrap_or(&empty);
    let tally_b = versions.get(&b).unwrap_or(&empty);
    Json(CompareAnswer {
        repository: repo.to_string(),
        prompt: name,
        window: window.text,
        label: query.label,
        a: Arm {
            version: a,
            count: tally_a.count,
        },
        b: Arm {
            version: b,
            count: tally_b.count,
        },
        comparison: stats::compare(tally_a, tally_b),
    })
    .into_response()
}

/// 1 to 200 visible ASCII characters, spaces only inside: what the
/// OpenAPI document's pattern for the `Idempotency-Key` header says.
fn is_idempotency_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= records::MAX_TEXT
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !key.starts_with(' ')
        && !key.ends_with(' ')
}

/// What `version_param` reads: `3` or `v3`.
const VERSION_PATTERN: &str = "^v?[1-9][0-9]{0,8}$";

/// The OpenAPI `paths` entries of [`ROUTES`].
pub fn openapi_paths() -> serde_json::Map<String, Value> {
    let error_response = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        })
    };
    let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}});
    let auth_errors = |mut responses: Value| {
        responses["400"] =
            error_response("A bad repository, parameter or body; the error names it.");
        responses["401"] = error_response("No API key, or an unknown or revoked one.");
        responses["403"] = error_response("The API key's scope is too small.");
        responses["503"] = error_response("The database is unavailable; try again.");
        responses
    };
    let window = json!({"name": "window", "in": "query", "description": "Hours or days back from now, like 24h or 7d (default 24h); the first hour is whole.", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,5}[hd]$"}});
    let label = json!({"name": "label", "in": "query", "description": "Only executions served by this label.", "schema": {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"}});
    let mut paths = serde_json::Map::new();
    paths.insert(ROUTES[0].0.into(), json!({"post": {
        "summary": "Report executions of served prompts (a batch; scope telemetry).",
        "description": format!("At most {DEFAULT_MAX_BATCH} executions (`[telemetry] max_batch`) and 2 MB per batch. Each record names its prompt and either the `version` that ran or the `label` and A/B `key` it was served with (resolved to the arm as serving does). Bad records are refused with their index and field; the rest are stored. A record's `id` (or the batch's `Idempotency-Key` header plus the record's index) makes a retried batch count once. The answer comes after the executions are committed."),
        "security": [{"apiKey": []}],
        "parameters": [path_param("owner"), path_param("repo"),
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]{0,198}[\\x21-\\x7e])?$"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["executions"],
            "properties": {"executions": {"type": "array", "maxItems": DEFAULT_MAX_BATCH, "description": "Each item should be an `Execution` (components/schemas/Execution); the batch is read whatever its items are, and an item that is not one is refused in `rejected` by index and field while the rest are stored.", "items": {}}}
        }}}},
        "responses": auth_errors(json!({
            "200": {"description": "Stored (some records may be refused: see `rejected`).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestAnswer"}}}},
            "413": error_response("More executions than a batch may hold.")
        }))
    }}));
    paths.insert(ROUTES[1].0.into(), json!({"get": {
        "summary": "Metrics of a prompt per version or per A/B arm.",
        "description": format!("Count, latency p50/p95/p99 (from a logarithmic sketch, within {:.2} % of the true nearest-rank percentile), error and refusal rates, cost per call and total, tokens, feedback rate and mean, quality.", SKETCH_RELATIVE_ERROR * 100.0),
        "security": [{"apiKey": []}],
        "parameters": [path_param("owner"), path_param("repo"), path_param("name"), window.clone(),
            {"name": "by", "in": "query", "schema": {"type": "string", "enum": ["version", "arm"], "default": "version"}},
            label.clone()],
        "responses": auth_errors(json!({
            "200": {"description": "Metrics per group.", "content": {"application/json": {"schema": {"type": "object", "required": ["groups"], "properties": {"groups": {"type": "array", "items": {"type": "object"}}}}}}}
        }))
    }}));
    paths.insert(ROUTES[2].0.into(), json!({"get": {
        "summary": "A/B comparison of two versions (arms): positive feedback, error rate and cost per call.",
        "description": "B − A with a 95 % interval (Newcombe's hybrid score interval for rates, Welch's for cost) and a verdict on B: better, worse, same (the whole interval within a small margin) or not_enough_data. Without a and b, the two versions with the most executions in the window, older first.",
        "security": [{"apiKey": []}],
        "parameters": [path_param("owner"), path_param("repo"), path_param("name"), window, label,
            {"name": "a", "in": "query", "description": "The control version.", "schema": {"type": "string", "pattern": VERSION_PATTERN}},
            {"name": "b", "in": "query", "description": "The candidate version.", "schema": {"type": "string", "pattern": VERSION_PATTERN}}],
        "responses": auth_errors(json!({
            "200": {"description": "The comparison.", "content": {"application/json": {"schema": {"type": "object", "required": ["a", "b", "error_rate", "positive_feedback", "cost_per_call"]}}}},
            "404": error_response("Fewer than two versions have executions in the window.")
        }))
    }}));
    paths
}

/// The OpenAPI `components.schemas` entries the paths refer to.
pub fn openapi_schemas() -> serde_json::Map<String, Value> {
    let mut schemas = serde_json::Map::new();
    schemas.insert("Execution".into(), json!({
        "type": "object",
        "required": ["prompt", "latency_ms"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "maxLength": 200, "description": "Idempotency key, unique per repository."},
            "prompt": {"type": "string"},
            "version": {"type": "integer", "minimum": 1, "description": "The version that ran; or give label (and key)."},
            "label": {"type": "string"},
            "key": {"type": "string", "description": "The A/B key the prompt was fetched with."},
            "at": {"type": "string", "format": "date-time", "description": "When it ran (default: when received)."},
            "latency_ms": {"type": "number", "minimum": 0},
            "outcome": {"type": "string", "enum": ["ok", "error", "timeout", "refusal"], "default": "ok"},
            "error_kind": {"type": "string"},
            "input_tokens": {"type": "integer", "minimum": 0},
            "output_tokens": {"type": "integer", "minimum": 0},
            "cost_usd": {"type": "number", "minimum": 0, "description": "Default: the tokens priced from [pricing]."},
            "model": {"type": "string", "description": "provider/model, to price the tokens (default: the version's model)."},
            "feedback": {"description": "up, down, true, false, or a score from 0 to 1.", "oneOf": [
                {"type": "string", "enum": ["up", "down"]}, {"type": "boolean"}, {"type": "number", "minimum": 0, "maximum": 1}]},
            "quality": {"type": "number", "minimum": 0, "maximum": 1}
        }
    }));
    schemas.insert("IngestAnswer".into(), json!({
        "type": "object",
        "required": ["stored", "duplicates", "rejected"],
        "properties": {
            "error": {"type": "string", "description": "Only when every record was refused (a 400)."},
            "stored": {"type": "integer"},
            "duplicates": {"type": "integer", "description": "Records whose idempotency key was already stored."},
            "rejected": {"type": "array", "items": {"type": "object", "required": ["index", "field", "error"],
                "properties": {"index": {"type": "integer"}, "field": {"type": "string"}, "error": {"type": "string"}}}}
        }
    }));
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_hours_or_days_cut_to_the_retention() {
        assert_eq!(parse_window("24h", 90), Ok(24 * HOUR_MS));
        assert_eq!(parse_window("7d", 90), Ok(7 * DAY_MS));
        // Past the retention: all there is.
        assert_eq!(parse_window("91d", 90), Ok(90 * DAY_MS));
        assert_eq!(parse_window("999999h", 90), Ok(90 * DAY_MS));
        for bad in ["0h", "", "h", "7w", "-1h", "1.5h", "99999999999999999d"] {
            let refused = parse_window(bad, 90).unwrap_err();
            assert!(refused.contains("24h or 7d"), "{bad}: {refused}");
        }
    }
}
