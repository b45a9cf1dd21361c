//! The reviewers' lines in the reports: a judge's agreement under its
//! criterion (flagged when below the floor beyond doubt) and a corrected
//! criterion's correction, in the PR comment and the terminal report.

mod report_fixtures;

use promptgate::flows::review::attach_agreement;
use promptgate::pipeline::gate::JudgeCorrection;
use promptgate::pipeline::report::{markdown, terminal};
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

#[test]
fn a_judge_that_disagrees_with_reviewers_is_flagged_in_the_comment() {
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
    let report = check_report(vec![prompt]);

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
