//! GitHub Models' template language, as `gh models eval` has it: for every
//! variable of the case, the exact text `{{name}}` is replaced by the value;
//! nothing else is a placeholder. `{{ name }}` (with spaces), `{% … %}` and
//! a `{{name}}` the case does not define are sent as written. Values render
//! as Go's `fmt` prints them (`%v`): `4.0` as `4`, `1e3` as `1000`, a list as
//! `[a b]`, null as `<nil>`.
//!
//! One difference is deliberate: gh replaces variable after variable in Go's
//! random map order, so a value that itself holds `{{other}}` may or may not
//! be replaced again. This is one pass over the template: inserted text is
//! never read again, and the result does not depend on chance.

use serde_json::{Map, Value};

/// The template with every `{{name}}` of a variable (or of `extra`, which
/// wins, as gh's `completion` does) replaced by its value's text.
pub fn substitute(template: &str, vars: &Map<String, Value>, extra: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut at = 0;
    while let Some(found) = template[at..].find("{{") {
        let open = at + found;
        let inner = open + 2;
        let replacement = template[inner..].find("}}").and_then(|len| {
            let name = &template[inner..inner + len];
            let value = extra
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_string())
                .or_else(|| vars.get(name).map(go_text))?;
            Some((value, inner + len + 2))
        });
        match replacement {
            Some((value, end)) => {
                out.push_str(&template[at..open]);
                out.push_str(&value);
                at = end;
            }
            None => {
                // Not a placeholder here; one brace further may be (`{{{x}}}`).
                out.push_str(&template[at..open + 1]);
                at = open + 1;
            }
        }
    }
    out.push_str(&template[at..]);
    out
}

/// A value as Go's `fmt.Sprintf("%v", v)` prints what `yaml.v3` decoded.
pub fn go_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(i), _, _) if !number.is_f64() => i.to_string(),
            (_, Some(u), _) if !number.is_f64() => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => number.to_string(),
        },
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_text).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            // fmt prints a map's entries sorted by key.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| format!("{key}:{}", go_text(value)))
                .collect();
            format!("map[{}]", entries.join(" "))
        }
    }
}

/// The shortest digits that read back as `f`, and the decimal exponent of
/// the first one: 1234.5 → ("12345", 3).
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-trip digits, like Go's.
    let text = format!("{:e}", f.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): fixed
/// notation for exponents from −4 to 5, otherwise `d.ddde±XX`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{exp_sign}{:02}", exp.abs());
    }
    format!("{sign}{}", fixed(&digits, exp))
}

/// Go's `encoding/json` form of a float64: fixed notation unless the
/// magnitude is below 1e-6 or at least 1e21, with `e-7` rather than `e-07`.
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        // Go refuses to encode these; a string keeps the report readable.
        return format!("\"{}\"", go_float(f));
    }
    let abs = f.abs();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(f);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{exp_sign}{}", exp.abs());
    }
    format!("{sign}{}", fixed(&digits, exp))
}

/// `digits` × 10^(exp − len + 1) in fixed notation, no trailing zeros after
/// the point.
fn fixed(digits: &str, exp: i32) -> String {
    let point = exp + 1;
    let len = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

/// Something in a GitHub-format template that gh will send as written,
/// though its author probably meant it to be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreplaced {
    /// `{{ name }}`: gh replaces only the exact `{{name}}`.
    Spaced { written: String, name: String },
    /// `{{name}}` where the case has no `name`.
    Undefined { name: String },
    /// A minijinja tag (`{% … %}`) or expression gh does not know.
    Tag { written: String },
}

/// What gh leaves unreplaced in `template` for a case with `vars` (extra
/// names such as `completion` count as defined).
pub fn unreplaced(template: &str, vars: &Map<String, Value>, extra: &[&str]) -> Vec<Unreplaced> {
    let defined = |name: &str| vars.contains_key(name) || extra.contains(&name);
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = find_open(template, at) {
        let (close_mark, is_tag) = if template[open..].starts_with("{%") {
            ("%}", true)
        } else {
            ("}}", false)
        };
        let inner = open + 2;
        let Some(len) = template[inner..].find(close_mark) else {
            break;
        };
        let written = &template[open..inner + len + 2];
        let body = &template[inner..inner + len];
        at = inner + len + 2;
        let trimmed = body.trim();
        let item = if is_tag {
            Unreplaced::Tag {
                written: written.to_string(),
            }
        } else if defined(body) || body.starts_with('{') {
            continue;
        } else if body != trimmed && is_name(trimmed) {
            Unreplaced::Spaced {
                written: written.to_string(),
                name: trimmed.to_string(),
            }
        } else if is_name(body) {
            Unreplaced::Undefined {
                name: body.to_string(),
            }
        } else {
            Unreplaced::Tag {
                written: written.to_string(),
            }
        };
        if !found.contains(&item) {
            found.push(item);
        }
    }
    found
}

fn find_open(template: &str, from: usize) -> Option<usize> {
    let rest = &template[from..];
    let brace = rest.find("{{");
    let tag = rest.find("{%");
    match (brace, tag) {
        (Some(b), Some(t)) => Some(from + b.min(t)),
        (Some(b), None) => Some(from + b),
        (None, Some(t)) => Some(from + t),
        (None, None) => None,
    }
}

/// A plain variable name as authors write them: letters, digits, `_`, `-`, `.`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    macro_rules! vars {
        ($($t:tt)*) => { json!($($t)*).as_object().cloned().unwrap_or_default() };
    }

    #[test]
    fn exact_placeholders_only_once_and_triple_braces() {
        let vars: Map<String, Value> =
            vars!({"input": "say {{expected}}", "expected": "Paris", "n": 3});
        let text = substitute(
            "Q: {{input}} A: {{completion}} E: {{{expected}}} N: {{n}} U: {{unknown}} S: {{ input }}",
            &vars,
            &[("completion", "hello")],
        );
        assert_eq!(
            text,
            "Q: say {{expected}} A: hello E: {Paris} N: 3 U: {{unknown}} S: {{ input }}"
        );
        assert_eq!(substitute("a {{b", &Map::new(), &[]), "a {{b");
        assert_eq!(substitute("{{{{x}}}}", &vars!({"x": 1}), &[]), "{{1}}");
    }

    #[test]
    fn values_render_as_go_prints_them() {
        for (value, text) in [
            (json!(4.0), "4"),
            (json!(1e3), "1000"),
            (json!(0.1), "0.1"),
            (json!(-2.5), "-2.5"),
            (json!(1e6), "1e+06"),
            (json!(123456789.0), "1.23456789e+08"),
            (json!(100000.0), "100000"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(1e100), "1e+100"),
            (json!(-0.0), "-0"),
            (json!(7), "7"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(null), "<nil>"),
            (json!(true), "true"),
            (json!(["a", "b", 1.5, null]), "[a b 1.5 <nil>]"),
            (json!({"b": 2, "a": [1]}), "map[a:[1] b:2]"),
        ] {
            assert_eq!(go_text(&value), text, "{value}");
        }
        assert_eq!(go_float(f64::NAN), "NaN");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(go_float(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn json_floats_as_go_encodes_them() {
        for (f, text) in [
            (100.0, "100"),
            (66.66666666666667, "66.66666666666667"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (0.25, "0.25"),
            (0.0, "0"),
        ] {
            assert_eq!(go_json_float(f), text, "{f}");
        }
    }

    #[test]
    fn what_gh_leaves_unreplaced_is_named() {
        let vars: Map<String, Value> = vars!({"input": "x"});
        let found = unreplaced(
            "{{input}} {{ input }} {{missing}} {% include 'a.md' %} {{ x | upper }} {{completion}} {{{input}}}",
            &vars,
            &["completion"],
        );
        assert_eq!(
            found,
            vec![
                Unreplaced::Spaced {
                    written: "{{ input }}".into(),
                    name: "input".into()
                },
                Unreplaced::Undefined {
                    name: "missing".into()
                },
                Unreplaced::Tag {
                    written: "{% include 'a.md' %}".into()
                },
                Unreplaced::Tag {
                    written: "{{ x | upper }}".into()
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn go_float_reads_back_as_the_same_number(f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let text = go_float(f);
            prop_assert_eq!(text.parse::<f64>().unwrap(), f);
            let json = go_json_float(f);
            prop_assert_eq!(json.parse::<f64>().unwrap(), f);
        }

        #[test]
        fn substitution_never_panics_and_keeps_text_without_braces(
            template in "[a-z{} ]{0,40}",
            value in "[a-z{} ]{0,10}",
        ) {
            let vars: Map<String, Value> = vars!({"a": value.clone()});
            let out = substitute(&template, &vars, &[]);
            if !template.contains("{{a}}") {
                prop_assert_eq!(out, template);
            }
        }
    }
}
