//! Where a report points at lines: check-run annotations on the criteria
//! that regressed or missed their threshold, and the same as workflow
//! commands (`::error file=…,line=…::`), which show even when the token may
//! not create check runs.

use crate::edges::github::{Annotation, AnnotationLevel};
use crate::pipeline::gate::Verdict;
use crate::pipeline::report::CheckReport;

/// One annotation per criterion that regressed or missed its threshold, on
/// the criterion's line of the prompt file (line 1 when it is not known).
pub fn annotations(report: &CheckReport) -> Vec<Annotation> {
    let mut found = Vec::new();
    for prompt in &report.prompts {
        let (Some(path), Some(gate)) = (&prompt.path, &prompt.gate) else {
            continue;
        };
        for criterion in &gate.criteria {
            let regressed = criterion.verdict == Verdict::Regressed;
            let missed = criterion.threshold_met == Some(false);
            if !regressed && !missed {
                continue;
            }
            let line = prompt
                .head
                .criteria
                .iter()
                .find(|c| c.name == criterion.criterion)
                .and_then(|c| c.line)
                .unwrap_or(1);
            let mut parts = Vec::new();
            if regressed {
                parts.push(format!(
                    "regressed: {} → {} (Δ {})",
                    score(criterion.baseline_mean),
                    score(criterion.head_mean),
                    criterion
                        .delta
                        .map_or_else(|| "?".to_string(), |d| format!("{d:+.2}"))
                ));
            }
            if missed {
                parts.push(format!(
                    "below its threshold: {} < {}",
                    score(criterion.head_mean_all),
                    score(criterion.threshold)
                ));
            }
            found.push(Annotation {
                path: path.clone(),
                start_line: line,
                end_line: line,
                level: if gate.failed {
                    AnnotationLevel::Failure
                } else {
                    AnnotationLevel::Warning
                },
                title: Some(format!("{}: {}", gate.prompt, criterion.criterion)),
                message: format!("{} {}", criterion.criterion, parts.join("; ")),
            });
        }
    }
    found
}

/// The annotations with `folder` (`services/chat/`, or empty) put before
/// their paths: GitHub places annotations by repository path, while a report
/// made in a folder of the repository names files relative to that folder.
pub fn in_folder(annotations: Vec<Annotation>, folder: &str) -> Vec<Annotation> {
    let folder = folder.trim_matches('/');
    if folder.is_empty() {
        return annotations;
    }
    annotations
        .into_iter()
        .map(|a| Annotation {
            path: format!("{folder}/{}", a.path),
            ..a
        })
        .collect()
}

fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "?".to_string(), |v| format!("{v:.2}"))
}

/// The workflow command that makes the runner show `annotation` on its line.
pub fn workflow_command(annotation: &Annotation) -> String {
    let command = match annotation.level {
        AnnotationLevel::Failure => "error",
        AnnotationLevel::Warning => "warning",
        AnnotationLevel::Notice => "notice",
    };
    let mut properties = format!(
        "file={},line={},endLine={}",
        escape_property(&annotation.path),
        annotation.start_line,
        annotation.end_line
    );
    if let Some(title) = &annotation.title {
        properties.push_str(&format!(",title={}", escape_property(title)));
    }
    format!(
        "::{command} {properties}::{}",
        escape_data(&annotation.message)
    )
}

/// A run-wide `::error::` line (an error that stops the step).
pub fn error_command(message: &str) -> String {
    format!("::error title=promptgate::{}", escape_data(message))
}

/// Prompt files and criterion names come from the pull request: a newline
/// in them must not start a command of its own.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn annotation(path: &str, title: &str, message: &str) -> Annotation {
        Annotation {
            path: path.into(),
            start_line: 7,
            end_line: 7,
            level: AnnotationLevel::Failure,
            title: Some(title.into()),
            message: message.into(),
        }
    }

    #[test]
    fn commands_name_the_file_and_line() {
        let line = workflow_command(&annotation(
            "prompts/a.prompt.yml",
            "a: tone",
            "tone regressed: 1.00 → 0.00",
        ));
        assert_eq!(
            line,
            "::error file=prompts/a.prompt.yml,line=7,endLine=7,title=a%3A tone::tone regressed: 1.00 → 0.00"
        );
    }

    proptest! {
        /// Whatever a pull request names its criteria, the command stays one
        /// line and its properties stay apart.
        #[test]
        fn untrusted_text_never_breaks_out_of_its_command(
            path in ".*", title in ".*", message in ".*"
        ) {
            let line = workflow_command(&annotation(&path, &title, &message));
            prop_assert!(!line.contains('\n') && !line.contains('\r'));
            let (head, _) = line.split_once("::").map(|(_, rest)| rest.split_once("::").unwrap()).unwrap();
            prop_assert_eq!(head.matches(',').count(), 3);
        }
    }
}
