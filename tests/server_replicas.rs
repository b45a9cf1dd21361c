//! Two `promptgate serve` processes (the real binary) sharing one PostgreSQL
//! database, as replicas behind a load balancer would: deliveries sent to
//! either one are each run exactly once, and both worker pools take a share,
//! running at the same time.
//!
//! Needs `PROMPTGATE_TEST_POSTGRES` (a server URL; the test creates its own
//! database there and drops it at the end). Without it the test is skipped
//! loudly, and fails when `CI` is set.
#![cfg(unix)]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/serve_process.rs"]
mod serve_process;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use serve_process::ServeProcess;
use sqlx::Row as _;

/// Self-test deliveries sent, alternately to the two replicas.
const JOBS: usize = 40;
/// Simulated work per job: long enough that both pools are busy at once.
const WORK_MS: u64 = 150;
const SECRET: &str = "replicas-test-secret";
/// The whole scenario, start to stop; it usually takes a second or two.
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_run_every_job_once() {
    let Some(admin_url) = postgres::server("two_servers_on_one_postgres_run_every_job_once") else {
        return;
    };
    let scratch = postgres::Scratch::create(&admin_url, "replicas").await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = tokio::time::timeout(DEADLINE, replicas_scenario(&scratch.url, dir.path()));
    let finished = std::panic::AssertUnwindSafe(scenario).catch_unwind().await;
    scratch.drop().await;
    match finished {
        Ok(Ok(())) => {}
        Ok(Err(_elapsed)) => panic!(
            "the replicas did not finish {JOBS} jobs within {DEADLINE:?}; logs kept in {}",
            dir.keep().display()
        ),
        Err(panic) => {
            eprintln!("server logs kept in {}", dir.keep().display());
            std::panic::resume_unwind(panic)
        }
    }
}

async fn replicas_scenario(database_url: &str, dir: &Path) {
    let markers = dir.join("selftest");
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[jobs]\nconcurrency = 3\npoll_interval_ms = 50\nlease_seconds = 10\n\
             shutdown_grace_seconds = 2\n[selftest]\ndir = \"{}\"\n",
            markers.display()
        ),
    )
    .unwrap();
    // One after the other: the first applies the migrations.
    let replicas = [
        Replica::spawn("a", &config, database_url, dir).await,
        Replica::spawn("b", &config, database_url, dir).await,
    ];

    let ids: Vec<String> = (0..JOBS).map(|n| format!("replica-{n:02}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let replica = &replicas[n % replicas.len()];
        let body = serde_json::to_vec(&serde_json::json!({
            "action": "promptgate-selftest",
            "client_payload": {"id": id, "work_ms": WORK_MS},
            "repository": {"full_name": "octo/prompts"},
        }))
        .unwrap();
        let status = replica
            .process
            .deliver(
                SECRET,
                "repository_dispatch",
                &format!("delivery-{id}"),
                body,
            )
            .await;
        assert_eq!(
            status,
            reqwest::StatusCode::ACCEPTED,
            "delivery {id} to replica {}",
            replica.name
        );
    }
    for id in &ids {
        let done = markers.join(format!("{id}.done"));
        while !done.exists() {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let pids: Vec<u32> = replicas.iter().map(|replica| replica.process.pid).collect();
    for replica in replicas {
        replica.process.stop().await;
    }

    // The markers: one completion each, on the first attempt, and which pool ran it.
    let mut runs_by_pid: BTreeMap<u32, Vec<(SystemTime, SystemTime)>> = BTreeMap::new();
    for id in &ids {
        let done = markers.join(format!("{id}.done"));
        let lines = std::fs::read_to_string(&done).unwrap();
        assert_eq!(
            lines.lines().count(),
            1,
            "{id} completed more than once:\n{lines}"
        );
        assert!(
            !markers.join(format!("{id}.attempt-2")).exists(),
            "{id} needed a second attempt"
        );
        let attempt = markers.join(format!("{id}.attempt-1"));
        let claim = std::fs::read_to_string(&attempt).unwrap();
        let pid = claimed_by(&claim, &pids)
            .unwrap_or_else(|| panic!("{id}: `{}` names neither replica {pids:?}", claim.trim()));
        let started = std::fs::metadata(&attempt).unwrap().modified().unwrap();
        let finished = std::fs::metadata(&done).unwrap().modified().unwrap();
        runs_by_pid
            .entry(pid)
            .or_default()
            .push((started, finished));
    }
    assert_eq!(
        runs_by_pid.len(),
        2,
        "both replicas should run jobs: {:?}",
        runs_by_pid
            .iter()
            .map(|(pid, runs)| (pid, runs.len()))
            .collect::<Vec<_>>()
    );
    let (first, second) = (&runs_by_pid[&pids[0]], &runs_by_pid[&pids[1]]);
    let overlapping = first
        .iter()
        .any(|a| second.iter().any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapping, "the two pools never ran jobs at the same time");

    // The table agrees: every order once, done on its only attempt.
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let rows = sqlx::query("SELECT kind, payload, status, attempts FROM jobs")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut jobs_per_order: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        let kind: String = row.get("kind");
        let status: String = row.get("status");
        let attempts: i64 = row.get("attempts");
        let payload: serde_json::Value = serde_json::from_str(row.get("payload")).unwrap();
        let order = payload["id"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            (status.as_str(), attempts),
            ("done", 1),
            "{kind} job for {order}"
        );
        *jobs_per_order.entry(order).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(jobs_per_order, expected);
    let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(deliveries, JOBS as i64);
    pool.close().await;
}

/// The replica whose pid is in the worker id of an `ID.attempt-N` marker
/// (`… worker HOST-PID-RANDOM`).
fn claimed_by(marker: &str, pids: &[u32]) -> Option<u32> {
    let worker = marker.trim().rsplit_once(" worker ")?.1;
    let pid: u32 = worker.rsplit('-').nth(1)?.parse().ok()?;
    pids.contains(&pid).then_some(pid)
}

/// One `promptgate serve` process; its log is `<dir>/<name>.log`.
struct Replica {
    name: &'static str,
    process: ServeProcess,
}

impl Replica {
    async fn spawn(name: &'static str, config: &Path, database_url: &str, dir: &Path) -> Self {
        let envs = [
            ("PROMPTGATE_WEBHOOK_SECRET", SECRET.to_string()),
            ("PROMPTGATE_DATABASE_URL", database_url.to_string()),
        ];
        let log = dir.join(format!("{name}.log"));
        Replica {
            name,
            process: ServeProcess::start(config, &envs, &log).await,
        }
    }
}
