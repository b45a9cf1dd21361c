//! The response cache: one SQLite database in WAL mode,
//! `.promptgate/cache/answers.sqlite3`, holding each provider answer under
//! the SHA-256 of everything that decides it ([`CacheKey::new`]). The
//! folder is the one CI caches between runs.
//!
//! Why SQLite rather than one file per answer or a log of our own: a
//! 2,000-case run used to create and rename 2,000 files (1.2 s of system
//! time); a transaction now commits a whole batch of answers at once (group
//! commit). SQLite's WAL gives us what a hand-written log would have to
//! re-invent and test: a killed process leaves no half-written entry (a
//! transaction is whole or absent), concurrent runs on one folder wait for
//! each other's writes (`busy_timeout`) and read while another writes, and a
//! lookup is a B-tree probe, not a scan of a log at start-up. It is already
//! in the binary (sqlx's bundled SQLite), and the folder stays one folder.
//!
//! `synchronous = NORMAL`: a power cut may lose the last answers (they are
//! asked again), never corrupt the file. A row whose JSON does not parse is
//! treated as absent and replaced by the next answer. Entries of the old
//! one-file-per-answer layout (`cache/ab/<key>.json`) are imported once,
//! when the database is first opened, and their files removed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{Connection, OptionalExtension, params};

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

/// An entry of the old one-file-per-answer layout, read when importing it.
#[derive(Deserialize)]
struct LegacyEntry {
    key: CacheKey,
    #[serde(flatten)]
    response: CachedResponse,
}

/// The database file inside the cache folder.
const DATABASE: &str = "answers.sqlite3";

/// How long a run waits for another run's write before giving up on one.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "cannot write the response cache at {path}: {message} \
         (check the folder is writable, or run with --no-cache)"
    )]
    Write { path: PathBuf, message: String },
}

/// The open database: one connection reads, one writes, so lookups do not
/// wait for a commit (WAL lets a reader run beside the writer).
struct Database {
    reader: Mutex<Connection>,
    writer: Mutex<Connection>,
}

/// The cache folder and how this run uses it. Clones share one database.
#[derive(Clone)]
pub struct ResponseCache {
    dir: PathBuf,
    mode: CacheMode,
    /// Opened on first use; an error is kept so it is reported, not retried
    /// per call.
    database: Arc<OnceLock<Result<Database, String>>>,
    /// Found without a database or old entries to read, on first lookup.
    absent: Arc<OnceLock<bool>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("dir", &self.dir)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>, mode: CacheMode) -> Self {
        Self {
            dir: dir.into(),
            mode,
            database: Arc::new(OnceLock::new()),
            absent: Arc::new(OnceLock::new()),
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

    /// The database file (`<dir>/answers.sqlite3`).
    pub fn database_path(&self) -> PathBuf {
        self.dir.join(DATABASE)
    }

    /// The open database. Reading opens it only when there is something to
    /// read (the file, or old entries to import), so a run that finds no
    /// cache creates none until it has an answer to keep.
    fn database(&self, create: bool) -> Option<Result<&Database, &str>> {
        if self.database.get().is_none() && !create {
            // Looked for once per run: a million lookups must not cost a
            // million directory reads. Our own first write opens it anyway.
            let absent = *self
                .absent
                .get_or_init(|| !self.database_path().exists() && !has_legacy_entries(&self.dir));
            if absent {
                return None;
            }
        }
        let opened = self.database.get_or_init(|| {
            open(&self.dir).map_err(|error| {
                let message = format!("{}: {error}", self.database_path().display());
                tracing::warn!("the response cache is not usable, answers are not kept: {message}");
                message
            })
        });
        Some(opened.as_ref().map_err(String::as_str))
    }

    /// The stored answer, unless the mode skips reads or the entry is
    /// missing, unreadable or corrupt.
    pub fn get(&self, key: &CacheKey) -> Option<CachedResponse> {
        if !self.mode.reads() {
            return None;
        }
        let database = self.database(false)?.ok()?;
        let reader = database.reader.lock().unwrap_or_else(|e| e.into_inner());
        lookup(&reader, key)
    }

    /// [`ResponseCache::get`] for every key, in one read transaction: a
    /// statement outside one takes and drops SQLite's shared lock each
    /// time, which costs more than the lookup.
    pub fn get_many(&self, keys: &[CacheKey]) -> Vec<Option<CachedResponse>> {
        let database = match self.database(false) {
            Some(Ok(database)) if self.mode.reads() => database,
            _ => return vec![None; keys.len()],
        };
        let reader = database.reader.lock().unwrap_or_else(|e| e.into_inner());
        // Without the transaction each lookup takes its own lock: slower,
        // the same answers.
        let began = reader.execute_batch("BEGIN").is_ok();
        let found = keys.iter().map(|key| lookup(&reader, key)).collect();
        if began {
            // Nothing was written: ending the read cannot lose anything.
            let _ = reader.execute_batch("ROLLBACK");
        }
        found
    }

    /// Whether any lookup could find an answer: reads are on and there is a
    /// database (or old entries) to read. A caller asking about many calls
    /// skips computing keys nobody can find.
    pub fn may_answer(&self) -> bool {
        self.mode.reads() && matches!(self.database(false), Some(Ok(_)))
    }

    /// Whether an answer is stored for each key (what `get_many` would
    /// find), unless the mode skips reads.
    pub fn contains_many(&self, keys: &[CacheKey]) -> Vec<bool> {
        self.get_many(keys).iter().map(Option::is_some).collect()
    }

    /// How many answers are stored (0 when there is no database yet).
    pub fn len(&self) -> usize {
        let Some(Ok(database)) = self.database(false) else {
            return 0;
        };
        let reader = database.reader.lock().unwrap_or_else(|e| e.into_inner());
        reader
            .query_row("SELECT count(*) FROM answers", [], |row| row.get(0))
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores one answer (its own transaction). A no-op with `--no-cache`.
    pub fn put(&self, key: &CacheKey, response: &CachedResponse) -> Result<(), CacheError> {
        self.put_many(std::slice::from_ref(&(key.clone(), response.clone())))
    }

    /// Stores answers in one transaction: all of them or, if the process
    /// dies first, none. A no-op with `--no-cache`.
    pub fn put_many(&self, entries: &[(CacheKey, CachedResponse)]) -> Result<(), CacheError> {
        if !self.mode.writes() || entries.is_empty() {
            return Ok(());
        }
        let write_error = |message: String| CacheError::Write {
            path: self.database_path(),
            message,
        };
        let database = match self.database(true) {
            Some(Ok(database)) => database,
            Some(Err(message)) => return Err(write_error(message.to_string())),
            None => return Err(write_error("not opened".into())),
        };
        let mut writer = database.writer.lock().unwrap_or_else(|e| e.into_inner());
        insert_all(&mut writer, entries, "INSERT OR REPLACE")
            .map_err(|error| write_error(error.to_string()))
    }
}

/// The answer stored under `key` on this connection; an unreadable one is
/// absent.
fn lookup(connection: &Connection, key: &CacheKey) -> Option<CachedResponse> {
    let found = connection
        .prepare_cached("SELECT response FROM answers WHERE key = ?1")
        .and_then(|mut statement| {
            statement
                .query_row(params![key.0], |row| row.get::<_, Vec<u8>>(0))
                .optional()
        });
    match found {
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(response) => Some(response),
            Err(_) => {
                tracing::debug!(%key, "ignoring a corrupt cache entry");
                None
            }
        },
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(%key, "cache lookup failed: {error}");
            None
        }
    }
}

/// Inserts every entry in one transaction.
fn insert_all(
    connection: &mut Connection,
    entries: &[(CacheKey, CachedResponse)],
    verb: &str,
) -> rusqlite::Result<()> {
    // IMMEDIATE: the write lock is taken (waiting on `busy_timeout`) before
    // anything is read. A deferred transaction reads first and then asks to
    // write; in WAL mode that upgrade fails at once with "database is
    // locked" when another run committed in between, whatever the timeout.
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut statement = transaction.prepare_cached(&format!(
            "{verb} INTO answers (key, response) VALUES (?1, ?2)"
        ))?;
        for (key, response) in entries {
            // Serializing plain data to JSON cannot fail.
            let bytes = serde_json::to_vec(response).unwrap_or_default();
            statement.execute(params![key.0, bytes])?;
        }
    }
    transaction.commit()
}

/// Opens (creating if needed) the database in `dir`, in WAL mode, and
/// imports entries of the old layout.
fn open(dir: &Path) -> Result<Database, String> {
    std::fs::create_dir_all(dir).map_err(|error| error.to_string())?;
    match open_database_waiting(dir) {
        Err(error) if is_damaged(&error) => {
            // Not a database (a truncated copy, a stray file): set it aside
            // for inspection and start an empty one; answers are asked again.
            let path = dir.join(DATABASE);
            let aside = dir.join(format!("{DATABASE}.damaged-{}", std::process::id()));
            tracing::warn!(path = %path.display(), "the response cache is damaged ({error}); moved to {}", aside.display());
            std::fs::rename(&path, &aside).map_err(|error| error.to_string())?;
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{DATABASE}{suffix}")));
            }
            open_database(dir).map_err(|error| error.to_string())
        }
        other => other.map_err(|error| error.to_string()),
    }
}

/// [`open_database`], waiting up to [`BUSY_TIMEOUT`] while another run
/// holds the database. Setting up a new database (switching it to WAL,
/// creating its table) can be refused at once with "database is locked"
/// when runs start together, without SQLite's busy handler being asked.
fn open_database_waiting(dir: &Path) -> rusqlite::Result<Database> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match open_database(dir) {
            Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn is_damaged(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

fn open_database(dir: &Path) -> rusqlite::Result<Database> {
    let path = dir.join(DATABASE);
    let connect = || -> rusqlite::Result<Connection> {
        let connection = Connection::open(&path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(connection)
    };
    let mut writer = connect()?;
    writer.execute_batch(
        "CREATE TABLE IF NOT EXISTS answers (\
            key TEXT PRIMARY KEY NOT NULL, \
            response BLOB NOT NULL\
         ) WITHOUT ROWID",
    )?;
    import_legacy(dir, &mut writer);
    let reader = connect()?;
    Ok(Database {
        reader: Mutex::new(reader),
        writer: Mutex::new(writer),
    })
}

/// The two-hex-digit folders of the old layout.
fn legacy_shards(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_dir()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|name| {
                        name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit())
                    })
        })
        .collect()
}

fn has_legacy_entries(dir: &Path) -> bool {
    !legacy_shards(dir).is_empty()
}

/// Imports the old layout's whole, correctly filed entries (never over an
/// answer already in the database), then removes its files. Best effort:
/// an entry that cannot be imported is only a cache miss.
fn import_legacy(dir: &Path, connection: &mut Connection) {
    for shard in legacy_shards(dir) {
        let files: Vec<PathBuf> = std::fs::read_dir(&shard)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        let entries: Vec<(CacheKey, CachedResponse)> = files
            .iter()
            .filter_map(|path| {
                let stem = path.file_stem()?.to_str()?;
                let entry: LegacyEntry = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
                (entry.key.0 == stem).then_some((entry.key, entry.response))
            })
            .collect();
        if let Err(error) = insert_all(connection, &entries, "INSERT OR IGNORE") {
            tracing::warn!(shard = %shard.display(), "cannot import old cache entries: {error}");
            continue;
        }
        for path in &files {
            let _ = std::fs::remove_file(path);
        }
        // Fails harmlessly if another run put something there meanwhile.
        let _ = std::fs::remove_dir(&shard);
        tracing::debug!(shard = %shard.display(), imported = entries.len(), "imported old cache entries");
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

    /// Rewrites a stored row's bytes behind the cache's back.
    fn overwrite_row(cache: &ResponseCache, key: &CacheKey, bytes: &[u8]) {
        let connection = Connection::open(cache.database_path()).unwrap();
        let changed = connection
            .execute(
                "UPDATE answers SET response = ?2 WHERE key = ?1",
                params![key.0, bytes],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    #[test]
    fn corrupt_rows_and_a_damaged_file_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::new("p", &request("hi"), 0);
        cache.put(&key, &answer("good")).unwrap();
        let full = serde_json::to_vec(&answer("good")).unwrap();

        overwrite_row(&cache, &key, &full[..full.len() / 2]);
        assert_eq!(cache.get(&key), None, "truncated");
        overwrite_row(&cache, &key, b"\0\0garbage");
        assert_eq!(cache.get(&key), None, "garbage");
        cache.put(&key, &answer("rewritten")).unwrap();
        assert_eq!(cache.get(&key), Some(answer("rewritten")));

        // A file that is not a database is set aside, and the cache starts
        // empty rather than failing the run.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(DATABASE), b"not a database at all, sorry").unwrap();
        let damaged = ResponseCache::new(other.path(), CacheMode::ReadWrite);
        assert_eq!(damaged.get(&key), None);
        damaged.put(&key, &answer("fresh")).unwrap();
        assert_eq!(damaged.get(&key), Some(answer("fresh")));
    }

    #[test]
    fn old_per_file_entries_are_imported_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = |key: &CacheKey, text: &str| {
            let mut entry = serde_json::to_value(answer(text)).unwrap();
            entry["key"] = serde_json::json!(key.0);
            serde_json::to_vec(&entry).unwrap()
        };
        let file = |key: &CacheKey| dir.path().join(&key.0[..2]).join(format!("{}.json", key.0));
        let good = CacheKey::new("p", &request("good"), 0);
        let misfiled = CacheKey::new("p", &request("misfiled"), 0);
        let truncated = CacheKey::new("p", &request("truncated"), 0);
        for key in [&good, &misfiled, &truncated] {
            std::fs::create_dir_all(file(key).parent().unwrap()).unwrap();
        }
        std::fs::write(file(&good), legacy(&good, "old")).unwrap();
        // A valid entry under another key's name, and half an entry.
        std::fs::write(file(&misfiled), legacy(&good, "wrong")).unwrap();
        let whole = legacy(&truncated, "cut");
        std::fs::write(file(&truncated), &whole[..whole.len() / 2]).unwrap();

        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        assert_eq!(cache.get(&good), Some(answer("old")));
        assert_eq!(cache.get(&misfiled), None);
        assert_eq!(cache.get(&truncated), None);
        assert!(
            legacy_shards(dir.path()).is_empty(),
            "the old files are gone once imported"
        );
        // A second process opening the folder finds the imported answer.
        let again = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        assert_eq!(again.get(&good), Some(answer("old")));
    }

    #[test]
    fn reading_an_absent_cache_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path().join("cache"), CacheMode::ReadWrite);
        assert_eq!(cache.get(&CacheKey::new("p", &request("hi"), 0)), None);
        assert!(!dir.path().join("cache").exists());
    }

    #[test]
    fn concurrent_runs_share_one_folder() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..4)
            .map(|run| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    // Each its own connections, as separate processes would have.
                    let cache = ResponseCache::new(path, CacheMode::ReadWrite);
                    for batch in 0..20 {
                        let entries: Vec<_> = (0..10)
                            .map(|i| {
                                let text = format!("run {run} batch {batch} entry {i}");
                                (CacheKey::new("p", &request(&text), 0), answer(&text))
                            })
                            .collect();
                        cache.put_many(&entries).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        for run in 0..4 {
            let text = format!("run {run} batch 19 entry 9");
            let key = CacheKey::new("p", &request(&text), 0);
            assert_eq!(cache.get(&key), Some(answer(&text)));
        }
    }

    /// Set in the child process of the test below: the folder to write to.
    const CHILD_DIR: &str = "PROMPTGATE_TEST_CACHE_WRITER_DIR";
    const BATCH: usize = 50;

    /// A process killed (SIGKILL) while writing leaves whole batches only:
    /// every row parses, and the count is a multiple of the batch size.
    /// Shown failing on a mutant that inserts outside a transaction.
    #[cfg(unix)]
    #[test]
    fn a_killed_writer_leaves_only_whole_entries() {
        let big = "x".repeat(4000);
        if let Ok(dir) = std::env::var(CHILD_DIR) {
            let cache = ResponseCache::new(dir, CacheMode::ReadWrite);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            for batch in 0.. {
                let entries: Vec<_> = (0..BATCH)
                    .map(|i| {
                        let text = format!("{batch}/{i}");
                        (CacheKey::new("p", &request(&text), 0), answer(&big))
                    })
                    .collect();
                cache.put_many(&entries).unwrap();
                if std::time::Instant::now() > deadline {
                    return;
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pipeline::runner::cache::tests::a_killed_writer_leaves_only_whole_entries",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let database = dir.path().join(DATABASE);
        let count = || -> usize {
            Connection::open(&database)
                .and_then(|c| {
                    c.busy_timeout(BUSY_TIMEOUT)?;
                    c.query_row("SELECT count(*) FROM answers", [], |row| row.get(0))
                })
                .unwrap_or(0)
        };
        let waited = std::time::Instant::now();
        while count() < 10 * BATCH {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(30),
                "the writer wrote nothing"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no checkpoint
        child.wait().unwrap();

        let connection = Connection::open(&database).unwrap();
        let check: String = connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let rows = count();
        assert_eq!(rows % BATCH, 0, "{rows} rows: a batch was cut in half");
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        let mut statement = connection.prepare("SELECT key FROM answers").unwrap();
        let keys: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for key in keys {
            assert_eq!(cache.get(&CacheKey(key)), Some(answer(&big)));
        }
    }

    #[test]
    fn flags_map_to_modes() {
        assert_eq!(CacheMode::from_flags(false, false), CacheMode::ReadWrite);
        assert_eq!(CacheMode::from_flags(false, true), CacheMode::Refresh);
        assert_eq!(CacheMode::from_flags(true, true), CacheMode::Off);
    }
}
