//! Applying a candidate to a prompt file's text: only the message contents
//! change, everything else (comments, key order, quoting of other values,
//! blank lines) stays byte for byte as written. And the lines an edit
//! touches, for a pull-request suggestion block.
//!
//! Why by hand: a YAML writer re-emits the whole document (comments and
//! formatting lost). Instead the scalar of each changed `content` is found
//! in saphyr's event stream, replaced in the text, and the result is read
//! back: an edit whose text does not parse to exactly the new messages is
//! refused, never written.

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::super::spec::yaml;
use crate::types::MessageTemplate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the prompt file is not valid YAML: {0}")]
    Unreadable(String),
    #[error(
        "the candidate has {new} message(s) where the file has {old}; only message contents may \
         change"
    )]
    MessageCount { old: usize, new: usize },
    #[error(
        "message {index} is `{old}` in the file and `{new}` in the candidate; only message \
         contents may change"
    )]
    Role {
        index: usize,
        old: String,
        new: String,
    },
    #[error("message {index} has no `content` written in the file to replace")]
    NoContent { index: usize },
    #[error(
        "message {index} could not be rewritten in place (the edited file would not read back \
         as the new text)"
    )]
    NotRepresentable { index: usize },
}

/// One scalar as written: byte offsets of the value (for a block scalar,
/// of its content: saphyr's span starts after the header), its style, and
/// where its key is.
#[derive(Debug, Clone, Copy)]
struct WrittenScalar {
    start: usize,
    end: usize,
    style: ScalarStyle,
    key_column: usize,
    /// Byte offset just past the key (the `:` and the header follow).
    key_end: usize,
}

/// `text` with the contents of `messages` written in place of the file's.
/// Roles and the number of messages must be the file's.
pub fn replace_messages(text: &str, messages: &[MessageTemplate]) -> Result<String, EditError> {
    let (located, _) = yaml::parse(text).map_err(|problems| {
        EditError::Unreadable(
            problems
                .first()
                .map(|p| format!("line {}: {}", p.pos.line, p.message))
                .unwrap_or_default(),
        )
    })?;
    let written = located
        .value
        .get("messages")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    if written.len() != messages.len() {
        return Err(EditError::MessageCount {
            old: written.len(),
            new: messages.len(),
        });
    }
    let mut edited = text.to_owned();
    // From the last message up, so earlier offsets stay valid.
    for (index, (old, new)) in written.iter().zip(messages).enumerate().rev() {
        let old_role = old.get("role").and_then(|r| r.as_str()).unwrap_or("");
        if old_role != new.role.to_string() {
            return Err(EditError::Role {
                index,
                old: old_role.to_owned(),
                new: new.role.to_string(),
            });
        }
        if old.get("content").and_then(|c| c.as_str()) == Some(new.content.as_str()) {
            continue;
        }
        let pointer = format!("/messages/{index}/content");
        let scalar = find_scalar(&edited, &pointer).ok_or(EditError::NoContent { index })?;
        edited = rewrite_scalar(&edited, scalar, &new.content, &pointer)
            .ok_or(EditError::NotRepresentable { index })?;
    }
    Ok(edited)
}

fn reads_back(text: &str, pointer: &str, expected: &str) -> bool {
    yaml::parse(text)
        .is_ok_and(|(doc, _)| doc.value.pointer(pointer).and_then(|v| v.as_str()) == Some(expected))
}

/// The first rendering of `content` in place of `scalar` that reads back
/// as `content`: a literal block where the value was a block or has
/// several lines, else (and as the fallback) a double-quoted scalar.
fn rewrite_scalar(
    text: &str,
    scalar: WrittenScalar,
    content: &str,
    pointer: &str,
) -> Option<String> {
    let faithful = |edited: &String| reads_back(edited, pointer, content);
    let block = is_block(scalar.style);
    let mut attempts = Vec::new();
    if block || content.contains('\n') {
        attempts.extend(as_block(text, scalar, content));
    }
    attempts.push(as_quoted(text, scalar, content));
    attempts.into_iter().find(faithful)
}

fn is_block(style: ScalarStyle) -> bool {
    matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
}

/// `content` as a literal block scalar where the old value was. For a
/// block, only its indicator and content lines are replaced: a comment
/// after the indicator stays.
fn as_block(text: &str, scalar: WrittenScalar, content: &str) -> Option<String> {
    let region = if is_block(scalar.style) {
        block_region(text, scalar)
    } else {
        BlockRegion {
            indicator: (scalar.start, scalar.end),
            header_rest: (scalar.end, scalar.end),
            end: scalar.end,
            indent: scalar.key_column + 2,
        }
    };
    let trailing = content.len() - content.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let lines: Vec<&str> = content.trim_end_matches('\n').split('\n').collect();
    // A first line that starts with a space needs an explicit indentation.
    let indicator = if lines.first().is_some_and(|l| l.starts_with(' ')) {
        if region.indent > 9 {
            return None;
        }
        format!("|{}{chomp}", region.indent)
    } else {
        format!("|{chomp}")
    };
    let pad = " ".repeat(region.indent);
    let mut body = String::new();
    for line in &lines {
        body.push('\n');
        if !line.is_empty() {
            body.push_str(&pad);
            body.push_str(line);
        }
    }
    for _ in 1..trailing {
        body.push('\n');
    }
    Some(format!(
        "{}{indicator}{}{body}{}",
        &text[..region.indicator.0],
        &text[region.header_rest.0..region.header_rest.1],
        &text[region.end..]
    ))
}

/// `content` as a double-quoted scalar (JSON's escapes are YAML's) where the
/// old value was; a block scalar's content lines go with it.
fn as_quoted(text: &str, scalar: WrittenScalar, content: &str) -> String {
    let (start, end) = if is_block(scalar.style) {
        let region = block_region(text, scalar);
        (region.indicator.0, region.end)
    } else {
        (scalar.start, scalar.end)
    };
    let quoted = serde_json::Value::String(content.to_owned()).to_string();
    format!("{}{quoted}{}", &text[..start], &text[end..])
}

/// Where a block scalar is written, as byte ranges of the text.
struct BlockRegion {
    /// `|`, `>-`, `|2+` …
    indicator: (usize, usize),
    /// The rest of the header line (spaces, a comment), kept.
    header_rest: (usize, usize),
    /// The end of its last non-blank content line (trailing blank lines and
    /// the line break after the last line are not part of it).
    end: usize,
    /// The indentation of its content.
    indent: usize,
}

fn block_region(text: &str, scalar: WrittenScalar) -> BlockRegion {
    // The header follows the key's `:` on the key's line.
    let after_key = scalar.key_end.min(text.len());
    let indicator_start = text[after_key..]
        .find(|c: char| c != ':' && c != ' ' && c != '\t')
        .map_or(after_key, |i| after_key + i);
    let header_end = text[indicator_start..]
        .find('\n')
        .map_or(text.len(), |i| indicator_start + i);
    let indicator_end = text[indicator_start..header_end]
        .find(char::is_whitespace)
        .map_or(header_end, |i| indicator_start + i);
    let mut end = header_end;
    let mut indent = None;
    let mut cursor = header_end;
    while cursor < text.len() {
        let line_start = cursor + 1;
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..line_end];
        cursor = line_end;
        if line.trim().is_empty() {
            continue;
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if spaces <= scalar.key_column {
            break;
        }
        indent.get_or_insert(spaces);
        end = line_end;
    }
    BlockRegion {
        indicator: (indicator_start, indicator_end),
        header_rest: (indicator_end, header_end),
        end,
        indent: indent.unwrap_or(scalar.key_column + 2),
    }
}

/// Where the scalar at `pointer` is written.
fn find_scalar(text: &str, pointer: &str) -> Option<WrittenScalar> {
    enum Frame {
        Seq {
            pointer: String,
            next: usize,
        },
        Map {
            pointer: String,
            key: Option<(String, usize, usize)>,
        },
    }
    let offsets = CharOffsets::new(text);
    let mut stack: Vec<Frame> = Vec::new();
    // The pointer of the node the next event starts, its key's column and
    // where the key ends.
    let next_pointer = |stack: &[Frame]| -> (String, usize, usize) {
        match stack.last() {
            None => (String::new(), 0, 0),
            Some(Frame::Seq { pointer, next }) => (yaml::index(pointer, *next), 0, 0),
            Some(Frame::Map { pointer, key }) => {
                let (name, column, end) = key.clone().unwrap_or_default();
                (yaml::child(pointer, &name), column, end)
            }
        }
    };
    let advance = |stack: &mut Vec<Frame>| match stack.last_mut() {
        Some(Frame::Seq { next, .. }) => *next += 1,
        Some(Frame::Map { key, .. }) => *key = None,
        None => {}
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        match event {
            Event::Scalar(value, style, ..) => {
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = stack.last_mut()
                {
                    *key = Some((
                        value.into_owned(),
                        span.start.col(),
                        offsets.byte(span.end.index()),
                    ));
                    continue;
                }
                let (here, key_column, key_end) = next_pointer(&stack);
                if here == pointer {
                    return Some(WrittenScalar {
                        start: offsets.byte(span.start.index()),
                        end: offsets.byte(span.end.index()),
                        style,
                        key_column,
                        key_end,
                    });
                }
                advance(&mut stack);
            }
            Event::SequenceStart(..) => {
                let (here, ..) = next_pointer(&stack);
                stack.push(Frame::Seq {
                    pointer: here,
                    next: 0,
                });
            }
            Event::MappingStart(..) => {
                let (here, ..) = next_pointer(&stack);
                stack.push(Frame::Map {
                    pointer: here,
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                advance(&mut stack);
            }
            Event::Alias(_) => advance(&mut stack),
            _ => {}
        }
    }
    None
}

/// saphyr counts characters; the text is sliced by bytes.
struct CharOffsets(Vec<usize>);

impl CharOffsets {
    fn new(text: &str) -> Self {
        let mut bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        bytes.push(text.len());
        Self(bytes)
    }

    fn byte(&self, char_index: usize) -> usize {
        self.0
            .get(char_index)
            .copied()
            .unwrap_or_else(|| *self.0.last().unwrap_or(&0))
    }
}

/// The lines of a file an edit replaces, and what replaces them: the form
/// of a pull-request suggestion (`start_line`..=`end_line` on the new side
/// of the pull request's diff, which is this file as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEdit {
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// The replacement lines, each without its line break.
    pub replacement: Vec<String>,
}

/// The smallest run of whole lines of `old` whose replacement turns it
/// into `new`; `None` when they are equal. A pure insertion takes the line
/// before it along (a suggestion replaces at least one line).
pub fn changed_lines(old: &str, new: &str) -> Option<LineEdit> {
    if old == new {
        return None;
    }
    let old_lines: Vec<&str> = old.split('\n').collect();
    let new_lines: Vec<&str> = new.split('\n').collect();
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let max_suffix = old_lines.len().min(new_lines.len()) - prefix;
    let suffix = old_lines
        .iter()
        .rev()
        .zip(new_lines.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let (old_end, new_end) = (old_lines.len() - suffix, new_lines.len() - suffix);
    // Nothing removed: anchor on the line before the insertion, or on the
    // first line when the insertion is at the top.
    let (first, new_first, new_end) = match (prefix == old_end, prefix) {
        (false, _) => (prefix, prefix, new_end),
        (true, 0) => (0, 0, new_end + 1),
        (true, p) => (p - 1, p - 1, new_end),
    };
    let end_line = old_end.max(first + 1);
    Some(LineEdit {
        start_line: first as u32 + 1,
        end_line: end_line as u32,
        replacement: new_lines[new_first..new_end]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    })
}

/// `old` with `edit` applied: what a reviewer's click on the suggestion does.
pub fn apply_line_edit(old: &str, edit: &LineEdit) -> String {
    let lines: Vec<&str> = old.split('\n').collect();
    let start = (edit.start_line as usize)
        .saturating_sub(1)
        .min(lines.len());
    let end = (edit.end_line as usize).min(lines.len()).max(start);
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend(edit.replacement.iter().map(String::as_str));
    out.extend(&lines[end..]);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;

    const FILE: &str = "# The support assistant.\nname: support-bot   # keep this comment\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: system\n    content: |\n      You are the support assistant.\n      {% include \"snippets/tone.md\" %}\n\n  # the question, as asked\n  - content: \"{{ question }}\"\n    role: user\nevaluators:\n  - name: signs off\n    string: {contains: Nimbus Support}\n";

    fn messages(system: &str, user: &str) -> Vec<MessageTemplate> {
        vec![
            MessageTemplate {
                role: Role::System,
                content: system.to_owned(),
            },
            MessageTemplate {
                role: Role::User,
                content: user.to_owned(),
            },
        ]
    }

    fn content(text: &str, index: usize) -> String {
        let (doc, _) = yaml::parse(text).unwrap();
        doc.value["messages"][index]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn only_the_changed_block_lines_change() {
        let system = "You are the support assistant.\nNever promise refunds.\n";
        let edited = replace_messages(FILE, &messages(system, "{{ question }}")).unwrap();
        assert_eq!(content(&edited, 0), system);
        let edit = changed_lines(FILE, &edited).unwrap();
        assert_eq!((edit.start_line, edit.end_line), (8, 8));
        assert_eq!(edit.replacement, vec!["      Never promise refunds."]);
        assert_eq!(apply_line_edit(FILE, &edit), edited);
    }

    #[test]
    fn a_quoted_scalar_stays_on_its_line_and_key_order_and_comments_stay() {
        let edited = replace_messages(
            FILE,
            &messages(&content(FILE, 0), "Question: {{ question }}"),
        )
        .unwrap();
        assert_eq!(content(&edited, 1), "Question: {{ question }}");
        let edit = changed_lines(FILE, &edited).unwrap();
        assert_eq!((edit.start_line, edit.end_line), (11, 11));
        assert_eq!(
            edit.replacement,
            vec!["  - content: \"Question: {{ question }}\""]
        );
    }

    #[test]
    fn a_one_line_value_that_grows_lines_becomes_a_block() {
        let user = "Answer briefly.\n{{ question }}";
        let edited = replace_messages(FILE, &messages(&content(FILE, 0), user)).unwrap();
        assert_eq!(content(&edited, 1), user);
        assert!(
            edited.contains("  - content: |-\n      Answer briefly.\n"),
            "{edited}"
        );
        assert!(edited.contains("    role: user\n"));
    }

    #[test]
    fn roles_and_the_number_of_messages_are_the_files() {
        let mut swapped = messages("a", "b");
        swapped.swap(0, 1);
        assert!(matches!(
            replace_messages(FILE, &swapped),
            Err(EditError::Role { index: 1, .. })
        ));
        assert!(matches!(
            replace_messages(FILE, &messages("a", "b")[..1]),
            Err(EditError::MessageCount { old: 2, new: 1 })
        ));
    }

    #[test]
    fn insertions_anchor_on_a_line() {
        let edit = changed_lines("a\nb\n", "a\nx\nb\n").unwrap();
        assert_eq!((edit.start_line, edit.end_line), (1, 1));
        assert_eq!(edit.replacement, vec!["a", "x"]);
        assert_eq!(apply_line_edit("a\nb\n", &edit), "a\nx\nb\n");
        let top = changed_lines("a\n", "x\na\n").unwrap();
        assert_eq!(apply_line_edit("a\n", &top), "x\na\n");
        assert_eq!(changed_lines("same", "same"), None);
    }

    proptest::proptest! {
        /// Whatever the new contents, the edit is made, the file reads back as exactly
        /// them, and every line outside the replaced run is the file's own:
        /// comments, key order and other values survive.
        #[test]
        fn edits_keep_everything_but_the_contents(
            system in "[ -~\n]{0,80}",
            user in "[ -~\n\t]{0,40}",
        ) {
            // The double-quoted fallback writes any text, so nothing is refused.
            let edited = replace_messages(FILE, &messages(&system, &user)).unwrap();
            proptest::prop_assert_eq!(content(&edited, 0), system.clone());
            proptest::prop_assert_eq!(content(&edited, 1), user.clone());
            for kept in ["# The support assistant.", "name: support-bot   # keep this comment",
                         "  # the question, as asked", "    role: user", "evaluators:",
                         "    string: {contains: Nimbus Support}"] {
                proptest::prop_assert!(edited.lines().any(|l| l == kept), "lost {kept:?}:\n{edited}");
            }
            if let Some(edit) = changed_lines(FILE, &edited) {
                proptest::prop_assert_eq!(apply_line_edit(FILE, &edit), edited.clone());
                let old: Vec<&str> = FILE.split('\n').collect();
                let new: Vec<&str> = edited.split('\n').collect();
                let before = edit.start_line as usize - 1;
                proptest::prop_assert_eq!(&old[..before], &new[..before]);
            }
        }
    }
}
