//! The local store (`.promptgate/`, the folder a CI cache step saves and
//! restores): results by fingerprint, `<store>/results/<fp>.json`, and
//! reviewers' labels when no registry is configured,
//! `<store>/reviews/<digest>.json`, one file per label. (The response
//! cache lives beside them; the runner owns it.)
//!
//! One file per evaluation keeps concurrent runs from contending, and makes
//! the folder safe to save and restore as a CI cache: a file is either whole
//! (written to a temporary name, then renamed) or absent.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::pipeline::review::ReviewLabel;
use crate::types::{EvalResult, Fingerprint};

#[derive(Debug, thiserror::Error)]
pub enum ResultStoreError {
    #[error("cannot write result {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Stored results up to this size are read whole before they are parsed.
const READ_WHOLE_UP_TO: u64 = 32 << 20;

/// A stored result's file parsed. One up to `read_whole_up_to` bytes is
/// read whole and parsed from memory (several times faster); a larger one
/// is parsed as it is read, its cases moving to their own file as they
/// come, so it is never held whole.
fn parse_stored(
    file: std::fs::File,
    read_whole_up_to: u64,
) -> std::io::Result<serde_json::Result<EvalResult>> {
    let size = file.metadata()?.len();
    if size <= read_whole_up_to {
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut &file, &mut bytes)?;
        Ok(serde_json::from_slice(&bytes))
    } else {
        Ok(serde_json::from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            file,
        )))
    }
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
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ResultStoreError::Read { path, source }),
        };
        let read = |source| ResultStoreError::Read {
            path: path.clone(),
            source,
        };
        match parse_stored(file, READ_WHOLE_UP_TO).map_err(read)? {
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
        // Serialized straight into the file: a result of many cases is
        // never held a second time as text.
        write_whole(&self.dir, &path, |file| {
            let mut out = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut out, result)?;
            out.flush()
        })?;
        Ok(path)
    }
}

impl ResultStore {
    /// Every whole, readable stored result (unreadable files are skipped, as
    /// [`Self::load`] skips them), in file-name order.
    pub fn all(&self) -> Result<Vec<EvalResult>, ResultStoreError> {
        let mut results = Vec::new();
        for path in json_files(&self.dir)? {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if let Some(result) = self.load(&Fingerprint(stem.to_owned()))? {
                results.push(result);
            }
        }
        Ok(results)
    }
}

/// The `*.json` files of a folder, sorted; none when it does not exist.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ResultStoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ResultStoreError::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Writes `path` whole or not at all: `write` fills a temporary file in
/// `dir`, which is synced and renamed over `path` only once it is complete.
fn write_whole(
    dir: &Path,
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), ResultStoreError> {
    let write_err = |source| ResultStoreError::Write {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    write(file.as_file_mut()).map_err(write_err)?;
    file.as_file().sync_all().map_err(write_err)?;
    file.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// Reviewers' labels kept in the local store (when no registry is
/// configured): one file per label, named by a digest of its content, so
/// two reviewers never write the same file and a CI cache restores whole
/// labels or none.
#[derive(Debug, Clone)]
pub struct LocalLabels {
    dir: PathBuf,
}

impl LocalLabels {
    /// `store_dir` is the store root (default `.promptgate`).
    pub fn new(store_dir: &Path) -> Self {
        Self {
            dir: store_dir.join("reviews"),
        }
    }

    pub fn record(&self, label: &ReviewLabel) -> Result<PathBuf, ResultStoreError> {
        let json = serde_json::to_vec(label).map_err(|e| ResultStoreError::Write {
            path: self.dir.clone(),
            source: e.into(),
        })?;
        let digest = hex::encode(Sha256::digest(&json));
        let path = self.dir.join(format!("{}.json", &digest[..32]));
        write_whole(&self.dir, &path, |file| file.write_all(&json))?;
        Ok(path)
    }

    /// Every readable label, oldest first (a file that does not parse is
    /// skipped with a warning: a torn or foreign file is not a label).
    pub fn all(&self) -> Result<Vec<ReviewLabel>, ResultStoreError> {
        let mut labels = Vec::new();
        for path in json_files(&self.dir)? {
            let bytes = std::fs::read(&path).map_err(|source| ResultStoreError::Read {
                path: path.clone(),
                source,
            })?;
            match serde_json::from_slice::<ReviewLabel>(&bytes) {
                Ok(label) if label.validate().is_ok() => labels.push(label),
                _ => tracing::warn!(path = %path.display(), "ignoring an unreadable review label"),
            }
        }
        labels.sort_by(|a, b| a.labelled_at.cmp(&b.labelled_at));
        Ok(labels)
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
            cases: Default::default(),
            created_at: "2026-11-23T10:00:00Z".into(),
        }
    }

    /// Read whole or as it is read, a stored result parses the same, and a
    /// cut-off file is refused either way.
    #[test]
    fn a_stored_result_parses_the_same_read_whole_or_as_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(dir.path());
        let mut saved = result("abc123");
        saved.cases = (0..3)
            .map(|i| crate::types::CaseResult {
                case_id: format!("c{i}"),
                vars: Default::default(),
                repeats: Vec::new(),
            })
            .collect();
        let path = store.save(&saved).unwrap();
        for limit in [0, u64::MAX] {
            let parsed = parse_stored(std::fs::File::open(&path).unwrap(), limit).unwrap();
            assert_eq!(parsed.unwrap(), saved, "read whole up to {limit} bytes");
        }
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 5]).unwrap();
        for limit in [0, u64::MAX] {
            let parsed = parse_stored(std::fs::File::open(&path).unwrap(), limit).unwrap();
            assert!(
                parsed.is_err(),
                "a cut-off file, read whole up to {limit} bytes"
            );
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

    #[test]
    fn labels_are_kept_one_file_each_and_read_back_oldest_first() {
        use crate::pipeline::review::{HumanScore, OutputRef};
        let dir = tempfile::tempdir().unwrap();
        let labels = LocalLabels::new(dir.path());
        assert!(labels.all().unwrap().is_empty());
        let label = |case: &str, at: &str| ReviewLabel {
            output: OutputRef {
                prompt: "support-bot".into(),
                criterion: "helpful".into(),
                fingerprint: "abc123".into(),
                case_id: case.into(),
                repeat: 0,
            },
            judge_score: 0.75,
            human: HumanScore::Grade(2),
            note: Some("misses the refund policy".into()),
            reviewer: "ana".into(),
            labelled_at: at.into(),
        };
        labels.record(&label("b", "2026-12-02T01:00:00Z")).unwrap();
        labels.record(&label("a", "2026-12-02T00:00:00Z")).unwrap();
        // The same label twice is one file.
        labels.record(&label("a", "2026-12-02T00:00:00Z")).unwrap();
        std::fs::write(dir.path().join("reviews/torn.json"), b"{\"prompt\":").unwrap();
        let read = labels.all().unwrap();
        assert_eq!(
            read,
            vec![
                label("a", "2026-12-02T00:00:00Z"),
                label("b", "2026-12-02T01:00:00Z")
            ]
        );
    }

    #[test]
    fn every_stored_result_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(dir.path());
        assert!(store.all().unwrap().is_empty());
        store.save(&result("bb")).unwrap();
        store.save(&result("aa")).unwrap();
        std::fs::write(dir.path().join("results/cc.json"), b"not json").unwrap();
        let all = store.all().unwrap();
        assert_eq!(all, vec![result("aa"), result("bb")]);
    }
}
