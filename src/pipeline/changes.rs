//! The changes stage: which prompts a change touches, and why. Plain data
//! in, plain data out: the changed paths ([`ChangedPath`], from the git
//! edge's `changed_paths` or the server's tree comparison) are matched
//! against each prompt's dependencies ([`PromptDeps`]: its file, the
//! snippets it includes, its dataset) and the config ([`affected`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pipeline::config::CONFIG_FILE;
use crate::pipeline::spec::Workspace;
use crate::pipeline::template::Includes;
use crate::types::RepoPath;

/// What happened to one path between base and head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// git's rename detection paired this path with a removed one;
    /// `similarity` is git's percentage (100: content unchanged).
    Renamed {
        from: RepoPath,
        similarity: u8,
    },
    /// A new file that git found to be a copy of `from`.
    Copied {
        from: RepoPath,
    },
    /// File ↔ symlink and the like.
    TypeChanged,
}

/// One path of `git diff --name-status`, relative to the repository root
/// given to [`changed_paths`]. For renames `path` is the new name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedPath {
    pub path: RepoPath,
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// What one prompt depends on, as of the head. Computed by the caller from
/// the spec (includes transitively resolved to repository paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptDeps {
    pub name: String,
    pub path: RepoPath,
    pub includes: Vec<RepoPath>,
    pub dataset: Option<RepoPath>,
}

/// Why a prompt is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "path", rename_all = "snake_case")]
pub enum Reason {
    FileChanged,
    FileAdded,
    RenamedFrom(RepoPath),
    SnippetChanged(RepoPath),
    DatasetChanged(RepoPath),
    ConfigChanged,
    /// Everything was asked for (`--all`).
    All,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::FileChanged => f.write_str("file changed"),
            Reason::FileAdded => f.write_str("new file"),
            Reason::RenamedFrom(from) => write!(f, "renamed from {from}"),
            Reason::SnippetChanged(path) => write!(f, "snippet {path} changed"),
            Reason::DatasetChanged(path) => write!(f, "dataset {path} changed"),
            Reason::ConfigChanged => write!(f, "config changed ({CONFIG_FILE})"),
            Reason::All => f.write_str("all prompts requested"),
        }
    }
}

/// A prompt to evaluate, with every reason found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    pub name: String,
    pub path: RepoPath,
    pub reasons: Vec<Reason>,
}

/// The prompts a set of changed paths touches, in the order of `prompts`.
///
/// A prompt is affected when its own file changed (or was added, or renamed
/// to its path), a snippet it includes changed, its dataset changed, or
/// `promptgate.toml` changed. Any config change counts for every prompt: a
/// provider alias, the judge, prices or the gate policy can each change a
/// prompt's result, and telling which prompt a change reaches would need
/// both configs parsed.
pub fn affected(changed: &[ChangedPath], prompts: &[PromptDeps]) -> Vec<Affected> {
    let config_changed = changed.iter().any(|c| c.path.0 == CONFIG_FILE);
    let change_of = |path: &RepoPath| changed.iter().find(|c| &c.path == path);
    prompts
        .iter()
        .filter_map(|prompt| {
            let mut reasons = Vec::new();
            if let Some(change) = change_of(&prompt.path) {
                match &change.kind {
                    ChangeKind::Added | ChangeKind::Copied { .. } => {
                        reasons.push(Reason::FileAdded)
                    }
                    ChangeKind::Renamed { from, similarity } => {
                        reasons.push(Reason::RenamedFrom(from.clone()));
                        if *similarity < 100 {
                            reasons.push(Reason::FileChanged);
                        }
                    }
                    ChangeKind::Modified | ChangeKind::TypeChanged | ChangeKind::Deleted => {
                        reasons.push(Reason::FileChanged);
                    }
                }
            }
            for include in &prompt.includes {
                if change_of(include).is_some() {
                    reasons.push(Reason::SnippetChanged(include.clone()));
                }
            }
            if let Some(dataset) = &prompt.dataset
                && change_of(dataset).is_some()
            {
                reasons.push(Reason::DatasetChanged(dataset.clone()));
            }
            if config_changed {
                reasons.push(Reason::ConfigChanged);
            }
            (!reasons.is_empty()).then(|| Affected {
                name: prompt.name.clone(),
                path: prompt.path.clone(),
                reasons,
            })
        })
        .collect()
}

/// Every prompt, for `--all`.
pub fn everything(prompts: &[PromptDeps]) -> Vec<Affected> {
    prompts
        .iter()
        .map(|prompt| Affected {
            name: prompt.name.clone(),
            path: prompt.path.clone(),
            reasons: vec![Reason::All],
        })
        .collect()
}

/// The files each prompt of a workspace depends on: its own, every snippet
/// it includes (transitively, through the template stage's one include
/// walk, so a commented-out include is not a dependency) and its dataset.
pub fn dependencies(workspace: &Workspace) -> Vec<PromptDeps> {
    workspace
        .prompts
        .iter()
        .map(|prompt| PromptDeps {
            name: prompt.name.clone(),
            path: prompt.path.clone(),
            includes: Includes::of_prompt(prompt, workspace.files.as_ref()).paths(),
            dataset: prompt.dataset.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RepoPath {
        RepoPath(p.to_owned())
    }

    #[test]
    fn affected_names_every_reason() {
        let prompts = [
            PromptDeps {
                name: "support".into(),
                path: path("prompts/support.prompt.yml"),
                includes: vec![path("snippets/tone.md")],
                dataset: Some(path("data/support.jsonl")),
            },
            PromptDeps {
                name: "extract".into(),
                path: path("prompts/extract.prompt.yml"),
                includes: vec![],
                dataset: None,
            },
        ];
        let changed = [
            ChangedPath {
                path: path("snippets/tone.md"),
                kind: ChangeKind::Modified,
            },
            ChangedPath {
                path: path("data/support.jsonl"),
                kind: ChangeKind::Modified,
            },
            ChangedPath {
                path: path("README.md"),
                kind: ChangeKind::Modified,
            },
        ];
        let found = affected(&changed, &prompts);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "support");
        let reasons: Vec<String> = found[0].reasons.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "snippet snippets/tone.md changed",
                "dataset data/support.jsonl changed"
            ]
        );

        let config = [ChangedPath {
            path: path(CONFIG_FILE),
            kind: ChangeKind::Modified,
        }];
        let found = affected(&config, &prompts);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|a| a.reasons == [Reason::ConfigChanged]));

        let renamed = [ChangedPath {
            path: path("prompts/extract.prompt.yml"),
            kind: ChangeKind::Renamed {
                from: path("extract.prompt.yml"),
                similarity: 100,
            },
        }];
        let found = affected(&renamed, &prompts);
        assert_eq!(
            found[0].reasons,
            [Reason::RenamedFrom(path("extract.prompt.yml"))]
        );
        assert!(affected(&[], &prompts).is_empty());
        assert_eq!(everything(&prompts).len(), 2);
    }
}
