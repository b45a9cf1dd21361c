//! Webhook acknowledgement latency: the real `promptgate serve` (release build)
//! in its own process on loopback; this process sends 200 signed deliveries at
//! once, each enqueuing a self-test job that works for 50 ms, and prints the
//! p50/p99/max time to the 202 while the workers run those jobs.
//!
//! Run: `cargo bench --bench webhook_ack` (SQLite; and PostgreSQL too when
//! `PROMPTGATE_TEST_POSTGRES` names a server: a fresh database is made there
//! for the run and dropped after).

use std::process::Stdio;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncBufReadExt;

const DELIVERIES: usize = 200;
const SECRET: &str = "bench-webhook-secret";
const JOB_WORK_MS: u64 = 50;

/// The binary timed: this build's, or the one `PROMPTGATE_BENCH_BIN` names,
/// so that two builds can be timed alternately on the same machine.
fn promptgate_binary() -> std::ffi::OsString {
    std::env::var_os("PROMPTGATE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_promptgate").into())
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench("SQLite", &sqlite, dir.path()).await?;
    if let Ok(admin) = std::env::var("PROMPTGATE_TEST_POSTGRES") {
        use sqlx::Connection;
        let name = format!("promptgate_bench_{}", std::process::id());
        let mut connection = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await?;
        let (base, _) = admin.rsplit_once('/').ok_or("a URL ending in /database")?;
        let result = bench("PostgreSQL", &format!("{base}/{name}"), dir.path()).await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut connection)
            .await?;
        result?;
    } else {
        println!("PostgreSQL: skipped (set PROMPTGATE_TEST_POSTGRES to measure it too)");
    }
    Ok(())
}

async fn bench(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = &dir.join(label);
    std::fs::create_dir_all(dir)?;
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[jobs]\nconcurrency = 4\npoll_interval_ms = 200\n[selftest]\ndir = \"{}\"\n",
            dir.join("selftest").display()
        ),
    )?;
    let mut server = tokio::process::Command::new(promptgate_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("PROMPTGATE_WEBHOOK_SECRET", SECRET)
        .env("PROMPTGATE_DATABASE_URL", database_url)
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
    let address = line
        .rsplit("http://")
        .next()
        .ok_or("no address")?
        .to_string();
    let url = format!("http://{address}/webhooks/github");
    let client = reqwest::Client::new();

    let deliver = |n: usize, tag: &'static str| {
        let body = serde_json::to_vec(&serde_json::json!({
            "action": "promptgate-selftest",
            "client_payload": {"id": format!("{tag}-{n}"), "work_ms": JOB_WORK_MS},
        }))
        .expect("JSON");
        let request = client
            .post(&url)
            .header("x-github-event", "repository_dispatch")
            .header("x-github-delivery", format!("{tag}-{n}"))
            .header("x-hub-signature-256", sign(&body))
            .body(body);
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            let took = started.elapsed();
            if response.status() != reqwest::StatusCode::ACCEPTED {
                return Err(format!("delivery {n}: {}", response.status()).into());
            }
            Ok::<_, Box<dyn std::error::Error>>(took)
        }
    };

    // Warm up: let the workers start. With BENCH_WARM_CONNECTIONS=1 the
    // warm-up opens as many connections as the burst uses, so the figure
    // leaves out TCP connection set-up (GitHub opens one per delivery).
    let warmups = if std::env::var_os("BENCH_WARM_CONNECTIONS").is_some() {
        DELIVERIES
    } else {
        10
    };
    for result in futures::future::join_all((0..warmups).map(|n| deliver(n, "warmup"))).await {
        result?;
    }

    let wall = Instant::now();
    let mut latencies = Vec::with_capacity(DELIVERIES);
    for result in futures::future::join_all((0..DELIVERIES).map(|n| deliver(n, "bench"))).await {
        latencies.push(result?);
    }
    let sent_in = wall.elapsed();
    latencies.sort();

    // Jobs were running meanwhile; wait for them so the figure is honest about load.
    let metrics_url = format!("http://{address}/metrics");
    let target = format!(
        "promptgate_jobs{{status=\"done\"}} {}",
        DELIVERIES + warmups
    );
    let drain = Instant::now();
    loop {
        let text = client.get(&metrics_url).send().await?.text().await?;
        if text.contains(&target) {
            break;
        }
        if drain.elapsed() > Duration::from_secs(120) {
            return Err("jobs did not finish in 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "webhook_ack ({label}): {DELIVERIES} concurrent signed deliveries on loopback, jobs of {JOB_WORK_MS} ms running (4 workers)"
    );
    println!(
        "  ack latency  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (all acknowledged in {:.1} ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("200 samples")),
        ms(sent_in)
    );
    println!(
        "  all {} jobs done {:.1} s after the last acknowledgement",
        DELIVERIES + warmups,
        drain.elapsed().as_secs_f64()
    );
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}
