//! Change detection: which prompts a change touches, and why.
//!
//! Two parts, kept apart so the decision is plain data in, plain data out:
//! - the git edge, [`changed_paths`], turns `git diff base..head` (or base
//!   against the working tree, untracked files included) into
//!   [`ChangedPath`]s;
//! - [`affected`] matches those paths against each prompt's dependencies
//!   ([`PromptDeps`]: its file, the snippets it includes, its dataset) and
//!   the config.
//!
//! [`template_includes`] finds the templates a message includes, so the
//! caller can build the dependency list (following nested includes by
//! reading each snippet in turn).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::repo::{self, RepoError};
use crate::spec::RepoPath;

/// The config file; a change to it may re-route any prompt's model or judge.
pub const CONFIG_FILE: &str = "promptgate.toml";

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

/// The paths that differ between `base` and `head`, or between `base` and
/// the working tree (staged, unstaged and untracked-but-not-ignored files)
/// when `head` is `None`. Paths are relative to `root`, which may be a
/// folder inside the repository; changes outside it are left out.
///
/// An untracked file is reported as added even when it is a moved copy of
/// a deleted file (git pairs renames only among files it tracks); prompts
/// are matched to their baseline by name, so that only loses the "renamed
/// from" note.
pub fn changed_paths(
    root: &Path,
    base: &str,
    head: Option<&str>,
) -> Result<Vec<ChangedPath>, RepoError> {
    let base = repo::resolve_commit(root, base)?;
    let head = head
        .map(|rev| repo::resolve_commit(root, rev))
        .transpose()?;
    let mut args = vec![
        "diff",
        "--name-status",
        "-z",
        "-M",
        "--no-ext-diff",
        "--no-textconv",
        "--relative",
        base.as_str(),
    ];
    if let Some(head) = &head {
        args.push(head);
    }
    let mut changes = parse_name_status(&repo::run_git(root, &args)?);
    if head.is_none() {
        let untracked = repo::run_git(root, ["ls-files", "-z", "--others", "--exclude-standard"])?;
        for path in untracked.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            if let Ok(path) = repo::normalize(&String::from_utf8_lossy(path)) {
                changes.push(ChangedPath {
                    path,
                    kind: ChangeKind::Added,
                });
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes.dedup_by(|a, b| a.path == b.path);
    Ok(changes)
}

/// Parses `git diff --name-status -z`: `<status>\0<path>\0`, or for renames
/// and copies `<status><score>\0<from>\0<to>\0`. Unknown statuses are read
/// as modifications.
pub fn parse_name_status(output: &[u8]) -> Vec<ChangedPath> {
    let mut fields = output
        .split(|&b| b == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned());
    let mut changes = Vec::new();
    let path = |text: Option<String>| text.and_then(|t| repo::normalize(&t).ok());
    while let Some(status) = fields.next() {
        let Some(letter) = status.chars().next() else {
            continue;
        };
        let score: u8 = status[letter.len_utf8()..].parse().unwrap_or(0);
        let change = match letter {
            'R' | 'C' => {
                let (Some(from), Some(to)) = (path(fields.next()), path(fields.next())) else {
                    break;
                };
                let kind = if letter == 'R' {
                    ChangeKind::Renamed {
                        from,
                        similarity: score,
                    }
                } else {
                    ChangeKind::Copied { from }
                };
                ChangedPath { path: to, kind }
            }
            _ => {
                let Some(at) = path(fields.next()) else {
                    break;
                };
                let kind = match letter {
                    'A' => ChangeKind::Added,
                    'D' => ChangeKind::Deleted,
                    'T' => ChangeKind::TypeChanged,
                    _ => ChangeKind::Modified,
                };
                ChangedPath { path: at, kind }
            }
        };
        changes.push(change);
    }
    changes
}

/// The template names a minijinja source includes, imports or extends, in
/// order, as written (`{% include "snippets/tone.md" %}` gives
/// `snippets/tone.md`; a list of alternatives gives each). Dynamic names
/// (`{% include var %}`, `"a" ~ b`) cannot be known without rendering and
/// are left out; comments and `{% raw %}` blocks are skipped.
pub fn template_includes(source: &str) -> Vec<String> {
    include_tags(source)
        .into_iter()
        .flat_map(|tag| tag.names)
        .collect()
}

/// One `{% include %}`, `{% import %}`, `{% from %}` or `{% extends %}` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeTag {
    /// `include`, `import`, `from` or `extends`.
    pub keyword: String,
    /// The literal names it refers to; empty when computed.
    pub names: Vec<String>,
    /// Where the whole tag, `{%` to `%}`, sits in the source (byte range).
    pub span: std::ops::Range<usize>,
}

/// Every include-like tag of a template, in order, with where it sits (so a
/// caller can inline snippets). Same rules as [`template_includes`].
pub fn include_tags(source: &str) -> Vec<IncludeTag> {
    let bytes = source.as_bytes();
    let mut tags = Vec::new();
    let mut at = 0;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'{', b'#') => {
                at = find_from(source, at + 2, "#}").map_or(bytes.len(), |end| end + 2);
            }
            (b'{', b'{') => at = end_of_expression(source, at + 2),
            (b'{', b'%') => {
                let tag = scan_tag(source, at + 2);
                match tag.keyword {
                    "include" | "extends" | "import" | "from" => tags.push(IncludeTag {
                        keyword: tag.keyword.to_owned(),
                        names: tag.names,
                        span: at..tag.end,
                    }),
                    "raw" => {
                        at = end_of_raw(source, tag.end);
                        continue;
                    }
                    _ => {}
                }
                at = tag.end;
            }
            _ => at += 1,
        }
    }
    tags
}

fn find_from(source: &str, from: usize, needle: &str) -> Option<usize> {
    source.get(from..)?.find(needle).map(|i| from + i)
}

struct Tag<'a> {
    keyword: &'a str,
    /// Literal template names, when the tag's argument is a literal or a list
    /// of literals.
    names: Vec<String>,
    /// Byte index just past `%}` (or the end of the source).
    end: usize,
}

/// Reads one `{% … %}` tag starting after its `{%`, aware of string literals
/// (a `%}` inside quotes does not end the tag).
fn scan_tag(source: &str, start: usize) -> Tag<'_> {
    let bytes = source.as_bytes();
    let skip_space = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let mut at = start;
    while at < bytes.len() && (bytes[at].is_ascii_whitespace() || matches!(bytes[at], b'-' | b'+'))
    {
        at += 1;
    }
    let keyword_start = at;
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
        at += 1;
    }
    let keyword = &source[keyword_start..at];

    // The argument: `"name"` or `["a", "b"]`; anything else is computed.
    let mut names = Vec::new();
    at = skip_space(at);
    match bytes.get(at) {
        Some(&quote @ (b'"' | b'\'')) => {
            let (name, next) = read_string(source, at + 1, quote);
            names.push(name);
            at = next;
        }
        Some(b'[') => {
            at += 1;
            loop {
                at = skip_space(at);
                match bytes.get(at) {
                    Some(&quote @ (b'"' | b'\'')) => {
                        let (name, next) = read_string(source, at + 1, quote);
                        names.push(name);
                        at = skip_space(next);
                        if bytes.get(at) == Some(&b',') {
                            at += 1;
                        }
                    }
                    Some(b']') => {
                        at += 1;
                        break;
                    }
                    _ => {
                        names.clear();
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    // Concatenation, a filter, a call or an index after it: computed.
    at = skip_space(at);
    if matches!(bytes.get(at), Some(b'~' | b'+' | b'|' | b'(' | b'.' | b'[')) {
        names.clear();
    }

    // The rest of the tag, to its `%}`.
    while at < bytes.len() {
        match bytes[at] {
            b'%' if bytes.get(at + 1) == Some(&b'}') => {
                return Tag {
                    keyword,
                    names,
                    end: at + 2,
                };
            }
            quote @ (b'"' | b'\'') => at = read_string(source, at + 1, quote).1,
            _ => at += 1,
        }
    }
    Tag {
        keyword,
        names: Vec::new(),
        end: bytes.len(),
    }
}

/// Reads a string literal's value from just past its opening quote; returns
/// it and the index past the closing quote.
fn read_string(source: &str, start: usize, quote: u8) -> (String, usize) {
    let mut text = String::new();
    let mut chars = source[start..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                Some((_, other)) => text.push(other),
                None => break,
            },
            c if c as u32 == u32::from(quote) => return (text, start + offset + 1),
            c => text.push(c),
        }
    }
    (text, source.len())
}

/// Index past the `}}` closing an expression that starts at `from`.
fn end_of_expression(source: &str, mut at: usize) -> usize {
    let bytes = source.as_bytes();
    while at < bytes.len() {
        match bytes[at] {
            b'}' if bytes.get(at + 1) == Some(&b'}') => return at + 2,
            quote @ (b'"' | b'\'') => at = read_string(source, at + 1, quote).1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Index past the `{% endraw %}` that closes a raw block opened before `from`.
fn end_of_raw(source: &str, mut from: usize) -> usize {
    while let Some(open) = find_from(source, from, "{%") {
        let tag = scan_tag(source, open + 2);
        if tag.keyword == "endraw" {
            return tag.end;
        }
        from = open + 2;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RepoPath {
        RepoPath(p.to_owned())
    }

    #[test]
    fn includes_are_found_as_written() {
        let source = r#"
{% include "snippets/tone.md" %}
{%- include 'snippets/a.md' -%}
{% include ["first.md", "fallback.md"] ignore missing %}
{% include "with %} inside.md" %}
{% include name %}
{% include "prefix/" ~ name %}
{# {% include "commented.md" %} #}
{% raw %}{% include "raw.md" %}{% endraw %}
{% import "macros.j2" as m %}{% from "helpers.j2" import x %}
{% extends "base.j2" %}
{{ "{% include 'not-a-tag.md' %}" }}
{% if x %}{% include "nested/inner.md" with context %}{% endif %}
"#;
        assert_eq!(
            template_includes(source),
            [
                "snippets/tone.md",
                "snippets/a.md",
                "first.md",
                "fallback.md",
                "with %} inside.md",
                "macros.j2",
                "helpers.j2",
                "base.j2",
                "nested/inner.md",
            ]
        );
    }

    #[test]
    fn include_tags_know_where_they_are() {
        let source = "Hi {%- include 'a.md' -%} and {% include x %}.";
        let tags = include_tags(source);
        assert_eq!(tags.len(), 2);
        assert_eq!(&source[tags[0].span.clone()], "{%- include 'a.md' -%}");
        assert_eq!(tags[0].names, ["a.md"]);
        assert_eq!(&source[tags[1].span.clone()], "{% include x %}");
        assert!(tags[1].names.is_empty());
    }

    #[test]
    fn unterminated_tags_do_not_panic() {
        for source in [
            "{%",
            "{% include",
            "{% include \"a",
            "{#",
            "{% raw %}",
            "{% include \"é\\",
        ] {
            let _ = template_includes(source);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_source_is_scanned_without_panic(source in "[{}%#~\\[\\]\"' a-z.é-]{0,80}") {
            let _ = template_includes(&source);
        }
    }

    #[test]
    fn name_status_parsing() {
        let out = b"M\0a.prompt.yml\0R087\0old.prompt.yml\0new.prompt.yml\0A\0snippets/x.md\0D\0gone.md\0C100\0a\0b\0T\0l\0";
        let changes = parse_name_status(out);
        assert_eq!(
            changes,
            [
                ChangedPath {
                    path: path("a.prompt.yml"),
                    kind: ChangeKind::Modified
                },
                ChangedPath {
                    path: path("new.prompt.yml"),
                    kind: ChangeKind::Renamed {
                        from: path("old.prompt.yml"),
                        similarity: 87
                    }
                },
                ChangedPath {
                    path: path("snippets/x.md"),
                    kind: ChangeKind::Added
                },
                ChangedPath {
                    path: path("gone.md"),
                    kind: ChangeKind::Deleted
                },
                ChangedPath {
                    path: path("b"),
                    kind: ChangeKind::Copied { from: path("a") }
                },
                ChangedPath {
                    path: path("l"),
                    kind: ChangeKind::TypeChanged
                },
            ]
        );
        assert!(parse_name_status(b"R1\0only-one\0").is_empty());
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
