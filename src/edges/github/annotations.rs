//! Where a report points at lines: check-run annotations on the criteria
//! that regressed or missed their threshold, and the same as workflow
//! commands (`::error file=…,line=…::`), which show even when the token may
//! not create check runs.

use std::io::Write;

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
    let mut out = String::with_capacity(text.len());
    // The runner reads lines as .NET does: `\r`, `\n` or `\r\n` end one.
    for line in text.split_inclusive(LINE_ENDS) {
        neutralise_line(line, &mut out);
    }
    out
}

const LINE_ENDS: [char; 2] = ['\r', '\n'];

/// One line (with its ending) of [`neutralise_commands`], appended to `out`.
fn neutralise_line(line: &str, out: &mut String) {
    const BREAK: &str = "\u{200B}";
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
    if rest.contains("##[") {
        out.push_str(&rest.replace("##[", &format!("#{BREAK}#[")));
    } else {
        out.push_str(rest);
    }
}

/// [`neutralise_commands`] for text written in pieces (a report streamed to
/// stdout): each line is neutralised whole once its end arrives, so a `##[`
/// or a leading `::` split between two writes is still broken.
/// [`NeutralisingWriter::finish`] writes the last, unended line.
pub struct NeutralisingWriter<W: Write> {
    inner: W,
    /// The current line, not yet ended.
    line: Vec<u8>,
    neutralised: String,
}

impl<W: Write> NeutralisingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            line: Vec::new(),
            neutralised: String::new(),
        }
    }

    /// Writes what is left of the last line and flushes.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write_line()?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn write_line(&mut self) -> std::io::Result<()> {
        // Lines end at ASCII bytes, so a line of UTF-8 text is UTF-8.
        let line = String::from_utf8_lossy(&self.line);
        self.neutralised.clear();
        neutralise_line(&line, &mut self.neutralised);
        self.inner.write_all(self.neutralised.as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

impl<W: Write> Write for NeutralisingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|b| *b == b'\r' || *b == b'\n') {
            self.line.extend_from_slice(&rest[..=end]);
            self.write_line()?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Flushes whole lines only: the unended line waits for its end.
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

        /// Written in any pieces, the text comes out as if neutralised whole.
        #[test]
        fn written_in_pieces_it_is_neutralised_as_a_whole(
            text in "[:#\\[ \\t\\n\\r\u{a0}\u{e9}a-z]{0,60}",
            cuts in proptest::collection::vec(0usize..80, 0..6),
        ) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut writer = NeutralisingWriter::new(Vec::new());
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                writer.write_all(&bytes[from..cut]).unwrap();
                writer.flush().unwrap();
                from = cut;
            }
            let written = String::from_utf8(writer.finish().unwrap()).unwrap();
            prop_assert_eq!(written, neutralise_commands(&text));
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
