//! Planning an evaluation: load the cases, compile the prompt once, render
//! every conversation and compute the version id and the fingerprint — no
//! provider call.

use super::problems::{self, CaseProblems};
use crate::pipeline::config::Config;
use crate::pipeline::dataset::cases_of;
use crate::pipeline::spec::identity::{fingerprint, version_id_of};
use crate::pipeline::template::{PreparedPrompt, TemplateError};
use crate::types::{Case, ChatMessage, Diagnostics, Fingerprint, PromptSpec, RepoFiles, VersionId};

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
        self.cases.is_empty().then(|| {
            format!(
                "{} ({}): skipped, it has no cases; add `testData` or a `dataset` to evaluate it",
                self.prompt.name, self.prompt.path
            )
        })
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
    let whole_prompt = |error: TemplateError| {
        Diagnostics(vec![problems::prompt_problem(
            prompt,
            files,
            error.to_string(),
        )])
    };
    let prepared = PreparedPrompt::for_prompt(prompt, files).map_err(whole_prompt)?;
    let mut problems = CaseProblems::new(prompt, files);
    let mut planned = Vec::with_capacity(cases.len());
    let rendered = prepared.render_all(&cases).map_err(whole_prompt)?;
    for (case, result) in cases.into_iter().zip(rendered) {
        match result {
            Ok(messages) => planned.push(PlannedCase { case, messages }),
            Err(error) => problems.push(&case, &error),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems.into_diagnostics()));
    }
    let version = version_id_of(prompt, &prepared.includes().texts());
    let cases: Vec<Case> = planned.iter().map(|p| p.case.clone()).collect();
    let fingerprint = fingerprint(
        &version,
        &cases,
        &prompt.evaluators,
        config.judge_model().as_ref(),
        prompt.repeats,
        &answering_endpoints(prompt, config),
    );
    Ok(EvaluationPlan {
        prompt: prompt.clone(),
        version,
        fingerprint,
        cases: planned,
    })
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
}
