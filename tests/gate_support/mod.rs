//! Builders for the gate's input (`store::EvalResult`) shared by the gate
//! tests, and the seeded simulated judge the calibration tests use.

#![allow(dead_code)] // each test file uses its own share of these

use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint, RepeatResult,
    Score, Usage, VersionId,
};

pub fn criterion(name: &str) -> CriterionInfo {
    CriterionInfo {
        name: name.to_owned(),
        kind: "judge".to_owned(),
        weight: 1.0,
        threshold: None,
        binary: false,
        line: None,
    }
}

pub fn binary_criterion(name: &str) -> CriterionInfo {
    CriterionInfo {
        binary: true,
        kind: "regex".to_owned(),
        ..criterion(name)
    }
}

/// One case: per repeat, per criterion, a score or `None` for an error.
pub struct Case {
    pub id: String,
    pub repeats: Vec<Vec<Option<f64>>>,
    /// The dataset's `group` column, when the case has one.
    pub group: Option<String>,
}

pub fn case(id: impl Into<String>, repeats: Vec<Vec<Option<f64>>>) -> Case {
    Case {
        id: id.into(),
        repeats,
        group: None,
    }
}

fn repeat(scores: &[Option<f64>]) -> RepeatResult {
    RepeatResult {
        call: CallOutcome {
            result: Ok("reply".to_owned()),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
            latency_ms: 1,
            cost_usd: None,
            cached: false,
        },
        scores: scores
            .iter()
            .map(|s| CriterionScore {
                score: match s {
                    Some(value) => Ok(Score {
                        value: *value,
                        reason: "simulated".to_owned(),
                        display: None,
                    }),
                    None => Err("judge reply was not a score".to_owned()),
                },
            })
            .collect(),
    }
}

pub fn result(
    prompt: &str,
    fingerprint: &str,
    criteria: Vec<CriterionInfo>,
    cases: Vec<Case>,
) -> EvalResult {
    EvalResult {
        prompt: prompt.to_owned(),
        version: VersionId(format!("v-{fingerprint}")),
        fingerprint: Fingerprint(fingerprint.to_owned()),
        model: "test/model".to_owned(),
        from_model: true,
        criteria,
        cases: cases
            .into_iter()
            .map(|c| CaseResult {
                case_id: c.id,
                vars: c
                    .group
                    .map(|g| serde_json::Map::from_iter([("group".to_owned(), g.into())]))
                    .unwrap_or_default(),
                repeats: c.repeats.iter().map(|r| repeat(r)).collect(),
            })
            .collect(),
        created_at: "2025-01-01T00:00:00Z".to_owned(),
    }
}

/// A one-criterion, one-repeat result with cases `c0`, `c1`, …
pub fn scores(prompt: &str, fingerprint: &str, info: CriterionInfo, values: &[f64]) -> EvalResult {
    let cases = values
        .iter()
        .enumerate()
        .map(|(i, v)| case(format!("c{i}"), vec![vec![Some(*v)]]))
        .collect();
    result(prompt, fingerprint, vec![info], cases)
}

/// SplitMix64: a tiny seeded generator so the simulation needs nothing
/// beyond the standard library and is identical on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A noisy 1–5 rubric judge: it gives the true grade, except that with
/// probability `noise` it is one point off (up or down, equally likely,
/// kept within 1–5). Returns the score on the 0–1 scale, (n − 1) / 4.
pub fn judge(rng: &mut Rng, true_grade: u8, noise: f64) -> f64 {
    let mut grade = i32::from(true_grade);
    if rng.unit() < noise {
        grade += if rng.unit() < 0.5 { -1 } else { 1 };
    }
    (f64::from(grade.clamp(1, 5)) - 1.0) / 4.0
}

/// True grades of a realistic suite: mostly good answers (3–5), a few poor.
pub fn true_grades(rng: &mut Rng, cases: usize) -> Vec<u8> {
    (0..cases)
        .map(|_| match rng.unit() {
            u if u < 0.05 => 1,
            u if u < 0.15 => 2,
            u if u < 0.35 => 3,
            u if u < 0.70 => 4,
            _ => 5,
        })
        .collect()
}

/// The check's sequential procedure run on complete results, as the engine
/// runs it on a live suite: cases in the seeded order, a look after every
/// `batch`, a stop once the prompt is settled, then the gate with the
/// sequential outcome. The verdicts the check would report, and how many
/// cases it ran.
pub fn sequential_check(
    head: &EvalResult,
    baseline: &EvalResult,
    policy: &promptgate::pipeline::config::GatePolicy,
    batch: usize,
) -> (Vec<promptgate::pipeline::gate::Verdict>, usize) {
    use promptgate::pipeline::gate::sequential::{
        BaselineScores, Savings, Sequential, SequentialOutcome, case_order,
    };
    use promptgate::pipeline::gate::{GateInput, gate_one};

    let criteria = head.criteria.len();
    let head_cases = head.cases.to_vec();
    let scores = BaselineScores::new(baseline, &head.criteria);
    let mut tests = Sequential::new(criteria, criteria, policy.tolerance, policy.confidence);
    let fails = vec![policy.fail_on != promptgate::types::FailOn::Never; criteria];
    let order = case_order(head.cases.len(), &head.fingerprint.0, &|_| false);
    let mut ran = Vec::new();
    for chunk in order.chunks(batch.max(1)) {
        if tests.settled(&fails) {
            break;
        }
        for &i in chunk {
            tests.observe(&scores.deltas(&head_cases[i], criteria));
            ran.push(i);
        }
    }
    let stopped = ran.len() < head.cases.len();
    ran.sort_unstable();
    let mut evaluated = head.clone();
    evaluated.cases = ran.iter().map(|&i| head_cases[i].clone()).collect();
    let outcome = SequentialOutcome {
        verdicts: tests.verdicts(),
        stopped: stopped.then(Savings::default),
    };
    let gate = gate_one(GateInput {
        head: &evaluated,
        baseline: Some(baseline),
        policy,
        overrides: &promptgate::types::GateOverrides::default(),
        sequential: Some(&outcome),
    });
    (gate.criteria.iter().map(|c| c.verdict).collect(), ran.len())
}
