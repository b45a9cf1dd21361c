//! Helpers shared by the integration tests that drive real git repositories
//! and the real binary.

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and no signing; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes a file under `root`, creating its folders.
pub fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs `promptgate -C root ARGS…` without colour and with no repository or
/// registry taken from the environment, plus `envs`; (exit code, stdout, stderr).
pub fn promptgate_with(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = assert_cmd::Command::cargo_bin("promptgate")
        .unwrap()
        .arg("-C")
        .arg(root)
        .args(args)
        .env_remove("PROMPTGATE_REPO")
        .env_remove("PROMPTGATE_REGISTRY")
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn promptgate(root: &Path, args: &[&str]) -> (i32, String, String) {
    promptgate_with(root, args, &[])
}

/// A git repository holding `fixtures/example`, committed on `main`.
#[allow(dead_code)]
pub fn example_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example");
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.unwrap();
        let target = dir.path().join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "base"]);
    dir
}
