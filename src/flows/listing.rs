//! Every prompt of a checkout with its model, version id, number of cases
//! and evaluators, and the problems that kept any from being read.

use serde::Serialize;

use crate::pipeline::config::{self, Config};
use crate::pipeline::spec;
use crate::types::{Diagnostic, RepoFiles, Severity};

/// One prompt as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Listed {
    pub name: String,
    pub path: String,
    pub model: String,
    /// The version id of its current content; `None` when it cannot be computed.
    pub version: Option<String>,
    /// `None` when its cases cannot be read.
    pub cases: Option<usize>,
    pub evaluators: Vec<String>,
}

/// The prompts, and the errors that kept some from being read (a broken
/// config falls back to the defaults, and says so).
pub fn list_prompts(files: &dyn RepoFiles) -> (Vec<Listed>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let config = config::load(files).unwrap_or_else(|found| {
        problems.extend(found.0);
        Config::default()
    });
    let (prompts, found) = spec::load_workspace(files, &config);
    problems.extend(found.0);
    let rows = prompts
        .iter()
        .map(|prompt| Listed {
            name: prompt.name.clone(),
            path: prompt.path.0.clone(),
            model: prompt.model.to_string(),
            version: spec::version_id(prompt, files).ok().map(|v| v.0),
            cases: crate::pipeline::dataset::cases_of(prompt, files)
                .ok()
                .map(|cases| cases.len()),
            evaluators: prompt.evaluators.iter().map(|e| e.name.clone()).collect(),
        })
        .collect();
    problems.retain(|d| d.severity == Severity::Error);
    (rows, problems)
}
