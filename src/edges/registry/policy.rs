//! The promotion policy: which rules a label move must satisfy. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pipeline::config::PromotionPolicy;
use crate::types::EvalResult;

use super::{Baseline, GateOutcome, LabelTarget};

/// Case count and overall score of a result: the weighted mean over
/// criteria of each case's mean over repeats (a failed call or score is 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResultSummary {
    pub cases: usize,
    /// `None` when there are no cases.
    pub score: Option<f64>,
}

impl ResultSummary {
    pub fn of(result: &EvalResult) -> Self {
        let weights: Vec<f64> = result.criteria.iter().map(|c| c.weight.max(0.0)).collect();
        let total_weight: f64 = weights.iter().sum();
        let case_scores: Vec<f64> = result
            .cases
            .iter()
            .filter(|case| !case.repeats.is_empty())
            .map(|case| {
                let per_criterion = (0..result.criteria.len()).map(|i| {
                    let sum: f64 = case
                        .repeats
                        .iter()
                        .map(|r| {
                            r.scores
                                .get(i)
                                .and_then(|s| s.score.as_ref().ok())
                                .map_or(0.0, |s| s.value)
                        })
                        .sum();
                    sum / case.repeats.len() as f64
                });
                if total_weight > 0.0 {
                    per_criterion.zip(&weights).map(|(s, w)| s * w).sum::<f64>() / total_weight
                } else if result.criteria.is_empty() {
                    // Without criteria only the calls count: a failed call scores 0.
                    case.repeats
                        .iter()
                        .filter(|r| r.call.result.is_ok())
                        .count() as f64
                        / case.repeats.len() as f64
                } else {
                    per_criterion.sum::<f64>() / result.criteria.len() as f64
                }
            })
            .collect();
        let score = (!case_scores.is_empty())
            .then(|| case_scores.iter().sum::<f64>() / case_scores.len() as f64);
        ResultSummary {
            cases: case_scores.len(),
            score,
        }
    }
}

/// One rule of the promotion policy that a promotion broke (in JSON,
/// tagged by `rule`: what the server answers when it refuses a promotion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PolicyRule {
    /// The target label is not one of the configured environments.
    NotAnEnvironment {
        label: String,
        environments: Vec<String>,
    },
    /// Environments go in order: the version must be on the one before.
    SkipsEnvironment {
        required: String,
        current: Option<LabelTarget>,
    },
    /// The version has no baseline result to judge it by.
    NoResult,
    TooFewCases {
        have: usize,
        need: u32,
    },
    ScoreTooLow {
        have: Option<f64>,
        need: f64,
    },
    GateNotPassed {
        gate: GateOutcome,
    },
}

impl std::fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyRule::NotAnEnvironment {
                label,
                environments,
            } => write!(
                f,
                "environments: `{label}` is not one of the environments in promptgate.toml ({})",
                if environments.is_empty() {
                    "none configured".to_string()
                } else {
                    environments.join(" → ")
                }
            ),
            PolicyRule::SkipsEnvironment { required, current } => write!(
                f,
                "environments order: the version must be on `{required}` first ({required} points to {})",
                current
                    .as_ref()
                    .map_or("nothing".to_string(), |t| t.to_string())
            ),
            PolicyRule::NoResult => {
                write!(
                    f,
                    "promotion: the version has no recorded result; publish it with its evaluation first"
                )
            }
            PolicyRule::TooFewCases { have, need } => {
                write!(
                    f,
                    "promotion.min_cases: its result has {have} cases, the policy needs {need}"
                )
            }
            PolicyRule::ScoreTooLow { have, need } => write!(
                f,
                "promotion.min_score: its score is {}, the policy needs {need:.3}",
                have.map_or("unknown (no cases)".to_string(), |s| format!("{s:.3}"))
            ),
            PolicyRule::GateNotPassed { gate } => write!(
                f,
                "promotion.require_gate_passed: its gate {}",
                match gate {
                    GateOutcome::Failed => "failed",
                    GateOutcome::NotRun => "never ran",
                    GateOutcome::Passed => "passed",
                }
            ),
        }
    }
}

/// A promotion the policy refused, with every rule it broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error(
    "promotion of {prompt} v{version} to `{to}` refused:\n{}\n  pass --force --reason \"…\" to override (recorded as forced)",
    rules.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n")
)]
pub struct PromotionRefused {
    pub prompt: String,
    pub version: u32,
    pub to: String,
    pub rules: Vec<PolicyRule>,
}

/// Checks a promotion of `version` to the environment `to` against the
/// policy, given the prompt's labels now and the version's baseline.
pub fn check_promotion(
    prompt: &str,
    version: u32,
    to: &str,
    environments: &[String],
    policy: &PromotionPolicy,
    labels: &BTreeMap<String, LabelTarget>,
    baseline: Option<&Baseline>,
) -> Result<(), PromotionRefused> {
    let mut rules = Vec::new();
    match environments.iter().position(|env| env == to) {
        None => rules.push(PolicyRule::NotAnEnvironment {
            label: to.to_string(),
            environments: environments.to_vec(),
        }),
        Some(0) => {}
        Some(index) => {
            let required = &environments[index - 1];
            let current = labels.get(required);
            if !current.is_some_and(|target| target.contains(version)) {
                rules.push(PolicyRule::SkipsEnvironment {
                    required: required.clone(),
                    current: current.cloned(),
                });
            }
        }
    }
    let needs_result =
        policy.min_cases > 0 || policy.min_score.is_some() || policy.require_gate_passed;
    match baseline {
        None if needs_result => rules.push(PolicyRule::NoResult),
        None => {}
        Some(baseline) => {
            let summary = ResultSummary::of(&baseline.result);
            if summary.cases < policy.min_cases as usize {
                rules.push(PolicyRule::TooFewCases {
                    have: summary.cases,
                    need: policy.min_cases,
                });
            }
            if let Some(need) = policy.min_score
                && summary.score.is_none_or(|score| score < need)
            {
                rules.push(PolicyRule::ScoreTooLow {
                    have: summary.score,
                    need,
                });
            }
            if policy.require_gate_passed && baseline.gate != GateOutcome::Passed {
                rules.push(PolicyRule::GateNotPassed {
                    gate: baseline.gate,
                });
            }
        }
    }
    if rules.is_empty() {
        Ok(())
    } else {
        Err(PromotionRefused {
            prompt: prompt.to_string(),
            version,
            to: to.to_string(),
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        CallOutcome, CaseResult, CriterionInfo, CriterionScore, Fingerprint, RepeatResult, Score,
        Usage, VersionId,
    };

    fn criterion(name: &str, weight: f64) -> CriterionInfo {
        CriterionInfo {
            name: name.into(),
            kind: "regex".into(),
            weight,
            threshold: None,
            binary: true,
            line: None,
        }
    }

    fn repeat(scores: &[Result<f64, &str>]) -> RepeatResult {
        RepeatResult {
            call: CallOutcome {
                result: Ok("out".into()),
                usage: Usage {
                    input_tokens: 1,
                    output_tokens: 1,
                },
                latency_ms: 1,
                cost_usd: None,
                cached: false,
            },
            scores: scores
                .iter()
                .map(|s| CriterionScore {
                    score: s
                        .map(|value| Score {
                            value,
                            reason: String::new(),
                            display: None,
                        })
                        .map_err(str::to_string),
                })
                .collect(),
        }
    }

    fn result(criteria: Vec<CriterionInfo>, cases: Vec<Vec<RepeatResult>>) -> EvalResult {
        EvalResult {
            prompt: "p".into(),
            version: VersionId("v".into()),
            fingerprint: Fingerprint("f".into()),
            model: "m".into(),
            from_model: true,
            criteria,
            cases: cases
                .into_iter()
                .enumerate()
                .map(|(i, repeats)| CaseResult {
                    case_id: i.to_string(),
                    vars: Default::default(),
                    repeats,
                })
                .collect(),
            created_at: String::new(),
        }
    }

    #[test]
    fn the_score_weights_criteria_averages_repeats_and_counts_errors_as_zero() {
        let summary = ResultSummary::of(&result(
            vec![criterion("a", 3.0), criterion("b", 1.0)],
            vec![
                // a: (1 + 0) / 2 = 0.5, b: 1 → (0.5·3 + 1·1) / 4 = 0.625
                vec![
                    repeat(&[Ok(1.0), Ok(1.0)]),
                    repeat(&[Err("judge failed"), Ok(1.0)]),
                ],
                // a: 1, b: 0 → 0.75
                vec![repeat(&[Ok(1.0), Ok(0.0)])],
            ],
        ));
        assert_eq!(summary.cases, 2);
        assert!(
            (summary.score.unwrap() - 0.6875).abs() < 1e-12,
            "{summary:?}"
        );
        assert_eq!(
            ResultSummary::of(&result(vec![criterion("a", 1.0)], vec![])).score,
            None
        );
    }

    #[test]
    fn the_first_environment_needs_no_predecessor() {
        let policy = PromotionPolicy {
            min_cases: 0,
            min_score: None,
            require_gate_passed: false,
        };
        let envs = vec!["staging".to_string(), "production".to_string()];
        let labels = BTreeMap::from([(
            "staging".to_string(),
            LabelTarget::parse("v1:50,v2:50").unwrap(),
        )]);
        assert_eq!(
            check_promotion("p", 3, "staging", &envs, &policy, &labels, None),
            Ok(())
        );
        // An arm of a split on staging counts as being on staging.
        assert_eq!(
            check_promotion("p", 2, "production", &envs, &policy, &labels, None),
            Ok(())
        );
        let refused =
            check_promotion("p", 3, "production", &envs, &policy, &labels, None).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("staging points to {v1: 50, v2: 50}"),
            "{refused}"
        );
        let strict = PromotionPolicy {
            require_gate_passed: true,
            ..policy
        };
        let refused =
            check_promotion("p", 3, "staging", &envs, &strict, &labels, None).unwrap_err();
        assert_eq!(refused.rules, vec![PolicyRule::NoResult]);
    }
}
