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
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Only serde_json's own output and JSON punctuation were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes [`canonical_json`]'s form of `value` to `out`, without building
/// a sorted copy: fingerprints write tens of thousands of cases.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_sorted_object(map, out),
        Value::Array(items) => write_list(items, [b'[', b']'], out, write_canonical),
        leaf => write_leaf(leaf, out),
    }
}

/// An object's entries in key order, each value canonical.
fn write_sorted_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_list(entries, [b'{', b'}'], out, |(key, value), out| {
        write_leaf(key, out);
        out.push(b':');
        write_canonical(value, out);
    });
}

/// The items between `brackets`, separated by commas.
fn write_list<T>(
    items: impl IntoIterator<Item = T>,
    brackets: [u8; 2],
    out: &mut Vec<u8>,
    mut write: impl FnMut(T, &mut Vec<u8>),
) {
    out.push(brackets[0]);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(brackets[1]);
}

/// A string, number, bool or null as serde_json writes it compactly.
fn write_leaf<T: serde::Serialize + ?Sized>(leaf: &T, out: &mut Vec<u8>) {
    // Writing plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, leaf);
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
/// Form 4: each case enters as the first 128 bits of the SHA-256 of its
/// canonical form, so a suite is fingerprinted in 16 bytes a case
/// ([`CaseDigests`]) while its cases stream past, instead of holding every
/// case's text to sort it. (Two different cases of a suite share 128 bits
/// with odds of about 10⁻²⁷ at a million cases.)
pub fn fingerprint<'c>(
    version: &VersionId,
    cases: impl IntoIterator<Item = &'c Case>,
    evaluators: &[EvaluatorSpec],
    judge: Option<&ModelId>,
    repeats: u32,
    endpoints: &[String],
) -> Fingerprint {
    let mut digests = CaseDigests::default();
    cases
        .into_iter()
        .for_each(|case| digests.add(case_digest(case)));
    digests.fingerprint(version, evaluators, judge, repeats, endpoints)
}

/// A case's part of the fingerprint: the first 128 bits of the SHA-256 of
/// its canonical form.
pub fn case_digest(case: &Case) -> CaseDigest {
    let whole = Sha256::digest(canonical_case(case));
    let mut digest = [0; 16];
    digest.copy_from_slice(&whole[..16]);
    digest
}

/// A case's part of the fingerprint ([`case_digest`]).
pub type CaseDigest = [u8; 16];

/// The cases' part of a fingerprint, gathered a case at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseDigests(Vec<CaseDigest>);

impl CaseDigests {
    /// Adds a case by its [`case_digest`].
    pub fn add(&mut self, digest: CaseDigest) {
        self.0.push(digest);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fingerprint of these cases with the rest of the evaluation.
    pub fn fingerprint(
        mut self,
        version: &VersionId,
        evaluators: &[EvaluatorSpec],
        judge: Option<&ModelId>,
        repeats: u32,
        endpoints: &[String],
    ) -> Fingerprint {
        // The canonical JSON of the form below, written piece by piece into
        // the hash. Raw digests sort as their lowercase hex does.
        // `fingerprint_form` is the same form built whole; a test holds the
        // two equal.
        self.0.sort_unstable();
        let mut evaluators: Vec<Vec<u8>> = evaluators
            .iter()
            .map(|e| canonical_bytes(&evaluator_form(e)))
            .collect();
        evaluators.sort_unstable();
        let mut hash = Sha256::new();
        hash.update(b"{\"cases\":[");
        for (i, digest) in self.0.iter().enumerate() {
            if i > 0 {
                hash.update(b",");
            }
            hash.update(b"\"");
            hash.update(hex::encode(digest));
            hash.update(b"\"");
        }
        hash.update(b"],\"endpoints\":");
        hash.update(canonical_bytes(&json!(endpoints)));
        hash.update(b",\"evaluators\":[");
        hash.update(evaluators.join(&b","[..]));
        hash.update(b"],\"form\":\"");
        hash.update(FINGERPRINT_FORM);
        hash.update(b"\",\"judge\":");
        hash.update(canonical_bytes(&json!(judge.map(ToString::to_string))));
        hash.update(b",\"repeats\":");
        hash.update(canonical_bytes(&json!(repeats)));
        hash.update(b",\"version\":");
        hash.update(canonical_bytes(&json!(version.0)));
        hash.update(b"}");
        Fingerprint(hex::encode(hash.finalize()))
    }
}

const FINGERPRINT_FORM: &str = "promptgate.fingerprint/4";

fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// A case's part of the fingerprint form, canonical: its keys in sorted
/// order (`expected`, `id`, `keywords`, `regex`, `schema`, `vars`).
fn canonical_case(case: &Case) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"expected\":");
    write_leaf(&case.expected, &mut out);
    out.extend_from_slice(b",\"id\":");
    write_leaf(&case.id, &mut out);
    out.extend_from_slice(b",\"keywords\":");
    write_leaf(&case.keywords, &mut out);
    out.extend_from_slice(b",\"regex\":");
    write_leaf(&case.regex, &mut out);
    out.extend_from_slice(b",\"schema\":");
    match &case.schema {
        Some(schema) => write_canonical(schema, &mut out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"vars\":");
    write_sorted_object(&case.vars, &mut out);
    out.push(b'}');
    out
}

fn evaluator_form(e: &EvaluatorSpec) -> Value {
    json!({
        "name": e.name,
        "kind": to_value(&e.kind),
        "weight": e.weight,
        "threshold": e.threshold,
    })
}

/// The fingerprint form built whole: what [`fingerprint`] hashes the
/// canonical JSON of. Kept as the definition the fast path is tested against.
#[cfg(test)]
fn fingerprint_form(
    version: &VersionId,
    cases: &[Case],
    evaluators: &[EvaluatorSpec],
    judge: Option<&ModelId>,
    repeats: u32,
    endpoints: &[String],
) -> Value {
    let mut cases: Vec<String> = cases
        .iter()
        .map(|case| {
            let whole = sha256_hex(&canonical_json(&json!({
                "id": case.id,
                "vars": case.vars,
                "expected": case.expected,
                "keywords": case.keywords,
                "regex": case.regex,
                "schema": case.schema,
            })));
            whole[..32].to_owned()
        })
        .collect();
    cases.sort();
    let mut evaluators: Vec<Value> = evaluators.iter().map(evaluator_form).collect();
    evaluators.sort_by_cached_key(canonical_json);
    json!({
        "form": FINGERPRINT_FORM,
        "version": version.0,
        "cases": cases,
        "evaluators": evaluators,
        "judge": judge.map(ToString::to_string),
        "repeats": repeats,
        "endpoints": endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CaseSource, EvaluatorKind};

    fn case(id: &str, vars: Value, schema: Option<Value>) -> Case {
        Case {
            id: id.into(),
            vars: vars.as_object().cloned().unwrap_or_default(),
            expected: vars.get("expected").map(|e| e.to_string()),
            keywords: vec!["a\"b".into(), "ü".into()],
            regex: Some("^x\\d+$".into()),
            schema,
            source: CaseSource {
                file: RepoPath("d.jsonl".into()),
                line: 1,
            },
        }
    }

    /// The fingerprint written piece by piece is the SHA-256 of the
    /// canonical JSON of the whole form, as stored baselines were named.
    #[test]
    fn the_written_fingerprint_is_the_hash_of_the_canonical_form() {
        let cases = [
            case(
                "z",
                json!({"q": "line\nbreak \u{1F600} \"quoted\" </tag>", "b": 1.5, "a": -3}),
                Some(
                    json!({"type": "object", "required": ["b", "a"], "properties": {"z": {}, "a": {"type": "string"}}}),
                ),
            ),
            case("a", json!({}), None),
            case(
                "m",
                json!({"nested": {"y": [1, {"d": null, "c": true}], "x": 1e300}}),
                None,
            ),
            case(
                "10",
                json!({"expected": "yes", "\u{e9}": "accent", "É": 0}),
                None,
            ),
            case("9", json!({"q": ""}), None),
        ];
        let evaluators = vec![
            EvaluatorSpec {
                name: "b".into(),
                kind: EvaluatorKind::JsonSchema {
                    schema: json!({"type": "object", "b": 1, "a": [2]}),
                },
                weight: 2.0,
                threshold: Some(0.5),
                line: Some(3),
            },
            EvaluatorSpec {
                name: "a".into(),
                kind: EvaluatorKind::Regex {
                    pattern: "y+".into(),
                    negate: true,
                },
                weight: 1.0,
                threshold: None,
                line: None,
            },
        ];
        let version = VersionId("v1".into());
        let judge = ModelId::parse("openai/gpt-4o-mini").ok();
        let endpoints = vec!["openai https://x".to_owned(), "echo".to_owned()];
        for (cases, judge) in [
            (&cases[..], judge.as_ref()),
            (&cases[1..2], None),
            (&[][..], None),
        ] {
            let whole = fingerprint_form(&version, cases, &evaluators, judge, 3, &endpoints);
            assert_eq!(
                fingerprint(&version, cases, &evaluators, judge, 3, &endpoints).0,
                sha256_hex(&canonical_json(&whole)),
            );
        }
    }

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
