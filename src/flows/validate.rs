//! Validation: every prompt file, its cases and the config, checked
//! without calling any model; every problem at its `file:line:col`.

use std::path::PathBuf;

use crate::pipeline::config::{self, Config, GITHUB_MODELS};
use crate::pipeline::evaluation::problems::{self, CaseProblems};
use crate::pipeline::spec::{self, yaml};
use crate::pipeline::template::PreparedPrompt;
use crate::types::{
    Diagnostic, Diagnostics, EvaluatorKind, ModelId, PromptSpec, RepoFiles, RepoPath, Severity,
};

/// What a validation found.
pub struct Validation {
    pub prompts: usize,
    pub cases: usize,
    pub diagnostics: Diagnostics,
    /// Facts worth knowing that are not problems: where models run, what
    /// would differ from `gh models eval` for a GitHub-format file.
    pub notes: Vec<String>,
}

fn is_prompt_file(path: &str) -> bool {
    path.ends_with(".prompt.yml") || path.ends_with(".prompt.yaml")
}

/// Checks the config, the prompts (all, or those under `only`), their
/// datasets, that every case renders every message, and that every model
/// id routes to a provider.
pub fn validate(files: &dyn RepoFiles, only: &[PathBuf]) -> Validation {
    let mut diagnostics = Vec::new();
    let (config, config_broken) = match config::load(files) {
        Ok(config) => (config, false),
        Err(problems) => {
            diagnostics.extend(problems.0);
            (Config::default(), true)
        }
    };
    let (prompts, found) = if only.is_empty() {
        spec::load_workspace(files, &config)
    } else {
        let listed = files.list().unwrap_or_default();
        let wanted: Vec<RepoPath> = listed
            .into_iter()
            .filter(|file| {
                only.iter().any(|prefix| {
                    let prefix = prefix.to_string_lossy().replace('\\', "/");
                    let prefix = prefix.trim_end_matches('/');
                    file.0 == prefix
                        || (is_prompt_file(&file.0)
                            && (prefix.is_empty() || file.0.starts_with(&format!("{prefix}/"))))
                })
            })
            .collect();
        // A named file that is not a prompt is checked as a dataset.
        let (prompt_files, others): (Vec<RepoPath>, Vec<RepoPath>) = wanted
            .into_iter()
            .partition(|file| spec::holds_prompt(files, file));
        for dataset in &others {
            if let Err(problems) = crate::pipeline::dataset::load_cases(files, dataset) {
                diagnostics.extend(problems.0);
            }
        }
        spec::load_prompts(files, &prompt_files)
    };
    diagnostics.extend(found.0);
    let mut cases = 0;
    let mut notes = Vec::new();
    for prompt in &prompts {
        cases += check_prompt(prompt, files, &config, &mut diagnostics, &mut notes);
    }
    if config_broken {
        // Where models run comes from the config; with the defaults standing
        // in for a broken one, those notes would be wrong, and the config's
        // own error is the one to fix.
        notes.clear();
    }
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Validation {
        prompts: prompts.len(),
        cases,
        diagnostics: Diagnostics(diagnostics),
        notes,
    }
}

/// The checks that need more than the prompt file. Returns the number of cases.
fn check_prompt(
    prompt: &PromptSpec,
    files: &dyn RepoFiles,
    config: &Config,
    diagnostics: &mut Vec<Diagnostic>,
    notes: &mut Vec<String>,
) -> usize {
    let text = files
        .read(&prompt.path)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let located = yaml::parse(&text).map(|(doc, _)| doc).ok();
    let at = |pointer: &str, message: String, severity: Severity| {
        let pos = located
            .as_ref()
            .map(|doc| doc.pos(pointer))
            .unwrap_or_default();
        let diagnostic = Diagnostic::error(prompt.path.clone(), pos.line, pos.column, message);
        Diagnostic {
            severity,
            ..diagnostic
        }
        .with_source(&text)
    };

    let mut models: Vec<ModelId> = vec![prompt.model.clone()];
    for evaluator in &prompt.evaluators {
        match &evaluator.kind {
            EvaluatorKind::Llm { model_id, .. } => models.push(model_id.clone()),
            EvaluatorKind::Judge { model: Some(m), .. }
            | EvaluatorKind::Similarity { model: Some(m), .. } => models.push(m.clone()),
            _ => {}
        }
    }
    for model in models {
        let route = config.provider_for(&model);
        if route.alias == GITHUB_MODELS {
            let key = route
                .config
                .api_key_env
                .as_deref()
                .unwrap_or("GITHUB_TOKEN");
            let note = format!(
                "{}: model `{model}` runs on GitHub Models, with the token in {key}",
                prompt.path
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
    if prompt.semantics.is_github() {
        let differences = crate::pipeline::spec::github::differences(prompt, config);
        if differences.is_empty() {
            notes.push(format!(
                "{}: GitHub-format file: promptgate reads and scores it as `gh models eval` does",
                prompt.path
            ));
        }
        for difference in differences {
            notes.push(format!(
                "{}: GitHub-format file, differs from `gh models eval`: {difference}",
                prompt.path
            ));
        }
    }

    let cases = match crate::pipeline::dataset::cases_of(prompt, files) {
        Ok(cases) => cases,
        Err(problems) => {
            diagnostics.extend(problems.0);
            return 0;
        }
    };
    if cases.is_empty() {
        diagnostics.push(at(
            "",
            format!(
                "prompt `{}` has no cases, so `eval` and `check` skip it; add `testData` or a `dataset` file so it can be evaluated",
                prompt.name
            ),
            Severity::Warning,
        ));
    }
    for (i, evaluator) in prompt.evaluators.iter().enumerate() {
        let EvaluatorKind::Builtin { which } = &evaluator.kind else {
            continue;
        };
        let wants = crate::pipeline::eval::builtin_rubric(*which).expected;
        let lacking = cases.iter().filter(|c| c.expected.is_none()).count();
        if wants != crate::pipeline::eval::ExpectedRole::Unused && lacking > 0 {
            diagnostics.push(at(
                &format!("/evaluators/{i}"),
                format!(
                    "`{}` compares the reply with each case's `expected`, and {lacking} of {} cases have none; the judge is told so, and its score for them means little",
                    evaluator.name,
                    cases.len()
                ),
                Severity::Warning,
            ));
        }
    }
    let prepared = match PreparedPrompt::for_prompt(prompt, files) {
        Ok(prepared) => prepared,
        Err(error) => {
            diagnostics.push(problems::prompt_problem(prompt, files, error.to_string()));
            return cases.len();
        }
    };
    let rendered = match prepared.render_all(&cases) {
        Ok(rendered) => rendered,
        Err(error) => {
            diagnostics.push(problems::prompt_problem(prompt, files, error.to_string()));
            return cases.len();
        }
    };
    let mut failing = CaseProblems::new(prompt, files);
    for (case, result) in cases.iter().zip(rendered) {
        if let Err(error) = result {
            failing.push(case, &error);
        }
    }
    diagnostics.extend(failing.into_diagnostics());
    cases.len()
}
