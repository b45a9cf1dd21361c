//! A commit's files read through the GitHub API: the server has no
//! checkout. [`commit_files`] lists the commit's tree and fetches only what
//! a check reads — the config, the prompts, their snippets and datasets —
//! found by loading the workspace again until it asks for nothing new.
//! [`pull_request_sources`] turns two commits into the [`Sources`] of a
//! check, with the changed paths taken from comparing the two trees (no file
//! cap, unlike the compare API's 300).
//!
//! Nothing fetched is executed (DESIGN.md "Trust"): the files are data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};

use crate::edges::github::{GitHubApi, GitHubError, Tree};
use crate::flows::check::Sources;
use crate::pipeline::changes::{ChangeKind, ChangedPath};
use crate::pipeline::spec::Workspace;
use crate::types::{CommitSha, RepoError, RepoFiles, RepoName, RepoPath};

/// Limits on what one commit may make the server fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Files fetched per commit.
    pub max_files: usize,
    /// Bytes fetched per commit.
    pub max_bytes: u64,
    /// Fetches in flight at once.
    pub concurrency: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_files: 2_000,
            max_bytes: 256 * 1024 * 1024,
            concurrency: 8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(
        "{repo}@{commit}: GitHub listed only part of the repository's tree (over 100,000 files); \
         the server cannot see every prompt — run promptgate as an Action instead"
    )]
    TruncatedTree { repo: RepoName, commit: String },
    #[error("{repo}@{commit}: a check would read {what}, over the server's limit of {limit}")]
    TooLarge {
        repo: RepoName,
        commit: String,
        what: String,
        limit: String,
    },
    #[error("{repo}@{commit}: `{path}` is in the tree but GitHub returned no file for it")]
    Vanished {
        repo: RepoName,
        commit: String,
        path: String,
    },
}

/// One commit's files: every path of its tree, and the contents of those a
/// check reads.
#[derive(Debug, Clone)]
pub struct CommitFiles {
    repo: RepoName,
    commit: CommitSha,
    /// Path → blob id, for every file of the tree.
    tree: Arc<BTreeMap<RepoPath, String>>,
    fetched: Arc<BTreeMap<RepoPath, Vec<u8>>>,
}

impl CommitFiles {
    /// The blob ids of every file, for comparing two commits.
    pub fn blob_ids(&self) -> &BTreeMap<RepoPath, String> {
        &self.tree
    }
}

impl RepoFiles for CommitFiles {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        let clean = RepoPath::relative(&path.0).map_err(|reason| RepoError::Refused {
            path: path.0.clone(),
            reason,
        })?;
        match (self.fetched.get(&clean), self.tree.contains_key(&clean)) {
            (Some(bytes), _) => Ok(Some(bytes.clone())),
            (None, false) => Ok(None),
            // Discovery fetches everything a check reads; reaching this is a
            // bug, and saying "absent" would silently change the result.
            (None, true) => Err(RepoError::Refused {
                path: clean.0,
                reason: format!(
                    "it exists at {} but was not fetched from GitHub (a promptgate bug: please report it)",
                    self.describe()
                ),
            }),
        }
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        Ok(self.tree.keys().cloned().collect())
    }

    fn describe(&self) -> String {
        format!("{}@{}", self.repo, self.commit.short())
    }
}

/// Contents already fetched in this job, by blob id: the base and the head
/// of a pull request share most files.
#[derive(Default, Clone)]
pub struct BlobCache(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl BlobCache {
    fn get(&self, blob: &str) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(blob)
            .cloned()
    }

    fn put(&self, blob: String, bytes: Vec<u8>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(blob, bytes);
    }
}

/// The files of `commit` that a check reads. Loads the workspace from what
/// is fetched so far, records the paths it asked for that exist but are not
/// fetched yet, fetches them, and repeats until it asks for nothing new
/// (config → prompts → snippets and datasets: a few rounds).
pub async fn commit_files(
    api: &dyn GitHubApi,
    repo: &RepoName,
    commit: &CommitSha,
    blobs: &BlobCache,
    limits: FetchLimits,
) -> Result<CommitFiles, SourcesError> {
    let tree = api.tree(repo, commit).await?;
    let (tree, sizes) = index_tree(repo, commit, tree)?;
    let tree = Arc::new(tree);
    // Shared with each round's reader, which is gone before the round's
    // files are added, so adding never copies what is already fetched.
    let mut fetched: Arc<BTreeMap<RepoPath, Vec<u8>>> = Arc::default();
    let mut fetched_bytes = 0u64;
    loop {
        let wanted = discover(CommitFiles {
            repo: repo.clone(),
            commit: commit.clone(),
            tree: tree.clone(),
            fetched: fetched.clone(),
        });
        if wanted.is_empty() {
            break;
        }
        let too_large = |what: String, limit: String| SourcesError::TooLarge {
            repo: repo.clone(),
            commit: commit.0.clone(),
            what,
            limit,
        };
        if fetched.len() + wanted.len() > limits.max_files {
            return Err(too_large(
                format!("more than {} files", fetched.len() + wanted.len() - 1),
                format!("{} files", limits.max_files),
            ));
        }
        fetched_bytes += wanted
            .iter()
            .map(|p| sizes.get(p).copied().unwrap_or(0))
            .sum::<u64>();
        if fetched_bytes > limits.max_bytes {
            return Err(too_large(
                format!("{fetched_bytes} bytes"),
                format!("{} bytes", limits.max_bytes),
            ));
        }
        let round: Vec<(RepoPath, Vec<u8>)> = futures::stream::iter(wanted)
            .map(|path| fetch_one(api, repo, commit, &tree, blobs, path))
            .buffer_unordered(limits.concurrency.max(1))
            .try_collect()
            .await?;
        Arc::make_mut(&mut fetched).extend(round);
    }
    Ok(CommitFiles {
        repo: repo.clone(),
        commit: commit.clone(),
        tree,
        fetched,
    })
}

type TreeIndex = (BTreeMap<RepoPath, String>, HashMap<RepoPath, u64>);

fn index_tree(repo: &RepoName, commit: &CommitSha, tree: Tree) -> Result<TreeIndex, SourcesError> {
    if tree.truncated {
        return Err(SourcesError::TruncatedTree {
            repo: repo.clone(),
            commit: commit.0.clone(),
        });
    }
    let mut blobs = BTreeMap::new();
    let mut sizes = HashMap::new();
    for file in tree.files {
        // A path git accepts but promptgate refuses (`..`, backslashes) can
        // never be read by a check: leave it out.
        let Ok(path) = RepoPath::relative(&file.path) else {
            continue;
        };
        if let Some(size) = file.size {
            sizes.insert(path.clone(), size);
        }
        blobs.insert(path, file.blob_sha);
    }
    Ok((blobs, sizes))
}

async fn fetch_one(
    api: &dyn GitHubApi,
    repo: &RepoName,
    commit: &CommitSha,
    tree: &BTreeMap<RepoPath, String>,
    blobs: &BlobCache,
    path: RepoPath,
) -> Result<(RepoPath, Vec<u8>), SourcesError> {
    let blob = tree.get(&path).cloned().unwrap_or_default();
    if let Some(bytes) = blobs.get(&blob) {
        return Ok((path, bytes));
    }
    let bytes = api
        .file_contents(repo, &path.0, &commit.0)
        .await?
        .ok_or_else(|| SourcesError::Vanished {
            repo: repo.clone(),
            commit: commit.0.clone(),
            path: path.0.clone(),
        })?;
    blobs.put(blob, bytes.clone());
    Ok((path, bytes))
}

/// The paths a check would read from `files` that exist but are not fetched.
fn discover(files: CommitFiles) -> BTreeSet<RepoPath> {
    let recorder = Recorder {
        files,
        missing: Arc::default(),
    };
    let missing = recorder.missing.clone();
    // Errors are expected while files are missing; the last round, with
    // everything fetched, is the one whose errors the check reports.
    if let Ok(workspace) = Workspace::load(Box::new(recorder)) {
        crate::pipeline::changes::dependencies(&workspace);
        for prompt in &workspace.prompts {
            let _ = crate::pipeline::evaluation::plan(
                prompt,
                workspace.files.as_ref(),
                &workspace.config,
            );
        }
    }
    let missing = missing.lock().unwrap_or_else(|p| p.into_inner());
    missing.clone()
}

/// Serves what is fetched, answers "absent" for what is not, and notes it.
struct Recorder {
    files: CommitFiles,
    missing: Arc<Mutex<BTreeSet<RepoPath>>>,
}

impl RepoFiles for Recorder {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        match self.files.read(path) {
            Err(RepoError::Refused { .. }) if self.files.tree.contains_key(path) => {
                self.missing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path.clone());
                Ok(None)
            }
            other => other,
        }
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        self.files.list()
    }

    fn describe(&self) -> String {
        self.files.describe()
    }
}

/// The paths whose contents differ between two commits.
pub fn changed_paths(base: &CommitFiles, head: &CommitFiles) -> Vec<ChangedPath> {
    let (old, new) = (base.blob_ids(), head.blob_ids());
    let mut changed: Vec<ChangedPath> = new
        .iter()
        .filter_map(|(path, blob)| {
            let kind = match old.get(path) {
                None => ChangeKind::Added,
                Some(before) if before != blob => ChangeKind::Modified,
                Some(_) => return None,
            };
            Some(ChangedPath {
                path: path.clone(),
                kind,
            })
        })
        .collect();
    changed.extend(
        old.keys()
            .filter(|path| !new.contains_key(*path))
            .map(|path| ChangedPath {
                path: path.clone(),
                kind: ChangeKind::Deleted,
            }),
    );
    changed.sort_by(|a, b| a.path.cmp(&b.path));
    changed
}

/// Both commits of a pull request's check, fetched: the head, and the
/// merge base of base and head (what the pull request's diff is taken
/// against). Cheap to clone, so one fetch serves several runs.
#[derive(Debug, Clone)]
pub struct PullRequestFiles {
    pub head: CommitFiles,
    pub merge_base: CommitFiles,
    pub merge_base_sha: CommitSha,
}

impl PullRequestFiles {
    /// The sources of a check of these commits.
    pub fn sources(&self) -> Sources {
        Sources {
            changed: changed_paths(&self.merge_base, &self.head),
            base_sha: self.merge_base_sha.0.clone(),
            head: Box::new(self.head.clone()),
            base: Box::new(self.merge_base.clone()),
        }
    }
}

/// Fetches what a check of `head` against `base` reads.
pub async fn pull_request_files(
    api: &dyn GitHubApi,
    repo: &RepoName,
    base: &CommitSha,
    head: &CommitSha,
    limits: FetchLimits,
) -> Result<PullRequestFiles, SourcesError> {
    let merge_base = api.compare(repo, &base.0, &head.0).await?.merge_base_sha;
    let blobs = BlobCache::default();
    let head_files = commit_files(api, repo, head, &blobs, limits).await?;
    let base_files = commit_files(api, repo, &merge_base, &blobs, limits).await?;
    Ok(PullRequestFiles {
        head: head_files,
        merge_base: base_files,
        merge_base_sha: merge_base,
    })
}

/// The sources of a pull request's check ([`pull_request_files`]).
pub async fn pull_request_sources(
    api: &dyn GitHubApi,
    repo: &RepoName,
    base: &CommitSha,
    head: &CommitSha,
    limits: FetchLimits,
) -> Result<Sources, SourcesError> {
    Ok(pull_request_files(api, repo, base, head, limits)
        .await?
        .sources())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> CommitFiles {
        CommitFiles {
            repo: RepoName::new("o", "r"),
            commit: CommitSha("c0ffee".into()),
            tree: Arc::new(
                entries
                    .iter()
                    .map(|(p, b)| (RepoPath((*p).into()), (*b).into()))
                    .collect(),
            ),
            fetched: Arc::new(BTreeMap::from([(RepoPath("a".into()), b"A".to_vec())])),
        }
    }

    #[test]
    fn changes_come_from_blob_ids() {
        let base = files(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let head = files(&[("a", "1"), ("b", "9"), ("d", "4")]);
        let changed: Vec<(String, ChangeKind)> = changed_paths(&base, &head)
            .into_iter()
            .map(|c| (c.path.0, c.kind))
            .collect();
        assert_eq!(
            changed,
            vec![
                ("b".into(), ChangeKind::Modified),
                ("c".into(), ChangeKind::Deleted),
                ("d".into(), ChangeKind::Added),
            ]
        );
    }

    #[test]
    fn unfetched_files_are_an_error_not_absent() {
        let commit = files(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            commit.read(&RepoPath("a".into())).unwrap(),
            Some(b"A".to_vec())
        );
        assert_eq!(commit.read(&RepoPath("zzz".into())).unwrap(), None);
        let error = commit.read(&RepoPath("b".into())).unwrap_err().to_string();
        assert!(
            error.contains("o/r@c0ffee") && error.contains("not fetched"),
            "{error}"
        );
        assert!(commit.read(&RepoPath("../etc/passwd".into())).is_err());
    }
}
