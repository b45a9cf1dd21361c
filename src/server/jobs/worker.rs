//! The worker loop: claim, run the handler under a renewed lease, record the
//! outcome; on shutdown stop claiming, let running jobs finish for a grace
//! period, then give the rest back to the queue.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Job, JobError, JobKind, JobQueue, JobsError, ServerError, Settled};

/// Does the work of a job. The lead's gate handler implements this; the worker
/// owns leases, retries and bookkeeping.
///
/// A handler may be stopped at any `.await` (its job was superseded, or the
/// shutdown grace ran out) and may run again after a crash, so its effects
/// must be safe to repeat.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}

/// Sends each job to the handler registered for its kind; a kind without one
/// fails permanently (this build cannot run it).
#[derive(Default, Clone)]
pub struct KindRouter {
    handlers: BTreeMap<JobKind, Arc<dyn JobHandler>>,
}

impl KindRouter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, kind: JobKind, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind, handler);
        self
    }

    pub fn handles(&self, kind: JobKind) -> bool {
        self.handlers.contains_key(&kind)
    }
}

#[async_trait::async_trait]
impl JobHandler for KindRouter {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        match self.handlers.get(&job.kind) {
            Some(handler) => handler.handle(job).await,
            None => Err(ServerError::NoHandler { kind: job.kind }.into()),
        }
    }
}

/// How a worker pool runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this pool's leases; unique per process (host + pid is typical).
    pub worker_id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for work enqueued by other processes
    /// (or leases that expired). Enqueues in this process wake it at once.
    pub poll_interval: Duration,
    /// How long running jobs may finish after shutdown before they are released.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    pub fn new(worker_id: impl Into<String>) -> Self {
        WorkerConfig {
            worker_id: worker_id.into(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Tells workers (and the HTTP server) to stop.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(Arc<watch::Sender<bool>>);

/// Waits for a [`ShutdownTrigger`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(Arc::new(sender)), Shutdown(receiver))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is triggered (or every trigger is dropped).
    pub async fn wait(&self) {
        let mut receiver = self.0.clone();
        // An error means every trigger is gone: nobody can stop us any more,
        // which we treat as a stop too.
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// What a worker pool did before it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub done: u64,
    pub retried: u64,
    pub failed: u64,
    pub discarded: u64,
    pub released: u64,
}

impl WorkerSummary {
    fn count(&mut self, settled: Settled) {
        match settled {
            Settled::Done => self.done += 1,
            Settled::Retrying { .. } => self.retried += 1,
            Settled::Failed => self.failed += 1,
            Settled::Discarded => self.discarded += 1,
            Settled::Released => self.released += 1,
        }
    }
}

/// Claims and runs jobs until `shutdown`, then drains: no new claims, running
/// jobs get `shutdown_grace` to finish, the rest are released to the queue.
pub async fn run_worker(
    queue: JobQueue,
    handler: Arc<dyn JobHandler>,
    config: WorkerConfig,
    shutdown: Shutdown,
) -> WorkerSummary {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Tells running jobs to stop and give their job back.
    let (release_all, release_signal) = shutdown_channel();
    let mut running: JoinSet<Settled> = JoinSet::new();
    let mut summary = WorkerSummary::default();
    tracing::info!(worker = %config.worker_id, concurrency = config.concurrency, "worker started");

    loop {
        while let Some(finished) = running.try_join_next() {
            record(&mut summary, finished);
        }
        let slot = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        // Registered before the claim so an enqueue between the claim and the
        // wait still wakes us.
        let new_work = queue.new_work().notified();
        tokio::pin!(new_work);
        new_work.as_mut().enable();
        match queue.claim(&config.worker_id, config.lease).await {
            Ok(Some(job)) => {
                running.spawn(run_job(
                    queue.clone(),
                    handler.clone(),
                    config.clone(),
                    job,
                    release_signal.clone(),
                    slot,
                ));
            }
            Ok(None) => {
                drop(slot);
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = &mut new_work => {}
                    _ = tokio::time::sleep(config.poll_interval) => {}
                }
            }
            Err(error) => {
                drop(slot);
                tracing::error!(worker = %config.worker_id, %error, "cannot claim jobs; retrying");
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(config.poll_interval) => {}
                }
            }
        }
    }

    tracing::info!(worker = %config.worker_id, running = running.len(), "worker stopping");
    let grace = tokio::time::sleep(config.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            finished = running.join_next() => match finished {
                Some(finished) => record(&mut summary, finished),
                None => break,
            },
            _ = &mut grace, if !release_signal.is_triggered() => {
                tracing::warn!(worker = %config.worker_id, running = running.len(), "shutdown grace over: releasing running jobs");
                release_all.trigger();
            }
        }
    }
    tracing::info!(worker = %config.worker_id, ?summary, "worker stopped");
    summary
}

fn record(summary: &mut WorkerSummary, finished: Result<Settled, tokio::task::JoinError>) {
    match finished {
        Ok(settled) => summary.count(settled),
        // run_job catches handler panics; this is a bug in the bookkeeping itself.
        Err(error) => tracing::error!(%error, "a job task ended abnormally"),
    }
}

enum Ran {
    Finished(Result<(), JobError>),
    /// The lease could not be renewed: superseded, or taken over.
    LeaseLost,
    /// Shutdown grace ran out.
    Released,
}

async fn run_job(
    queue: JobQueue,
    handler: Arc<dyn JobHandler>,
    config: Arc<WorkerConfig>,
    job: Job,
    release: Shutdown,
    _slot: tokio::sync::OwnedSemaphorePermit,
) -> Settled {
    let span = tracing::info_span!("job", job = %job.id, kind = %job.kind, attempt = job.attempts);
    tracing::info!(parent: &span, "job started");
    let started = Instant::now();

    let mut work =
        Box::pin(AssertUnwindSafe(handler.handle(&job).instrument(span.clone())).catch_unwind());
    let mut renew = tokio::time::interval((config.lease / 3).max(Duration::from_millis(10)));
    renew.tick().await; // the first tick is immediate; the claim just set the lease
    let ran = loop {
        tokio::select! {
            result = &mut work => break Ran::Finished(result.unwrap_or_else(|panic| {
                Err(ServerError::Panicked { message: panic_text(&panic) }.into())
            })),
            _ = renew.tick() => match queue.extend_lease(&job, &config.worker_id, config.lease).await {
                Ok(true) => {}
                Ok(false) => break Ran::LeaseLost,
                // The database may come back before the lease runs out.
                Err(error) => tracing::warn!(parent: &span, %error, "cannot renew the job's lease"),
            },
            _ = release.wait() => break Ran::Released,
        }
    };
    // Stop the handler now (drop its future) in every case but a finished run.
    drop(work);

    let settled = match &ran {
        Ran::Finished(Ok(())) => queue.complete(&job, &config.worker_id).await,
        Ran::Finished(Err(error)) => queue.fail(&job, &config.worker_id, error).await,
        Ran::LeaseLost => Ok(queue.settled(&job, Settled::Discarded)),
        Ran::Released => queue.release(&job, &config.worker_id).await,
    };
    let settled = settled.unwrap_or_else(|error: JobsError| {
        // The row keeps its lease, which expires; the job runs again then.
        tracing::error!(parent: &span, %error, "cannot record the job's outcome");
        Settled::Discarded
    });
    let took = started.elapsed();
    queue.metrics().record(job.kind, settled.label(), took);
    match &ran {
        Ran::Finished(Err(error)) => {
            tracing::warn!(parent: &span, %error, outcome = settled.label(), ?took, "job failed")
        }
        Ran::LeaseLost => {
            tracing::info!(parent: &span, ?took, "job stopped: superseded or taken over; result discarded")
        }
        _ => tracing::info!(parent: &span, outcome = settled.label(), ?took, "job finished"),
    }
    settled
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}
