//! The git edge and change detection, on real repositories in temp folders.

mod common;

use std::path::Path;

use common::{git, promptgate, write};

use promptgate::edges::git::{self as repo, GitRevision, WorkingTree};
use promptgate::pipeline::changes::{self, ChangeKind, PromptDeps, Reason};
use promptgate::pipeline::spec::Workspace;
use promptgate::types::{RepoError, RepoFiles, RepoPath};

fn p(path: &str) -> RepoPath {
    RepoPath(path.to_owned())
}

const SUPPORT: &str = "name: support\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: system\n    content: |\n      You help customers.\n      {% include \"snippets/tone.md\" %}\n  - role: user\n    content: \"{{question}}\"\ndataset: data/support.jsonl\n";
const EXTRACT: &str = "name: extract\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: Extract the fields from {{text}}\n";

/// A repository with two prompts, a snippet, a dataset and a config, all
/// committed on `main`.
fn example_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, "prompts/support.prompt.yml", SUPPORT);
    write(root, "prompts/extract.prompt.yml", EXTRACT);
    write(root, "snippets/tone.md", "Be warm and brief.\n");
    write(
        root,
        "data/support.jsonl",
        "{\"question\": \"Where is my order?\"}\n",
    );
    write(root, "promptgate.toml", "judge = \"openai/gpt-4o\"\n");
    write(root, "README.md", "# prompts\n");
    write(root, ".gitignore", "ignored/\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "first"]);
    dir
}

/// Dependencies as a check computes them: the workspace loaded from
/// `files`, each prompt's includes walked by the template stage.
fn deps(files: Box<dyn RepoFiles>) -> Vec<PromptDeps> {
    changes::dependencies(&Workspace::load(files).unwrap())
}

fn affected_names(root: &Path, base: &str, head: Option<&str>) -> Vec<(String, Vec<String>)> {
    let changed = repo::changed_paths(root, base, head).unwrap();
    let tree = WorkingTree::new(root).unwrap();
    let prompts = match head {
        None => deps(Box::new(tree)),
        Some(head) => deps(Box::new(GitRevision::new(root, head).unwrap())),
    };
    changes::affected(&changed, &prompts)
        .into_iter()
        .map(|a| (a.name, a.reasons.iter().map(ToString::to_string).collect()))
        .collect()
}

#[test]
fn editing_a_snippet_affects_the_prompt_that_includes_it() {
    let repo = example_repo();
    let root = repo.path();
    let base = repo::head_sha(root).unwrap();
    write(root, "snippets/tone.md", "Be curt.\n");
    assert_eq!(
        affected_names(root, &base, None),
        [(
            "support".to_owned(),
            vec!["snippet snippets/tone.md changed".to_owned()]
        )]
    );
    // The same once committed, between two revisions.
    git(root, &["commit", "-q", "-am", "curt"]);
    assert_eq!(
        affected_names(root, &base, Some("HEAD")),
        [(
            "support".to_owned(),
            vec!["snippet snippets/tone.md changed".to_owned()]
        )]
    );
}

#[test]
fn an_unrelated_change_affects_nothing() {
    let repo = example_repo();
    let root = repo.path();
    write(root, "README.md", "# prompts, documented\n");
    write(root, "notes/new.txt", "untracked\n");
    write(root, "ignored/scratch.jsonl", "{}\n");
    let changed = repo::changed_paths(root, "main", None).unwrap();
    let paths: Vec<&str> = changed.iter().map(|c| c.path.0.as_str()).collect();
    assert_eq!(paths, ["README.md", "notes/new.txt"]);
    assert!(affected_names(root, "main", None).is_empty());
}

#[test]
fn a_renamed_prompt_is_followed() {
    let repo = example_repo();
    let root = repo.path();
    git(
        root,
        &[
            "mv",
            "prompts/extract.prompt.yml",
            "prompts/fields.prompt.yml",
        ],
    );
    git(root, &["commit", "-q", "-m", "rename"]);
    let changed = repo::changed_paths(root, "HEAD~1", Some("HEAD")).unwrap();
    assert_eq!(
        changed[0].kind,
        ChangeKind::Renamed {
            from: p("prompts/extract.prompt.yml"),
            similarity: 100
        }
    );
    assert_eq!(
        affected_names(root, "HEAD~1", Some("HEAD")),
        [(
            "extract".to_owned(),
            vec!["renamed from prompts/extract.prompt.yml".to_owned()]
        )]
    );
    // Renamed and edited in the working tree: both reasons.
    git(
        root,
        &["mv", "prompts/fields.prompt.yml", "prompts/x.prompt.yml"],
    );
    write(
        root,
        "prompts/x.prompt.yml",
        &EXTRACT.replace("from {{text}}", "from {{text}} as JSON"),
    );
    assert_eq!(
        affected_names(root, "HEAD", None),
        [(
            "extract".to_owned(),
            vec![
                "renamed from prompts/fields.prompt.yml".to_owned(),
                "file changed".to_owned()
            ]
        )]
    );
}

#[test]
fn dataset_and_config_changes() {
    let repo = example_repo();
    let root = repo.path();
    write(root, "data/support.jsonl", "{\"question\": \"Refund?\"}\n");
    assert_eq!(
        affected_names(root, "HEAD", None),
        [(
            "support".to_owned(),
            vec!["dataset data/support.jsonl changed".to_owned()]
        )]
    );
    write(root, "promptgate.toml", "judge = \"openai/gpt-4.1\"\n");
    let found = affected_names(root, "HEAD", None);
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|(_, why)| why.iter().any(|r| r.starts_with("config changed")))
    );
    // A new, untracked prompt is affected as new.
    write(
        root,
        "prompts/new.prompt.yml",
        "name: new\nmodel: openai/gpt-4o\nmessages:\n  - role: user\n    content: hi\n",
    );
    let found = affected_names(root, "HEAD", None);
    let new = found.iter().find(|(name, _)| name == "new").unwrap();
    assert_eq!(new.1[0], Reason::FileAdded.to_string());
}

#[test]
fn unknown_revisions_are_named() {
    let repo = example_repo();
    let error = repo::changed_paths(repo.path(), "no-such-branch", None).unwrap_err();
    assert!(matches!(&error, RepoError::UnknownRevision { rev, .. } if rev == "no-such-branch"));
    assert!(error.to_string().contains("`no-such-branch`"), "{error}");
    let error = GitRevision::new(repo.path(), "--output=/tmp/x").unwrap_err();
    assert!(matches!(error, RepoError::UnknownRevision { .. }));
}

#[test]
fn working_tree_lists_what_git_would_and_reads_inside_only() {
    let repo = example_repo();
    let root = repo.path();
    write(root, "ignored/secret.txt", "x");
    write(root, "target/debug/out.txt", "x");
    write(root, ".promptgate/cache/x.json", "{}");
    write(root, "untracked.md", "new");
    let tree = WorkingTree::new(root).unwrap();
    let listed: Vec<String> = tree.list().unwrap().into_iter().map(|p| p.0).collect();
    assert_eq!(
        listed,
        [
            ".gitignore",
            "README.md",
            "data/support.jsonl",
            "promptgate.toml",
            "prompts/extract.prompt.yml",
            "prompts/support.prompt.yml",
            "snippets/tone.md",
            "untracked.md",
        ]
    );
    assert_eq!(
        tree.read(&p("snippets/tone.md")).unwrap().unwrap(),
        b"Be warm and brief.\n"
    );
    assert_eq!(
        tree.read(&p("./snippets//tone.md")).unwrap().unwrap(),
        b"Be warm and brief.\n"
    );
    assert!(tree.read(&p("snippets/missing.md")).unwrap().is_none());
    for bad in ["../outside.md", "/etc/passwd", "snippets/../../x"] {
        assert!(
            matches!(tree.read(&p(bad)), Err(RepoError::Refused { .. })),
            "{bad} must be refused"
        );
    }
    assert!(matches!(
        tree.read(&p("snippets")),
        Err(RepoError::Refused { .. })
    ));
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_repository_are_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", "top secret");
    let repo = example_repo();
    let root = repo.path();
    symlink(
        outside.path().join("secret.txt"),
        root.join("snippets/leak.md"),
    )
    .unwrap();
    symlink(outside.path(), root.join("linked-dir")).unwrap();
    symlink("tone.md", root.join("snippets/alias.md")).unwrap();

    let tree = WorkingTree::new(root).unwrap();
    let error = tree.read(&p("snippets/leak.md")).unwrap_err();
    assert!(matches!(error, RepoError::Refused { .. }));
    assert!(
        error.to_string().contains("outside the repository"),
        "{error}"
    );
    assert!(matches!(
        tree.read(&p("linked-dir/secret.txt")),
        Err(RepoError::Refused { .. })
    ));
    assert!(tree.open(&p("snippets/leak.md")).is_err());
    assert_eq!(
        tree.read(&p("snippets/alias.md")).unwrap().unwrap(),
        b"Be warm and brief.\n"
    );
    let listed = tree.list().unwrap();
    assert!(listed.contains(&p("snippets/alias.md")));
    assert!(!listed.contains(&p("snippets/leak.md")));

    // The same links committed: read from the revision, the blob pointing
    // outside is refused too.
    symlink("../../../../../../etc/passwd", root.join("snippets/up.md")).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "links"]);
    let rev = GitRevision::new(root, "HEAD").unwrap();
    for bad in [
        "snippets/leak.md",
        "snippets/up.md",
        "linked-dir/secret.txt",
    ] {
        assert!(
            matches!(rev.read(&p(bad)), Err(RepoError::Refused { .. })),
            "{bad} must be refused at HEAD"
        );
    }
    assert_eq!(
        rev.read(&p("snippets/alias.md")).unwrap().unwrap(),
        b"Be warm and brief.\n"
    );
    let listed = rev.list().unwrap();
    assert!(listed.contains(&p("snippets/alias.md")));
    assert!(!listed.contains(&p("snippets/up.md")));
}

#[test]
fn a_revision_reads_history_not_the_disk() {
    let repo = example_repo();
    let root = repo.path();
    let first = repo::head_sha(root).unwrap();
    write(root, "snippets/tone.md", "Be curt.\n");
    git(root, &["commit", "-q", "-am", "curt"]);
    write(root, "snippets/tone.md", "Uncommitted.\n");

    let old = GitRevision::new(root, &first).unwrap();
    assert_eq!(old.sha(), first);
    assert_eq!(
        old.read(&p("snippets/tone.md")).unwrap().unwrap(),
        b"Be warm and brief.\n"
    );
    let head = GitRevision::new(root, "HEAD").unwrap();
    assert_eq!(
        head.read(&p("snippets/tone.md")).unwrap().unwrap(),
        b"Be curt.\n"
    );
    assert!(head.read(&p("nope.md")).unwrap().is_none());
    assert!(matches!(
        head.read(&p("../x")),
        Err(RepoError::Refused { .. })
    ));
    assert!(head.describe().starts_with("git HEAD ("));
    assert_eq!(head.list().unwrap().len(), 7);

    // A folder inside the repository as the root: paths are relative to it.
    let sub = GitRevision::new(root.join("prompts"), "HEAD").unwrap();
    assert_eq!(
        sub.list().unwrap(),
        [p("extract.prompt.yml"), p("support.prompt.yml")]
    );
    assert_eq!(
        sub.read(&p("extract.prompt.yml")).unwrap().unwrap(),
        EXTRACT.as_bytes()
    );
    assert!(matches!(
        sub.read(&p("../README.md")),
        Err(RepoError::Refused { .. })
    ));
}

#[test]
fn default_branch_and_merge_base() {
    let repo = example_repo();
    let root = repo.path();
    assert_eq!(repo::default_branch(root).unwrap(), "main");
    let first = repo::head_sha(root).unwrap();
    git(root, &["checkout", "-q", "-b", "feature"]);
    write(root, "snippets/tone.md", "Be curt.\n");
    git(root, &["commit", "-q", "-am", "on feature"]);
    git(root, &["checkout", "-q", "main"]);
    write(root, "README.md", "main moves on\n");
    git(root, &["commit", "-q", "-am", "on main"]);
    assert_eq!(repo::merge_base(root, "main", "feature").unwrap(), first);
    assert_ne!(repo::head_sha(root).unwrap(), first);

    // origin/HEAD wins when the remote names its default branch.
    git(root, &["update-ref", "refs/remotes/origin/trunk", "HEAD"]);
    git(
        root,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/trunk",
        ],
    );
    assert_eq!(repo::default_branch(root).unwrap(), "origin/trunk");
}

#[test]
fn a_plain_folder_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.prompt.yml", "x");
    write(dir.path(), "sub/b.md", "x");
    write(dir.path(), "target/c.md", "x");
    write(dir.path(), ".promptgate/d.json", "x");
    let tree = WorkingTree::new(dir.path()).unwrap();
    assert_eq!(tree.list().unwrap(), [p("a.prompt.yml"), p("sub/b.md")]);
}

#[test]
fn diff_command_against_the_merge_base_and_between_revisions() {
    let repo = example_repo();
    let root = repo.path();
    git(root, &["checkout", "-q", "-b", "feature"]);
    write(
        root,
        "prompts/support.prompt.yml",
        &SUPPORT
            .replace("You help customers.", "You help customers politely.")
            .replace("gpt-4o-mini", "gpt-4o"),
    );
    // Default FROM (merge base with main) and TO (working tree), by name.
    let (code, out, err) = promptgate(root, &["diff", "support"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("prompt support: prompts/support.prompt.yml (git "),
        "{out}"
    );
    assert!(
        out.contains("→ prompts/support.prompt.yml (working tree)"),
        "{out}"
    );
    assert!(
        out.contains("model: openai/gpt-4o-mini → openai/gpt-4o\n"),
        "{out}"
    );
    assert!(out.contains("message 1 (system) changed:\n@@"), "{out}");
    assert!(out.contains("You help customers{+ politely+}."), "{out}");
    assert!(!out.contains('\x1b'), "no colour off a terminal: {out:?}");

    // Committed and renamed: two revisions, by the new path, as markdown.
    git(root, &["commit", "-q", "-am", "polite"]);
    git(
        root,
        &[
            "mv",
            "prompts/support.prompt.yml",
            "prompts/helpdesk.prompt.yml",
        ],
    );
    git(root, &["commit", "-q", "-m", "rename"]);
    let (code, out, err) = promptgate(
        root,
        &[
            "diff",
            "prompts/helpdesk.prompt.yml",
            "main",
            "HEAD",
            "--markdown",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("### Prompt `support`\n"), "{out}");
    assert!(
        out.contains("prompts/support.prompt.yml (git main"),
        "{out}"
    );
    assert!(
        out.contains("→ prompts/helpdesk.prompt.yml (git HEAD"),
        "{out}"
    );
    assert!(
        out.contains("- **model** changed: `openai/gpt-4o-mini` → `openai/gpt-4o`"),
        "{out}"
    );
    assert!(
        out.contains("  -You help customers.\n  +You help customers politely."),
        "{out}"
    );

    // Unchanged prompt.
    let (code, out, _) = promptgate(root, &["diff", "extract", "main", "HEAD"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("no changes\n"), "{out}");
}

#[test]
fn diff_command_errors_exit_2_with_the_cause() {
    let repo = example_repo();
    let root = repo.path();
    let (code, _, err) = promptgate(root, &["diff", "nope", "HEAD"]);
    assert_eq!(code, 2);
    assert!(err.contains("no prompt named or at `nope`"), "{err}");
    let (code, _, err) = promptgate(root, &["diff", "support", "no-such-rev"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown git revision `no-such-rev`"), "{err}");
}
