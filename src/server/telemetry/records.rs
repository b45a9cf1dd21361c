//! One reported execution, read from its JSON with every field checked:
//! a bad record is refused with its index and the field at fault, and the
//! rest of the batch goes on.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::pipeline::telemetry::Outcome;

/// Longest accepted idempotency key, label, A/B key, error kind or model.
pub const MAX_TEXT: usize = 200;
/// Reported times may be this far ahead of the server's clock (clock skew).
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// Which version the application ran: the one it names, or the one the
/// label (and A/B key) resolves to, as `GET /v1/prompts/{name}` served it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Served {
    Version(u64),
    Label { label: String, key: Option<String> },
}

/// A record that passed the field checks; the server still resolves its
/// version and prices it before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    pub prompt: String,
    pub served: Served,
    /// The label it was served by, when given ('' otherwise).
    pub label: String,
    pub at_ms: Option<i64>,
    pub latency_ms: f64,
    pub outcome: Outcome,
    pub error_kind: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// `provider/model` or a bare model name, to price the tokens when no
    /// cost is reported (the served version's model otherwise).
    pub model: Option<String>,
    pub feedback: Option<f64>,
    pub quality: Option<f64>,
    pub id: Option<String>,
}

/// Why record `index` was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub field: &'static str,
    pub error: String,
}

/// The fields a record may have, for the message about an unknown one.
pub const FIELDS: [&str; 15] = [
    "id",
    "prompt",
    "version",
    "label",
    "key",
    "at",
    "latency_ms",
    "outcome",
    "error_kind",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "model",
    "feedback",
    "quality",
];

/// The field names a rejection can carry (a closed set: they label metrics).
pub fn field_label(field: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|known| **known == field)
        .copied()
        .unwrap_or("record")
}

struct Fields<'a> {
    index: usize,
    object: &'a Map<String, Value>,
}

type Checked<T> = Result<T, Rejection>;

impl<'a> Fields<'a> {
    fn refuse(&self, field: &'static str, error: impl Into<String>) -> Rejection {
        Rejection {
            index: self.index,
            field,
            error: error.into(),
        }
    }

    fn get(&self, field: &'static str) -> Option<&'a Value> {
        self.object.get(field).filter(|value| !value.is_null())
    }

    fn text(&self, field: &'static str) -> Checked<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => {
                Err(self.refuse(field, format!("`{field}` is empty")))
            }
            Some(Value::String(text)) if text.chars().any(char::is_control) => {
                Err(self.refuse(field, format!("`{field}` contains a control character")))
            }
            Some(Value::String(text)) if text.chars().count() > MAX_TEXT => Err(self.refuse(
                field,
                format!("`{field}` is longer than {MAX_TEXT} characters"),
            )),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.refuse(field, format!("`{field}` must be a string"))),
        }
    }

    fn count(&self, field: &'static str) -> Checked<Option<u64>> {
        match self.get(field) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.refuse(field, format!("`{field}` must be a whole number ≥ 0"))),
        }
    }

    fn number(&self, field: &'static str, low: f64, high: f64) -> Checked<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(value) => match value.as_f64() {
                Some(number) if number.is_finite() && (low..=high).contains(&number) => {
                    Ok(Some(number))
                }
                _ => Err(self.refuse(
                    field,
                    format!("`{field}` must be a number from {low} to {high}"),
                )),
            },
        }
    }
}

/// Checks record `index` of a batch. `now_ms` and `oldest_ms` bound `at`.
pub fn parse(index: usize, value: &Value, now_ms: i64, oldest_ms: i64) -> Checked<Reported> {
    let Some(object) = value.as_object() else {
        return Err(Rejection {
            index,
            field: "record",
            error: "an execution is a JSON object".into(),
        });
    };
    let fields = Fields { index, object };
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(fields.refuse(
            "record",
            format!("unknown field `{unknown}` (known: {})", FIELDS.join(", ")),
        ));
    }
    let prompt = fields
        .text("prompt")?
        .ok_or_else(|| fields.refuse("prompt", "`prompt` is missing"))?;
    let label = fields.text("label")?;
    let key = fields.text("key")?;
    let served = match (fields.get("version"), &label) {
        (Some(value), _) => match value.as_u64() {
            Some(number) if number >= 1 => Served::Version(number),
            _ => {
                return Err(
                    fields.refuse("version", "`version` must be a version number (1, 2, …)")
                );
            }
        },
        (None, Some(label)) => Served::Label {
            label: label.clone(),
            key: key.clone(),
        },
        (None, None) => {
            return Err(fields.refuse(
                "version",
                "name the `version` that ran, or the `label` (and A/B `key`) it was served by",
            ));
        }
    };
    let at_ms = match fields.get("at") {
        None => None,
        Some(Value::String(text)) => {
            let parsed =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| fields.refuse("at", "`at` must be an RFC 3339 time"))?;
            let ms = (parsed.unix_timestamp_nanos() / 1_000_000) as i64;
            if ms > now_ms + MAX_FUTURE_MS {
                return Err(fields.refuse("at", "`at` is in the future"));
            }
            if ms < oldest_ms {
                return Err(fields.refuse(
                    "at",
                    "`at` is older than the server keeps executions (raw_retention_days)",
                ));
            }
            Some(ms)
        }
        Some(_) => return Err(fields.refuse("at", "`at` must be an RFC 3339 time string")),
    };
    let latency_ms = fields
        .number("latency_ms", 0.0, 1.0e8)?
        .ok_or_else(|| fields.refuse("latency_ms", "`latency_ms` is missing"))?;
    let outcome = match fields.get("outcome") {
        None => Outcome::Ok,
        Some(Value::String(text)) => Outcome::parse(text).ok_or_else(|| {
            fields.refuse(
                "outcome",
                format!("`{text}` is not an outcome: use ok, error, timeout or refusal"),
            )
        })?,
        Some(_) => return Err(fields.refuse("outcome", "`outcome` must be a string")),
    };
    let feedback = match fields.get("feedback") {
        Some(Value::String(thumb)) if thumb == "up" => Some(1.0),
        Some(Value::String(thumb)) if thumb == "down" => Some(0.0),
        Some(Value::Bool(up)) => Some(if *up { 1.0 } else { 0.0 }),
        Some(Value::String(_)) => {
            return Err(fields.refuse(
                "feedback",
                "`feedback` is \"up\", \"down\", true, false or a score from 0 to 1",
            ));
        }
        _ => fields.number("feedback", 0.0, 1.0)?,
    };
    Ok(Reported {
        prompt,
        served,
        label: label.unwrap_or_default(),
        at_ms,
        latency_ms,
        outcome,
        error_kind: fields.text("error_kind")?,
        input_tokens: fields.count("input_tokens")?,
        output_tokens: fields.count("output_tokens")?,
        cost_usd: fields.number("cost_usd", 0.0, 1.0e6)?,
        model: fields.text("model")?,
        feedback,
        quality: fields.number("quality", 0.0, 1.0)?,
        id: fields.text("id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn check(value: Value) -> Checked<Reported> {
        parse(3, &value, NOW, NOW - 86_400_000)
    }

    #[test]
    fn a_full_record_reads() {
        let record = check(json!({
            "id": "run-1", "prompt": "summarize", "label": "production", "key": "user-7",
            "latency_ms": 812.5, "outcome": "refusal", "input_tokens": 120,
            "output_tokens": 40, "feedback": "down", "quality": 0.5,
            "at": "2027-01-15T08:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            record.served,
            Served::Label {
                label: "production".into(),
                key: Some("user-7".into())
            }
        );
        assert_eq!(record.outcome, Outcome::Refusal);
        assert_eq!(record.feedback, Some(0.0));
        assert_eq!(record.at_ms, Some(NOW));
    }

    #[test]
    fn each_bad_field_is_named_with_the_index() {
        let base = json!({"prompt": "p", "version": 2, "latency_ms": 10});
        let cases: [(&str, Value, &str); 12] = [
            ("prompt", json!(null), "prompt"),
            ("prompt", json!("a\u{0}b"), "prompt"),
            ("version", json!(0), "version"),
            ("version", json!("v2"), "version"),
            ("latency_ms", json!(-1), "latency_ms"),
            ("latency_ms", json!("fast"), "latency_ms"),
            ("outcome", json!("crashed"), "outcome"),
            ("feedback", json!(3), "feedback"),
            ("input_tokens", json!(-5), "input_tokens"),
            ("at", json!("yesterday"), "at"),
            ("at", json!("2030-01-01T00:00:00Z"), "at"),
            ("surprise", json!(1), "record"),
        ];
        for (field, value, blamed) in cases {
            let mut record = base.clone();
            record[field] = value.clone();
            let refused = check(record).unwrap_err();
            assert_eq!(
                (refused.index, refused.field),
                (3, blamed),
                "{field}={value}"
            );
        }
        let refused = check(json!({"prompt": "p", "latency_ms": 1})).unwrap_err();
        assert_eq!(refused.field, "version");
        assert_eq!(check(json!([1])).unwrap_err().field, "record");
        assert!(check(base).is_ok());
    }
}
