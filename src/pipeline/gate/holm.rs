//! Holm's step-down adjustment over every regression test of one check,
//! and the interval level that goes with each decision.

/// One regression test: its one-sided p-value and the family level its
/// prompt's policy allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Test {
    pub p: f64,
    pub level: f64,
}

/// What Holm decided for one test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    /// Holm-adjusted p-value (in [0, 1]).
    pub adjusted_p: f64,
    /// Divide the level by this to get the tail of the interval to show:
    /// between 1 (no adjustment) and the number of tests (Bonferroni).
    pub divisor: usize,
}

/// Holm (1979). Tests are sorted by p-value; the i-th smallest (1-based) is
/// compared with level / (m − i + 1), and testing stops at the first that
/// fails. Equivalently, the adjusted p-value is the running maximum of
/// (m − i + 1)·p₍ᵢ₎ and a test is rejected when it is ≤ its level.
///
/// The divisor makes the shown interval agree with the decision:
/// - a rejected test gets its own step's divisor m − i + 1, and then
///   p ≤ level / (m − i + 1): its interval excludes the bound;
/// - a test that is not rejected gets the divisor of the step that stopped
///   it (where the running maximum was reached), whose p-value already
///   exceeded level / divisor, and its own p is no smaller: its interval
///   reaches the bound.
///
/// With different levels per test (prompts may override the confidence),
/// each is judged by its own level against the same adjusted p-values;
/// the family-wise error rate is then at most the largest level.
pub(crate) fn holm(tests: &[Test]) -> Vec<Decision> {
    let m = tests.len();
    let mut order: Vec<usize> = (0..m).collect();
    let p_of = |i: usize| {
        let p = tests[i].p;
        if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) }
    };
    // Ties broken by input order, so the outcome never depends on sorting.
    order.sort_by(|&a, &b| p_of(a).total_cmp(&p_of(b)).then(a.cmp(&b)));

    let mut decisions = vec![
        Decision {
            adjusted_p: 1.0,
            divisor: m.max(1),
        };
        m
    ];
    let mut running_max = f64::NEG_INFINITY;
    let mut running_divisor = m.max(1);
    for (rank, &index) in order.iter().enumerate() {
        let divisor = m - rank;
        let scaled = divisor as f64 * p_of(index);
        if scaled > running_max {
            running_max = scaled;
            running_divisor = divisor;
        }
        let adjusted_p = running_max.min(1.0);
        let rejected = adjusted_p <= tests[index].level;
        decisions[index] = Decision {
            adjusted_p,
            divisor: if rejected { divisor } else { running_divisor },
        };
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests_at(ps: &[f64], level: f64) -> Vec<Test> {
        ps.iter().map(|&p| Test { p, level }).collect()
    }

    #[test]
    fn adjusted_p_values_match_the_textbook() {
        // p = 0.01, 0.04, 0.03, 0.005 → sorted 0.005, 0.01, 0.03, 0.04
        // scaled 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06.
        let decisions = holm(&tests_at(&[0.01, 0.04, 0.03, 0.005], 0.05));
        let adjusted: Vec<f64> = decisions.iter().map(|d| d.adjusted_p).collect();
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        // Rejected: 0.005 (step 1, divisor 4), 0.01 (step 2, divisor 3).
        // Not rejected: 0.03 stopped at its own step (divisor 2), and 0.04
        // by that same step.
        let divisors: Vec<usize> = decisions.iter().map(|d| d.divisor).collect();
        assert_eq!(divisors, vec![3, 2, 2, 4]);
    }

    #[test]
    fn divisor_agrees_with_the_decision() {
        let ps = [0.001, 0.2, 0.011, 0.012, 0.0125, 0.03, 0.5];
        let level = 0.05;
        for (test, d) in tests_at(&ps, level).iter().zip(holm(&tests_at(&ps, level))) {
            let rejected = d.adjusted_p <= level;
            assert_eq!(
                test.p <= level / d.divisor as f64,
                rejected,
                "{test:?} {d:?}"
            );
            assert!(d.divisor >= 1 && d.divisor <= ps.len());
        }
    }

    #[test]
    fn holm_stops_at_the_first_failure() {
        // 0.02 fails at step 1 (0.02 > 0.05/3); 0.021 and 0.022 would pass
        // their own steps (0.05/2, 0.05/1) but Holm never gets there.
        let decisions = holm(&tests_at(&[0.022, 0.02, 0.021], 0.05));
        assert!(decisions.iter().all(|d| d.adjusted_p > 0.05));
        assert!(decisions.iter().all(|d| d.divisor == 3));
    }

    #[test]
    fn empty_and_nan_inputs_are_safe() {
        assert!(holm(&[]).is_empty());
        let d = holm(&[Test {
            p: f64::NAN,
            level: 0.05,
        }]);
        assert_eq!(d[0].adjusted_p, 1.0);
    }
}
