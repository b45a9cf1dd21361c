//! Realistic report inputs built by hand: results with judges, regexes and
//! failed calls, and gates whose numbers are computed from those results.
#![allow(dead_code)] // each test file uses a different part

use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::gate::{CaseMove, CriterionGate, PromptGate, Verdict};
use promptgate::pipeline::report::{
    BaselineSource, CheckReport, PromptReport, ReportMode, RunTotals,
};
use promptgate::types::{
    CallOutcome, CallStats, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    RepeatResult, Score, Usage, VersionId,
};
use serde_json::json;

/// One criterion's score for one output, or why there is none.
#[derive(Clone)]
pub enum S {
    /// A judge's 1–5 with its reason.
    Judge(u8, &'static str),
    /// Pass/fail (1 or 0) with a reason.
    Pass(&'static str),
    Fail(&'static str),
    Value(f64),
    Error(&'static str),
}

impl S {
    fn score(&self) -> CriterionScore {
        let score = match self {
            S::Judge(n, reason) => Ok(Score {
                value: (f64::from(*n) - 1.0) / 4.0,
                reason: (*reason).to_string(),
                display: Some(format!("{n}/5")),
            }),
            S::Pass(reason) => Ok(Score {
                value: 1.0,
                reason: (*reason).to_string(),
                display: None,
            }),
            S::Fail(reason) => Ok(Score {
                value: 0.0,
                reason: (*reason).to_string(),
                display: None,
            }),
            S::Value(v) => Ok(Score {
                value: *v,
                reason: String::new(),
                display: None,
            }),
            S::Error(e) => Err((*e).to_string()),
        };
        CriterionScore { score }
    }
}

pub struct ResultBuilder {
    result: EvalResult,
}

impl ResultBuilder {
    pub fn new(prompt: &str, version: &str) -> ResultBuilder {
        ResultBuilder {
            result: EvalResult {
                prompt: prompt.to_string(),
                version: VersionId(version.to_string()),
                fingerprint: Fingerprint(format!("fp-{version}")),
                model: "openai/gpt-4o-mini".to_string(),
                from_model: true,
                criteria: Vec::new(),
                cases: Default::default(),
                created_at: "2025-03-01T12:00:00Z".to_string(),
            },
        }
    }

    pub fn echo(mut self) -> ResultBuilder {
        self.result.from_model = false;
        self.result.model = "echo".to_string();
        self
    }

    pub fn criterion(mut self, name: &str, kind: &str, threshold: Option<f64>) -> ResultBuilder {
        let line = 20 + self.result.criteria.len() as u32 * 4;
        self.result.criteria.push(CriterionInfo {
            name: name.to_string(),
            kind: kind.to_string(),
            weight: 1.0,
            threshold,
            binary: kind != "judge",
            line: Some(line),
        });
        self
    }

    /// A case with one repeat.
    pub fn case(
        self,
        id: &str,
        vars: serde_json::Value,
        output: &str,
        scores: &[S],
    ) -> ResultBuilder {
        self.case_repeats(id, vars, &[(Ok(output.to_string()), scores.to_vec())])
    }

    pub fn failed_call(self, id: &str, vars: serde_json::Value, error: &str) -> ResultBuilder {
        self.case_repeats(id, vars, &[(Err(error.to_string()), Vec::new())])
    }

    pub fn case_repeats(
        mut self,
        id: &str,
        vars: serde_json::Value,
        repeats: &[(Result<String, String>, Vec<S>)],
    ) -> ResultBuilder {
        let serde_json::Value::Object(vars) = vars else {
            panic!("case vars must be a JSON object");
        };
        let repeats = repeats
            .iter()
            .enumerate()
            .map(|(i, (result, scores))| RepeatResult {
                call: CallOutcome {
                    result: result.clone(),
                    usage: Usage {
                        input_tokens: 210,
                        output_tokens: 64,
                    },
                    latency_ms: 800 + 17 * i as u64,
                    cost_usd: Some(0.000_07),
                    cached: i % 2 == 1,
                },
                scores: scores.iter().map(S::score).collect(),
            })
            .collect();
        self.result.cases.make_mut().push(CaseResult {
            case_id: id.to_string(),
            vars,
            repeats,
        });
        self
    }

    pub fn build(self) -> EvalResult {
        self.result
    }
}

/// The per-case mean over repeats of one criterion, when scored.
fn case_mean(result: &EvalResult, case: &CaseResult, criterion: &str) -> Option<f64> {
    let index = result.criteria.iter().position(|c| c.name == criterion)?;
    let values: Vec<f64> = case
        .repeats
        .iter()
        .filter(|r| r.call.result.is_ok())
        .filter_map(|r| r.scores.get(index)?.score.as_ref().ok().map(|s| s.value))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// What the test decides for a criterion (the statistics are the gate's job;
/// here they are given), the rest computed from the results.
pub struct Decision {
    pub verdict: Verdict,
    pub interval: (f64, f64),
    pub mde: f64,
    pub cases_needed: Option<u32>,
}

pub fn criterion_gate(
    head: &EvalResult,
    baseline: &EvalResult,
    criterion: &str,
    decision: Decision,
) -> CriterionGate {
    let mut pairs = Vec::new();
    let mut head_errors = 0;
    let mut baseline_errors = 0;
    for case in &head.cases {
        let h = case_mean(head, &case, criterion);
        let b = baseline
            .cases
            .iter()
            .find(|c| c.case_id == case.case_id)
            .and_then(|c| case_mean(baseline, &c, criterion));
        head_errors += usize::from(h.is_none());
        match (h, b) {
            (Some(h), Some(b)) => pairs.push((case.case_id.clone(), b, h)),
            (_, None) => baseline_errors += 1,
            _ => {}
        }
    }
    let n = pairs.len() as f64;
    let baseline_mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let head_mean = pairs.iter().map(|p| p.2).sum::<f64>() / n;
    let moves = |keep: &dyn Fn(f64, f64) -> bool| {
        let mut list: Vec<CaseMove> = pairs
            .iter()
            .filter(|(_, b, h)| keep(*b, *h))
            .map(|(id, b, h)| CaseMove {
                case_id: id.clone(),
                baseline: *b,
                head: *h,
            })
            .collect();
        list.sort_by(|x, y| (x.head - x.baseline).total_cmp(&(y.head - y.baseline)));
        list
    };
    let threshold = head
        .criteria
        .iter()
        .find(|c| c.name == criterion)
        .and_then(|c| c.threshold);
    let mut largest_drops = moves(&|b, h| h < b);
    largest_drops.truncate(10);
    CriterionGate {
        criterion: criterion.to_string(),
        baseline_mean: Some(baseline_mean),
        head_mean: Some(head_mean),
        delta: Some(head_mean - baseline_mean),
        interval: Some(decision.interval),
        method: "paired bootstrap (10000 resamples), Holm-adjusted".to_string(),
        paired_cases: pairs.len(),
        groups: None,
        head_errors,
        baseline_errors,
        verdict: decision.verdict,
        threshold,
        threshold_met: threshold.map(|t| head_mean >= t),
        min_detectable_effect: Some(decision.mde),
        cases_needed: decision.cases_needed,
        flipped_to_fail: moves(&|b, h| b >= 0.5 && h < 0.5),
        flipped_to_pass: moves(&|b, h| b < 0.5 && h >= 0.5),
        largest_drops,
        head_mean_all: Some(head_mean),
        interval_confidence: Some(0.95),
        p_value: None,
        judge_correction: None,
        judge_agreement: None,
    }
}

const QUESTIONS: [&str; 6] = [
    "Where is my order? It has been a week.",
    "I was charged twice for the same order, please refund one.",
    "Can I change the delivery address?",
    "The parcel arrived damaged — the box was crushed.",
    "Cancel my order please, I ordered the wrong size.",
    "Do you ship to Norway?",
];

fn support_vars(i: usize) -> serde_json::Value {
    json!({
        "customer": format!("Customer {i}"),
        "order_id": format!("A-{:05}", 10_000 + i * 37),
        "question": QUESTIONS[i % QUESTIONS.len()],
    })
}

/// `support-reply`: a prompt edit that stops the reply from quoting the
/// order number (the judge catches it), keeps it polite, and adds one
/// failed call.
pub fn support_results(cases: usize, huge_outputs: bool) -> (EvalResult, EvalResult) {
    let mut base = ResultBuilder::new("support-reply", "3f1c9a7be2d04c11a8e5")
        .criterion("mentions order number", "judge", None)
        .criterion("polite", "regex", None)
        .criterion("tone", "judge", Some(0.6));
    let mut head = ResultBuilder::new("support-reply", "9b2e44d0c1f8a6e35d27")
        .criterion("mentions order number", "judge", None)
        .criterion("polite", "regex", None)
        .criterion("tone", "judge", Some(0.6));
    let padding = if huge_outputs {
        "All of our agents are busy; here is a very long explanation. ".repeat(400)
    } else {
        String::new()
    };
    for i in 0..cases {
        let id = format!("case-{i:03}");
        let vars = support_vars(i);
        let order = vars["order_id"].as_str().unwrap().to_string();
        let base_out = format!(
            "Hi Customer {i}, thanks for reaching out about order {order}. I have checked it and will update you today.{padding}"
        );
        base = base.case(
            &id,
            vars.clone(),
            &base_out,
            &[
                S::Judge(5, "Quotes the order number in the first sentence."),
                S::Pass("matched /thank|sorry/"),
                S::Judge(4, "Warm and direct."),
            ],
        );
        if i == 7 {
            head = head.failed_call(
                &id,
                vars,
                "HTTP 429: rate limited (gave up after 3 retries)",
            );
            continue;
        }
        let drops = i % 4 == 1;
        let head_out = if drops {
            format!(
                "Hello! Thanks for your message. We're looking into it. @support-team ```</details><!-- promptgate:comment --> | pipe{padding}"
            )
        } else {
            format!(
                "Hi Customer {i}, thanks for reaching out about order {order}. I'll update you today.{padding}"
            )
        };
        let order_score = if drops {
            S::Judge(
                1,
                "Never mentions the order number; the customer must ask again.",
            )
        } else {
            S::Judge(5, "Quotes the order number.")
        };
        let tone = match i % 3 {
            0 => S::Judge(4, "Warm and direct."),
            1 => S::Judge(2, "Generic; ignores what the customer asked."),
            _ => S::Judge(5, "Warm, specific, and short."),
        };
        head = head.case(
            &id,
            vars,
            &head_out,
            &[order_score, S::Pass("matched /thank|sorry/"), tone],
        );
    }
    (base.build(), head.build())
}

pub fn support_prompt(cases: usize, huge_outputs: bool) -> PromptReport {
    let (base, head) = support_results(cases, huge_outputs);
    let criteria = vec![
        criterion_gate(
            &head,
            &base,
            "mentions order number",
            Decision {
                verdict: Verdict::Regressed,
                interval: (-0.41, -0.19),
                mde: 0.09,
                cases_needed: None,
            },
        ),
        criterion_gate(
            &head,
            &base,
            "polite",
            Decision {
                verdict: Verdict::Unchanged,
                interval: (0.0, 0.0),
                mde: 0.05,
                cases_needed: None,
            },
        ),
        criterion_gate(
            &head,
            &base,
            "tone",
            Decision {
                verdict: Verdict::Inconclusive,
                interval: (-0.14, 0.03),
                mde: 0.12,
                cases_needed: Some(40),
            },
        ),
    ];
    let mut calls = head.call_stats();
    calls.add(&CallStats {
        made: 12,
        cached: 30,
        failed: 0,
        input_tokens: 9_800,
        output_tokens: 1_200,
        cost_usd: 0.0031,
        unpriced: 0,
    });
    PromptReport {
        gate: Some(PromptGate {
            prompt: "support-reply".to_string(),
            criteria,
            verdict: Verdict::Regressed,
            failed: true,
            calls: Default::default(),
            policy: GatePolicy::default(),
        }),
        head,
        baseline: Some(base),
        baseline_source: Some(BaselineSource::LocalStore),
        path: Some("prompts/support-reply.prompt.yml".to_string()),
        affected_because: vec![
            "prompts/support-reply.prompt.yml changed".to_string(),
            "snippets/tone.md changed".to_string(),
        ],
        prompt_diff_markdown: Some(
            "```diff\n  You are a support agent for Acme.\n- Always quote the order number {{ order_id }}.\n+ Be brief and friendly.\n```\n"
                .to_string(),
        ),
        prompt_diff_terminal: Some(
            "  You are a support agent for Acme.\n\u{1b}[31m- Always quote the order number {{ order_id }}.\u{1b}[0m\n\u{1b}[32m+ Be brief and friendly.\u{1b}[0m"
                .to_string(),
        ),
        policy_change: None,
        calls,
        cases_must_pass: false,
        sequential: None,
    }
}

/// `summarize`: a model switch that improves the summaries; a trusted PR
/// also loosened the tolerance.
pub fn summarize_prompt() -> PromptReport {
    let mut base = ResultBuilder::new("summarize", "77aa01").criterion("faithful", "judge", None);
    let mut head = ResultBuilder::new("summarize", "77aa02").criterion("faithful", "judge", None);
    for i in 0..24 {
        let vars = json!({ "article": format!("Article {i}: the council approved the new bike lanes on Main Street.") });
        base = base.case(
            &format!("doc-{i}"),
            vars.clone(),
            "The council approved bike lanes.",
            &[S::Judge(3, "Right, but drops the street name.")],
        );
        head = head.case(
            &format!("doc-{i}"),
            vars,
            "The council approved new bike lanes on Main Street.",
            &[S::Judge(
                if i % 5 == 0 { 4 } else { 5 },
                "Faithful and complete.",
            )],
        );
    }
    let (base, mut head) = (base.build(), head.build());
    head.model = "openai/gpt-4.1-mini".to_string();
    let criteria = vec![criterion_gate(
        &head,
        &base,
        "faithful",
        Decision {
            verdict: Verdict::Improved,
            interval: (0.38, 0.52),
            mde: 0.06,
            cases_needed: None,
        },
    )];
    PromptReport {
        gate: Some(PromptGate {
            prompt: "summarize".to_string(),
            criteria,
            verdict: Verdict::Improved,
            failed: false,
            calls: Default::default(),
            policy: GatePolicy::default(),
        }),
        calls: head.call_stats(),
        head,
        baseline: Some(base),
        baseline_source: Some(BaselineSource::FreshEvaluation {
            rev: "origin/main".to_string(),
        }),
        path: Some("prompts/summarize.prompt.yml".to_string()),
        affected_because: vec!["promptgate.toml routes its model differently".to_string()],
        prompt_diff_markdown: None,
        prompt_diff_terminal: None,
        policy_change: Some("tolerance 0.02 → 0.05".to_string()),
        cases_must_pass: false,
        sequential: None,
    }
}

pub fn check_report(prompts: Vec<PromptReport>) -> CheckReport {
    let mut calls = CallStats::default();
    for p in &prompts {
        calls.add(&p.calls);
    }
    CheckReport {
        mode: ReportMode::Check,
        prompts,
        totals: RunTotals {
            calls,
            prompts_unaffected: 4,
            elapsed_ms: Some(12_400),
        },
        notes: vec!["Baseline for `summarize` was not stored; it was evaluated from origin/main and stored for next time.".to_string()],
        tool_version: "0.1.0".to_string(),
        generated_at: "2025-03-01T12:34:56Z".to_string(),
    }
}

/// A realistic check: one regression, one improvement.
pub fn realistic_check() -> CheckReport {
    check_report(vec![support_prompt(20, false), summarize_prompt()])
}

/// `promptgate eval` on the echo provider: no comparison.
pub fn eval_report() -> CheckReport {
    let mut head = ResultBuilder::new("classify-ticket", "c0ffee1234567890")
        .echo()
        .criterion("valid json", "json", None)
        .criterion("label is allowed", "regex", Some(0.9));
    for i in 0..8 {
        let vars = json!({ "ticket": format!("Ticket {i}: my | table <b>broke</b>") });
        let label_ok = i % 4 != 0;
        head = head.case(
            &format!("t{i}"),
            vars,
            &format!(
                "{{\"label\": \"{}\"}}",
                if label_ok { "billing" } else { "other" }
            ),
            &[
                S::Pass("parsed as JSON"),
                if label_ok {
                    S::Pass("matched")
                } else {
                    S::Fail("`other` is not an allowed label")
                },
            ],
        );
    }
    head = head.case(
        "t8",
        json!({ "ticket": "Ticket 8" }),
        "not json",
        &[
            S::Error("judge reply was not a score: 'maybe'"),
            S::Fail("no label"),
        ],
    );
    let head = head.build();
    CheckReport {
        mode: ReportMode::Eval,
        prompts: vec![PromptReport {
            gate: None,
            calls: head.call_stats(),
            head,
            baseline: None,
            baseline_source: None,
            path: Some("prompts/classify.prompt.yml".to_string()),
            affected_because: Vec::new(),
            prompt_diff_markdown: None,
            prompt_diff_terminal: None,
            policy_change: None,
            cases_must_pass: false,
            sequential: None,
        }],
        totals: RunTotals::default(),
        notes: Vec::new(),
        tool_version: "0.1.0".to_string(),
        generated_at: "2025-03-01T12:34:56Z".to_string(),
    }
}
