//! The local store (`.promptgate/`, the folder a CI cache step saves and
//! restores): results by fingerprint, `<store>/results/<fp>.json`. (The
//! response cache lives beside them; the runner owns it.)
//!
//! One file per evaluation keeps concurrent runs from contending, and makes
//! the folder safe to save and restore as a CI cache: a file is either whole
//! (written to a temporary name, then renamed) or absent.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::types::{EvalResult, Fingerprint};

#[derive(Debug, thiserror::Error)]
pub enum ResultStoreError {
    #[error("cannot write result {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read result {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The results folder of a local store.
#[derive(Debug, Clone)]
pub struct ResultStore {
    dir: PathBuf,
}

impl ResultStore {
    /// `store_dir` is the store root (default `.promptgate`).
    pub fn new(store_dir: &Path) -> Self {
        Self {
            dir: store_dir.join("results"),
        }
    }

    fn path_of(&self, fingerprint: &Fingerprint) -> Option<PathBuf> {
        // Fingerprints are hex digests; anything else never names a file, so
        // a crafted value cannot point outside the folder.
        let valid = !fingerprint.0.is_empty()
            && fingerprint.0.len() <= 128
            && fingerprint.0.chars().all(|c| c.is_ascii_alphanumeric());
        valid.then(|| self.dir.join(format!("{}.json", fingerprint.0)))
    }

    /// The stored result, if there is a whole, readable one. A corrupt file
    /// is treated as absent (and will be overwritten by the next save): a
    /// baseline that cannot be trusted is re-evaluated, never guessed.
    pub fn load(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>, ResultStoreError> {
        let Some(path) = self.path_of(fingerprint) else {
            return Ok(None);
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ResultStoreError::Read { path, source }),
        };
        match serde_json::from_slice::<EvalResult>(&bytes) {
            Ok(result) if result.fingerprint == *fingerprint => Ok(Some(result)),
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable stored result");
                Ok(None)
            }
        }
    }

    pub fn save(&self, result: &EvalResult) -> Result<PathBuf, ResultStoreError> {
        let path = self
            .path_of(&result.fingerprint)
            .ok_or_else(|| ResultStoreError::Write {
                path: self.dir.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "fingerprint is not a hex digest",
                ),
            })?;
        let write_err = |source| ResultStoreError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(write_err)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(write_err)?;
        let json = serde_json::to_vec(result).map_err(|e| write_err(e.into()))?;
        file.write_all(&json).map_err(write_err)?;
        file.as_file().sync_all().map_err(write_err)?;
        file.persist(&path).map_err(|e| write_err(e.error))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::VersionId;

    fn result(fp: &str) -> EvalResult {
        EvalResult {
            prompt: "support-bot".into(),
            version: VersionId("ab12".into()),
            fingerprint: Fingerprint(fp.into()),
            model: "echo/echo".into(),
            from_model: false,
            criteria: vec![],
            cases: vec![],
            created_at: "2026-11-23T10:00:00Z".into(),
        }
    }

    #[test]
    fn saves_and_loads_by_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(dir.path());
        assert_eq!(store.load(&Fingerprint("abc123".into())).unwrap(), None);
        store.save(&result("abc123")).unwrap();
        assert_eq!(
            store.load(&Fingerprint("abc123".into())).unwrap(),
            Some(result("abc123"))
        );
    }

    #[test]
    fn corrupt_or_mismatched_files_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("results")).unwrap();
        std::fs::write(
            dir.path().join("results/dead.json"),
            b"{\"prompt\": \"trunc",
        )
        .unwrap();
        assert_eq!(store.load(&Fingerprint("dead".into())).unwrap(), None);
        // A file whose content belongs to another fingerprint is not this result.
        let other = serde_json::to_vec(&result("beef")).unwrap();
        std::fs::write(dir.path().join("results/cafe.json"), other).unwrap();
        assert_eq!(store.load(&Fingerprint("cafe".into())).unwrap(), None);
        // The next save replaces the corrupt file.
        store.save(&result("dead")).unwrap();
        assert!(store.load(&Fingerprint("dead".into())).unwrap().is_some());
    }

    #[test]
    fn fingerprints_that_are_not_digests_never_name_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(dir.path());
        assert_eq!(
            store.load(&Fingerprint("../../etc/passwd".into())).unwrap(),
            None
        );
        assert!(store.save(&result("../escape")).is_err());
    }
}
