//! What changed in one prompt between two versions: each side a git
//! revision, the working tree, or a version published in the registry
//! (`support-bot@v7`, `@v7`, `@production`). Prompt files are read with the
//! real loader (the side's own `promptgate.toml` and globs), and message
//! texts are compared with their includes resolved, as a published version
//! stores them: a changed snippet shows as changed text, and a git side
//! compares cleanly against a registry side.

use std::path::Path;

use super::registry::{OpenError, open_registry};
use crate::edges::git::{self as repo, GitRevision, WorkingTree};
use crate::edges::registry::{Registry, RegistryError, VersionRef};
use crate::pipeline::config::Config;
use crate::pipeline::spec;
use crate::pipeline::template::TemplateError;
use crate::pipeline::textdiff::{self, PromptDiff};
use crate::types::{Diagnostics, PromptContent, PromptSpec, RepoError, RepoFiles};

/// Where one side of the diff comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    WorkingTree,
    Git(String),
    /// A published version; `prompt` when the argument names one.
    Published {
        prompt: Option<String>,
        at: At,
    },
}

/// Which published version: a number or a label's current target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Number(u32),
    Label(String),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Number(n) => write!(f, "v{n}"),
            At::Label(label) => write!(f, "{label}"),
        }
    }
}

impl Source {
    /// `NAME@v7`, `@7` and `@label` are published versions; anything else
    /// (including git's `@`, `HEAD@{1}` and `@{u}`) is a git revision.
    pub fn parse(text: &str) -> Source {
        let Some((name, at)) = text.rsplit_once('@') else {
            return Source::Git(text.to_owned());
        };
        let plain = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if at.is_empty() || !plain(at) || name.contains(['{', '}']) {
            return Source::Git(text.to_owned());
        }
        let at = match VersionRef::parse(at) {
            VersionRef::Number(n) => At::Number(n),
            VersionRef::Id(_) => At::Label(at.to_owned()),
        };
        let prompt = (!name.is_empty()).then(|| name.to_owned());
        Source::Published { prompt, at }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("`{given}` already names the old version; give at most one more version (TO)")]
    TooManyVersions { given: String },
    #[error(
        "`{given}` is a version, not a prompt; write the prompt first: `promptgate diff NAME {given}`"
    )]
    VersionNotPrompt { given: String },
    #[error("promptgate.toml in the {origin} is invalid:\n{problems}")]
    Config { origin: String, problems: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("finding the merge base of HEAD and {branch}")]
    MergeBase {
        branch: String,
        #[source]
        source: RepoError,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("reading {prompt}@{at} from the {origin}")]
    Published {
        prompt: String,
        at: At,
        origin: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{path}: resolving its includes in the {origin}")]
    Includes {
        path: String,
        origin: String,
        #[source]
        source: TemplateError,
    },
    #[error("{0}")]
    NotFound(String),
}

/// One git side, loaded: its files and every prompt that parses.
struct Tree {
    files: Box<dyn RepoFiles>,
    prompts: Vec<PromptSpec>,
    problems: Diagnostics,
}

impl Tree {
    fn load(files: Box<dyn RepoFiles>) -> Result<Tree, DiffError> {
        let config: Config = crate::pipeline::config::load(files.as_ref()).map_err(|problems| {
            DiffError::Config {
                origin: files.describe(),
                problems: render(&problems),
            }
        })?;
        let (prompts, problems) = spec::load_workspace(files.as_ref(), &config);
        Ok(Tree {
            files,
            prompts,
            problems,
        })
    }

    /// The prompt named `name`, else the one whose file is at `query`.
    fn find(&self, name: &str, query: &str) -> Option<&PromptSpec> {
        let path = crate::types::checked_path(query).ok();
        self.prompts
            .iter()
            .find(|p| p.name == name)
            .or_else(|| self.prompts.iter().find(|p| Some(&p.path) == path.as_ref()))
    }
}

/// A side once read: where it is, and the prompt's content there.
pub struct Side {
    /// `prompts/x.prompt.yml (working tree)`, `support-bot@v7 (registry sqlite://…)`.
    pub place: String,
    /// `working tree`, `git abc123`, … for "does not exist in …".
    pub origin: String,
    pub content: Option<PromptContent>,
}

/// What [`diff_prompt`] compares: a prompt and its two sides as given
/// (`None`: the defaults).
pub struct DiffRequest<'a> {
    /// The prompt's `name` or file path; `NAME@vN` / `NAME@LABEL` names the
    /// prompt and, at once, the old version.
    pub prompt: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// The registry chosen by whoever asks (else the config's).
    pub registry: Option<&'a str>,
    /// The repository (`owner/repo`) whose prompts a shared registry is
    /// read for; `None`: as the registry's own default says.
    pub repository: Option<&'a str>,
}

/// One prompt compared between two sides.
pub struct Compared {
    pub name: String,
    pub old: Side,
    pub new: Side,
    /// Set when the prompt exists on one side only.
    pub only_one_side: Option<String>,
    pub diff: PromptDiff,
}

/// Compares one prompt between two versions: by default the merge base of
/// HEAD with the default branch and the working tree.
pub async fn diff_prompt(repo: &Path, request: &DiffRequest<'_>) -> Result<Compared, DiffError> {
    let (query, from, to) = sources(request)?;
    let from = match from {
        Some(from) => from,
        None => {
            let branch = repo::default_branch(repo)?;
            Source::Git(repo::merge_base(repo, "HEAD", &branch).map_err(|source| {
                DiffError::MergeBase {
                    branch: branch.clone(),
                    source,
                }
            })?)
        }
    };
    let to = to.unwrap_or(Source::WorkingTree);

    let tree = |source: &Source| -> Result<Option<Tree>, DiffError> {
        Ok(match source {
            Source::WorkingTree => Some(Tree::load(Box::new(WorkingTree::new(repo)?))?),
            Source::Git(rev) => Some(Tree::load(Box::new(GitRevision::new(repo, rev)?))?),
            Source::Published { .. } => None,
        })
    };
    let (old_tree, new_tree) = (tree(&from)?, tree(&to)?);

    // The prompt's name: from a git side that has it (by name or by path,
    // the new side first), so a renamed file is followed by name.
    let name = [&new_tree, &old_tree]
        .into_iter()
        .flatten()
        .find_map(|t| t.find(&query, &query))
        .map_or_else(|| query.clone(), |spec| spec.name.clone());

    let (old_published, new_published) = if [&from, &to]
        .iter()
        .any(|s| matches!(s, Source::Published { .. }))
    {
        let config =
            crate::pipeline::config::load(&WorkingTree::new(repo)?).map_err(|problems| {
                DiffError::Config {
                    origin: "working tree".into(),
                    problems: render(&problems),
                }
            })?;
        let registry = open_registry(repo, request.registry, request.repository, &config).await?;
        let old = published(registry.as_ref(), &from, &name).await?;
        let new = published(registry.as_ref(), &to, &name).await?;
        (old, new)
    } else {
        (None, None)
    };
    let side = |published: Option<Side>, tree: &Option<Tree>| match (published, tree) {
        (Some(side), _) => Ok(side),
        (None, Some(tree)) => git_side(tree, &name, &query),
        (None, None) => Err(DiffError::NotFound(
            "a side of the diff was neither read from git nor the registry".into(),
        )),
    };
    let old = side(old_published, &old_tree)?;
    let new = side(new_published, &new_tree)?;
    if old.content.is_none() && new.content.is_none() {
        let mut message = format!(
            "no prompt named or at `{query}` in the {} or the {}; give a prompt's `name` or the \
             path of its .prompt.yml file",
            old.origin, new.origin
        );
        for tree in [&old_tree, &new_tree].into_iter().flatten() {
            if tree.problems.has_errors() {
                message.push_str(&format!(
                    "\n(some prompt files in the {} have errors and were skipped; `promptgate \
                     validate` lists them)",
                    tree.files.describe()
                ));
            }
        }
        return Err(DiffError::NotFound(message));
    }

    let only_one_side = match (&old.content, &new.content) {
        (None, Some(_)) => Some(format!(
            "`{name}` does not exist in the {}: all of it is new in the {}.",
            old.origin, new.origin
        )),
        (Some(_), None) => Some(format!(
            "`{name}` does not exist in the {}: all of it is gone.",
            new.origin
        )),
        _ => None,
    };
    let diff = textdiff::diff_contents(old.content.as_ref(), new.content.as_ref());
    Ok(Compared {
        name,
        old,
        new,
        only_one_side,
        diff,
    })
}

/// The prompt query and the two sides: `NAME@v1 [TO]` names the prompt and
/// the old version in one word.
fn sources(
    request: &DiffRequest<'_>,
) -> Result<(String, Option<Source>, Option<Source>), DiffError> {
    let from = request.from.map(Source::parse);
    let to = request.to.map(Source::parse);
    match Source::parse(request.prompt) {
        Source::Published {
            prompt: Some(name),
            at,
        } => {
            if to.is_some() {
                return Err(DiffError::TooManyVersions {
                    given: request.prompt.to_owned(),
                });
            }
            let old = Source::Published {
                prompt: Some(name.clone()),
                at,
            };
            Ok((name, Some(old), from))
        }
        Source::Published { prompt: None, .. } => Err(DiffError::VersionNotPrompt {
            given: request.prompt.to_owned(),
        }),
        _ => Ok((request.prompt.to_owned(), from, to)),
    }
}

fn git_side(tree: &Tree, name: &str, query: &str) -> Result<Side, DiffError> {
    let origin = tree.files.describe();
    let Some(spec) = tree.find(name, query) else {
        return Ok(Side {
            place: format!("absent ({origin})"),
            origin,
            content: None,
        });
    };
    let content = crate::pipeline::template::resolved_content(spec, tree.files.as_ref()).map_err(
        |source| DiffError::Includes {
            path: spec.path.to_string(),
            origin: origin.clone(),
            source,
        },
    )?;
    Ok(Side {
        place: format!("{} ({origin})", spec.path),
        origin,
        content: Some(content),
    })
}

/// The side a published source names; `None` for a git source.
async fn published(
    registry: &dyn Registry,
    source: &Source,
    name: &str,
) -> Result<Option<Side>, DiffError> {
    let Source::Published { prompt, at } = source else {
        return Ok(None);
    };
    let prompt = prompt.as_deref().unwrap_or(name);
    let origin = format!("registry {}", registry.describe());
    let found = match at {
        At::Number(n) => {
            let number = VersionRef::Number(*n);
            registry
                .version(prompt, &number)
                .await
                .and_then(|v| v.ok_or_else(|| crate::edges::registry::not_found(prompt, &number)))
        }
        At::Label(label) => registry.resolve(prompt, label, None).await,
    };
    let version = found.map_err(|source| DiffError::Published {
        prompt: prompt.to_owned(),
        at: at.clone(),
        origin: origin.clone(),
        source: Box::new(source),
    })?;
    Ok(Some(Side {
        place: format!("{prompt}@v{} ({origin})", version.number),
        origin,
        content: Some(version.content),
    }))
}

fn render(problems: &Diagnostics) -> String {
    problems
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_registry_and_git_forms() {
        let published = |prompt: Option<&str>, at: At| Source::Published {
            prompt: prompt.map(str::to_owned),
            at,
        };
        assert_eq!(
            Source::parse("support-bot@v7"),
            published(Some("support-bot"), At::Number(7))
        );
        assert_eq!(Source::parse("@7"), published(None, At::Number(7)));
        assert_eq!(
            Source::parse("@production"),
            published(None, At::Label("production".into()))
        );
        for git in ["HEAD", "@", "HEAD@{1}", "@{u}", "main~2", "a1b2c3"] {
            assert_eq!(Source::parse(git), Source::Git(git.into()), "{git}");
        }
    }
}
