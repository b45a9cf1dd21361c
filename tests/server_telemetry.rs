//! Telemetry per version against the real server on loopback: executions
//! posted (good and bad records, retried batches, label + A/B key resolved
//! as serving resolves them), metrics per version and per arm, the A/B
//! comparison, `/metrics`, retention and compaction — on a real SQLite file
//! and on real PostgreSQL (`PROMPTGATE_TEST_POSTGRES`; required under `CI`).
//! Then the `promptgate serve` binary: acknowledged executions survive a
//! SIGKILL, and the README's Python and Node clients (examples/clients/)
//! fetch, run against llm-katan and report into the metrics.
#![cfg(unix)]

#[path = "support/llm_katan.rs"]
mod llm_katan;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/serve_process.rs"]
mod serve_process;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{self, ExpectFrom, LabelTarget, MoveKind, MoveLabel, NewVersion};
use promptgate::server::jobs::{JobQueue, RetryPolicy, shutdown_channel};
use promptgate::server::telemetry::{Telemetry, TelemetrySettings};
use promptgate::server::{
    ApiKeys, GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
    schema,
};
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, VersionId,
};
use serde_json::{Value, json};
use serve_process::ServeProcess;
use sha2::{Digest, Sha256};
use sqlx::Row as _;

const REPO: &str = "octo/app";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn content(text: &str, model: &str) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: "You summarise in one line.".into(),
            },
            MessageTemplate {
                role: Role::User,
                content: text.into(),
            },
        ],
        model: ModelId::parse(model).unwrap(),
        parameters: ModelParameters::default(),
        response_format: ResponseFormat::Text,
    }
}

/// Publishes `summarize` v1 and v2 (on `model`), `production` → v2 and
/// `experiment` split 50/50, through the registry as the CLI does.
async fn publish_summarize(url: &str, root: &Path, model: &str) {
    let namespace = registry::Namespace::parse(REPO).unwrap();
    let registry = registry::open_in(url, root, &namespace).await.unwrap();
    for text in ["v1: {{text}}", "v2: {{ text }}"] {
        let content = content(text, model);
        registry
            .publish(NewVersion {
                prompt: "summarize".into(),
                id: VersionId(hex::encode(Sha256::digest(
                    serde_json::to_vec(&content).unwrap(),
                ))),
                content,
                parent: None,
                git_commit: None,
                author: "Ada <ada@example.com>".into(),
                message: None,
            })
            .await
            .unwrap();
    }
    for (label, to) in [("production", "v2"), ("experiment", "v1:50,v2:50")] {
        registry
            .move_label(MoveLabel {
                prompt: "summarize".into(),
                label: label.into(),
                to: LabelTarget::parse(to).unwrap(),
                expect: ExpectFrom::Anything,
                kind: MoveKind::Set,
                forced: false,
                actor: "Ada <ada@example.com>".into(),
                reason: Some("test".into()),
            })
            .await
            .unwrap();
    }
}

/// `ServerState` on `url` served on a loopback port; (base URL, state, stop).
async fn serve_in_process(
    url: &str,
    settings: TelemetrySettings,
) -> (
    String,
    ServerState,
    promptgate::server::jobs::ShutdownTrigger,
) {
    let db = Database::connect(url, 8).await.unwrap();
    schema::migrate(&db).await.unwrap();
    let prompts = RegistryPrompts::new(Arc::new(SqlRegistry::on(db.clone())));
    let mut state = ServerState::new(
        JobQueue::new(db.clone(), RetryPolicy::default()),
        Arc::new(HmacVerifier::new(vec![Secret::new(
            "telemetry-test-secret",
        )])),
        Arc::new(GitHubEvents::default()),
        Arc::new(prompts),
    );
    state.telemetry = Telemetry::new(db, settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(promptgate::server::serve(listener, state.clone(), shutdown));
    (base, state, stop)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, key: Option<&str>, body: &Value, batch_key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/repos/{REPO}/executions", self.base))
            .json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(batch_key) = batch_key {
            request = request.header("idempotency-key", batch_key);
        }
        self.send(request).await
    }

    async fn get(&self, key: &str, path_and_query: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(format!("{}{path_and_query}", self.base))
                .bearer_auth(key),
        )
        .await
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn group<'a>(metrics: &'a Value, version: i64, label: Option<&str>) -> &'a Value {
    metrics["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["version"] == version && (label.is_none() || g["label"] == json!(label)))
        .unwrap_or_else(|| panic!("no group v{version} {label:?} in {metrics}"))
}

async fn the_whole_telemetry_flow(url: &str, root: &Path) {
    publish_summarize(url, root, "openai/gpt-4o-mini").await;
    let settings = TelemetrySettings {
        max_batch: 500,
        retention_days: 3,
        raw_retention_days: 2,
        ..TelemetrySettings::default()
    };
    let (base, state, stop) = serve_in_process(url, settings).await;
    // What an application holds: a `telemetry` key reads prompts and
    // reports executions, and cannot publish.
    let app = state
        .api_keys
        .create("app", Scope::Telemetry, KeyReach::Every)
        .await
        .unwrap();
    let app = app.key.expose().to_string();
    let read = state
        .api_keys
        .create("dash", Scope::Read, KeyReach::Every)
        .await
        .unwrap();
    let read = read.key.expose().to_string();
    let client = Client {
        http: reqwest::Client::new(),
        base,
    };

    // Keys: none is 401, a read key cannot report.
    let one = json!({"executions": [{"prompt": "summarize", "version": 1, "latency_ms": 5}]});
    assert_eq!(client.post(None, &one, None).await.0, 401);
    assert_eq!(client.post(Some(&read), &one, None).await.0, 403);
    let (status, served) = client
        .get(&app, &format!("/v1/repos/{REPO}/prompts/summarize"))
        .await;
    assert_eq!(status, 200, "{served}");
    let publishing = client
        .http
        .post(format!(
            "{}/v1/repos/{REPO}/prompts/summarize/versions",
            client.base
        ))
        .bearer_auth(&app)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        publishing.status().as_u16(),
        403,
        "a telemetry key cannot publish"
    );
    // A key of another repository learns nothing about this one: 404, as
    // the registry's routes answer, for reporting and for reading.
    let elsewhere = state
        .api_keys
        .create(
            "elsewhere",
            Scope::Admin,
            KeyReach::Repos(vec![registry::Namespace::parse("octo/other").unwrap()]),
        )
        .await
        .unwrap();
    let elsewhere = elsewhere.key.expose().to_string();
    assert_eq!(client.post(Some(&elsewhere), &one, None).await.0, 404);
    let (status, _) = client
        .get(
            &elsewhere,
            &format!("/v1/repos/{REPO}/prompts/summarize/metrics"),
        )
        .await;
    assert_eq!(status, 404);

    // Good records stored, bad ones named by index and field.
    let batch = json!({"executions": [
        {"id": "a0", "prompt": "summarize", "version": 1, "latency_ms": 100,
         "input_tokens": 1000, "output_tokens": 500},
        {"id": "a1", "prompt": "summarize", "version": 9, "latency_ms": 100},
        {"id": "a2", "prompt": "summarize", "version": 1, "latency_ms": "slow"},
        {"id": "a3", "prompt": "summarize", "label": "nolabel", "latency_ms": 5},
        {"id": "a4", "prompt": "summarize", "label": "production", "latency_ms": 200,
         "cost_usd": 0.01, "outcome": "error", "error_kind": "rate_limited",
         "feedback": "up", "quality": 0.8}
    ]});
    let (status, answer) = client.post(Some(&app), &batch, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["stored"].clone(), answer["duplicates"].clone()),
        (json!(2), json!(0))
    );
    let refused: Vec<(u64, &str)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, [(1, "version"), (2, "latency_ms"), (3, "label")]);
    // The same batch again (a retry): counted once.
    let (_, again) = client.post(Some(&app), &batch, None).await;
    assert_eq!(
        (again["stored"].clone(), again["duplicates"].clone()),
        (json!(0), json!(2))
    );
    // Records without ids are kept apart by the batch's Idempotency-Key.
    let keyed = json!({"executions": [
        {"prompt": "summarize", "version": 2, "latency_ms": 50},
        {"prompt": "summarize", "version": 2, "latency_ms": 60}
    ]});
    for expected in [json!(2), json!(0)] {
        let (_, answer) = client.post(Some(&app), &keyed, Some("batch-7")).await;
        assert_eq!(answer["stored"], expected, "{answer}");
    }
    // Whole batches refused: too many, nothing good, not JSON.
    let too_many: Vec<Value> = (0..501).map(|_| one["executions"][0].clone()).collect();
    let (status, answer) = client
        .post(Some(&app), &json!({"executions": too_many}), None)
        .await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("at most 500"));
    // Every record refused: still read, and said, record by record.
    let (status, answer) = client
        .post(
            Some(&app),
            &json!({"executions": [{"prompt": "summarize"}]}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stored"], 0);
    assert_eq!(answer["rejected"][0]["field"], "version", "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("every record"));
    let (status, answer) = client.post(Some(&app), &json!([1, 2]), None).await;
    assert_eq!(status, 400, "{answer}");

    // An A/B split: each user's executions reported by label and key; the
    // server must pick the arm serving picked for that user.
    let mut served: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    let mut errors: BTreeMap<i64, u64> = BTreeMap::new();
    let mut records = Vec::new();
    for user in 0..600 {
        let key = format!("user-{user}");
        let (status, prompt) = client
            .get(
                &read,
                &format!("/v1/repos/{REPO}/prompts/summarize?label=experiment&key={key}"),
            )
            .await;
        assert_eq!(status, 200);
        let version = prompt["version"].as_i64().unwrap();
        // v1 fails 15 % of the time, v2 3 %: v2 is better.
        let failed = user % 100 < if version == 1 { 15 } else { 3 };
        let latency = 20.0 + (user as f64 * 7.3) % 900.0;
        served.entry(version).or_default().push(latency);
        *errors.entry(version).or_default() += u64::from(failed);
        records.push(
            json!({"prompt": "summarize", "label": "experiment", "key": key,
            "latency_ms": latency, "outcome": if failed { "error" } else { "ok" }}),
        );
    }
    for chunk in records.chunks(100) {
        let (status, answer) = client
            .post(Some(&app), &json!({"executions": chunk}), None)
            .await;
        assert_eq!(
            (status, answer["stored"].as_u64()),
            (200, Some(100)),
            "{answer}"
        );
    }
    assert_eq!(served.len(), 2, "both arms served");

    let (status, arms) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics?by=arm&label=experiment&window=24h",
        )
        .await;
    assert_eq!(status, 200, "{arms}");
    for (version, latencies) in &mut served {
        let arm = group(&arms, *version, Some("experiment"));
        let metrics = &arm["metrics"];
        assert_eq!(metrics["count"], latencies.len() as u64, "{arm}");
        assert_eq!(metrics["outcomes"]["error"], errors[version]);
        latencies.sort_by(f64::total_cmp);
        for (name, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            let exact = nearest_rank(latencies, q);
            let reported = metrics["latency_ms"][name].as_f64().unwrap();
            assert!(
                (reported - exact).abs() <= exact * 0.0100,
                "v{version} {name}: {reported} vs {exact}"
            );
        }
    }
    let (status, comparison) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics/compare?label=experiment&a=1&b=2",
        )
        .await;
    assert_eq!(status, 200, "{comparison}");
    assert_eq!(
        comparison["error_rate"]["verdict"], "better",
        "{comparison}"
    );
    let [low, high] = [0, 1].map(|i| comparison["error_rate"]["interval"][i].as_f64().unwrap());
    assert!(low < high && high < 0.0, "{comparison}");
    // Nobody gave feedback or a cost: no verdict can be drawn on them.
    assert_eq!(
        comparison["positive_feedback"]["verdict"],
        "not_enough_data"
    );
    assert_eq!(comparison["cost_per_call"]["verdict"], "not_enough_data");
    // Without a and b: the two busiest versions, older first.
    let (_, default_pair) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics/compare?label=experiment",
        )
        .await;
    assert_eq!(
        (
            default_pair["a"]["version"].clone(),
            default_pair["b"]["version"].clone()
        ),
        (json!(1), json!(2))
    );

    // Per version: everything, the split included; a0's tokens priced as
    // gpt-4o-mini (the version's model), a4's cost as reported.
    let (_, versions) = client
        .get(&read, "/v1/repos/octo/app/prompts/summarize/metrics")
        .await;
    let v1 = &group(&versions, 1, None)["metrics"];
    let v2 = &group(&versions, 2, None)["metrics"];
    assert_eq!(v1["count"], 1 + served[&1].len() as u64);
    assert_eq!(v2["count"], 3 + served[&2].len() as u64);
    let priced = (1000.0 * 0.15 + 500.0 * 0.60) / 1e6;
    assert!(
        (v1["cost_usd"]["total"].as_f64().unwrap() - priced).abs() < 1e-12,
        "{v1}"
    );
    assert_eq!(v1["cost_usd"]["known"], 1);
    assert!((v2["cost_usd"]["total"].as_f64().unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(v2["feedback"]["count"], 1);
    assert_eq!(v2["feedback"]["mean"], 1.0);
    assert_eq!(v2["quality"]["mean"], 0.8);
    let (status, refused) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics?window=5w",
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["error"].as_str().unwrap().contains("window"),
        "{refused}"
    );

    // Prometheus: ingest counts and rejections by field.
    let text = reqwest::get(format!("{}/metrics", client.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stored_total = 2 + 2 + 600;
    for line in [
        format!("promptgate_telemetry_executions_total{{result=\"stored\"}} {stored_total}"),
        "promptgate_telemetry_executions_total{result=\"duplicate\"} 4".to_string(),
        "promptgate_telemetry_rejections_total{field=\"latency_ms\"} 2".to_string(),
        "promptgate_telemetry_batches_total{status=\"refused\"} 3".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }

    // Retention: an execution a minute short of 2 days old is kept raw (2
    // days) and in the rollups (3 days); two days later its raw row is gone
    // (compacted: on PostgreSQL its day partition dropped) and then its
    // rollups too. Its day is then two days back, wholly past the rollup
    // cutoff, unless it began in the last minute before midnight (UTC):
    // then its day is yesterday, whose daily row stays (a period goes once
    // all of it is past the cutoff) and still counts in a 3-day window.
    let old_ms = now_ms() - 2 * DAY_MS + 60_000;
    let old = time::OffsetDateTime::from_unix_timestamp(old_ms / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, answer) = client
        .post(
            Some(&app),
            &json!({"executions": [{"prompt": "summarize", "version": 1, "latency_ms": 9, "at": old}]}),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["stored"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    let count_in_3d = |metrics: &Value| -> u64 {
        metrics["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["metrics"]["count"].as_u64().unwrap())
            .sum()
    };
    let (_, before) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics?window=3d",
        )
        .await;
    let everything = stored_total + 1;
    assert_eq!(count_in_3d(&before), everything);
    let store = state.telemetry.store();
    assert_eq!(
        store.raw_count(REPO, "summarize").await.unwrap(),
        everything
    );

    let now = now_ms();
    let first = state.telemetry.upkeep_at(now).await.unwrap();
    assert_eq!(first.raw_deleted, 0);
    assert!(first.partitions_dropped.is_empty());
    let later = state.telemetry.upkeep_at(now + 2 * DAY_MS).await.unwrap();
    let raw_left = store.raw_count(REPO, "summarize").await.unwrap();
    match store.backend() {
        promptgate::edges::db::Backend::Sqlite => {
            // Everything is now older than the raw retention: all compacted.
            assert_eq!(later.raw_deleted, everything);
            assert_eq!(raw_left, 0);
        }
        promptgate::edges::db::Backend::Postgres => {
            // The old execution's day is past the cutoff; today's is not.
            assert_eq!(later.partitions_dropped.len(), 1, "{later:?}");
            assert_eq!(raw_left, everything - 1);
            let ahead = (now + 2 * DAY_MS).div_euclid(DAY_MS) + 3;
            let partitions: Vec<String> = match store.database() {
                Database::Postgres(pool) => sqlx::query(
                    "SELECT child.relname::text FROM pg_inherits \
                     JOIN pg_class child ON child.oid = pg_inherits.inhrelid \
                     JOIN pg_class parent ON parent.oid = pg_inherits.inhparent \
                     WHERE parent.relname = 'telemetry_executions'",
                )
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect(),
                Database::Sqlite(_) => unreachable!(),
            };
            let date = time::OffsetDateTime::from_unix_timestamp(ahead * 86_400).unwrap();
            let newest = format!(
                "telemetry_executions_p{:04}{:02}{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            );
            assert!(
                partitions.contains(&newest),
                "{partitions:?} lacks {newest}"
            );
        }
    }
    // The rollups still count the executions of the last day (compacted
    // or not); the old one's hour passed the rollup retention (3 days back
    // from "two days later") and went, and so did its day when all of the
    // day had.
    assert_eq!(later.rollups_deleted, 1, "{later:?}");
    let cutoff_day = (now + 2 * DAY_MS - 3 * DAY_MS).div_euclid(DAY_MS);
    let old_day_gone = old_ms.div_euclid(DAY_MS) < cutoff_day;
    assert_eq!(
        later.daily_rollups_deleted,
        u64::from(old_day_gone),
        "{later:?}"
    );
    let (_, kept) = client
        .get(
            &read,
            "/v1/repos/octo/app/prompts/summarize/metrics?window=3d",
        )
        .await;
    assert_eq!(count_in_3d(&kept), everything - u64::from(old_day_gone));
    stop.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    tokio::time::timeout(
        Duration::from_secs(240),
        the_whole_telemetry_flow(&url, dir.path()),
    )
    .await
    .expect("the scenario finishes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_on_postgres() {
    let Some(admin) = postgres::server("telemetry_on_postgres") else {
        return;
    };
    let scratch = postgres::Scratch::create(&admin, "telemetry").await;
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(
        Duration::from_secs(240),
        the_whole_telemetry_flow(&scratch.url, dir.path()),
    )
    .await
    .expect("the scenario finishes");
    scratch.drop().await;
}

/// A server config on `db`, with `extra` TOML appended.
fn server_config(dir: &Path, db: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(
        &path,
        format!(
            "database_url = \"sqlite://{}\"\ndata_dir = \"{}\"\n{extra}",
            db.display(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

/// Publishes `summarize` into the server's SQLite file and makes a key.
async fn prepare_database(dir: &Path, db: &Path, model: &str) -> String {
    let url = format!("sqlite://{}", db.display());
    publish_summarize(&url, dir, model).await;
    let pool = Database::connect(&url, 1).await.unwrap();
    schema::migrate(&pool).await.unwrap();
    let key = ApiKeys::new(pool.clone())
        .create("app", Scope::Publish, KeyReach::Every)
        .await
        .unwrap();
    pool.close().await;
    key.key.expose().to_string()
}

const SECRET_ENV: (&str, &str) = ("PROMPTGATE_WEBHOOK_SECRET", "telemetry-test-webhook-secret");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_executions_survive_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let key = prepare_database(dir.path(), &db, "openai/gpt-4o-mini").await;
    let config = server_config(dir.path(), &db, "");
    let envs = [(SECRET_ENV.0, SECRET_ENV.1.to_string())];
    let server = ServeProcess::start(&config, &envs, &dir.path().join("serve.log")).await;
    let base = format!("http://{}", server.address);

    // Eight clients post batches of 100 as fast as they can; each id
    // acknowledged with a 200 is remembered.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut clients = Vec::new();
    for client in 0..8 {
        let (base, key, acknowledged) = (base.clone(), key.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for batch in 0.. {
                let ids: Vec<String> = (0..100).map(|i| format!("c{client}-b{batch}-{i}")).collect();
                let records: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"id": id, "prompt": "summarize", "version": 1, "latency_ms": 12.5}))
                    .collect();
                let sent = http
                    .post(format!("{base}/v1/repos/{REPO}/executions"))
                    .bearer_auth(&key)
                    .json(&json!({"executions": records}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 200 => {
                        // The body too: the answer is only complete once read.
                        if response.json::<Value>().await.is_ok() {
                            acknowledged.lock().unwrap().extend(ids);
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = i32::try_from(server.pid).unwrap();
    // SAFETY: kill(2) on our own child's pid; it has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    for client in clients {
        client.await.unwrap();
    }
    drop(server);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 1000,
        "only {} acknowledged",
        acknowledged.len()
    );

    let pool = Database::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let Database::Sqlite(sqlite) = &pool else {
        unreachable!()
    };
    let stored: HashSet<String> = sqlx::query("SELECT idempotency_key FROM telemetry_executions")
        .fetch_all(sqlite)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged executions lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // Rollups are written in the same transaction: they agree with the rows.
    let rolled: i64 = sqlx::query("SELECT CAST(SUM(count) AS BIGINT) FROM telemetry_hourly")
        .fetch_one(sqlite)
        .await
        .unwrap()
        .get(0);
    assert_eq!(rolled as usize, stored.len());
    pool.close().await;

    // A restarted server reports the same count.
    let server = ServeProcess::start(&config, &envs, &dir.path().join("serve2.log")).await;
    let metrics: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/repos/{REPO}/prompts/summarize/metrics",
            server.address
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        group(&metrics, 1, None)["metrics"]["count"],
        stored.len() as u64
    );
    server.stop().await;
}

/// Whether `program --version` runs; a loud skip (a failure under CI) if not.
fn have(program: &str, test: &str) -> bool {
    let ran = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !ran {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but `{program}` is not installed: {test} must run in CI");
        }
        eprintln!("\n*** SKIPPED {test}: `{program}` is not installed ***\n");
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_clients_report_executions_into_metrics() {
    let test = "the_readme_clients_report_executions_into_metrics";
    if !have("python3", test) || !have("node", test) {
        return;
    }
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let key = prepare_database(dir.path(), &db, "openai/katan").await;
    // Costs come from the server's [pricing]: the clients send tokens only.
    let config = server_config(
        dir.path(),
        &db,
        "[pricing.\"openai/katan\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n",
    );
    let envs = [(SECRET_ENV.0, SECRET_ENV.1.to_string())];
    let server = ServeProcess::start(&config, &envs, &dir.path().join("serve.log")).await;
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clients");
    let run = |program: &str, script: &str, users: &[&str]| {
        let out = std::process::Command::new(program)
            .arg(clients.join(script))
            .args(["summarize", "experiment"])
            .args(users)
            .env("PROMPTGATE_URL", format!("http://{}", server.address))
            .env("PROMPTGATE_REPO", REPO)
            .env("PROMPTGATE_API_KEY", &key)
            .env("MODEL_BASE_URL", format!("{}/v1", katan.base_url()))
            .env("OPENAI_API_KEY", "test-key")
            .env("VARIABLES", r#"{"text": "The meeting moved to Thursday."}"#)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{program} {script}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let printed = run("python3", "fetch_run_report.py", &["alice", "bob", "carol"]);
    // llm-katan's echo backend answers with what it was sent: rendered.
    assert!(
        printed.contains("The meeting moved to Thursday."),
        "{printed}"
    );
    let printed = run(
        "node",
        "fetch_run_report.mjs",
        &["dave", "erin", "frank", "alice"],
    );
    assert!(
        printed.contains("The meeting moved to Thursday."),
        "{printed}"
    );
    let mut expected = 7;
    // The curl client too, where jq is installed (it is not required).
    if std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("bash")
            .arg(clients.join("fetch_run_report.sh"))
            .args(["user-9", "The meeting moved to Thursday."])
            .env("PROMPTGATE_URL", format!("http://{}", server.address))
            .env("PROMPTGATE_REPO", REPO)
            .env("PROMPTGATE_API_KEY", &key)
            .env("MODEL_BASE_URL", format!("{}/v1", katan.base_url()))
            .env("OPENAI_API_KEY", "test-key")
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && answer.contains("\"stored\":1"),
            "curl client: {answer} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        expected += 1;
    } else {
        eprintln!("\n*** note: jq is not installed; the curl client was not run ***\n");
    }
    assert_eq!(katan.served().await, expected);

    let metrics: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/repos/{REPO}/prompts/summarize/metrics?by=arm",
            server.address
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups = metrics["groups"].as_array().unwrap();
    let total: u64 = groups
        .iter()
        .map(|g| g["metrics"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, expected, "{metrics}");
    let experiment: u64 = groups
        .iter()
        .filter(|g| g["label"] == "experiment")
        .map(|g| g["metrics"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(experiment, 7, "{metrics}");
    for arm in groups {
        let m = &arm["metrics"];
        assert_eq!(m["error_rate"], 0.0, "{arm}");
        assert!(m["tokens"]["input"].as_u64().unwrap() > 0, "{arm}");
        assert_eq!(m["cost_usd"]["known"], m["count"], "{arm}");
        assert!(m["cost_usd"]["total"].as_f64().unwrap() > 0.0, "{arm}");
    }
    server.stop().await;
}

#[test]
fn the_readme_shows_the_clients_as_they_are() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for client in [
        "fetch_run_report.py",
        "fetch_run_report.mjs",
        "fetch_run_report.sh",
    ] {
        let text = std::fs::read_to_string(root.join("examples/clients").join(client)).unwrap();
        assert!(
            readme.contains(&text),
            "README.md does not show examples/clients/{client} as it is"
        );
    }
}

/// Executions over five days, stored, then read back over many windows of
/// whole hours: whatever mix of daily and hourly rollups a window is read
/// from, its tallies are exactly those of the executions inside it. Every
/// value is a small integer or a multiple of 1/4, so sums are exact in any
/// order and the tallies compare with `==`.
async fn rollups_answer_every_window_exactly(url: &str) {
    use promptgate::pipeline::telemetry::{Execution, Outcome, Tally};
    use promptgate::server::telemetry::store::{StoredExecution, TelemetryStore};

    const HOUR_MS: i64 = 3_600_000;
    let db = Database::connect(url, 4).await.unwrap();
    schema::migrate(&db).await.unwrap();
    let store = TelemetryStore::new(db);
    // A fixed day boundary, so windows fall on days, around them and within.
    let start = 20_000 * DAY_MS;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let outcomes = [
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Refusal,
    ];
    let rows: Vec<StoredExecution> = (0..3_000)
        .map(|_| {
            let at_ms = start + (next(5 * DAY_MS as u64) as i64);
            StoredExecution {
                repo: REPO.to_string(),
                prompt: "summarize".to_string(),
                version: 1 + next(2) as i64,
                label: ["", "production"][next(2) as usize].to_string(),
                at_ms,
                execution: Execution {
                    latency_ms: (1 + next(5_000)) as f64,
                    outcome: outcomes[next(5) as usize],
                    input_tokens: Some(next(500)),
                    output_tokens: Some(next(200)),
                    cost_usd: (next(3) > 0).then(|| next(40) as f64 / 4.0),
                    feedback: (next(4) == 0).then(|| next(2) as f64),
                    quality: (next(4) == 0).then(|| next(5) as f64 / 4.0),
                },
                error_kind: None,
                key: None,
                received_at_ms: at_ms,
            }
        })
        .collect();
    for batch in rows.chunks(250) {
        store.append(batch).await.unwrap();
    }
    let hours = 5 * 24 + 2;
    let mut windows = vec![(0, hours), (24, 48), (23, 49), (1, 23), (5, 100)];
    for _ in 0..20 {
        let a = next(hours as u64) as i64;
        let b = next(hours as u64) as i64;
        windows.push((a.min(b), a.max(b) + 1));
    }
    for (first, last) in windows {
        let (from_ms, to_ms) = (start + first * HOUR_MS, start + last * HOUR_MS);
        let mut expected: BTreeMap<(i64, String), Tally> = BTreeMap::new();
        for row in rows.iter().filter(|r| (from_ms..to_ms).contains(&r.at_ms)) {
            expected
                .entry((row.version, row.label.clone()))
                .or_default()
                .add(&row.execution);
        }
        for label in [None, Some("production")] {
            let read = store
                .tallies(REPO, "summarize", from_ms, to_ms, label)
                .await
                .unwrap();
            let wanted: BTreeMap<(i64, String), Tally> = expected
                .iter()
                .filter(|((_, l), _)| label.is_none_or(|label| label == l))
                .map(|(group, tally)| (group.clone(), tally.clone()))
                .collect();
            assert_eq!(
                read, wanted,
                "hours {first}..{last} of the stored executions, label {label:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_answer_every_window_exactly_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    rollups_answer_every_window_exactly(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_answer_every_window_exactly_on_postgres() {
    let Some(admin) = postgres::server("rollups_answer_every_window_exactly_on_postgres") else {
        return;
    };
    let scratch = postgres::Scratch::create(&admin, "telemetry").await;
    rollups_answer_every_window_exactly(&scratch.url).await;
    scratch.drop().await;
}
