//! The git edge: reading a repository's files as of the working tree or as
//! of a revision. Everything that loads prompts, snippets, datasets or the
//! config reads through [`RepoFiles`], so the baseline can be loaded from
//! `git show <base>:<path>` exactly as the head is loaded from disk.
//!
//! Both readers keep every read inside the repository root: absolute paths,
//! `..` components and symlinks whose target leaves the root are refused.
//! git always runs with an argument vector, never through a shell.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::pipeline::changes::{ChangeKind, ChangedPath};
use crate::types::path::is_vcs_metadata;
use crate::types::{RepoError, RepoFiles, RepoPath, checked_path};

/// Folders never listed: git's own, the build output and promptgate's store.
fn is_skipped(path: &str) -> bool {
    let mut parts = path.split('/');
    let first = parts.next().unwrap_or_default();
    first == "target"
        || std::iter::once(first)
            .chain(parts)
            .any(|part| part == ".git" || part == ".promptgate")
}

/// Runs git in `dir` with `args`; stdout on success.
pub(crate) fn run_git<I, S>(dir: &Path, args: I) -> Result<Vec<u8>, RepoError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let shown = || {
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let output = Command::new("git")
        .args(&args)
        .current_dir(dir)
        .output()
        .map_err(|error| RepoError::Git {
            args: shown(),
            message: if error.kind() == std::io::ErrorKind::NotFound {
                "git is not installed or not on PATH".to_owned()
            } else {
                error.to_string()
            },
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(RepoError::Git {
            args: shown(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn git_text<I, S>(dir: &Path, args: I) -> Result<String, RepoError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Ok(String::from_utf8_lossy(&run_git(dir, args)?)
        .trim()
        .to_owned())
}

/// Splits git's `-z` output into its entries.
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
}

/// Whether `dir` is inside a git work tree.
fn in_git_work_tree(dir: &Path) -> bool {
    git_text(dir, ["rev-parse", "--is-inside-work-tree"]).is_ok_and(|out| out == "true")
}

/// Resolves a revision to its full commit SHA. A revision starting with `-`
/// is refused so it cannot be read as an option.
pub fn resolve_commit(root: &Path, rev: &str) -> Result<String, RepoError> {
    if rev.is_empty() || rev.starts_with('-') {
        return Err(RepoError::UnknownRevision {
            rev: rev.to_owned(),
            message: "not a revision name".to_owned(),
        });
    }
    git_text(
        root,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .filter(|sha| !sha.is_empty())
    .ok_or_else(|| RepoError::UnknownRevision {
        rev: rev.to_owned(),
        message: "no such commit in this repository".to_owned(),
    })
}

/// The full SHA of `HEAD`.
pub fn head_sha(root: &Path) -> Result<String, RepoError> {
    resolve_commit(root, "HEAD")
}

/// The best common ancestor of two revisions, as a full SHA.
pub fn merge_base(root: &Path, a: &str, b: &str) -> Result<String, RepoError> {
    let a = resolve_commit(root, a)?;
    let b = resolve_commit(root, b)?;
    git_text(root, ["merge-base", a.as_str(), b.as_str()])
}

/// The default branch as a revision name: `origin/HEAD`'s target when the
/// remote is known, else a local or remote `main` or `master`.
pub fn default_branch(root: &Path) -> Result<String, RepoError> {
    if let Ok(target) = git_text(
        root,
        ["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"],
    ) && let Some(name) = target.strip_prefix("refs/remotes/")
    {
        return Ok(name.to_owned());
    }
    for candidate in ["main", "master", "origin/main", "origin/master"] {
        if resolve_commit(root, candidate).is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    let reason = if !in_git_work_tree(root) {
        format!(
            "{} is not inside a git repository: a check compares with a base revision, \
             so run `git init` and commit your files first (or score the prompts as they are \
             with `promptgate eval`)",
            root.display()
        )
    } else if head_sha(root).is_err() {
        "this repository has no commits yet: commit your files first (that commit is the \
         baseline), or score the prompts as they are with `promptgate eval`"
            .to_owned()
    } else {
        "cannot tell the default branch (no origin/HEAD, main or master): \
         name the base revision with `--base REV`"
            .to_owned()
    };
    Err(RepoError::NoBase(reason))
}

/// The files on disk under a root folder.
#[derive(Debug, Clone)]
pub struct WorkingTree {
    root: PathBuf,
}

impl WorkingTree {
    /// `root` must exist; it is canonicalised so symlink checks compare
    /// real paths.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, RepoError> {
        let root = root.as_ref();
        let root = root.canonicalize().map_err(|source| RepoError::Io {
            path: root.display().to_string(),
            source,
        })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real location of `path`, checked to stay inside the root; `None`
    /// when there is no such file.
    fn locate(&self, path: &RepoPath) -> Result<Option<PathBuf>, RepoError> {
        let path = checked_path(&path.0)?;
        let joined = self.root.join(&path.0);
        let real = match joined.canonicalize() {
            Ok(real) => real,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RepoError::Io {
                    path: path.0,
                    source,
                });
            }
        };
        if !real.starts_with(&self.root) {
            return Err(RepoError::Refused {
                path: path.0,
                reason: format!(
                    "it is a symlink to {}, outside the repository; only files inside the \
                     repository can be read",
                    real.display()
                ),
            });
        }
        // A symlink inside the repository may still point into `.git/`.
        let inside = real.strip_prefix(&self.root).unwrap_or(&real);
        if inside
            .components()
            .any(|c| is_vcs_metadata(&c.as_os_str().to_string_lossy()))
        {
            return Err(RepoError::Refused {
                path: path.0,
                reason: format!(
                    "it leads to {}, version-control metadata, which prompts never read",
                    inside.display()
                ),
            });
        }
        if real.is_dir() {
            return Err(RepoError::Refused {
                path: path.0,
                reason: "this is a folder, not a file".to_owned(),
            });
        }
        Ok(Some(real))
    }

    fn list_git(&self) -> Result<Vec<String>, RepoError> {
        let out = run_git(
            &self.root,
            [
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        )?;
        Ok(nul_separated(&out).collect())
    }

    fn list_walk(&self) -> Result<Vec<String>, RepoError> {
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|entry| {
                entry
                    .path()
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(Path::to_str)
                    .is_none_or(|relative| relative.is_empty() || !is_skipped(relative))
            });
        for entry in walker {
            let entry = entry.map_err(|error| RepoError::Io {
                path: error
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: error.into(),
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            if let Some(relative) = entry
                .path()
                .strip_prefix(&self.root)
                .ok()
                .and_then(Path::to_str)
            {
                files.push(relative.replace(std::path::MAIN_SEPARATOR, "/"));
            }
        }
        Ok(files)
    }
}

impl RepoFiles for WorkingTree {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        let Some(real) = self.locate(path)? else {
            return Ok(None);
        };
        std::fs::read(&real)
            .map(Some)
            .map_err(|source| RepoError::Io {
                path: path.0.clone(),
                source,
            })
    }

    /// Honours `.gitignore` when the root is in a git work tree (tracked and
    /// untracked-but-not-ignored files); otherwise walks the folder. Lists
    /// only files that [`RepoFiles::read`] would return.
    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        let names = if in_git_work_tree(&self.root) {
            self.list_git()?
        } else {
            self.list_walk()?
        };
        let mut files: Vec<RepoPath> = names
            .into_iter()
            .filter(|name| !is_skipped(name))
            .filter_map(|name| checked_path(&name).ok())
            // Deleted-but-tracked files, folders (submodules) and symlinks
            // leading outside are left out rather than failing the listing.
            .filter(|path| matches!(self.locate(path), Ok(Some(_))))
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    fn describe(&self) -> String {
        "working tree".to_owned()
    }

    fn open(&self, path: &RepoPath) -> Result<Option<Box<dyn BufRead + Send>>, RepoError> {
        let Some(real) = self.locate(path)? else {
            return Ok(None);
        };
        let file = std::fs::File::open(&real).map_err(|source| RepoError::Io {
            path: path.0.clone(),
            source,
        })?;
        Ok(Some(Box::new(BufReader::new(file))))
    }
}

/// One entry of `git ls-tree`.
#[derive(Debug, Clone)]
struct TreeEntry {
    mode: String,
    oid: String,
}

impl TreeEntry {
    fn is_symlink(&self) -> bool {
        self.mode == "120000"
    }
}

/// How many symlinks one read may pass through before it is refused as a loop.
const MAX_SYMLINK_HOPS: usize = 16;

/// The files of one commit, read with `git cat-file`; nothing is checked out.
#[derive(Debug, Clone)]
pub struct GitRevision {
    /// The top of the git work tree; git runs here.
    toplevel: PathBuf,
    rev: String,
    sha: String,
    /// Every blob under the root at this commit, by root-relative path.
    entries: HashMap<String, TreeEntry>,
    /// Small blobs already read, by object id: a snippet that many prompts
    /// include costs one `git cat-file`, not one per prompt.
    read_blobs: Arc<Mutex<HashMap<String, Arc<[u8]>>>>,
}

/// Blobs up to this size are kept once read (snippets, prompt files);
/// larger ones (datasets) are read again rather than held.
const KEPT_BLOB_BYTES: usize = 256 * 1024;

impl GitRevision {
    /// `root` may be the repository or a folder inside it; paths are
    /// relative to `root`. `rev` is resolved to a full SHA at once, so a
    /// moving branch cannot change what is read halfway.
    pub fn new(root: impl AsRef<Path>, rev: &str) -> Result<Self, RepoError> {
        let root = root.as_ref();
        let toplevel = git_text(root, ["rev-parse", "--show-toplevel"]).map_err(|error| {
            RepoError::Refused {
                path: root.display().to_string(),
                reason: format!(
                    "not inside a git repository, so revision {rev} cannot be read ({error})"
                ),
            }
        })?;
        let toplevel = PathBuf::from(toplevel);
        let prefix = git_text(root, ["rev-parse", "--show-prefix"])?;
        let sha = resolve_commit(root, rev)?;
        let treeish = if prefix.is_empty() {
            sha.clone()
        } else {
            format!("{sha}:{}", prefix.trim_end_matches('/'))
        };
        // The root folder may not exist at an older commit: then it is empty.
        let listing = match run_git(&toplevel, ["ls-tree", "-r", "-z", "--full-tree", &treeish]) {
            Ok(out) => out,
            Err(_) if !prefix.is_empty() => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut entries = HashMap::new();
        for line in nul_separated(&listing) {
            // `<mode> SP <type> SP <oid> TAB <path>`
            let Some((meta, path)) = line.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split(' ');
            let (Some(mode), Some(kind), Some(oid)) = (meta.next(), meta.next(), meta.next())
            else {
                continue;
            };
            if kind == "blob" {
                entries.insert(
                    path.to_owned(),
                    TreeEntry {
                        mode: mode.to_owned(),
                        oid: oid.to_owned(),
                    },
                );
            }
        }
        Ok(Self {
            toplevel,
            rev: rev.to_owned(),
            sha,
            entries,
            read_blobs: Arc::default(),
        })
    }

    /// The full commit SHA that `rev` resolved to.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    fn blob(&self, oid: &str, path: &str) -> Result<Vec<u8>, RepoError> {
        let kept = self
            .read_blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(oid)
            .cloned();
        if let Some(bytes) = kept {
            return Ok(bytes.to_vec());
        }
        let bytes =
            run_git(&self.toplevel, ["cat-file", "blob", oid]).map_err(|error| match error {
                RepoError::Git { message, .. } => RepoError::Git {
                    args: format!("cat-file blob {oid} ({path} at {})", self.rev),
                    message,
                },
                other => other,
            })?;
        if bytes.len() <= KEPT_BLOB_BYTES {
            self.read_blobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(oid.to_owned(), Arc::from(bytes.as_slice()));
        }
        Ok(bytes)
    }

    /// Follows symlinks component by component, as the file system would,
    /// refusing any that lead outside the root. `Ok(None)`: no such file.
    fn resolve(&self, path: &RepoPath) -> Result<Option<(String, &TreeEntry)>, RepoError> {
        let requested = checked_path(&path.0)?;
        let refuse = |reason: String| RepoError::Refused {
            path: requested.0.clone(),
            reason,
        };
        let mut pending: Vec<String> = requested.0.split('/').rev().map(str::to_owned).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if resolved.pop().is_none() {
                        return Err(refuse(format!(
                            "it is a symlink that leads outside the repository at {}",
                            self.rev
                        )));
                    }
                    continue;
                }
                _ => resolved.push(part),
            }
            let current = resolved.join("/");
            let Some(entry) = self.entries.get(&current) else {
                continue;
            };
            if !entry.is_symlink() {
                if pending.is_empty() {
                    return Ok(Some((current, entry)));
                }
                // A file used as a folder.
                return Ok(None);
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(refuse("too many levels of symlinks".to_owned()));
            }
            let target = String::from_utf8_lossy(&self.blob(&entry.oid, &current)?).into_owned();
            if target.starts_with('/') {
                return Err(refuse(format!(
                    "it is a symlink to the absolute path {target} at {}; only files inside \
                     the repository can be read",
                    self.rev
                )));
            }
            resolved.pop();
            pending.extend(target.split('/').rev().map(str::to_owned));
        }
        Ok(None)
    }
}

impl RepoFiles for GitRevision {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, RepoError> {
        match self.resolve(path)? {
            Some((real, entry)) => self.blob(&entry.oid, &real).map(Some),
            None => Ok(None),
        }
    }

    fn list(&self) -> Result<Vec<RepoPath>, RepoError> {
        let mut files = Vec::new();
        for (name, entry) in &self.entries {
            if is_skipped(name) {
                continue;
            }
            let path = RepoPath(name.clone());
            // Symlinks are listed only when they lead to a file inside.
            if !entry.is_symlink() || matches!(self.resolve(&path), Ok(Some(_))) {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    fn describe(&self) -> String {
        let short = crate::types::ids::short_hex(&self.sha);
        if self.sha.starts_with(&self.rev) {
            format!("git {short}")
        } else {
            format!("git {} ({short})", self.rev)
        }
    }
}

/// The paths that differ between `base` and `head`, or between `base` and
/// the working tree (staged, unstaged and untracked-but-not-ignored files)
/// when `head` is `None`. Paths are relative to `root`, which may be a
/// folder inside the repository; changes outside it are left out.
///
/// An untracked file is reported as added even when it is a moved copy of
/// a deleted file (git pairs renames only among files it tracks); prompts
/// are matched to their baseline by name, so that only loses the "renamed
/// from" note.
pub fn changed_paths(
    root: &Path,
    base: &str,
    head: Option<&str>,
) -> Result<Vec<ChangedPath>, RepoError> {
    let base = resolve_commit(root, base)?;
    let head = head.map(|rev| resolve_commit(root, rev)).transpose()?;
    let mut args = vec![
        "diff",
        "--name-status",
        "-z",
        "-M",
        "--no-ext-diff",
        "--no-textconv",
        "--relative",
        base.as_str(),
    ];
    if let Some(head) = &head {
        args.push(head);
    }
    let mut changes = parse_name_status(&run_git(root, &args)?);
    if head.is_none() {
        let untracked = run_git(root, ["ls-files", "-z", "--others", "--exclude-standard"])?;
        for path in untracked.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            if let Ok(path) = checked_path(&String::from_utf8_lossy(path)) {
                changes.push(ChangedPath {
                    path,
                    kind: ChangeKind::Added,
                });
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes.dedup_by(|a, b| a.path == b.path);
    Ok(changes)
}

/// Parses `git diff --name-status -z`: `<status>\0<path>\0`, or for renames
/// and copies `<status><score>\0<from>\0<to>\0`. Unknown statuses are read
/// as modifications.
pub fn parse_name_status(output: &[u8]) -> Vec<ChangedPath> {
    let mut fields = output
        .split(|&b| b == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned());
    let mut changes = Vec::new();
    let path = |text: Option<String>| text.and_then(|t| checked_path(&t).ok());
    while let Some(status) = fields.next() {
        let Some(letter) = status.chars().next() else {
            continue;
        };
        let score: u8 = status[letter.len_utf8()..].parse().unwrap_or(0);
        let change = match letter {
            'R' | 'C' => {
                let (Some(from), Some(to)) = (path(fields.next()), path(fields.next())) else {
                    break;
                };
                let kind = if letter == 'R' {
                    ChangeKind::Renamed {
                        from,
                        similarity: score,
                    }
                } else {
                    ChangeKind::Copied { from }
                };
                ChangedPath { path: to, kind }
            }
            _ => {
                let Some(at) = path(fields.next()) else {
                    break;
                };
                let kind = match letter {
                    'A' => ChangeKind::Added,
                    'D' => ChangeKind::Deleted,
                    'T' => ChangeKind::TypeChanged,
                    _ => ChangeKind::Modified,
                };
                ChangedPath { path: at, kind }
            }
        };
        changes.push(change);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_folders() {
        assert!(is_skipped("target/debug/x"));
        assert!(is_skipped(".promptgate/cache/x"));
        assert!(is_skipped("a/.git/config"));
        assert!(!is_skipped("prompts/target.prompt.yml"));
        assert!(!is_skipped("prompts/target/x.prompt.yml"));
    }

    fn path(p: &str) -> RepoPath {
        RepoPath(p.to_owned())
    }

    #[test]
    fn name_status_parsing() {
        let out = b"M\0a.prompt.yml\0R087\0old.prompt.yml\0new.prompt.yml\0A\0snippets/x.md\0D\0gone.md\0C100\0a\0b\0T\0l\0";
        let changes = parse_name_status(out);
        assert_eq!(
            changes,
            [
                ChangedPath {
                    path: path("a.prompt.yml"),
                    kind: ChangeKind::Modified
                },
                ChangedPath {
                    path: path("new.prompt.yml"),
                    kind: ChangeKind::Renamed {
                        from: path("old.prompt.yml"),
                        similarity: 87
                    }
                },
                ChangedPath {
                    path: path("snippets/x.md"),
                    kind: ChangeKind::Added
                },
                ChangedPath {
                    path: path("gone.md"),
                    kind: ChangeKind::Deleted
                },
                ChangedPath {
                    path: path("b"),
                    kind: ChangeKind::Copied { from: path("a") }
                },
                ChangedPath {
                    path: path("l"),
                    kind: ChangeKind::TypeChanged
                },
            ]
        );
        assert!(parse_name_status(b"R1\0only-one\0").is_empty());
    }
}
