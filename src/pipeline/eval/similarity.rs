//! `similarity` against the case's `expected`: token F1, ROUGE-L, or the
//! cosine similarity of embeddings.

use std::collections::HashMap;

use super::{EvalContext, EvalError};
use crate::types::{Case, ModelId, Score, SimilarityMethod};

pub(crate) async fn score(
    ctx: &EvalContext,
    method: SimilarityMethod,
    model: Option<&ModelId>,
    case: &Case,
    output: &str,
) -> Result<Score, EvalError> {
    let expected = case
        .expected
        .as_deref()
        .ok_or_else(|| EvalError::MissingExpectation {
            case: case.id.clone(),
            field: "expected",
        })?;
    let (value, what) = match method {
        SimilarityMethod::TokenF1 => (token_f1(output, expected), "token F1"),
        SimilarityMethod::RougeL => (rouge_l_f1(output, expected), "ROUGE-L F1"),
        SimilarityMethod::Embedding => (
            embedding_similarity(ctx, model, output, expected).await?,
            "embedding cosine",
        ),
    };
    Ok(Score::graded(
        value,
        format!("{what} {value:.3} against `expected`"),
    )?)
}

async fn embedding_similarity(
    ctx: &EvalContext,
    model: Option<&ModelId>,
    output: &str,
    expected: &str,
) -> Result<f64, EvalError> {
    let embedder = ctx.embedder.as_deref().ok_or_else(|| {
        EvalError::Misconfigured(
            "`similarity: embedding` needs an embeddings provider, and none is configured".into(),
        )
    })?;
    let model = model.ok_or_else(|| {
        EvalError::Misconfigured(
            "`similarity: embedding` needs `model` (the embeddings model, `provider/model`)".into(),
        )
    })?;
    let vectors = embedder
        .embed(model, vec![output.to_string(), expected.to_string()])
        .await
        .map_err(EvalError::Embedding)?;
    let [a, b] = vectors.as_slice() else {
        return Err(EvalError::Embedding(format!(
            "expected 2 vectors, got {}",
            vectors.len()
        )));
    };
    cosine_similarity(a, b).ok_or_else(|| {
        EvalError::Embedding("the two vectors differ in length, or one is all zeros".into())
    })
}

/// Lowercased runs of letters and digits: punctuation and case do not count.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Token-level F1 (SQuAD style): overlap counted with multiplicity,
/// precision over the output's tokens, recall over the reference's.
/// Two empty texts are identical (1); one empty text shares nothing (0).
pub fn token_f1(output: &str, reference: &str) -> f64 {
    let out = tokens(output);
    let reference = tokens(reference);
    if out.is_empty() || reference.is_empty() {
        return if out.is_empty() && reference.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for token in &reference {
        *counts.entry(token).or_default() += 1;
    }
    let mut overlap = 0usize;
    for token in &out {
        if let Some(left) = counts.get_mut(token.as_str())
            && *left > 0
        {
            *left -= 1;
            overlap += 1;
        }
    }
    f1(overlap, out.len(), reference.len())
}

/// ROUGE-L F1: the longest common subsequence of tokens, as precision over
/// the output and recall over the reference (β = 1).
pub fn rouge_l_f1(output: &str, reference: &str) -> f64 {
    let out = tokens(output);
    let reference = tokens(reference);
    if out.is_empty() || reference.is_empty() {
        return if out.is_empty() && reference.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    // One row of the LCS table at a time: memory is O(len(reference)).
    let mut previous = vec![0usize; reference.len() + 1];
    let mut current = vec![0usize; reference.len() + 1];
    for token in &out {
        for (j, other) in reference.iter().enumerate() {
            current[j + 1] = if token == other {
                previous[j] + 1
            } else {
                current[j].max(previous[j + 1])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    f1(previous[reference.len()], out.len(), reference.len())
}

fn f1(overlap: usize, output_len: usize, reference_len: usize) -> f64 {
    if overlap == 0 {
        return 0.0;
    }
    let precision = overlap as f64 / output_len as f64;
    let recall = overlap as f64 / reference_len as f64;
    (2.0 * precision * recall / (precision + recall)).clamp(0.0, 1.0)
}

/// Cosine similarity with negative values floored at 0 (opposite meaning is
/// as dissimilar as a score can say). `None` when the lengths differ, a
/// vector is all zeros, or a component is not finite.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    let cosine = dot / (norm_a.sqrt() * norm_b.sqrt());
    cosine.is_finite().then(|| cosine.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn token_f1_counts_overlap_with_multiplicity() {
        // output: the cat sat (3); reference: the the cat (3); overlap: the, cat = 2
        let value = token_f1("The cat sat.", "the the cat");
        assert!((value - 2.0 / 3.0).abs() < 1e-9, "{value}");
        assert_eq!(token_f1("", ""), 1.0);
        assert_eq!(token_f1("words", ""), 0.0);
        assert_eq!(token_f1("Refund issued!", "refund issued"), 1.0);
    }

    #[test]
    fn rouge_l_rewards_order() {
        // LCS of "a b c d" and "a c b d" is 3 tokens.
        let value = rouge_l_f1("a b c d", "a c b d");
        assert!((value - 0.75).abs() < 1e-9, "{value}");
        assert_eq!(rouge_l_f1("d c b a", "a b c d"), 0.25);
        assert_eq!(rouge_l_f1("same words here", "Same words, here."), 1.0);
    }

    #[test]
    fn cosine_handles_degenerate_vectors() {
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[1.0, 0.0]), Some(1.0));
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[-1.0, 0.0]), Some(0.0));
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 0.0]), None);
        assert_eq!(cosine_similarity(&[1.0], &[1.0, 0.0]), None);
    }

    proptest! {
        #[test]
        fn lexical_scores_stay_in_unit_interval(a in ".{0,60}", b in ".{0,60}") {
            for value in [token_f1(&a, &b), rouge_l_f1(&a, &b)] {
                prop_assert!((0.0..=1.0).contains(&value));
            }
            prop_assert!((token_f1(&a, &a) - 1.0).abs() < 1e-9);
        }
    }
}
