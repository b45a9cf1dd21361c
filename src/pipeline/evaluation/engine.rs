//! Executing a plan: every case × repeat through the runner, each output
//! scored by the evaluators, into an [`EvalResult`].

use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::plan::{EvaluationPlan, PlanFiles, PlannedCase, StreamedPlan};
use crate::pipeline::config::Config;
use crate::pipeline::eval::{EvalContext, JudgeClient, JudgeError};
use crate::pipeline::provider::ProviderError;
use crate::pipeline::runner::{Call, ProviderHandle, ProviderPool, RunError, Runner};
use crate::types::{
    CallOutcome, CallStats, CaseResult, CasesBuilder, ChatMessage, ChatRequest, EvalResult,
    Fingerprint, ModelId, ModelParameters, PromptSpec, RepeatResult, ResponseFormat, VersionId,
    now_rfc3339,
};

/// What executing plans needs: the runner (cache, limits, retries), the
/// providers, and the evaluators' context with a judge that calls through
/// the same runner.
pub struct Engine {
    /// The config trusted to choose providers and judges.
    pub config: Config,
    pub runner: Arc<Runner>,
    pub providers: Arc<ProviderPool>,
    pub eval: EvalContext,
    judge: Arc<RunnerJudge>,
    /// Calls sent to the runner at once ([`CALLS_PER_BATCH`]).
    calls_per_batch: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("{prompt}: {source}")]
    Provider {
        prompt: String,
        #[source]
        source: ProviderError,
    },
    #[error(transparent)]
    Interrupted(#[from] RunError),
    /// A streamed plan's cases read differently the second time.
    #[error(
        "{prompt}: its cases changed while it was evaluated (a file it reads was edited during the run); run it again"
    )]
    CasesChanged { prompt: String },
    /// A large suite's results go to a temporary file as they are scored.
    #[error("{prompt}: could not keep the results in a temporary file: {source}")]
    Spill {
        prompt: String,
        #[source]
        source: std::io::Error,
    },
}

impl Engine {
    pub fn new(config: Config, runner: Arc<Runner>, mut eval: EvalContext) -> Self {
        let providers = Arc::new(ProviderPool::new(&config));
        let judge = Arc::new(RunnerJudge {
            runner: runner.clone(),
            providers: providers.clone(),
            stats: Mutex::new(CallStats::default()),
        });
        eval.judge = Some(judge.clone() as Arc<dyn JudgeClient>);
        Self {
            config,
            runner,
            providers,
            eval,
            judge,
            calls_per_batch: CALLS_PER_BATCH,
        }
    }

    /// The same engine, sending at most `calls` calls to the runner at
    /// once (at least one case's repeats).
    pub fn with_calls_per_batch(mut self, calls: usize) -> Self {
        self.calls_per_batch = calls.max(1);
        self
    }

    /// The same engine, routing without reading any provider key: it can
    /// list and price a plan's calls ([`Engine::calls`]) but must not send
    /// them.
    pub fn pricing_only(mut self) -> Self {
        self.providers = Arc::new(ProviderPool::without_keys(&self.config));
        self
    }

    /// Judge calls made so far (they are not part of any `EvalResult`).
    pub fn judge_stats(&self) -> CallStats {
        self.judge
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The provider calls a plan consists of: every case × repeat, routed
    /// by the config (`alias/model`, GitHub Models, the built-ins).
    pub fn calls(&self, plan: &EvaluationPlan) -> Result<Vec<Call>, ExecuteError> {
        self.calls_of(&plan.prompt, &plan.cases)
    }

    /// [`Engine::calls`] for some of a prompt's planned cases.
    pub fn calls_of(
        &self,
        prompt: &PromptSpec,
        cases: &[PlannedCase],
    ) -> Result<Vec<Call>, ExecuteError> {
        let (provider, model) = self.route_prompt(prompt)?;
        Ok(routed_calls(prompt, &provider, &model, cases))
    }

    fn route_prompt(&self, prompt: &PromptSpec) -> Result<(ProviderHandle, String), ExecuteError> {
        self.route(&prompt.model)
            .map_err(|source| ExecuteError::Provider {
                prompt: prompt.name.clone(),
                source,
            })
    }

    /// Per case of `cases` (planned for `prompt`): whether the response
    /// cache holds every call of it (false for all when the prompt cannot
    /// be routed: its execution will say why).
    pub fn cached_cases(&self, prompt: &PromptSpec, cases: &[PlannedCase]) -> Vec<bool> {
        let Ok((provider, model)) = self.route_prompt(prompt) else {
            return vec![false; cases.len()];
        };
        // The callers ask a chunk of cases at a time, so these calls are
        // a chunk's, as execution makes them.
        let calls = routed_calls(prompt, &provider, &model, cases);
        let cached = crate::pipeline::runner::cached(self.runner.cache(), &calls);
        // routed_calls gives each case's repeats together, in case order.
        let repeats = prompt.repeats.max(1) as usize;
        cached
            .chunks(repeats)
            .map(|case| case.iter().all(|&hit| hit))
            .collect()
    }

    fn route(&self, model: &ModelId) -> Result<(ProviderHandle, String), ProviderError> {
        self.providers.route(model)
    }

    /// Runs every case × repeat of the plan and scores each output. Failed
    /// calls are kept as errors of their case: they count against the prompt.
    /// The cases go through the runner a chunk at a time, so the calls of a
    /// large plan never all exist at once.
    pub async fn execute(
        &self,
        plan: &EvaluationPlan,
    ) -> Result<(EvalResult, CallStats), ExecuteError> {
        let identity = (plan.version.clone(), plan.fingerprint.clone());
        let mut cases = plan.cases.iter().cloned();
        self.execute_cases(&plan.prompt, identity, plan.cases.len(), |n| {
            next_chunk(&mut cases, n)
        })
        .await
    }

    /// [`Engine::execute`] for a plan that holds no cases: they are read
    /// and rendered again from `files` (where the plan read them) a chunk
    /// at a time as they run, so
    /// memory holds a chunk of the plan however large the suite. Fails
    /// when the second reading is not the plan's (the files changed under
    /// the run): its result would be stored under another evaluation's name.
    pub async fn execute_streamed(
        &self,
        plan: &StreamedPlan,
        files: PlanFiles<'_>,
    ) -> Result<(EvalResult, CallStats), ExecuteError> {
        let changed = || cases_changed(&plan.prompt);
        let per_batch = self.cases_per_batch(&plan.prompt);
        let mut chunks = plan.read_again(files, per_batch).map_err(|_| changed())?;
        let identity = (plan.version.clone(), plan.fingerprint.clone());
        let executed = self
            .execute_cases(&plan.prompt, identity, plan.cases, |_| chunks.next())
            .await?;
        let read = chunks.finish().map_err(|_| changed())?;
        if !plan.read_as_planned(&read) {
            return Err(changed());
        }
        Ok(executed)
    }

    /// Cases whose calls go to the runner at once.
    fn cases_per_batch(&self, prompt: &PromptSpec) -> usize {
        self.calls_per_batch
            .div_ceil(prompt.repeats.max(1) as usize)
    }

    /// Executes `total` cases, taken a chunk at a time from `next_chunk`
    /// (asked for at most the given number).
    async fn execute_cases(
        &self,
        prompt: &PromptSpec,
        (version, fingerprint): (VersionId, Fingerprint),
        total: usize,
        mut next_chunk: impl FnMut(usize) -> Option<Vec<PlannedCase>> + Send,
    ) -> Result<(EvalResult, CallStats), ExecuteError> {
        let repeats = prompt.repeats.max(1) as usize;
        let (provider, model) = self.route_prompt(prompt)?;
        let from_model = total == 0 || provider.is_model();
        let mut batches = self.runner.batches(total * repeats);
        let mut stats = CallStats::default();
        let mut cases = CasesBuilder::default();
        let per_batch = self.cases_per_batch(prompt);
        while let Some(chunk) = next_chunk(per_batch) {
            let calls = routed_calls(prompt, &provider, &model, &chunk);
            let output = self.runner.run_batch(&mut batches, calls).await?;
            output.outcomes.iter().for_each(|call| stats.record(call));
            for case in self.score(prompt, chunk, output.outcomes).await {
                cases
                    .push(case)
                    .map_err(|source| spill_error(prompt, source))?;
            }
        }
        batches.finish();
        let cases = cases
            .finish()
            .map_err(|source| spill_error(prompt, source))?;
        let result = EvalResult {
            prompt: prompt.name.clone(),
            version,
            fingerprint,
            model: prompt.model.to_string(),
            from_model,
            criteria: prompt
                .evaluators
                .iter()
                .map(crate::pipeline::eval::criterion_info)
                .collect(),
            cases,
            created_at: now_rfc3339(),
        };
        Ok((result, stats))
    }

    /// Scores a chunk's outputs (`outcomes`: each case's repeats in order);
    /// each case's id and variables move into its result.
    async fn score(
        &self,
        prompt: &PromptSpec,
        chunk: Vec<PlannedCase>,
        outcomes: Vec<CallOutcome>,
    ) -> Vec<CaseResult> {
        let repeats = prompt.repeats.max(1) as usize;
        let scored: Vec<RepeatResult> = {
            // Concurrently: judge criteria wait on the network.
            let jobs = outcomes.into_iter().enumerate().map(|(index, call)| {
                let case = &chunk[index / repeats].case;
                async move {
                    let scores = crate::pipeline::eval::score_outputs(
                        &prompt.evaluators,
                        case,
                        &call,
                        &self.eval,
                    )
                    .await;
                    RepeatResult { call, scores }
                }
            });
            futures::stream::iter(jobs).buffered(32).collect().await
        };
        let mut scored = scored.into_iter();
        chunk
            .into_iter()
            .map(|planned| CaseResult {
                case_id: planned.case.id,
                vars: planned.case.vars,
                repeats: scored.by_ref().take(repeats).collect(),
            })
            .collect()
    }
}

/// At most `n` more cases of `cases`; `None` when there are none.
fn next_chunk(cases: &mut impl Iterator<Item = PlannedCase>, n: usize) -> Option<Vec<PlannedCase>> {
    let chunk: Vec<PlannedCase> = cases.take(n).collect();
    (!chunk.is_empty()).then_some(chunk)
}

/// The cases read differently from how the plan read them.
pub(super) fn cases_changed(prompt: &PromptSpec) -> ExecuteError {
    ExecuteError::CasesChanged {
        prompt: prompt.name.clone(),
    }
}

pub(super) fn spill_error(prompt: &PromptSpec, source: std::io::Error) -> ExecuteError {
    ExecuteError::Spill {
        prompt: prompt.name.clone(),
        source,
    }
}

/// Calls sent to the runner at once when a plan is executed: large enough
/// that the wait for a batch's last calls is a small share of its time
/// (at concurrency 64, under one wave in 256), small enough that a batch's
/// calls are a few megabytes.
const CALLS_PER_BATCH: usize = 16_384;

/// The calls of `cases`, every repeat, to `provider` as `model`.
fn routed_calls(
    prompt: &PromptSpec,
    provider: &ProviderHandle,
    model: &str,
    cases: &[PlannedCase],
) -> Vec<Call> {
    let repeats = prompt.repeats.max(1);
    cases
        .iter()
        .flat_map(|planned| {
            (0..repeats).map(|repeat| Call {
                provider: provider.clone(),
                request: ChatRequest {
                    model: model.to_owned(),
                    messages: planned.messages.clone(),
                    parameters: prompt.parameters.clone(),
                    response_format: prompt.response_format.clone(),
                },
                repeat,
                label: format!(
                    "{} / case {} / repeat {}",
                    prompt.name,
                    planned.case.id,
                    repeat + 1
                ),
            })
        })
        .collect()
}

/// Judges ask through the runner, so their calls are cached, rate-limited
/// and retried like any other.
struct RunnerJudge {
    runner: Arc<Runner>,
    providers: Arc<ProviderPool>,
    stats: Mutex<CallStats>,
}

#[async_trait::async_trait]
impl JudgeClient for RunnerJudge {
    async fn ask(
        &self,
        model: &ModelId,
        messages: Vec<ChatMessage>,
        attempt: u32,
    ) -> Result<String, JudgeError> {
        let (provider, model_name) = self.providers.route(model)?;
        if !provider.is_model() {
            return Err(JudgeError::NotAModel {
                model: model.clone(),
            });
        }
        let call = Call {
            provider,
            request: ChatRequest {
                model: model_name,
                messages,
                // Judges should be as repeatable as the provider allows.
                parameters: ModelParameters {
                    temperature: Some(0.0),
                    ..ModelParameters::default()
                },
                response_format: ResponseFormat::Text,
            },
            // A re-ask after an unreadable reply must not hit the cache.
            repeat: attempt,
            label: format!("judge {model}"),
        };
        let outcome = self.runner.complete_one(&call).await;
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&outcome);
        outcome.result.map_err(JudgeError::Call)
    }
}
