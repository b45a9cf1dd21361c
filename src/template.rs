//! Message templates: minijinja, strict about undefined variables, with
//! `{% include "path" %}` reading only files inside the repository.
//!
//! Includes are resolved up front (statically) rather than through a
//! minijinja loader: the loader would have to own the file reader for
//! `'static`, and the set of included files is needed anyway for a prompt's
//! version id. Paths are relative to the repository root and must be string
//! literals, so what a template can read is known before it runs. There is
//! no environment or file interpolation: the only data a template sees is
//! the case's variables.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};

use crate::dataset::Case;
use crate::provider::ChatMessage;
use crate::repo::RepoFiles;
use crate::spec::{MessageTemplate, PromptSpec, RepoPath, Role};

/// How deep includes may nest (a snippet including a snippet …).
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("messages[{message}] ({role}): not a valid template: {detail}")]
    Syntax {
        message: usize,
        role: Role,
        detail: String,
    },
    #[error(
        "case `{case}`: messages[{message}] ({role}) uses `{variable}`, which the case does not define; add `{variable}` to the case or remove it from the template"
    )]
    UndefinedVariable {
        variable: String,
        message: usize,
        role: Role,
        case: String,
    },
    #[error("{{% include \"{path}\" %}}: {reason}")]
    Include { path: String, reason: String },
    #[error("case `{case}`: messages[{message}] ({role}): {detail}")]
    Render {
        message: usize,
        role: Role,
        case: String,
        detail: String,
    },
}

/// Checks a template's syntax without rendering it.
pub fn check_syntax(source: &str) -> Result<(), String> {
    Environment::new()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|error| describe(&error))
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    if let Some(line) = error.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

/// `{% include "x" %}`, `{% import 'x' as y %}`, `{% from "x" import y %}`,
/// `{% extends "x" %}`: the tag and everything up to the closing `%}`.
fn include_tags() -> &'static regex::Regex {
    static TAGS: OnceLock<regex::Regex> = OnceLock::new();
    TAGS.get_or_init(|| {
        regex::Regex::new(r"\{%[-+]?\s*(include|import|from|extends)\s+(.*?)\s*[-+]?%\}")
            .expect("the include pattern is valid")
    })
}

/// The paths a template includes, as written, in order.
fn included_names(source: &str) -> Result<Vec<String>, TemplateError> {
    let mut names = Vec::new();
    for capture in include_tags().captures_iter(source) {
        let argument = capture[2].trim();
        let literal = argument
            .strip_prefix('"')
            .and_then(|rest| rest.split_once('"'))
            .or_else(|| {
                argument
                    .strip_prefix('\'')
                    .and_then(|rest| rest.split_once('\''))
            })
            .map(|(name, _)| name.to_owned());
        match literal {
            Some(name) => names.push(name),
            None => {
                return Err(TemplateError::Include {
                    path: argument.to_owned(),
                    reason: format!(
                        "`{}` takes a quoted path inside the repository, like \"snippets/tone.md\"",
                        &capture[1]
                    ),
                });
            }
        }
    }
    Ok(names)
}

/// Every file a template includes, directly or through other snippets:
/// the name as written → (the repository path, its text).
fn load_includes(
    sources: &[&str],
    files: &dyn RepoFiles,
) -> Result<BTreeMap<String, (RepoPath, String)>, TemplateError> {
    let mut loaded: BTreeMap<String, (RepoPath, String)> = BTreeMap::new();
    let mut frontier: Vec<String> = Vec::new();
    for source in sources {
        frontier.extend(included_names(source)?);
    }
    for _depth in 0..=MAX_INCLUDE_DEPTH {
        let mut next = Vec::new();
        for name in frontier.drain(..) {
            if loaded.contains_key(&name) {
                continue;
            }
            let fail = |reason: String| TemplateError::Include {
                path: name.clone(),
                reason,
            };
            let path = RepoPath::relative(&name).map_err(fail)?;
            let bytes = files
                .read(&path)
                .map_err(|error| fail(error.to_string()))?
                .ok_or_else(|| fail(format!("no file `{path}` in {}", files.describe())))?;
            let text =
                String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8 text".into()))?;
            check_syntax(&text)
                .map_err(|detail| fail(format!("not a valid template: {detail}")))?;
            next.extend(included_names(&text)?);
            loaded.insert(name, (path, text));
        }
        if next.is_empty() {
            return Ok(loaded);
        }
        frontier = next;
    }
    Err(TemplateError::Include {
        path: frontier.first().cloned().unwrap_or_default(),
        reason: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels (a cycle?)"),
    })
}

/// The files a message template includes, transitively, by repository
/// path, with their text. What the version id hashes besides the messages.
pub fn resolve_includes(
    source: &str,
    files: &dyn RepoFiles,
) -> Result<BTreeMap<RepoPath, String>, TemplateError> {
    Ok(load_includes(&[source], files)?.into_values().collect())
}

/// A prompt's messages compiled once, rendered per case.
pub struct PreparedPrompt {
    env: Environment<'static>,
    roles: Vec<Role>,
    /// Variables each message (with its includes) reads from the case.
    reads: Vec<BTreeSet<String>>,
}

fn message_name(index: usize) -> String {
    // A leading `/` can never be an include path, so no snippet can shadow a message.
    format!("/messages[{index}]")
}

impl PreparedPrompt {
    pub fn new(messages: &[MessageTemplate], files: &dyn RepoFiles) -> Result<Self, TemplateError> {
        let sources: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let includes = load_includes(&sources, files)?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Keep the output exactly as written (GitHub Models renders `{{input}}` verbatim).
        env.set_keep_trailing_newline(true);
        for (name, (_, text)) in &includes {
            env.add_template_owned(name.clone(), text.clone())
                .map_err(|error| TemplateError::Include {
                    path: name.clone(),
                    reason: describe(&error),
                })?;
        }
        for (index, message) in messages.iter().enumerate() {
            env.add_template_owned(message_name(index), message.content.clone())
                .map_err(|error| TemplateError::Syntax {
                    message: index,
                    role: message.role,
                    detail: describe(&error),
                })?;
        }
        let globals: BTreeSet<String> = env.globals().map(|(name, _)| name.to_owned()).collect();
        let undeclared = |name: &str| -> BTreeSet<String> {
            env.get_template(name)
                .map(|t| t.undeclared_variables(false).into_iter().collect())
                .unwrap_or_default()
        };
        let mut reads = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let mut names = undeclared(&message_name(index));
            // Snippets see the including template's variables.
            let mut pending = included_names(&message.content)?;
            let mut seen = BTreeSet::new();
            while let Some(name) = pending.pop() {
                if seen.insert(name.clone()) {
                    names.extend(undeclared(&name));
                    if let Some((_, text)) = includes.get(&name) {
                        pending.extend(included_names(text)?);
                    }
                }
            }
            names.retain(|name| !globals.contains(name));
            reads.push(names);
        }
        Ok(PreparedPrompt {
            env,
            roles: messages.iter().map(|m| m.role).collect(),
            reads,
        })
    }

    /// Renders every message with the case's variables. A variable the case
    /// does not define is an error naming it, the message and the case.
    pub fn render(&self, case: &Case) -> Result<Vec<ChatMessage>, TemplateError> {
        let context = minijinja::Value::from_serialize(&case.vars);
        let mut rendered = Vec::with_capacity(self.roles.len());
        for (index, role) in self.roles.iter().enumerate() {
            if let Some(variable) = self.reads[index]
                .iter()
                .find(|name| !case.vars.contains_key(name.as_str()))
            {
                return Err(TemplateError::UndefinedVariable {
                    variable: variable.clone(),
                    message: index,
                    role: *role,
                    case: case.id.clone(),
                });
            }
            let template = self
                .env
                .get_template(&message_name(index))
                .map_err(|error| self.render_error(index, case, &error))?;
            let content = template
                .render(&context)
                .map_err(|error| self.render_error(index, case, &error))?;
            rendered.push(ChatMessage {
                role: *role,
                content,
            });
        }
        Ok(rendered)
    }

    fn render_error(&self, index: usize, case: &Case, error: &minijinja::Error) -> TemplateError {
        TemplateError::Render {
            message: index,
            role: self.roles[index],
            case: case.id.clone(),
            detail: describe(error),
        }
    }
}

/// Renders a prompt's messages for one case. To render many cases, build a
/// [`PreparedPrompt`] once instead.
pub fn render_messages(
    spec: &PromptSpec,
    case: &Case,
    files: &dyn RepoFiles,
) -> Result<Vec<ChatMessage>, TemplateError> {
    PreparedPrompt::new(&spec.messages, files)?.render(case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::CaseSource;
    use crate::spec::memory::MemoryFiles;

    fn case(vars: serde_json::Value) -> Case {
        Case {
            id: "c1".into(),
            vars: vars.as_object().cloned().unwrap_or_default(),
            expected: None,
            keywords: Vec::new(),
            regex: None,
            schema: None,
            source: CaseSource {
                file: RepoPath("data.jsonl".into()),
                line: 1,
            },
        }
    }

    fn user(content: &str) -> MessageTemplate {
        MessageTemplate {
            role: Role::User,
            content: content.into(),
        }
    }

    #[test]
    fn both_spacings_render() {
        let files = MemoryFiles::new();
        let prepared = PreparedPrompt::new(&[user("A {{input}} B {{ input }}")], &files).unwrap();
        let out = prepared
            .render(&case(serde_json::json!({"input": "x"})))
            .unwrap();
        assert_eq!(out[0].content, "A x B x");
    }

    #[test]
    fn undefined_variable_names_variable_message_and_case() {
        let files = MemoryFiles::new();
        let messages = [
            MessageTemplate {
                role: Role::System,
                content: "Be brief.".into(),
            },
            user("{{ question }}"),
        ];
        let prepared = PreparedPrompt::new(&messages, &files).unwrap();
        let error = prepared
            .render(&case(serde_json::json!({"input": "x"})))
            .unwrap_err();
        assert_eq!(
            error,
            TemplateError::UndefinedVariable {
                variable: "question".into(),
                message: 1,
                role: Role::User,
                case: "c1".into()
            }
        );
        let text = error.to_string();
        assert!(
            text.contains("`question`")
                && text.contains("messages[1] (user)")
                && text.contains("`c1`"),
            "{text}"
        );
    }

    #[test]
    fn undefined_attribute_is_an_error_not_empty() {
        let files = MemoryFiles::new();
        let prepared = PreparedPrompt::new(&[user("{{ order.id }}")], &files).unwrap();
        let error = prepared
            .render(&case(serde_json::json!({"order": {}})))
            .unwrap_err();
        assert!(matches!(error, TemplateError::Render { .. }), "{error}");
    }

    #[test]
    fn includes_resolve_through_repo_files() {
        let files = MemoryFiles::new()
            .with(
                "snippets/tone.md",
                "Be kind to {{ name }}. {% include 'snippets/sign.md' %}",
            )
            .with("snippets/sign.md", "-- Bot");
        let prepared =
            PreparedPrompt::new(&[user("{% include \"snippets/tone.md\" %}")], &files).unwrap();
        let out = prepared
            .render(&case(serde_json::json!({"name": "Ann"})))
            .unwrap();
        assert_eq!(out[0].content, "Be kind to Ann. -- Bot");
        // A variable used only inside a snippet is still required.
        let error = prepared.render(&case(serde_json::json!({}))).unwrap_err();
        assert!(
            matches!(error, TemplateError::UndefinedVariable { ref variable, .. } if variable == "name")
        );

        let resolved = resolve_includes("{% include \"snippets/tone.md\" %}", &files).unwrap();
        let paths: Vec<&str> = resolved.keys().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, ["snippets/sign.md", "snippets/tone.md"]);
    }

    #[test]
    fn escaping_and_dynamic_includes_are_refused() {
        let files = MemoryFiles::new().with("a.md", "x");
        for source in [
            "{% include '../secret' %}",
            "{% include '/etc/passwd' %}",
            "{% include 'a/../../b' %}",
            "{% include name %}",
            "{% include 'missing.md' %}",
        ] {
            let error = PreparedPrompt::new(&[user(source)], &files).err().unwrap();
            assert!(
                matches!(error, TemplateError::Include { .. }),
                "{source}: {error}"
            );
        }
        let error = PreparedPrompt::new(&[user("{% include '../x' %}")], &files)
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("leave the repository"),
            "{error}"
        );
    }

    #[test]
    fn include_cycles_stop() {
        let files = MemoryFiles::new()
            .with("a.md", "{% include 'b.md' %}")
            .with("b.md", "{% include 'a.md' %}");
        // Both load; rendering hits minijinja's recursion limit, an error not a hang.
        let prepared = PreparedPrompt::new(&[user("{% include 'a.md' %}")], &files).unwrap();
        assert!(prepared.render(&case(serde_json::json!({}))).is_err());
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(check_syntax("{{ input ").is_err());
        assert!(check_syntax("{% if x %}").is_err());
        assert!(check_syntax("hello {{ x }}").is_ok());
    }
}
