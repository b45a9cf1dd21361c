//! A prompt version's id and an evaluation's fingerprint: SHA-256 over a
//! canonical JSON form (object keys sorted, no white space), so key order,
//! YAML style and comments in the file never change them.
//!
//! The forms are versioned (`"form": "promptgate.version/1"`); changing what
//! goes in means bumping the form, which deliberately invalidates stored
//! baselines rather than comparing against a differently-computed id.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::pipeline::template::{Includes, TemplateError};
use crate::types::{
    Case, EvaluatorSpec, Fingerprint, ModelId, PromptSpec, RepoFiles, RepoPath, VersionId,
};

/// JSON with every object's keys sorted, recursively, and no white space.
pub fn canonical_json(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut sorted = Map::new();
                for key in keys {
                    sorted.insert(key.clone(), sort(&map[key]));
                }
                Value::Object(sorted)
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    // Serializing our own plain-data types into a Value cannot fail (no
    // non-string map keys, no custom serializers that error).
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The canonical form a version id hashes: the messages as templates, the
/// text of every file they include (so a changed snippet is a new
/// version), the model, the parameters and the response format.
pub fn version_form(spec: &PromptSpec, includes: &BTreeMap<RepoPath, String>) -> Value {
    let includes: Map<String, Value> = includes
        .iter()
        .map(|(path, text)| (path.0.clone(), Value::String(text.clone())))
        .collect();
    let mut form = json!({
        "form": "promptgate.version/1",
        "model": spec.model.to_string(),
        "parameters": to_value(&spec.parameters),
        "response_format": to_value(&spec.response_format),
        "messages": to_value(&spec.messages),
        "includes": includes,
    });
    // The same text sends something else under GitHub's template rules; a
    // promptgate-format prompt keeps the id it always had.
    if spec.semantics.is_github() {
        form["semantics"] = json!("github");
    }
    form
}

/// The id of what a prompt sends, given the texts of what it includes
/// (a [`PreparedPrompt`](crate::pipeline::template::PreparedPrompt) has read them).
pub fn version_id_of(spec: &PromptSpec, includes: &BTreeMap<RepoPath, String>) -> VersionId {
    VersionId(sha256_hex(&canonical_json(&version_form(spec, includes))))
}

/// The id of what a prompt sends, reading its includes from `files`. Fails
/// only when an include cannot be read.
pub fn version_id(spec: &PromptSpec, files: &dyn RepoFiles) -> Result<VersionId, TemplateError> {
    let includes = Includes::of_prompt(spec, files);
    includes.check()?;
    Ok(version_id_of(spec, &includes.texts()))
}

/// The identity of an evaluation. Case order and evaluator order do not
/// matter (both are sorted); where a case sits in its file does not either.
/// Form 2: GitHub's evaluators score by gh's rules (built-ins by choice
/// substring, `llm` scales, values rendered as Go prints them), so results
/// scored the old way are never compared with new ones. Form 3: the
/// endpoints that answer (kind and URL) are part of it, so a result
/// measured against a friendly server never stands in for the real one.
pub fn fingerprint(
    version: &VersionId,
    cases: &[Case],
    evaluators: &[EvaluatorSpec],
    judge: Option<&ModelId>,
    repeats: u32,
    endpoints: &[String],
) -> Fingerprint {
    let mut cases: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "id": case.id,
                "vars": case.vars,
                "expected": case.expected,
                "keywords": case.keywords,
                "regex": case.regex,
                "schema": case.schema,
            })
        })
        .collect();
    cases.sort_by_cached_key(canonical_json);
    let mut evaluators: Vec<Value> = evaluators
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "kind": to_value(&e.kind),
                "weight": e.weight,
                "threshold": e.threshold,
            })
        })
        .collect();
    evaluators.sort_by_cached_key(canonical_json);
    let form = json!({
        "form": "promptgate.fingerprint/3",
        "version": version.0,
        "cases": cases,
        "evaluators": evaluators,
        "judge": judge.map(ToString::to_string),
        "repeats": repeats,
        "endpoints": endpoints,
    });
    Fingerprint(sha256_hex(&canonical_json(&form)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"y":1,"x":2}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}"#
        );
    }
}
