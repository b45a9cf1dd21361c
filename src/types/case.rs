//! A case: one set of template variables plus what the output is expected
//! to be, wherever it was written (inline `testData` or a dataset file).
//!
//! [`Expectations::read`] is the one reader of the expectation columns, so a
//! case means the same in a prompt file and in a JSONL, CSV or YAML dataset:
//!
//! | key        | meaning                                                        |
//! |------------|----------------------------------------------------------------|
//! | `id`       | the case id (else derived from its position); must be unique   |
//! | `expected` | the reference answer (non-strings are kept as compact JSON)    |
//! | `keywords` | a list of strings, or one string split on `;` (the CSV form)   |
//! | `regex`    | a pattern the output should match (checked to compile)         |
//! | `schema`   | a JSON Schema: a map, or its JSON text (checked to compile)    |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::path::RepoPath;

/// A case id as the first 128 bits of its SHA-256: what pairs head and
/// baseline cases without holding every id's text (16 bytes an id). A
/// cryptographic hash, so no dataset's author can make two ids collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseIdDigest(pub [u8; 16]);

impl CaseIdDigest {
    pub fn of(id: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Self(first)
    }
}

/// Where a case came from, for errors and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSource {
    pub file: RepoPath,
    /// 1-based line (for CSV: the line the row starts on).
    pub line: u32,
}

/// One set of template variables plus optional expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Stable within a prompt: the `id` column/key when the data has one,
    /// otherwise derived from the position (`testData[3]`, `cases.jsonl:12`).
    /// The gate pairs head and baseline by this id.
    pub id: String,
    /// Every variable, including `expected` (GitHub Models templates refer to
    /// `{{expected}}` like any other variable).
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub expected: Option<String>,
    pub keywords: Vec<String>,
    pub regex: Option<String>,
    pub schema: Option<serde_json::Value>,
    pub source: CaseSource,
}

/// The separator of `keywords` when written as one string (CSV cells).
pub const KEYWORD_SEPARATOR: char = ';';

/// The expectation columns of one case, read from its variables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// `None` when the case has no id of its own (blank counts as none).
    pub id: Option<String>,
    pub expected: Option<String>,
    pub keywords: Vec<String>,
    pub regex: Option<String>,
    pub schema: Option<Value>,
}

/// One expectation column that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ColumnError {
    /// The column (`id`, `keywords`, …), so a caller can point at it.
    pub column: &'static str,
    pub message: String,
}

impl Expectations {
    /// Reads the expectation columns of `vars`. Absent and null columns are
    /// empty; a value of the wrong shape, a regex that does not compile or a
    /// schema that is not a JSON Schema is an error naming the column.
    pub fn read(vars: &Map<String, Value>) -> Result<Self, ColumnError> {
        Ok(Self {
            id: read_id(vars.get("id"))?,
            expected: match vars.get("expected") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(other) => Some(other.to_string()),
            },
            keywords: read_keywords(vars.get("keywords"))?,
            regex: read_regex(vars.get("regex"))?,
            schema: read_schema(vars.get("schema"))?,
        })
    }
}

fn column_error(column: &'static str, message: String) -> ColumnError {
    ColumnError { column, message }
}

fn read_id(value: Option<&Value>) -> Result<Option<String>, ColumnError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.trim().is_empty() => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Number(id)) => Ok(Some(id.to_string())),
        Some(other) => Err(column_error(
            "id",
            format!("`id` must be a string or a number, not {}", kind_of(other)),
        )),
    }
}

fn read_keywords(value: Option<&Value>) -> Result<Vec<String>, ColumnError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(list)) => Ok(list
            .split(KEYWORD_SEPARATOR)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(k) => Ok(k.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(column_error(
                    "keywords",
                    format!("`keywords` items must be strings, found {}", kind_of(other)),
                )),
            })
            .collect(),
        Some(other) => Err(column_error(
            "keywords",
            format!(
                "`keywords` must be a list of strings or one `{KEYWORD_SEPARATOR}`-separated \
                 string, not {}",
                kind_of(other)
            ),
        )),
    }
}

fn read_regex(value: Option<&Value>) -> Result<Option<String>, ColumnError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) if p.is_empty() => Ok(None),
        Some(Value::String(pattern)) => match regex::Regex::new(pattern) {
            Ok(_) => Ok(Some(pattern.clone())),
            Err(problem) => Err(column_error(
                "regex",
                format!("`regex` is not a valid regex: {}", regex_problem(&problem)),
            )),
        },
        Some(other) => Err(column_error(
            "regex",
            format!("`regex` must be a string, not {}", kind_of(other)),
        )),
    }
}

/// regex's message draws the pattern over several lines; its last line says why.
pub fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .last()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

fn read_schema(value: Option<&Value>) -> Result<Option<Value>, ColumnError> {
    let schema = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|problem| {
            column_error(
                "schema",
                format!(
                    "`schema` is not valid JSON: {problem}; write the schema as JSON text or as a map"
                ),
            )
        })?,
        Some(other) => other.clone(),
    };
    if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
        return Err(column_error(
            "schema",
            format!(
                "`schema` must be a JSON Schema (a map, or its JSON text), not {}",
                kind_of(&schema)
            ),
        ));
    }
    if let Err(problem) = jsonschema::validator_for(&schema) {
        return Err(column_error(
            "schema",
            format!("`schema` is not a valid JSON schema: {problem}"),
        ));
    }
    Ok(Some(schema))
}

/// "a list", "a number", … for messages about a value of the wrong shape.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(vars: Value) -> Result<Expectations, ColumnError> {
        Expectations::read(vars.as_object().unwrap())
    }

    #[test]
    fn every_column_reads_in_its_list_and_text_forms() {
        let found = read(json!({
            "id": 7, "expected": {"a": 1}, "keywords": "x; y;;", "regex": "^a", "schema": "{\"type\": \"object\"}"
        }))
        .unwrap();
        assert_eq!(found.id.as_deref(), Some("7"));
        assert_eq!(found.expected.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(found.keywords, ["x", "y"]);
        assert_eq!(found.regex.as_deref(), Some("^a"));
        assert_eq!(found.schema, Some(json!({"type": "object"})));
        let blank = read(json!({"id": " ", "regex": "", "schema": ""})).unwrap();
        assert_eq!(blank, Expectations::default());
    }

    #[test]
    fn a_bad_column_is_named() {
        for (vars, column, words) in [
            (json!({"id": [1]}), "id", "string or a number"),
            (
                json!({"keywords": [1, {}]}),
                "keywords",
                "items must be strings",
            ),
            (json!({"keywords": 3}), "keywords", "list of strings"),
            (json!({"regex": "(unclosed"}), "regex", "not a valid regex"),
            (json!({"regex": 1}), "regex", "must be a string"),
            (json!({"schema": 5}), "schema", "must be a JSON Schema"),
            (json!({"schema": "{nope"}), "schema", "not valid JSON"),
            (
                json!({"schema": {"type": 12}}),
                "schema",
                "not a valid JSON schema",
            ),
        ] {
            let error = read(vars.clone()).unwrap_err();
            assert_eq!(error.column, column, "{vars}");
            assert!(error.message.contains(words), "{vars}: {error}");
        }
    }
}
