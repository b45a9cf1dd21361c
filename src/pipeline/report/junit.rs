//! JUnit XML: a `<testsuite>` per prompt, a `<testcase>` per case ×
//! criterion (`classname` = the prompt, `name` = `case_id / criterion`),
//! plus one `[gate] / criterion` testcase per criterion for the gate's
//! verdict, so CI test viewers show regressions even when no single case
//! fails.
//!
//! A per-case testcase fails when the head's score (mean over repeats) is
//! below 0.5 — the same pass mark the gate's flips use — and errors when a
//! call or a score failed.
//!
//! Built with `junit-report`, which cannot write `<properties>` and writes
//! an RFC 3339 `timestamp` that the common JUnit XSD rejects (it wants
//! `YYYY-MM-DDTHH:MM:SS`, no zone). The crate's output is therefore streamed
//! once more through quick-xml to add each suite's properties and rewrite the
//! timestamp in UTC. The result validates against `fixtures/junit/JUnit.xsd`.

use junit_report::{Report, TestCase, TestSuite};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::escape::truncate;
use super::view::{self, PASS_MARK};
use super::{CheckReport, PromptReport, ReportError, ReportMode};
use crate::pipeline::gate::{CriterionGate, Verdict};
use crate::types::CaseResult;

/// Longest model output kept in a failure's body.
const OUTPUT_LIMIT: usize = 10_000;

/// The report as JUnit XML (UTF-8, with an XML declaration).
pub fn render(report: &CheckReport) -> Result<String, ReportError> {
    let timestamp = OffsetDateTime::parse(&report.generated_at, &Rfc3339)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut junit = Report::new();
    let mut properties = Vec::new();
    for prompt in &report.prompts {
        let mut suite = TestSuite::new(&xml_text(non_empty(&prompt.head.prompt)));
        suite.set_timestamp(timestamp);
        suite.add_testcases(gate_cases(report.mode, prompt));
        suite.add_testcases(case_cases(prompt));
        suite.set_system_out(&xml_text(&suite_summary(prompt)));
        suite.set_system_err("");
        junit.add_testsuite(suite);
        properties.push(suite_properties(report, prompt));
    }
    let mut raw = Vec::new();
    junit
        .write_xml(&mut raw)
        .map_err(|e| ReportError::Xml(e.to_string()))?;
    let raw = String::from_utf8(raw).map_err(|e| ReportError::Xml(e.to_string()))?;
    add_properties(&raw, &properties).map_err(|e| ReportError::Xml(e.to_string()))
}

fn non_empty(name: &str) -> &str {
    if name.trim().is_empty() {
        "(unnamed prompt)"
    } else {
        name
    }
}

/// XML 1.0 cannot hold most control characters, even in CDATA, and `]]>`
/// would end a CDATA section early.
fn xml_text(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect();
    cleaned.replace("]]>", "]]]]><![CDATA[>")
}

fn suite_properties(report: &CheckReport, prompt: &PromptReport) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("promptgate.version", report.tool_version.clone()),
        (
            "promptgate.mode",
            match report.mode {
                ReportMode::Check => "check".to_string(),
                ReportMode::Eval => "eval".to_string(),
            },
        ),
        ("promptgate.generated_at", report.generated_at.clone()),
        ("prompt.version", prompt.head.version.0.clone()),
        ("prompt.fingerprint", prompt.head.fingerprint.0.clone()),
        ("prompt.model", prompt.head.model.clone()),
        ("prompt.from_model", prompt.from_model().to_string()),
    ];
    if let Some(path) = &prompt.path {
        props.push(("prompt.path", path.clone()));
    }
    if let Some(base) = &prompt.baseline {
        props.push(("baseline.version", base.version.0.clone()));
        props.push(("baseline.fingerprint", base.fingerprint.0.clone()));
    }
    if let Some(source) = &prompt.baseline_source {
        props.push(("baseline.source", source.to_string()));
    }
    if let Some(gate) = &prompt.gate {
        props.push(("gate.verdict", view::verdict_word(gate.verdict).to_string()));
        props.push(("gate.failed", gate.failed.to_string()));
    }
    if let Some(change) = &prompt.policy_change {
        props.push(("gate.policy_change", change.clone()));
    }
    if let Some(line) = view::sequential_line(prompt) {
        props.push(("gate.sequential", line));
    }
    props.into_iter().map(|(k, v)| (k, xml_text(&v))).collect()
}

/// One testcase per criterion for the gate's decision (check mode), or for
/// the absolute threshold (eval mode, criteria that have one).
fn gate_cases(mode: ReportMode, prompt: &PromptReport) -> Vec<TestCase> {
    let classname = xml_text(non_empty(&prompt.head.prompt));
    let rows = view::rows(prompt);
    // The gate does not say why a prompt failed; when no regression or
    // missed threshold explains it, the policy fails on inconclusive.
    let failed_on_inconclusive = prompt.gate.as_ref().is_some_and(|g| g.failed)
        && !rows
            .iter()
            .any(|r| r.verdict == Some(Verdict::Regressed) || r.threshold_met == Some(false));
    let mut out = Vec::new();
    for row in rows {
        let label = match mode {
            ReportMode::Check => "[gate]",
            ReportMode::Eval if row.threshold.is_some() => "[threshold]",
            ReportMode::Eval => continue,
        };
        let name = xml_text(&format!("{label} / {}", row.name));
        let message = xml_text(&format!(
            "{}: baseline {} → head {}, Δ {} {} ({} paired cases{})",
            view::row_verdict_text(&row),
            view::fmt_mean(row.baseline_mean, row.scale),
            view::fmt_mean(row.head_mean, row.scale),
            view::fmt_delta(row.delta),
            view::fmt_interval(row.interval),
            row.cases,
            row.method
                .as_deref()
                .map(|m| format!(", {m}"))
                .unwrap_or_default(),
        ));
        let failure_type = if row.threshold_met == Some(false) {
            Some("below_threshold")
        } else {
            match row.verdict {
                Some(Verdict::Regressed) => Some("regressed"),
                Some(Verdict::Inconclusive) if failed_on_inconclusive => Some("inconclusive"),
                _ => None,
            }
        };
        let mut case = match failure_type {
            Some(kind) => TestCase::failure(&name, Duration::ZERO, kind, &message),
            None => TestCase::success(&name, Duration::ZERO),
        };
        case.set_classname(&classname);
        // The inconclusive note explains a failure; reviewers' lines about
        // the criterion's judge go with it whatever the verdict.
        let mut out_lines: Vec<String> = failure_type
            .and_then(|_| view::inconclusive_note(&row))
            .into_iter()
            .collect();
        if let Some(criterion) = gate_criterion(prompt, &row.name) {
            out_lines.extend(
                view::criterion_review_lines(criterion)
                    .into_iter()
                    .map(|(flagged, line)| flag_mark(flagged, line)),
            );
        }
        if !out_lines.is_empty() {
            case.set_system_out(&xml_text(&out_lines.join("\n")));
        }
        out.push(case);
    }
    out
}

fn gate_criterion<'a>(prompt: &'a PromptReport, name: &str) -> Option<&'a CriterionGate> {
    prompt
        .gate
        .as_ref()
        .and_then(|g| g.criteria.iter().find(|c| c.criterion == name))
}

/// A flagged judge's line starts with `WARNING`, for people scanning a CI log.
fn flag_mark(flagged: bool, line: String) -> String {
    if flagged {
        format!("WARNING judge: {line}")
    } else {
        format!("judge: {line}")
    }
}

/// One testcase per head case × criterion.
fn case_cases(prompt: &PromptReport) -> Vec<TestCase> {
    let head = &prompt.head;
    let classname = xml_text(non_empty(&head.prompt));
    let baseline = prompt
        .baseline
        .as_ref()
        .map(|result| (result, view::CasesById::of(result)));
    let mut out = Vec::new();
    for case in &head.cases {
        let time = mean_latency(&case);
        let baseline_case = baseline
            .as_ref()
            .and_then(|(b, by_id)| by_id.get(&case.case_id).map(|c| (*b, c)));
        for (index, info) in head.criteria.iter().enumerate() {
            let name = xml_text(&format!("{} / {}", case.case_id, info.name));
            let score = view::case_score(&case, index);
            let baseline_score = baseline_case.as_ref().and_then(|(b, c)| {
                view::criterion_index(b, &info.name).map(|i| view::case_score(c, i))
            });
            let mut testcase = if let Some(error) = &score.error {
                let kind = if error.starts_with("call failed") {
                    "call_failed"
                } else {
                    "score_failed"
                };
                let mut t = TestCase::error(&name, time, kind, &xml_text(error));
                t.set_system_out(&xml_text(&case_body(&case, None)));
                t
            } else if score.mean.is_some_and(|m| m < PASS_MARK) {
                let was_passing = baseline_score
                    .as_ref()
                    .and_then(|b| b.mean)
                    .is_some_and(|m| m >= PASS_MARK);
                let kind = if was_passing {
                    "flipped_to_fail"
                } else {
                    "below_pass_mark"
                };
                let mut message = format!("score {}", view::fmt_case_score(&score));
                if let Some(b) = &baseline_score {
                    message.push_str(&format!(", baseline {}", view::fmt_case_score(b)));
                }
                if let Some(reason) = &score.reason {
                    message.push_str(&format!(": {reason}"));
                }
                let mut t = TestCase::failure(&name, time, kind, &xml_text(&message));
                t.set_system_out(&xml_text(&case_body(&case, score.reason.as_deref())));
                t
            } else {
                TestCase::success(&name, time)
            };
            testcase.set_classname(&classname);
            out.push(testcase);
        }
    }
    out
}

fn mean_latency(case: &CaseResult) -> Duration {
    if case.repeats.is_empty() {
        return Duration::ZERO;
    }
    let total: u64 = case.repeats.iter().map(|r| r.call.latency_ms).sum();
    Duration::milliseconds((total / case.repeats.len() as u64) as i64)
}

/// A failure's body: the input variables, the reason and the output.
fn case_body(case: &CaseResult, reason: Option<&str>) -> String {
    let vars = serde_json::to_string_pretty(&case.vars).unwrap_or_default();
    let mut body = format!("input:\n{vars}\n");
    if let Some(reason) = reason {
        body.push_str(&format!("reason: {reason}\n"));
    }
    match view::case_output(case) {
        (Some(Ok(text)), repeats) => {
            let which = if repeats > 1 { " (first repeat)" } else { "" };
            body.push_str(&format!(
                "output{which}:\n{}\n",
                truncate(text, OUTPUT_LIMIT)
            ));
        }
        (Some(Err(e)), _) => body.push_str(&format!("call failed: {e}\n")),
        (None, _) => body.push_str("no output recorded\n"),
    }
    body
}

/// The suite's `<system-out>`: the prompt's table as plain text.
fn suite_summary(prompt: &PromptReport) -> String {
    let mut lines = vec![format!(
        "{} version {} model {}",
        prompt.head.prompt, prompt.head.version, prompt.head.model
    )];
    if let (Some(base), Some(source)) = (&prompt.baseline, &prompt.baseline_source) {
        lines.push(format!("baseline {} from {source}", base.version));
    }
    if !prompt.from_model() {
        lines.push("NOT A MODEL: outputs come from the echo provider".to_string());
    }
    for row in view::rows(prompt) {
        lines.push(format!(
            "{}: baseline {} head {} Δ {} {} {}",
            row.name,
            view::fmt_mean(row.baseline_mean, row.scale),
            view::fmt_mean(row.head_mean, row.scale),
            view::fmt_delta(row.delta),
            view::fmt_interval(row.interval),
            view::row_verdict_text(&row),
        ));
    }
    lines.extend(
        view::review_lines(prompt)
            .into_iter()
            .map(|(flagged, line)| flag_mark(flagged, line)),
    );
    let calls = &prompt.calls;
    lines.push(format!(
        "calls: {} made, {} cached, {} failed; cost {}",
        calls.made,
        calls.cached,
        calls.failed,
        calls.cost_text()
    ));
    lines.join("\n") + "\n"
}

/// Streams the crate's XML, adding `<properties>` as the first child of the
/// n-th `<testsuite>` and rewriting its `timestamp` without a zone.
fn add_properties(
    raw: &str,
    properties: &[Vec<(&'static str, String)>],
) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_str(raw);
    let mut writer = Writer::new(Vec::with_capacity(raw.len() + 512));
    let mut suite = 0usize;
    loop {
        match reader.read_event()? {
            Event::Eof => break,
            Event::Start(start) if start.name().as_ref() == b"testsuite" => {
                writer.write_event(Event::Start(suite_start(&start)?))?;
                write_properties(&mut writer, properties.get(suite))?;
                suite += 1;
            }
            Event::Empty(start) if start.name().as_ref() == b"testsuite" => {
                let start = suite_start(&start)?;
                let end = start.to_end().into_owned();
                writer.write_event(Event::Start(start))?;
                write_properties(&mut writer, properties.get(suite))?;
                writer.create_element("system-out").write_empty()?;
                writer.create_element("system-err").write_empty()?;
                writer.write_event(Event::End(end))?;
                suite += 1;
            }
            event => writer.write_event(event)?,
        }
    }
    // The crate writes UTF-8 from a `&str`, and so does the writer.
    Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
}

fn suite_start(start: &BytesStart<'_>) -> Result<BytesStart<'static>, quick_xml::Error> {
    let zoneless = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let mut out = BytesStart::new("testsuite");
    for attr in start.attributes() {
        let attr = attr?;
        if attr.key.as_ref() == b"timestamp" {
            let value = attr.unescape_value()?;
            let utc = OffsetDateTime::parse(&value, &Rfc3339)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                .to_offset(UtcOffset::UTC);
            let text = utc.format(&zoneless).unwrap_or_default();
            out.push_attribute(("timestamp", text.as_str()));
        } else {
            out.push_attribute(attr);
        }
    }
    Ok(out.into_owned())
}

fn write_properties(
    writer: &mut Writer<Vec<u8>>,
    properties: Option<&Vec<(&'static str, String)>>,
) -> Result<(), quick_xml::Error> {
    let properties = properties.map(Vec::as_slice).unwrap_or_default();
    if properties.is_empty() {
        writer.create_element("properties").write_empty()?;
        return Ok(());
    }
    writer
        .create_element("properties")
        .write_inner_content(|w| {
            for (name, value) in properties {
                w.create_element("property")
                    .with_attribute(("name", *name))
                    .with_attribute(("value", value.as_str()))
                    .write_empty()?;
            }
            Ok::<(), quick_xml::Error>(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_drops_what_xml_cannot_hold() {
        assert_eq!(xml_text("a\u{0}b\u{1b}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(xml_text("x]]>y"), "x]]]]><![CDATA[>y");
    }

    #[test]
    fn properties_go_first_and_the_timestamp_loses_its_zone() {
        let raw = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite id="0" name="a &amp; b" timestamp="2025-03-01T13:34:56+01:00"><testcase name="x" time="0"/></testsuite><testsuite id="1" name="c" timestamp="2025-03-01T12:00:00Z"/></testsuites>"#;
        let props = vec![vec![("k", "v \"q\" <x>".to_string())], vec![]];
        let got = add_properties(raw, &props).unwrap();
        assert!(got.contains(r#"<testsuite id="0" name="a &amp; b" timestamp="2025-03-01T12:34:56"><properties><property name="k" value="v &quot;q&quot; &lt;x&gt;"/></properties><testcase"#), "{got}");
        assert!(got.contains(r#"<testsuite id="1" name="c" timestamp="2025-03-01T12:00:00"><properties/><system-out/><system-err/></testsuite>"#), "{got}");
    }
}
