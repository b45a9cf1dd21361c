//! Planning an evaluation: load the cases, compile the prompt once, render
//! every conversation and compute the version id and the fingerprint — no
//! provider call.

use sha2::{Digest, Sha256};

use super::problems::{self, CaseProblems};
use crate::pipeline::config::Config;
use crate::pipeline::dataset::{CaseStream, Ids, cases_of, stream_cases_with};
use crate::pipeline::spec::identity::{CaseDigests, case_digest, fingerprint, version_id_of};
use crate::pipeline::template::{PreparedPrompt, TemplateError};
use crate::types::{
    Case, ChatMessage, Diagnostic, Diagnostics, Fingerprint, PromptSpec, RepoFiles, VersionId,
};

/// Everything needed to evaluate one prompt version, computed without a
/// single provider call.
#[derive(Debug, Clone)]
pub struct EvaluationPlan {
    pub prompt: PromptSpec,
    pub version: VersionId,
    pub fingerprint: Fingerprint,
    /// Every case with its rendered conversation, in file order.
    pub cases: Vec<PlannedCase>,
}

#[derive(Debug, Clone)]
pub struct PlannedCase {
    pub case: Case,
    pub messages: Vec<ChatMessage>,
}

impl EvaluationPlan {
    /// Provider calls a run of this plan makes at most (cases × repeats;
    /// judges not included).
    pub fn calls(&self) -> usize {
        self.cases.len() * self.prompt.repeats.max(1) as usize
    }

    /// Why the plan is not worth running, when it has no cases: the note a
    /// flow shows instead of a result (`gh models eval` runs 0 of 0 tests).
    pub fn skip_note(&self) -> Option<String> {
        self.cases.is_empty().then(|| skip_note(&self.prompt))
    }
}

fn skip_note(prompt: &PromptSpec) -> String {
    format!(
        "{} ({}): skipped, it has no cases; add `testData` or a `dataset` to evaluate it",
        prompt.name, prompt.path
    )
}

/// Where a plan reads from: its templates (with their includes) and its
/// cases. One repository's files for a prompt as it is; for a baseline,
/// the base version's templates on the head's cases.
#[derive(Clone, Copy)]
pub struct PlanFiles<'a> {
    pub templates: &'a dyn RepoFiles,
    pub cases: &'a dyn RepoFiles,
}

impl<'a> PlanFiles<'a> {
    /// Templates and cases from the same files.
    pub fn of(files: &'a dyn RepoFiles) -> Self {
        Self {
            templates: files,
            cases: files,
        }
    }
}

/// Plans `prompt` as it is in `files`. The cases are the inline `testData`
/// followed by the dataset file's; the judge model is part of the
/// fingerprint because it decides judge scores.
pub fn plan(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
    config: &Config,
) -> Result<EvaluationPlan, Diagnostics> {
    let cases = load_cases(prompt, files)?;
    plan_with_cases(prompt, cases, files, config)
}

/// The prompt's cases ([`cases_of`]). A prompt without any plans to
/// nothing: the flows skip it with a note ([`EvaluationPlan::skip_note`]).
pub fn load_cases(prompt: &PromptSpec, files: &dyn RepoFiles) -> Result<Vec<Case>, Diagnostics> {
    cases_of(prompt, files)
}

/// Plans `prompt` on the given cases, rendering its templates (and their
/// includes, each read once) from `files`. A baseline is planned this way:
/// the base version's templates on the head's cases, so both sides are
/// measured on the same cases with the same evaluators.
pub fn plan_with_cases(
    prompt: &PromptSpec,
    cases: Vec<Case>,
    files: &dyn RepoFiles,
    config: &Config,
) -> Result<EvaluationPlan, Diagnostics> {
    let prepared = prepare(prompt, files)?;
    let mut problems = CaseProblems::new(prompt, files);
    let planned = render_chunk(prompt, files, &prepared, cases, &mut problems)?;
    if !problems.is_empty() {
        return Err(Diagnostics(problems.into_diagnostics()));
    }
    Ok(assemble(prompt, &prepared, planned, config))
}

/// Renders `prompt`'s cases as [`plan`] does, a chunk of at most `chunk`
/// cases at a time, reading its dataset as it goes: each chunk's rendered
/// cases are handed to `each` before the next chunk is read, so memory holds
/// one chunk however large the dataset is. No fingerprint is computed (it
/// names a whole evaluation; a chunk's would be of no use). Every problem is
/// collected, as [`plan`] does; after the first one no further chunk is
/// handed out. Returns the number of cases planned.
pub fn plan_in_chunks<E: From<Diagnostics>>(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
    chunk: usize,
    mut each: impl FnMut(Vec<PlannedCase>) -> Result<(), E>,
) -> Result<usize, E> {
    let mut chunks = PlanChunks::new(prompt, PlanFiles::of(files), chunk)?;
    for rendered in chunks.by_ref() {
        each(rendered)?;
    }
    Ok(chunks.finish()?.cases)
}

/// A prompt's cases rendered a chunk at a time ([`plan_in_chunks`]), as an
/// iterator; [`PlanChunks::finish`] says whether every case planned.
pub struct PlanChunks<'a> {
    prompt: &'a PromptSpec,
    files: &'a dyn RepoFiles,
    prepared: PreparedPrompt,
    cases: CaseStream<'a>,
    unreadable: Vec<Diagnostic>,
    problems: CaseProblems<'a>,
    planned: usize,
    /// Gathered only when asked for ([`PlanChunks::fingerprinting`]).
    digests: Option<CaseDigests>,
    /// Gathered only when asked for ([`PlanChunks::tracking`]).
    reading: Option<Sha256>,
    size: usize,
    exhausted: bool,
}

impl<'a> PlanChunks<'a> {
    pub fn new(
        prompt: &'a PromptSpec,
        files: PlanFiles<'a>,
        chunk: usize,
    ) -> Result<Self, Diagnostics> {
        Self::reading(prompt, files, chunk, Ids::Check)
    }

    fn reading(
        prompt: &'a PromptSpec,
        files: PlanFiles<'a>,
        chunk: usize,
        ids: Ids,
    ) -> Result<Self, Diagnostics> {
        Ok(Self {
            prompt,
            files: files.templates,
            prepared: prepare(prompt, files.templates)?,
            cases: stream_cases_with(prompt, files.cases, ids)?,
            unreadable: Vec::new(),
            problems: CaseProblems::new(prompt, files.templates),
            planned: 0,
            digests: None,
            reading: None,
            size: chunk.max(1),
            exhausted: false,
        })
    }

    /// The same, gathering the cases' part of the fingerprint (32 bytes a
    /// case) and what [`PlanChunks::tracking`] gathers.
    pub fn fingerprinting(mut self) -> Self {
        self.digests = Some(CaseDigests::default());
        self.tracking()
    }

    /// The same, hashing the cases in the order they are read, so that a
    /// second reading can be checked against the first in constant memory.
    pub fn tracking(mut self) -> Self {
        self.reading = Some(Sha256::new());
        self
    }

    fn clean(&self) -> bool {
        self.unreadable.is_empty() && self.problems.is_empty()
    }

    /// Reads the rest, collecting every problem: what was planned when
    /// every case was, else every problem met.
    pub fn finish(self) -> Result<Planned, Diagnostics> {
        self.finish_compiled().map(|(planned, _)| planned)
    }

    /// [`PlanChunks::finish`], keeping the compiled prompt to render more
    /// of the same cases with.
    pub(super) fn finish_compiled(mut self) -> Result<(Planned, PreparedPrompt), Diagnostics> {
        while self.next().is_some() {}
        if self.clean() {
            let planned = Planned {
                cases: self.planned,
                digests: self.digests.unwrap_or_default(),
                reading: self.reading.map(|hash| hash.finalize().into()),
                version: version_id_of(self.prompt, &self.prepared.includes().texts()),
            };
            return Ok((planned, self.prepared));
        }
        let mut problems = self.unreadable;
        problems.extend(self.problems.into_diagnostics());
        Err(Diagnostics(problems))
    }
}

impl Iterator for PlanChunks<'_> {
    type Item = Vec<PlannedCase>;

    /// The next chunk of rendered cases; none after the first problem.
    fn next(&mut self) -> Option<Vec<PlannedCase>> {
        while !self.exhausted {
            let mut batch = Vec::with_capacity(self.size);
            while batch.len() < self.size {
                match self.cases.next() {
                    Some(Ok(case)) => batch.push(case),
                    Some(Err(problem)) => self.unreadable.push(problem),
                    None => {
                        self.exhausted = true;
                        break;
                    }
                }
            }
            let rendered = match render_chunk(
                self.prompt,
                self.files,
                &self.prepared,
                batch,
                &mut self.problems,
            ) {
                Ok(rendered) => rendered,
                Err(whole) => {
                    // A problem of the whole prompt ends the planning.
                    self.unreadable.extend(whole.0);
                    self.exhausted = true;
                    return None;
                }
            };
            if self.clean() && !rendered.is_empty() {
                self.planned += rendered.len();
                if self.digests.is_some() || self.reading.is_some() {
                    for planned in &rendered {
                        let digest = case_digest(&planned.case);
                        if let Some(reading) = &mut self.reading {
                            reading.update(digest);
                        }
                        if let Some(digests) = &mut self.digests {
                            digests.add(digest);
                        }
                    }
                }
                return Some(rendered);
            }
        }
        None
    }
}

/// What a whole reading of a prompt's cases planned.
pub struct Planned {
    pub cases: usize,
    /// Empty unless asked for ([`PlanChunks::fingerprinting`]).
    pub digests: CaseDigests,
    /// The cases as read, in order, when asked for ([`PlanChunks::tracking`]).
    pub reading: Option<[u8; 32]>,
    /// The version the templates and includes read this time make.
    pub version: VersionId,
}

/// A plan whose cases are not held: they are counted and fingerprinted
/// once ([`plan_streamed`]; 16 bytes a case while it plans) and rendered
/// again a chunk at a time as the engine executes them.
#[derive(Debug, Clone)]
pub struct StreamedPlan {
    pub prompt: PromptSpec,
    pub version: VersionId,
    pub fingerprint: Fingerprint,
    pub cases: usize,
    /// The cases as the plan read them, in order ([`PlanChunks::tracking`]):
    /// the engine checks that its own reading gives the same.
    pub reading: Option<[u8; 32]>,
}

impl StreamedPlan {
    /// As [`EvaluationPlan::skip_note`].
    pub fn skip_note(&self) -> Option<String> {
        (self.cases == 0).then(|| skip_note(&self.prompt))
    }

    /// The plan's cases read and rendered again from `files`, `chunk` at a
    /// time, hashed as they are read so that [`StreamedPlan::read_as_planned`]
    /// can tell whether this reading is the plan's. The plan's reading
    /// checked the ids; this one is only accepted if it is the same.
    pub fn read_again<'a>(
        &'a self,
        files: PlanFiles<'a>,
        chunk: usize,
    ) -> Result<PlanChunks<'a>, Diagnostics> {
        PlanChunks::reading(&self.prompt, files, chunk, Ids::Checked).map(PlanChunks::tracking)
    }

    /// Whether a second reading found what the plan read: the same cases
    /// in the same order, rendered by the same templates and includes. A
    /// result of any other reading would be stored under this plan's name.
    pub fn read_as_planned(&self, read: &Planned) -> bool {
        read.reading == self.reading && read.cases == self.cases && read.version == self.version
    }
}

/// Plans `prompt` as [`plan`] does, rendering every case to find every
/// problem and computing the fingerprint, but keeping no case.
pub fn plan_streamed(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
    config: &Config,
) -> Result<StreamedPlan, Diagnostics> {
    plan_streamed_from(prompt, PlanFiles::of(files), config)
}

/// [`plan_streamed`] with templates and cases read from their own files
/// (a baseline: the base version on the head's cases).
pub fn plan_streamed_from(
    prompt: &PromptSpec,
    files: PlanFiles<'_>,
    config: &Config,
) -> Result<StreamedPlan, Diagnostics> {
    let chunks = PlanChunks::new(prompt, files, STREAMED_CHUNK)?.fingerprinting();
    let planned = chunks.finish()?;
    let version = planned.version;
    let fingerprint = planned.digests.fingerprint(
        &version,
        &prompt.evaluators,
        config.judge_model().as_ref(),
        prompt.repeats,
        &answering_endpoints(prompt, config),
    );
    Ok(StreamedPlan {
        prompt: prompt.clone(),
        version,
        fingerprint,
        cases: planned.cases,
        reading: planned.reading,
    })
}

/// Cases rendered at once when a plan is streamed.
pub(super) const STREAMED_CHUNK: usize = 1024;

/// The one problem that stops a whole prompt, as a diagnostic.
fn whole_prompt(prompt: &PromptSpec, files: &dyn RepoFiles, error: TemplateError) -> Diagnostics {
    Diagnostics(vec![problems::prompt_problem(
        prompt,
        files,
        error.to_string(),
    )])
}

/// The prompt compiled once, or the one problem that stops it.
pub(super) fn prepare(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
) -> Result<PreparedPrompt, Diagnostics> {
    PreparedPrompt::for_prompt(prompt, files).map_err(|error| whole_prompt(prompt, files, error))
}

/// The cases rendered; those that cannot be are added to `problems`.
pub(super) fn render_chunk(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
    prepared: &PreparedPrompt,
    cases: Vec<Case>,
    problems: &mut CaseProblems<'_>,
) -> Result<Vec<PlannedCase>, Diagnostics> {
    let rendered = prepared
        .render_all(&cases)
        .map_err(|error| whole_prompt(prompt, files, error))?;
    let mut planned = Vec::with_capacity(cases.len());
    for (case, result) in cases.into_iter().zip(rendered) {
        match result {
            Ok(messages) => planned.push(PlannedCase { case, messages }),
            Err(error) => problems.push(&case, &error),
        }
    }
    Ok(planned)
}

/// The plan of rendered cases: version id and fingerprint computed.
fn assemble(
    prompt: &PromptSpec,
    prepared: &PreparedPrompt,
    planned: Vec<PlannedCase>,
    config: &Config,
) -> EvaluationPlan {
    let version = version_id_of(prompt, &prepared.includes().texts());
    let fingerprint = fingerprint(
        &version,
        planned.iter().map(|p| &p.case),
        &prompt.evaluators,
        config.judge_model().as_ref(),
        prompt.repeats,
        &answering_endpoints(prompt, config),
    );
    EvaluationPlan {
        prompt: prompt.clone(),
        version,
        fingerprint,
        cases: planned,
    }
}

/// The endpoints that answer the prompt and its judge, as the config
/// routes them: a result is only ever reused against the same servers.
fn answering_endpoints(prompt: &PromptSpec, config: &Config) -> Vec<String> {
    let mut endpoints = vec![config.provider_for(&prompt.model).endpoint()];
    if let Some(judge) = config.judge_model() {
        endpoints.push(config.provider_for(&judge).endpoint());
    }
    endpoints
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::types::{MemoryFiles, RepoError, RepoPath};

    /// Counts how often each file is read.
    struct CountingFiles {
        inner: MemoryFiles,
        snippet_reads: AtomicUsize,
    }

    impl RepoFiles for CountingFiles {
        fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
            if path.0 == "snippets/tone.md" {
                self.snippet_reads.fetch_add(1, Ordering::SeqCst);
            }
            self.inner.read(path)
        }
        fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
            self.inner.list()
        }
        fn describe(&self) -> String {
            "counting files".into()
        }
    }

    #[test]
    fn a_prompt_is_compiled_once_and_its_includes_read_once() {
        let files = CountingFiles {
            inner: MemoryFiles::new().with("snippets/tone.md", "Be kind to {{ name }}."),
            snippet_reads: AtomicUsize::new(0),
        };
        // Includes are minijinja: promptgate's semantics.
        let text = "name: p\nsemantics: promptgate\nmodel: echo/echo\nmessages:\n  - role: system\n    content: \"{% include 'snippets/tone.md' %}\"\n  - role: user\n    content: \"{{ q }}\"\n";
        let (spec, problems) =
            crate::pipeline::spec::parse_prompt(&RepoPath("p.prompt.yml".into()), text.as_bytes());
        let spec = spec.unwrap_or_else(|| panic!("{problems}"));
        let cases: Vec<Case> = (0..50)
            .map(|i| {
                let vars = serde_json::json!({"name": format!("n{i}"), "q": "?"});
                Case {
                    id: format!("c{i}"),
                    vars: vars.as_object().cloned().unwrap_or_default(),
                    expected: None,
                    keywords: Vec::new(),
                    regex: None,
                    schema: None,
                    source: crate::types::CaseSource {
                        file: RepoPath("p.prompt.yml".into()),
                        line: 1,
                    },
                }
            })
            .collect();
        let plan = plan_with_cases(&spec, cases, &files, &Config::default()).unwrap();
        assert_eq!(plan.cases.len(), 50);
        assert_eq!(plan.cases[7].messages[0].content, "Be kind to n7.");
        assert_eq!(files.snippet_reads.load(Ordering::SeqCst), 1);
        // The version id is the one computed by reading the includes anew.
        assert_eq!(
            plan.version,
            crate::pipeline::spec::version_id(&spec, &files.inner).unwrap()
        );
    }
    fn spec_with_dataset(files: &MemoryFiles) -> PromptSpec {
        let text = "name: p\nmodel: echo/echo\nmessages:\n  - role: user\n    content: \"{{ q }}\"\ntestData:\n  - { id: inline, q: first }\ndataset: data.jsonl\n";
        let (spec, problems) =
            crate::pipeline::spec::parse_prompt(&RepoPath("p.prompt.yml".into()), text.as_bytes());
        let _ = files;
        spec.unwrap_or_else(|| panic!("{problems}"))
    }

    #[test]
    fn planning_in_chunks_gives_the_cases_of_one_plan_in_order() {
        let data: String = (0..10)
            .map(|i| format!("{{\"id\": \"c{i}\", \"q\": \"question {i}\"}}\n"))
            .collect();
        let files = MemoryFiles::new().with("data.jsonl", data);
        let spec = spec_with_dataset(&files);
        let whole = plan(&spec, &files, &Config::default()).unwrap();
        let mut chunks = Vec::new();
        let planned = plan_in_chunks(&spec, &files, 4, |chunk| {
            chunks.push(chunk);
            Ok::<_, Diagnostics>(())
        })
        .unwrap();
        assert_eq!(planned, 11);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 3]);
        let streamed: Vec<(String, String)> = chunks
            .iter()
            .flatten()
            .map(|p| (p.case.id.clone(), p.messages[0].content.clone()))
            .collect();
        let at_once: Vec<(String, String)> = whole
            .cases
            .iter()
            .map(|p| (p.case.id.clone(), p.messages[0].content.clone()))
            .collect();
        assert_eq!(streamed, at_once);
    }

    #[test]
    fn planning_in_chunks_collects_every_problem_and_stops_handing_out_chunks() {
        // Line 3 is not JSON, line 5 reuses the inline id, line 7 lacks `q`.
        let mut lines: Vec<String> = (0..8)
            .map(|i| format!("{{\"id\": \"c{i}\", \"q\": \"question {i}\"}}"))
            .collect();
        lines[2] = "{not json".into();
        lines[4] = "{\"id\": \"inline\", \"q\": \"again\"}".into();
        lines[6] = "{\"id\": \"c6\"}".into();
        let files = MemoryFiles::new().with("data.jsonl", lines.join("\n"));
        let spec = spec_with_dataset(&files);
        let mut handed = 0;
        let problems = plan_in_chunks(&spec, &files, 2, |_| {
            handed += 1;
            Ok::<_, Diagnostics>(())
        })
        .unwrap_err();
        let lines: Vec<u32> = problems.0.iter().map(|d| d.line).collect();
        assert_eq!(lines, [3, 5, 7], "{problems}");
        assert!(problems.0[1].message.contains("used twice"), "{problems}");
        assert_eq!(handed, 1, "only the chunk before the first problem");
        // Planning at once reports the dataset's problems before rendering
        // anything; streaming meets both kinds as it goes.
        let at_once = plan(&spec, &files, &Config::default()).unwrap_err();
        assert_eq!(at_once.0.iter().map(|d| d.line).collect::<Vec<_>>(), [3, 5]);
    }
}
