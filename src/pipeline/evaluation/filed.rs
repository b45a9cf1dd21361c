//! Plans whose cases can be taken in any order, a batch at a time: what a
//! sequential run needs (it evaluates a suite in a seeded shuffle and stops
//! once the tests decide). A plan in memory serves as it is. A large
//! suite's cases are read once more into a temporary file of records that
//! both sides share, and each batch is read from it and rendered as it is
//! run, so neither side's rendered plan is ever held (a case record is
//! about its variables' size; the file keeps 8 bytes a case in memory).

use std::sync::Arc;

use super::engine::{Engine, ExecuteError, cases_changed as changed, spill_error as spill};
use super::plan::{EvaluationPlan, PlanFiles, PlannedCase, STREAMED_CHUNK, StreamedPlan, prepare};
use crate::pipeline::spec::identity::version_id_of;
use crate::pipeline::template::PreparedPrompt;
use crate::types::records::{RecordFile, RecordWriter};
use crate::types::{Case, PromptSpec};

/// A plan whose cases are taken a batch at a time, in any order.
pub trait PlanBatches: Sync {
    /// The plan without its cases: prompt, version and fingerprint.
    fn header(&self) -> EvaluationPlan;
    /// How many cases the plan has.
    fn len(&self) -> usize;
    /// The plan of the cases at `indexes`, in that order.
    fn batch(&self, indexes: &[usize]) -> Result<EvaluationPlan, ExecuteError>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PlanBatches for EvaluationPlan {
    fn header(&self) -> EvaluationPlan {
        EvaluationPlan {
            prompt: self.prompt.clone(),
            version: self.version.clone(),
            fingerprint: self.fingerprint.clone(),
            cases: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.cases.len()
    }

    fn batch(&self, indexes: &[usize]) -> Result<EvaluationPlan, ExecuteError> {
        Ok(EvaluationPlan {
            cases: indexes.iter().map(|&i| self.cases[i].clone()).collect(),
            ..self.header()
        })
    }
}

/// A streamed plan with its cases in a file: read by position and
/// rendered as a batch asks for them.
pub struct FiledPlan {
    header: EvaluationPlan,
    cases: Arc<RecordFile<Case>>,
    prepared: PreparedPrompt,
}

impl PlanBatches for FiledPlan {
    fn header(&self) -> EvaluationPlan {
        self.header.header()
    }

    fn len(&self) -> usize {
        self.cases.len()
    }

    fn batch(&self, indexes: &[usize]) -> Result<EvaluationPlan, ExecuteError> {
        let prompt = &self.header.prompt;
        let mut cases = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let read = self.cases.get(index).ok_or_else(|| changed(prompt))?;
            cases.push(read.map_err(|source| spill(prompt, source))?);
        }
        Ok(EvaluationPlan {
            cases: render(prompt, &self.prepared, cases)?,
            ..self.header()
        })
    }
}

/// `cases` rendered by a prompt compiled when it was planned: every case
/// rendered then, so a failure now means the files under it changed.
fn render(
    prompt: &PromptSpec,
    prepared: &PreparedPrompt,
    cases: Vec<Case>,
) -> Result<Vec<PlannedCase>, ExecuteError> {
    let rendered = prepared.render_all(&cases).map_err(|_| changed(prompt))?;
    cases
        .into_iter()
        .zip(rendered)
        .map(|(case, messages)| {
            let messages = messages.map_err(|_| changed(prompt))?;
            Ok(PlannedCase { case, messages })
        })
        .collect()
}

/// Both sides of a sequential run with their cases filed.
pub struct FiledSides {
    pub head: FiledPlan,
    /// The base version on the head's cases, when it is to be evaluated.
    pub baseline: Option<FiledPlan>,
    /// Per case: whether every filed side's calls are in the response cache.
    pub cached: Vec<bool>,
}

/// Reads the head's cases once more, rendering them for each side to see
/// which are cached, and files them. The baseline is the base version's
/// templates on these same cases, so they are read once for both sides.
/// Fails, filing nothing, when this reading is not the one the plans were
/// made from (a file changed).
pub fn file_sides(
    engine: &Engine,
    head: (&StreamedPlan, PlanFiles<'_>),
    baseline: Option<(&StreamedPlan, PlanFiles<'_>)>,
) -> Result<FiledSides, ExecuteError> {
    let head_plan = head.0;
    let prompt = &head_plan.prompt;
    let mut chunks = head_plan
        .read_again(head.1, STREAMED_CHUNK)
        .map_err(|_| changed(prompt))?;
    let base = baseline
        .map(|(plan, files)| compiled(plan, files, head_plan))
        .transpose()?;
    let mut records = RecordWriter::new().map_err(|source| spill(prompt, source))?;
    let mut cached = Vec::with_capacity(head_plan.cases);
    for chunk in chunks.by_ref() {
        let mut here = engine.cached_cases(prompt, &chunk);
        for planned in &chunk {
            records
                .write(&planned.case)
                .map_err(|source| spill(prompt, source))?;
        }
        if let Some((base_plan, prepared)) = &base {
            let cases = chunk.into_iter().map(|planned| planned.case).collect();
            let base_chunk = render(&base_plan.prompt, prepared, cases)?;
            let base_cached = engine.cached_cases(&base_plan.prompt, &base_chunk);
            here.iter_mut().zip(base_cached).for_each(|(h, b)| *h &= b);
        }
        cached.extend(here);
    }
    let cases = Arc::new(records.finish().map_err(|source| spill(prompt, source))?);
    let (read, prepared) = chunks.finish_compiled().map_err(|_| changed(prompt))?;
    if !head_plan.read_as_planned(&read) {
        return Err(changed(prompt));
    }
    Ok(FiledSides {
        head: filed(head_plan, prepared, &cases),
        baseline: base.map(|(plan, prepared)| filed(plan, prepared, &cases)),
        cached,
    })
}

/// The base version compiled from its own files, checked to be the version
/// planned, on cases read as the head's plan read them.
fn compiled<'p>(
    plan: &'p StreamedPlan,
    files: PlanFiles<'_>,
    head: &StreamedPlan,
) -> Result<(&'p StreamedPlan, PreparedPrompt), ExecuteError> {
    let prepared = prepare(&plan.prompt, files.templates).map_err(|_| changed(&plan.prompt))?;
    let version = version_id_of(&plan.prompt, &prepared.includes().texts());
    if version != plan.version || plan.reading != head.reading || plan.cases != head.cases {
        return Err(changed(&plan.prompt));
    }
    Ok((plan, prepared))
}

/// One side's filed plan.
fn filed(
    plan: &StreamedPlan,
    prepared: PreparedPrompt,
    cases: &Arc<RecordFile<Case>>,
) -> FiledPlan {
    FiledPlan {
        header: EvaluationPlan {
            prompt: plan.prompt.clone(),
            version: plan.version.clone(),
            fingerprint: plan.fingerprint.clone(),
            cases: Vec::new(),
        },
        cases: cases.clone(),
        prepared,
    }
}
