//! The runner stage: cases × repeats → provider calls, with the response
//! cache ([`cache`]), bounded concurrency, rate limits, retries and cost
//! accounting ([`pricing`]).
//!
//! Plain data in ([`Call`]s), plain data out ([`CallOutcome`]s in the same
//! order). A failed call is an outcome with `result: Err(..)`, never
//! dropped; the run always finishes unless interrupted.

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::pipeline::config::{Config, ProviderConfig, ProviderKind};
use crate::pipeline::provider::{self, Provider, ProviderError};
use crate::types::{
    Backoff, CallOutcome, CallStats, ChatRequest, Completion, Jitter, ModelId, Usage,
};

pub mod cache;
pub mod pricing;

use cache::{CacheKey, CachedResponse, ResponseCache};
use pricing::PriceTable;

/// A provider plus the limits every call to it shares: one handle per
/// alias per run, cloned into each [`Call`].
#[derive(Clone)]
pub struct ProviderHandle {
    inner: Arc<HandleInner>,
    /// Per attempt, from `timeout_s`.
    timeout: Duration,
}

struct HandleInner {
    alias: String,
    kind: ProviderKind,
    provider: Arc<dyn Provider>,
    describe: String,
    in_flight: Semaphore,
    concurrency: usize,
    rate: Option<RateLimiter>,
    max_retries: u32,
    /// Set after a 401/403: the key is wrong, so later calls fail at once
    /// with the same message instead of each being refused again.
    refused: OnceLock<String>,
    /// Requests actually sent (attempts, retries included).
    requests: AtomicU64,
}

impl std::fmt::Debug for ProviderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHandle")
            .field("alias", &self.inner.alias)
            .field("describe", &self.inner.describe)
            .finish_non_exhaustive()
    }
}

impl ProviderHandle {
    /// Wraps a built provider with the limits from its config table.
    pub fn new(alias: &str, provider: Arc<dyn Provider>, config: &ProviderConfig) -> Self {
        let describe = provider.describe();
        Self {
            inner: Arc::new(HandleInner {
                alias: alias.to_string(),
                kind: config.kind,
                provider,
                describe,
                in_flight: Semaphore::new(config.concurrency.max(1)),
                concurrency: config.concurrency.max(1),
                rate: config
                    .requests_per_minute
                    .filter(|&rpm| rpm > 0)
                    .map(RateLimiter::per_minute),
                max_retries: config.max_retries,
                refused: OnceLock::new(),
                requests: AtomicU64::new(0),
            }),
            timeout: Duration::from_secs(config.timeout_s.max(1)),
        }
    }

    /// Builds the provider from its table (reading its key now) and wraps it.
    pub fn from_config(alias: &str, config: &ProviderConfig) -> Result<Self, ProviderError> {
        Ok(Self::new(alias, provider::build(alias, config)?, config))
    }

    /// The same provider and shared limits, with a per-attempt timeout finer
    /// than the config's whole seconds.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn alias(&self) -> &str {
        &self.inner.alias
    }

    pub fn kind(&self) -> ProviderKind {
        self.inner.kind
    }

    /// Kind and endpoint, as in cache keys and reports.
    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// False for `echo`: its outputs are not a model's.
    pub fn is_model(&self) -> bool {
        self.inner.provider.is_model()
    }

    /// HTTP requests sent through this handle so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

/// The providers of one run, by alias, built on first use from
/// `[providers]` or the built-in defaults, so calls to one alias share its
/// concurrency and rate limits.
pub struct ProviderPool {
    config: Config,
    handles: Mutex<HashMap<String, ProviderHandle>>,
    /// False when the pool only prices calls (`eval --estimate`): knowing
    /// what a run would cost must not need the key that pays for it.
    keys_needed: bool,
}

impl ProviderPool {
    pub fn new(config: &Config) -> Self {
        Self {
            config: config.clone(),
            handles: Mutex::new(HashMap::new()),
            keys_needed: true,
        }
    }

    /// A pool whose providers are built without their keys: for routing
    /// and pricing calls, never for sending them.
    pub fn without_keys(config: &Config) -> Self {
        Self {
            keys_needed: false,
            ..Self::new(config)
        }
    }

    /// The handle for a model and the model name to send, routed by the
    /// config ([`Config::provider_for`]: configured aliases, GitHub Models,
    /// the built-ins). Fails, naming the variable, when the key is missing.
    pub fn route(&self, model: &ModelId) -> Result<(ProviderHandle, String), ProviderError> {
        let route = self.config.provider_for(model);
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = handles.get(&route.alias) {
            return Ok((handle.clone(), route.model));
        }
        let handle = if self.keys_needed {
            ProviderHandle::from_config(&route.alias, &route.config)?
        } else {
            let provider = provider::build_with_key(&route.alias, &route.config, None)?;
            ProviderHandle::new(&route.alias, provider, &route.config)
        };
        handles.insert(route.alias.clone(), handle.clone());
        Ok((handle, route.model))
    }
}

/// One provider call to make.
#[derive(Debug, Clone)]
pub struct Call {
    pub provider: ProviderHandle,
    pub request: ChatRequest,
    /// Which repeat of the case this is (0-based); part of the cache key.
    pub repeat: u32,
    /// Names the call in errors, e.g. `support-bot / case 12 / repeat 2`.
    pub label: String,
}

impl Call {
    /// What the response cache files this call's answer under.
    pub fn cache_key(&self) -> CacheKey {
        CacheKey::new(self.provider.describe(), &self.request, self.repeat)
    }
}

/// Whether `cache` would answer each call (nothing is sent): one read
/// transaction for all, and no keys computed when no cache can answer.
pub fn cached(cache: &ResponseCache, calls: &[Call]) -> Vec<bool> {
    if !cache.may_answer() {
        return vec![false; calls.len()];
    }
    let keys: Vec<CacheKey> = calls.iter().map(Call::cache_key).collect();
    cache.contains_many(&keys)
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar on a terminal; plain lines when `CI=true` or not a terminal.
    #[default]
    Auto,
    Bar,
    Lines,
    Hidden,
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub progress: ProgressMode,
    /// The wait before each retry when the server names none: exponential,
    /// full jitter (many calls retry at once; spreading them helps most).
    pub retry: Backoff,
    /// Longest server-requested wait honoured (`Retry-After` and kin).
    pub max_server_wait: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            progress: ProgressMode::Auto,
            retry: Backoff {
                first: Duration::from_millis(500),
                cap: Duration::from_secs(30),
                jitter: Jitter::Full,
            },
            max_server_wait: Duration::from_secs(120),
        }
    }
}

/// The outcomes of a batch, in input order, with their totals.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    pub outcomes: Vec<CallOutcome>,
    pub totals: CallStats,
}

/// A run made in batches ([`Runner::batches`]): one progress, one total,
/// one Ctrl-C for all of them.
pub struct Batches<'s> {
    progress: Progress,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 's>>,
}

impl Batches<'_> {
    /// Every batch ran: the progress bar goes.
    pub fn finish(self) {
        self.progress.finish();
    }
}

/// Completes on Ctrl-C; never, when the handler cannot be installed.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A call of a batch the cache did not answer up front.
struct Uncached {
    /// Its place in the batch.
    index: usize,
    call: Call,
    key: CacheKey,
    /// Another call of the batch has the same key: it looks in the cache
    /// again when it starts, in case that one was answered meanwhile.
    shared_key: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error(
        "interrupted after {finished} of {total} calls; finished answers are cached, \
         so running again resumes where this stopped"
    )]
    Interrupted { finished: usize, total: usize },
}

/// Makes calls: cache first, then the provider under its limits, with
/// retries; prices every answer.
pub struct Runner {
    cache: ResponseCache,
    prices: PriceTable,
    options: RunnerOptions,
    writes: Arc<PendingWrites>,
}

/// Answers waiting to be written, and the one writer draining them on a
/// blocking thread. While a transaction commits, new answers queue up and
/// go into the next one together (group commit), so the cost of a commit is
/// shared by every answer that arrived during the last one and never sits on
/// the task that polls the calls. [`Runner::flush`] waits for the queue.
#[derive(Default)]
struct PendingWrites {
    /// Answers received and not yet committed (queued or in a transaction).
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
    queue: Mutex<Vec<(CacheKey, CachedResponse)>>,
    /// A writer is draining the queue.
    writing: std::sync::atomic::AtomicBool,
}

impl PendingWrites {
    fn finish(&self, written: usize) {
        if self.count.fetch_sub(written, Ordering::SeqCst) == written {
            self.idle.notify_waiters();
        }
    }

    fn take(&self) -> Vec<(CacheKey, CachedResponse)> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Commits queued answers until the queue stays empty. Run by exactly
    /// one thread at a time (the one that set `writing`).
    fn drain(&self, cache: &ResponseCache) {
        loop {
            let batch = self.take();
            if batch.is_empty() {
                self.writing.store(false, Ordering::SeqCst);
                // An answer queued after `take` but before the flag dropped
                // found a writer still running: take it over unless another
                // writer already did.
                let queued = !self
                    .queue
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty();
                if queued && !self.writing.swap(true, Ordering::SeqCst) {
                    continue;
                }
                return;
            }
            if let Err(error) = cache.put_many(&batch) {
                tracing::warn!("{error}");
            }
            self.finish(batch.len());
        }
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a write finishing in between
            // still wakes us.
            notified.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Runner {
    pub fn new(cache: ResponseCache, prices: PriceTable, options: RunnerOptions) -> Self {
        Self {
            cache,
            prices,
            options,
            writes: Arc::default(),
        }
    }

    /// Waits until every answer received so far is in the cache. Batches
    /// flush before they return; single calls write in the background.
    pub async fn flush(&self) {
        self.writes.wait_idle().await;
    }

    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Runs the batch; Ctrl-C stops it cleanly ([`RunError::Interrupted`]).
    pub async fn run(&self, calls: Vec<Call>) -> Result<RunOutput, RunError> {
        self.run_until(calls, ctrl_c()).await
    }

    /// Runs the batch until done or until `shutdown` completes (see
    /// [`Runner::run_batch`]).
    pub async fn run_until(
        &self,
        calls: Vec<Call>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunOutput, RunError> {
        let mut batches = self.batches_until(calls.len(), shutdown);
        let output = self.run_batch(&mut batches, calls).await?;
        batches.finish();
        Ok(output)
    }

    /// Starts a run of `total` calls made in several batches
    /// ([`Runner::run_batch`]), shown as one and stopped by Ctrl-C: an
    /// evaluation executed a chunk at a time, so that its calls never all
    /// exist at once.
    pub fn batches(&self, total: usize) -> Batches<'static> {
        self.batches_until(total, ctrl_c())
    }

    /// [`Runner::batches`], stopped when `shutdown` completes.
    pub fn batches_until<'s>(
        &self,
        total: usize,
        shutdown: impl Future<Output = ()> + Send + 's,
    ) -> Batches<'s> {
        Batches {
            progress: Progress::start(self.options.progress, total),
            shutdown: Box::pin(shutdown),
        }
    }

    /// Runs one batch of `batches` until done or until their shutdown
    /// (Ctrl-C). On shutdown, calls in flight are abandoned: every finished
    /// call is stored in the cache before this returns, nothing else is,
    /// and the cache only ever holds whole entries.
    pub async fn run_batch(
        &self,
        batches: &mut Batches<'_>,
        calls: Vec<Call>,
    ) -> Result<RunOutput, RunError> {
        let total = calls.len();
        let progress = &batches.progress;
        let mut slots: Vec<Option<CallOutcome>> = vec![None; total];
        // Answers the cache holds are read first, all in one transaction;
        // only the other calls are queued. A call whose key another call of
        // the batch shares looks again when it starts, so an identical call
        // answered meanwhile is not asked twice; the rest were just looked
        // up and go straight to their provider.
        let keyed = self.answer_from_cache(calls, &mut slots);
        for outcome in slots.iter().flatten() {
            progress.record(outcome);
        }
        // One queue per provider, each keeping at most twice its concurrency
        // in flight (room for calls sleeping before a retry), so a slow
        // provider never holds up another and memory stays bounded however
        // large the batch. The semaphores do the real limiting.
        #[allow(clippy::type_complexity)]
        let mut queues: Vec<(ProviderHandle, Vec<Uncached>)> = Vec::new();
        for uncached in keyed {
            match queues
                .iter_mut()
                .find(|(handle, _)| Arc::ptr_eq(&handle.inner, &uncached.call.provider.inner))
            {
                Some((_, queue)) => queue.push(uncached),
                None => queues.push((uncached.call.provider.clone(), vec![uncached])),
            }
        }
        let streams = queues.into_iter().map(|(handle, queue)| {
            futures::stream::iter(queue)
                .map(|uncached| async move {
                    let Uncached {
                        index,
                        call,
                        key,
                        shared_key,
                    } = uncached;
                    let outcome = if shared_key {
                        self.complete_with_key(&call, key).await
                    } else {
                        self.call_and_store(&call, key).await
                    };
                    (index, outcome)
                })
                .buffer_unordered(handle.inner.concurrency.saturating_mul(2))
                .boxed()
        });
        let mut stream = futures::stream::select_all(streams);
        loop {
            tokio::select! {
                next = stream.next() => match next {
                    Some((index, outcome)) => {
                        progress.record(&outcome);
                        slots[index] = Some(outcome);
                    }
                    None => break,
                },
                () = &mut batches.shutdown => {
                    // Calls in flight are dropped here; what finished is kept.
                    drop(stream);
                    self.flush().await;
                    batches.progress.abandon();
                    return Err(RunError::Interrupted {
                        finished: batches.progress.done() as usize,
                        total: batches.progress.total,
                    });
                }
            }
        }
        self.flush().await;
        let outcomes: Vec<CallOutcome> = slots.into_iter().flatten().collect();
        let totals = CallStats::from_outcomes(&outcomes);
        Ok(RunOutput { outcomes, totals })
    }

    /// Fills `slots` with the outcomes of the calls the cache answers (one
    /// read transaction for all); returns the others, numbered, with their
    /// keys.
    fn answer_from_cache(
        &self,
        calls: Vec<Call>,
        slots: &mut [Option<CallOutcome>],
    ) -> Vec<Uncached> {
        let keys: Vec<CacheKey> = calls.iter().map(Call::cache_key).collect();
        let hits = if self.cache.may_answer() {
            self.cache.get_many(&keys)
        } else {
            vec![None; keys.len()]
        };
        // Counted over the whole batch: a key that repeats is either
        // answered for every copy or for none.
        let shared: Vec<bool> = {
            let mut uses: HashMap<&CacheKey, usize> = HashMap::with_capacity(keys.len());
            for key in &keys {
                *uses.entry(key).or_default() += 1;
            }
            keys.iter().map(|key| uses[key] > 1).collect()
        };
        let mut rest = Vec::new();
        for (index, (((call, key), hit), shared_key)) in calls
            .into_iter()
            .zip(keys)
            .zip(hits)
            .zip(shared)
            .enumerate()
        {
            match hit {
                Some(hit) => {
                    slots[index] =
                        Some(self.outcome(&call, Ok(hit.completion), hit.latency_ms, true));
                }
                None => rest.push(Uncached {
                    index,
                    call,
                    key,
                    shared_key,
                }),
            }
        }
        rest
    }

    /// One call (e.g. an LLM judge's) with the same cache, limits, retries
    /// and pricing as a batch.
    pub async fn complete_one(&self, call: &Call) -> CallOutcome {
        self.complete_with_key(call, call.cache_key()).await
    }

    /// [`Runner::complete_one`] with the call's key already computed.
    async fn complete_with_key(&self, call: &Call, key: CacheKey) -> CallOutcome {
        if let Some(hit) = self.cache.get(&key) {
            return self.outcome(call, Ok(hit.completion), hit.latency_ms, true);
        }
        self.call_and_store(call, key).await
    }

    /// Asks the provider (the cache was looked in already) and queues the
    /// answer for the cache.
    async fn call_and_store(&self, call: &Call, key: CacheKey) -> CallOutcome {
        match self.call_with_retries(call).await {
            Ok((completion, latency_ms)) => {
                self.store(
                    key,
                    CachedResponse {
                        completion: completion.clone(),
                        latency_ms,
                    },
                );
                self.outcome(call, Ok(completion), latency_ms, false)
            }
            Err(message) => self.outcome(call, Err(message), 0, false),
        }
    }

    /// Queues an answer for the cache's writer. Not awaited: once queued,
    /// an answer is committed even if the run is interrupted (whole, in a
    /// transaction), so a call counts as finished exactly when it is queued.
    fn store(&self, key: CacheKey, entry: CachedResponse) {
        if self.cache.mode() == crate::pipeline::runner::cache::CacheMode::Off {
            return;
        }
        let writes = &self.writes;
        writes.count.fetch_add(1, Ordering::SeqCst);
        writes
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, entry));
        if !writes.writing.swap(true, Ordering::SeqCst) {
            let cache = self.cache.clone();
            let writes = writes.clone();
            tokio::task::spawn_blocking(move || writes.drain(&cache));
        }
    }

    fn outcome(
        &self,
        call: &Call,
        result: Result<Completion, String>,
        latency_ms: u64,
        cached: bool,
    ) -> CallOutcome {
        let handle = &call.provider;
        match result {
            Ok(completion) => CallOutcome {
                cost_usd: self.prices.cost(
                    handle.kind(),
                    handle.alias(),
                    &call.request.model,
                    completion.usage,
                ),
                usage: completion.usage,
                result: Ok(completion.text),
                latency_ms,
                cached,
            },
            Err(message) => CallOutcome {
                result: Err(message),
                usage: Usage::default(),
                latency_ms,
                cost_usd: Some(0.0),
                cached,
            },
        }
    }

    /// The provider's answer and its latency, or a message that names the
    /// call, the provider and what to do.
    async fn call_with_retries(&self, call: &Call) -> Result<(Completion, u64), String> {
        let inner = &call.provider.inner;
        let timeout = call.provider.timeout;
        let mut attempt = 0;
        loop {
            let result = {
                let _permit = inner
                    .in_flight
                    .acquire()
                    .await
                    .map_err(|_| format!("{}: the provider pool was shut down", call.label))?;
                // Checked after waiting for a slot: the refusal may have
                // arrived while this call queued.
                if let Some(refusal) = inner.refused.get() {
                    return Err(format!("{}: {refusal}", call.label));
                }
                if let Some(rate) = &inner.rate {
                    rate.wait().await;
                }
                inner.requests.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                match tokio::time::timeout(timeout, inner.provider.complete(&call.request)).await {
                    Ok(Ok(completion)) => Ok((completion, elapsed_ms(started))),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(ProviderError::Timeout(timeout)),
                }
            };
            // Only a request actually sent gets here (cache hits never reach this loop).
            crate::pipeline::call_counters::record_provider_call(inner.kind, result.as_ref().err());
            let error = match result {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if error.is_retryable() && attempt < inner.max_retries {
                let wait = self.backoff(attempt, &error);
                if let (Some(rate), Some(server_wait)) = (&inner.rate, error.retry_after()) {
                    // The server throttles the whole key, not just this call.
                    rate.pause(server_wait.min(self.options.max_server_wait));
                }
                tracing::debug!(
                    call = %call.label,
                    attempt = attempt + 1,
                    wait_ms = wait.as_millis() as u64,
                    "retrying after: {error}"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Err(self.final_error(call, &error, attempt));
        }
    }

    /// The server's requested wait when it gave one; otherwise the
    /// configured backoff.
    fn backoff(&self, attempt: u32, error: &ProviderError) -> Duration {
        match error.retry_after() {
            Some(wait) => wait.min(self.options.max_server_wait),
            None => self.options.retry.delay(attempt),
        }
    }

    fn final_error(&self, call: &Call, error: &ProviderError, retries: u32) -> String {
        let handle = &call.provider;
        let inner = &handle.inner;
        let prompt_excerpt = call
            .request
            .messages
            .last()
            .map(|message| shorten(&message.content, 80))
            .unwrap_or_default();
        let hint = match error {
            ProviderError::Http { status: 401, .. } | ProviderError::Http { status: 403, .. } => {
                " — the provider refused the key: check the variable named by `api_key_env` \
                 (and for GitHub Models, `permissions: models: read`)"
            }
            ProviderError::Http { status: 404, .. } => {
                " — check the model name and the provider's base_url"
            }
            ProviderError::Http {
                status: 400 | 422, ..
            } => " — the provider rejected the request: check modelParameters and responseFormat",
            ProviderError::Timeout(_) => " — raise `timeout_s` for this provider if calls are slow",
            ProviderError::Transport(message) => transport_hint(message),
            ProviderError::Http {
                status: 429 | 529, ..
            } => {
                " — the provider is throttling: lower `concurrency` or \
                 `requests_per_minute`, or run again (finished calls are cached)"
            }
            _ if error.is_retryable() => {
                " — the provider kept failing: run again later (finished calls are cached)"
            }
            _ => "",
        };
        let tries = if retries > 0 {
            format!(" after {} attempts", retries + 1)
        } else {
            String::new()
        };
        let what = format!(
            "{} ({}, model {}){tries}: {error}{hint}",
            handle.alias(),
            handle.describe(),
            call.request.model
        );
        if matches!(
            error,
            ProviderError::Http {
                status: 401 | 403,
                ..
            }
        ) && inner.refused.set(what.clone()).is_ok()
        {
            // Reported once; later calls to this provider fail fast with it.
            tracing::error!("{}: {what}", call.label);
        } else if !error.is_retryable() {
            tracing::warn!("{}: {what} [prompt: {prompt_excerpt}]", call.label);
        } else {
            tracing::warn!("{}: {what}", call.label);
        }
        format!("{}: {what}", call.label)
    }
}

/// Advice for a connection that failed, by what failed: a name that does
/// not resolve or a port nobody listens on is not helped by sending less.
fn transport_hint(message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    if message.contains("dns error") || message.contains("failed to lookup address") {
        " — the provider's host name did not resolve: check the network (or proxy) \
         and the provider's base_url"
    } else if message.contains("connection refused") {
        " — nothing answered at the provider's address: is the server running, \
         and is base_url right?"
    } else if message.contains("certificate") || message.contains("tls") {
        " — the TLS handshake failed: check base_url's scheme and the server's certificate"
    } else {
        " — the connection failed: check the network and base_url, then run again \
         (finished calls are cached)"
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

fn shorten(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Requests-per-minute as an even spacing of start times; a server's
/// `Retry-After` pushes every later start back.
struct RateLimiter {
    interval: Duration,
    next_start: tokio::sync::Mutex<Instant>,
    paused_until: Mutex<Option<Instant>>,
}

impl RateLimiter {
    fn per_minute(rpm: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / rpm,
            next_start: tokio::sync::Mutex::new(Instant::now()),
            paused_until: Mutex::new(None),
        }
    }

    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        *paused = Some(paused.map_or(until, |current| current.max(until)));
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next_start.lock().await;
            let paused = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now).max(paused.unwrap_or(now));
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// Progress on stderr: an indicatif bar on a terminal, plain lines in CI.
struct Progress {
    total: usize,
    started: Instant,
    done: AtomicU64,
    spent_micro_usd: AtomicU64,
    bar: Option<indicatif::ProgressBar>,
    lines: bool,
    last_line: Mutex<Instant>,
}

impl Progress {
    fn start(mode: ProgressMode, total: usize) -> Self {
        let in_ci = std::env::var("CI").is_ok_and(|value| value == "true" || value == "1");
        let (bar, lines) = match mode {
            ProgressMode::Hidden => (false, false),
            ProgressMode::Bar => (true, false),
            ProgressMode::Lines => (false, true),
            ProgressMode::Auto if !in_ci && std::io::stderr().is_terminal() => (true, false),
            ProgressMode::Auto => (false, true),
        };
        let bar = bar.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} calls · {per_sec} · ETA {eta} · {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message("$0.0000");
            bar
        });
        Self {
            total,
            started: Instant::now(),
            done: AtomicU64::new(0),
            spent_micro_usd: AtomicU64::new(0),
            bar,
            lines: lines && total > 0,
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn spent(&self) -> f64 {
        self.spent_micro_usd.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn record(&self, outcome: &CallOutcome) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !outcome.cached
            && let Some(cost) = outcome.cost_usd
        {
            self.spent_micro_usd
                .fetch_add((cost * 1e6).round() as u64, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(format!("${:.4}", self.spent()));
        }
        if self.lines {
            // A line every 10 % (at most one every 2 s, so a quick batch
            // prints nothing) or every 10 s, whichever comes first.
            let step = (self.total as u64 / 10).max(1);
            let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
            let at_step = done.is_multiple_of(step) || done == self.total as u64;
            if (at_step && last.elapsed() >= Duration::from_secs(2))
                || last.elapsed() >= Duration::from_secs(10)
            {
                *last = Instant::now();
                let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
                eprintln!(
                    "promptgate: {done}/{} calls ({:.1}/s, ${:.4} spent)",
                    self.total,
                    done as f64 / elapsed,
                    self.spent()
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
        if self.lines || self.bar.is_some() {
            eprintln!(
                "promptgate: interrupted at {}/{} calls",
                self.done(),
                self.total
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ModelParameters, ResponseFormat, Role};

    fn echo_call(handle: &ProviderHandle, text: &str, repeat: u32) -> Call {
        Call {
            provider: handle.clone(),
            request: ChatRequest {
                model: "echo".into(),
                messages: vec![ChatMessage {
                    role: Role::User,
                    content: text.into(),
                }],
                parameters: ModelParameters::default(),
                response_format: ResponseFormat::Text,
            },
            repeat,
            label: format!("t / {text} / repeat {repeat}"),
        }
    }

    fn quiet() -> RunnerOptions {
        RunnerOptions {
            progress: ProgressMode::Hidden,
            ..RunnerOptions::default()
        }
    }

    #[tokio::test]
    async fn echo_batch_keeps_order_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let pool = ProviderPool::new(&Config::default());
        let (echo, _) = pool
            .route(&ModelId {
                provider: "echo".into(),
                model: "echo".into(),
            })
            .unwrap();
        let calls: Vec<Call> = (0..50)
            .map(|i| echo_call(&echo, &format!("case {i}"), 0))
            .collect();
        let runner = Runner::new(
            ResponseCache::new(
                dir.path(),
                crate::pipeline::runner::cache::CacheMode::ReadWrite,
            ),
            PriceTable::default(),
            quiet(),
        );
        let first = tokio::time::timeout(Duration::from_secs(10), runner.run(calls.clone()))
            .await
            .unwrap()
            .unwrap();
        for (i, outcome) in first.outcomes.iter().enumerate() {
            assert_eq!(outcome.result, Ok(format!("user: case {i}")));
            assert!(!outcome.cached);
            assert_eq!(outcome.cost_usd, Some(0.0));
        }
        let second = tokio::time::timeout(Duration::from_secs(10), runner.run(calls))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.totals.cached, 50);
        assert_eq!(echo.requests_sent(), 50);
    }

    #[tokio::test]
    async fn rate_limiter_spaces_starts() {
        let limiter = RateLimiter::per_minute(600); // one per 100 ms
        let started = Instant::now();
        for _ in 0..3 {
            limiter.wait().await;
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(195), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn backoff_stays_under_its_ceiling_and_honours_the_server() {
        let runner = Runner::new(
            ResponseCache::new("unused", crate::pipeline::runner::cache::CacheMode::Off),
            PriceTable::default(),
            quiet(),
        );
        let plain = ProviderError::Http {
            status: 503,
            message: String::new(),
            retry_after: None,
        };
        for attempt in 0..40 {
            assert!(runner.backoff(attempt, &plain) <= Duration::from_secs(30));
        }
        assert!(runner.backoff(0, &plain) <= Duration::from_millis(500));
        let told = ProviderError::Http {
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(runner.backoff(0, &told), Duration::from_secs(7));
        let greedy = ProviderError::Http {
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(100_000)),
        };
        assert_eq!(runner.backoff(0, &greedy), Duration::from_secs(120));
    }

    #[test]
    fn a_failed_connection_is_advised_by_its_cause() {
        let dns = transport_hint(
            "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known",
        );
        assert!(dns.contains("did not resolve"), "{dns}");
        assert!(!dns.contains("concurrency"), "{dns}");
        let refused = transport_hint("tcp connect error: Connection refused (os error 111)");
        assert!(refused.contains("is the server running"), "{refused}");
        let other = transport_hint("connection reset by peer");
        assert!(!other.contains("concurrency"), "{other}");
    }
}
