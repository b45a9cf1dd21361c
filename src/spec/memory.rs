//! An in-memory [`RepoFiles`]: a repository as a map of paths to bytes.
//! For tests of anything that reads through `RepoFiles`, and for the
//! server, which receives a pull request's files as data.

use std::collections::BTreeMap;

use crate::repo::{RepoError, RepoFiles};
use crate::spec::RepoPath;

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
        let clean = RepoPath::relative(&path.0).map_err(|reason| RepoError::Refused {
            path: path.0.clone(),
            reason,
        })?;
        Ok(self.files.get(&clean.0).cloned())
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        Ok(self.files.keys().cloned().map(RepoPath).collect())
    }

    fn describe(&self) -> String {
        "in-memory files".into()
    }
}
