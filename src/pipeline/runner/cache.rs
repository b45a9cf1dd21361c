//! The response cache: one JSON file per provider answer, named by the
//! SHA-256 of everything that decides the answer. Lives in
//! `.promptgate/cache/`, the folder CI caches between runs.
//!
//! Entries are written to a temporary file in the same directory and
//! renamed into place, so a reader (or an interrupted run) never sees half
//! a file. An entry that does not parse, or whose recorded key is not its
//! name, is treated as absent and overwritten by the next answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::types::{ChatMessage, ChatRequest, Completion, ModelParameters, ResponseFormat};

/// Bump when the key material or the entry layout changes meaning.
const KEY_VERSION: u32 = 1;

/// How a run uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Read answers that exist; store new ones.
    #[default]
    ReadWrite,
    /// `--refresh`: ask the provider again and overwrite what is stored.
    Refresh,
    /// `--no-cache`: neither read nor write.
    Off,
}

impl CacheMode {
    /// From the two CLI flags; `--no-cache` wins.
    pub fn from_flags(no_cache: bool, refresh: bool) -> Self {
        match (no_cache, refresh) {
            (true, _) => CacheMode::Off,
            (false, true) => CacheMode::Refresh,
            (false, false) => CacheMode::ReadWrite,
        }
    }

    fn reads(self) -> bool {
        self == CacheMode::ReadWrite
    }

    fn writes(self) -> bool {
        self != CacheMode::Off
    }
}

/// The hex SHA-256 naming one answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheKey(pub String);

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything hashed into a key, serialized field by field.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    version: u32,
    /// Provider kind and endpoint, from `Provider::describe`.
    provider: &'a str,
    model: &'a str,
    parameters: &'a ModelParameters,
    response_format: &'a ResponseFormat,
    messages: &'a [ChatMessage],
    repeat: u32,
}

impl CacheKey {
    /// The key of asking `provider` (its `describe()`) for `request`, the
    /// `repeat`-th time. Repeats get distinct keys so a noisy model's
    /// samples are not collapsed into one.
    pub fn new(provider: &str, request: &ChatRequest, repeat: u32) -> Self {
        let material = KeyMaterial {
            version: KEY_VERSION,
            provider,
            model: &request.model,
            parameters: &request.parameters,
            response_format: &request.response_format,
            messages: &request.messages,
            repeat,
        };
        // Serializing plain data to JSON cannot fail.
        let bytes = serde_json::to_vec(&material).unwrap_or_default();
        CacheKey(hex::encode(Sha256::digest(&bytes)))
    }
}

/// One stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedResponse {
    pub completion: Completion,
    /// The latency of the original call, so latency scores are stable.
    pub latency_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: CacheKey,
    #[serde(flatten)]
    response: CachedResponse,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "cannot write the response cache at {path}: {source} \
         (check the folder is writable, or run with --no-cache)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The cache folder and how this run uses it.
#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
    mode: CacheMode,
}

impl ResponseCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>, mode: CacheMode) -> Self {
        Self {
            dir: dir.into(),
            mode,
        }
    }

    /// The cache inside a store folder: `<store>/cache`.
    pub fn in_store(store_dir: &Path, mode: CacheMode) -> Self {
        Self::new(store_dir.join("cache"), mode)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        // Two-character fan-out keeps directories small on big suites.
        let shard = key.0.get(..2).unwrap_or("00");
        self.dir.join(shard).join(format!("{}.json", key.0))
    }

    /// The stored answer, unless the mode skips reads or the entry is
    /// missing, unreadable, corrupt, or filed under the wrong key.
    pub fn get(&self, key: &CacheKey) -> Option<CachedResponse> {
        if !self.mode.reads() {
            return None;
        }
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.key == *key => Some(entry.response),
            Ok(_) | Err(_) => {
                tracing::debug!(path = %path.display(), "ignoring a corrupt cache entry");
                None
            }
        }
    }

    /// Stores an answer atomically. A no-op with `--no-cache`.
    pub fn put(&self, key: &CacheKey, response: &CachedResponse) -> Result<(), CacheError> {
        if !self.mode.writes() {
            return Ok(());
        }
        let path = self.path(key);
        let write_error = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(write_error)?;
        let entry = Entry {
            key: key.clone(),
            response: response.clone(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|error| write_error(error.into()))?;
        // Same directory as the target, so the rename cannot cross devices.
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".json")
            .tempfile_in(parent)
            .map_err(write_error)?;
        temp.write_all(&bytes).map_err(write_error)?;
        temp.persist(&path)
            .map_err(|error| write_error(error.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Role, Usage};

    fn request(content: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: content.into(),
            }],
            parameters: ModelParameters::default(),
            response_format: ResponseFormat::Text,
        }
    }

    fn answer(text: &str) -> CachedResponse {
        CachedResponse {
            completion: Completion {
                text: text.into(),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                },
                finish_reason: None,
            },
            latency_ms: 12,
        }
    }

    #[test]
    fn key_covers_everything_that_changes_the_answer() {
        let base = CacheKey::new("openai https://x", &request("hi"), 0);
        assert_eq!(base, CacheKey::new("openai https://x", &request("hi"), 0));
        assert_ne!(base, CacheKey::new("openai https://y", &request("hi"), 0));
        assert_ne!(base, CacheKey::new("openai https://x", &request("hi!"), 0));
        assert_ne!(base, CacheKey::new("openai https://x", &request("hi"), 1));
        let mut other = request("hi");
        other.model = "n".into();
        assert_ne!(base, CacheKey::new("openai https://x", &other, 0));
        let mut other = request("hi");
        other.parameters.seed = Some(1);
        assert_ne!(base, CacheKey::new("openai https://x", &other, 0));
        let mut other = request("hi");
        other.parameters.stop = vec!["x".into()];
        assert_ne!(base, CacheKey::new("openai https://x", &other, 0));
        let mut other = request("hi");
        other.response_format = ResponseFormat::JsonObject;
        assert_ne!(base, CacheKey::new("openai https://x", &other, 0));
        let mut other = request("hi");
        other.messages[0].role = Role::System;
        assert_ne!(base, CacheKey::new("openai https://x", &other, 0));
    }

    #[test]
    fn round_trip_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey::new("p", &request("hi"), 0);
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        assert_eq!(cache.get(&key), None);
        cache.put(&key, &answer("one")).unwrap();
        assert_eq!(cache.get(&key), Some(answer("one")));

        let refresh = ResponseCache::new(dir.path(), CacheMode::Refresh);
        assert_eq!(refresh.get(&key), None, "--refresh does not read");
        refresh.put(&key, &answer("two")).unwrap();
        assert_eq!(cache.get(&key), Some(answer("two")), "--refresh writes");

        let off = ResponseCache::new(dir.path(), CacheMode::Off);
        assert_eq!(off.get(&key), None);
        off.put(&key, &answer("three")).unwrap();
        assert_eq!(
            cache.get(&key),
            Some(answer("two")),
            "--no-cache does not write"
        );
    }

    #[test]
    fn corrupt_truncated_and_misfiled_entries_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::new("p", &request("hi"), 0);
        cache.put(&key, &answer("good")).unwrap();
        let path = cache.path(&key);
        let full = std::fs::read(&path).unwrap();

        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        assert_eq!(cache.get(&key), None, "truncated");
        std::fs::write(&path, b"\0\0garbage").unwrap();
        assert_eq!(cache.get(&key), None, "garbage");

        // A valid entry copied under another key's name.
        let other = CacheKey::new("p", &request("other"), 0);
        cache.put(&other, &answer("other")).unwrap();
        std::fs::copy(cache.path(&other), &path).unwrap();
        assert_eq!(cache.get(&key), None, "misfiled");

        cache.put(&key, &answer("rewritten")).unwrap();
        assert_eq!(cache.get(&key), Some(answer("rewritten")));
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn flags_map_to_modes() {
        assert_eq!(CacheMode::from_flags(false, false), CacheMode::ReadWrite);
        assert_eq!(CacheMode::from_flags(false, true), CacheMode::Refresh);
        assert_eq!(CacheMode::from_flags(true, true), CacheMode::Off);
    }
}
