//! Runner throughput, warm-cache speed and peak memory against an
//! in-process OpenAI-format server with a fixed 50 ms latency.
//!
//!     cargo bench --bench runner
//!
//! Prints, with the targets from the issue:
//! - 2,000 cases at concurrency 64: wall time ÷ ideal (cases × 50 ms ÷ 64), ≤ 1.10;
//! - the same again with a warm cache: zero provider calls, < 0.5 s;
//! - peak resident memory (VmHWM) after a 10,000-case run, < 100 MB.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a small
//! smoke version instead, so test runs stay quick.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use promptgate::pipeline::config::{ProviderConfig, ProviderKind};
use promptgate::pipeline::provider::{self, config_for_kind};
use promptgate::pipeline::runner::cache::{CacheMode, ResponseCache};
use promptgate::pipeline::runner::pricing::PriceTable;
use promptgate::pipeline::runner::{Call, ProgressMode, ProviderHandle, Runner, RunnerOptions};
use promptgate::types::{ChatMessage, ChatRequest, ModelParameters, ResponseFormat, Role};

mod support;
use support::{LATENCY, answer};

const CONCURRENCY: usize = 64;

fn calls(handle: &ProviderHandle, cases: usize, tag: &str) -> Vec<Call> {
    (0..cases)
        .map(|case| Call {
            provider: handle.clone(),
            request: ChatRequest {
                model: "gpt-4o-mini".into(),
                messages: vec![
                    ChatMessage {
                        role: Role::System,
                        content: "You are a support agent. Answer in two sentences.".into(),
                    },
                    ChatMessage {
                        role: Role::User,
                        content: format!("{tag}: customer question number {case} about billing"),
                    },
                ],
                parameters: ModelParameters {
                    max_tokens: Some(200),
                    temperature: Some(0.0),
                    ..ModelParameters::default()
                },
                response_format: ResponseFormat::Text,
            },
            repeat: 0,
            label: format!("bench / case {case} / repeat 0"),
        })
        .collect()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds this process has used (user + system), from /proc; shows
/// how much of the wall time was our own work on a shared machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

#[tokio::main]
async fn main() {
    let served = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(answer))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = ProviderConfig {
        base_url: Some(base_url),
        concurrency: CONCURRENCY,
        ..config_for_kind(ProviderKind::OpenaiCompatible)
    };
    let handle = ProviderHandle::new(
        "bench",
        provider::build_with_key("bench", &config, None).unwrap(),
        &config,
    );
    let store = tempfile::tempdir().unwrap();
    let runner = Runner::new(
        ResponseCache::new(store.path(), CacheMode::ReadWrite),
        PriceTable::default(),
        RunnerOptions {
            progress: ProgressMode::Hidden,
            ..RunnerOptions::default()
        },
    );

    let full = std::env::args().any(|arg| arg == "--bench");
    let (cases, big) = if full { (2_000, 10_000) } else { (200, 400) };
    if !full {
        println!("smoke run (no --bench): small sizes; the targets apply to `cargo bench` only");
    }
    let cpu_before = cpu_seconds().unwrap_or(f64::NAN);
    let started = Instant::now();
    let cold = runner.run(calls(&handle, cases, "a")).await.unwrap();
    let wall = started.elapsed();
    let cpu = cpu_seconds().unwrap_or(f64::NAN) - cpu_before;
    assert_eq!(cold.totals.failed, 0);
    let ideal = LATENCY.as_secs_f64() * cases as f64 / CONCURRENCY as f64;
    let ratio = wall.as_secs_f64() / ideal;
    println!(
        "cold: {cases} cases, concurrency {CONCURRENCY}, 50 ms latency: {:.3} s, ideal {ideal:.3} s, ratio {ratio:.3} (target <= 1.10: {})",
        wall.as_secs_f64(),
        verdict(ratio <= 1.10)
    );
    println!(
        "      CPU used by client + server + cache writes: {cpu:.2} s ({:.0} µs per call)",
        cpu * 1e6 / cases as f64
    );

    let before = served.load(Ordering::Relaxed);
    let started = Instant::now();
    let warm = runner.run(calls(&handle, cases, "a")).await.unwrap();
    let wall = started.elapsed();
    let provider_calls = served.load(Ordering::Relaxed) - before;
    assert_eq!(warm.totals.cached as usize, cases);
    println!(
        "warm: {cases} cases from the cache: {:.3} s, {provider_calls} provider calls (target < 0.5 s, 0 calls: {})",
        wall.as_secs_f64(),
        verdict(wall < Duration::from_millis(500) && provider_calls == 0)
    );

    let cpu_before = cpu_seconds().unwrap_or(f64::NAN);
    let started = Instant::now();
    let output = runner.run(calls(&handle, big, "b")).await.unwrap();
    let cpu = cpu_seconds().unwrap_or(f64::NAN) - cpu_before;
    assert_eq!(output.outcomes.len(), big);
    let peak = peak_rss_mb().unwrap_or(f64::NAN);
    println!(
        "memory: {big} cases in {:.2} s ({:.0} µs CPU per call), peak resident memory (VmHWM) {peak:.1} MB (target < 100 MB: {})",
        started.elapsed().as_secs_f64(),
        cpu * 1e6 / big as f64,
        verdict(peak < 100.0)
    );
}
