//! A GitHub-format prompt file's values as `gh models eval` sees them.
//!
//! gh decodes the file with Go's `gopkg.in/yaml.v3` into typed structs. Two
//! of its rules differ from YAML 1.2 as saphyr reads it, and both change what
//! is sent or scored:
//!
//! - a plain scalar in a **string field** (`contains: 2026`, `choice: 1`,
//!   `equals: 1.0`) keeps its text exactly as written;
//! - every other plain scalar resolves by yaml.v3's own table: `1_000` and
//!   `017` (octal) are integers, `08` and `1e3` floats, `yes` and `on`
//!   strings, `2024-01-15` a timestamp (printed as Go prints a `time.Time`).
//!
//! [`as_gh_decodes`] rewrites a parsed document by these rules, so the typed
//! readers downstream see what gh sees.

use serde_json::{Map, Number, Value};

use super::yaml::{Located, child, index};
use crate::pipeline::config::{Config, GITHUB_MODELS};
use crate::types::{EvaluatorKind, ModelId, PromptSpec};

/// The judge model of gh's built-in evaluators.
pub const GH_BUILTIN_JUDGE: &str = "openai/gpt-4o";

/// What would differ between `gh models eval` and promptgate on a
/// GitHub-format prompt, one sentence each (empty when nothing does).
pub fn differences(spec: &PromptSpec, config: &Config) -> Vec<String> {
    let mut found = Vec::new();
    let mut models: Vec<(&str, ModelId)> = vec![("model", spec.model.clone())];
    let mut builtins = false;
    let mut judges = false;
    for evaluator in &spec.evaluators {
        match &evaluator.kind {
            EvaluatorKind::Llm { model_id, .. } => {
                models.push(("an `llm` evaluator's modelId", model_id.clone()));
                judges = true;
            }
            EvaluatorKind::Builtin { .. } => builtins = true,
            _ => {}
        }
    }
    for (what, model) in models {
        let route = config.provider_for(&model);
        if route.alias != GITHUB_MODELS {
            let key = route
                .config
                .api_key_env
                .map(|var| format!(" with {var}"))
                .unwrap_or_default();
            found.push(format!(
                "{what} `{model}` runs on provider `{}`{key}; gh sends it to GitHub Models (set `github_models = true` in promptgate.toml to do the same)",
                route.alias
            ));
        }
    }
    if builtins {
        let judge = config
            .judge_model()
            .map_or_else(|| GH_BUILTIN_JUDGE.to_string(), |m| m.to_string());
        let route = config.provider_for(&ModelId::parse(&judge).unwrap_or(ModelId {
            provider: String::new(),
            model: judge.clone(),
        }));
        let place = if route.alias == GITHUB_MODELS {
            "on GitHub Models".to_string()
        } else {
            format!("on provider `{}`", route.alias)
        };
        found.push(format!(
            "`uses: github/…` evaluators ask `{judge}` {place} with promptgate's own rubric wording and gh's scoring rule; gh asks `{GH_BUILTIN_JUDGE}` on GitHub Models with its own prompts, so the judge may answer differently"
        ));
    }
    if judges || builtins {
        found.push(
            "judges are asked at temperature 0 for repeatable scores; gh sends no temperature"
                .into(),
        );
    }
    let p = &spec.parameters;
    let unsent: Vec<&str> = [
        ("maxCompletionTokens", p.max_completion_tokens.is_some()),
        ("stop", !p.stop.is_empty()),
        ("seed", p.seed.is_some()),
        ("presencePenalty", p.presence_penalty.is_some()),
        ("frequencyPenalty", p.frequency_penalty.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !unsent.is_empty() {
        found.push(format!(
            "`modelParameters` {} are sent by promptgate; gh sends only maxTokens, temperature and topP",
            unsent.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    for case in &spec.test_data {
        let nested = case.vars.iter().find_map(|(name, value)| {
            let text = value.as_str()?;
            case.vars
                .keys()
                .find(|other| text.contains(&format!("{{{{{other}}}}}")))
                .map(|other| (name.clone(), other.clone()))
        });
        if let Some((name, other)) = nested {
            found.push(format!(
                "case {}: `{name}` holds `{{{{{other}}}}}`; gh may or may not replace it again (Go's map order decides), promptgate never does",
                case.id
            ));
        }
    }
    found
}

/// Where gh's structs have string fields (`_` stands for a list index): a
/// plain scalar there keeps its text.
fn is_string_field(pointer: &[&str]) -> bool {
    matches!(
        pointer,
        ["name" | "description" | "model" | "responseFormat" | "jsonSchema"]
            | ["messages", _, "role" | "content"]
            | ["evaluators", _, "name" | "uses"]
            | [
                "evaluators",
                _,
                "string",
                "endsWith" | "startsWith" | "contains" | "equals"
            ]
            | [
                "evaluators",
                _,
                "llm",
                "modelId" | "prompt" | "systemPrompt"
            ]
            | ["evaluators", _, "llm", "choices", _, "choice"]
    )
}

/// The document with every plain scalar decoded as gh's decoder decodes it.
pub fn as_gh_decodes(doc: &Located) -> Value {
    Rewrite {
        doc,
        resolve_all: true,
    }
    .value(&doc.value, "", &mut Vec::new())
}

/// The document with plain scalars in gh's string fields kept as written
/// (`contains: 2026` is the text `2026`) and every other value as it is:
/// what a promptgate-format file gets of gh's decoding.
pub fn with_literal_strings(doc: &Located) -> Value {
    Rewrite {
        doc,
        resolve_all: false,
    }
    .value(&doc.value, "", &mut Vec::new())
}

struct Rewrite<'d> {
    doc: &'d Located,
    /// Resolve every other plain scalar by yaml.v3's table too.
    resolve_all: bool,
}

impl Rewrite<'_> {
    fn value<'a>(&self, value: &'a Value, pointer: &str, path: &mut Vec<&'a str>) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (key, item) in map {
                    path.push(key.as_str());
                    out.insert(key.clone(), self.value(item, &child(pointer, key), path));
                    path.pop();
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push("_");
                        let out = self.value(item, &index(pointer, i), path);
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            scalar => {
                match (self.doc.literal(pointer), is_string_field(path)) {
                    // A string field takes the text; null leaves it empty.
                    (Some(text), true) => Value::String(if scalar.is_null() {
                        String::new()
                    } else {
                        text.to_string()
                    }),
                    (None, true) => match scalar {
                        Value::Null => Value::String(String::new()),
                        Value::String(_) => scalar.clone(),
                        other => Value::String(other.to_string()),
                    },
                    (Some(text), false) if self.resolve_all => resolve_plain(text),
                    (_, false) => scalar.clone(),
                }
            }
        }
    }
}

/// A plain scalar resolved as yaml.v3 resolves it for an `interface{}`.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        // NaN and infinities have no JSON form: keep them as Go prints them.
        ".nan" | ".NaN" | ".NAN" => return Value::String("NaN".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::String("+Inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::String("-Inf".into()),
        _ => {}
    }
    let string = || Value::String(text.to_string());
    match text.as_bytes()[0] {
        b'.' => parse_float(text).map_or_else(string, float),
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(time) = go_timestamp(text) {
                return Value::String(time);
            }
            let plain = text.replace('_', "");
            if let Some(int) = go_parse_int(&plain) {
                return int;
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = parse_float(&plain)
            {
                return float(f);
            }
            string()
        }
        _ => string(),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// A finite float in decimal notation (Go's ParseFloat refuses overflow).
fn parse_float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, yaml.v3's float.
fn is_yaml_style_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Go's `strconv.ParseInt(text, 0, 64)`, then `ParseUint`: an optional
/// sign, then `0x`, `0o`, `0b` or a leading `0` (octal) or decimal digits.
fn go_parse_int(text: &str) -> Option<Value> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let signed = text.starts_with(['-', '+']);
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i128::try_from(magnitude).ok().map(|m| -m)?;
        return i64::try_from(value).ok().map(Value::from);
    }
    if let Ok(value) = i64::try_from(magnitude) {
        return Some(Value::from(value));
    }
    // ParseUint takes no sign.
    if signed {
        return None;
    }
    u64::try_from(magnitude).ok().map(Value::from)
}

/// A timestamp in one of yaml.v3's formats, as Go prints the `time.Time`
/// (`2024-01-15 00:00:00 +0000 UTC`); `None` when it is not one.
fn go_timestamp(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.len() < 5 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    let mut rest = &text[5..];
    let number = |rest: &mut &str, max_digits: usize| -> Option<u32> {
        let len = rest
            .bytes()
            .take(max_digits)
            .take_while(u8::is_ascii_digit)
            .count();
        if len == 0 {
            return None;
        }
        let value = rest[..len].parse().ok()?;
        *rest = &rest[len..];
        Some(value)
    };
    let literal = |rest: &mut &str, what: char| -> Option<()> {
        *rest = rest.strip_prefix(what)?;
        Some(())
    };
    let year: i32 = text[..4].parse().ok()?;
    let month = number(&mut rest, 2)?;
    literal(&mut rest, '-')?;
    let day = number(&mut rest, 2)?;
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    if rest.is_empty() {
        return Some(format!("{date} 00:00:00 +0000 UTC"));
    }
    let zoned = rest.starts_with(['T', 't']);
    if !zoned && !rest.starts_with(' ') {
        return None;
    }
    rest = &rest[1..];
    let hour = number(&mut rest, 2)?;
    literal(&mut rest, ':')?;
    let minute = number(&mut rest, 2)?;
    literal(&mut rest, ':')?;
    let second = number(&mut rest, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction = String::new();
    if let Some(after) = rest.strip_prefix(['.', ',']) {
        let len = after.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        fraction = after[..len.min(9)].trim_end_matches('0').to_string();
        rest = &after[len..];
    }
    let zone = if !zoned {
        (rest.is_empty()).then(|| "+0000 UTC".to_string())?
    } else if rest == "Z" {
        "+0000 UTC".to_string()
    } else {
        let sign = rest.chars().next().filter(|c| *c == '+' || *c == '-')?;
        let mut tail = &rest[1..];
        let hours = number(&mut tail, 2)?;
        literal(&mut tail, ':')?;
        let minutes = number(&mut tail, 2)?;
        if !tail.is_empty() {
            return None;
        }
        if hours == 0 && minutes == 0 {
            // The offset of the (UTC) machine gh runs on: Go names it.
            "+0000 UTC".to_string()
        } else {
            let offset = format!("{sign}{hours:02}{minutes:02}");
            format!("{offset} {offset}")
        }
    };
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!(
        "{date} {hour:02}:{minute:02}:{second:02}{fraction} {zone}"
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::pipeline::spec::yaml::parse_keeping_literals;

    #[test]
    fn plain_scalars_resolve_as_yaml_v3_does() {
        for (text, value) in [
            ("1", json!(1)),
            ("+1", json!(1)),
            ("-0", json!(0)),
            ("1_000", json!(1000)),
            ("017", json!(15)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("0b101", json!(5)),
            ("08", json!(8.0)),
            ("4.0", json!(4.0)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("1.", json!(1.0)),
            ("18446744073709551615", json!(u64::MAX)),
            ("99999999999999999999", json!(1e20)),
            ("1e400", json!("1e400")),
            ("yes", json!("yes")),
            ("on", json!("on")),
            ("True", json!(true)),
            ("NULL", json!(null)),
            ("~", json!(null)),
            (".inf", json!("+Inf")),
            ("-.Inf", json!("-Inf")),
            (".NaN", json!("NaN")),
            ("1.2.3", json!("1.2.3")),
            ("-", json!("-")),
            ("0x", json!("0x")),
            ("2024-01-15", json!("2024-01-15 00:00:00 +0000 UTC")),
            ("2024-1-5", json!("2024-01-05 00:00:00 +0000 UTC")),
            (
                "2024-01-15T10:20:30.500Z",
                json!("2024-01-15 10:20:30.5 +0000 UTC"),
            ),
            (
                "2024-01-15t10:20:30+02:00",
                json!("2024-01-15 10:20:30 +0200 +0200"),
            ),
            (
                "2024-01-15 10:20:30",
                json!("2024-01-15 10:20:30 +0000 UTC"),
            ),
            ("2024-02-30", json!("2024-02-30")),
            ("2024-13-01", json!("2024-13-01")),
        ] {
            assert_eq!(resolve_plain(text), value, "{text}");
        }
    }

    #[test]
    fn string_fields_keep_text_and_variables_resolve() {
        let text = "name: 2026\nmodel: openai/gpt-4o\nmessages:\n  - role: User\n    content: 1.0\ntestData:\n  - f: 4.0\n    n: 017\n    q: '017'\n    l: [a, 1e3]\nevaluators:\n  - name: n\n    string: {contains: 2026}\n  - name: c\n    llm: {modelId: x, prompt: p, choices: [{choice: 1, score: 1}, {choice: ~, score: 0}]}\n";
        let (doc, _) = parse_keeping_literals(text).unwrap();
        let value = as_gh_decodes(&doc);
        assert_eq!(value["name"], json!("2026"));
        assert_eq!(value["messages"][0]["content"], json!("1.0"));
        assert_eq!(value["testData"][0]["f"], json!(4.0));
        assert_eq!(value["testData"][0]["n"], json!(15));
        assert_eq!(value["testData"][0]["q"], json!("017"));
        assert_eq!(value["testData"][0]["l"], json!(["a", 1000.0]));
        assert_eq!(value["evaluators"][0]["string"]["contains"], json!("2026"));
        let choices = &value["evaluators"][1]["llm"]["choices"];
        assert_eq!(choices[0], json!({"choice": "1", "score": 1}));
        assert_eq!(choices[1]["choice"], json!(""));
    }

    proptest! {
        #[test]
        fn resolving_never_panics(text in "[-+._0-9a-zA-Z:tTzZ ]{1,24}") {
            let _ = resolve_plain(&text);
        }
    }
}
