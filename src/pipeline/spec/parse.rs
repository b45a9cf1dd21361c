//! Reading one prompt file into a [`PromptSpec`], collecting every problem.
//!
//! The YAML is turned into JSON once ([`super::yaml`]); then each section is
//! deserialized on its own with `serde_path_to_error`, so one bad section
//! does not hide problems in the next, and every error path maps back to a
//! line and column through the document's position index.
//!
//! # Keys of a prompt file
//!
//! A file that uses only GitHub Models keys is read with GitHub's semantics
//! ([`Semantics::Github`]): values as `gh models eval`'s YAML decoder reads
//! them ([`super::github`]), `{{name}}` replaced exactly, every `testData`
//! column a plain variable, and what gh accepts accepted (unnamed or
//! duplicate evaluators, unknown `uses:`, several kinds), with warnings. Any
//! of promptgate's keys, or `semantics: promptgate`, selects promptgate's.
//!
//! GitHub Models keys (read unchanged):
//! - `name` — the prompt's name, unique in the repository (default: the file
//!   name without `.prompt.yml`).
//! - `description` — free text.
//! - `model` — **required**, `publisher/model`, e.g. `openai/gpt-4o-mini`.
//!   The publisher doubles as a provider alias from `promptgate.toml`; an id
//!   no alias claims runs on GitHub Models as written.
//! - `modelParameters` — `maxTokens`, `temperature`, `topP`, `stop` (a list),
//!   `seed`, `presencePenalty`, `frequencyPenalty`.
//! - `responseFormat` — `text` (default), `json_object` or `json_schema`.
//! - `jsonSchema` — with `json_schema`: the schema as a JSON string (as
//!   GitHub writes it) or as a YAML map.
//! - `messages` — **required**, a list of `{role, content}`; roles `system`,
//!   `user`, `assistant` (any case); content is a template (`{{input}}`).
//! - `testData` — a list of variable maps; `expected` is the reference
//!   answer; with promptgate's semantics `id`, `keywords`, `regex`, `schema`
//!   are optional expectations.
//! - `evaluators` — a list of `{name, <kind>}`; GitHub's kinds are
//!   `string: {contains|startsWith|endsWith|equals: text}`,
//!   `llm: {modelId, prompt, choices: [{choice, score}], systemPrompt}` and
//!   `uses: github/similarity|coherence|fluency|relevance|groundedness`.
//!
//! promptgate's keys (all optional):
//! - `dataset` — a JSONL, CSV or YAML file of cases, relative to the
//!   repository root; used beside `testData`.
//! - evaluator kinds `regex` (pattern or `{pattern, negate}`), `keywords`
//!   (list or `{words, mode: all|any, caseSensitive}`; no words → each case's
//!   `keywords`), `json` (`true`), `jsonSchema` (JSON string or map),
//!   `similarity` (`token_f1`, `rouge_l`, `embedding` or `{method, model}`),
//!   `length` (`{min, max, unit: chars|words}`), `latency` (max ms or
//!   `{maxMs}`), `cost` (max USD or `{maxUsd}`), `judge` (criterion or
//!   `{criterion, rubric: [five descriptions for 1..5], model}`), `command`
//!   (`{program, args, timeout}`); every evaluator also takes `weight`
//!   (default 1) and `threshold` (0–1).
//! - `repeats` — times each case is sent (default 1).
//! - `gate` — `{tolerance, confidence, minCases, failOn}` overriding the config.
//! - `tags` — a list of strings; `owner` — a person or team.
//! - `semantics` — `github` or `promptgate` (see above); `modelParameters`
//!   also takes `maxCompletionTokens`.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::yaml::{self, Located, Pos, child, index};
use crate::pipeline::config::MIN_CASES_FLOOR;
use crate::pipeline::template::github::{Unreplaced, go_text, unreplaced};
use crate::types::{
    BuiltinEvaluator, Case, CaseSource, Diagnostic, Diagnostics, EvaluatorKind, EvaluatorSpec,
    Expectations, GateOverrides, KeywordMode, LengthUnit, LlmChoice, MessageTemplate, ModelId,
    ModelParameters, PromptSpec, RepoPath, ResponseFormat, Semantics, SimilarityMethod,
    StringCheck,
};

/// Every top-level key a prompt file may have; others draw a warning.
pub const PROMPT_KEYS: &[&str] = &[
    "name",
    "description",
    "model",
    "modelParameters",
    "responseFormat",
    "jsonSchema",
    "messages",
    "testData",
    "evaluators",
    "dataset",
    "repeats",
    "gate",
    "tags",
    "owner",
    "semantics",
];
/// Top-level keys of promptgate's own: any of them reads the file with
/// promptgate's semantics.
const PROMPTGATE_KEYS: &[&str] = &["dataset", "repeats", "gate", "tags", "owner"];
/// Evaluator kinds GitHub Models defines; any other is promptgate's.
const GITHUB_KINDS: &[&str] = &["string", "llm", "uses"];
/// Parameter names seen in the wild that neither gh nor promptgate reads.
const IGNORED_PARAMETERS: &[(&str, &str)] = &[
    ("max_tokens", "maxTokens"),
    ("top_p", "topP"),
    ("max_completion_tokens", "maxCompletionTokens"),
];
const PARAMETER_KEYS: &[&str] = &[
    "maxTokens",
    "maxCompletionTokens",
    "temperature",
    "topP",
    "stop",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
];
const MESSAGE_KEYS: &[&str] = &["role", "content"];
const GATE_KEYS: &[&str] = &["tolerance", "confidence", "minCases", "failOn"];
const EVALUATOR_COMMON_KEYS: &[&str] = &["name", "weight", "threshold"];
const EVALUATOR_KINDS: &[&str] = &[
    "string",
    "llm",
    "uses",
    "regex",
    "keywords",
    "json",
    "jsonSchema",
    "similarity",
    "length",
    "latency",
    "cost",
    "judge",
    "command",
];

/// Parses one prompt file. The spec is `Some` exactly when there is no
/// error; warnings (unknown keys, duplicate keys) come either way.
pub fn parse_prompt(path: &RepoPath, bytes: &[u8]) -> (Option<PromptSpec>, Diagnostics) {
    let (parsed, diagnostics) = parse_with_name_pos(path, bytes);
    (parsed.map(|(spec, _)| spec), diagnostics)
}

/// As [`parse_prompt`], also returning where the name is written (for
/// duplicate-name errors across the workspace).
pub(crate) fn parse_with_name_pos(
    path: &RepoPath,
    bytes: &[u8],
) -> (Option<(PromptSpec, Pos)>, Diagnostics) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = bytes[..error.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u32
                + 1;
            let diagnostic = Diagnostic::error(
                path.clone(),
                line,
                0,
                "the file is not UTF-8 text; save it as UTF-8",
            );
            return (None, Diagnostics(vec![diagnostic]));
        }
    };
    let mut reader = Reader {
        path,
        text,
        doc: Located::default(),
        diagnostics: Vec::new(),
        semantics: Semantics::Promptgate,
    };
    let doc = match yaml::parse_keeping_literals(text) {
        Ok((doc, problems)) => {
            reader.yaml_problems(problems);
            doc
        }
        Err(problems) => {
            reader.yaml_problems(problems);
            return (None, Diagnostics(reader.diagnostics));
        }
    };
    reader.doc = doc;
    reader.semantics = reader.semantics();
    reader.doc.value = match reader.semantics {
        Semantics::Github => super::github::as_gh_decodes(&reader.doc),
        Semantics::Promptgate => super::github::with_literal_strings(&reader.doc),
    };
    let result = reader.prompt();
    let has_errors = reader
        .diagnostics
        .iter()
        .any(|d| d.severity == crate::types::Severity::Error);
    let diagnostics = Diagnostics(reader.diagnostics);
    (if has_errors { None } else { result }, diagnostics)
}

struct Reader<'a> {
    path: &'a RepoPath,
    text: &'a str,
    doc: Located,
    diagnostics: Vec<Diagnostic>,
    semantics: Semantics,
}

/// `/messages/0/role` → `messages[0].role`, as users think of the key.
fn display(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl Reader<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic.with_source(self.text));
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(Diagnostic::error(
            self.path.clone(),
            pos.line,
            pos.column,
            message,
        ));
    }

    fn error_at(&mut self, pointer: &str, message: impl Into<String>) {
        let pos = self.doc.pos(pointer);
        self.error(pos, message);
    }

    fn yaml_problems(&mut self, problems: Vec<yaml::YamlProblem>) {
        for problem in problems {
            let diagnostic = if problem.fatal {
                Diagnostic::error(
                    self.path.clone(),
                    problem.pos.line,
                    problem.pos.column,
                    problem.message,
                )
            } else {
                Diagnostic::warning(
                    self.path.clone(),
                    problem.pos.line,
                    problem.pos.column,
                    problem.message,
                )
            };
            self.push(diagnostic);
        }
    }

    /// Deserializes one section; on failure reports where inside it the
    /// problem is.
    fn de<T: DeserializeOwned>(&mut self, pointer: &str, value: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let mut inner = pointer.to_owned();
                for segment in error.path().iter() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index: i } => inner = index(&inner, *i),
                        serde_path_to_error::Segment::Map { key } => inner = child(&inner, key),
                        serde_path_to_error::Segment::Enum { .. }
                        | serde_path_to_error::Segment::Unknown => {}
                    }
                }
                let message = format!("`{}`: {}", display(&inner), error.inner());
                self.error_at(&inner, message);
                None
            }
        }
    }

    fn expect_map<'v>(
        &mut self,
        pointer: &str,
        value: &'v Value,
        what: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                let message = format!(
                    "`{}` must be {what}, not {}",
                    display(pointer),
                    type_name(other)
                );
                self.error_at(pointer, message);
                None
            }
        }
    }

    fn expect_list<'v>(&mut self, pointer: &str, value: &'v Value) -> Option<&'v Vec<Value>> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                let message = format!(
                    "`{}` must be a list, not {}",
                    display(pointer),
                    type_name(other)
                );
                self.error_at(pointer, message);
                None
            }
        }
    }

    fn unknown_keys(&mut self, pointer: &str, map: &Map<String, Value>, known: &[&str]) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let at = child(pointer, key);
                let pos = self.doc.key_pos(&at);
                let message = format!(
                    "unknown key `{}` is ignored (known here: {})",
                    display(&at),
                    known.join(", ")
                );
                self.push(Diagnostic::warning(
                    self.path.clone(),
                    pos.line,
                    pos.column,
                    message,
                ));
            }
        }
    }

    fn model_id(&mut self, pointer: &str, value: &Value) -> Option<ModelId> {
        let text: String = self.de(pointer, value)?;
        match ModelId::parse(&text) {
            Ok(id) => Some(id),
            Err(message) => {
                self.error_at(pointer, format!("`{}`: {message}", display(pointer)));
                None
            }
        }
    }

    /// A JSON schema written as a JSON string or as a YAML map; checked
    /// for being a valid schema. `wrapped` accepts OpenAI's
    /// `{name, strict, schema}` envelope (what `responseFormat` sends).
    fn json_schema(&mut self, pointer: &str, value: &Value, wrapped: bool) -> Option<Value> {
        let schema = match value {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let message = format!(
                        "`{}` is a string but not JSON: {error}; write the schema as JSON text or as a YAML map",
                        display(pointer)
                    );
                    self.error_at(pointer, message);
                    return None;
                }
            },
            Value::Object(_) | Value::Bool(_) => value.clone(),
            other => {
                let message = format!(
                    "`{}` must be a JSON schema (a map, or JSON text), not {}",
                    display(pointer),
                    type_name(other)
                );
                self.error_at(pointer, message);
                return None;
            }
        };
        let inner = match (&schema, wrapped) {
            (Value::Object(map), true) if map.get("schema").is_some_and(Value::is_object) => {
                &map["schema"]
            }
            _ => &schema,
        };
        if let Err(error) = jsonschema::validator_for(inner) {
            let message = format!("`{}` is not a valid JSON schema: {error}", display(pointer));
            self.error_at(pointer, message);
            return None;
        }
        Some(schema)
    }

    fn regex(&mut self, pointer: &str, pattern: &str) -> bool {
        match regex::Regex::new(pattern) {
            Ok(_) => true,
            Err(error) => {
                // regex's message draws the pattern over several lines; keep its last line.
                let text = error.to_string();
                let why = text
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                let message = format!("`{}` is not a valid regex: {why}", display(pointer));
                self.error_at(pointer, message);
                false
            }
        }
    }

    /// Where the file uses a key of promptgate's own (the first one found),
    /// as a pointer and a display name.
    fn promptgate_key(&self) -> Option<(String, String)> {
        let Value::Object(top) = &self.doc.value else {
            return None;
        };
        if let Some(key) = PROMPTGATE_KEYS.iter().find(|k| top.contains_key(**k)) {
            return Some((child("", key), (*key).to_string()));
        }
        let evaluators = top.get("evaluators").and_then(Value::as_array)?;
        for (i, evaluator) in evaluators.iter().enumerate() {
            let Value::Object(map) = evaluator else {
                continue;
            };
            let pointer = index("/evaluators", i);
            for key in map.keys() {
                let own = ["weight", "threshold"].contains(&key.as_str())
                    || (EVALUATOR_KINDS.contains(&key.as_str())
                        && !GITHUB_KINDS.contains(&key.as_str()));
                if own {
                    let at = child(&pointer, key);
                    return Some((at.clone(), display(&at)));
                }
            }
        }
        None
    }

    /// GitHub's semantics unless the file uses promptgate's keys or says
    /// `semantics: promptgate`; `semantics: github` with promptgate's keys
    /// is an error naming the key.
    fn semantics(&mut self) -> Semantics {
        let declared = self.doc.value.get("semantics").cloned();
        let own_key = self.promptgate_key();
        match declared {
            None => match own_key {
                Some(_) => Semantics::Promptgate,
                None => Semantics::Github,
            },
            Some(Value::String(text)) if text == "promptgate" => Semantics::Promptgate,
            Some(Value::String(text)) if text == "github" => {
                if let Some((pointer, key)) = own_key {
                    let pos = self.doc.key_pos(&pointer);
                    self.error(
                        pos,
                        format!(
                            "`{key}` is promptgate's own key, and this file says `semantics: github`; \
                             remove one of the two (`semantics: promptgate` keeps the key)"
                        ),
                    );
                }
                Semantics::Github
            }
            Some(other) => {
                let found = match &other {
                    Value::String(text) => format!("`{text}`"),
                    value => type_name(value).to_string(),
                };
                self.error_at(
                    "/semantics",
                    format!(
                        "`semantics` is `github` (read as `gh models eval` reads the file) or \
                         `promptgate` (minijinja, strict variables, expectation columns), not {found}"
                    ),
                );
                Semantics::Promptgate
            }
        }
    }

    fn warn_at(&mut self, pointer: &str, message: impl Into<String>) {
        let pos = self.doc.pos(pointer);
        self.push(Diagnostic::warning(
            self.path.clone(),
            pos.line,
            pos.column,
            message,
        ));
    }

    fn github(&self) -> bool {
        self.semantics.is_github()
    }

    /// Warns at the first line, from the node at `pointer` on, that holds
    /// `needle` (a placeholder inside a block of text), else at the node.
    fn warn_at_text(&mut self, pointer: &str, needle: &str, message: String) {
        let start = self.doc.pos(pointer);
        let found = self
            .text
            .lines()
            .enumerate()
            .skip(start.line.saturating_sub(1) as usize)
            .find_map(|(i, line)| {
                let at = line.find(needle)?;
                Some(Pos {
                    line: i as u32 + 1,
                    column: line[..at].chars().count() as u32 + 1,
                })
            });
        let pos = found.unwrap_or(start);
        self.push(Diagnostic::warning(
            self.path.clone(),
            pos.line,
            pos.column,
            message,
        ));
    }

    fn prompt(&mut self) -> Option<(PromptSpec, Pos)> {
        let root = self.doc.value.clone();
        let Value::Object(top) = &root else {
            let message = format!(
                "a prompt file is a YAML map with keys like `name`, `model` and `messages`, not {}",
                type_name(&root)
            );
            self.error(Pos { line: 1, column: 1 }, message);
            return None;
        };
        self.unknown_keys("", top, PROMPT_KEYS);

        let name_pos = self.doc.pos("/name");
        let name = match top.get("name") {
            // gh runs a file without a name; its reports need one.
            Some(Value::String(name)) if name.is_empty() => Some(default_name(self.path)),
            Some(value) => self.de::<String>("/name", value),
            None => Some(default_name(self.path)),
        };
        let description = self
            .optional::<String>(top, "description")
            .filter(|text| !text.is_empty());
        let model = match top.get("model") {
            Some(Value::String(text)) if text.is_empty() => {
                self.error_at(
                    "/model",
                    "`model` is empty: there is no model to send the messages to (gh would send an empty model id, which GitHub Models refuses)",
                );
                None
            }
            Some(value) => self.model_id("/model", value),
            None => {
                self.error(
                    Pos { line: 1, column: 1 },
                    "missing required key `model` (e.g. `model: openai/gpt-4o-mini`); without it there is nothing to send the messages to",
                );
                None
            }
        };
        let parameters = match top.get("modelParameters") {
            Some(value) => {
                if let Some(map) = self.expect_map("/modelParameters", value, "a map") {
                    self.parameter_keys(map);
                }
                self.de::<ModelParameters>("/modelParameters", value)
            }
            None => Some(ModelParameters::default()),
        };
        let response_format = self.response_format(top);
        let messages = self.messages(top);
        let test_data = match top.get("testData") {
            Some(value) => self.test_data(value),
            None => Some(Vec::new()),
        };
        let dataset = match top.get("dataset") {
            Some(value) => self.de::<String>("/dataset", value).and_then(|text| {
                RepoPath::relative(&text)
                    .map_err(|message| self.error_at("/dataset", format!("`dataset`: {message}")))
                    .ok()
            }),
            None => None,
        };
        let evaluators = match top.get("evaluators") {
            Some(value) => self.evaluators(value),
            None => Some(Vec::new()),
        };
        let repeats = match top.get("repeats") {
            Some(value) => match self.de::<u32>("/repeats", value) {
                Some(0) => {
                    self.error_at("/repeats", "`repeats` must be at least 1");
                    None
                }
                other => other,
            },
            None => Some(1),
        };
        let gate = match top.get("gate") {
            Some(value) => {
                if let Some(map) = self.expect_map("/gate", value, "a map") {
                    self.unknown_keys("/gate", map, GATE_KEYS);
                }
                let overrides = self.de::<GateOverrides>("/gate", value);
                if let Some(min) = overrides.as_ref().and_then(|g| g.min_cases)
                    && min < MIN_CASES_FLOOR
                {
                    self.warn_at(
                        "/gate/minCases",
                        format!(
                            "`minCases: {min}` is below the gate's floor of {MIN_CASES_FLOOR} \
                             (fewer paired cases cannot support a verdict); {MIN_CASES_FLOOR} is used"
                        ),
                    );
                }
                overrides
            }
            None => Some(GateOverrides::default()),
        };
        let tags = self
            .optional::<Vec<String>>(top, "tags")
            .unwrap_or_default();
        let owner = self.optional::<String>(top, "owner");
        if self.github()
            && let (Some(messages), Some(cases), Some(evaluators)) =
                (&messages, &test_data, &evaluators)
        {
            self.unreplaced_placeholders(messages, cases, evaluators);
        }

        Some((
            PromptSpec {
                path: self.path.clone(),
                name: name?,
                description,
                semantics: self.semantics,
                model: model?,
                parameters: parameters?,
                response_format: response_format?,
                messages: messages?,
                test_data: test_data?,
                dataset,
                evaluators: evaluators?,
                repeats: repeats?,
                gate: gate?,
                tags,
                owner,
            },
            name_pos,
        ))
    }

    /// Warns where gh sends a placeholder as written though its author
    /// probably meant it replaced: `{{ name }}` with spaces, a `{{name}}`
    /// some case does not define, a minijinja tag.
    fn unreplaced_placeholders(
        &mut self,
        messages: &[MessageTemplate],
        cases: &[Case],
        evaluators: &[EvaluatorSpec],
    ) {
        let mut texts: Vec<(String, &str, &[&str])> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    child(&index("/messages", i), "content"),
                    m.content.as_str(),
                    &[][..],
                )
            })
            .collect();
        for (i, evaluator) in evaluators.iter().enumerate() {
            let pointer = index("/evaluators", i);
            match &evaluator.kind {
                EvaluatorKind::String { check } => {
                    let (StringCheck::Equals(text)
                    | StringCheck::Contains(text)
                    | StringCheck::StartsWith(text)
                    | StringCheck::EndsWith(text)) = check;
                    texts.push((child(&pointer, "string"), text.as_str(), &[]));
                }
                EvaluatorKind::Llm { prompt, .. } => texts.push((
                    child(&child(&pointer, "llm"), "prompt"),
                    prompt.as_str(),
                    &["completion"],
                )),
                _ => {}
            }
        }
        let no_vars = Map::new();
        let case_vars: Vec<&Map<String, Value>> = if cases.is_empty() {
            vec![&no_vars]
        } else {
            cases.iter().map(|c| &c.vars).collect()
        };
        for (pointer, text, extra) in texts {
            let mut undefined: Vec<(String, Vec<usize>)> = Vec::new();
            let mut shown: Vec<Unreplaced> = Vec::new();
            for (i, vars) in case_vars.iter().enumerate() {
                for item in unreplaced(text, vars, extra) {
                    match item {
                        Unreplaced::Undefined { name } if !cases.is_empty() => {
                            match undefined.iter_mut().find(|(n, _)| *n == name) {
                                Some((_, at)) => at.push(i),
                                None => undefined.push((name, vec![i])),
                            }
                        }
                        Unreplaced::Undefined { .. } => {}
                        other if !shown.contains(&other) => shown.push(other),
                        _ => {}
                    }
                }
            }
            for item in shown {
                let (written, message) = match item {
                    Unreplaced::Spaced { written, name } => {
                        let message = format!(
                            "`{written}` is sent as written: gh replaces only `{{{{{name}}}}}`, without spaces (promptgate does the same for a GitHub-format file; `semantics: promptgate` reads it as minijinja)"
                        );
                        (written, message)
                    }
                    Unreplaced::Tag { written } => {
                        let message = format!(
                            "`{written}` is sent as written: gh knows no template tags (promptgate does the same for a GitHub-format file; `semantics: promptgate` reads it as minijinja)"
                        );
                        (written, message)
                    }
                    Unreplaced::Undefined { .. } => continue,
                };
                self.warn_at_text(&pointer, &written, message);
            }
            for (name, at) in undefined {
                let which = if at.len() == cases.len() {
                    "no case defines it".to_string()
                } else {
                    let list: Vec<String> = at
                        .iter()
                        .take(5)
                        .map(|i| format!("testData[{i}]"))
                        .collect();
                    let more = if at.len() > 5 { ", …" } else { "" };
                    format!("{}{more} do not define it", list.join(", "))
                };
                self.warn_at_text(
                    &pointer,
                    &format!("{{{{{name}}}}}"),
                    format!(
                        "`{{{{{name}}}}}` is sent as written where a case lacks `{name}` ({which}), as gh does"
                    ),
                );
            }
        }
    }

    /// Unknown parameters warn; the snake_case names seen in the wild say
    /// which name is read instead, and that gh ignores them too.
    fn parameter_keys(&mut self, map: &Map<String, Value>) {
        let (wild, unknown): (Map<String, Value>, Map<String, Value>) = map
            .clone()
            .into_iter()
            .partition(|(key, _)| IGNORED_PARAMETERS.iter().any(|(name, _)| name == key));
        self.unknown_keys("/modelParameters", &unknown, PARAMETER_KEYS);
        for key in wild.keys() {
            let instead = IGNORED_PARAMETERS
                .iter()
                .find(|(name, _)| name == key)
                .map_or("", |(_, instead)| instead);
            let at = child("/modelParameters", key);
            let pos = self.doc.key_pos(&at);
            self.push(Diagnostic::warning(
                self.path.clone(),
                pos.line,
                pos.column,
                format!(
                    "`modelParameters.{key}` is ignored, by `gh models eval` too; write `{instead}`"
                ),
            ));
        }
    }

    fn optional<T: DeserializeOwned>(&mut self, map: &Map<String, Value>, key: &str) -> Option<T> {
        let value = map.get(key)?;
        self.de(&child("", key), value)
    }

    fn response_format(&mut self, top: &Map<String, Value>) -> Option<ResponseFormat> {
        let kind = match top.get("responseFormat") {
            Some(value) => self.de::<String>("/responseFormat", value)?,
            None => "text".to_owned(),
        };
        let schema = top.get("jsonSchema");
        match (kind.as_str(), schema) {
            ("json_schema", Some(schema)) => {
                let written_as_map = schema.is_object();
                let schema = self.json_schema("/jsonSchema", schema, true)?;
                if self.github() {
                    if written_as_map {
                        self.warn_at(
                            "/jsonSchema",
                            "gh refuses a `jsonSchema` written as a YAML map (it must be JSON text); promptgate reads it",
                        );
                    }
                    // gh refuses the file without these two.
                    for field in ["name", "schema"] {
                        if schema.get(field).is_none() {
                            self.error_at(
                                "/jsonSchema",
                                format!("`jsonSchema` must have a `{field}` field (gh refuses the file without it): {{\"name\": …, \"schema\": {{…}}}}"),
                            );
                            return None;
                        }
                    }
                }
                Some(ResponseFormat::JsonSchema { schema })
            }
            ("json_schema", None) => {
                self.error_at(
                    "/responseFormat",
                    "`responseFormat: json_schema` needs a `jsonSchema` key with the schema",
                );
                None
            }
            ("text" | "json_object", Some(_)) => {
                let pos = self.doc.key_pos("/jsonSchema");
                self.push(Diagnostic::warning(
                    self.path.clone(),
                    pos.line,
                    pos.column,
                    "`jsonSchema` is ignored unless `responseFormat: json_schema`",
                ));
                Some(if kind == "text" {
                    ResponseFormat::Text
                } else {
                    ResponseFormat::JsonObject
                })
            }
            ("text", None) => Some(ResponseFormat::Text),
            ("json_object", None) => Some(ResponseFormat::JsonObject),
            (other, _) => {
                self.error_at(
                    "/responseFormat",
                    format!(
                        "unknown `responseFormat` `{other}`; use `text`, `json_object` or `json_schema`"
                    ),
                );
                None
            }
        }
    }

    fn messages(&mut self, top: &Map<String, Value>) -> Option<Vec<MessageTemplate>> {
        let Some(value) = top.get("messages") else {
            self.error(
                Pos { line: 1, column: 1 },
                "missing required key `messages` (a list of `{role, content}`)",
            );
            return None;
        };
        let items = self.expect_list("/messages", value)?;
        if items.is_empty() {
            self.error_at("/messages", "`messages` is empty; add at least one message");
            return None;
        }
        let mut messages = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let pointer = index("/messages", i);
            let mut item = item.clone();
            if let Some(map) = self.expect_map(&pointer, &item, "a map with `role` and `content`") {
                self.unknown_keys(&pointer, map, MESSAGE_KEYS);
            }
            // gh lowercases roles (`System`, `User`).
            if let Some(Value::String(role)) = item.get_mut("role") {
                *role = role.to_lowercase();
            }
            match self.de::<MessageTemplate>(&pointer, &item) {
                Some(message) => {
                    let checked = if self.github() {
                        Ok(())
                    } else {
                        crate::pipeline::template::check_syntax(&message.content)
                    };
                    if let Err(error) = checked {
                        let content = child(&pointer, "content");
                        self.error_at(
                            &content,
                            format!("`{}` is not a valid template: {error}", display(&content)),
                        );
                        ok = false;
                    }
                    messages.push(message);
                }
                None => ok = false,
            }
        }
        ok.then_some(messages)
    }

    fn test_data(&mut self, value: &Value) -> Option<Vec<Case>> {
        let items = self.expect_list("/testData", value)?;
        let mut cases: Vec<Case> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let pointer = index("/testData", i);
            let Some(vars) = self.expect_map(&pointer, item, "a map of variables") else {
                ok = false;
                continue;
            };
            match self.case(&pointer, i, vars) {
                Some(case) => {
                    if cases.iter().any(|c| c.id == case.id) {
                        self.error_at(
                            &pointer,
                            format!("two cases have the id `{}`; ids must be unique", case.id),
                        );
                        ok = false;
                    }
                    cases.push(case);
                }
                None => ok = false,
            }
        }
        ok.then_some(cases)
    }

    fn case(&mut self, pointer: &str, position: usize, vars: &Map<String, Value>) -> Option<Case> {
        let source = CaseSource {
            file: self.path.clone(),
            line: self.doc.pos(pointer).line,
        };
        if self.github() {
            // Every column is a variable and nothing else, as in gh; the
            // case is known by its position.
            return Some(Case {
                id: format!("testData[{position}]"),
                vars: vars.clone(),
                expected: vars.get("expected").map(go_text),
                keywords: Vec::new(),
                regex: None,
                schema: None,
                source,
            });
        }
        let expectations = match Expectations::read(vars) {
            Ok(expectations) => expectations,
            Err(problem) => {
                self.error_at(&child(pointer, problem.column), problem.message);
                return None;
            }
        };
        Some(Case {
            id: expectations
                .id
                .unwrap_or_else(|| format!("testData[{position}]")),
            vars: vars.clone(),
            expected: expectations.expected,
            keywords: expectations.keywords,
            regex: expectations.regex,
            schema: expectations.schema,
            source,
        })
    }

    fn evaluators(&mut self, value: &Value) -> Option<Vec<EvaluatorSpec>> {
        let items = self.expect_list("/evaluators", value)?;
        let mut evaluators: Vec<EvaluatorSpec> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let pointer = index("/evaluators", i);
            match self.evaluator(&pointer, item) {
                Some(mut evaluator) => {
                    let taken = |name: &str| evaluators.iter().any(|e| e.name == name);
                    if self.github() && taken(&evaluator.name) {
                        // gh runs both; reports need a name for each.
                        let base = evaluator.name.clone();
                        let name = (2..)
                            .map(|n| format!("{base} ({n})"))
                            .find(|name| !taken(name))
                            .unwrap_or_default();
                        self.warn_at(
                            &child(&pointer, "name"),
                            format!(
                                "two evaluators are named `{base}`; gh runs both, and promptgate reports this one as `{name}`"
                            ),
                        );
                        evaluator.name = name;
                    }
                    if evaluators.iter().any(|e| e.name == evaluator.name) {
                        self.error_at(
                            &child(&pointer, "name"),
                            format!(
                                "two evaluators are named `{}`; names must be unique",
                                evaluator.name
                            ),
                        );
                        ok = false;
                    }
                    evaluators.push(evaluator);
                }
                None => ok = false,
            }
        }
        ok.then_some(evaluators)
    }

    /// The name an unnamed evaluator is reported by (gh runs it nameless).
    fn unnamed(&mut self, pointer: &str) -> String {
        let shown = display(pointer);
        self.warn_at(
            pointer,
            format!(
                "this evaluator has no `name`; gh runs it, and promptgate reports it as `{shown}`"
            ),
        );
        shown
    }

    fn evaluator(&mut self, pointer: &str, item: &Value) -> Option<EvaluatorSpec> {
        let map = self.expect_map(pointer, item, "a map with `name` and one kind key")?;
        let known: Vec<&str> = EVALUATOR_COMMON_KEYS
            .iter()
            .chain(EVALUATOR_KINDS)
            .copied()
            .collect();
        self.unknown_keys(pointer, map, &known);
        let name = match map.get("name") {
            Some(Value::String(name)) if name.is_empty() && self.github() => {
                Some(self.unnamed(pointer))
            }
            None if self.github() => Some(self.unnamed(pointer)),
            Some(value) => self.de::<String>(&child(pointer, "name"), value),
            None => {
                self.error_at(pointer, "this evaluator has no `name`");
                None
            }
        };
        let weight = match map.get("weight") {
            Some(value) => {
                let at = child(pointer, "weight");
                match self.de::<f64>(&at, value) {
                    Some(w) if w.is_finite() && w >= 0.0 => Some(w),
                    Some(_) => {
                        self.error_at(&at, "`weight` must be a number ≥ 0");
                        None
                    }
                    None => None,
                }
            }
            None => Some(1.0),
        };
        let threshold = match map.get("threshold") {
            Some(value) => {
                let at = child(pointer, "threshold");
                match self.de::<f64>(&at, value) {
                    Some(t) if (0.0..=1.0).contains(&t) => Some(Some(t)),
                    Some(_) => {
                        self.error_at(&at, "`threshold` is a score between 0 and 1");
                        None
                    }
                    None => None,
                }
            }
            None => Some(None),
        };
        let kinds: Vec<&str> = EVALUATOR_KINDS
            .iter()
            .copied()
            .filter(|k| match (self.github(), map.get(*k)) {
                // gh's test is `String != nil`, `LLM != nil`, `Uses != ""`.
                (true, Some(Value::Null)) => false,
                (true, Some(Value::String(text))) => !text.is_empty(),
                (_, found) => found.is_some(),
            })
            .collect();
        let kinds = match kinds.as_slice() {
            [first, second, ..] if self.github() => {
                self.warn_at(
                    pointer,
                    format!(
                        "this evaluator has two kinds, `{first}` and `{second}`; gh uses `{first}` only, and so does promptgate"
                    ),
                );
                vec![*first]
            }
            _ => kinds,
        };
        let kind = match kinds.as_slice() {
            [kind] => self.evaluator_kind(&child(pointer, kind), kind, &map[*kind]),
            [] => {
                self.error_at(
                    pointer,
                    format!(
                        "this evaluator has no kind; add one of: {}",
                        EVALUATOR_KINDS.join(", ")
                    ),
                );
                None
            }
            [first, second, ..] => {
                self.error_at(
                    pointer,
                    format!(
                        "this evaluator has two kinds, `{first}` and `{second}`; split it into two evaluators"
                    ),
                );
                None
            }
        };
        Some(EvaluatorSpec {
            name: name?,
            kind: kind?,
            weight: weight?,
            threshold: threshold?,
            line: Some(self.doc.pos(pointer).line),
        })
    }

    fn evaluator_kind(
        &mut self,
        pointer: &str,
        kind: &str,
        value: &Value,
    ) -> Option<EvaluatorKind> {
        match kind {
            "string" => self.string_check(pointer, value),
            "llm" => self.llm(pointer, value),
            "uses" => {
                let text: String = self.de(pointer, value)?;
                let which = match text.as_str() {
                    "github/similarity" => BuiltinEvaluator::Similarity,
                    "github/coherence" => BuiltinEvaluator::Coherence,
                    "github/fluency" => BuiltinEvaluator::Fluency,
                    "github/relevance" => BuiltinEvaluator::Relevance,
                    "github/groundedness" => BuiltinEvaluator::Groundedness,
                    other if self.github() => {
                        self.warn_at(
                            pointer,
                            format!("`{other}` is not a GitHub evaluator (github/similarity, github/coherence, github/fluency, github/relevance, github/groundedness); gh scores it 0 on every case, and so does promptgate"),
                        );
                        return Some(EvaluatorKind::UnknownPlugin { uses: text });
                    }
                    other => {
                        self.error_at(
                            pointer,
                            format!("unknown evaluator `{other}`; use github/similarity, github/coherence, github/fluency, github/relevance or github/groundedness"),
                        );
                        return None;
                    }
                };
                Some(EvaluatorKind::Builtin { which })
            }
            "regex" => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    pattern: String,
                    #[serde(default)]
                    negate: bool,
                }
                let raw = match value {
                    Value::String(pattern) => Raw {
                        pattern: pattern.clone(),
                        negate: false,
                    },
                    _ => {
                        self.kind_map(pointer, value, &["pattern", "negate"])?;
                        self.de::<Raw>(pointer, value)?
                    }
                };
                self.regex(pointer, &raw.pattern)
                    .then_some(EvaluatorKind::Regex {
                        pattern: raw.pattern,
                        negate: raw.negate,
                    })
            }
            "keywords" => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Raw {
                    #[serde(default)]
                    words: Vec<String>,
                    #[serde(default)]
                    mode: KeywordMode,
                    #[serde(default)]
                    case_sensitive: bool,
                }
                let raw = match value {
                    Value::Array(_) => Raw {
                        words: self.de(pointer, value)?,
                        mode: KeywordMode::All,
                        case_sensitive: false,
                    },
                    _ => {
                        self.kind_map(pointer, value, &["words", "mode", "caseSensitive"])?;
                        self.de::<Raw>(pointer, value)?
                    }
                };
                Some(EvaluatorKind::Keywords {
                    keywords: raw.words,
                    mode: raw.mode,
                    case_sensitive: raw.case_sensitive,
                })
            }
            "json" => match value {
                Value::Bool(true) | Value::Null => Some(EvaluatorKind::Json),
                Value::Object(map) if map.is_empty() => Some(EvaluatorKind::Json),
                _ => {
                    self.error_at(
                        pointer,
                        "write `json: true` to check that the output is JSON",
                    );
                    None
                }
            },
            "jsonSchema" => {
                let schema = self.json_schema(pointer, value, false)?;
                Some(EvaluatorKind::JsonSchema { schema })
            }
            "similarity" => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    #[serde(default = "token_f1")]
                    method: SimilarityMethod,
                    model: Option<String>,
                }
                fn token_f1() -> SimilarityMethod {
                    SimilarityMethod::TokenF1
                }
                let raw = match value {
                    Value::String(_) => Raw {
                        method: self.de(pointer, value)?,
                        model: None,
                    },
                    _ => {
                        self.kind_map(pointer, value, &["method", "model"])?;
                        self.de::<Raw>(pointer, value)?
                    }
                };
                let model = match raw.model {
                    Some(model) => {
                        Some(self.model_id(&child(pointer, "model"), &Value::String(model))?)
                    }
                    None => None,
                };
                if raw.method == SimilarityMethod::Embedding && model.is_none() {
                    self.error_at(
                        pointer,
                        "`similarity: embedding` needs a `model` for the embeddings",
                    );
                    return None;
                }
                Some(EvaluatorKind::Similarity {
                    method: raw.method,
                    model,
                })
            }
            "length" => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    min: Option<u64>,
                    max: Option<u64>,
                    #[serde(default)]
                    unit: LengthUnit,
                }
                self.kind_map(pointer, value, &["min", "max", "unit"])?;
                let raw: Raw = self.de(pointer, value)?;
                match (raw.min, raw.max) {
                    (None, None) => {
                        self.error_at(pointer, "`length` needs `min`, `max` or both");
                        None
                    }
                    (Some(min), Some(max)) if min > max => {
                        self.error_at(pointer, format!("`length`: min {min} is above max {max}"));
                        None
                    }
                    _ => Some(EvaluatorKind::Length {
                        min: raw.min,
                        max: raw.max,
                        unit: raw.unit,
                    }),
                }
            }
            "latency" => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Raw {
                    max_ms: u64,
                }
                let max_ms = match value {
                    Value::Number(_) => self.de(pointer, value)?,
                    _ => {
                        self.kind_map(pointer, value, &["maxMs"])?;
                        self.de::<Raw>(pointer, value)?.max_ms
                    }
                };
                Some(EvaluatorKind::Latency { max_ms })
            }
            "cost" => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Raw {
                    max_usd: f64,
                }
                let max_usd: f64 = match value {
                    Value::Number(_) => self.de(pointer, value)?,
                    _ => {
                        self.kind_map(pointer, value, &["maxUsd"])?;
                        self.de::<Raw>(pointer, value)?.max_usd
                    }
                };
                if !(max_usd.is_finite() && max_usd >= 0.0) {
                    self.error_at(pointer, "`cost` is a maximum in US dollars, ≥ 0");
                    return None;
                }
                Some(EvaluatorKind::Cost { max_usd })
            }
            "judge" => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    criterion: String,
                    #[serde(default)]
                    rubric: Vec<String>,
                    model: Option<String>,
                }
                let raw = match value {
                    Value::String(criterion) => Raw {
                        criterion: criterion.clone(),
                        rubric: Vec::new(),
                        model: None,
                    },
                    _ => {
                        self.kind_map(pointer, value, &["criterion", "rubric", "model"])?;
                        self.de::<Raw>(pointer, value)?
                    }
                };
                if !raw.rubric.is_empty() && raw.rubric.len() != 5 {
                    self.error_at(
                        &child(pointer, "rubric"),
                        format!(
                            "a rubric has five entries, for scores 1 to 5; this one has {}",
                            raw.rubric.len()
                        ),
                    );
                    return None;
                }
                let model = match raw.model {
                    Some(model) => {
                        Some(self.model_id(&child(pointer, "model"), &Value::String(model))?)
                    }
                    None => None,
                };
                Some(EvaluatorKind::Judge {
                    criterion: raw.criterion,
                    rubric: raw.rubric,
                    model,
                })
            }
            "command" => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    program: String,
                    #[serde(default)]
                    args: Vec<String>,
                    #[serde(default = "default_timeout")]
                    timeout: u64,
                }
                fn default_timeout() -> u64 {
                    30
                }
                self.kind_map(pointer, value, &["program", "args", "timeout"])?;
                let raw: Raw = self.de(pointer, value)?;
                if raw.program.trim().is_empty() {
                    self.error_at(pointer, "`command.program` is empty");
                    return None;
                }
                Some(EvaluatorKind::Command {
                    program: raw.program,
                    args: raw.args,
                    timeout_s: raw.timeout,
                })
            }
            _ => None,
        }
    }

    /// A kind's body when written as a map: warns about unknown keys.
    fn kind_map(&mut self, pointer: &str, value: &Value, known: &[&str]) -> Option<()> {
        let map = self.expect_map(pointer, value, "a map")?;
        self.unknown_keys(pointer, map, known);
        Some(())
    }

    fn string_check(&mut self, pointer: &str, value: &Value) -> Option<EvaluatorKind> {
        const CHECKS: &[&str] = &["contains", "startsWith", "endsWith", "equals"];
        let map = self.expect_map(pointer, value, "a map like `{contains: text}`")?;
        self.unknown_keys(pointer, map, CHECKS);
        if self.github() {
            return self.github_string_check(pointer, map);
        }
        let present: Vec<&str> = CHECKS
            .iter()
            .copied()
            .filter(|k| map.contains_key(*k))
            .collect();
        let [which] = present.as_slice() else {
            self.error_at(
                pointer,
                "a `string` evaluator takes exactly one of contains, startsWith, endsWith, equals",
            );
            return None;
        };
        let text: String = self.de(&child(pointer, which), &map[*which])?;
        let check = match *which {
            "contains" => StringCheck::Contains(text),
            "startsWith" => StringCheck::StartsWith(text),
            "endsWith" => StringCheck::EndsWith(text),
            _ => StringCheck::Equals(text),
        };
        Some(EvaluatorKind::String { check })
    }

    /// gh's `string`: the first non-empty of `equals`, `contains`,
    /// `startsWith`, `endsWith`; with none, gh cannot run the evaluator.
    fn github_string_check(
        &mut self,
        pointer: &str,
        map: &Map<String, Value>,
    ) -> Option<EvaluatorKind> {
        const ORDER: &[&str] = &["equals", "contains", "startsWith", "endsWith"];
        let mut set = Vec::new();
        for key in ORDER {
            if let Some(value) = map.get(*key) {
                let text: String = self.de(&child(pointer, key), value)?;
                if !text.is_empty() {
                    set.push((*key, text));
                }
            }
        }
        let Some((which, text)) = set.first().cloned() else {
            self.error_at(
                pointer,
                "this `string` evaluator sets none of equals, contains, startsWith, endsWith (or only empty ones); gh stops the whole run on it",
            );
            return None;
        };
        if let Some((second, _)) = set.get(1) {
            self.warn_at(
                pointer,
                format!("this `string` evaluator sets `{which}` and `{second}`; gh checks `{which}` only, and so does promptgate"),
            );
        }
        let check = match which {
            "equals" => StringCheck::Equals(text),
            "contains" => StringCheck::Contains(text),
            "startsWith" => StringCheck::StartsWith(text),
            _ => StringCheck::EndsWith(text),
        };
        Some(EvaluatorKind::String { check })
    }

    fn llm(&mut self, pointer: &str, value: &Value) -> Option<EvaluatorKind> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            // gh reads a missing field as empty; an empty model is refused below.
            #[serde(default)]
            model_id: String,
            #[serde(default)]
            prompt: String,
            #[serde(default)]
            choices: Vec<LlmChoice>,
            system_prompt: Option<String>,
        }
        self.kind_map(
            pointer,
            value,
            &["modelId", "prompt", "choices", "systemPrompt"],
        )?;
        let raw: Raw = self.de(pointer, value)?;
        if raw.model_id.is_empty() {
            self.error_at(
                &child(pointer, "modelId"),
                "`llm.modelId` is empty: there is no judge model to ask",
            );
            return None;
        }
        let model_id = self.model_id(&child(pointer, "modelId"), &Value::String(raw.model_id))?;
        if let Some(bad) = raw.choices.iter().position(|c| !c.score.is_finite()) {
            self.error_at(
                &child(&index(&child(pointer, "choices"), bad), "score"),
                "a choice's `score` must be a number",
            );
            return None;
        }
        if raw.choices.is_empty() && self.github() {
            self.warn_at(
                pointer,
                "this `llm` evaluator has no `choices`; no reply can match one, so gh scores it 0 on every case, and so does promptgate",
            );
        } else if raw.choices.is_empty() {
            self.error_at(
                &child(pointer, "choices"),
                "`llm.choices` needs at least one choice",
            );
            return None;
        }
        if let Err(error) = crate::pipeline::template::check_syntax(&raw.prompt)
            && !self.github()
        {
            let at = child(pointer, "prompt");
            self.error_at(
                &at,
                format!("`{}` is not a valid template: {error}", display(&at)),
            );
            return None;
        }
        Some(EvaluatorKind::Llm {
            model_id,
            prompt: raw.prompt,
            choices: raw.choices,
            system_prompt: raw.system_prompt,
        })
    }
}

/// `prompts/support-bot.prompt.yml` → `support-bot`.
fn default_name(path: &RepoPath) -> String {
    let file = path.0.rsplit('/').next().unwrap_or(&path.0);
    for suffix in [".prompt.yml", ".prompt.yaml", ".yml", ".yaml"] {
        if let Some(stem) = file.strip_suffix(suffix) {
            return stem.to_owned();
        }
    }
    file.to_owned()
}
