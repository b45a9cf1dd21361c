//! Rendering without minijinja where it cannot differ: a message that is
//! only text and `{{ name }}`s, each name a variable the case supplies as a
//! string, renders to the text with each name replaced by its string (no
//! auto-escaping applies to message templates, and strings print as they
//! are). Anything else — comments, whitespace control (`{{-`), dotted
//! paths, filters, a value that is not a string — goes through minijinja.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A message's text split at the names it substitutes.
#[derive(Debug, Clone)]
pub struct Pieces(Vec<Piece>);

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Name(String),
}

/// White space minijinja skips inside `{{ … }}`; other characters (a
/// non-breaking space) leave the message to minijinja.
fn is_tag_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Pieces {
    /// The pieces of `source`, when it is only text and `{{ name }}`s whose
    /// names are among `reads` (the variables minijinja found it reading
    /// from the case: no literal like `true`, no global like `range`).
    pub fn split(source: &str, reads: &BTreeSet<String>) -> Option<Self> {
        if source.contains("{%") || source.contains("{#") {
            return None;
        }
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}")?;
            let name = after[..end].trim_matches(is_tag_space);
            if !is_name(name) || !reads.contains(name) {
                return None;
            }
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            pieces.push(Piece::Name(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Some(Self(pieces))
    }

    /// The message for these variables; `None` when a name is missing or
    /// its value is not a string (minijinja decides how those print).
    pub fn join(&self, vars: &Map<String, Value>) -> Option<String> {
        let mut length = 0;
        for piece in &self.0 {
            length += match piece {
                Piece::Text(text) => text.len(),
                Piece::Name(name) => vars.get(name)?.as_str()?.len(),
            };
        }
        let mut out = String::with_capacity(length);
        for piece in &self.0 {
            out.push_str(match piece {
                Piece::Text(text) => text,
                Piece::Name(name) => vars.get(name)?.as_str()?,
            });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::template::PreparedPrompt;
    use crate::types::{Case, CaseSource, MemoryFiles, MessageTemplate, RepoPath, Role};

    fn reads(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn only_text_and_names_of_case_variables_split() {
        let q = reads(&["q", "plan"]);
        assert!(Pieces::split("Answer: {{ q }} on {{plan}}.\n", &q).is_some());
        assert!(Pieces::split("no placeholders", &q).is_some());
        for other in [
            "{{- q }}",
            "{{ q -}}",
            "{{ user.name }}",
            "{{ q|upper }}",
            "{# c #}{{ q }}",
            "{% if q %}{% endif %}",
            "{{ q",
            "{{\u{a0}q }}",
            "{{ true }}",
        ] {
            assert!(Pieces::split(other, &q).is_none(), "{other}");
        }
    }

    /// The joined message equals minijinja's for every kind of value: a
    /// string is joined, anything else falls back and still renders.
    #[test]
    fn joining_renders_what_minijinja_renders() {
        let source = "You said {{ q }} and {{q}}.\n{{ n }} }} {{ plan }}\n";
        let messages = [MessageTemplate {
            role: Role::User,
            content: source.into(),
        }];
        let prepared = PreparedPrompt::new(&messages, &MemoryFiles::new()).unwrap();
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        let template = env.template_from_str(source).unwrap();
        for vars in [
            serde_json::json!({"q": "a {{ b }} <c> & 'd'", "n": "1", "plan": ""}),
            serde_json::json!({"q": "x", "n": 2, "plan": null}),
            serde_json::json!({"q": ["x", 1], "n": 2.5, "plan": {"k": true}}),
        ] {
            let case = Case {
                id: "c".into(),
                vars: vars.as_object().cloned().unwrap(),
                expected: None,
                keywords: Vec::new(),
                regex: None,
                schema: None,
                source: CaseSource {
                    file: RepoPath("d.jsonl".into()),
                    line: 1,
                },
            };
            let rendered = prepared.render(&case).unwrap();
            assert_eq!(
                rendered[0].content,
                template.render(&vars).unwrap(),
                "{vars}"
            );
        }
    }
}
