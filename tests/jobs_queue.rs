//! The durable job queue against real databases: a fresh SQLite file per test,
//! and a fresh PostgreSQL database per test when `PROMPTGATE_TEST_POSTGRES`
//! names a server (skipped loudly otherwise; a failure when `CI` is set).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promptgate::edges::db::Database;
use promptgate::server::jobs::{
    EnqueueOutcome, Job, JobError, JobEvent, JobHandler, JobId, JobKind, JobQueue, JobStatus,
    ManualClock, NewJob, RetryPolicy, Settled, SystemClock, WorkerConfig, run_worker,
    shutdown_channel,
};
use serde_json::json;
use tokio::sync::broadcast;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A database that exists for one test.
struct TestDb {
    db: Database,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code; drop the database from a thread with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let admin = Database::connect(&admin_url, 1).await?;
                if let Database::Postgres(pool) = &admin {
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(pool)
                        .await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let db = Database::connect(&url, 8).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    TestDb {
        db,
        _sqlite_dir: Some(dir),
        postgres: None,
    }
}

/// A fresh database on the server `PROMPTGATE_TEST_POSTGRES` names, or `None`
/// (announced loudly; a panic under CI, where the database must be there).
async fn postgres_db(test: &str) -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("PROMPTGATE_TEST_POSTGRES") else {
        eprintln!(
            "\n*** SKIPPED {test} on PostgreSQL: set PROMPTGATE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB ***\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but PROMPTGATE_TEST_POSTGRES is not: the PostgreSQL queue tests must run in CI"
        );
        return None;
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "promptgate_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        test
    );
    let admin = Database::connect(&admin_url, 1).await.unwrap();
    let Database::Postgres(pool) = &admin else {
        panic!("PROMPTGATE_TEST_POSTGRES must be a postgres:// URL");
    };
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(pool)
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let db = Database::connect(url.as_str(), 8).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    Some(TestDb {
        db,
        _sqlite_dir: None,
        postgres: Some((admin_url, name)),
    })
}

/// Defines `<scenario>_sqlite` and `<scenario>_postgres` tests, each under a timeout.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let test_db = super::sqlite_db().await;
                    super::within_timeout(super::$scenario(test_db.db.clone())).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(test_db) = super::postgres_db(stringify!($scenario)).await else {
                        return;
                    };
                    super::within_timeout(super::$scenario(test_db.db.clone())).await;
                }
            )*
        }
    };
}

on_both_backends!(
    duplicate_delivery_makes_one_job,
    a_burst_of_deliveries_commits_each_once,
    a_burst_for_one_pull_request_leaves_only_its_newest_job,
    failing_job_retries_with_backoff_then_fails,
    permanent_error_fails_at_once,
    newer_job_supersedes_queued_and_running_ones,
    expired_lease_makes_job_claimable_again,
    lease_expiring_on_last_attempt_fails_the_job,
    worker_runs_jobs_and_drains_on_shutdown,
    shutdown_releases_a_job_that_does_not_finish,
    panicking_handler_is_retried,
    two_worker_pools_run_every_job_exactly_once,
    installations_follow_the_webhooks_in_any_order,
);

async fn within_timeout(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

fn manual_queue(db: Database, max_attempts: u32) -> (JobQueue, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let retry = RetryPolicy {
        max_attempts,
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(600),
    };
    (JobQueue::with_clock(db, retry, clock.clone()), clock)
}

fn gate_job(pr: u32) -> NewJob {
    NewJob::new(JobKind::Gate, json!({"repo": "octo/prompts", "pr": pr}))
        .superseding(format!("octo/prompts#{pr}"))
}

const LEASE: Duration = Duration::from_secs(30);

async fn duplicate_delivery_makes_one_job(db: Database) {
    let (queue, _clock) = manual_queue(db, 3);
    let job = gate_job(1);
    let first = queue
        .enqueue_delivery("delivery-1", "pull_request", &job)
        .await
        .unwrap();
    let EnqueueOutcome::Enqueued(id) = first else {
        panic!("first delivery must enqueue, got {first:?}");
    };
    for _ in 0..2 {
        let again = queue
            .enqueue_delivery("delivery-1", "pull_request", &job)
            .await
            .unwrap();
        assert_eq!(again, EnqueueOutcome::Duplicate { job: Some(id) });
    }
    let jobs = queue.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload, job.payload);
    assert_eq!(jobs[0].status, JobStatus::Queued);
    // A different delivery of the same event is new work.
    let other = queue
        .enqueue_delivery("delivery-2", "pull_request", &gate_job(2))
        .await
        .unwrap();
    assert!(matches!(other, EnqueueOutcome::Enqueued(_)));
    assert_eq!(queue.depth().await.unwrap().queued, 2);
}

/// 100 deliveries at once (each sent twice, as a redelivery racing the
/// first), grouped into shared transactions: every delivery gets exactly one
/// job, the copy is a duplicate of that job, and every job is stored by the
/// time its delivery is answered.
async fn a_burst_of_deliveries_commits_each_once(db: Database) {
    let (queue, _clock) = manual_queue(db, 3);
    let sends = (0..200).map(|n| {
        let queue = queue.clone();
        tokio::spawn(async move {
            let delivery = format!("burst-{}", n % 100);
            let outcome = queue
                .enqueue_delivery(&delivery, "pull_request", &gate_job(1000 + n % 100))
                .await
                .unwrap();
            // Answered only once stored: the job is there already.
            if let EnqueueOutcome::Enqueued(id) = outcome {
                assert!(queue.jobs().await.unwrap().iter().any(|job| job.id == id));
            }
            (n % 100, outcome)
        })
    });
    let outcomes: Vec<(u32, EnqueueOutcome)> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut enqueued = std::collections::HashMap::new();
    for (delivery, outcome) in &outcomes {
        if let EnqueueOutcome::Enqueued(id) = outcome {
            assert!(
                enqueued.insert(*delivery, *id).is_none(),
                "delivery {delivery} enqueued twice"
            );
        }
    }
    assert_eq!(enqueued.len(), 100);
    for (delivery, outcome) in &outcomes {
        if let EnqueueOutcome::Duplicate { job } = outcome {
            assert_eq!(*job, Some(enqueued[delivery]));
        }
    }
    assert_eq!(queue.jobs().await.unwrap().len(), 100);
}

/// Deliveries for one pull request arriving together: 40 at once at one
/// queue (group commits of several each), then four at a time at two
/// queues for 25 rounds (as at two replicas of the server: racing
/// transactions). Whatever the grouping and interleaving, exactly one job
/// survives, the newest, and every other is superseded by a newer one.
async fn a_burst_for_one_pull_request_leaves_only_its_newest_job(db: Database) {
    let (queue, _clock) = manual_queue(db.clone(), 3);
    let (replica, _clock) = manual_queue(db, 3);
    let send = |queue: &JobQueue, delivery: String| {
        let queue = queue.clone();
        tokio::spawn(async move {
            match queue
                .enqueue_delivery(&delivery, "pull_request", &gate_job(7))
                .await
                .unwrap()
            {
                EnqueueOutcome::Enqueued(id) => id,
                other => panic!("a new delivery must enqueue, got {other:?}"),
            }
        })
    };
    let burst = (0..40).map(|n| send(&queue, format!("burst-{n}")));
    let mut ids: Vec<JobId> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for round in 0..25 {
        let sends = (0..4).map(|n| {
            let at = if n % 2 == 0 { &queue } else { &replica };
            send(at, format!("push-{round}-{n}"))
        });
        ids.extend(
            futures::future::join_all(sends)
                .await
                .into_iter()
                .map(Result::unwrap),
        );
    }
    let jobs = queue.jobs().await.unwrap();
    assert_eq!(jobs.len(), 140);
    let queued: Vec<JobId> = jobs
        .iter()
        .filter(|job| job.status == JobStatus::Queued)
        .map(|job| job.id)
        .collect();
    assert_eq!(queued, vec![*ids.iter().max().unwrap()]);
    for job in jobs.iter().filter(|job| job.id != queued[0]) {
        assert_eq!(job.status, JobStatus::Superseded, "job {}", job.id);
        let by = job.last_error.as_deref().unwrap_or_default();
        let by: i64 = by
            .trim_start_matches("superseded by job #")
            .parse()
            .unwrap();
        assert!(
            by > job.id.0,
            "job {} superseded by an older job #{by}",
            job.id
        );
    }
}

async fn failing_job_retries_with_backoff_then_fails(db: Database) {
    let (queue, clock) = manual_queue(db, 3);
    let id = queue.enqueue(&gate_job(7)).await.unwrap();
    let error = JobError::retryable("provider answered 503");

    let first = queue.claim("w", LEASE).await.unwrap().expect("due job");
    assert_eq!((first.id, first.attempts), (id, 1));
    let settled = queue.fail(&first, "w", &error).await.unwrap();
    let Settled::Retrying { run_after_ms } = settled else {
        panic!("expected a retry, got {settled:?}");
    };
    assert_eq!(
        run_after_ms,
        first.updated_at_ms + 10_000,
        "first backoff is the base delay"
    );
    assert!(
        queue.claim("w", LEASE).await.unwrap().is_none(),
        "not due yet"
    );

    clock.advance(Duration::from_secs(10));
    let second = queue
        .claim("w", LEASE)
        .await
        .unwrap()
        .expect("due after backoff");
    assert_eq!(second.attempts, 2);
    assert_eq!(second.last_error.as_deref(), Some("provider answered 503"));
    queue.fail(&second, "w", &error).await.unwrap();
    clock.advance(Duration::from_secs(19));
    assert!(
        queue.claim("w", LEASE).await.unwrap().is_none(),
        "second backoff doubles"
    );
    clock.advance(Duration::from_secs(1));
    let third = queue
        .claim("w", LEASE)
        .await
        .unwrap()
        .expect("due after 20 s");
    assert_eq!(third.attempts, 3);
    assert_eq!(
        queue.fail(&third, "w", &error).await.unwrap(),
        Settled::Failed
    );

    clock.advance(Duration::from_secs(3600));
    assert!(
        queue.claim("w", LEASE).await.unwrap().is_none(),
        "failed stays failed"
    );
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.attempts, 3);
    assert_eq!(stored.last_error.as_deref(), Some("provider answered 503"));
    assert!(stored.lease_owner.is_none());
    assert_eq!(queue.depth().await.unwrap().failed, 1);
}

async fn permanent_error_fails_at_once(db: Database) {
    let (queue, _clock) = manual_queue(db, 5);
    let id = queue.enqueue(&gate_job(1)).await.unwrap();
    let job = queue.claim("w", LEASE).await.unwrap().unwrap();
    let settled = queue
        .fail(
            &job,
            "w",
            &JobError::permanent("payload names no repository"),
        )
        .await
        .unwrap();
    assert_eq!(settled, Settled::Failed);
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (JobStatus::Failed, 1));
}

async fn newer_job_supersedes_queued_and_running_ones(db: Database) {
    let (queue, _clock) = manual_queue(db, 3);
    let mut events = queue.subscribe();

    // Queued: the older push's job never runs.
    let old = queue.enqueue(&gate_job(12)).await.unwrap();
    let new = queue.enqueue(&gate_job(12)).await.unwrap();
    let unrelated = queue.enqueue(&gate_job(13)).await.unwrap();
    assert_eq!(
        queue.job(old).await.unwrap().unwrap().status,
        JobStatus::Superseded
    );
    wait_for(&mut events, |event| {
        *event == JobEvent::Superseded { id: old, by: new }
    })
    .await;

    // Running: the worker is told to stop (renewal fails) and its result is discarded.
    let running = queue.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(running.id, new);
    let newest = queue.enqueue(&gate_job(12)).await.unwrap();
    assert!(!queue.extend_lease(&running, "w1", LEASE).await.unwrap());
    assert_eq!(
        queue.complete(&running, "w1").await.unwrap(),
        Settled::Discarded
    );
    let stored = queue.job(new).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Superseded);
    assert_eq!(
        stored.last_error,
        Some(format!("superseded by job #{}", newest.0))
    );

    let mut claimed = Vec::new();
    while let Some(job) = queue.claim("w2", LEASE).await.unwrap() {
        claimed.push(job.id);
    }
    claimed.sort();
    assert_eq!(claimed, vec![unrelated, newest]);
    // Jobs without a key never supersede anything.
    let plain = NewJob::new(JobKind::InstallationSync, json!({}));
    queue.enqueue(&plain).await.unwrap();
    queue.enqueue(&plain).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().queued, 2);
}

async fn expired_lease_makes_job_claimable_again(db: Database) {
    let (queue, clock) = manual_queue(db, 3);
    let id = queue.enqueue(&gate_job(3)).await.unwrap();
    let crashed = queue.claim("crashed-worker", LEASE).await.unwrap().unwrap();
    assert!(
        queue.claim("survivor", LEASE).await.unwrap().is_none(),
        "lease holds"
    );

    clock.advance(LEASE - Duration::from_millis(1));
    assert!(
        queue.claim("survivor", LEASE).await.unwrap().is_none(),
        "lease not over yet"
    );
    clock.advance(Duration::from_millis(1));
    let retaken = queue
        .claim("survivor", LEASE)
        .await
        .unwrap()
        .expect("lease expired");
    assert_eq!((retaken.id, retaken.attempts), (id, 2));
    assert_eq!(retaken.lease_owner.as_deref(), Some("survivor"));

    // The first worker waking up late cannot overwrite the new claim.
    assert!(
        !queue
            .extend_lease(&crashed, "crashed-worker", LEASE)
            .await
            .unwrap()
    );
    assert_eq!(
        queue.complete(&crashed, "crashed-worker").await.unwrap(),
        Settled::Discarded
    );
    assert_eq!(
        queue.complete(&retaken, "survivor").await.unwrap(),
        Settled::Done
    );
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Done);
    assert!(stored.finished_at_ms.is_some());
}

async fn lease_expiring_on_last_attempt_fails_the_job(db: Database) {
    let (queue, clock) = manual_queue(db, 1);
    let id = queue.enqueue(&gate_job(4)).await.unwrap();
    queue.claim("doomed", LEASE).await.unwrap().unwrap();
    clock.advance(LEASE);
    assert!(queue.claim("next", LEASE).await.unwrap().is_none());
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert!(stored.last_error.unwrap().contains("crash or kill"));
}

/// Counts invocations per job; optionally fails or never finishes.
#[derive(Default)]
struct RecordingHandler {
    calls: Mutex<HashMap<JobId, u32>>,
    behaviour: Behaviour,
    started: tokio::sync::Notify,
    /// Notified once this many calls were made in all.
    expected_calls: u32,
    all_called: tokio::sync::Notify,
}

#[derive(Default, PartialEq)]
enum Behaviour {
    #[default]
    Succeed,
    Hang,
    PanicOnFirstAttempt,
}

#[async_trait::async_trait]
impl JobHandler for RecordingHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        {
            let mut calls = self.calls.lock().unwrap();
            *calls.entry(job.id).or_default() += 1;
            if calls.values().sum::<u32>() == self.expected_calls {
                self.all_called.notify_one();
            }
        }
        self.started.notify_one();
        match self.behaviour {
            Behaviour::Succeed => Ok(()),
            Behaviour::Hang => std::future::pending().await,
            Behaviour::PanicOnFirstAttempt if job.attempts == 1 => panic!("handler bug"),
            Behaviour::PanicOnFirstAttempt => Ok(()),
        }
    }
}

fn fast_worker(id: &str) -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerConfig::new(id)
    }
}

fn real_queue(db: Database) -> JobQueue {
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };
    JobQueue::with_clock(db, retry, Arc::new(SystemClock))
}

async fn wait_for(
    events: &mut broadcast::Receiver<JobEvent>,
    mut wanted: impl FnMut(&JobEvent) -> bool,
) {
    loop {
        match events.recv().await {
            Ok(event) if wanted(&event) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                panic!("test fell {missed} events behind")
            }
            Err(broadcast::error::RecvError::Closed) => panic!("queue dropped"),
        }
    }
}

async fn worker_runs_jobs_and_drains_on_shutdown(db: Database) {
    let queue = real_queue(db);
    let mut events = queue.subscribe();
    let handler = Arc::new(RecordingHandler::default());
    let (stop, shutdown) = shutdown_channel();
    let worker = tokio::spawn(run_worker(
        queue.clone(),
        handler.clone(),
        fast_worker("pool-a"),
        shutdown,
    ));
    for pr in 0..20 {
        queue.enqueue(&gate_job(pr)).await.unwrap();
    }
    let mut done = 0;
    wait_for(&mut events, |event| {
        if matches!(
            event,
            JobEvent::Settled {
                settled: Settled::Done,
                ..
            }
        ) {
            done += 1;
        }
        done == 20
    })
    .await;
    stop.trigger();
    let summary = worker.await.unwrap();
    assert_eq!(summary.done, 20);
    assert_eq!(queue.depth().await.unwrap().done, 20);
    assert!(
        handler
            .calls
            .lock()
            .unwrap()
            .values()
            .all(|calls| *calls == 1)
    );
    let series = queue.metrics().snapshot();
    assert_eq!(series.len(), 1);
    assert_eq!(
        (series[0].kind, series[0].outcome, series[0].count),
        (JobKind::Gate, "done", 20)
    );
}

async fn shutdown_releases_a_job_that_does_not_finish(db: Database) {
    let queue = real_queue(db);
    let handler = Arc::new(RecordingHandler {
        behaviour: Behaviour::Hang,
        ..Default::default()
    });
    let (stop, shutdown) = shutdown_channel();
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(50),
        ..fast_worker("pool-a")
    };
    let started = handler.started.notified();
    let worker = tokio::spawn(run_worker(queue.clone(), handler.clone(), config, shutdown));
    let id = queue.enqueue(&gate_job(1)).await.unwrap();
    started.await;
    stop.trigger();
    let summary = worker.await.unwrap();
    assert_eq!(summary.released, 1);
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        JobStatus::Queued,
        "given back for the next start"
    );
    assert_eq!(stored.attempts, 0, "a release is not an attempt");
    assert!(stored.lease_owner.is_none());
}

async fn panicking_handler_is_retried(db: Database) {
    let queue = real_queue(db);
    let mut events = queue.subscribe();
    let handler = Arc::new(RecordingHandler {
        behaviour: Behaviour::PanicOnFirstAttempt,
        ..Default::default()
    });
    let (stop, shutdown) = shutdown_channel();
    let worker = tokio::spawn(run_worker(
        queue.clone(),
        handler.clone(),
        fast_worker("p"),
        shutdown,
    ));
    let id = queue.enqueue(&gate_job(1)).await.unwrap();
    wait_for(&mut events, |event| {
        matches!(event, JobEvent::Settled { id: done, settled: Settled::Done, .. } if *done == id)
    })
    .await;
    stop.trigger();
    let summary = worker.await.unwrap();
    assert_eq!((summary.retried, summary.done), (1, 1));
    let stored = queue.job(id).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 2);
    assert!(stored.last_error.unwrap().contains("handler bug"));
}

/// Two pools with their own connection pools stand in for two replicas.
async fn two_worker_pools_run_every_job_exactly_once(db: Database) {
    const JOBS: u32 = 200;
    let second_db = match &db {
        Database::Sqlite(pool) => Database::Sqlite(pool.clone()),
        Database::Postgres(pool) => Database::Postgres(
            sqlx::PgPool::connect_with(pool.connect_options().as_ref().clone())
                .await
                .unwrap(),
        ),
    };
    let queues = [real_queue(db), real_queue(second_db)];
    let handler = Arc::new(RecordingHandler {
        expected_calls: JOBS,
        ..Default::default()
    });
    let (stop, shutdown) = shutdown_channel();
    let workers: Vec<_> = queues
        .iter()
        .enumerate()
        .map(|(n, queue)| {
            tokio::spawn(run_worker(
                queue.clone(),
                handler.clone(),
                fast_worker(&format!("replica-{n}")),
                shutdown.clone(),
            ))
        })
        .collect();
    for n in 0..JOBS {
        // Alternate which replica receives the delivery.
        let queue = &queues[n as usize % 2];
        queue
            .enqueue_delivery(&format!("d-{n}"), "pull_request", &gate_job(n))
            .await
            .unwrap();
    }
    handler.all_called.notified().await;
    stop.trigger();
    let mut total = 0;
    let mut pools_used = 0;
    for worker in workers {
        let summary = worker.await.unwrap();
        total += summary.done;
        pools_used += u64::from(summary.done > 0);
        assert_eq!(summary.discarded + summary.failed + summary.retried, 0);
    }
    assert_eq!(total, u64::from(JOBS));
    assert_eq!(pools_used, 2, "both replicas took work");
    let calls = handler.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), JOBS as usize);
    assert!(
        calls.values().all(|n| *n == 1),
        "a job ran twice: {calls:?}"
    );
    assert_eq!(queues[0].depth().await.unwrap().done, u64::from(JOBS));
}

/// The installation record (what the `installation_sync` jobs keep): repos
/// added and removed, and a suspension that arrives before an older
/// unsuspend still wins.
async fn installations_follow_the_webhooks_in_any_order(db: Database) {
    use promptgate::server::InstallationSyncJob;
    use promptgate::server::installations::Installations;
    use promptgate::types::InstallationId;
    let installations = Installations::new(db);
    let repos = |names: &[&str]| names.iter().map(|r| r.parse().unwrap()).collect();
    let sync = |action: &str, added: &[&str], removed: &[&str]| InstallationSyncJob {
        installation: InstallationId(42),
        action: action.to_string(),
        account: Some("octo-org".into()),
        added: repos(added),
        removed: repos(removed),
    };
    installations
        .apply(&sync("created", &["octo-org/a", "octo-org/b"], &[]), 100)
        .await
        .unwrap();
    installations
        .apply(
            &sync("repositories_changed", &["octo-org/c"], &["octo-org/a"]),
            200,
        )
        .await
        .unwrap();
    // Suspended at 400; the unsuspend of 300 runs later but is older.
    installations
        .apply(&sync("suspend", &[], &[]), 400)
        .await
        .unwrap();
    installations
        .apply(&sync("unsuspend", &[], &[]), 300)
        .await
        .unwrap();
    // A repository change says nothing about suspension.
    installations
        .apply(&sync("repositories_changed", &[], &[]), 500)
        .await
        .unwrap();
    let known = installations.list().await.unwrap();
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].repositories, ["octo-org/b", "octo-org/c"]);
    assert!(known[0].suspended);
    assert!(
        installations
            .is_suspended(InstallationId(42))
            .await
            .unwrap()
    );
    assert!(
        !installations.is_suspended(InstallationId(7)).await.unwrap(),
        "unknown: not suspended"
    );

    installations
        .apply(&sync("deleted", &[], &[]), 600)
        .await
        .unwrap();
    assert!(installations.list().await.unwrap().is_empty());
}
