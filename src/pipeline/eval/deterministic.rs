//! The evaluators that need nothing but the case, the output and the call's
//! metadata: `string`, `regex`, `keywords`, `json`, `jsonSchema`, `length`,
//! `latency` and `cost`.

use serde_json::Value;

use super::{EvalError, truncate};
use crate::pipeline::template::github::substitute;
use crate::types::{CallOutcome, Case, KeywordMode, LengthUnit, Score, StringCheck};

/// Compiled-program cap for patterns from prompt files and datasets; the
/// regex crate is linear-time, this only bounds memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// GitHub Models `string`: `equals` is exact and case-sensitive;
/// `contains`, `startsWith` and `endsWith` ignore case. The expected text may
/// use the case's variables (`{{expected}}`), replaced and rendered as gh
/// does ([`substitute`]).
pub(crate) fn string_check(
    check: &StringCheck,
    case: &Case,
    output: &str,
) -> Result<Score, EvalError> {
    let (StringCheck::Equals(text)
    | StringCheck::Contains(text)
    | StringCheck::StartsWith(text)
    | StringCheck::EndsWith(text)) = check;
    // gh treats an empty text as "not set" and refuses the evaluator.
    if text.is_empty() {
        return Err(EvalError::Misconfigured(
            "a `string` evaluator needs a non-empty `equals`, `contains`, `startsWith` or `endsWith`"
                .into(),
        ));
    }
    let render = |text: &str| substitute(text, &case.vars, &[]);
    let lower_output = output.to_lowercase();
    let (passed, reason) = match check {
        StringCheck::Equals(text) => {
            let want = render(text);
            (
                output == want,
                format!("expected exactly '{}'", truncate(&want, 200)),
            )
        }
        StringCheck::Contains(text) => {
            let want = render(text);
            (
                lower_output.contains(&want.to_lowercase()),
                format!("expected to contain '{}'", truncate(&want, 200)),
            )
        }
        StringCheck::StartsWith(text) => {
            let want = render(text);
            (
                lower_output.starts_with(&want.to_lowercase()),
                format!("expected to start with '{}'", truncate(&want, 200)),
            )
        }
        StringCheck::EndsWith(text) => {
            let want = render(text);
            (
                lower_output.ends_with(&want.to_lowercase()),
                format!("expected to end with '{}'", truncate(&want, 200)),
            )
        }
    };
    let verdict = if passed { "ok" } else { "failed" };
    Ok(Score::pass_fail(passed, format!("{verdict}: {reason}")))
}

/// `regex`: the pattern matches anywhere in the output (use `^…$` to anchor);
/// with `negate`, passing means it does not match. An empty pattern means
/// "the case's own `regex`".
pub(crate) fn regex_match(
    pattern: &str,
    negate: bool,
    case: &Case,
    output: &str,
) -> Result<Score, EvalError> {
    let (pattern, from_case) = if pattern.is_empty() {
        match &case.regex {
            Some(own) => (own.as_str(), true),
            None => return Err(missing(case, "regex")),
        }
    } else {
        (pattern, false)
    };
    let regex = regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| {
            let origin = if from_case {
                format!(
                    "the `regex` of case `{}` ({}:{})",
                    case.id, case.source.file, case.source.line
                )
            } else {
                "the evaluator's pattern".to_string()
            };
            EvalError::Misconfigured(format!("{origin} is not a valid regex: {err}"))
        })?;
    let found = regex.find(output);
    let shown = truncate(pattern, 120);
    Ok(match (found, negate) {
        (Some(m), false) => Score::pass_fail(
            true,
            format!("matches /{shown}/: '{}'", truncate(m.as_str(), 80)),
        ),
        (None, false) => Score::pass_fail(false, format!("no match for /{shown}/")),
        (None, true) => Score::pass_fail(true, format!("no match for /{shown}/, as required")),
        (Some(m), true) => Score::pass_fail(
            false,
            format!(
                "must not match /{shown}/ but found '{}'",
                truncate(m.as_str(), 80)
            ),
        ),
    })
}

/// `keywords`: substring search for each keyword. `any` scores 1 when one is
/// found; `all` scores the fraction found (1 only when every keyword is
/// there). Empty keywords mean "the case's own `keywords`".
pub(crate) fn keywords(
    keywords: &[String],
    mode: KeywordMode,
    case_sensitive: bool,
    case: &Case,
    output: &str,
) -> Result<Score, EvalError> {
    let keywords = if keywords.is_empty() {
        &case.keywords
    } else {
        keywords
    };
    if keywords.is_empty() {
        return Err(missing(case, "keywords"));
    }
    let haystack = if case_sensitive {
        output.to_string()
    } else {
        output.to_lowercase()
    };
    let (found, missing): (Vec<&String>, Vec<&String>) = keywords.iter().partition(|keyword| {
        if case_sensitive {
            haystack.contains(keyword.as_str())
        } else {
            haystack.contains(&keyword.to_lowercase())
        }
    });
    let list = |words: &[&String]| {
        words
            .iter()
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let score = match mode {
        KeywordMode::Any => {
            if found.is_empty() {
                Score::pass_fail(false, format!("none of {} found", list(&missing)))
            } else {
                Score::pass_fail(true, format!("found {}", list(&found)))
            }
        }
        KeywordMode::All => {
            let value = found.len() as f64 / keywords.len() as f64;
            let reason = if missing.is_empty() {
                format!("all {} keywords found", keywords.len())
            } else {
                format!(
                    "{}/{} keywords found; missing {}",
                    found.len(),
                    keywords.len(),
                    list(&missing)
                )
            };
            Score {
                display: Some(format!("{}/{}", found.len(), keywords.len())),
                ..Score::graded(value, reason)?
            }
        }
    };
    Ok(score)
}

/// The JSON document in an output: the whole output, or the inside of one
/// Markdown code fence (```json … ```) that is the whole output.
/// Returns the text to parse and whether it came from a fence.
pub(crate) fn json_text(output: &str) -> (&str, bool) {
    match strip_code_fence(output) {
        Some(inner) => (inner, true),
        None => (output, false),
    }
}

/// The body of a fenced block that makes up all of `text`, if it is one.
fn strip_code_fence(text: &str) -> Option<&str> {
    let text = text.trim();
    let body = text.strip_prefix("```")?;
    let (info, body) = body.split_once('\n')?;
    let info = info.trim();
    if !(info.is_empty() || info.eq_ignore_ascii_case("json")) {
        return None;
    }
    let body = body.trim_end().strip_suffix("```")?;
    // A second fence inside means prose between blocks: not one document.
    if body.contains("```") {
        return None;
    }
    Some(body)
}

fn parse_json(output: &str) -> Result<(Value, bool), String> {
    let (text, fenced) = json_text(output);
    serde_json::from_str(text)
        .map(|value| (value, fenced))
        .map_err(|err| format!("not valid JSON: {err}"))
}

/// `json`: the output is one JSON document (optionally in one ```json fence).
pub(crate) fn json_valid(output: &str) -> Score {
    match parse_json(output) {
        Ok((_, fenced)) => Score::pass_fail(
            true,
            if fenced {
                "valid JSON (inside a ``` fence)"
            } else {
                "valid JSON"
            },
        ),
        Err(reason) => Score::pass_fail(false, reason),
    }
}

/// `jsonSchema`: the output parses as JSON (as for `json`) and validates
/// against the schema. A null schema means "the case's own `schema`".
pub(crate) fn json_schema(schema: &Value, case: &Case, output: &str) -> Result<Score, EvalError> {
    let schema = if schema.is_null() {
        case.schema
            .as_ref()
            .ok_or_else(|| missing(case, "schema"))?
    } else {
        schema
    };
    let validator = jsonschema::validator_for(schema).map_err(|err| {
        EvalError::Misconfigured(format!(
            "the JSON schema is not valid: {err} (at schema path `{}`)",
            err.schema_path
        ))
    })?;
    let instance = match parse_json(output) {
        Ok((value, _)) => value,
        Err(reason) => return Ok(Score::pass_fail(false, reason)),
    };
    let errors: Vec<_> = validator.iter_errors(&instance).collect();
    let Some(first) = errors.first() else {
        return Ok(Score::pass_fail(true, "matches the schema"));
    };
    let path = first.instance_path.to_string();
    let path = if path.is_empty() { "/".into() } else { path };
    let more = match errors.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Ok(Score::pass_fail(
        false,
        format!("at `{path}`: {}{more}", truncate(&first.to_string(), 200)),
    ))
}

/// `length`: characters (Unicode scalar values) or whitespace-separated
/// words, within inclusive bounds.
pub(crate) fn length(
    min: Option<u64>,
    max: Option<u64>,
    unit: LengthUnit,
    output: &str,
) -> Result<Score, EvalError> {
    if min.is_none() && max.is_none() {
        return Err(EvalError::Misconfigured(
            "a `length` evaluator needs `min`, `max` or both".into(),
        ));
    }
    let (count, unit_name) = match unit {
        LengthUnit::Chars => (output.chars().count() as u64, "chars"),
        LengthUnit::Words => (output.split_whitespace().count() as u64, "words"),
    };
    let score = match (min, max) {
        (Some(min), _) if count < min => Score::pass_fail(
            false,
            format!("{count} {unit_name}, below the minimum {min}"),
        ),
        (_, Some(max)) if count > max => Score::pass_fail(
            false,
            format!("{count} {unit_name}, above the maximum {max}"),
        ),
        _ => Score::pass_fail(true, format!("{count} {unit_name}, within bounds")),
    };
    Ok(score)
}

/// `latency`: the call took at most `max_ms`, as the runner measured it.
pub(crate) fn latency(max_ms: u64, call: &CallOutcome) -> Score {
    let took = call.latency_ms;
    if took <= max_ms {
        Score::pass_fail(true, format!("{took} ms, within {max_ms} ms"))
    } else {
        Score::pass_fail(false, format!("{took} ms, over the budget of {max_ms} ms"))
    }
}

/// `cost`: the call cost at most `max_usd`. A model with no known price
/// cannot be scored.
pub(crate) fn cost(max_usd: f64, call: &CallOutcome) -> Result<Score, EvalError> {
    let Some(spent) = call.cost_usd else {
        return Err(EvalError::Misconfigured(
            "the call's cost is unknown: add the model's price under [pricing] in promptgate.toml"
                .into(),
        ));
    };
    Ok(if spent <= max_usd {
        Score::pass_fail(true, format!("${spent:.6}, within ${max_usd}"))
    } else {
        Score::pass_fail(false, format!("${spent:.6}, over the budget of ${max_usd}"))
    })
}

fn missing(case: &Case, field: &'static str) -> EvalError {
    EvalError::MissingExpectation {
        case: case.id.clone(),
        field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_is_stripped_only_when_it_is_the_whole_output() {
        assert_eq!(
            strip_code_fence("```json\n{\"a\":1}\n```"),
            Some("{\"a\":1}\n")
        );
        assert_eq!(strip_code_fence("```\n[1]\n```\n"), Some("[1]\n"));
        assert_eq!(strip_code_fence("Here:\n```json\n{}\n```"), None);
        assert_eq!(strip_code_fence("```python\n{}\n```"), None);
        assert_eq!(
            strip_code_fence("```json\n{}\n```\nmore\n```json\n{}\n```"),
            None
        );
    }
}
