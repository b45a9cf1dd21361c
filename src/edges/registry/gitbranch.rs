//! The registry as JSON files on a branch of the repository itself
//! (`git+branch://promptgate-registry`): what the GitHub Action uses when
//! there is no server. Any static host can serve the branch.
//!
//! Layout of the branch:
//! - `prompts/<name>/versions/v<n>.json` — one published [`Version`] each
//! - `prompts/<name>/labels.json` — label → target
//! - `prompts/<name>/moves.jsonl` — every label move, oldest first
//! - `prompts/<name>/baselines.json` — version number → baseline
//! - `results/<fingerprint>.json` — evaluation results
//! - `audit/<YYYY-MM>.jsonl` — the audit log
//!
//! Commits are built with plumbing (`hash-object`, a private index file,
//! `write-tree`, `commit-tree`), so the user's working tree, index and
//! checked-out branch are never touched. With an `origin` remote a write is
//! a commit and a push; a push rejected because someone else wrote first is
//! fetched, re-applied to the new state and retried. Reads come from the
//! freshly fetched branch. Without a remote the branch is updated locally
//! with a compare-and-swap `update-ref`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{
    AuditEntry, Baseline, GateOutcome, LabelMove, LabelTarget, MoveLabel, Namespace, NewVersion,
    Published, Registry, RegistryError, Result, Version, VersionRef, backoff, baseline_detail,
    check_result_matches, checked_move, move_detail, next_version, not_found, publish_detail,
    result_detail, validate_name,
};
use crate::pipeline::review::ReviewLabel;
use crate::types::{EvalResult, Fingerprint, now_rfc3339};

/// How often a write is re-applied after losing a race to push.
const ATTEMPTS: u32 = 40;
const REMOTE: &str = "origin";

/// The files of the registry branch at one commit, plus what a write changed.
#[derive(Debug, Clone, Default)]
struct Files {
    files: BTreeMap<String, Vec<u8>>,
    changed: BTreeSet<String>,
}

impl Files {
    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        self.files
            .get(path)
            .map(|bytes| serde_json::from_slice(bytes).map_err(|e| corrupt(path, e)))
            .transpose()
    }

    fn lines<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let Some(bytes) = self.files.get(path) else {
            return Ok(Vec::new());
        };
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| serde_json::from_slice(line).map_err(|e| corrupt(path, e)))
            .collect()
    }

    fn put_json<T: Serialize>(&mut self, path: String, value: &T) {
        let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        bytes.push(b'\n');
        self.files.insert(path.clone(), bytes);
        self.changed.insert(path);
    }

    fn append_line<T: Serialize>(&mut self, path: String, value: &T) {
        let entry = self.files.entry(path.clone()).or_default();
        entry.extend(serde_json::to_vec(value).unwrap_or_default());
        entry.push(b'\n');
        self.changed.insert(path);
    }

    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.files
            .range(prefix.to_string()..)
            .map(|(path, _)| path)
            .take_while(move |p| p.starts_with(prefix))
    }

    fn versions(&self, root: &str, prompt: &str) -> Result<Vec<Version>> {
        let prefix = format!("{}/versions/", prompt_dir(root, prompt));
        let mut versions: Vec<Version> = self
            .under(&prefix)
            .filter(|path| path.ends_with(".json"))
            .map(|path| {
                self.json::<Version>(path)
                    .transpose()
                    .unwrap_or_else(|| Err(corrupt(path, "missing")))
            })
            .collect::<Result<_>>()?;
        versions.sort_by_key(|v| v.number);
        Ok(versions)
    }

    fn version(&self, root: &str, prompt: &str, at: &VersionRef) -> Result<Option<Version>> {
        match at {
            VersionRef::Number(n) => self.json(&version_path(root, prompt, *n)),
            VersionRef::Id(id) => Ok(self
                .versions(root, prompt)?
                .into_iter()
                .find(|v| &v.id == id)),
        }
    }

    fn labels(&self, root: &str, prompt: &str) -> Result<BTreeMap<String, LabelTarget>> {
        Ok(self
            .json(&format!("{}/labels.json", prompt_dir(root, prompt)))?
            .unwrap_or_default())
    }

    fn baselines(&self, root: &str, prompt: &str) -> Result<BTreeMap<u32, StoredBaseline>> {
        Ok(self
            .json(&format!("{}/baselines.json", prompt_dir(root, prompt)))?
            .unwrap_or_default())
    }

    fn audit_log(&self, root: &str) -> Result<Vec<AuditEntry>> {
        let audit_dir = format!("{root}audit/");
        let paths: Vec<&String> = self
            .under(&audit_dir)
            .filter(|p| p.ends_with(".jsonl"))
            .collect();
        let mut entries = Vec::new();
        for path in paths {
            entries.extend(self.lines::<AuditEntry>(path)?);
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    fn audit(
        &mut self,
        root: &str,
        actor: &str,
        action: &str,
        prompt: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<()> {
        let seq = self.audit_log(root)?.last().map_or(0, |e| e.seq) + 1;
        let at = now_rfc3339();
        let month = at.get(..7).unwrap_or("unknown").to_string();
        let entry = AuditEntry {
            seq,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            prompt: prompt.map(str::to_string),
            detail,
        };
        self.append_line(format!("{root}audit/{month}.jsonl"), &entry);
        Ok(())
    }

    fn publish(&mut self, root: &str, new: &NewVersion) -> Result<Published> {
        let versions = self.versions(root, &new.prompt)?;
        if let Some(existing) = versions.iter().find(|v| v.id == new.id) {
            return Ok(Published {
                version: existing.clone(),
                created: false,
            });
        }
        let named_parent = new
            .parent
            .as_ref()
            .and_then(|id| versions.iter().find(|v| &v.id == id))
            .map(|v| v.number);
        let version = next_version(new, versions.last().map(|v| v.number), named_parent);
        self.put_json(version_path(root, &new.prompt, version.number), &version);
        self.audit(
            root,
            &version.author,
            "publish",
            Some(&version.prompt),
            publish_detail(&version),
        )?;
        Ok(Published {
            version,
            created: true,
        })
    }

    fn record_result(&mut self, root: &str, result: &EvalResult, actor: &str) -> Result<()> {
        self.put_json(result_path(root, &result.fingerprint), result);
        self.audit(
            root,
            actor,
            "record_result",
            Some(&result.prompt),
            result_detail(result),
        )
    }

    fn set_baseline(
        &mut self,
        root: &str,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        let version = self
            .version(root, prompt, &VersionRef::Number(number))?
            .ok_or_else(|| not_found(prompt, &VersionRef::Number(number)))?;
        let result: EvalResult = self
            .json(&result_path(root, fingerprint))?
            .ok_or_else(|| RegistryError::ResultNotFound(fingerprint.clone()))?;
        check_result_matches(&version, &result)?;
        let stored = StoredBaseline {
            fingerprint: fingerprint.clone(),
            gate,
            set_by: actor.to_string(),
            set_at: now_rfc3339(),
        };
        let mut baselines = self.baselines(root, prompt)?;
        baselines.insert(number, stored.clone());
        self.put_json(
            format!("{}/baselines.json", prompt_dir(root, prompt)),
            &baselines,
        );
        let baseline = stored.into_baseline(prompt, number, result);
        self.audit(
            root,
            actor,
            "set_baseline",
            Some(prompt),
            baseline_detail(&baseline),
        )?;
        Ok(baseline)
    }

    fn move_label(
        &mut self,
        root: &str,
        request: &MoveLabel,
        to: &LabelTarget,
    ) -> Result<LabelMove> {
        for number in to.versions() {
            if !self
                .files
                .contains_key(&version_path(root, &request.prompt, number))
            {
                return Err(not_found(&request.prompt, &VersionRef::Number(number)));
            }
        }
        let mut labels = self.labels(root, &request.prompt)?;
        let recorded = checked_move(request, to, labels.get(&request.label).cloned())?;
        labels.insert(request.label.clone(), to.clone());
        let dir = prompt_dir(root, &request.prompt);
        self.put_json(format!("{dir}/labels.json"), &labels);
        self.append_line(format!("{dir}/moves.jsonl"), &recorded);
        self.audit(
            root,
            &recorded.actor,
            "move_label",
            Some(&recorded.prompt),
            move_detail(&recorded),
        )?;
        Ok(recorded)
    }
}

/// A baseline as `baselines.json` keeps it (the result lives in `results/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredBaseline {
    fingerprint: Fingerprint,
    gate: GateOutcome,
    set_by: String,
    set_at: String,
}

impl StoredBaseline {
    fn into_baseline(self, prompt: &str, number: u32, result: EvalResult) -> Baseline {
        Baseline {
            prompt: prompt.to_string(),
            number,
            fingerprint: self.fingerprint,
            gate: self.gate,
            result,
            set_by: self.set_by,
            set_at: self.set_at,
        }
    }
}

fn prompt_dir(root: &str, prompt: &str) -> String {
    format!("{root}prompts/{prompt}")
}

/// A prompt's review labels: one JSON line each, appended.
const REVIEWS_FILE: &str = "reviews.jsonl";

fn reviews_path(root: &str, prompt: &str) -> String {
    format!("{}/{REVIEWS_FILE}", prompt_dir(root, prompt))
}

fn version_path(root: &str, prompt: &str, number: u32) -> String {
    format!("{}/versions/v{number}.json", prompt_dir(root, prompt))
}

/// Fingerprints are hashes; anything else is hashed to make a safe file name.
fn result_path(root: &str, fingerprint: &Fingerprint) -> String {
    let plain = !fingerprint.0.is_empty()
        && !fingerprint.0.starts_with('.')
        && fingerprint.0.len() <= 128
        && fingerprint
            .0
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        format!("{root}results/{}.json", fingerprint.0)
    } else {
        use sha2::Digest;
        format!(
            "{root}results/{}.json",
            hex::encode(sha2::Sha256::digest(fingerprint.0.as_bytes()))
        )
    }
}

fn corrupt(path: &str, error: impl std::fmt::Display) -> RegistryError {
    RegistryError::Corrupt {
        path: path.to_string(),
        message: error.to_string(),
    }
}

/// What became of a push.
enum Pushed {
    Done,
    /// Someone else wrote first.
    Lost,
}

/// The branch a registry lives on, shared by the views of its namespaces.
struct Branch {
    repo: PathBuf,
    branch: String,
    has_remote: bool,
    /// Writes from this process go one at a time; other processes and
    /// clones are kept apart by the push (or `update-ref`) check.
    write_lock: tokio::sync::Mutex<()>,
    /// Fetches update one ref; one at a time keeps git's ref lock free.
    fetch_lock: tokio::sync::Mutex<()>,
    /// The files of the last commit read.
    cache: Mutex<Option<(String, Arc<Files>)>>,
}

/// One namespace of a registry on a branch of the repository at `repo`.
/// The default namespace keeps the branch's original layout at its root;
/// any other lives under `repos/<owner>/<repo>/` with the same layout.
#[derive(Clone)]
pub struct GitBranchRegistry {
    branch: Arc<Branch>,
    namespace: Namespace,
    /// The namespace's folder: empty, or `repos/<owner>/<repo>/`.
    root: String,
}

impl GitBranchRegistry {
    pub async fn open(repo: &Path, branch: &str) -> Result<Self> {
        Ok(GitBranchRegistry {
            branch: Arc::new(Branch::open(repo, branch).await?),
            namespace: Namespace::default_namespace(),
            root: String::new(),
        })
    }

    /// The same branch, reading and writing `namespace`.
    pub fn in_namespace(mut self, namespace: &Namespace) -> Self {
        self.root = if namespace.is_default() {
            String::new()
        } else {
            format!("repos/{}/", namespace.as_str())
        };
        self.namespace = namespace.clone();
        self
    }
}

impl Branch {
    async fn open(repo: &Path, branch: &str) -> Result<Self> {
        if branch.starts_with('-')
            || !branch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(RegistryError::InvalidName {
                what: "registry branch",
                name: branch.to_string(),
                why: "use letters, digits, `-`, `_`, `.` and `/` only",
            });
        }
        let registry = Self {
            repo: repo.to_path_buf(),
            branch: branch.to_string(),
            has_remote: false,
            write_lock: tokio::sync::Mutex::new(()),
            fetch_lock: tokio::sync::Mutex::new(()),
            cache: Mutex::new(None),
        };
        registry.git(&["rev-parse", "--git-dir"], None).await.map_err(|_| RegistryError::Git {
            args: "rev-parse --git-dir".into(),
            message: format!(
                "{} is not a git repository; a git+branch:// registry lives in the repository's own history",
                repo.display()
            ),
        })?;
        let has_remote = registry
            .run(&["remote", "get-url", REMOTE], None)
            .await?
            .status
            .success();
        Ok(Self {
            has_remote,
            ..registry
        })
    }

    /// The ref reads come from: the fetched remote branch, or the local one.
    fn read_ref(&self) -> String {
        if self.has_remote {
            format!("refs/remotes/{REMOTE}/{}", self.branch)
        } else {
            format!("refs/heads/{}", self.branch)
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<std::process::Output> {
        self.run_with_index(args, stdin, None).await
    }

    async fn run_with_index(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<std::process::Output> {
        let mut command = tokio::process::Command::new("git");
        command
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            // Registry commits are made by promptgate; the actor is in the message and the audit log.
            .env("GIT_AUTHOR_NAME", "promptgate")
            .env("GIT_AUTHOR_EMAIL", "promptgate@users.noreply.github.com")
            .env("GIT_COMMITTER_NAME", "promptgate")
            .env("GIT_COMMITTER_EMAIL", "promptgate@users.noreply.github.com")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(index) = index {
            command.env("GIT_INDEX_FILE", index);
        }
        let git_error = |e: std::io::Error| RegistryError::Git {
            args: args.join(" "),
            message: e.to_string(),
        };
        let mut child = command.spawn().map_err(git_error)?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes).await.map_err(git_error)?;
            drop(pipe);
        }
        child.wait_with_output().await.map_err(git_error)
    }

    /// Runs git and returns its stdout, or its stderr as the error.
    async fn git(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
        self.git_with_index(args, stdin, None).await
    }

    async fn git_with_index(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<Vec<u8>> {
        let output = self.run_with_index(args, stdin, index).await?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(RegistryError::Git {
                args: args.join(" "),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }

    async fn git_line(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<String> {
        let out = self.git_with_index(args, stdin, index).await?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// Brings the branch up to date from the remote; its commit, if it exists.
    async fn fetch(&self) -> Result<Option<String>> {
        if self.has_remote {
            let _fetching = self.fetch_lock.lock().await;
            let refspec = format!("+refs/heads/{}:{}", self.branch, self.read_ref());
            let args = [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                REMOTE,
                refspec.as_str(),
            ];
            for attempt in 1..=ATTEMPTS {
                let output = self.run(&args, None).await?;
                let stderr = String::from_utf8_lossy(&output.stderr);
                if output.status.success() {
                    break;
                }
                if stderr.contains("couldn't find remote ref") {
                    return Ok(None);
                }
                // Another process in this clone is updating the same ref.
                if stderr.contains(".lock") && attempt < ATTEMPTS {
                    tokio::time::sleep(backoff(attempt.min(4))).await;
                    continue;
                }
                return Err(RegistryError::Git {
                    args: args.join(" "),
                    message: stderr.trim().to_string(),
                });
            }
        }
        let commit = format!("{}^{{commit}}", self.read_ref());
        let output = self
            .run(&["rev-parse", "--verify", "--quiet", &commit], None)
            .await?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string()))
    }

    /// The files at a commit (cached by commit id).
    async fn files_at(&self, commit: &str) -> Result<Arc<Files>> {
        if let Some((cached, files)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && cached == commit
        {
            return Ok(files.clone());
        }
        let listing = self.git(&["ls-tree", "-r", "-z", commit], None).await?;
        let mut entries = Vec::new();
        for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            let (meta, path) = record
                .split_once('\t')
                .ok_or_else(|| corrupt(commit, "unexpected ls-tree output"))?;
            let object = meta
                .split(' ')
                .nth(2)
                .ok_or_else(|| corrupt(commit, "unexpected ls-tree output"))?;
            entries.push((path.to_string(), object.to_string()));
        }
        let request: String = entries
            .iter()
            .map(|(_, object)| format!("{object}\n"))
            .collect();
        let blobs = self
            .git(&["cat-file", "--batch"], Some(request.as_bytes()))
            .await?;
        let mut files = Files::default();
        let mut rest = blobs.as_slice();
        for (path, _) in entries {
            let header_end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| corrupt(&path, "truncated"))?;
            let header = String::from_utf8_lossy(&rest[..header_end]).to_string();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| corrupt(&path, format!("unexpected cat-file header `{header}`")))?;
            let body = rest
                .get(header_end + 1..header_end + 1 + size)
                .ok_or_else(|| corrupt(&path, "truncated"))?;
            files.files.insert(path, body.to_vec());
            rest = rest.get(header_end + 2 + size..).unwrap_or_default();
        }
        let files = Arc::new(files);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((commit.to_string(), files.clone()));
        Ok(files)
    }

    /// The registry as the branch has it now.
    async fn snapshot(&self) -> Result<Arc<Files>> {
        match self.fetch().await? {
            Some(commit) => self.files_at(&commit).await,
            None => Ok(Arc::new(Files::default())),
        }
    }

    /// A commit of `files` on top of `parent`, built in a private index.
    async fn commit(&self, files: &Files, parent: Option<&str>, message: &str) -> Result<String> {
        let scratch = tempfile::tempdir().map_err(|source| RegistryError::Io {
            path: "temp dir".into(),
            source,
        })?;
        let index = scratch.path().join("index");
        match parent {
            Some(parent) => {
                self.git_with_index(&["read-tree", parent], None, Some(&index))
                    .await?
            }
            None => {
                self.git_with_index(&["read-tree", "--empty"], None, Some(&index))
                    .await?
            }
        };
        let mut entries = String::new();
        for path in &files.changed {
            let bytes = files.files.get(path).map(Vec::as_slice).unwrap_or_default();
            let blob = self
                .git_line(&["hash-object", "-w", "--stdin"], Some(bytes), None)
                .await?;
            entries.push_str(&format!("100644 {blob}\t{path}\n"));
        }
        self.git_with_index(
            &["update-index", "--add", "--index-info"],
            Some(entries.as_bytes()),
            Some(&index),
        )
        .await?;
        let tree = self.git_line(&["write-tree"], None, Some(&index)).await?;
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        self.git_line(&args, None, None).await
    }

    /// Publishes a commit whose parent is `parent`: refused when the branch moved.
    async fn push(&self, commit: &str, parent: Option<&str>) -> Result<Pushed> {
        if !self.has_remote {
            let local = self.read_ref();
            let output = self
                .run(&["update-ref", &local, commit, parent.unwrap_or("")], None)
                .await?;
            return Ok(if output.status.success() {
                Pushed::Done
            } else {
                Pushed::Lost
            });
        }
        let refspec = format!("{commit}:refs/heads/{}", self.branch);
        let args = ["push", "--quiet", "--porcelain", REMOTE, refspec.as_str()];
        let output = self.run(&args, None).await?;
        if output.status.success() {
            // Readers in this clone see the write without waiting for a fetch.
            let _ = self
                .run(&["update-ref", &self.read_ref(), commit], None)
                .await;
            return Ok(Pushed::Done);
        }
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lost_race = [
            "[rejected]",
            "[remote rejected]",
            "non-fast-forward",
            "fetch first",
            "cannot lock ref",
        ]
        .iter()
        .any(|sign| said.contains(sign));
        if lost_race {
            Ok(Pushed::Lost)
        } else {
            Err(RegistryError::Git {
                args: args.join(" "),
                message: said.trim().to_string(),
            })
        }
    }

    /// Applies a change to the newest state of the branch and publishes it;
    /// when another writer got there first, starts again from their state.
    async fn write<T>(
        &self,
        summary: String,
        apply: impl Fn(&mut Files) -> Result<T>,
    ) -> Result<T> {
        let _writing = self.write_lock.lock().await;
        for attempt in 1..=ATTEMPTS {
            let parent = self.fetch().await?;
            let mut files = match &parent {
                Some(commit) => Files::clone(&*self.files_at(commit).await?),
                None => Files::default(),
            };
            files.changed.clear();
            let value = apply(&mut files)?;
            if files.changed.is_empty() {
                return Ok(value);
            }
            let commit = self.commit(&files, parent.as_deref(), &summary).await?;
            match self.push(&commit, parent.as_deref()).await? {
                Pushed::Done => {
                    files.changed.clear();
                    *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((commit, Arc::new(files)));
                    return Ok(value);
                }
                Pushed::Lost => {
                    tracing::debug!("registry branch moved while writing ({summary}); re-applying");
                    tokio::time::sleep(backoff(attempt.min(4))).await;
                }
            }
        }
        Err(RegistryError::Contention {
            what: summary,
            attempts: ATTEMPTS,
        })
    }
}

#[async_trait]
impl Registry for GitBranchRegistry {
    fn describe(&self) -> String {
        format!("git+branch://{}", self.branch.branch)
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn scoped(&self, namespace: &Namespace) -> Arc<dyn Registry> {
        Arc::new(self.clone().in_namespace(namespace))
    }

    async fn publish(&self, new: NewVersion) -> Result<Published> {
        validate_name("prompt name", &new.prompt)?;
        let summary = format!("publish {} ({}) by {}", new.prompt, new.id, new.author);
        self.branch
            .write(summary, |files| files.publish(&self.root, &new))
            .await
    }

    async fn version(&self, prompt: &str, at: &VersionRef) -> Result<Option<Version>> {
        self.branch
            .snapshot()
            .await?
            .version(&self.root, prompt, at)
    }

    async fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        self.branch.snapshot().await?.versions(&self.root, prompt)
    }

    async fn prompts(&self) -> Result<Vec<String>> {
        let files = self.branch.snapshot().await?;
        let dir = format!("{}prompts/", self.root);
        let names: BTreeSet<String> = files
            .under(&dir)
            .filter(|path| path.contains("/versions/"))
            .filter_map(|path| path.strip_prefix(dir.as_str())?.split('/').next())
            .map(str::to_string)
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        validate_name("prompt name", &result.prompt)?;
        let summary = format!(
            "record result {} of {} by {actor}",
            result.fingerprint, result.prompt
        );
        self.branch
            .write(summary, |files| {
                files.record_result(&self.root, result, actor)
            })
            .await
    }

    async fn result(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>> {
        self.branch
            .snapshot()
            .await?
            .json(&result_path(&self.root, fingerprint))
    }

    async fn set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        let summary = format!("set baseline of {prompt} v{number} to {fingerprint} by {actor}");
        self.branch
            .write(summary, |files| {
                files.set_baseline(&self.root, prompt, number, fingerprint, gate, actor)
            })
            .await
    }

    async fn baseline(&self, prompt: &str, number: u32) -> Result<Option<Baseline>> {
        let files = self.branch.snapshot().await?;
        let Some(stored) = files.baselines(&self.root, prompt)?.remove(&number) else {
            return Ok(None);
        };
        let path = result_path(&self.root, &stored.fingerprint);
        let result = files
            .json(&path)?
            .ok_or_else(|| corrupt(&path, "the baseline's result is missing"))?;
        Ok(Some(stored.into_baseline(prompt, number, result)))
    }

    async fn labels(&self, prompt: &str) -> Result<BTreeMap<String, LabelTarget>> {
        self.branch.snapshot().await?.labels(&self.root, prompt)
    }

    async fn move_label(&self, request: MoveLabel) -> Result<LabelMove> {
        validate_name("label", &request.label)?;
        let to = request.to.clone().normalized()?;
        let summary = format!(
            "move {} of {} to {to} by {}",
            request.label, request.prompt, request.actor
        );
        self.branch
            .write(summary, |files| files.move_label(&self.root, &request, &to))
            .await
    }

    async fn label_history(&self, prompt: &str) -> Result<Vec<LabelMove>> {
        self.branch
            .snapshot()
            .await?
            .lines(&format!("{}/moves.jsonl", prompt_dir(&self.root, prompt)))
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        self.branch.snapshot().await?.audit_log(&self.root)
    }

    async fn record_review_label(&self, label: &ReviewLabel) -> Result<()> {
        validate_name("prompt name", &label.output.prompt)?;
        label.validate()?;
        let summary = format!(
            "review label on {} / {} by {}",
            label.output.prompt, label.output.criterion, label.reviewer
        );
        self.branch
            .write(summary, |files| {
                files.append_line(reviews_path(&self.root, &label.output.prompt), label);
                Ok(())
            })
            .await
    }

    async fn review_labels(&self, prompt: Option<&str>) -> Result<Vec<ReviewLabel>> {
        let files = self.branch.snapshot().await?;
        let paths: Vec<String> = match prompt {
            Some(prompt) => vec![reviews_path(&self.root, prompt)],
            None => {
                let prefix = format!("{}prompts/", self.root);
                files
                    .under(&prefix)
                    .filter(|path| path.ends_with(&format!("/{REVIEWS_FILE}")))
                    .cloned()
                    .collect()
            }
        };
        let mut labels = Vec::new();
        for path in paths {
            labels.extend(files.lines::<ReviewLabel>(&path)?);
        }
        // Each file is in the order written; across prompts, by time.
        labels.sort_by(|a, b| a.labelled_at.cmp(&b.labelled_at));
        Ok(labels)
    }
}
