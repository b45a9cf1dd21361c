//! Telemetry ingest and metrics against the real `promptgate serve` on
//! loopback (release build under `cargo bench`):
//!
//! - ingest: 16 clients post batches of 100 executions (each with its own
//!   idempotency id) for a fixed total; executions per second, p50/p99 per
//!   batch;
//! - metrics: 1,000,000 executions of one prompt over 7 days (2 versions,
//!   an A/B label) written beforehand through the same store; the time of
//!   `GET …/metrics` (by version, by arm, and the comparison), median and
//!   worst of 20.
//!
//!     cargo bench --bench telemetry
//!
//! SQLite always; PostgreSQL too when `PROMPTGATE_TEST_POSTGRES` names a
//! server (a database is made for the run and dropped). Under `cargo test`
//! (no `--bench` argument) it runs a small smoke version of both.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promptgate::edges::db::Database;
use promptgate::edges::registry::{self, NewVersion};
use promptgate::pipeline::telemetry::{Execution, Outcome};
use promptgate::server::telemetry::store::{StoredExecution, TelemetryStore};
use promptgate::server::{ApiKeys, KeyReach, Scope, schema};
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, VersionId,
};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

type Error = Box<dyn std::error::Error>;

const REPO: &str = "octo/bench";
const CLIENTS: usize = 16;
const BATCH: usize = 100;

struct Sizes {
    ingest_batches: usize,
    stored_executions: usize,
    query_repeats: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let full = std::env::args().any(|arg| arg == "--bench");
    let sizes = if full {
        Sizes {
            ingest_batches: 2000,
            stored_executions: 1_000_000,
            query_repeats: 20,
        }
    } else {
        println!("smoke run (no --bench): small sizes; the figures are for `cargo bench` only");
        Sizes {
            ingest_batches: 40,
            stored_executions: 20_000,
            query_repeats: 3,
        }
    };
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench("SQLite", &sqlite, dir.path(), &sizes).await?;
    match std::env::var("PROMPTGATE_TEST_POSTGRES") {
        Ok(admin) if full => {
            use sqlx::Connection;
            let name = format!("promptgate_telemetry_bench_{}", std::process::id());
            let mut connection = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await?;
            let (base, _) = admin.rsplit_once('/').ok_or("a URL ending in /database")?;
            let result = bench("PostgreSQL", &format!("{base}/{name}"), dir.path(), &sizes).await;
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut connection)
                .await?;
            result?;
        }
        _ => println!(
            "PostgreSQL: not measured (set PROMPTGATE_TEST_POSTGRES and run `cargo bench`)"
        ),
    }
    Ok(())
}

/// Publishes `ingest` and `busy` (v1, v2 each) and returns a publish key.
async fn prepare(url: &str, root: &std::path::Path) -> Result<String, Error> {
    let registry = registry::open_in(url, root, &registry::Namespace::parse(REPO)?).await?;
    for prompt in ["ingest", "busy"] {
        for n in 1..=2 {
            let content = PromptContent {
                semantics: Default::default(),
                messages: vec![MessageTemplate {
                    role: Role::User,
                    content: format!("v{n}: {{{{text}}}}"),
                }],
                model: ModelId::parse("openai/gpt-4o-mini")?,
                parameters: ModelParameters::default(),
                response_format: ResponseFormat::Text,
            };
            registry
                .publish(NewVersion {
                    prompt: prompt.into(),
                    id: VersionId(format!("{prompt}-{n}")),
                    content,
                    parent: None,
                    git_commit: None,
                    author: "bench".into(),
                    message: None,
                })
                .await?;
        }
    }
    let db = Database::connect(url, 1).await?;
    schema::migrate(&db).await?;
    let key = ApiKeys::new(db.clone())
        .create("bench", Scope::Publish, KeyReach::Every)
        .await?;
    db.close().await;
    Ok(key.key.expose().to_string())
}

/// Writes `count` executions of `busy` over the last 7 days through the
/// store (what ingest does after its checks), in transactions of 5,000.
async fn preload(url: &str, count: usize) -> Result<Duration, Error> {
    let db = Database::connect(url, 2).await?;
    let store = TelemetryStore::new(db.clone());
    let now = now_ms();
    let span = 7 * 86_400_000i64;
    let started = Instant::now();
    let mut rows = Vec::with_capacity(5000);
    for i in 0..count {
        let version = 1 + (i % 2) as i64;
        rows.push(StoredExecution {
            repo: REPO.into(),
            prompt: "busy".into(),
            version,
            label: if i % 3 == 0 {
                String::new()
            } else {
                "experiment".into()
            },
            at_ms: now - span + (i as i64 * span) / count as i64,
            execution: Execution {
                latency_ms: 50.0 + (i * 7919 % 4000) as f64 / 2.0,
                outcome: if i % 37 == 0 {
                    Outcome::Error
                } else {
                    Outcome::Ok
                },
                input_tokens: Some(400),
                output_tokens: Some(120),
                cost_usd: Some(0.0001 + (i % 13) as f64 * 1e-5),
                feedback: (i % 10 == 0).then_some(if i % 20 == 0 { 1.0 } else { 0.0 }),
                quality: (i % 4 == 0).then_some(0.8),
            },
            error_kind: None,
            key: None,
            received_at_ms: now,
        });
        if rows.len() == 5000 {
            store.append(&rows).await?;
            rows.clear();
        }
    }
    store.append(&rows).await?;
    db.close().await;
    Ok(started.elapsed())
}

async fn bench(label: &str, url: &str, root: &std::path::Path, sizes: &Sizes) -> Result<(), Error> {
    let root = &root.join(label);
    std::fs::create_dir_all(root)?;
    let key = prepare(url, root).await?;
    let loaded_in = preload(url, sizes.stored_executions).await?;
    let config = root.join("server.toml");
    std::fs::write(&config, "")?;
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("PROMPTGATE_WEBHOOK_SECRET", "telemetry-bench-secret")
        .env("PROMPTGATE_DATABASE_URL", url)
        .env("PROMPTGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = server.stdout.take().ok_or("no stdout")?;
    let line = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .ok_or("the server printed no address")?;
    let base = format!(
        "http://{}",
        line.rsplit("http://").next().ok_or("no address")?
    );
    let client = reqwest::Client::new();

    // Ingest.
    let post = |client: &reqwest::Client, n: usize| {
        let records: Vec<Value> = (0..BATCH)
            .map(|i| {
                json!({"id": format!("b{n}-{i}"), "prompt": "ingest", "version": 1 + (i % 2),
                       "latency_ms": 100 + i, "input_tokens": 300, "output_tokens": 80,
                       "outcome": if i % 50 == 0 { "error" } else { "ok" }})
            })
            .collect();
        let request = client
            .post(format!("{base}/v1/repos/{REPO}/executions"))
            .bearer_auth(&key)
            .json(&json!({"executions": records}));
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            if status != 200 || body["stored"] != BATCH {
                return Err(format!("batch {n}: {status} {body}").into());
            }
            Ok::<_, Error>(started.elapsed())
        }
    };
    for n in 0..CLIENTS {
        post(&client, 1_000_000 + n).await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (next, client, total) = (next.clone(), client.clone(), sizes.ingest_batches);
        let post = &post;
        workers.push(async move {
            let mut took = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, Error>(took);
                }
                took.push(post(&client, n).await?);
            }
        });
    }
    let mut batch_times = Vec::new();
    for result in futures::future::join_all(workers).await {
        batch_times.extend(result?);
    }
    let elapsed = started.elapsed();
    batch_times.sort();
    let executions = sizes.ingest_batches * BATCH;
    println!(
        "telemetry ({label}): ingest {executions} executions in batches of {BATCH} from {CLIENTS} clients: \
         {:.0} executions/s (batch p50 {:.1} ms, p99 {:.1} ms)",
        executions as f64 / elapsed.as_secs_f64(),
        ms(percentile(&batch_times, 50.0)),
        ms(percentile(&batch_times, 99.0)),
    );

    // Metrics over the preloaded prompt.
    println!(
        "telemetry ({label}): {} executions of one prompt over 7 days written in {:.1} s",
        sizes.stored_executions,
        loaded_in.as_secs_f64()
    );
    for query in [
        "metrics?window=7d",
        "metrics?window=7d&by=arm",
        "metrics/compare?window=7d&label=experiment",
    ] {
        let url = format!("{base}/v1/repos/{REPO}/prompts/busy/{query}");
        let mut times = Vec::new();
        let mut counted = 0;
        for _ in 0..sizes.query_repeats {
            let started = Instant::now();
            let body: Value = client
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            times.push(started.elapsed());
            counted = body["groups"]
                .as_array()
                .map(|groups| {
                    groups
                        .iter()
                        .map(|g| g["metrics"]["count"].as_u64().unwrap_or(0))
                        .sum::<u64>()
                })
                .unwrap_or_else(|| {
                    body["a"]["count"].as_u64().unwrap_or(0)
                        + body["b"]["count"].as_u64().unwrap_or(0)
                });
        }
        times.sort();
        println!(
            "  GET …/{query}: median {:.1} ms, worst {:.1} ms ({counted} executions counted)",
            ms(times[times.len() / 2]),
            ms(*times.last().ok_or("no samples")?),
        );
        if query == "metrics?window=7d" && counted as usize != sizes.stored_executions {
            return Err(format!(
                "the metrics counted {counted}, not {}",
                sizes.stored_executions
            )
            .into());
        }
    }
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}
