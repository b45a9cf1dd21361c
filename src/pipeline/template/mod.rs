//! The template stage: message templates are minijinja, strict about
//! undefined variables, with `{% include "path" %}` reading only files inside
//! the repository — or, for a GitHub-format prompt ([`Semantics::Github`]),
//! GitHub's own exact `{{name}}` replacement ([`github`]).
//!
//! Includes are resolved up front ([`includes`], through the one tag scanner
//! in [`scan`]) rather than through a minijinja loader: the loader would have
//! to own the file reader for `'static`, and the set of included files is
//! needed anyway for a prompt's version id, its text diff and change
//! detection. There is no environment or file interpolation: the only data a
//! template sees is the case's variables. A prompt is compiled once
//! ([`PreparedPrompt`]) and rendered per case.

pub mod github;
pub mod includes;
mod plain;
pub mod sandbox;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{Environment, UndefinedBehavior};

pub use includes::Includes;

use crate::types::{
    Case, ChatMessage, MessageTemplate, PromptContent, PromptSpec, RepoFiles, Role, Semantics,
};

/// Instructions one message may run (minijinja's fuel): loops over loops
/// end here instead of holding a worker.
pub const RENDER_FUEL: u64 = 5_000_000;
/// Nesting of includes, macros and blocks.
pub const RECURSION_LIMIT: usize = 64;
/// The longest message a render may produce.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
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
    #[error(
        "`{tag}`: `{keyword}` takes a quoted path inside the repository, like \"snippets/tone.md\", so what a template reads is known before it runs"
    )]
    ComputedInclude { tag: String, keyword: String },
    #[error("case `{case}`: messages[{message}] ({role}): {detail}")]
    Render {
        message: usize,
        role: Role,
        case: String,
        detail: String,
    },
    /// A bound on rendering was reached: the template is data from the
    /// change, and may be built to exhaust whoever renders it.
    #[error("rendering stopped: {detail}")]
    Limit { detail: String },
}

/// Whether a template only substitutes variables: no `{% … %}`
/// statement, and every `{{ … }}` holds a name or a dotted path
/// (`{{ question }}`, `{{- user.name -}}`), nothing that computes (`~`,
/// filters, calls). What such a template renders is its text plus the
/// case's values.
fn is_plain_substitution(source: &str) -> bool {
    if source.contains("{%") {
        return false;
    }
    let is_path = |inner: &str| {
        let inner = inner.trim_start_matches('-').trim_end_matches('-').trim();
        !inner.is_empty()
            && inner.split('.').all(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return false;
        };
        if !is_path(&after[..end]) {
            return false;
        }
        rest = &after[end + 2..];
    }
    true
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

/// A prompt's messages compiled once, rendered per case.
pub struct PreparedPrompt {
    roles: Vec<Role>,
    language: Language,
    /// Every included file, read once.
    includes: Includes,
    /// The messages as written, for the sandbox ([`sandbox`]).
    sources: Vec<MessageTemplate>,
}

enum Language {
    Minijinja {
        env: Box<Environment<'static>>,
        /// Variables each message (with its includes) reads from the case.
        reads: Vec<BTreeSet<String>>,
        /// Only `{{ name }}` substitutions, no statements or includes: the
        /// output is the text plus the case's own values, so rendering
        /// cannot build anything large and needs no sandbox.
        plain: bool,
        /// Per message, its text split at the names it substitutes, when
        /// it is nothing but text and `{{ name }}`s of case variables
        /// ([`plain::Pieces`]): a case whose values for them are strings
        /// is rendered by joining, without building minijinja values.
        pieces: Vec<Option<plain::Pieces>>,
    },
    /// The message texts, replaced as gh replaces them.
    Github { contents: Vec<String> },
}

fn message_name(index: usize) -> String {
    // A leading `/` can never be an include path, so no snippet can shadow a message.
    format!("/messages[{index}]")
}

impl PreparedPrompt {
    /// Compiles a prompt's messages the way its semantics reads them.
    pub fn for_prompt(spec: &PromptSpec, files: &dyn RepoFiles) -> Result<Self, TemplateError> {
        match spec.semantics {
            Semantics::Promptgate => Self::new(&spec.messages, files),
            Semantics::Github => Ok(PreparedPrompt {
                roles: spec.messages.iter().map(|m| m.role).collect(),
                language: Language::Github {
                    contents: spec.messages.iter().map(|m| m.content.clone()).collect(),
                },
                includes: Includes::default(),
                sources: Vec::new(),
            }),
        }
    }

    /// Compiles minijinja messages, reading their includes through `files`.
    pub fn new(messages: &[MessageTemplate], files: &dyn RepoFiles) -> Result<Self, TemplateError> {
        let sources: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let includes = Includes::walk(&sources, files);
        includes.check()?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Keep the output exactly as written (GitHub Models renders `{{input}}` verbatim).
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(RENDER_FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        for (name, text) in includes.by_name() {
            env.add_template_owned(name.to_owned(), text.to_owned())
                .map_err(|error| TemplateError::Include {
                    path: name.to_owned(),
                    reason: describe(&error),
                })?;
        }
        let texts: BTreeMap<&str, &str> = includes.by_name().collect();
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
            let mut pending = scan::included_names(&message.content);
            let mut seen = BTreeSet::new();
            while let Some(name) = pending.pop() {
                if seen.insert(name.clone()) {
                    names.extend(undeclared(&name));
                    if let Some(text) = texts.get(name.as_str()) {
                        pending.extend(scan::included_names(text));
                    }
                }
            }
            names.retain(|name| !globals.contains(name));
            reads.push(names);
        }
        let pieces = messages
            .iter()
            .zip(&reads)
            .map(|(message, reads)| plain::Pieces::split(&message.content, reads))
            .collect();
        Ok(PreparedPrompt {
            roles: messages.iter().map(|m| m.role).collect(),
            language: Language::Minijinja {
                env: Box::new(env),
                reads,
                plain: includes.by_name().next().is_none()
                    && messages.iter().all(|m| is_plain_substitution(&m.content)),
                pieces,
            },
            includes,
            sources: messages.to_vec(),
        })
    }

    /// Every case rendered ([`PreparedPrompt::render`]), in the sandbox
    /// when the binary set one up; `Err` when the prompt as a whole broke a
    /// bound (its wall clock, its memory).
    #[allow(clippy::type_complexity)]
    pub fn render_all(
        &self,
        cases: &[Case],
    ) -> Result<Vec<Result<Vec<ChatMessage>, TemplateError>>, TemplateError> {
        if matches!(self.language, Language::Minijinja { plain: false, .. })
            && let Some(rendered) = sandbox::render(&self.sources, self, cases)
        {
            return rendered;
        }
        Ok(cases.iter().map(|case| self.render(case)).collect())
    }

    /// What the messages include, as read when the prompt was compiled.
    pub fn includes(&self) -> &Includes {
        &self.includes
    }

    /// Renders every message with the case's variables. For minijinja, a
    /// variable the case does not define is an error naming it, the message
    /// and the case; GitHub's rules send an unknown `{{name}}` as written.
    pub fn render(&self, case: &Case) -> Result<Vec<ChatMessage>, TemplateError> {
        let (env, reads, pieces) = match &self.language {
            Language::Minijinja {
                env, reads, pieces, ..
            } => (env, reads, pieces),
            Language::Github { contents } => {
                return Ok(self
                    .roles
                    .iter()
                    .zip(contents)
                    .map(|(role, content)| ChatMessage {
                        role: *role,
                        content: github::substitute(content, &case.vars, &[]),
                    })
                    .collect());
            }
        };
        // Built only for a message that needs minijinja.
        let mut context = None;
        let mut rendered = Vec::with_capacity(self.roles.len());
        for (index, role) in self.roles.iter().enumerate() {
            if let Some(variable) = reads[index]
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
            let substituted = pieces[index]
                .as_ref()
                .and_then(|pieces| pieces.join(&case.vars));
            let content = match substituted {
                Some(content) => content,
                None => {
                    let context =
                        context.get_or_insert_with(|| minijinja::Value::from_serialize(&case.vars));
                    env.get_template(&message_name(index))
                        .and_then(|template| template.render(&*context))
                        .map_err(|error| self.render_error(index, case, &error))?
                }
            };
            if content.len() > MAX_MESSAGE_BYTES {
                return Err(TemplateError::Limit {
                    detail: format!(
                        "case `{}`: messages[{index}] ({role}) rendered to {} bytes, more than \
                         the {MAX_MESSAGE_BYTES} a message may have",
                        case.id,
                        content.len()
                    ),
                });
            }
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

/// What a spec sends, with every `{% include %}` replaced by the snippet's
/// text: the form a published version holds, so a changed snippet shows as
/// changed message text. Fails when an include cannot be read.
pub fn resolved_content(
    spec: &PromptSpec,
    files: &dyn RepoFiles,
) -> Result<PromptContent, TemplateError> {
    let includes = Includes::of_prompt(spec, files);
    includes.check()?;
    Ok(PromptContent {
        semantics: spec.semantics,
        messages: spec
            .messages
            .iter()
            .map(|message| MessageTemplate {
                role: message.role,
                content: includes.inline(&message.content),
            })
            .collect(),
        model: spec.model.clone(),
        parameters: spec.parameters.clone(),
        response_format: spec.response_format.clone(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_templates_that_substitute_names_skip_the_sandbox() {
        for plain in [
            "Answer: {{ question }}",
            "{{question}} on the {{- plan -}} plan, {{ user.name }}",
            "no placeholders at all",
            "a literal }} and {# a comment #}",
        ] {
            assert!(super::is_plain_substitution(plain), "{plain}");
        }
        // Everything that computes, and so could build a bomb, is not.
        for computing in [
            "{% set a = 'x' %}{% set a = a ~ a %}{{ a }}",
            "{{ a ~ a }}",
            "{{ question|indent(2000000000) }}",
            "{{ range(100000) }}",
            "{{ question * 1000000 }}",
            "{{ lipsum(100000) }}",
            "{% include \"snippets/tone.md\" %}",
            "{{ question",
            "{{ }}",
            "{{ 'literal' }}",
        ] {
            assert!(!super::is_plain_substitution(computing), "{computing}");
        }
    }

    use super::*;
    use crate::types::{CaseSource, MemoryFiles, RepoPath};

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

        let paths: Vec<String> = prepared
            .includes()
            .texts()
            .into_keys()
            .map(|p| p.0)
            .collect();
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
                matches!(
                    error,
                    TemplateError::Include { .. } | TemplateError::ComputedInclude { .. }
                ),
                "{source}: {error}"
            );
        }
        let error = PreparedPrompt::new(&[user("{% include name %}")], &files)
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("`{% include name %}`"),
            "{error}"
        );
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
