//! A repository's prompts and config as of one revision: finding and
//! reading every prompt file.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::pipeline::config::Config;
use crate::types::{Diagnostic, Diagnostics, PromptSpec, RepoFiles, RepoPath};

/// The config's prompt globs as one matcher. Invalid globs are skipped
/// here; `config::parse` reports them.
pub fn prompt_globs_matcher(config: &Config) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for glob in config.prompt_globs() {
        // `*` stays within one folder; `**` crosses folders (and matches none).
        if let Ok(glob) = GlobBuilder::new(&glob).literal_separator(true).build() {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

/// Every prompt the config's globs find, parsed, in path order, plus every
/// problem (including two prompts with the same name). A prompt with
/// errors is left out of the list; its errors are in the diagnostics.
pub fn load_workspace(files: &dyn RepoFiles, config: &Config) -> (Vec<PromptSpec>, Diagnostics) {
    let matcher = prompt_globs_matcher(config);
    let mut diagnostics = Vec::new();
    let mut paths = match files.list() {
        Ok(paths) => paths,
        Err(error) => {
            let diagnostic = Diagnostic::error(RepoPath(".".into()), 0, 0, error.to_string());
            return (Vec::new(), Diagnostics(vec![diagnostic]));
        }
    };
    paths.retain(|path| matcher.is_match(&path.0));
    paths.sort();
    let (prompts, more) = load_prompts(files, &paths);
    diagnostics.extend(more.0);
    (prompts, Diagnostics(diagnostics))
}

/// A file named on the command line is a prompt file when its name says so
/// (`*.prompt.yml`, `*.prompt.yaml`), or when it is YAML whose top level is
/// a map: gh-models' own examples are `examples/*.yml`. A YAML list, JSONL
/// or CSV is a dataset.
pub fn holds_prompt(files: &dyn RepoFiles, path: &RepoPath) -> bool {
    if path.0.ends_with(".prompt.yml") || path.0.ends_with(".prompt.yaml") {
        return true;
    }
    if !(path.0.ends_with(".yml") || path.0.ends_with(".yaml")) {
        return false;
    }
    let Ok(Some(bytes)) = files.read(path) else {
        return false;
    };
    match super::yaml::parse(&String::from_utf8_lossy(&bytes)) {
        Ok((doc, _)) => doc.value.is_object(),
        // Broken YAML: read it as a prompt, so its error shows with its line.
        Err(_) => true,
    }
}

/// Reads and parses the given prompt files; names must be unique among them.
pub fn load_prompts(files: &dyn RepoFiles, paths: &[RepoPath]) -> (Vec<PromptSpec>, Diagnostics) {
    let mut diagnostics = Vec::new();
    let mut prompts: Vec<PromptSpec> = Vec::new();
    let mut names: BTreeMap<String, RepoPath> = BTreeMap::new();
    for path in paths {
        let bytes = match files.read(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                diagnostics.push(Diagnostic::error(path.clone(), 0, 0, "no such file"));
                continue;
            }
            Err(error) => {
                diagnostics.push(Diagnostic::error(path.clone(), 0, 0, error.to_string()));
                continue;
            }
        };
        let (parsed, found) = super::parse::parse_with_name_pos(path, &bytes);
        diagnostics.extend(found.0);
        let Some((spec, name_pos)) = parsed else {
            continue;
        };
        if let Some(first) = names.get(&spec.name) {
            let text = String::from_utf8_lossy(&bytes);
            diagnostics.push(
                Diagnostic::error(
                    path.clone(),
                    name_pos.line,
                    name_pos.column,
                    format!(
                        "the name `{}` is already used by {first}; prompt names must be unique (set `name:`)",
                        spec.name
                    ),
                )
                .with_source(&text),
            );
            continue;
        }
        names.insert(spec.name.clone(), path.clone());
        prompts.push(spec);
    }
    (prompts, Diagnostics(diagnostics))
}

/// A repository's prompts and config, as of one revision.
pub struct Workspace {
    pub files: Box<dyn RepoFiles>,
    pub config: Config,
    pub prompts: Vec<PromptSpec>,
    /// Warnings found while loading (unknown keys and such).
    pub warnings: Diagnostics,
}

impl Workspace {
    /// Loads the config and every prompt; any error in them fails the load
    /// with every problem listed.
    pub fn load(files: Box<dyn RepoFiles>) -> Result<Self, Diagnostics> {
        let config = crate::pipeline::config::load(files.as_ref())?;
        let (prompts, found) = load_workspace(files.as_ref(), &config);
        if found.has_errors() {
            return Err(found);
        }
        Ok(Self {
            files,
            config,
            prompts,
            warnings: found,
        })
    }

    pub fn prompt(&self, name: &str) -> Option<&PromptSpec> {
        self.prompts.iter().find(|p| p.name == name)
    }
}
