//! Repository paths: the one rule for what names a file inside a repository.

use serde::{Deserialize, Serialize};

/// A path relative to the repository root, always with `/` separators.
/// Every file promptgate reads is named this way in errors and reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoPath(pub String);

impl std::fmt::Display for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Folders (or files) of version-control metadata: never prompt data, and
/// `.git/config` of a CI checkout holds the token. Matched without regard
/// to case, as case-insensitive file systems open them.
pub fn is_vcs_metadata(component: &str) -> bool {
    const NAMES: [&str; 6] = [".git", ".hg", ".svn", ".bzr", "_darcs", "CVS"];
    NAMES
        .iter()
        .any(|name| component.eq_ignore_ascii_case(name))
}

impl RepoPath {
    /// Checks a path written in a user's file (`dataset:`, `{% include %}`)
    /// or listed by git, and returns it in canonical form: relative to the
    /// repository root, `/`-separated, no `.` or empty components, never
    /// leaving the root. Symlinks are the file readers' job
    /// ([`RepoFiles`](super::RepoFiles)).
    pub fn relative(text: &str) -> Result<RepoPath, String> {
        let refuse = |why: &str| {
            Err(format!(
                "`{text}` is refused: {why}; write a path relative to the repository root, like `snippets/tone.md`"
            ))
        };
        if text.is_empty() {
            return refuse("it is empty");
        }
        if text.starts_with('/') || text.starts_with('\\') || text.get(1..2) == Some(":") {
            return refuse("it is absolute");
        }
        if text.contains('\\') {
            return refuse("use `/` between folders, not `\\`");
        }
        if text.contains('\0') {
            return refuse("it contains a NUL byte");
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                ".." => return refuse("`..` would leave the repository"),
                "" | "." => {}
                vcs if is_vcs_metadata(vcs) => {
                    return refuse(
                        "it is version-control metadata (`.git/` holds the checkout's credentials), \
                         which prompts never read",
                    );
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return refuse("it names no file");
        }
        Ok(RepoPath(parts.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_accepts_relative_paths_and_refuses_escapes() {
        assert_eq!(RepoPath::relative("./a//b/c.md").unwrap().0, "a/b/c.md");
        for bad in [
            "",
            "/etc/passwd",
            "a/../../x",
            "..",
            "C:/x",
            "a\\b",
            ".",
            "a\0b",
        ] {
            assert!(
                RepoPath::relative(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let error = RepoPath::relative("../x").unwrap_err();
        assert!(error.contains("leave the repository"), "{error}");
    }

    proptest::proptest! {
        #[test]
        fn relative_paths_never_escape(path in "[./a-z\\\\:]{0,24}") {
            if let Ok(normal) = RepoPath::relative(&path) {
                proptest::prop_assert!(!normal.0.starts_with('/'));
                proptest::prop_assert!(normal.0.split('/').all(|part| !part.is_empty() && part != "." && part != ".."));
            }
        }
    }
}
