//! Template problems, said the same way by every command: a problem of the
//! template itself (syntax, an include) points at the prompt file's
//! `messages`; a problem of one case points at that case's line in its
//! dataset. Many cases usually fail for one reason, so the first few are
//! shown and the rest counted.

use std::collections::HashMap;

use crate::pipeline::spec::yaml;
use crate::pipeline::template::TemplateError;
use crate::types::{Case, Diagnostic, PromptSpec, RepoFiles, RepoPath};

/// How many failing cases are shown one by one.
pub const CASES_SHOWN: usize = 10;

fn text_of(files: &dyn RepoFiles, path: &RepoPath) -> String {
    files
        .read(path)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A problem of the prompt's templates as a whole, at its `messages`.
pub fn prompt_problem(prompt: &PromptSpec, files: &dyn RepoFiles, message: String) -> Diagnostic {
    let text = text_of(files, &prompt.path);
    let pos = yaml::parse(&text)
        .map(|(doc, _)| doc.pos("/messages"))
        .unwrap_or_default();
    Diagnostic::error(prompt.path.clone(), pos.line, pos.column, message).with_source(&text)
}

/// Collects the cases that do not render into diagnostics at their lines.
pub struct CaseProblems<'a> {
    prompt: &'a PromptSpec,
    files: &'a dyn RepoFiles,
    texts: HashMap<RepoPath, String>,
    shown: Vec<Diagnostic>,
    failed: usize,
}

impl<'a> CaseProblems<'a> {
    pub fn new(prompt: &'a PromptSpec, files: &'a dyn RepoFiles) -> Self {
        Self {
            prompt,
            files,
            texts: HashMap::new(),
            shown: Vec::new(),
            failed: 0,
        }
    }

    pub fn push(&mut self, case: &Case, error: &TemplateError) {
        self.failed += 1;
        if self.failed > CASES_SHOWN {
            return;
        }
        let files = self.files;
        let text = self
            .texts
            .entry(case.source.file.clone())
            .or_insert_with(|| text_of(files, &case.source.file));
        self.shown.push(
            Diagnostic::error(
                case.source.file.clone(),
                case.source.line,
                0,
                format!("prompt `{}`: {error}", self.prompt.name),
            )
            .with_source(text),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.failed == 0
    }

    /// The diagnostics: the first [`CASES_SHOWN`] cases, then one line
    /// counting the rest.
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        let mut list = self.shown;
        if self.failed > CASES_SHOWN {
            list.push(prompt_problem(
                self.prompt,
                self.files,
                format!(
                    "prompt `{}`: {} more cases do not render (only the first {CASES_SHOWN} are shown)",
                    self.prompt.name,
                    self.failed - CASES_SHOWN
                ),
            ));
        }
        list
    }
}
