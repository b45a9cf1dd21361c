//! `promptgate review`, run as the real binary with a scripted session
//! piped into stdin: outputs shown before the judge's score, labels kept in
//! the local store or the configured registry, agreement printed, bad input
//! refused with exit code 2.

use std::path::Path;

use assert_cmd::Command;
use promptgate::edges::registry::open;
use promptgate::edges::store::{LocalLabels, ResultStore};
use promptgate::pipeline::review::HumanScore;
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint, RepeatResult,
    Score, Usage, VersionId,
};

fn criterion(name: &str, kind: &str) -> CriterionInfo {
    CriterionInfo {
        name: name.into(),
        kind: kind.into(),
        weight: 1.0,
        threshold: None,
        binary: kind != "judge",
        line: None,
    }
}

/// Six answers: the judge gives the first four 5/5 and the last two 1/5;
/// a regex criterion (not judged) scores them too.
fn stored_result(output: impl Fn(usize) -> String) -> EvalResult {
    let score = |value: f64, display: Option<&str>| CriterionScore {
        score: Ok(Score {
            value,
            reason: format!("judged {value}"),
            display: display.map(str::to_owned),
        }),
    };
    EvalResult {
        prompt: "support-bot".into(),
        version: VersionId("ab12".into()),
        fingerprint: Fingerprint("cafe01".into()),
        model: "openai/gpt-4o-mini".into(),
        from_model: true,
        criteria: vec![criterion("helpful", "judge"), criterion("polite", "regex")],
        cases: (0..6)
            .map(|i| CaseResult {
                case_id: format!("c{i}"),
                vars: serde_json::Map::from_iter([(
                    "question".to_owned(),
                    format!("question {i}").into(),
                )]),
                repeats: vec![RepeatResult {
                    call: CallOutcome {
                        result: Ok(output(i)),
                        usage: Usage {
                            input_tokens: 10,
                            output_tokens: 5,
                        },
                        latency_ms: 1,
                        cost_usd: None,
                        cached: false,
                    },
                    scores: vec![
                        if i < 4 {
                            score(1.0, Some("5/5"))
                        } else {
                            score(0.0, Some("1/5"))
                        },
                        score(1.0, None),
                    ],
                }],
            })
            .collect(),
        created_at: "2026-12-01T00:00:00Z".into(),
    }
}

fn repo(config: &str, output: impl Fn(usize) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "--quiet"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.path().join("promptgate.toml"), config).unwrap();
    ResultStore::new(&dir.path().join(".promptgate"))
        .save(&stored_result(output))
        .unwrap();
    dir
}

fn answer(i: usize) -> String {
    format!("answer number {i}")
}

fn review(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let output = Command::cargo_bin("promptgate")
        .unwrap()
        .arg("-C")
        .arg(dir)
        .arg("review")
        .args(args)
        .env_remove("PROMPTGATE_REGISTRY")
        .env_remove("PROMPTGATE_REVIEWER")
        .write_stdin(stdin)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_scripted_session_labels_blind_and_keeps_labels_in_the_local_store() {
    let dir = repo("", answer);
    // First: an answer it cannot read, then pass without a note; then
    // fail with a note; then skip.
    let script = "maybe\npass\n\nfail\ntoo vague\ns\n";
    let (code, out, err) = review(dir.path(), &["--count", "3", "--reviewer", "Ada"], script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("`maybe` is not pass, fail"), "{out}");
    assert!(out.contains("2 labelled, 1 skipped"), "{out}");
    // Only the judged criterion is offered, three outputs of it.
    assert!(out.contains("1 of 3 · support-bot · helpful"), "{out}");
    assert!(!out.contains("polite"), "{out}");
    // Each output is shown, and asked about, before the judge's score.
    let shown = out.find("answer number").unwrap();
    let asked = out.find("helpful: pass, fail or a grade 1-5").unwrap();
    let revealed = out.find("the judge said").unwrap();
    assert!(shown < asked && asked < revealed, "{out}");
    assert!(out.contains("question: question"), "{out}");

    let labels = LocalLabels::new(&dir.path().join(".promptgate"))
        .all()
        .unwrap();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.iter().all(|l| l.reviewer == "Ada"));
    assert!(labels.iter().all(|l| l.output.criterion == "helpful"));
    let humans: Vec<_> = labels.iter().map(|l| (l.human, l.note.clone())).collect();
    assert!(humans.contains(&(HumanScore::Pass, None)), "{humans:?}");
    assert!(
        humans.contains(&(HumanScore::Fail, Some("too vague".into()))),
        "{humans:?}"
    );
    // The judge's score at the time is kept with each label.
    for label in &labels {
        let case: usize = label.output.case_id[1..].parse().unwrap();
        assert_eq!(label.judge_score, if case < 4 { 1.0 } else { 0.0 });
    }

    // Labelled outputs are not offered again: 4 are left.
    let (code, out, _) = review(dir.path(), &["--count", "10"], "q\n");
    assert_eq!(code, 0);
    assert!(out.contains("1 of 4 ·"), "{out}");
    for label in &labels {
        assert!(
            !out.contains(&format!("case {} (repeat 1)", label.output.case_id)),
            "{out}"
        );
    }

    // Too few labels for a rate: how many more instead.
    let (code, out, _) = review(dir.path(), &["--agreement"], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("support-bot / helpful: 2 reviewer labels: 28 more needed"),
        "{out}"
    );
}

#[test]
fn labels_go_to_the_registry_when_one_is_configured() {
    let dir = repo("registry = \"sqlite://.promptgate/registry.db\"\n", answer);
    let (code, out, err) = review(dir.path(), &["--count", "1", "--reviewer", "Bo"], "2\n\n");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 labelled, 0 skipped"), "{out}");
    assert!(!dir.path().join(".promptgate/reviews").exists());
    let labels = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let registry = open("sqlite://.promptgate/registry.db", dir.path())
            .await
            .unwrap();
        registry.review_labels(None).await.unwrap()
    });
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].human, HumanScore::Grade(2));
    assert_eq!(labels[0].reviewer, "Bo");
}

#[test]
fn model_output_cannot_drive_the_terminal() {
    let dir = repo("", |i| {
        format!("line {i}\u{1b}]0;owned\u{7}\u{1b}[2J\nsecond line")
    });
    let (code, out, _) = review(dir.path(), &["--count", "1"], "q\n");
    assert_eq!(code, 0);
    assert!(out.contains("second line"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let dir = repo("", answer);
    let (code, _, err) = review(dir.path(), &["--count", "0"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--count 0"), "{err}");

    let dir = repo("[review]\nmin_agreement = 2\n", answer);
    let (code, _, err) = review(dir.path(), &["--agreement"], "");
    assert_eq!(code, 2);
    assert!(err.contains("promptgate.toml:2"), "{err}");
    assert!(err.contains("review.min_agreement"), "{err}");
}
