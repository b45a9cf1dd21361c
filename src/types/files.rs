//! Reading a repository's files: the [`RepoFiles`] trait every stage reads
//! through, so the base of a change is loaded exactly as its head is — from
//! disk, from a git revision (`edges::git`), from the GitHub API (the
//! server) or from memory ([`MemoryFiles`], for tests).

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor};

use super::path::RepoPath;

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
    #[error(
        "unknown git revision `{rev}`: {message} (check the name with `git rev-parse {rev}`; \
         in CI fetch enough history, e.g. `fetch-depth: 0`)"
    )]
    UnknownRevision { rev: String, message: String },
    /// No revision to compare with: not a repository, no commit yet, or no
    /// default branch to find.
    #[error("{0}")]
    NoBase(String),
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
    /// A reader over the file, for data too large to hold as one buffer
    /// (datasets). Same refusals as [`RepoFiles::read`]. The default reads
    /// the whole file; the working tree streams from disk.
    fn open(&self, path: &RepoPath) -> Result<Option<Box<dyn BufRead + Send>>, RepoError> {
        Ok(self
            .read(path)?
            .map(|bytes| Box::new(Cursor::new(bytes)) as Box<dyn BufRead + Send>))
    }
}

/// [`RepoPath::relative`], its refusal as a [`RepoError::Refused`]: what
/// every reader checks a requested path with.
pub fn checked_path(text: &str) -> Result<RepoPath, RepoError> {
    RepoPath::relative(text).map_err(|reason| RepoError::Refused {
        path: text.to_owned(),
        reason,
    })
}

/// A repository as a map of paths to bytes: for tests of anything that
/// reads through [`RepoFiles`].
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.insert(path, contents);
        self
    }

    pub fn insert(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.to_owned(), contents.into());
    }
}

impl RepoFiles for MemoryFiles {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        // The same refusal rules as the disk and git readers.
        let clean = checked_path(&path.0)?;
        Ok(self.files.get(&clean.0).cloned())
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        Ok(self.files.keys().cloned().map(RepoPath).collect())
    }

    fn describe(&self) -> String {
        "in-memory files".into()
    }
}
