//! Diffs of prompt text and of whole prompt versions, for the terminal and
//! for pull-request comments.
//!
//! - Terminal ([`word_diff_terminal`]): hunks of changed lines with a little
//!   context, the changed words marked inside them: red/green with colour,
//!   `[-removed-]{+added+}` (git's plain word-diff) without.
//! - Markdown ([`diff_markdown`]): a fenced ```` ```diff ```` block of the
//!   changed lines. GitHub colours it, and inside a code block the prompt's
//!   own markdown, HTML and `@mentions` stay inert; the fence is longer than
//!   any backtick run in the text, so nothing in it can close the block.
//!   (Inline `~~old~~ **new**` would mark words, but would let the prompt's
//!   markdown render and break out.)
//! - Structured ([`diff_prompt_values`], [`diff_specs`], [`diff_contents`]):
//!   what changed per part (model, each parameter, response format, each
//!   message by role). [`resolved_content`] (the template stage's) inlines
//!   a spec's snippets, so a working copy compares with a published version
//!   and a snippet change shows.
//!
//! [`resolved_content`]: crate::pipeline::template::resolved_content

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use similar::{Algorithm, ChangeTag, DiffOp, TextDiff};

use crate::types::{PromptContent, PromptSpec};

/// Lines of unchanged context around each change.
const CONTEXT_LINES: usize = 2;
/// Diffing is quadratic at worst; past this it settles for a coarser diff.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Control characters in a prompt could drive the terminal; show them as
/// escapes instead.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn line_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
}

/// Start and length of a hunk's lines on one side, as `@@` headers show them.
fn hunk_range(group: &[DiffOp], old_side: bool) -> std::ops::Range<usize> {
    let range = |op: &DiffOp| {
        if old_side {
            op.old_range()
        } else {
            op.new_range()
        }
    };
    let start = group.first().map_or(0, |op| range(op).start);
    let end = group.last().map_or(0, |op| range(op).end);
    start..end
}

fn hunk_header(old: &std::ops::Range<usize>, new: &std::ops::Range<usize>) -> String {
    format!(
        "@@ -{},{} +{},{} @@",
        old.start + 1,
        old.len(),
        new.start + 1,
        new.len()
    )
}

/// The words of `old` and `new` as runs of equal, removed and inserted
/// text (adjacent words with the same tag are one run), in order.
pub fn word_runs(old: &str, new: &str) -> Vec<(ChangeTag, String)> {
    let words = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .timeout(DIFF_TIMEOUT)
        .diff_unicode_words(old, new);
    let mut runs: Vec<(ChangeTag, String)> = Vec::new();
    for change in words.iter_all_changes() {
        match runs.last_mut() {
            Some((tag, text)) if *tag == change.tag() => text.push_str(change.value()),
            _ => runs.push((change.tag(), change.value().to_owned())),
        }
    }
    runs
}

/// A word-level diff for the terminal: each hunk of changed lines (with
/// context) shown once, the removed words red and the added words green, or
/// marked `[-…-]` / `{+…+}` when `color` is false. Empty when equal.
pub fn word_diff_terminal(old: &str, new: &str, color: bool) -> String {
    let lines = line_diff(old, new);
    let mut out = String::new();
    for group in lines.grouped_ops(CONTEXT_LINES) {
        let old_lines = hunk_range(&group, true);
        let new_lines = hunk_range(&group, false);
        let header = hunk_header(&old_lines, &new_lines);
        if color {
            let _ = writeln!(out, "{CYAN}{header}{RESET}");
        } else {
            let _ = writeln!(out, "{header}");
        }
        let old_text = lines.old_slices()[old_lines].concat();
        let new_text = lines.new_slices()[new_lines].concat();
        for (tag, text) in word_runs(&old_text, &new_text) {
            let text = printable(&text);
            match (tag, color) {
                (ChangeTag::Equal, _) => out.push_str(&text),
                // Each line coloured on its own, so a pager cutting lines
                // keeps the colours right.
                (ChangeTag::Delete, true) => push_styled(&mut out, &text, RED),
                (ChangeTag::Insert, true) => push_styled(&mut out, &text, GREEN),
                (ChangeTag::Delete, false) => {
                    let _ = write!(out, "[-{text}-]");
                }
                (ChangeTag::Insert, false) => {
                    let _ = write!(out, "{{+{text}+}}");
                }
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn push_styled(out: &mut String, text: &str, style: &str) {
    for (i, piece) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !piece.is_empty() {
            let _ = write!(out, "{style}{piece}{RESET}");
        }
    }
}

/// The shortest run of backticks (at least 3) longer than any in `text`.
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A line diff as a fenced ```` ```diff ```` block for a pull-request
/// comment: `-`/`+` lines with context, `@@` between hunks. Empty when equal.
pub fn diff_markdown(old: &str, new: &str) -> String {
    let lines = line_diff(old, new);
    let mut body = String::new();
    for group in lines.grouped_ops(CONTEXT_LINES) {
        let _ = writeln!(
            body,
            "{}",
            hunk_header(&hunk_range(&group, true), &hunk_range(&group, false))
        );
        for op in &group {
            for change in lines.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                let text = change.value();
                let _ = writeln!(body, "{sign}{}", text.strip_suffix('\n').unwrap_or(text));
            }
        }
    }
    if body.is_empty() {
        return body;
    }
    let fence = fence_for(&body);
    format!("{fence}diff\n{body}{fence}\n")
}

/// One part of a prompt version that differs; `None` on the side where the
/// part does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartChange {
    /// `model`, `modelParameters.temperature`, `responseFormat`,
    /// `message 2 (user)`, …
    pub part: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What differs between two versions of a prompt, part by part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromptDiff {
    pub changes: Vec<PartChange>,
}

/// Values longer than this, or with a newline, get a diff of their own
/// instead of `old → new`.
const SHORT_VALUE: usize = 60;

fn is_short(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_none_or(|v| v.len() <= SHORT_VALUE && !v.contains('\n'))
}

impl PromptDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// For the terminal; `color` as [`word_diff_terminal`].
    pub fn render_terminal(&self, color: bool) -> String {
        if self.is_empty() {
            return "no changes\n".to_owned();
        }
        let mut out = String::new();
        for change in &self.changes {
            let label = if color {
                format!("{BOLD}{}{RESET}", change.part)
            } else {
                change.part.clone()
            };
            let show = |value: &Option<String>| {
                value
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), printable)
            };
            match (&change.old, &change.new) {
                (None, Some(new)) if is_short(&change.new) => {
                    let _ = writeln!(out, "{label}: added {}", printable(new));
                }
                (Some(old), None) if is_short(&change.old) => {
                    let _ = writeln!(out, "{label}: removed {}", printable(old));
                }
                _ if is_short(&change.old) && is_short(&change.new) => {
                    let (old, new) = (show(&change.old), show(&change.new));
                    if color {
                        let _ = writeln!(out, "{label}: {RED}{old}{RESET} → {GREEN}{new}{RESET}");
                    } else {
                        let _ = writeln!(out, "{label}: {old} → {new}");
                    }
                }
                (old, new) => {
                    let verb = match (old, new) {
                        (None, _) => "added",
                        (_, None) => "removed",
                        _ => "changed",
                    };
                    let _ = writeln!(out, "{label} {verb}:");
                    out.push_str(&word_diff_terminal(
                        old.as_deref().unwrap_or_default(),
                        new.as_deref().unwrap_or_default(),
                        color,
                    ));
                }
            }
        }
        out
    }

    /// For a pull-request comment: short values as `old` → `new` in code
    /// spans, texts as fenced diff blocks.
    pub fn render_markdown(&self) -> String {
        if self.is_empty() {
            return "No changes.\n".to_owned();
        }
        let mut out = String::new();
        for change in &self.changes {
            let verb = match (&change.old, &change.new) {
                (None, _) => "added",
                (_, None) => "removed",
                _ => "changed",
            };
            if is_short(&change.old) && is_short(&change.new) {
                let side = |v: &Option<String>| {
                    v.as_deref().map_or_else(|| "_none_".to_owned(), code_span)
                };
                let _ = writeln!(
                    out,
                    "- **{}** {verb}: {} → {}",
                    change.part,
                    side(&change.old),
                    side(&change.new)
                );
            } else {
                let _ = writeln!(out, "- **{}** {verb}:\n", change.part);
                let block = diff_markdown(
                    change.old.as_deref().unwrap_or_default(),
                    change.new.as_deref().unwrap_or_default(),
                );
                for line in block.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        out
    }
}

/// Inline code that no backtick in `text` can end early.
fn code_span(text: &str) -> String {
    let run = longest_backtick_run(text);
    let fence = "`".repeat(run + 1);
    // The spaces keep a backtick at either end from joining the fence.
    let pad = if run > 0 { " " } else { "" };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('\n', " "))
}

/// Compares two prompt versions written in the GitHub Models shape
/// (`model`, `modelParameters`, `responseFormat`, `jsonSchema`, `messages`
/// with `role` and `content`). Either may be `Value::Null` (a prompt added
/// or removed). Messages are paired by role order, so an inserted message
/// shows as added rather than as every later message changing.
pub fn diff_prompt_values(old: &Value, new: &Value) -> PromptDiff {
    let mut changes = Vec::new();
    let text_of = |value: Option<&Value>| match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    };
    let mut compare = |part: String, old: Option<String>, new: Option<String>| {
        if old != new {
            changes.push(PartChange { part, old, new });
        }
    };
    compare(
        "model".to_owned(),
        text_of(old.get("model")),
        text_of(new.get("model")),
    );
    let empty = serde_json::Map::new();
    let params = |v: &Value| {
        v.get("modelParameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (old_params, new_params) = (params(old), params(new));
    let mut names: Vec<&String> = old_params.keys().chain(new_params.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        compare(
            format!("modelParameters.{name}"),
            text_of(old_params.get(name)),
            text_of(new_params.get(name)),
        );
    }
    for key in ["responseFormat", "jsonSchema"] {
        compare(key.to_owned(), text_of(old.get(key)), text_of(new.get(key)));
    }

    let messages = |v: &Value| -> Vec<(String, String)> {
        v.get("messages")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|m| {
                        (
                            text_of(m.get("role")).unwrap_or_default(),
                            text_of(m.get("content")).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_messages, new_messages) = (messages(old), messages(new));
    let old_roles: Vec<&str> = old_messages.iter().map(|(r, _)| r.as_str()).collect();
    let new_roles: Vec<&str> = new_messages.iter().map(|(r, _)| r.as_str()).collect();
    let label = |index: usize, role: &str| format!("message {} ({role})", index + 1);
    for op in similar::capture_diff_slices(Algorithm::Myers, &old_roles, &new_roles) {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        match op {
            DiffOp::Equal { .. } => {
                for (o, n) in old_range.zip(new_range) {
                    compare(
                        label(n, &new_messages[n].0),
                        Some(old_messages[o].1.clone()),
                        Some(new_messages[n].1.clone()),
                    );
                }
            }
            _ => {
                for o in old_range {
                    compare(
                        label(o, &old_messages[o].0),
                        Some(old_messages[o].1.clone()),
                        None,
                    );
                }
                for n in new_range {
                    compare(
                        label(n, &new_messages[n].0),
                        None,
                        Some(new_messages[n].1.clone()),
                    );
                }
            }
        }
    }
    PromptDiff { changes }
}

/// What a version sends, in the GitHub Models shape [`diff_prompt_values`]
/// reads.
pub fn content_value(content: &PromptContent) -> Value {
    json!({
        "model": content.model.to_string(),
        "modelParameters": serde_json::to_value(&content.parameters).unwrap_or(Value::Null),
        "responseFormat": serde_json::to_value(&content.response_format).unwrap_or(Value::Null),
        "messages": content.messages.iter().map(|m| json!({
            "role": serde_json::to_value(m.role).unwrap_or(Value::Null),
            "content": m.content,
        })).collect::<Vec<_>>(),
    })
}

/// A spec's content as written: messages with their include tags.
fn written_content(spec: &PromptSpec) -> PromptContent {
    PromptContent {
        semantics: spec.semantics,
        messages: spec.messages.clone(),
        model: spec.model.clone(),
        parameters: spec.parameters.clone(),
        response_format: spec.response_format.clone(),
    }
}

/// [`content_value`] of a spec as written (includes not resolved).
pub fn spec_value(spec: &PromptSpec) -> Value {
    content_value(&written_content(spec))
}

/// [`diff_prompt_values`] for two parsed specs, as written.
pub fn diff_specs(old: &PromptSpec, new: &PromptSpec) -> PromptDiff {
    diff_prompt_values(&spec_value(old), &spec_value(new))
}

/// [`diff_prompt_values`] for two versions' contents; `None` where the
/// prompt does not exist.
pub fn diff_contents(old: Option<&PromptContent>, new: Option<&PromptContent>) -> PromptDiff {
    let value = |content: Option<&PromptContent>| content.map_or(Value::Null, content_value);
    diff_prompt_values(&value(old), &value(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_word_diff_marks_only_changed_words() {
        let old = "line one\nYou are a helpful assistant.\nline three\n";
        let new = "line one\nYou are a terse assistant.\nline three\n";
        assert_eq!(
            word_diff_terminal(old, new, false),
            "@@ -1,3 +1,3 @@\nline one\nYou are a [-helpful-]{+terse+} assistant.\nline three\n"
        );
        assert_eq!(word_diff_terminal(old, old, false), "");
    }

    #[test]
    fn coloured_word_diff_uses_red_and_green() {
        let out = word_diff_terminal("a b c", "a x c", true);
        assert!(out.contains("\x1b[31mb\x1b[0m"), "{out:?}");
        assert!(out.contains("\x1b[32mx\x1b[0m"), "{out:?}");
        // Without colour, no escape codes at all.
        assert!(!word_diff_terminal("a b c", "a x c", false).contains('\x1b'));
    }

    #[test]
    fn control_characters_in_prompts_are_escaped() {
        let out = word_diff_terminal("a", "a \x1b[2J", false);
        assert!(!out.contains('\x1b'), "{out:?}");
        assert!(out.contains("\\u{1b}"), "{out:?}");
    }

    #[test]
    fn far_apart_changes_make_separate_hunks() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 19\n", "line nineteen\n");
        let out = word_diff_terminal(&old, &new, false);
        assert_eq!(out.matches("@@ -").count(), 2, "{out}");
        assert!(!out.contains("line 10\n"), "{out}");
    }

    #[test]
    fn markdown_is_a_diff_block_that_backticks_cannot_close() {
        let md = diff_markdown("Say hi.\n", "Say hi.\nWrap code in ```` fences.\n");
        assert!(md.starts_with("`````diff\n"), "{md}");
        assert!(md.ends_with("\n`````\n"), "{md}");
        assert!(
            md.contains("\n Say hi.\n+Wrap code in ```` fences.\n"),
            "{md}"
        );
        let simple = diff_markdown("a\n", "b\n");
        assert_eq!(simple, "```diff\n@@ -1,1 +1,1 @@\n-a\n+b\n```\n");
        assert_eq!(diff_markdown("same", "same"), "");
    }

    #[test]
    fn structured_diff_per_part() {
        let old = json!({
            "model": "openai/gpt-4o-mini",
            "modelParameters": {"temperature": 0.2, "maxTokens": 100},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "{{question}}"}
            ]
        });
        let new = json!({
            "model": "openai/gpt-4o",
            "modelParameters": {"temperature": 0.7},
            "messages": [
                {"role": "system", "content": "Be brief and kind."},
                {"role": "assistant", "content": "Example answer"},
                {"role": "user", "content": "{{question}}"}
            ]
        });
        let diff = diff_prompt_values(&old, &new);
        let parts: Vec<(&str, Option<&str>, Option<&str>)> = diff
            .changes
            .iter()
            .map(|c| (c.part.as_str(), c.old.as_deref(), c.new.as_deref()))
            .collect();
        assert_eq!(
            parts,
            [
                ("model", Some("openai/gpt-4o-mini"), Some("openai/gpt-4o")),
                ("modelParameters.maxTokens", Some("100"), None),
                ("modelParameters.temperature", Some("0.2"), Some("0.7")),
                (
                    "message 1 (system)",
                    Some("Be brief."),
                    Some("Be brief and kind.")
                ),
                ("message 2 (assistant)", None, Some("Example answer")),
            ]
        );
        let text = diff.render_terminal(false);
        assert!(
            text.contains("model: openai/gpt-4o-mini → openai/gpt-4o\n"),
            "{text}"
        );
        assert!(
            text.contains("modelParameters.maxTokens: removed 100\n"),
            "{text}"
        );
        let md = diff.render_markdown();
        assert!(
            md.contains("- **model** changed: `openai/gpt-4o-mini` → `openai/gpt-4o`"),
            "{md}"
        );
        assert!(
            md.contains("- **message 2 (assistant)** added: _none_ → `Example answer`"),
            "{md}"
        );
        assert!(diff_prompt_values(&old, &old).is_empty());
    }

    #[test]
    fn long_message_changes_render_as_diffs() {
        let old = json!({"messages": [{"role": "system", "content": "You help.\nAlways cite the order number.\n"}]});
        let new = json!({"messages": [{"role": "system", "content": "You help.\nNever cite the order number.\n"}]});
        let diff = diff_prompt_values(&old, &new);
        let text = diff.render_terminal(false);
        assert!(text.contains("message 1 (system) changed:\n@@"), "{text}");
        assert!(text.contains("[-Always-]{+Never+} cite"), "{text}");
        let md = diff.render_markdown();
        assert!(md.contains("  ```diff\n"), "{md}");
        assert!(
            md.contains("  -Always cite the order number.\n  +Never cite"),
            "{md}"
        );
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code_span("a"), "`a`");
        assert_eq!(code_span("a`b"), "`` a`b ``");
    }
}
