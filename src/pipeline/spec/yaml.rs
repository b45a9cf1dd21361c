//! YAML → `serde_json::Value` plus a line/column index of every node.
//!
//! Why this shape: `serde_yaml` is deprecated, and the maintained serde
//! front-ends for YAML stop at the first error. We want every problem in a
//! prompt file at once, each with `file:line:col`. So we read saphyr's event
//! stream once, build a plain JSON value (which the typed readers then
//! deserialize section by section with `serde_path_to_error`), and keep a
//! JSON-pointer → position index so any error path maps back to the source.
//! Building from events (rather than saphyr's loaded tree) also lets us
//! refuse duplicate keys and cap alias expansion, so a hostile file
//! (billion laughs) cannot exhaust memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::ScalarOwned;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};

/// Most nodes a document may expand to (aliases included).
const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted; deeper input is refused before it can overflow a stack.
const MAX_DEPTH: usize = 128;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn from_span(span: &Span) -> Self {
        Pos {
            line: span.start.line() as u32,
            column: span.start.col() as u32 + 1,
        }
    }
}

/// A YAML document as JSON, with where each node and each mapping key sits.
#[derive(Debug, Clone, Default)]
pub struct Located {
    pub value: Value,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    /// The text of every plain (unquoted, untagged) scalar, when asked for
    /// ([`parse_keeping_literals`]): Go's YAML decoder resolves it by rules
    /// of its own, and keeps it as written in a string field.
    literals: HashMap<String, String>,
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub message: String,
    /// Duplicate keys are reported but do not stop the read.
    pub fatal: bool,
}

/// Appends one segment to a JSON pointer (RFC 6901 escaping).
pub fn child(pointer: &str, segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{escaped}")
}

pub fn index(pointer: &str, i: usize) -> String {
    format!("{pointer}/{i}")
}

impl Located {
    /// Where the node at `pointer` starts; the nearest located ancestor when
    /// the node itself has no position (e.g. inside an alias), else 1:1.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut current = pointer;
        loop {
            if let Some(pos) = self.values.get(current) {
                return *pos;
            }
            match current.rfind('/') {
                Some(cut) => current = &current[..cut],
                None => return Pos { line: 1, column: 1 },
            }
        }
    }

    /// The plain scalar at `pointer` as written, when it is one and literals
    /// were kept.
    pub fn literal(&self, pointer: &str) -> Option<&str> {
        self.literals.get(pointer).map(String::as_str)
    }

    /// Where the key naming the node at `pointer` is written, falling back to the node.
    pub fn key_pos(&self, pointer: &str) -> Pos {
        self.keys
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.pos(pointer))
    }
}

enum Frame {
    Seq {
        pointer: String,
        items: Vec<Value>,
        anchor: usize,
        start_nodes: usize,
    },
    Map {
        pointer: String,
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        start_nodes: usize,
    },
}

struct Builder {
    out: Located,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    root: Option<Value>,
    problems: Vec<YamlProblem>,
    keep_literals: bool,
}

/// As [`parse`], also keeping the text of every plain scalar
/// ([`Located::literal`]); prompt files need it, datasets do not.
pub fn parse_keeping_literals(text: &str) -> Result<(Located, Vec<YamlProblem>), Vec<YamlProblem>> {
    parse_with(text, true)
}

/// Parses the first document of `text`. `Err` holds the fatal problem plus
/// any earlier non-fatal ones; `Ok` may carry non-fatal problems (duplicate keys).
pub fn parse(text: &str) -> Result<(Located, Vec<YamlProblem>), Vec<YamlProblem>> {
    parse_with(text, false)
}

fn parse_with(
    text: &str,
    keep_literals: bool,
) -> Result<(Located, Vec<YamlProblem>), Vec<YamlProblem>> {
    let mut builder = Builder {
        out: Located::default(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        problems: Vec::new(),
        keep_literals,
    };
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(pair) => pair,
            Err(error) => {
                let marker = error.marker();
                builder.problems.push(YamlProblem {
                    pos: Pos {
                        line: marker.line() as u32,
                        column: marker.col() as u32 + 1,
                    },
                    message: format!("this is not valid YAML: {}", error.info()),
                    fatal: true,
                });
                return Err(builder.problems);
            }
        };
        if let Event::DocumentStart(_) = event {
            documents += 1;
            if documents > 1 {
                builder.problems.push(YamlProblem {
                    pos: Pos::from_span(&span),
                    message: "a prompt file holds one YAML document; remove the second `---`"
                        .into(),
                    fatal: true,
                });
                return Err(builder.problems);
            }
        }
        if let Err(problem) = builder.event(event, &span) {
            builder.problems.push(problem);
            return Err(builder.problems);
        }
    }
    builder.out.value = builder.root.take().unwrap_or(Value::Null);
    Ok((builder.out, builder.problems))
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlProblem> {
        let pos = Pos::from_span(span);
        let fatal = |message: String| YamlProblem {
            pos,
            message,
            fatal: true,
        };
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    pointer,
                    ..
                }) = self.stack.last_mut()
                {
                    // A scalar in key position names the next value.
                    let name = text.into_owned();
                    self.out.keys.insert(child(pointer, &name), pos);
                    *key = Some(name);
                    return Ok(());
                }
                if self.keep_literals && style == ScalarStyle::Plain && tag.is_none() {
                    let pointer = self.next_pointer();
                    self.out.literals.insert(pointer, text.to_string());
                }
                let value = scalar(text, style, tag.as_ref());
                self.count(1, pos)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.insert(value, pos)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(fatal(
                        "a mapping key must be a plain value, not a list or a map".into(),
                    ));
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(fatal(format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                let pointer = self.next_pointer();
                self.out.values.insert(pointer.clone(), pos);
                self.count(1, pos)?;
                let start_nodes = self.nodes;
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq {
                            pointer,
                            items: Vec::new(),
                            anchor,
                            start_nodes,
                        }
                    } else {
                        Frame::Map {
                            pointer,
                            map: Map::new(),
                            key: None,
                            anchor,
                            start_nodes,
                        }
                    });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, start_nodes, pointer) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        start_nodes,
                        pointer,
                    }) => (Value::Array(items), anchor, start_nodes, pointer),
                    Some(Frame::Map {
                        map,
                        anchor,
                        start_nodes,
                        pointer,
                        ..
                    }) => (Value::Object(map), anchor, start_nodes, pointer),
                    None => return Err(fatal("unbalanced YAML collection".into())),
                };
                if anchor > 0 {
                    let size = self.nodes - start_nodes + 1;
                    self.anchors.insert(anchor, (value.clone(), size));
                }
                let start = self.out.values.get(&pointer).copied().unwrap_or(pos);
                self.place(value, start)
            }
            Event::Alias(anchor) => {
                if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
                    return Err(fatal("an alias cannot be used as a mapping key".into()));
                }
                let Some((value, size)) = self.anchors.get(&anchor).cloned() else {
                    return Err(fatal("this alias names no anchor defined before it".into()));
                };
                self.count(size, pos)?;
                self.insert(value, pos)
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
        }
    }

    fn count(&mut self, added: usize, pos: Pos) -> Result<(), YamlProblem> {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > MAX_NODES {
            return Err(YamlProblem {
                pos,
                message: format!(
                    "the document expands to more than {MAX_NODES} values (aliases included)"
                ),
                fatal: true,
            });
        }
        Ok(())
    }

    /// The pointer the next value will get in the current container.
    fn next_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { pointer, items, .. }) => index(pointer, items.len()),
            Some(Frame::Map { pointer, key, .. }) => child(pointer, key.as_deref().unwrap_or("")),
        }
    }

    fn insert(&mut self, value: Value, pos: Pos) -> Result<(), YamlProblem> {
        let pointer = self.next_pointer();
        self.out.values.insert(pointer, pos);
        self.place(value, pos)
    }

    fn place(&mut self, value: Value, pos: Pos) -> Result<(), YamlProblem> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Map {
                map, key, pointer, ..
            }) => {
                let name = key.take().unwrap_or_default();
                if map.contains_key(&name) {
                    let at = self
                        .out
                        .keys
                        .get(&child(pointer, &name))
                        .copied()
                        .unwrap_or(pos);
                    self.problems.push(YamlProblem {
                        pos: at,
                        message: format!("duplicate key `{name}`; the last one wins"),
                        fatal: false,
                    });
                }
                map.insert(name, value);
                Ok(())
            }
        }
    }
}

fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Value {
    match ScalarOwned::parse_from_cow_and_metadata(text.clone(), style, tag) {
        Some(ScalarOwned::Null) => Value::Null,
        Some(ScalarOwned::Boolean(b)) => Value::Bool(b),
        Some(ScalarOwned::Integer(i)) => Value::from(i),
        Some(ScalarOwned::FloatingPoint(f)) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            // NaN and infinities have no JSON form; keep the text.
            .unwrap_or_else(|| Value::String(text.into_owned())),
        Some(ScalarOwned::String(s)) => Value::String(s),
        None => Value::String(text.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let text = "name: x\nlist:\n  - 1\n  - two: 2.5\n    three: null\n";
        let (doc, problems) = parse(text).unwrap();
        assert!(problems.is_empty());
        assert_eq!(
            doc.value,
            serde_json::json!({"name": "x", "list": [1, {"two": 2.5, "three": null}]})
        );
        assert_eq!(doc.pos("/name"), Pos { line: 1, column: 7 });
        assert_eq!(doc.key_pos("/list"), Pos { line: 2, column: 1 });
        assert_eq!(
            doc.pos("/list/1/three"),
            Pos {
                line: 5,
                column: 12
            }
        );
        assert_eq!(doc.key_pos("/list/1/three"), Pos { line: 5, column: 5 });
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(doc.pos("/list/1/missing"), doc.pos("/list/1"));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let (doc, _) = parse("a: '1'\nb: \"true\"\nc: 1\nd: true\n").unwrap();
        assert_eq!(
            doc.value,
            serde_json::json!({"a": "1", "b": "true", "c": 1, "d": true})
        );
    }

    #[test]
    fn plain_scalars_keep_their_text_when_asked() {
        let (doc, _) =
            parse_keeping_literals("a: 1.0\nb: '1.0'\nc: [x, 0x1F]\nd: !!str 5\n").unwrap();
        assert_eq!(doc.literal("/a"), Some("1.0"));
        assert_eq!(doc.literal("/b"), None);
        assert_eq!(doc.literal("/c/1"), Some("0x1F"));
        assert_eq!(doc.literal("/d"), None);
        let (doc, _) = parse("a: 1.0\n").unwrap();
        assert_eq!(doc.literal("/a"), None);
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (doc, problems) = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(doc.value["a"], 3);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pos.line, 3);
        assert!(problems[0].message.contains("duplicate key `a`"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let problems = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(problems[0].fatal);
        assert!(problems[0].pos.line >= 1);
    }

    #[test]
    fn aliases_expand_within_a_budget() {
        let (doc, _) = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(doc.value["b"], serde_json::json!([1, 2]));

        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let prev = level - 1;
            let refs = vec![format!("*a{prev}"); 10].join(", ");
            laughs.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        let problems = parse(&laughs).unwrap_err();
        assert!(problems[0].message.contains("expands to more than"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(MAX_DEPTH + 5);
        assert!(parse(&text).is_err());
    }
}
