//! The git edge: reading a repository's files as of the working tree or as
//! of a revision. Everything that loads prompts, snippets, datasets or the
//! config reads through [`RepoFiles`], so the baseline can be loaded from
//! `git show <base>:<path>` exactly as the head is loaded from disk.

use crate::spec::RepoPath;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A repository's files at one point in its history.
pub trait RepoFiles: Send + Sync {
    /// The file's bytes, or `None` when it does not exist there. Paths that
    /// leave the repository (`..`, absolute, symlinks pointing outside) are
    /// refused with [`RepoError::Refused`].
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError>;
    /// Every file, for matching the prompt globs.
    fn list(&self) -> Result<Vec<RepoPath>, RepoError>;
    /// `working tree` or `git <rev>`, for reports.
    fn describe(&self) -> String;
}
