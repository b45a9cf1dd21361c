//! `promptgate eval --format github`: what `gh models eval --json` prints,
//! so a workflow that parses gh's output can switch by changing the command.
//!
//! One prompt gives gh's object, byte for byte in its layout (two-space
//! indent, keys in gh's order, a case's variables sorted by name, numbers as
//! Go writes them, `<`, `>` and `&` escaped as Go escapes them); several
//! prompts give a list of such objects. Per evaluator, `passed` is gh's rule:
//! the score is above 0 (and reaches the evaluator's `threshold`, for
//! promptgate's own evaluators that have one). `details` is promptgate's
//! reason, which says the same as gh's in other words.

use serde_json::{Map, Value, json};

use crate::pipeline::eval::{choice_scale, normalised_choice_score};
use crate::pipeline::template::github::go_json_float;
use crate::types::{CaseResult, EvalResult, EvaluatorKind, EvaluatorSpec, PromptSpec};

/// One prompt: the file as read, and its result (`None`: it has no cases,
/// which gh runs as 0 tests).
pub struct GithubEval<'a> {
    pub prompt: &'a PromptSpec,
    pub result: Option<&'a EvalResult>,
}

/// gh's JSON for the prompts, ending in a newline.
pub fn render(items: &[GithubEval<'_>]) -> String {
    let values: Vec<Value> = items.iter().map(summary).collect();
    let value = match <[Value; 1]>::try_from(values) {
        Ok([one]) => one,
        Err(many) => Value::Array(many),
    };
    let mut out = String::new();
    write_value(&mut out, &value, 0);
    out.push('\n');
    out
}

fn summary(item: &GithubEval<'_>) -> Value {
    let mut tests = Vec::new();
    let mut passed_tests = 0;
    for case in item.result.iter().flat_map(|result| &result.cases) {
        for repeat in 0..case.repeats.len() {
            let (test, passed) = test_result(item, &case, repeat);
            passed_tests += usize::from(passed);
            tests.push(test);
        }
    }
    let total = tests.len();
    let pass_rate = if total == 0 {
        100.0
    } else {
        passed_tests as f64 / total as f64 * 100.0
    };
    json!({
        "name": item.prompt.name,
        "description": item.prompt.description.clone().unwrap_or_default(),
        "model": item.prompt.model.to_string(),
        // Go writes an empty slice it never appended to as null.
        "testResults": if tests.is_empty() { Value::Null } else { Value::Array(tests) },
        "summary": {
            "totalTests": total,
            "passedTests": passed_tests,
            "failedTests": total - passed_tests,
            "passRate": pass_rate,
        },
    })
}

fn test_result(item: &GithubEval<'_>, case: &CaseResult, repeat: usize) -> (Value, bool) {
    let run = &case.repeats[repeat];
    let response = run.call.result.as_deref().map(str::trim).unwrap_or("");
    let mut all_passed = run.call.result.is_ok();
    let evaluations: Vec<Value> = item
        .prompt
        .evaluators
        .iter()
        .zip(&run.scores)
        .map(|(spec, scored)| {
            let (score, passed, details) = match &scored.score {
                Ok(score) => (
                    raw_score(spec, score.value),
                    score.value > 0.0 && spec.threshold.is_none_or(|t| score.value >= t),
                    score.reason.clone(),
                ),
                Err(error) => (0.0, false, error.clone()),
            };
            all_passed &= passed;
            let mut result = Map::new();
            result.insert("evaluatorName".into(), json!(spec.name));
            result.insert("score".into(), json!(score));
            result.insert("passed".into(), json!(passed));
            if !details.is_empty() {
                result.insert("details".into(), json!(details));
            }
            Value::Object(result)
        })
        .collect();
    let mut vars: Vec<(&String, &Value)> = case.vars.iter().collect();
    vars.sort_by(|a, b| a.0.cmp(b.0));
    let test_case: Map<String, Value> = vars
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let test = json!({
        "testCase": test_case,
        "modelResponse": response,
        "evaluationResults": if evaluations.is_empty() { Value::Null } else { Value::Array(evaluations) },
    });
    (test, all_passed)
}

/// The score as gh reports it: an `llm` evaluator's choice score on its own
/// scale (promptgate divides a scale beyond 1 by its top for the gate).
fn raw_score(spec: &EvaluatorSpec, value: f64) -> f64 {
    let EvaluatorKind::Llm { choices, .. } = &spec.kind else {
        return value;
    };
    let scale = choice_scale(choices);
    choices
        .iter()
        .find(|c| value > 0.0 && normalised_choice_score(c.score, scale) == value)
        .map_or(value * scale, |c| c.score)
}

/// JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it.
fn write_value(out: &mut String, value: &Value, depth: usize) {
    let pad = |depth: usize| "  ".repeat(depth);
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write_value(out, item, depth + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
    }
}

/// A JSON string with Go's escapes (`<`, `>`, `&`, U+2028 and U+2029 as
/// `\u….`, `\b` and `\f` short).
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_as_go_writes_them() {
        let mut out = String::new();
        write_value(
            &mut out,
            &json!({"a": "<b>&\"\u{1}\n", "n": [1, 0.5, 100.0], "e": [], "o": {}}),
            0,
        );
        assert_eq!(
            out,
            "{\n  \"a\": \"\\u003cb\\u003e\\u0026\\\"\\u0001\\n\",\n  \"n\": [\n    1,\n    0.5,\n    100\n  ],\n  \"e\": [],\n  \"o\": {}\n}"
        );
    }
}
