//! The review queue: which judged outputs a reviewer is shown.
//!
//! Per (prompt, criterion), outputs are **stratified by the judge's score**
//! (its grade: 1–5, or pass/fail) and each stratum gets its share of the
//! sample in **proportion to its size** (largest remainders, so the shares
//! add up exactly). Proportional allocation keeps the sample
//! self-weighting: the judge's sensitivity and specificity estimated from
//! it are those of the outputs it scores, with less spread than a plain
//! random draw. (Oversampling the judge's rare grades would need weights
//! in every rate, and a forgotten weight biases them silently.) Inside a
//! stratum the draw is seeded, and outputs already labelled are never
//! offered again.

use std::collections::{BTreeMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{OutputRef, is_judged};
use crate::types::EvalResult;

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// Outputs per (prompt, criterion).
    pub per_criterion: usize,
    pub seed: u64,
    /// Only this criterion, when set.
    pub criterion: Option<String>,
    /// Only this prompt, when set.
    pub prompt: Option<String>,
}

/// The judge's view of one output, revealed after the reviewer's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeView {
    /// On the 0–1 scale.
    pub score: f64,
    /// As the reports show it, e.g. `4/5`.
    pub display: Option<String>,
    pub reason: String,
}

/// One output offered for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    #[serde(flatten)]
    pub output: OutputRef,
    /// The case's variables (what the prompt was asked).
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// The model's output.
    pub text: String,
    /// A pass/fail criterion (else graded: a reviewer gives 1–5).
    #[serde(default)]
    pub binary: bool,
    /// Not shown before the reviewer has labelled the output.
    pub judge: JudgeView,
}

/// The judged output `output` points at in `result`, if it exists and both
/// the call and the judge produced something.
pub fn judged_output(result: &EvalResult, output: &OutputRef) -> Option<QueueItem> {
    if result.prompt != output.prompt || result.fingerprint.0 != output.fingerprint {
        return None;
    }
    let index = result
        .criteria
        .iter()
        .position(|c| c.name == output.criterion && is_judged(&c.kind))?;
    let binary = result.criteria[index].binary;
    let case = result.cases.iter().find(|c| c.case_id == output.case_id)?;
    let repeat = case.repeats.get(output.repeat as usize)?;
    let text = repeat.call.result.as_ref().ok()?;
    let score = repeat.scores.get(index)?.score.as_ref().ok()?;
    score.value.is_finite().then(|| QueueItem {
        output: output.clone(),
        vars: case.vars.clone(),
        text: text.clone(),
        binary,
        judge: JudgeView {
            score: score.value.clamp(0.0, 1.0),
            display: score.display.clone(),
            reason: score.reason.clone(),
        },
    })
}

/// Every judged output of `results` not yet labelled, by (prompt, criterion).
fn candidates(
    results: &[EvalResult],
    labelled: &HashSet<OutputRef>,
    request: &SampleRequest,
) -> BTreeMap<(String, String), Vec<QueueItem>> {
    let mut by_criterion: BTreeMap<(String, String), Vec<QueueItem>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for result in results {
        if request.prompt.as_ref().is_some_and(|p| *p != result.prompt) {
            continue;
        }
        for info in &result.criteria {
            let wanted = request.criterion.as_ref().is_none_or(|c| *c == info.name);
            if !wanted || !is_judged(&info.kind) {
                continue;
            }
            for case in &result.cases {
                for repeat in 0..case.repeats.len() as u32 {
                    let output = OutputRef {
                        prompt: result.prompt.clone(),
                        criterion: info.name.clone(),
                        fingerprint: result.fingerprint.0.clone(),
                        case_id: case.case_id.clone(),
                        repeat,
                    };
                    if labelled.contains(&output) || !seen.insert(output.clone()) {
                        continue;
                    }
                    if let Some(item) = judged_output(result, &output) {
                        by_criterion
                            .entry((result.prompt.clone(), info.name.clone()))
                            .or_default()
                            .push(item);
                    }
                }
            }
        }
    }
    by_criterion
}

/// The judge's grade an output is stratified by: the 0–1 score in quarters
/// (a 1–5 grade; pass/fail lands on 0 and 4).
fn stratum(item: &QueueItem) -> u8 {
    (item.judge.score * 4.0).round() as u8
}

/// How many of `take` each stratum of these sizes gets: proportional to
/// its size, rounded by largest remainder (ties to the larger stratum,
/// then the lower grade), so the counts add up to `take`.
fn allocate(sizes: &[usize], take: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    let take = take.min(total);
    let exact: Vec<f64> = sizes
        .iter()
        .map(|&s| s as f64 * take as f64 / total as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        let rem = |i: usize| exact[i] - exact[i].floor();
        rem(b)
            .total_cmp(&rem(a))
            .then(sizes[b].cmp(&sizes[a]))
            .then(a.cmp(&b))
    });
    let mut left = take - counts.iter().sum::<usize>();
    for i in order {
        if left == 0 {
            break;
        }
        if counts[i] < sizes[i] {
            counts[i] += 1;
            left -= 1;
        }
    }
    counts
}

fn seed_for(seed: u64, prompt: &str, criterion: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    for part in [prompt, criterion] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

/// The queue: up to `per_criterion` unlabelled judged outputs of each
/// (prompt, criterion), stratified by the judge's grade, in a seeded
/// order that mixes criteria and grades (a reviewer should not be able to
/// guess the judge's score from an item's place in the queue).
pub fn sample_queue(
    results: &[EvalResult],
    labelled: &HashSet<OutputRef>,
    request: &SampleRequest,
) -> Vec<QueueItem> {
    let mut queue = Vec::new();
    for ((prompt, criterion), items) in candidates(results, labelled, request) {
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed_for(request.seed, &prompt, &criterion));
        let mut strata: BTreeMap<u8, Vec<QueueItem>> = BTreeMap::new();
        for item in items {
            strata.entry(stratum(&item)).or_default().push(item);
        }
        let sizes: Vec<usize> = strata.values().map(Vec::len).collect();
        let counts = allocate(&sizes, request.per_criterion);
        for (mut items, take) in strata.into_values().zip(counts) {
            items.shuffle(&mut rng);
            items.truncate(take);
            queue.extend(items);
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(request.seed);
    queue.shuffle(&mut rng);
    queue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_proportional_and_adds_up() {
        assert_eq!(allocate(&[80, 20], 10), vec![8, 2]);
        // 70/20/10 of 7: exact 4.9, 1.4, 0.7 → 4, 1, 0 then the largest
        // remainders (0.9, 0.7) take the last two.
        assert_eq!(allocate(&[70, 20, 10], 7), vec![5, 1, 1]);
        // Asking for more than there is takes everything.
        assert_eq!(allocate(&[3, 1], 50), vec![3, 1]);
        assert_eq!(allocate(&[], 5), Vec::<usize>::new());
        assert_eq!(allocate(&[0, 0], 5), vec![0, 0]);
        for take in 0..40 {
            let counts = allocate(&[17, 5, 9, 1], take);
            assert_eq!(counts.iter().sum::<usize>(), take.min(32));
        }
    }
}
