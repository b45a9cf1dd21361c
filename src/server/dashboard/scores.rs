//! A version's scores as the dashboard charts them: per criterion the mean
//! over cases (each case the mean of its repeats; a failed call or score
//! counts 0, as the promotion policy counts it) with a 95 % interval —
//! Wilson's for pass/fail criteria, Student's t otherwise — and the overall
//! score the promotion policy uses. Results never change once stored (they
//! are kept by fingerprint), so summaries are cached by fingerprint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::edges::registry::ResultSummary;
use crate::pipeline::gate::stats::{normal_quantile, t_quantile, wilson};
use crate::types::EvalResult;

const CONFIDENCE: f64 = 0.95;
/// Summaries kept; an entry is a few hundred bytes.
const CACHE_ENTRIES: usize = 100_000;

/// One criterion's mean and interval over a result's cases.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionScore {
    pub name: String,
    /// Scored by an LLM judge (its agreement with reviewers is shown).
    pub judged: bool,
    pub mean: Option<f64>,
    pub interval: Option<(f64, f64)>,
}

/// What the charts need of one result.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    pub cases: usize,
    /// The promotion policy's overall score.
    pub score: Option<f64>,
    pub criteria: Vec<CriterionScore>,
}

impl ScoreSummary {
    pub fn of(result: &EvalResult) -> Self {
        let overall = ResultSummary::of(result);
        let criteria = result
            .criteria
            .iter()
            .enumerate()
            .map(|(index, criterion)| {
                let per_case: Vec<f64> = result
                    .cases
                    .iter()
                    .filter(|case| !case.repeats.is_empty())
                    .map(|case| {
                        let sum: f64 = case
                            .repeats
                            .iter()
                            .map(|repeat| {
                                repeat
                                    .scores
                                    .get(index)
                                    .and_then(|s| s.score.as_ref().ok())
                                    .map_or(0.0, |s| s.value)
                            })
                            .sum();
                        sum / case.repeats.len() as f64
                    })
                    .collect();
                let (mean, interval) = mean_and_interval(&per_case, criterion.binary);
                CriterionScore {
                    name: criterion.name.clone(),
                    judged: crate::pipeline::review::is_judged(&criterion.kind),
                    mean,
                    interval,
                }
            })
            .collect();
        ScoreSummary {
            cases: overall.cases,
            score: overall.score,
            criteria,
        }
    }
}

fn mean_and_interval(values: &[f64], binary: bool) -> (Option<f64>, Option<(f64, f64)>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    // A pass/fail criterion with one repeat per case: a proportion.
    let proportion = binary && values.iter().all(|v| *v == 0.0 || *v == 1.0);
    let interval = if proportion {
        let passed = values.iter().filter(|v| **v == 1.0).count() as u64;
        Some(wilson(
            passed,
            n as u64,
            normal_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0),
        ))
    } else if n >= 2 {
        let half =
            t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, (n - 1) as f64) * sd / (n as f64).sqrt();
        Some(((mean - half).max(0.0), (mean + half).min(1.0)))
    } else {
        None
    };
    (Some(mean), interval)
}

/// (repository, fingerprint) → its summary.
type Summaries = HashMap<(String, String), Arc<ScoreSummary>>;

/// Summaries by (repository, fingerprint).
#[derive(Debug, Clone, Default)]
pub struct ScoreCache {
    entries: Arc<Mutex<Summaries>>,
}

impl ScoreCache {
    pub fn get(&self, repo: &str, fingerprint: &str) -> Option<Arc<ScoreSummary>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(repo.to_string(), fingerprint.to_string()))
            .cloned()
    }

    pub fn put(&self, repo: &str, fingerprint: &str, summary: ScoreSummary) -> Arc<ScoreSummary> {
        let summary = Arc::new(summary);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            // Simple and bounded: start over rather than track recency.
            entries.clear();
        }
        entries.insert((repo.to_string(), fingerprint.to_string()), summary.clone());
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_fail_scores_get_wilson_graded_get_t() {
        let (mean, interval) = mean_and_interval(&[1.0, 1.0, 0.0, 1.0], true);
        assert_eq!(mean, Some(0.75));
        let (low, high) = interval.unwrap();
        // Wilson at 95 % for 3 of 4: about [0.30, 0.95].
        assert!(
            (low - 0.3006).abs() < 1e-3 && (high - 0.9544).abs() < 1e-3,
            "{low} {high}"
        );
        let (mean, interval) = mean_and_interval(&[0.5, 0.7], false);
        assert!((mean.unwrap() - 0.6).abs() < 1e-12);
        let (low, high) = interval.unwrap();
        // t(0.975, 1) = 12.706; sd 0.1414; half-width 1.27 → clamped to [0, 1].
        assert_eq!((low, high), (0.0, 1.0));
        assert_eq!(mean_and_interval(&[0.4], false), (Some(0.4), None));
        assert_eq!(mean_and_interval(&[], false), (None, None));
    }
}
