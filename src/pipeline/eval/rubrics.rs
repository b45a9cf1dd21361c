//! The rubrics behind `uses: github/<name>` and the default `judge` rubric.
//!
//! GitHub's built-ins are 1–5 judges whose choices map 1→0, 2→0.25, 3→0.5,
//! 4→0.75, 5→1, which is exactly (n − 1) / 4. These keep that scale, the
//! variables each one reads, and each metric's intent; the wording is ours.
//! docs/evaluators.md shows them in full; a test keeps the two in step.

use crate::types::BuiltinEvaluator;

/// What the case's `expected` means to a rubric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRole {
    /// Not shown to the judge.
    Unused,
    /// A reference answer the reply is compared with.
    Reference,
    /// The source material the reply must stay within.
    Context,
}

/// A 1–5 judge rubric for one built-in evaluator.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRubric {
    /// The criterion, as one definition the judge scores against.
    pub criterion: &'static str,
    /// Descriptions of scores 1 to 5.
    pub levels: [&'static str; 5],
    /// Whether the judge sees the case's `input` (the question).
    pub uses_input: bool,
    pub expected: ExpectedRole,
}

pub fn builtin_rubric(which: BuiltinEvaluator) -> BuiltinRubric {
    match which {
        BuiltinEvaluator::Similarity => BuiltinRubric {
            criterion: "Similarity: does the reply say the same thing as the reference answer? \
                        Judge meaning and facts, not wording.",
            levels: [
                "Says something different from the reference, or contradicts it.",
                "Shares the topic but few of the reference's facts or conclusions.",
                "Carries some of the reference's key points; others are missing or wrong.",
                "Carries nearly all of the reference's meaning; a minor point is missing or blurred.",
                "Means the same as the reference: every key fact and conclusion is there, nothing contradicts it.",
            ],
            uses_input: true,
            expected: ExpectedRole::Reference,
        },
        BuiltinEvaluator::Coherence => BuiltinRubric {
            criterion: "Coherence: are the reply's ideas presented in a logical order that a \
                        reader can follow, with clear links between sentences, in answer to the question?",
            levels: [
                "Incoherent: disconnected words or fragments with no recognisable line of thought.",
                "Barely coherent: fragments and jumps; the reader must guess how ideas connect.",
                "Partly coherent: the main point comes through, but the order or the links between ideas are unclear in places.",
                "Coherent: ideas follow logically with clear transitions; easy to follow.",
                "Highly coherent: tightly organised, every sentence builds on the last, and the structure makes the answer clearer.",
            ],
            uses_input: true,
            expected: ExpectedRole::Unused,
        },
        BuiltinEvaluator::Fluency => BuiltinRubric {
            criterion: "Fluency: is the reply well-formed, readable language: grammar, word \
                        choice, sentence construction? Judge the language only, not whether it is correct.",
            levels: [
                "Hardly readable: broken grammar throughout, fragments, very limited vocabulary.",
                "Simple ideas come through, but frequent errors and awkward or repetitive phrasing get in the way.",
                "Clear, with occasional errors; plain vocabulary and little variety in sentences.",
                "Well written: good grammar, varied vocabulary and sentences; rare slips do not distract.",
                "Polished: precise, varied and natural language with no errors.",
            ],
            uses_input: false,
            expected: ExpectedRole::Unused,
        },
        BuiltinEvaluator::Relevance => BuiltinRubric {
            criterion: "Relevance: does the reply address the question asked, accurately and \
                        completely, without drifting to other topics?",
            levels: [
                "Off-topic: does not address the question at all.",
                "Attempts the question but gets it wrong.",
                "Addresses the question but leaves out details needed for a full answer.",
                "Answers the question fully and accurately, with nothing extraneous.",
                "Answers fully and accurately and adds pertinent insight (why it matters, what follows) that helps the asker.",
            ],
            uses_input: true,
            expected: ExpectedRole::Unused,
        },
        BuiltinEvaluator::Groundedness => BuiltinRubric {
            criterion: "Groundedness: is the reply supported by the given context alone, and \
                        does it answer the question from it, without adding claims the context does not support?",
            levels: [
                "Unrelated to both the context and the question.",
                "On the context's topic but does not answer the question.",
                "Answers, but states things the context contradicts or does not support.",
                "Answers correctly from the context but leaves out relevant details it gives.",
                "Answers correctly and completely from the context, adding nothing it does not support.",
            ],
            uses_input: true,
            expected: ExpectedRole::Context,
        },
    }
}

/// The levels used when a `judge` evaluator gives no rubric of its own.
pub(crate) const DEFAULT_JUDGE_LEVELS: [&str; 5] = [
    "The reply fails the criterion entirely.",
    "The reply mostly fails the criterion; it gets only a small part right.",
    "The reply partly meets the criterion; important parts are missing or wrong.",
    "The reply meets the criterion, with minor lapses.",
    "The reply fully meets the criterion.",
];

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../../docs/evaluators.md");

    /// docs/evaluators.md shows every rubric word for word.
    #[test]
    fn documented_rubrics_match_the_code() {
        for which in [
            BuiltinEvaluator::Similarity,
            BuiltinEvaluator::Coherence,
            BuiltinEvaluator::Fluency,
            BuiltinEvaluator::Relevance,
            BuiltinEvaluator::Groundedness,
        ] {
            let rubric = builtin_rubric(which);
            let heading = format!(
                "### `github/{}`",
                crate::pipeline::eval::builtin_name(which)
            );
            let section = DOC
                .split_once(&heading)
                .map(|(_, rest)| rest.split("\n### ").next().unwrap_or(rest))
                .unwrap_or_else(|| panic!("docs lack {heading}"));
            assert!(
                section.contains(&format!("Criterion: {}", rubric.criterion)),
                "{heading}: criterion differs"
            );
            for (points, level) in (1..).zip(rubric.levels) {
                assert!(
                    section.contains(&format!("{points}. {level}")),
                    "{heading}: level {points} differs"
                );
            }
        }
        for (points, level) in (1..).zip(DEFAULT_JUDGE_LEVELS) {
            assert!(
                DOC.contains(&format!("{points}. {level}")),
                "default level {points}"
            );
        }
    }
}
