//! The durable job queue behind `promptgate serve`.
//!
//! A webhook handler only records the delivery and enqueues a job, in one
//! transaction; workers ([`run_worker`]) claim jobs under a lease and run them
//! through a [`JobHandler`]. Everything lives in the database, so a job
//! survives a crash or restart:
//!
//! - **Redeliveries** — the delivery id is the primary key of
//!   `webhook_deliveries`; a second delivery with the same id is
//!   [`EnqueueOutcome::Duplicate`] and creates no job.
//! - **Leases** — a claim sets `lease_owner` and `lease_expires_at`; the worker
//!   renews the lease while the handler runs. A worker that dies (crash,
//!   SIGKILL) stops renewing, the lease runs out and another claim takes the
//!   job again. A crash counts as an attempt, so a job that kills its worker
//!   every time ends `failed` instead of looping.
//! - **Retries** — a handler error re-queues the job with exponential backoff
//!   ([`RetryPolicy`]) until `max_attempts`, then the job is `failed` with the
//!   last error. A permanent error ([`JobError::is_permanent`]) skips the retries.
//! - **Supersede** — a job with a `supersede_key` (e.g. `owner/repo#12`) marks
//!   every older queued *or running* job with the same key `superseded`. A
//!   running one is stopped: its worker's next lease renewal fails, the worker
//!   drops the handler's future and its result is discarded (completing a job
//!   whose lease is gone never changes the row). Handlers must therefore be
//!   safe to stop at an `.await` and to repeat — the same rule a crash imposes.
//!
//! On PostgreSQL several replicas share the queue; a claim takes the oldest due
//! row with `FOR UPDATE SKIP LOCKED`. On SQLite the claim is a single
//! `UPDATE … RETURNING` statement, which SQLite runs under its write lock.

mod enqueue;
mod error;
mod metrics;
mod worker;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::{Notify, broadcast};

use crate::edges::db::{Backend, Database, DatabaseError, per_backend};
use crate::types::{Backoff, Jitter};
use enqueue::{Insert, Stored, store_jobs};
pub use error::{JobError, RepositoryError, ServerError};
pub use metrics::{DURATION_BUCKETS_SECONDS, DurationSeries, JobMetrics};
pub use worker::{
    JobHandler, KindRouter, Shutdown, ShutdownTrigger, WorkerConfig, WorkerSummary, run_worker,
    shutdown_channel,
};

/// A job's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a job does. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Run the gate on a pull request's head.
    Gate,
    /// Publish merged prompt versions and record the new baseline.
    Publish,
    /// Rerun every prompt on a changed model against its baseline.
    ModelRerun,
    /// Refresh which repositories an installation serves.
    InstallationSync,
    /// A diagnostic job (see `server::selftest`): writes marker files, can
    /// simulate slow or hanging work to exercise crash recovery.
    SelfTest,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Gate,
        JobKind::Publish,
        JobKind::ModelRerun,
        JobKind::InstallationSync,
        JobKind::SelfTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Gate => "gate",
            JobKind::Publish => "publish",
            JobKind::ModelRerun => "model_rerun",
            JobKind::InstallationSync => "installation_sync",
            JobKind::SelfTest => "self_test",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown job kind `{text}`"))
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    Superseded,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Superseded => "superseded",
        }
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown job status `{text}`"))
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub kind: JobKind,
    pub payload: serde_json::Value,
    /// Jobs with the same key replace each other: enqueueing this one
    /// supersedes older unfinished ones (e.g. `owner/repo#12` for a pull request).
    pub supersede_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: JobKind, payload: serde_json::Value) -> Self {
        NewJob {
            kind,
            payload,
            supersede_key: None,
        }
    }

    pub fn superseding(mut self, key: impl Into<String>) -> Self {
        self.supersede_key = Some(key.into());
        self
    }
}

/// A job as stored. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub supersede_key: Option<String>,
    pub status: JobStatus,
    /// Claims so far, this one included while running.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_after_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// What [`JobQueue::enqueue_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// A new delivery: its job was stored.
    Enqueued(JobId),
    /// This delivery id was seen before; nothing was stored. `job` is the job
    /// the first delivery created, if any.
    Duplicate { job: Option<JobId> },
}

/// How a claimed job ended, as the queue recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Settled {
    Done,
    /// Re-queued after an error; runs again at `run_after_ms`.
    Retrying {
        run_after_ms: i64,
    },
    /// Out of attempts (or a permanent error): stays failed with its error.
    Failed,
    /// The lease was no longer ours (superseded, or expired and re-claimed):
    /// nothing was written.
    Discarded,
    /// Given back unfinished (graceful shutdown); runs again, attempt not counted.
    Released,
}

impl Settled {
    pub fn label(self) -> &'static str {
        match self {
            Settled::Done => "done",
            Settled::Retrying { .. } => "retrying",
            Settled::Failed => "failed",
            Settled::Discarded => "discarded",
            Settled::Released => "released",
        }
    }
}

/// Something that happened to a job; [`JobQueue::subscribe`] hands these out
/// so tests and operators can wait for work instead of sleeping.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Enqueued {
        id: JobId,
        kind: JobKind,
    },
    Superseded {
        id: JobId,
        by: JobId,
    },
    Claimed {
        id: JobId,
        worker: String,
        attempt: u32,
    },
    Settled {
        id: JobId,
        kind: JobKind,
        settled: Settled,
    },
    /// Claim found a running job whose lease expired after its last attempt.
    LeaseExhausted {
        id: JobId,
    },
}

/// Retries with exponential backoff: attempt `n` failing waits
/// `base * 2^(n-1)`, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt `attempt` (1 for the first) failed. Without
    /// jitter: the wait is stored as the job's `run_after`, and operators
    /// (and tests) should be able to predict it.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let backoff = Backoff {
            first: self.base_delay,
            cap: self.max_delay,
            jitter: Jitter::None,
        };
        backoff.delay(attempt.saturating_sub(1))
    }
}

/// Where the queue gets "now". Tests use [`ManualClock`] to make backoff and
/// lease expiry happen without waiting.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(AtomicI64::new(start_ms))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub superseded: u64,
}

impl QueueDepth {
    pub fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Queued => self.queued,
            JobStatus::Running => self.running,
            JobStatus::Done => self.done,
            JobStatus::Failed => self.failed,
            JobStatus::Superseded => self.superseded,
        }
    }

    pub fn total(&self) -> u64 {
        JobStatus::ALL
            .into_iter()
            .map(|status| self.get(status))
            .sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(
        "job {id} in the database is unreadable ({problem}); was it written by another promptgate version?"
    )]
    Corrupt { id: i64, problem: String },
    #[error("the delivery's commit was abandoned; it is not known to be stored")]
    Interrupted,
}

impl From<sqlx::Error> for JobsError {
    fn from(error: sqlx::Error) -> Self {
        JobsError::Database(DatabaseError::Query(error))
    }
}

/// The job queue: cheap to clone, shared by the HTTP handlers and the workers.
#[derive(Debug, Clone)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    /// Wakes idle workers of this process when a job is enqueued here.
    new_work: Notify,
    events: broadcast::Sender<JobEvent>,
    metrics: JobMetrics,
    /// Deliveries waiting for the next group commit.
    pending: std::sync::Mutex<Vec<PendingDelivery>>,
    /// Held while a batch of deliveries commits.
    committer: tokio::sync::Mutex<()>,
}

/// A delivery waiting to be committed, and where its outcome goes.
#[derive(Debug)]
struct PendingDelivery {
    delivery_id: String,
    event: String,
    job: NewJob,
    reply: tokio::sync::oneshot::Sender<Result<EnqueueOutcome, JobsError>>,
}

const JOB_COLUMNS: &str = "id, kind, payload, supersede_key, status, attempts, max_attempts, run_after, \
     lease_owner, lease_expires_at, last_error, created_at, updated_at, finished_at";

/// Decodes a `jobs` row (selected with [`JOB_COLUMNS`]) from either backend.
macro_rules! job_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: i64 = row.try_get("id")?;
        let corrupt = |problem: String| JobsError::Corrupt { id, problem };
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        let payload: String = row.try_get("payload")?;
        let attempts: i64 = row.try_get("attempts")?;
        let max_attempts: i64 = row.try_get("max_attempts")?;
        Job {
            id: JobId(id),
            kind: kind.parse().map_err(corrupt)?,
            payload: serde_json::from_str(&payload)
                .map_err(|error| corrupt(format!("payload is not JSON: {error}")))?,
            supersede_key: row.try_get("supersede_key")?,
            status: status.parse().map_err(corrupt)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
            run_after_ms: row.try_get("run_after")?,
            lease_owner: row.try_get("lease_owner")?,
            lease_expires_at_ms: row.try_get("lease_expires_at")?,
            last_error: row.try_get("last_error")?,
            created_at_ms: row.try_get("created_at")?,
            updated_at_ms: row.try_get("updated_at")?,
            finished_at_ms: row.try_get("finished_at")?,
        }
    }};
}

impl JobQueue {
    /// A queue over `db` (already migrated) with the system clock.
    pub fn new(db: Database, retry: RetryPolicy) -> Self {
        Self::with_clock(db, retry, Arc::new(SystemClock))
    }

    pub fn with_clock(db: Database, retry: RetryPolicy, clock: Arc<dyn Clock>) -> Self {
        let (events, _) = broadcast::channel(4096);
        JobQueue {
            inner: Arc::new(Inner {
                db,
                clock,
                retry,
                new_work: Notify::new(),
                events,
                metrics: JobMetrics::default(),
                pending: std::sync::Mutex::default(),
                committer: tokio::sync::Mutex::default(),
            }),
        }
    }

    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    pub fn metrics(&self) -> &JobMetrics {
        &self.inner.metrics
    }

    /// Every [`JobEvent`] from now on (of this process's queue handle and its clones).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn emit(&self, event: JobEvent) {
        // No subscribers is normal; the send error only says that.
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn new_work(&self) -> &Notify {
        &self.inner.new_work
    }

    /// Records a webhook delivery and enqueues its job, in one transaction. A
    /// delivery id seen before is [`EnqueueOutcome::Duplicate`] and stores nothing.
    ///
    /// Deliveries arriving together share a transaction (group commit): the
    /// first to find no commit under way commits everything queued so far;
    /// those arriving meanwhile queue for the next commit. Each call returns
    /// only once its delivery is committed, so an acknowledgement never
    /// precedes the write, and a burst costs one commit per batch instead
    /// of one per delivery (SQLite has one writer; waiting for it in turn is
    /// what made a burst slow).
    pub async fn enqueue_delivery(
        &self,
        delivery_id: &str,
        event: &str,
        job: &NewJob,
    ) -> Result<EnqueueOutcome, JobsError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingDelivery {
                delivery_id: delivery_id.to_string(),
                event: event.to_string(),
                job: job.clone(),
                reply,
            });
        {
            // One commit at a time; whoever holds the turn takes every
            // delivery queued by then (ours, unless an earlier turn took it).
            let _turn = self.inner.committer.lock().await;
            let batch =
                std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|e| e.into_inner()));
            if !batch.is_empty() {
                // Its own task: a client hanging up must not cancel a commit
                // that other deliveries wait for.
                let queue = self.clone();
                let _ = tokio::spawn(async move { queue.commit_deliveries(batch).await }).await;
            }
        }
        answer.await.unwrap_or_else(|_| {
            // Only if the committing task panicked: not known to be
            // stored, so not acknowledged.
            Err(JobsError::Interrupted)
        })
    }

    /// Enqueues a job that no delivery asked for (a scheduled rerun).
    pub async fn enqueue(&self, job: &NewJob) -> Result<JobId, JobsError> {
        match self.enqueue_inner(None, job).await? {
            EnqueueOutcome::Enqueued(id) => Ok(id),
            // Unreachable without a delivery id, but answer it honestly.
            EnqueueOutcome::Duplicate { job } => Ok(job.unwrap_or(JobId(0))),
        }
    }

    async fn enqueue_inner(
        &self,
        delivery: Option<(&str, &str)>,
        job: &NewJob,
    ) -> Result<EnqueueOutcome, JobsError> {
        let mut stored = self.store(&[Insert { delivery, job }]).await?;
        let (outcome, superseded) = stored
            .pop()
            .unwrap_or((EnqueueOutcome::Duplicate { job: None }, Vec::new()));
        self.announce(job, outcome, superseded);
        Ok(outcome)
    }

    /// Stores `items` in one transaction ([`enqueue::store_jobs`]).
    async fn store(&self, items: &[Insert<'_>]) -> Result<Vec<Stored>, JobsError> {
        let now = self.now();
        let max_attempts = i64::from(self.inner.retry.max_attempts.max(1));
        let is_postgres = self.inner.db.backend() == Backend::Postgres;
        Ok(per_backend!(&self.inner.db, pool => {
            store_jobs!(pool, items, max_attempts, now, is_postgres)
        }))
    }

    /// Tells this process's workers and subscribers about a committed enqueue.
    fn announce(&self, job: &NewJob, outcome: EnqueueOutcome, superseded: Vec<JobId>) {
        if let EnqueueOutcome::Enqueued(id) = outcome {
            for old in superseded {
                tracing::info!(job = %old, by = %id, "job superseded");
                self.emit(JobEvent::Superseded { id: old, by: id });
            }
            self.emit(JobEvent::Enqueued { id, kind: job.kind });
            self.inner.new_work.notify_waiters();
        }
    }

    /// Commits a batch of deliveries in one transaction and answers each
    /// waiter only after the commit: nothing is acknowledged that is not
    /// stored. If the batch fails as a whole (one bad item aborts a
    /// transaction), each delivery is retried in a transaction of its own,
    /// so one failure is answered as that delivery's alone.
    async fn commit_deliveries(&self, batch: Vec<PendingDelivery>) {
        let items: Vec<Insert<'_>> = batch
            .iter()
            .map(|item| Insert {
                delivery: Some((item.delivery_id.as_str(), item.event.as_str())),
                job: &item.job,
            })
            .collect();
        let together = self.store(&items).await;
        match together {
            Ok(outcomes) => {
                tracing::debug!(deliveries = batch.len(), "deliveries committed together");
                for (item, (outcome, superseded)) in batch.into_iter().zip(outcomes) {
                    self.announce(&item.job, outcome, superseded);
                    let _ = item.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::warn!(deliveries = batch.len(), %error, "a batch of deliveries failed; storing them one by one");
                for item in batch {
                    let outcome = self
                        .enqueue_inner(Some((&item.delivery_id, &item.event)), &item.job)
                        .await;
                    let _ = item.reply.send(outcome);
                }
            }
        }
    }

    /// Takes the oldest due job (queued and due, or running with an expired
    /// lease) for `worker_id` until `now + lease`. Running jobs whose lease ran
    /// out on their last attempt are marked failed first.
    pub async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<Job>, JobsError> {
        let now = self.now();
        let exhausted: Vec<i64> = per_backend!(&self.inner.db, pool => {
            sqlx::query(
                "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, \
                 updated_at = $1, finished_at = $1, \
                 last_error = 'the worker running the last attempt stopped (crash or kill) before finishing' \
                 WHERE status = 'running' AND lease_expires_at <= $1 AND attempts >= max_attempts \
                 RETURNING id",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?
        });
        for id in exhausted {
            tracing::warn!(
                job = id,
                "job failed: its lease expired on the last attempt"
            );
            self.emit(JobEvent::LeaseExhausted { id: JobId(id) });
        }

        let lock = match self.inner.db.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_expires_at = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs \
                 WHERE (status = 'queued' AND run_after <= $3) \
                    OR (status = 'running' AND lease_expires_at <= $3) \
                 ORDER BY run_after, id LIMIT 1{lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let job = per_backend!(&self.inner.db, pool => {
            match sqlx::query(&sql)
                .bind(worker_id)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Some(job_from_row!(&row)),
                None => None,
            }
        });
        if let Some(job) = &job {
            self.emit(JobEvent::Claimed {
                id: job.id,
                worker: worker_id.to_string(),
                attempt: job.attempts,
            });
        }
        Ok(job)
    }

    /// Pushes the lease of a job this worker runs to `now + lease`. `false`
    /// means the job is no longer ours (superseded, or the lease expired and
    /// another claim took it): stop working on it.
    pub async fn extend_lease(
        &self,
        job: &Job,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, JobsError> {
        let now = self.now();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let changed = per_backend!(&self.inner.db, pool => {
            sqlx::query(
                "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'running' AND lease_owner = $4 AND attempts = $5",
            )
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(job.id.0)
            .bind(worker_id)
            .bind(i64::from(job.attempts))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Applies an update to a job only while this worker's claim on it holds
    /// (same owner, same attempt, still running).
    async fn settle(
        &self,
        job: &Job,
        worker_id: &str,
        set: &str,
        binds: SettleBinds<'_>,
    ) -> Result<bool, JobsError> {
        let sql = format!(
            "UPDATE jobs SET {set}, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'running' AND lease_owner = $3 AND attempts = $4"
        );
        let changed = per_backend!(&self.inner.db, pool => {
            sqlx::query(&sql)
                .bind(self.now())
                .bind(job.id.0)
                .bind(worker_id)
                .bind(i64::from(job.attempts))
                .bind(binds.run_after)
                .bind(binds.error)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    fn settled(&self, job: &Job, settled: Settled) -> Settled {
        self.emit(JobEvent::Settled {
            id: job.id,
            kind: job.kind,
            settled,
        });
        settled
    }

    /// Marks a claimed job done.
    pub async fn complete(&self, job: &Job, worker_id: &str) -> Result<Settled, JobsError> {
        let applied = self
            .settle(
                job,
                worker_id,
                "status = 'done', finished_at = $1, run_after = COALESCE($5, run_after), \
                 last_error = COALESCE($6, last_error)",
                SettleBinds::default(),
            )
            .await?;
        Ok(self.settled(
            job,
            if applied {
                Settled::Done
            } else {
                Settled::Discarded
            },
        ))
    }

    /// Records a handler error: re-queued with backoff while attempts remain
    /// (and the error is not permanent), otherwise `failed` with the error.
    pub async fn fail(
        &self,
        job: &Job,
        worker_id: &str,
        error: &JobError,
    ) -> Result<Settled, JobsError> {
        let retry = self.inner.retry;
        let out_of_attempts = job.attempts >= job.max_attempts;
        let (set, settled) = if error.is_permanent() || out_of_attempts {
            (
                "status = 'failed', finished_at = $1, run_after = COALESCE($5, run_after), last_error = $6",
                Settled::Failed,
            )
        } else {
            let delay = retry.delay_after(job.attempts);
            let run_after_ms = self.now().saturating_add(delay.as_millis() as i64);
            (
                "status = 'queued', run_after = $5, last_error = $6",
                Settled::Retrying { run_after_ms },
            )
        };
        let run_after = match settled {
            Settled::Retrying { run_after_ms } => Some(run_after_ms),
            _ => None,
        };
        let message = error.to_string();
        let applied = self
            .settle(
                job,
                worker_id,
                set,
                SettleBinds {
                    run_after,
                    error: Some(&message),
                },
            )
            .await?;
        Ok(self.settled(job, if applied { settled } else { Settled::Discarded }))
    }

    /// Gives a claimed job back unfinished (graceful shutdown): queued again,
    /// due now, and this attempt is not counted.
    pub async fn release(&self, job: &Job, worker_id: &str) -> Result<Settled, JobsError> {
        let applied = self
            .settle(
                job,
                worker_id,
                "status = 'queued', attempts = attempts - 1, run_after = COALESCE($5, run_after), last_error = COALESCE($6, last_error)",
                SettleBinds { run_after: Some(self.now()), error: None },
            )
            .await?;
        Ok(self.settled(
            job,
            if applied {
                Settled::Released
            } else {
                Settled::Discarded
            },
        ))
    }

    /// One job by id.
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, JobsError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(per_backend!(&self.inner.db, pool => {
            match sqlx::query(&sql).bind(id.0).fetch_optional(pool).await? {
                Some(row) => Some(job_from_row!(&row)),
                None => None,
            }
        }))
    }

    /// Every job, oldest first (for diagnostics and tests; not paged).
    pub async fn jobs(&self) -> Result<Vec<Job>, JobsError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id");
        per_backend!(&self.inner.db, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut jobs = Vec::with_capacity(rows.len());
            for row in &rows {
                jobs.push(job_from_row!(row));
            }
            Ok(jobs)
        })
    }

    /// How many jobs are in each state (the `/metrics` queue depth).
    pub async fn depth(&self) -> Result<QueueDepth, JobsError> {
        let rows: Vec<(String, i64)> = per_backend!(&self.inner.db, pool => {
            sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("status")?, row.try_get("n")?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        let mut depth = QueueDepth::default();
        for (status, count) in rows {
            let count = u64::try_from(count).unwrap_or(0);
            match status.parse::<JobStatus>() {
                Ok(JobStatus::Queued) => depth.queued = count,
                Ok(JobStatus::Running) => depth.running = count,
                Ok(JobStatus::Done) => depth.done = count,
                Ok(JobStatus::Failed) => depth.failed = count,
                Ok(JobStatus::Superseded) => depth.superseded = count,
                Err(_) => {}
            }
        }
        Ok(depth)
    }
}

/// The two values a settle statement may bind (`$5`, `$6`).
#[derive(Default)]
struct SettleBinds<'a> {
    run_after: Option<i64>,
    error: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(20),
        };
        let delays: Vec<u64> = (1..=6).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 20, 20]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_secs(20));
    }

    #[test]
    fn kinds_and_statuses_round_trip_their_names() {
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().parse::<JobKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
        assert!("gate2".parse::<JobKind>().is_err());
    }
}
