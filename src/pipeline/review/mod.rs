//! Human review of judged outputs, the stage that keeps LLM judges honest:
//! which outputs a reviewer sees ([`sample`]), how often the judge agrees
//! with the reviewers ([`agreement`]), and the judge's error rates the gate
//! corrects a verdict by ([`correction`]). Pure: stored results and labels
//! come in as data, and every draw is seeded.
//!
//! Everything here reads a score as pass/fail at [`PASS_MARK`] (a 1–5 grade
//! passes from 3): the judge's error rates (sensitivity, specificity) are
//! rates of a pass/fail decision, and a reviewer's 1–5 grade is compared
//! with the judge's on the same cut.

use serde::{Deserialize, Serialize};

pub mod agreement;
pub mod correction;
pub mod sample;

pub use agreement::{Agreement, Estimate, agreement_by_criterion};
pub use correction::{ConfusionTable, ReviewedJudges};
pub use sample::{JudgeView, QueueItem, SampleRequest, judged_output, sample_queue};

pub use crate::types::PASS_MARK;

/// Whether a criterion of this kind is scored by an LLM (the criteria a
/// review queue samples): `judge`, GitHub's `llm` and its `github/*`
/// built-ins.
pub fn is_judged(kind: &str) -> bool {
    kind == "judge" || kind == "llm" || kind.starts_with("github/")
}

/// What a reviewer said about one output: pass/fail, or a 1–5 grade.
/// Written as `pass`, `fail` or `1`…`5` (in the CLI, the JSON API and the
/// stored label alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HumanScore {
    Pass,
    Fail,
    Grade(u8),
}

impl HumanScore {
    /// `pass`, `fail`, `p`, `f`, or a grade `1`…`5`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pass" | "p" => Some(Self::Pass),
            "fail" | "f" => Some(Self::Fail),
            grade => match grade.parse::<u8>() {
                Ok(g @ 1..=5) => Some(Self::Grade(g)),
                _ => None,
            },
        }
    }

    /// The label on the 0–1 scale judges score on ((grade − 1) / 4).
    pub fn value(self) -> f64 {
        match self {
            Self::Pass => 1.0,
            Self::Fail => 0.0,
            Self::Grade(g) => (f64::from(g) - 1.0) / 4.0,
        }
    }

    pub fn passes(self) -> bool {
        self.value() >= PASS_MARK
    }
}

impl std::fmt::Display for HumanScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pass => f.write_str("pass"),
            Self::Fail => f.write_str("fail"),
            Self::Grade(g) => write!(f, "{g}"),
        }
    }
}

impl TryFrom<String> for HumanScore {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).ok_or_else(|| format!("`{text}` is not pass, fail or a grade 1-5"))
    }
}

impl From<HumanScore> for String {
    fn from(score: HumanScore) -> String {
        score.to_string()
    }
}

/// Which output, of which run, for which criterion a label is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputRef {
    pub prompt: String,
    pub criterion: String,
    /// The fingerprint of the stored result the output belongs to.
    pub fingerprint: String,
    pub case_id: String,
    /// Which repeat of the case (0-based).
    pub repeat: u32,
}

/// A reviewer's label on one judged output, with the judge's score as it
/// was when the output was sampled (the reviewer saw it only afterwards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLabel {
    #[serde(flatten)]
    pub output: OutputRef,
    /// The judge's score on the 0–1 scale.
    pub judge_score: f64,
    pub human: HumanScore,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub reviewer: String,
    /// RFC 3339.
    pub labelled_at: String,
}

impl ReviewLabel {
    pub fn judge_passes(&self) -> bool {
        self.judge_score >= PASS_MARK
    }
}

/// Problems with a label before it is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("the judge score {0} is not a number in [0, 1]")]
    JudgeScore(f64),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
}

/// The longest note a label keeps, and the longest name of anything.
pub const MAX_NOTE: usize = 2_000;
pub const MAX_NAME: usize = 200;

impl ReviewLabel {
    /// Refuses a label no agreement could use: a judge score outside
    /// [0, 1], empty or oversized names, an oversized note.
    pub fn validate(&self) -> Result<(), LabelError> {
        if !(0.0..=1.0).contains(&self.judge_score) {
            return Err(LabelError::JudgeScore(self.judge_score));
        }
        let names = [
            ("prompt", &self.output.prompt),
            ("criterion", &self.output.criterion),
            ("fingerprint", &self.output.fingerprint),
            ("case id", &self.output.case_id),
            ("reviewer", &self.reviewer),
        ];
        for (what, value) in names {
            if value.trim().is_empty() {
                return Err(LabelError::Empty(what));
            }
            if value.chars().count() > MAX_NAME {
                return Err(LabelError::TooLong {
                    what,
                    max: MAX_NAME,
                });
            }
        }
        if self
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE)
        {
            return Err(LabelError::TooLong {
                what: "note",
                max: MAX_NOTE,
            });
        }
        Ok(())
    }
}

/// The latest label of each output (a reviewer may change their mind; the
/// last word counts), in a stable order.
pub fn latest_labels(labels: &[ReviewLabel]) -> Vec<&ReviewLabel> {
    let mut latest: std::collections::BTreeMap<&OutputRef, &ReviewLabel> = Default::default();
    for label in labels {
        latest.insert(&label.output, label);
    }
    latest.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_scores_parse_and_print_alike() {
        for text in ["pass", "fail", "1", "3", "5"] {
            assert_eq!(HumanScore::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(HumanScore::parse(" P "), Some(HumanScore::Pass));
        assert_eq!(HumanScore::parse("0"), None);
        assert_eq!(HumanScore::parse("6"), None);
        assert_eq!(HumanScore::parse("maybe"), None);
        // A 1–5 grade passes from 3, as a judge's (3 − 1) / 4 = 0.5 does.
        assert!(!HumanScore::Grade(2).passes());
        assert!(HumanScore::Grade(3).passes());
        let json = serde_json::to_string(&HumanScore::Grade(4)).unwrap();
        assert_eq!(json, "\"4\"");
        assert!(serde_json::from_str::<HumanScore>("\"9\"").is_err());
    }

    fn label(case: &str, human: HumanScore, at: &str) -> ReviewLabel {
        ReviewLabel {
            output: OutputRef {
                prompt: "p".into(),
                criterion: "tone".into(),
                fingerprint: "ab".into(),
                case_id: case.into(),
                repeat: 0,
            },
            judge_score: 1.0,
            human,
            note: None,
            reviewer: "ana".into(),
            labelled_at: at.into(),
        }
    }

    #[test]
    fn the_last_label_of_an_output_counts() {
        let labels = [
            label("a", HumanScore::Fail, "1"),
            label("b", HumanScore::Pass, "2"),
            label("a", HumanScore::Pass, "3"),
        ];
        let latest = latest_labels(&labels);
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0].human, HumanScore::Pass);
        assert_eq!(latest[0].labelled_at, "3");
    }

    #[test]
    fn labels_no_statistic_could_use_are_refused() {
        let mut bad = label("a", HumanScore::Pass, "1");
        bad.judge_score = f64::NAN;
        assert!(matches!(bad.validate(), Err(LabelError::JudgeScore(_))));
        let mut bad = label("a", HumanScore::Pass, "1");
        bad.reviewer = " ".into();
        assert_eq!(bad.validate(), Err(LabelError::Empty("reviewer")));
        let mut bad = label("a", HumanScore::Pass, "1");
        bad.note = Some("x".repeat(MAX_NOTE + 1));
        assert!(matches!(bad.validate(), Err(LabelError::TooLong { .. })));
        assert_eq!(label("a", HumanScore::Pass, "1").validate(), Ok(()));
    }
}
