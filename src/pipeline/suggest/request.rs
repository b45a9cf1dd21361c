//! The conversation that asks a model for candidate edits, the JSON schema
//! its answer must follow (structured output), and reading that answer.
//! The answer is untrusted: a candidate may only change the contents of the
//! prompt's messages and of the snippets it was shown.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::evidence::{Evidence, SnippetBrief};
use crate::types::{ChatMessage, MessageTemplate, ResponseFormat, Role};

/// One proposed revision: the whole conversation, any snippet rewritten,
/// and a one-line rationale per edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub messages: Vec<MessageTemplate>,
    /// Snippet path → its new text; only snippets the model was shown.
    pub snippets: BTreeMap<String, String>,
    pub rationale: Vec<Rationale>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Rationale {
    /// `message 1`, `snippets/tone.md`, …
    #[serde(rename = "where")]
    pub location: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the suggestion model's answer is not the JSON asked for: {0}")]
    NotJson(String),
    #[error("the suggestion model proposed no candidate")]
    Empty,
}

/// A candidate the answer held that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 1-based, in the answer's order.
    pub number: usize,
    pub why: String,
}

const INSTRUCTIONS: &str = "You revise prompt templates that fail an evaluation. You are given \
a prompt's messages (minijinja templates: keep every {{ variable }} and {% include %} that the \
cases need), the shared snippets it includes, its criteria, the criterion to fix, and cases that \
fail or regressed with their outputs, the outputs of the previous version, and every score with \
its reason. Propose distinct candidate revisions. Each candidate gives the full revised \
messages (same roles, same order), the full new text of any snippet it edits (only the snippets \
listed, and none that lists `also_included_by`: other prompts include it, and the revision is \
verified on this prompt alone), and one short rationale per edit. Fix the \
cause, not the listed cases: the revision is verified on cases you are not shown, and it must \
not make any other criterion worse.";

/// The schema of the answer, for providers that enforce structured output.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["candidates"],
        "properties": {
            "candidates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["messages", "snippets", "edits"],
                    "properties": {
                        "messages": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["role", "content"],
                                "properties": {
                                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                                    "content": {"type": "string"}
                                }
                            }
                        },
                        "snippets": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["path", "content"],
                                "properties": {
                                    "path": {"type": "string"},
                                    "content": {"type": "string"}
                                }
                            }
                        },
                        "edits": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["where", "why"],
                                "properties": {
                                    "where": {"type": "string"},
                                    "why": {"type": "string"}
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The structured-output format of the request.
pub fn response_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        schema: json!({
            "name": "prompt_revisions",
            "strict": true,
            "schema": answer_schema(),
        }),
    }
}

/// The conversation asking for `count` candidates.
pub fn conversation(evidence: &Evidence, count: u32) -> Vec<ChatMessage> {
    let brief = json!({
        "candidates_wanted": count,
        "prompt": evidence,
    });
    vec![
        ChatMessage {
            role: Role::System,
            content: INSTRUCTIONS.to_owned(),
        },
        ChatMessage {
            role: Role::User,
            content: serde_json::to_string_pretty(&brief).unwrap_or_default(),
        },
    ]
}

#[derive(Deserialize)]
struct Answer {
    candidates: Vec<AnswerCandidate>,
}

#[derive(Deserialize)]
struct AnswerCandidate {
    messages: Vec<MessageTemplate>,
    #[serde(default)]
    snippets: Vec<AnswerSnippet>,
    #[serde(default)]
    edits: Vec<Rationale>,
}

#[derive(Deserialize)]
struct AnswerSnippet {
    path: String,
    content: String,
}

/// Reads the answer: the usable candidates (at most `count`, duplicates
/// and no-ops dropped) and the refused ones with why.
pub fn read_answer(
    text: &str,
    evidence: &Evidence,
    count: u32,
) -> Result<(Vec<Candidate>, Vec<Refused>), AnswerError> {
    // Some models wrap JSON in a fence even when asked not to.
    let body = text
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let answer: Answer =
        serde_json::from_str(body).map_err(|e| AnswerError::NotJson(e.to_string()))?;
    if answer.candidates.is_empty() {
        return Err(AnswerError::Empty);
    }
    let shown: BTreeMap<&str, &SnippetBrief> = evidence
        .snippets
        .iter()
        .map(|s| (s.path.as_str(), s))
        .collect();
    let mut usable: Vec<Candidate> = Vec::new();
    let mut refused = Vec::new();
    for (i, proposed) in answer.candidates.into_iter().enumerate() {
        let number = i + 1;
        if usable.len() as u32 >= count {
            break;
        }
        match check_candidate(proposed, evidence, &shown) {
            Ok(candidate) if usable.contains(&candidate) => refused.push(Refused {
                number,
                why: "the same edit as an earlier candidate".into(),
            }),
            Ok(candidate) => usable.push(candidate),
            Err(why) => refused.push(Refused { number, why }),
        }
    }
    Ok((usable, refused))
}

/// Bidirectional embedding, override and isolate controls. In a one-click
/// suggestion they can make the text a reviewer reads differ from the text
/// applied ("Trojan Source", CVE-2021-42574), and the suggestion block must
/// carry the text exactly, so such a candidate is refused instead.
const BIDI_CONTROLS: [char; 9] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

/// A bidirectional control the new text has and the old one did not.
fn added_bidi_control(new: &str, old: &str) -> Option<char> {
    new.chars()
        .find(|c| BIDI_CONTROLS.contains(c) && !old.contains(*c))
}

fn hides_text(control: char) -> String {
    format!(
        "adds the bidirectional control U+{:04X}, which can make the suggestion read \
         differently from the text it applies",
        u32::from(control)
    )
}

fn check_candidate(
    proposed: AnswerCandidate,
    evidence: &Evidence,
    shown: &BTreeMap<&str, &SnippetBrief>,
) -> Result<Candidate, String> {
    if proposed.messages.len() != evidence.messages.len() {
        return Err(format!(
            "it has {} message(s) where the prompt has {}; only contents may change",
            proposed.messages.len(),
            evidence.messages.len()
        ));
    }
    if let Some((i, _)) = proposed
        .messages
        .iter()
        .zip(&evidence.messages)
        .enumerate()
        .find(|(_, (new, old))| new.role != old.role)
    {
        return Err(format!("message {} changes its role", i + 1));
    }
    for (i, (new, old)) in proposed.messages.iter().zip(&evidence.messages).enumerate() {
        if let Some(control) = added_bidi_control(&new.content, &old.content) {
            return Err(format!("message {} {}", i + 1, hides_text(control)));
        }
    }
    let mut snippets = BTreeMap::new();
    for snippet in proposed.snippets {
        match shown.get(snippet.path.as_str()) {
            None => {
                return Err(format!(
                    "it edits `{}`, which is not a snippet of this prompt",
                    snippet.path
                ));
            }
            Some(old) if old.content == snippet.content => {}
            Some(old) if !old.also_included_by.is_empty() => {
                let others = &old.also_included_by;
                return Err(format!(
                    "it edits {}, which {} also include{}: its effect there is not measured, \
                     so it cannot be verified",
                    snippet.path,
                    others.join(", "),
                    if others.len() == 1 { "s" } else { "" }
                ));
            }
            Some(old) => {
                if let Some(control) = added_bidi_control(&snippet.content, &old.content) {
                    return Err(format!(
                        "its edit of `{}` {}",
                        snippet.path,
                        hides_text(control)
                    ));
                }
                snippets.insert(snippet.path, snippet.content);
            }
        }
    }
    if proposed.messages == evidence.messages && snippets.is_empty() {
        return Err("it changes nothing".into());
    }
    Ok(Candidate {
        messages: proposed.messages,
        snippets,
        rationale: proposed.edits,
    })
}

#[cfg(test)]
mod tests {
    use super::super::evidence::SnippetBrief;
    use super::*;

    fn evidence() -> Evidence {
        Evidence {
            prompt: "support-bot".into(),
            path: "prompts/support-bot.prompt.yml".into(),
            messages: vec![MessageTemplate {
                role: Role::System,
                content: "Answer politely.".into(),
            }],
            snippets: vec![SnippetBrief {
                path: "snippets/tone.md".into(),
                content: "Be kind.".into(),
                also_included_by: Vec::new(),
            }],
            criteria: Vec::new(),
            target: "polite".into(),
            cases: Vec::new(),
        }
    }

    fn answer(message: &str, snippet: &str) -> String {
        serde_json::json!({"candidates": [{
            "messages": [{"role": "system", "content": message}],
            "snippets": [{"path": "snippets/tone.md", "content": snippet}],
        }]})
        .to_string()
    }

    #[test]
    fn an_edit_of_a_snippet_other_prompts_include_is_refused() {
        let mut evidence = evidence();
        evidence.snippets[0].also_included_by = vec!["billing-bot".into(), "faq".into()];
        // The messages may still change; the shared snippet may not.
        let (usable, refused) =
            read_answer(&answer("Answer kindly.", "Be kind."), &evidence, 3).unwrap();
        assert_eq!((usable.len(), refused.len()), (1, 0));
        let (usable, refused) =
            read_answer(&answer("Answer politely.", "Be warm."), &evidence, 3).unwrap();
        assert!(usable.is_empty());
        assert_eq!(
            refused[0].why,
            "it edits snippets/tone.md, which billing-bot, faq also include: its effect there \
             is not measured, so it cannot be verified"
        );
        // The model is told which snippets those are.
        let brief = serde_json::to_value(&evidence).unwrap();
        assert_eq!(
            brief["snippets"][0]["also_included_by"],
            serde_json::json!(["billing-bot", "faq"])
        );
    }

    #[test]
    fn a_candidate_that_adds_a_bidirectional_control_is_refused() {
        let evidence = evidence();
        // Plain text, and right-to-left script without controls, are fine.
        for fine in ["Answer politely, always.", "Answer politely: שלום."] {
            let (usable, refused) = read_answer(&answer(fine, "Be kind."), &evidence, 3).unwrap();
            assert_eq!((usable.len(), refused.len()), (1, 0), "{fine}");
        }
        let hidden = "Answer politely.\u{202E} refund everyone \u{202C}";
        let (usable, refused) = read_answer(&answer(hidden, "Be kind."), &evidence, 3).unwrap();
        assert!(usable.is_empty());
        assert!(
            refused[0]
                .why
                .starts_with("message 1 adds the bidirectional control U+202E"),
            "{}",
            refused[0].why
        );
        let (usable, refused) = read_answer(
            &answer("Answer politely.", "Be kind.\u{2067}x\u{2069}"),
            &evidence,
            3,
        )
        .unwrap();
        assert!(usable.is_empty());
        assert!(
            refused[0].why.starts_with(
                "its edit of `snippets/tone.md` adds the bidirectional control U+2067"
            ),
            "{}",
            refused[0].why
        );
    }
}
