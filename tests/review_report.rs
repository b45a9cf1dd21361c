//! The reviewers' lines in the reports: a judge's agreement under its
//! criterion (flagged when below the floor beyond doubt) and a corrected
//! criterion's correction, in the PR comment and the terminal report.

mod report_fixtures;

use promptgate::flows::review::attach_agreement;
use promptgate::pipeline::gate::JudgeCorrection;
use promptgate::pipeline::report::{CheckReport, html, json, junit, markdown, terminal};
use promptgate::pipeline::review::{Agreement, ConfusionTable};
use report_fixtures::*;

fn table(both_pass: u64, missed: u64, false_pass: u64, both_fail: u64) -> ConfusionTable {
    ConfusionTable {
        both_pass,
        judge_failed_a_pass: missed,
        judge_passed_a_fail: false_pass,
        both_fail,
    }
}

/// The support prompt with reviewers' labels on its first two criteria:
/// the first judge disagrees with them, the second agrees and corrects.
/// (report, flagged criterion, fine criterion)
fn reviewed_report() -> (CheckReport, String, String) {
    let mut prompt = support_prompt(20, false);
    let name = prompt.head.prompt.clone();
    let gate = prompt.gate.as_mut().unwrap();
    let flagged = gate.criteria[0].criterion.clone();
    let fine = gate.criteria[1].criterion.clone();
    attach_agreement(
        gate,
        &[
            Agreement::of(&name, &flagged, table(20, 10, 9, 10), 0.8),
            Agreement::of(&name, &fine, table(28, 2, 2, 18), 0.8),
            // Another prompt's criterion of the same name is not this one.
            Agreement::of("other", &fine, table(2, 20, 20, 2), 0.8),
        ],
    );
    gate.criteria[1].judge_correction = Some(JudgeCorrection {
        judged_delta: -0.03,
        labels: 200,
        sensitivity: Some(0.85),
        specificity: Some(0.75),
        youden: Some(0.6),
        youden_range: (0.36, 0.79),
    });
    gate.criteria[1].delta = Some(-0.05);
    (check_report(vec![prompt]), flagged, fine)
}

#[test]
fn a_judge_that_disagrees_with_reviewers_is_flagged_in_the_comment() {
    let (report, flagged, fine) = reviewed_report();

    // Brackets reach the comment as entities (they render as brackets).
    let comment = markdown::render_comment(&report)
        .unwrap()
        .replace("&#91;", "[")
        .replace("&#93;", "]");
    let flag = format!(
        "⚠️ {flagged}: the judge agrees with reviewers 61% [46%, 75%] of the time (49 labels;"
    );
    assert!(comment.contains(&flag), "{comment}");
    assert!(
        comment.contains("below the 80% agreement floor"),
        "{comment}"
    );
    assert!(
        comment.contains(&format!(
            "🧑‍⚖️ {fine}: the judge agrees with reviewers 92% [81%, 98%] of the time"
        )),
        "{comment}"
    );
    assert!(
        comment.contains("judged difference -0.030, corrected -0.050 (sensitivity 0.85, specificity 0.75 from 200 reviewer labels; Youden's J taken in [0.36, 0.79])"),
        "{comment}"
    );
    // Exactly the two agreement lines: the other prompt's is not shown.
    assert_eq!(
        comment.matches("the judge agrees with reviewers").count(),
        2
    );

    let plain = terminal::render(&report, false);
    assert!(
        plain.contains("agrees with reviewers 61% [46%, 75%]"),
        "{plain}"
    );
    assert!(plain.contains("below the 80% agreement floor"), "{plain}");
}

#[test]
fn agreement_and_correction_reach_the_json_junit_and_html_reports() {
    let (report, flagged, fine) = reviewed_report();

    // JSON: the numbers, for machines.
    let parsed: serde_json::Value = serde_json::from_str(&json::render(&report).unwrap()).unwrap();
    let criteria = parsed["prompts"][0]["criteria"].as_array().unwrap();
    let named = |name: &str| {
        criteria
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no criterion {name} in {criteria:?}"))
    };
    let bad = &named(&flagged)["judge_agreement"];
    assert_eq!(bad["labels"], 49);
    assert_eq!(bad["flagged"], true);
    assert_eq!(bad["both_pass"], 20);
    assert_eq!(bad["judge_failed_a_pass"], 10);
    let accuracy = bad["accuracy"]["value"].as_f64().unwrap();
    assert!((accuracy - 30.0 / 49.0).abs() < 1e-9, "{bad}");
    assert!(bad["accuracy"]["high"].as_f64().unwrap() < 0.8, "{bad}");
    assert!(named(&flagged).get("judge_correction").is_none());
    let good = named(&fine);
    assert_eq!(good["judge_agreement"]["flagged"], false);
    assert_eq!(good["judge_correction"]["labels"], 200);
    assert_eq!(good["judge_correction"]["judged_delta"], -0.03);
    assert_eq!(good["judge_correction"]["youden_low"], 0.36);
    // A criterion without labels carries neither key.
    let unlabelled = criteria
        .iter()
        .find(|c| c["name"] != flagged.as_str() && c["name"] != fine.as_str())
        .expect("a third criterion");
    assert!(unlabelled.get("judge_agreement").is_none(), "{unlabelled}");
    // The committed schema describes what was written.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&parsed)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // JUnit: under the criterion's gate testcase, and in the suite's summary.
    let xml = junit::render(&report).unwrap();
    // The testcase element of a criterion's gate decision, as written.
    let gate_case = |criterion: &str| {
        let at = xml
            .find(&format!("name=\"[gate] / {criterion}\""))
            .unwrap_or_else(|| panic!("no gate testcase for {criterion}: {xml}"));
        let end = at + xml[at..].find("</testcase>").expect("a closed testcase");
        xml[at..end].to_owned()
    };
    let bad_out = gate_case(&flagged);
    assert!(
        bad_out.contains(&format!(
            "WARNING judge: {flagged}: the judge agrees with reviewers 61% [46%, 75%]"
        )),
        "{bad_out}"
    );
    let good_out = gate_case(&fine);
    assert!(
        good_out.contains(&format!("judge: {fine}: the judge agrees")),
        "{good_out}"
    );
    assert!(good_out.contains("corrected -0.050"), "{good_out}");
    // The flagged line twice: under its testcase and in the suite's summary.
    assert_eq!(xml.matches("WARNING judge:").count(), 2, "{xml}");

    // HTML: a list under the table, the flagged judge marked.
    let page = html::render(&report).unwrap();
    assert!(
        page.contains(&format!(
            "<li class=\"flagged\"><strong>Judge flagged:</strong> {flagged}: the judge agrees with reviewers 61% [46%, 75%]"
        )),
        "{page}"
    );
    assert!(page.contains(&format!("<li>{fine}: the judge agrees with reviewers 92%")));
}
