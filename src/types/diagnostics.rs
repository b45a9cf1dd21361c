//! Problems in a user's files, each pinned to `file:line:col`, shown the way
//! compilers show them: the location, the message, the offending line.

use serde::{Deserialize, Serialize};

use super::path::RepoPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: RepoPath,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based; 0 when unknown.
    pub column: u32,
    pub message: String,
    /// The offending line of the file, shown under the message.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn error(file: RepoPath, line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file,
            line,
            column,
            message: message.into(),
            source_line: None,
        }
    }

    pub fn warning(file: RepoPath, line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, line, column, message)
        }
    }

    /// Attaches the offending line, taken from the file's text.
    pub fn with_source(mut self, text: &str) -> Self {
        if self.line > 0 {
            self.source_line = text.lines().nth(self.line as usize - 1).map(str::to_owned);
        }
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {severity}: {}", self.file, self.message)?,
            (line, 0) => write!(f, "{}:{line}: {severity}: {}", self.file, self.message)?,
            (line, column) => write!(
                f,
                "{}:{line}:{column}: {severity}: {}",
                self.file, self.message
            )?,
        }
        if let Some(source) = &self.source_line {
            let gutter = self.line.to_string().len();
            write!(f, "\n{:gutter$} |\n{} | {source}", "", self.line)?;
            if self.column > 0 {
                let pad: String = source
                    .chars()
                    .take(self.column as usize - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n{:gutter$} | {pad}^", "")?;
            }
        }
        Ok(())
    }
}

/// Every problem found, errors and warnings together. An `Err` of this type
/// holds at least one error.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}

fn render(list: &[Diagnostic]) -> String {
    let errors = list
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut text: Vec<String> = list.iter().map(ToString::to_string).collect();
    text.push(format!(
        "{errors} error{} found",
        if errors == 1 { "" } else { "s" }
    ));
    text.join("\n")
}
