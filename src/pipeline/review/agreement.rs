//! How often a judge agrees with the reviewers, per criterion: accuracy,
//! Cohen's kappa, sensitivity and specificity, each with a 95% interval,
//! on the pass/fail reading of both.
//!
//! **Enough labels**: at least [`ENOUGH_LABELS`] in all and
//! [`ENOUGH_PER_CLASS`] of each reviewer verdict (pass and fail). With 30
//! labels the exact 95% interval of an 80% accuracy is [61%, 92%], about the
//! widest that still tells a usable judge from a poor one; with fewer than
//! 10 outputs of a class, that class's rate (sensitivity or specificity) has
//! an interval wider than 45 points and says nothing. Below that the
//! reports say how many labels are still needed, never a rate.

use serde::{Deserialize, Serialize};

use super::correction::{ConfusionTable, clopper_pearson};
use super::{ReviewLabel, latest_labels};

pub const ENOUGH_LABELS: u64 = 30;
pub const ENOUGH_PER_CLASS: u64 = 10;
/// Two-sided confidence of every interval shown here.
pub const CONFIDENCE: f64 = 0.95;
/// The default agreement a judge must be capable of: a criterion is
/// flagged when its accuracy's whole interval is below this.
pub const DEFAULT_MIN_AGREEMENT: f64 = 0.80;
/// Resamples of the kappa bootstrap, and its fixed seed (a report must
/// say the same thing twice).
const KAPPA_RESAMPLES: usize = 2_000;
const KAPPA_SEED: u64 = 0x5EED_CA11_AB1E;

/// A rate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// k of n, with the exact (Clopper–Pearson) interval.
    fn proportion(k: u64, n: u64) -> Option<Self> {
        (n > 0).then(|| {
            let (low, high) = clopper_pearson(k, n, (1.0 - CONFIDENCE) / 2.0);
            Self {
                value: k as f64 / n as f64,
                low,
                high,
            }
        })
    }

    /// `61% [48%, 73%]`.
    pub fn percent(&self) -> String {
        format!(
            "{:.0}% [{:.0}%, {:.0}%]",
            self.value * 100.0,
            self.low * 100.0,
            self.high * 100.0
        )
    }
}

/// One criterion's judge against its reviewers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub prompt: String,
    pub criterion: String,
    /// Labels counted (the latest per output).
    pub labels: u64,
    pub table: ConfusionTable,
    /// Enough labels for the rates below to be shown (see the module docs).
    pub enough: bool,
    /// Labels still needed before `enough`, when it is not.
    pub labels_needed: u64,
    pub accuracy: Option<Estimate>,
    /// Cohen's kappa: agreement beyond what chance would give, with a
    /// seeded bootstrap percentile interval.
    pub kappa: Option<Estimate>,
    /// Of the outputs reviewers passed, the share the judge passed.
    pub sensitivity: Option<Estimate>,
    /// Of the outputs reviewers failed, the share the judge failed.
    pub specificity: Option<Estimate>,
    /// The agreement floor this was checked against.
    pub min_agreement: f64,
    /// Enough labels, and the accuracy's whole interval below the floor.
    pub flagged: bool,
}

impl Agreement {
    pub fn of(prompt: &str, criterion: &str, table: ConfusionTable, min_agreement: f64) -> Self {
        let n = table.n();
        let per_class = table.human_passes().min(table.human_fails());
        let enough = n >= ENOUGH_LABELS && per_class >= ENOUGH_PER_CLASS;
        let labels_needed = if enough {
            0
        } else {
            // The short class needs its own labels; the total may need more.
            let class_short = ENOUGH_PER_CLASS.saturating_sub(table.human_passes())
                + ENOUGH_PER_CLASS.saturating_sub(table.human_fails());
            class_short.max(ENOUGH_LABELS.saturating_sub(n))
        };
        let accuracy = Estimate::proportion(table.both_pass + table.both_fail, n);
        Self {
            prompt: prompt.to_owned(),
            criterion: criterion.to_owned(),
            labels: n,
            table,
            enough,
            labels_needed,
            accuracy,
            kappa: kappa_estimate(&table),
            sensitivity: Estimate::proportion(table.both_pass, table.human_passes()),
            specificity: Estimate::proportion(table.both_fail, table.human_fails()),
            min_agreement,
            flagged: enough && accuracy.is_some_and(|a| a.high < min_agreement),
        }
    }

    /// One line for the reports, e.g. `the judge agrees with reviewers 61%
    /// [48%, 73%] of the time (40 labels; kappa 0.21 [0.02, 0.45]; …)`.
    pub fn summary(&self) -> String {
        if !self.enough {
            return format!(
                "{} reviewer labels: {} more needed before agreement is shown \
                 (at least {ENOUGH_LABELS}, {ENOUGH_PER_CLASS} passed and {ENOUGH_PER_CLASS} failed by reviewers)",
                self.labels, self.labels_needed
            );
        }
        let rate = |e: &Option<Estimate>| e.map_or_else(|| "n/a".to_owned(), |e| e.percent());
        let kappa = self.kappa.map_or_else(
            || "n/a".to_owned(),
            |k| format!("{:.2} [{:.2}, {:.2}]", k.value, k.low, k.high),
        );
        format!(
            "the judge agrees with reviewers {} of the time ({} labels; kappa {kappa}; sensitivity {}; specificity {})",
            rate(&self.accuracy),
            self.labels,
            rate(&self.sensitivity),
            rate(&self.specificity),
        )
    }
}

/// Agreement for every (prompt, criterion) that has labels, sorted by name.
/// Only the latest label of each output counts.
pub fn agreement_by_criterion(labels: &[ReviewLabel], min_agreement: f64) -> Vec<Agreement> {
    let mut groups: std::collections::BTreeMap<(&str, &str), Vec<&ReviewLabel>> =
        Default::default();
    for label in latest_labels(labels) {
        groups
            .entry((&label.output.prompt, &label.output.criterion))
            .or_default()
            .push(label);
    }
    groups
        .into_iter()
        .map(|((prompt, criterion), labels)| {
            Agreement::of(prompt, criterion, ConfusionTable::of(labels), min_agreement)
        })
        .collect()
}

fn kappa(t: &ConfusionTable) -> Option<f64> {
    let n = t.n() as f64;
    if n == 0.0 {
        return None;
    }
    let observed = (t.both_pass + t.both_fail) as f64 / n;
    let judge_pass = (t.both_pass + t.judge_passed_a_fail) as f64 / n;
    let human_pass = t.human_passes() as f64 / n;
    let chance = judge_pass * human_pass + (1.0 - judge_pass) * (1.0 - human_pass);
    // Both always saying the same one thing: agreement is all chance.
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
}

/// Kappa with a percentile bootstrap interval: the labels resampled with
/// replacement (a multinomial draw over the table's four cells).
fn kappa_estimate(table: &ConfusionTable) -> Option<Estimate> {
    use rand::{Rng, SeedableRng};
    let value = kappa(table)?;
    let n = table.n();
    let cells = [
        table.both_pass,
        table.judge_failed_a_pass,
        table.judge_passed_a_fail,
        table.both_fail,
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(KAPPA_SEED);
    let mut draws: Vec<f64> = Vec::with_capacity(KAPPA_RESAMPLES);
    for _ in 0..KAPPA_RESAMPLES {
        let mut counts = [0u64; 4];
        for _ in 0..n {
            let mut pick = rng.random_range(0..n);
            let cell = cells
                .iter()
                .position(|&c| {
                    if pick < c {
                        true
                    } else {
                        pick -= c;
                        false
                    }
                })
                .unwrap_or(3);
            counts[cell] += 1;
        }
        let resampled = ConfusionTable {
            both_pass: counts[0],
            judge_failed_a_pass: counts[1],
            judge_passed_a_fail: counts[2],
            both_fail: counts[3],
        };
        // A resample where one side is constant has no kappa: it counts as
        // no agreement beyond chance.
        draws.push(kappa(&resampled).unwrap_or(0.0));
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((q * (draws.len() - 1) as f64).round() as usize).min(draws.len() - 1)];
    let tail = (1.0 - CONFIDENCE) / 2.0;
    Some(Estimate {
        value,
        low: at(tail).min(value),
        high: at(1.0 - tail).max(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(both_pass: u64, missed: u64, false_pass: u64, both_fail: u64) -> ConfusionTable {
        ConfusionTable {
            both_pass,
            judge_failed_a_pass: missed,
            judge_passed_a_fail: false_pass,
            both_fail,
        }
    }

    #[test]
    fn kappa_matches_a_worked_example() {
        // Cohen's 2×2 textbook case: 20 / 5 / 10 / 15 of 50 → po 0.70,
        // pe 0.50, kappa 0.40.
        let t = table(20, 5, 10, 15);
        assert!((kappa(&t).unwrap() - 0.4).abs() < 1e-12);
        let k = kappa_estimate(&t).unwrap();
        assert!(
            k.low < 0.4 && k.high > 0.4 && k.low > 0.0 && k.high < 0.8,
            "{k:?}"
        );
        // Same table, same interval: seeded.
        assert_eq!(kappa_estimate(&t), Some(k));
        assert_eq!(kappa(&table(10, 0, 0, 0)), None);
    }

    #[test]
    fn rates_and_the_flag_follow_the_table() {
        // 61% agreement over 49 labels is well below an 80% floor.
        let poor = Agreement::of("p", "tone", table(20, 10, 9, 10), 0.8);
        assert!(poor.enough);
        let accuracy = poor.accuracy.unwrap();
        assert!((accuracy.value - 30.0 / 49.0).abs() < 1e-12);
        assert!(accuracy.high < 0.8, "{accuracy:?}");
        assert!(poor.flagged);
        assert!((poor.sensitivity.unwrap().value - 20.0 / 30.0).abs() < 1e-12);
        assert!((poor.specificity.unwrap().value - 10.0 / 19.0).abs() < 1e-12);
        assert!(
            poor.summary().starts_with(
                "the judge agrees with reviewers 61% [46%, 75%] of the time (49 labels;"
            ),
            "{}",
            poor.summary()
        );
        // A good judge is not flagged.
        let good = Agreement::of("p", "tone", table(28, 2, 2, 18), 0.8);
        assert!(good.enough && !good.flagged);
    }

    #[test]
    fn too_few_labels_show_how_many_more_not_a_rate() {
        // 25 labels, only 4 failed by reviewers: 6 fails short, 5 in all.
        let few = Agreement::of("p", "tone", table(20, 1, 1, 3), 0.8);
        assert!(!few.enough && !few.flagged);
        assert_eq!(few.labels_needed, 6);
        assert!(few.summary().contains("6 more needed"), "{}", few.summary());
        // Even a terrible judge is not flagged on too little evidence.
        let terrible = Agreement::of("p", "tone", table(2, 10, 10, 2), 0.8);
        assert!(!terrible.enough && !terrible.flagged);
        assert_eq!(terrible.labels_needed, 6);
    }
}
