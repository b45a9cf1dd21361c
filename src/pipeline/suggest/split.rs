//! The seeded split of a prompt's cases into the part the suggestion model
//! sees (*fit*) and the part kept back to verify its edit (*held-out*).
//! An edit that only fixes the cases it was shown is caught on the others.

use sha2::{Digest, Sha256};

/// The fewest cases the model is shown.
pub const MIN_FIT: usize = 2;
/// The share of the cases shown to the model when there are plenty.
const FIT_SHARE: f64 = 1.0 / 3.0;

/// Case ids, each in one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub fit: Vec<String>,
    pub held_out: Vec<String>,
    /// What ordered the cases; the same seed gives the same split.
    pub seed: String,
}

/// Too few cases to keep enough back: no suggestion can be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{cases} case(s): a suggestion cannot be verified, because the held-out part needs at least \
     {held_out_needed} (the gate's `min_cases`) and the model must see at least {MIN_FIT}; add \
     cases to the prompt's dataset"
)]
pub struct TooFewCases {
    pub cases: usize,
    pub held_out_needed: usize,
}

/// Splits `cases` (id, failing) so that the held-out part has at least
/// `min_held_out` cases and the fit part about a third, failing and
/// passing cases shared out in proportion, so both parts hold failures.
/// Within each kind the order is a hash of the seed and the id: stable
/// under reordering of the dataset, different for another seed.
pub fn split(
    cases: &[(String, bool)],
    seed: &str,
    min_held_out: usize,
) -> Result<Split, TooFewCases> {
    let total = cases.len();
    let fit_size =
        ((total as f64 * FIT_SHARE).round() as usize).min(total.saturating_sub(min_held_out));
    if fit_size < MIN_FIT {
        return Err(TooFewCases {
            cases: total,
            held_out_needed: min_held_out,
        });
    }
    let ordered = |failing: bool| {
        let mut ids: Vec<(String, [u8; 32])> = cases
            .iter()
            .filter(|(_, f)| *f == failing)
            .map(|(id, _)| (id.clone(), rank(seed, id)))
            .collect();
        ids.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        ids.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    };
    let (failing, passing) = (ordered(true), ordered(false));
    let fit_failing = ((failing.len() * fit_size).div_ceil(total.max(1)))
        .min(failing.len())
        .min(fit_size);
    let fit_passing = (fit_size - fit_failing).min(passing.len());
    // When the passing cases run short, the failing ones make up the size.
    let fit_failing = (fit_size - fit_passing).min(failing.len());
    let mut fit: Vec<String> = failing[..fit_failing].to_vec();
    fit.extend_from_slice(&passing[..fit_passing]);
    let mut held_out: Vec<String> = failing[fit_failing..].to_vec();
    held_out.extend_from_slice(&passing[fit_passing..]);
    Ok(Split {
        fit,
        held_out,
        seed: seed.to_owned(),
    })
}

fn rank(seed: &str, id: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(seed.as_bytes());
    hash.update([0]);
    hash.update(id.as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(failing: usize, passing: usize) -> Vec<(String, bool)> {
        (0..failing)
            .map(|i| (format!("f{i}"), true))
            .chain((0..passing).map(|i| (format!("p{i}"), false)))
            .collect()
    }

    #[test]
    fn every_case_lands_in_exactly_one_part_and_the_held_out_part_is_big_enough() {
        for (failing, passing) in [(15, 0), (5, 10), (1, 30), (40, 60)] {
            let all = cases(failing, passing);
            let split = split(&all, "seed", 10).unwrap();
            assert!(split.held_out.len() >= 10);
            assert!(split.fit.len() >= MIN_FIT);
            let mut seen: Vec<&String> = split.fit.iter().chain(&split.held_out).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), all.len());
            assert!(split.fit.iter().all(|id| !split.held_out.contains(id)));
        }
    }

    #[test]
    fn both_parts_hold_failing_cases_when_there_are_several() {
        let split = split(&cases(6, 24), "seed", 10).unwrap();
        assert!(split.fit.iter().any(|id| id.starts_with('f')));
        assert!(split.held_out.iter().any(|id| id.starts_with('f')));
    }

    #[test]
    fn the_seed_decides_the_split_and_the_dataset_order_does_not() {
        let all = cases(10, 20);
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(
            split(&all, "a", 10).unwrap().fit,
            split(&reversed, "a", 10).unwrap().fit
        );
        let differs = ["b", "c", "d", "e"]
            .iter()
            .any(|seed| split(&all, seed, 10).unwrap().fit != split(&all, "a", 10).unwrap().fit);
        assert!(differs);
    }

    #[test]
    fn too_few_cases_cannot_be_verified() {
        let error = split(&cases(5, 6), "seed", 10).unwrap_err();
        assert_eq!(error.cases, 11);
        assert!(error.to_string().contains("cannot be verified"));
        // 12 cases: 10 held out, 2 shown.
        let split = split(&cases(5, 7), "seed", 10).unwrap();
        assert_eq!((split.fit.len(), split.held_out.len()), (2, 10));
    }
}
