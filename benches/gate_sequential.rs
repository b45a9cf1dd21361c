//! Sequential gating: the share of provider calls saved by stopping once
//! every criterion is decided, and the error rates under that optional
//! stopping. Not a timed benchmark: it prints shares and rates.
//!
//!     cargo bench --profile dev --bench gate_sequential
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a smoke
//! run of 10 trials per scenario; the figures are for the full run only.
//!
//! Each trial simulates a suite of `CASES` cases (head and baseline), feeds
//! them in a seeded order, `BATCH` at a time, to the anytime-valid tests,
//! and stops at the first batch after which the prompt is settled, exactly
//! as a check does (`gate_support::sequential_check`). A suite that never
//! settles early gets the fixed-n gate on all its cases, at the level the
//! sequential tests left. The verdict that counts is whichever decided.

#[path = "../tests/gate_support/mod.rs"]
mod gate_support;

use gate_support::{Rng, binary_criterion, case, criterion, result, sequential_check};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::gate::Verdict;
use promptgate::types::EvalResult;

const CASES: usize = 500;
const BATCH: usize = 20;
const TRIALS: u64 = 200;
const SMOKE_TRIALS: u64 = 10;
const TOLERANCE: f64 = 0.02;

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    /// True mean change of a rubric criterion (sparse: a share of cases
    /// moves one rubric point).
    change: f64,
    /// Pass/fail instead of a rubric.
    pass_fail: bool,
    /// Judge noise: the share of repeats one rubric point off.
    noise: f64,
}

fn simulate(s: &Scenario, seed: u64) -> (EvalResult, EvalResult) {
    let mut rng = Rng::new(seed);
    let step = 0.25;
    let share = (s.change.abs() / step).min(1.0);
    let sign = s.change.signum();
    let mut head = Vec::with_capacity(CASES);
    let mut base = Vec::with_capacity(CASES);
    for i in 0..CASES {
        let (b, h) = if s.pass_fail {
            let u = rng.unit();
            let lost = 0.005 + (-s.change).max(0.0);
            if u < lost {
                (1.0, 0.0)
            } else if u < lost + 0.005 {
                (0.0, 1.0)
            } else if u < 0.9 {
                (1.0, 1.0)
            } else {
                (0.0, 0.0)
            }
        } else {
            let b = if rng.unit() < 0.5 { 0.5 } else { 0.75 };
            (
                b,
                if rng.unit() < share {
                    b + sign * step
                } else {
                    b
                },
            )
        };
        let mut noisy = |score: f64| {
            if rng.unit() < s.noise {
                score + if rng.unit() < 0.5 { -step } else { step }
            } else {
                score
            }
        };
        let (b, h) = (noisy(b), noisy(h));
        base.push(case(format!("case-{i}"), vec![vec![Some(b)]]));
        head.push(case(format!("case-{i}"), vec![vec![Some(h)]]));
    }
    let info = if s.pass_fail {
        binary_criterion("check")
    } else {
        criterion("rubric")
    };
    (
        result("p", &format!("head-{seed}"), vec![info.clone()], head),
        result("p", &format!("base-{seed}"), vec![info], base),
    )
}

struct Outcome {
    cases_run: usize,
    verdict: Verdict,
}

fn run_trial(s: &Scenario, seed: u64, policy: &GatePolicy) -> Outcome {
    let (head, base) = simulate(s, seed);
    let (verdicts, cases_run) = sequential_check(&head, &base, policy, BATCH);
    Outcome {
        cases_run,
        verdict: verdicts[0],
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let policy = GatePolicy::default();
    let trials = if std::env::args().any(|arg| arg == "--bench") {
        TRIALS
    } else {
        println!(
            "smoke run (no --bench): {SMOKE_TRIALS} trials; the figures are for `cargo bench` only"
        );
        SMOKE_TRIALS
    };
    let scenarios = [
        Scenario {
            name: "clear regression (rubric, −0.10)",
            change: -0.10,
            pass_fail: false,
            noise: 0.2,
        },
        Scenario {
            name: "clear regression (pass/fail, −0.10)",
            change: -0.10,
            pass_fail: true,
            noise: 0.0,
        },
        Scenario {
            name: "clear no-op (rubric, deterministic judge)",
            change: 0.0,
            pass_fail: false,
            noise: 0.0,
        },
        Scenario {
            name: "clear no-op (pass/fail, 1% flaky)",
            change: 0.0,
            pass_fail: true,
            noise: 0.0,
        },
        Scenario {
            name: "no-op (rubric, noisy judge)",
            change: 0.0,
            pass_fail: false,
            noise: 0.2,
        },
        Scenario {
            name: "drop exactly at the tolerance (rubric)",
            change: -TOLERANCE,
            pass_fail: false,
            noise: 0.2,
        },
        Scenario {
            name: "drop exactly at the tolerance (pass/fail)",
            change: -TOLERANCE,
            pass_fail: true,
            noise: 0.0,
        },
    ];
    println!(
        "{CASES} cases, batches of {BATCH}, {trials} trials each, tolerance {TOLERANCE}, confidence {}",
        policy.confidence
    );
    println!(
        "| scenario | median share of calls saved | decided sequentially | regressed | unchanged | improved |"
    );
    println!("|---|---|---|---|---|---|");
    for s in &scenarios {
        let outcomes: Vec<Outcome> = (0..trials)
            .map(|t| run_trial(s, 1_000 + t, &policy))
            .collect();
        let saved = median(
            outcomes
                .iter()
                .map(|o| 1.0 - o.cases_run as f64 / CASES as f64)
                .collect(),
        );
        let share = |f: &dyn Fn(&Outcome) -> bool| {
            100.0 * outcomes.iter().filter(|o| f(o)).count() as f64 / trials as f64
        };
        println!(
            "| {} | {:.0}% | {:.0}% | {:.1}% | {:.1}% | {:.1}% |",
            s.name,
            saved * 100.0,
            share(&|o| o.cases_run < CASES),
            share(&|o| o.verdict == Verdict::Regressed),
            share(&|o| o.verdict == Verdict::Unchanged),
            share(&|o| o.verdict == Verdict::Improved),
        );
    }
}
