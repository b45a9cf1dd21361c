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

/// Text from a pull request (names, paths, model output, error messages)
/// on its way to stdout or stderr, where the Actions runner reads every
/// line as a possible workflow command: a line starting with `::` (after
/// blanks) or holding `##[` anywhere is broken with a zero-width space, so
/// it reads the same and runs nothing. promptgate's own commands are made
/// by [`workflow_command`] and [`error_command`] and printed apart.
pub fn neutralise_commands(text: &str) -> String {
    const BREAK: &str = "\u{200B}";
    let mut out = String::with_capacity(text.len());
    // The runner reads lines as .NET does: `\r`, `\n` or `\r\n` end one.
    for line in text.split_inclusive(['\r', '\n']) {
        let blanks = line.len() - line.trim_start().len();
        let (lead, rest) = line.split_at(blanks);
        out.push_str(lead);
        let rest = match rest.strip_prefix("::") {
            Some(after) => {
                out.push(':');
                out.push_str(BREAK);
                out.push(':');
                after
            }
            None => rest,
        };
        out.push_str(&rest.replace("##[", &format!("#{BREAK}#[")));
    }
    out
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// How the runner finds a command in one line of output: `::` after
    /// leading blanks (v2), or `##[` anywhere (v1).
    fn runs_a_command(text: &str) -> bool {
        text.split(['\r', '\n'])
            .any(|line| line.trim_start().starts_with("::") || line.contains("##["))
    }

    #[test]
    fn neutralised_text_starts_no_command() {
        let hostile = "name\n::error title=x::pwned\n  \t::set-output name=a::b\nx ##[warning]y\r\n::stop-commands::t\r::warning::lone cr";
        assert!(runs_a_command(hostile), "the mutant: raw text");
        let safe = neutralise_commands(hostile);
        assert!(!runs_a_command(&safe), "{safe}");
        assert_eq!(safe.replace('\u{200B}', ""), hostile, "it reads the same");
        assert_eq!(neutralise_commands("a :: b\nc"), "a :: b\nc");
    }

    proptest! {
        #[test]
        fn no_neutralised_line_runs_a_command(text in "[:#\\[ \\t\\n\\r\u{a0}a-z]{0,40}") {
            let safe = neutralise_commands(&text);
            prop_assert!(!runs_a_command(&safe), "{:?}", safe);
        }
    }

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
