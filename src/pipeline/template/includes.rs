//! The include walk: every file a set of templates includes, imports or
//! extends, transitively, read once each. The renderer, the version id, the
//! text diff and change detection all take their includes from here, so they
//! agree on what a prompt depends on.
//!
//! Paths are relative to the repository root and must be string literals
//! (a list of them is fine), so what a template can read is known before it
//! runs; every path goes through the same refusal rules as any other read
//! ([`RepoPath::relative`], then the [`RepoFiles`] reader's symlink checks).

use std::collections::{BTreeMap, BTreeSet};

use super::TemplateError;
use super::scan::{IncludeTag, include_tags};
use crate::types::{PromptSpec, RepoFiles, RepoPath};

/// How deep includes may nest (a snippet including a snippet …).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// One file reached by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    pub path: RepoPath,
    /// `None` when it could not be read (missing, refused, not UTF-8).
    pub text: Option<String>,
}

/// What a set of templates includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Includes {
    /// By the name as written in the tag.
    by_name: BTreeMap<String, Included>,
    /// What would stop the templates from rendering, in the order found.
    problems: Vec<TemplateError>,
}

impl Includes {
    /// What a prompt's messages include. A GitHub-format prompt includes
    /// nothing: gh sends `{% include %}` as written.
    pub fn of_prompt(spec: &PromptSpec, files: &dyn RepoFiles) -> Self {
        if spec.semantics.is_github() {
            return Includes::default();
        }
        let sources: Vec<&str> = spec.messages.iter().map(|m| m.content.as_str()).collect();
        Includes::walk(&sources, files)
    }

    /// Walks the includes of `sources`, reading each file once through `files`.
    /// Problems are collected, not stopped at, so a change-detection caller
    /// still learns every path a broken template refers to.
    pub fn walk(sources: &[&str], files: &dyn RepoFiles) -> Self {
        let mut walk = Includes::default();
        let mut frontier: Vec<IncludeTag> = sources.iter().flat_map(|s| include_tags(s)).collect();
        for _depth in 0..=MAX_INCLUDE_DEPTH {
            let mut next = Vec::new();
            for tag in frontier.drain(..) {
                next.extend(walk.follow(&tag, files));
            }
            if next.is_empty() {
                return walk;
            }
            frontier = next;
        }
        walk.problems.push(TemplateError::Include {
            path: frontier
                .first()
                .and_then(|tag| tag.names.first().cloned())
                .unwrap_or_default(),
            reason: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels (a cycle?)"),
        });
        walk
    }

    /// Reads the names of one tag; returns the tags of what it newly read.
    fn follow(&mut self, tag: &IncludeTag, files: &dyn RepoFiles) -> Vec<IncludeTag> {
        if tag.names.is_empty() {
            self.problems.push(TemplateError::ComputedInclude {
                tag: tag.text.clone(),
                keyword: tag.keyword.clone(),
            });
            return Vec::new();
        }
        let mut found_any = false;
        let mut missing = Vec::new();
        let mut nested = Vec::new();
        for name in &tag.names {
            if let Some(known) = self.by_name.get(name) {
                found_any |= known.text.is_some();
                continue;
            }
            let fail = |reason: String| TemplateError::Include {
                path: name.clone(),
                reason,
            };
            let path = match RepoPath::relative(name) {
                Ok(path) => path,
                Err(reason) => {
                    // A path that leaves the repository is refused even in a
                    // list of alternatives.
                    self.problems.push(fail(reason));
                    continue;
                }
            };
            let text = match files.read(&path) {
                Ok(Some(bytes)) => match String::from_utf8(bytes) {
                    Ok(text) => match super::check_syntax(&text) {
                        Ok(()) => Some(text),
                        Err(detail) => {
                            self.problems
                                .push(fail(format!("not a valid template: {detail}")));
                            None
                        }
                    },
                    Err(_) => {
                        self.problems
                            .push(fail("the file is not UTF-8 text".to_owned()));
                        None
                    }
                },
                Ok(None) => {
                    missing.push(fail(format!("no file `{path}` in {}", files.describe())));
                    None
                }
                Err(error) => {
                    self.problems.push(fail(error.to_string()));
                    None
                }
            };
            if let Some(text) = &text {
                found_any = true;
                nested.extend(include_tags(text));
            }
            self.by_name.insert(name.clone(), Included { path, text });
        }
        // minijinja renders the first name of a list that exists; only when
        // none does (and the tag does not say `ignore missing`) is it an error.
        if !found_any && !tag.ignore_missing {
            self.problems.extend(missing.into_iter().take(1));
        }
        nested
    }

    /// The first problem, if any: what makes the templates unrenderable.
    pub fn check(&self) -> Result<(), TemplateError> {
        match self.problems.first() {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        }
    }

    /// Every readable file, by the name as written, with its text.
    pub fn by_name(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_name
            .iter()
            .filter_map(|(name, file)| Some((name.as_str(), file.text.as_deref()?)))
    }

    /// Every readable file by repository path, with its text: what a
    /// version id hashes besides the messages.
    pub fn texts(&self) -> BTreeMap<RepoPath, String> {
        self.by_name
            .values()
            .filter_map(|file| Some((file.path.clone(), file.text.clone()?)))
            .collect()
    }

    /// Every path the templates name, readable or not: what they depend
    /// on (a deleted snippet is still a dependency of the prompt that names it).
    pub fn paths(&self) -> Vec<RepoPath> {
        let paths: BTreeSet<RepoPath> = self.by_name.values().map(|f| f.path.clone()).collect();
        paths.into_iter().collect()
    }

    /// `source` with each `{% include "x" %}` replaced by x's text,
    /// recursively: the form a published version holds. Imports, computed
    /// names and unreadable files stay as written.
    pub fn inline(&self, source: &str) -> String {
        self.inline_at(source, 0)
    }

    fn inline_at(&self, source: &str, depth: usize) -> String {
        let mut out = String::with_capacity(source.len());
        let mut copied = 0;
        for tag in include_tags(source) {
            let snippet = tag
                .names
                .iter()
                .find_map(|name| self.by_name.get(name)?.text.as_deref());
            match snippet {
                Some(text) if tag.keyword == "include" && depth < MAX_INCLUDE_DEPTH => {
                    out.push_str(&source[copied..tag.span.start]);
                    out.push_str(&self.inline_at(text, depth + 1));
                    copied = tag.span.end;
                }
                _ => {}
            }
        }
        out.push_str(&source[copied..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MemoryFiles;

    #[test]
    fn commented_raw_and_quoted_includes_are_not_dependencies() {
        let files = MemoryFiles::new().with("snippets/tone.md", "Be kind.");
        let source = "{# {% include 'deleted.md' %} #}{% raw %}{% include 'raw.md' %}{% endraw %}\
                      {{ \"{% include 'string.md' %}\" }}{% include 'snippets/tone.md' %}";
        let walk = Includes::walk(&[source], &files);
        walk.check().unwrap();
        assert_eq!(walk.paths(), [RepoPath("snippets/tone.md".into())]);
    }

    #[test]
    fn a_missing_file_is_a_problem_but_still_a_dependency() {
        let files = MemoryFiles::new();
        let walk = Includes::walk(&["{% include 'gone.md' %}"], &files);
        assert!(walk.check().is_err());
        assert_eq!(walk.paths(), [RepoPath("gone.md".into())]);
    }

    #[test]
    fn lists_need_one_existing_name_unless_missing_is_ignored() {
        let files = MemoryFiles::new().with("b.md", "B");
        assert!(
            Includes::walk(&["{% include ['a.md', 'b.md'] %}"], &files)
                .check()
                .is_ok()
        );
        assert!(
            Includes::walk(&["{% include ['x.md', 'y.md'] %}"], &files)
                .check()
                .is_err()
        );
        assert!(
            Includes::walk(&["{% include ['x.md'] ignore missing %}"], &files)
                .check()
                .is_ok()
        );
        // Escaping the repository is refused even as an alternative.
        assert!(
            Includes::walk(&["{% include ['../x.md', 'b.md'] %}"], &files)
                .check()
                .is_err()
        );
    }

    #[test]
    fn a_name_with_the_closing_delimiter_in_it_is_whole() {
        let files = MemoryFiles::new().with("a %} b.md", "text");
        let walk = Includes::walk(&["{% include \"a %} b.md\" %}"], &files);
        walk.check().unwrap();
        assert_eq!(walk.inline("[{% include \"a %} b.md\" %}]"), "[text]");
    }

    #[test]
    fn nested_includes_inline_and_are_read_once() {
        let files = MemoryFiles::new()
            .with("a.md", "A{% include 'b.md' %}")
            .with("b.md", "B");
        let walk = Includes::walk(&["{% include 'a.md' %}", "{% include 'b.md' %}"], &files);
        assert_eq!(walk.inline("x {% include 'a.md' %} y"), "x AB y");
        assert_eq!(walk.texts().len(), 2);
    }
}
