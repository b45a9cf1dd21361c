//! The JUnit report validates against the common JUnit XSD and reads back in
//! a standard consumer (Python's junitparser) as what was written.
//!
//! The Python side runs from `.venv-test/` (`scripts/install-test-deps.sh`,
//! packages in `scripts/test-requirements.txt`). Without it the test fails
//! when `CI` is set and prints a loud skip otherwise.

mod report_fixtures;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use promptgate::pipeline::report::junit;
use report_fixtures::*;
use serde_json::Value;

const MISSING_TOOLS: i32 = 3;

fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [".venv-test/bin/python", ".venv-test/Scripts/python.exe"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.exists())
}

fn skip_or_fail(why: &str) -> Option<Value> {
    if std::env::var_os("CI").is_some() {
        panic!("{why}; CI must run this check (run scripts/install-test-deps.sh)");
    }
    // Straight to stderr: libtest captures `eprintln!` of passing tests.
    let banner = format!(
        "\n!!!!!!!! SKIPPED: JUnit XSD + junitparser check: {why}\n\
         !!!!!!!! run scripts/install-test-deps.sh to enable it\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
    None
}

/// Runs `scripts/validate_junit.py` on the XML; `None` when skipped.
fn validate(xml: &str) -> Option<Value> {
    let Some(python) = python() else {
        return skip_or_fail("no .venv-test/ with Python");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.xml");
    std::fs::write(&path, xml).expect("write the report");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate_junit.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .expect("run validate_junit.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Some(serde_json::from_slice(&out.stdout).expect("summary is JSON")),
        Some(MISSING_TOOLS) => skip_or_fail(stderr.trim()),
        _ => panic!("the JUnit report does not validate:\n{stderr}\n--- report ---\n{xml}"),
    }
}

fn case<'a>(suite: &'a Value, name: &str) -> &'a Value {
    suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

#[test]
fn check_report_validates_and_reads_back() {
    let report = realistic_check();
    let xml = junit::render(&report).unwrap();
    // Model output with `]]>`, `</details>` and mentions is in the file as text.
    assert!(xml.contains("@support-team"));
    let Some(summary) = validate(&xml) else {
        return;
    };

    let suites = summary["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 2);
    let support = &suites[0];
    assert_eq!(support["name"], "support-reply");
    // 3 gate testcases + 20 cases × 3 criteria.
    assert_eq!(support["tests"], 63);
    // 5 cases flipped on the order-number judge, 6 scored 2/5 on tone, and
    // the regressed gate case.
    assert_eq!(support["failures"], 12);
    // case-007's call failed: one error per criterion.
    assert_eq!(support["errors"], 3);
    let props = &support["properties"];
    assert_eq!(props["promptgate.version"], "0.1.0");
    assert_eq!(props["prompt.version"], "9b2e44d0c1f8a6e35d27");
    assert_eq!(props["prompt.fingerprint"], "fp-9b2e44d0c1f8a6e35d27");
    assert_eq!(props["baseline.fingerprint"], "fp-3f1c9a7be2d04c11a8e5");
    assert_eq!(props["baseline.source"], "local store");
    assert_eq!(props["gate.failed"], "true");

    let gate = case(support, "[gate] / mentions order number");
    assert_eq!(gate["classname"], "support-reply");
    assert_eq!(gate["outcome"], "failure");
    assert_eq!(gate["type"], "regressed");
    assert!(gate["message"].as_str().unwrap().contains("[−0.41, −0.19]"));
    assert_eq!(case(support, "[gate] / tone")["outcome"], "passed");

    let flipped = case(support, "case-001 / mentions order number");
    assert_eq!(flipped["outcome"], "failure");
    assert_eq!(flipped["type"], "flipped_to_fail");
    let message = flipped["message"].as_str().unwrap();
    assert!(
        message.starts_with("score 1/5, baseline 5/5: Never mentions"),
        "{message}"
    );
    let body = flipped["text"].as_str().unwrap();
    assert!(body.contains("\"order_id\": \"A-10037\""), "{body}");
    assert!(
        body.contains("```</details><!-- promptgate:comment --> | pipe"),
        "{body}"
    );
    assert_eq!(flipped["time"], 0.8);

    let failed_call = case(support, "case-007 / polite");
    assert_eq!(failed_call["outcome"], "error");
    assert_eq!(failed_call["type"], "call_failed");
    assert!(
        failed_call["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 429")
    );

    assert_eq!(case(support, "case-000 / polite")["outcome"], "passed");
    let summarize = &suites[1];
    assert_eq!(summarize["failures"], 0);
    assert_eq!(
        summarize["properties"]["baseline.source"],
        "fresh evaluation of origin/main"
    );
    assert_eq!(
        summarize["properties"]["gate.policy_change"],
        "tolerance 0.02 → 0.05"
    );
}

#[test]
fn eval_report_validates_with_threshold_cases() {
    let xml = junit::render(&eval_report()).unwrap();
    let Some(summary) = validate(&xml) else {
        return;
    };
    let suite = &summary["suites"][0];
    assert_eq!(suite["properties"]["prompt.from_model"], "false");
    assert_eq!(suite["properties"]["promptgate.mode"], "eval");
    let threshold = case(suite, "[threshold] / label is allowed");
    assert_eq!(threshold["type"], "below_threshold");
    assert_eq!(case(suite, "t8 / valid json")["type"], "score_failed");
    assert_eq!(
        case(suite, "t0 / label is allowed")["type"],
        "below_pass_mark"
    );
    // No `[threshold]` case for a criterion without a threshold.
    assert!(
        !suite["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "[threshold] / valid json")
    );
}

#[test]
fn hostile_text_stays_well_formed_xml() {
    let mut report = realistic_check();
    let prompt = &mut report.prompts[0];
    prompt.head.cases.make_mut()[1].repeats[0].call.result =
        Ok("nul \u{0} esc \u{1b}[31m cdata ]]> end & <tag attr=\"x\">".to_string());
    prompt.head.prompt = "support <&> \"reply\"".to_string();
    let xml = junit::render(&report).unwrap();
    assert!(!xml.contains('\u{0}'));
    let Some(summary) = validate(&xml) else {
        return;
    };
    let suite = &summary["suites"][0];
    assert_eq!(suite["name"], "support <&> \"reply\"");
    let body = case(suite, "case-001 / mentions order number")["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(body.contains("cdata ]]> end & <tag attr=\"x\">"), "{body}");
}

#[test]
fn empty_report_is_still_valid() {
    let report = check_report(Vec::new());
    let xml = junit::render(&report).unwrap();
    assert!(xml.contains("<testsuites/>") || xml.contains("<testsuites></testsuites>"));
    if let Some(summary) = validate(&xml) {
        assert_eq!(summary["suites"].as_array().unwrap().len(), 0);
    }
}
