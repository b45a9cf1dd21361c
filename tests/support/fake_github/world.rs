//! The fake GitHub's state and what each operation does to it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const APP_ID: u64 = 4242;
pub const APP_SLUG: &str = "promptgate";

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// An Actions `GITHUB_TOKEN`: writes as `github-actions[bot]`, may not read `/user`.
    Actions,
    /// A personal access token: may not create check runs (only Apps may).
    User,
    /// An App installation token, limited to the installation's repositories.
    Installation { id: u64 },
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub login: String,
    pub kind: TokenKind,
}

#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub tree: BTreeMap<String, Vec<u8>>,
    pub parent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub head_ref: String,
    pub head_sha: String,
    pub head_repo: Option<String>,
    pub base_ref: String,
    pub base_sha: String,
    pub state: String,
    pub merged: bool,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: String,
    pub author: String,
    pub is_pull_request: bool,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub author: String,
    pub author_is_bot: bool,
    pub body: String,
    /// How many times it was edited through the API.
    pub edits: u32,
}

/// A comment on lines of a pull request's file (a review comment).
#[derive(Debug, Clone)]
pub struct ReviewComment {
    pub id: u64,
    pub pull_number: u64,
    pub author: String,
    pub body: String,
    pub path: String,
    pub commit_id: String,
    pub start_line: Option<u64>,
    pub line: u64,
    pub edits: u32,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub annotations: Vec<Value>,
    /// Update requests received (`PATCH .../check-runs/{id}`).
    pub updates: u32,
    pub author: String,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: u64,
    pub git_ref: String,
    pub sha: String,
    pub environment: String,
    pub payload: Value,
    pub statuses: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub full_name: String,
    pub default_branch: String,
    pub branches: BTreeMap<String, String>,
    pub pulls: BTreeMap<u64, Pull>,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: Vec<Comment>,
    pub review_comments: Vec<ReviewComment>,
    pub check_runs: Vec<CheckRun>,
    pub statuses: Vec<Status>,
    pub deployments: Vec<Deployment>,
    pub permissions: HashMap<String, String>,
    next_number: u64,
}

/// A scripted failure: the next `times` calls of `operation_id` answer `status`.
#[derive(Debug, Clone)]
pub struct Injected {
    pub operation_id: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub message: String,
    pub times: u32,
    /// Answer only after this long (a hung GitHub).
    pub delay: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct Failures {
    /// `POST /repos/{o}/{r}/check-runs` answers 403 (a token without `checks: write`).
    pub forbid_check_runs: bool,
    pub injected: Vec<Injected>,
}

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub operation_id: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Default)]
pub struct World {
    pub commits: HashMap<String, Commit>,
    pub repos: BTreeMap<String, Repo>,
    pub tokens: HashMap<String, TokenInfo>,
    /// Installation id → repositories it may access.
    pub installations: BTreeMap<u64, BTreeSet<String>>,
    pub app_public_key: Vec<u8>,
    pub failures: Failures,
    pub violations: Vec<String>,
    pub requests: Vec<RecordedRequest>,
    /// Apps registered through the manifest form, by the code GitHub hands out.
    pub manifest_apps: BTreeMap<String, ManifestApp>,
    /// The PEM the manifest conversion answers with (the key of [`APP_ID`]).
    pub app_private_key: String,
    next_id: u64,
}

/// An App the manifest form created, waiting for its code to be exchanged.
#[derive(Debug, Clone)]
pub struct ManifestApp {
    pub manifest: Value,
    /// `None` for the signed-in user's account.
    pub org: Option<String>,
    pub webhook_secret: String,
    /// A code works once.
    pub converted: bool,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<std::time::Duration>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            delay: None,
        }
    }

    pub fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string() }),
        )
    }
}

/// What a handler needs to know about the request.
pub struct Call<'a> {
    pub operation_id: &'a str,
    pub params: &'a HashMap<String, String>,
    pub query: &'a [(String, String)],
    pub body: Value,
    pub token: Option<&'a TokenInfo>,
    pub base_url: &'a str,
    pub path: &'a str,
    pub accept_raw: bool,
}

impl Call<'_> {
    fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> u64 {
        self.param(name).parse().unwrap_or(0)
    }

    fn login(&self) -> String {
        self.token.map(|t| t.login.clone()).unwrap_or_default()
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn user_json(login: &str) -> Value {
    let bot = login.ends_with("[bot]");
    json!({ "login": login, "id": 1, "type": if bot { "Bot" } else { "User" } })
}

impl World {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A new commit on top of `parent` with `changes` (`None` deletes a file).
    pub fn make_commit(
        &mut self,
        parent: Option<&str>,
        changes: &[(&str, Option<&[u8]>)],
    ) -> String {
        let mut tree = parent
            .and_then(|p| self.commits.get(p))
            .map(|c| c.tree.clone())
            .unwrap_or_default();
        for (path, content) in changes {
            match content {
                Some(bytes) => {
                    tree.insert((*path).to_owned(), bytes.to_vec());
                }
                None => {
                    tree.remove(*path);
                }
            }
        }
        let mut hasher = Sha256::new();
        hasher.update(self.next_id().to_le_bytes());
        hasher.update(parent.unwrap_or("").as_bytes());
        let sha = hex::encode(hasher.finalize())[..40].to_owned();
        self.commits.insert(
            sha.clone(),
            Commit {
                tree,
                parent: parent.map(str::to_owned),
            },
        );
        sha
    }

    pub fn repo_mut(&mut self, full_name: &str) -> &mut Repo {
        self.repos
            .get_mut(full_name)
            .unwrap_or_else(|| panic!("fake GitHub: no repository {full_name}; create_repo first"))
    }

    pub fn next_number(repo: &mut Repo) -> u64 {
        repo.next_number += 1;
        repo.next_number
    }

    pub fn new_repo(full_name: &str, default_branch: &str, root: String) -> Repo {
        Repo {
            full_name: full_name.to_owned(),
            default_branch: default_branch.to_owned(),
            branches: BTreeMap::from([(default_branch.to_owned(), root)]),
            ..Repo::default()
        }
    }

    fn ancestors(&self, sha: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(sha.to_owned());
        while let Some(s) = cur {
            cur = self.commits.get(&s).and_then(|c| c.parent.clone());
            out.push(s);
        }
        out
    }

    /// Files changed from the merge base of `base` and `head` to `head` (three-dot).
    pub fn diff(&self, base: &str, head: &str) -> (String, Vec<Value>) {
        let base_line: BTreeSet<String> = self.ancestors(base).into_iter().collect();
        let merge_base = self
            .ancestors(head)
            .into_iter()
            .find(|s| base_line.contains(s))
            .unwrap_or_else(|| base.to_owned());
        let empty = BTreeMap::new();
        let old = self.commits.get(&merge_base).map_or(&empty, |c| &c.tree);
        let new = self.commits.get(head).map_or(&empty, |c| &c.tree);
        let mut files = Vec::new();
        for (path, content) in new {
            let status = match old.get(path) {
                None => "added",
                Some(before) if before != content => "modified",
                Some(_) => continue,
            };
            files.push(file_json(path, status));
        }
        for path in old.keys().filter(|p| !new.contains_key(*p)) {
            files.push(file_json(path, "removed"));
        }
        (merge_base, files)
    }

    fn resolve(&self, repo: &Repo, git_ref: &str) -> Option<String> {
        let name = git_ref
            .trim_start_matches("refs/")
            .trim_start_matches("heads/");
        if let Some(sha) = repo.branches.get(name) {
            return Some(sha.clone());
        }
        self.commits
            .contains_key(git_ref)
            .then(|| git_ref.to_owned())
    }

    /// Runs one operation; the contract check has already passed or been recorded.
    pub fn handle(&mut self, call: &Call) -> Reply {
        match call.operation_id {
            "users/get-authenticated" => match call.token.map(|t| &t.kind) {
                Some(TokenKind::User) => Reply::json(200, user_json(&call.login())),
                _ => Reply::error(403, "Resource not accessible by integration"),
            },
            "apps/get-authenticated" => Reply::json(
                200,
                json!({ "id": APP_ID, "slug": APP_SLUG, "name": "promptgate", "owner": user_json("octo-org") }),
            ),
            "apps/create-installation-access-token" => {
                let id = call.number("installation_id");
                if !self.installations.contains_key(&id) {
                    return Reply::error(404, "Not Found");
                }
                let token = format!("ghs_fake{}", self.next_id());
                self.tokens.insert(
                    token.clone(),
                    TokenInfo {
                        login: format!("{APP_SLUG}[bot]"),
                        kind: TokenKind::Installation { id },
                    },
                );
                let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                let expires_at = expires
                    .replace_nanosecond(0)
                    .unwrap()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                Reply::json(
                    201,
                    json!({ "token": token, "expires_at": expires_at, "permissions": {}, "repository_selection": "selected" }),
                )
            }
            "apps/create-from-manifest" => self.convert_manifest(call),
            _ => self.handle_repo(call),
        }
    }

    /// `POST /app-manifests/{code}/conversions`: GitHub's own example answer
    /// with this App's values; an unknown or spent code is 404.
    fn convert_manifest(&mut self, call: &Call) -> Reply {
        let code = call.param("code");
        let Some(app) = self.manifest_apps.get_mut(code).filter(|a| !a.converted) else {
            return Reply::error(404, "Not Found");
        };
        app.converted = true;
        let app = app.clone();
        let name = app.manifest["name"].as_str().unwrap_or("app").to_owned();
        let slug: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut body = super::contract::example("integration-from-manifest");
        body["id"] = json!(APP_ID);
        body["slug"] = json!(slug);
        body["name"] = json!(name);
        body["html_url"] = json!(format!("{}/apps/{slug}", call.base_url));
        body["owner"]["login"] = json!(app.org.as_deref().unwrap_or("octocat"));
        body["permissions"] = app.manifest["default_permissions"].clone();
        body["events"] = app.manifest["default_events"].clone();
        body["pem"] = json!(self.app_private_key);
        body["webhook_secret"] = json!(app.webhook_secret);
        body["created_at"] = json!(now());
        body["updated_at"] = json!(now());
        Reply::json(201, body)
    }

    fn handle_repo(&mut self, call: &Call) -> Reply {
        let full_name = format!("{}/{}", call.param("owner"), call.param("repo"));
        if let Some(TokenKind::Installation { id }) = call.token.map(|t| &t.kind)
            && !self
                .installations
                .get(id)
                .is_some_and(|repos| repos.contains(&full_name))
        {
            return Reply::error(404, "Not Found");
        }
        if !self.repos.contains_key(&full_name) {
            return Reply::error(404, "Not Found");
        }
        let login = call.login();
        match call.operation_id {
            "repos/get" => {
                let repo = &self.repos[&full_name];
                Reply::json(
                    200,
                    json!({ "id": 1, "name": call.param("repo"), "full_name": full_name,
                            "owner": user_json(call.param("owner")), "private": false,
                            "default_branch": repo.default_branch }),
                )
            }
            "pulls/get" => {
                let repo = &self.repos[&full_name];
                match repo.pulls.get(&call.number("pull_number")) {
                    Some(pr) => Reply::json(200, pull_json(&full_name, pr)),
                    None => Reply::error(404, "Not Found"),
                }
            }
            "pulls/list-files" => {
                let repo = &self.repos[&full_name];
                let Some(pr) = repo.pulls.get(&call.number("pull_number")) else {
                    return Reply::error(404, "Not Found");
                };
                let (_, files) = self.diff(&pr.base_sha, &pr.head_sha);
                self.page(call, files)
            }
            "repos/get-content" => {
                let repo = &self.repos[&full_name];
                let git_ref = call.query("ref").unwrap_or(&repo.default_branch).to_owned();
                let Some(sha) = self.resolve(repo, &git_ref) else {
                    return Reply::error(404, &format!("No commit found for the ref {git_ref}"));
                };
                let tree = &self.commits[&sha].tree;
                let path = call.param("path").trim_matches('/');
                if let Some(content) = tree.get(path) {
                    if call.accept_raw {
                        return Reply {
                            status: 200,
                            headers: vec![(
                                "content-type".into(),
                                "application/vnd.github.raw+json".into(),
                            )],
                            body: content.clone(),
                            delay: None,
                        };
                    }
                    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
                    // GitHub wraps base64 at 60 characters.
                    let wrapped: Vec<String> = encoded
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    return Reply::json(
                        200,
                        json!({ "type": "file", "encoding": "base64", "size": content.len(),
                                "name": path.rsplit('/').next(), "path": path,
                                "sha": blob_sha(content), "content": wrapped.join("\n") + "\n" }),
                    );
                }
                let prefix = format!("{path}/");
                let entries: Vec<Value> = tree
                    .keys()
                    .filter(|p| p.starts_with(&prefix))
                    .map(|p| json!({ "type": "file", "path": p, "name": p.rsplit('/').next() }))
                    .collect();
                if entries.is_empty() {
                    Reply::error(404, "Not Found")
                } else {
                    Reply::json(200, Value::Array(entries))
                }
            }
            "git/get-tree" => {
                // Only commit SHAs are asked for (the listing is always recursive here).
                let Some(commit) = self.commits.get(call.param("tree_sha")) else {
                    return Reply::error(404, "Not Found");
                };
                let tree: Vec<Value> = commit
                    .tree
                    .iter()
                    .map(|(path, bytes)| {
                        json!({ "path": path, "mode": "100644", "type": "blob",
                                "sha": blob_sha(bytes), "size": bytes.len() })
                    })
                    .collect();
                Reply::json(
                    200,
                    json!({ "sha": call.param("tree_sha"), "truncated": false, "tree": tree }),
                )
            }
            "repos/create-or-update-file-contents" => self.put_file(call, &full_name),
            "git/get-ref" => {
                let repo = &self.repos[&full_name];
                let git_ref = call.param("ref");
                match git_ref
                    .strip_prefix("heads/")
                    .and_then(|b| repo.branches.get(b))
                {
                    Some(sha) => Reply::json(
                        200,
                        json!({ "ref": format!("refs/{git_ref}"), "object": { "sha": sha, "type": "commit" } }),
                    ),
                    None => Reply::error(404, "Not Found"),
                }
            }
            "repos/compare-commits-with-basehead" => {
                let repo = &self.repos[&full_name];
                let basehead = call.param("basehead");
                let Some((base, head)) = basehead.split_once("...") else {
                    return Reply::error(404, "Not Found");
                };
                let (Some(base), Some(head)) = (self.resolve(repo, base), self.resolve(repo, head))
                else {
                    return Reply::error(404, "Not Found");
                };
                let (merge_base, files) = self.diff(&base, &head);
                let status = if base == head {
                    "identical"
                } else if merge_base == base {
                    "ahead"
                } else if merge_base == head {
                    "behind"
                } else {
                    "diverged"
                };
                Reply::json(
                    200,
                    json!({ "status": status, "merge_base_commit": { "sha": merge_base },
                            "base_commit": { "sha": base }, "commits": [], "files": files }),
                )
            }
            "repos/get-collaborator-permission-level" => {
                let repo = &self.repos[&full_name];
                let user = call.param("username");
                let permission = repo
                    .permissions
                    .get(user)
                    .cloned()
                    .unwrap_or_else(|| "read".into());
                Reply::json(
                    200,
                    json!({ "permission": permission, "user": user_json(user) }),
                )
            }
            "issues/list-for-repo" => {
                let state = call.query("state").unwrap_or("open").to_owned();
                let creator = call.query("creator").map(str::to_owned);
                let repo = &self.repos[&full_name];
                let issues: Vec<Value> = repo
                    .issues
                    .values()
                    .rev()
                    .filter(|i| state == "all" || i.state == state)
                    .filter(|i| {
                        creator
                            .as_ref()
                            .is_none_or(|c| c.eq_ignore_ascii_case(&i.author))
                    })
                    .map(issue_json)
                    .collect();
                self.page(call, issues)
            }
            "issues/create" => {
                let repo = self.repo_mut(&full_name);
                let number = Self::next_number(repo);
                let issue = Issue {
                    number,
                    title: call.body["title"].as_str().unwrap_or_default().to_owned(),
                    body: call.body["body"].as_str().unwrap_or_default().to_owned(),
                    state: "open".into(),
                    author: login,
                    is_pull_request: false,
                };
                let reply = issue_json(&issue);
                repo.issues.insert(number, issue);
                Reply::json(201, reply)
            }
            "issues/update" => {
                let number = call.number("issue_number");
                let repo = self.repo_mut(&full_name);
                let Some(issue) = repo.issues.get_mut(&number) else {
                    return Reply::error(404, "Not Found");
                };
                if let Some(t) = call.body["title"].as_str() {
                    issue.title = t.to_owned();
                }
                if let Some(b) = call.body["body"].as_str() {
                    issue.body = b.to_owned();
                }
                if let Some(s) = call.body["state"].as_str() {
                    issue.state = s.to_owned();
                }
                Reply::json(200, issue_json(issue))
            }
            "issues/list-comments" => {
                let number = call.number("issue_number");
                let repo = &self.repos[&full_name];
                if !repo.issues.contains_key(&number) {
                    return Reply::error(404, "Not Found");
                }
                let comments: Vec<Value> = repo
                    .comments
                    .iter()
                    .filter(|c| c.issue_number == number)
                    .map(comment_json)
                    .collect();
                self.page(call, comments)
            }
            "issues/create-comment" => {
                let number = call.number("issue_number");
                let id = self.next_id();
                let repo = self.repo_mut(&full_name);
                if !repo.issues.contains_key(&number) {
                    return Reply::error(404, "Not Found");
                }
                let comment = Comment {
                    id,
                    issue_number: number,
                    author_is_bot: login.ends_with("[bot]"),
                    author: login,
                    body: call.body["body"].as_str().unwrap_or_default().to_owned(),
                    edits: 0,
                };
                let reply = comment_json(&comment);
                repo.comments.push(comment);
                Reply::json(201, reply)
            }
            "issues/update-comment" => {
                let id = call.number("comment_id");
                let repo = self.repo_mut(&full_name);
                let Some(comment) = repo.comments.iter_mut().find(|c| c.id == id) else {
                    return Reply::error(404, "Not Found");
                };
                comment.body = call.body["body"].as_str().unwrap_or_default().to_owned();
                comment.edits += 1;
                Reply::json(200, comment_json(comment))
            }
            "pulls/list-review-comments" => {
                let number = call.number("pull_number");
                let repo = &self.repos[&full_name];
                if !repo.pulls.contains_key(&number) {
                    return Reply::error(404, "Not Found");
                }
                let comments: Vec<Value> = repo
                    .review_comments
                    .iter()
                    .filter(|c| c.pull_number == number)
                    .map(review_comment_json)
                    .collect();
                self.page(call, comments)
            }
            "pulls/create-review-comment" => {
                let number = call.number("pull_number");
                let Some(pr) = self.repos[&full_name].pulls.get(&number).cloned() else {
                    return Reply::error(404, "Not Found");
                };
                let comment = match self.review_comment_on(&pr, &call.body) {
                    Ok((path, commit_id, start_line, line)) => ReviewComment {
                        id: self.next_id(),
                        pull_number: number,
                        author: login,
                        body: call.body["body"].as_str().unwrap_or_default().to_owned(),
                        path,
                        commit_id,
                        start_line,
                        line,
                        edits: 0,
                    },
                    Err(message) => return Reply::error(422, &message),
                };
                let reply = review_comment_json(&comment);
                self.repo_mut(&full_name).review_comments.push(comment);
                Reply::json(201, reply)
            }
            "pulls/update-review-comment" => {
                let id = call.number("comment_id");
                let repo = self.repo_mut(&full_name);
                let Some(comment) = repo.review_comments.iter_mut().find(|c| c.id == id) else {
                    return Reply::error(404, "Not Found");
                };
                if comment.author != login {
                    return Reply::error(403, "Must be the comment's author");
                }
                comment.body = call.body["body"].as_str().unwrap_or_default().to_owned();
                comment.edits += 1;
                Reply::json(200, review_comment_json(comment))
            }
            "checks/create" => {
                let apps_only = matches!(call.token.map(|t| &t.kind), Some(TokenKind::User));
                if self.failures.forbid_check_runs || apps_only {
                    return Reply::error(403, "Resource not accessible by integration");
                }
                let id = self.next_id();
                let run = CheckRun {
                    id,
                    name: call.body["name"].as_str().unwrap_or_default().to_owned(),
                    head_sha: call.body["head_sha"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    status: call.body["status"].as_str().unwrap_or("queued").to_owned(),
                    conclusion: call.body["conclusion"].as_str().map(str::to_owned),
                    title: None,
                    summary: None,
                    annotations: Vec::new(),
                    updates: 0,
                    author: login,
                    external_id: call.body["external_id"].as_str().map(str::to_owned),
                };
                let reply = check_run_json(&run);
                self.repo_mut(&full_name).check_runs.push(run);
                Reply::json(201, reply)
            }
            "checks/list-for-ref" => {
                let sha = call.param("ref").to_owned();
                let name = call.query("check_name").map(str::to_owned);
                let runs: Vec<Value> = self
                    .repo_mut(&full_name)
                    .check_runs
                    .iter()
                    .filter(|r| r.head_sha == sha && name.as_ref().is_none_or(|n| *n == r.name))
                    .map(check_run_json)
                    .collect();
                Reply::json(
                    200,
                    json!({ "total_count": runs.len(), "check_runs": runs }),
                )
            }
            "checks/update" => {
                let id = call.number("check_run_id");
                let repo = self.repo_mut(&full_name);
                let Some(run) = repo.check_runs.iter_mut().find(|r| r.id == id) else {
                    return Reply::error(404, "Not Found");
                };
                run.updates += 1;
                if let Some(c) = call.body["conclusion"].as_str() {
                    run.conclusion = Some(c.to_owned());
                    run.status = "completed".into();
                }
                if let Some(s) = call.body["status"].as_str() {
                    run.status = s.to_owned();
                }
                let output = &call.body["output"];
                if let Some(t) = output["title"].as_str() {
                    run.title = Some(t.to_owned());
                }
                if let Some(s) = output["summary"].as_str() {
                    run.summary = Some(s.to_owned());
                }
                if let Some(a) = output["annotations"].as_array() {
                    // GitHub appends annotations across updates.
                    run.annotations.extend(a.iter().cloned());
                }
                Reply::json(200, check_run_json(run))
            }
            "repos/create-commit-status" => {
                let status = Status {
                    sha: call.param("sha").to_owned(),
                    state: call.body["state"].as_str().unwrap_or_default().to_owned(),
                    context: call.body["context"]
                        .as_str()
                        .unwrap_or("default")
                        .to_owned(),
                    description: call.body["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                };
                let id = self.next_id();
                let reply = json!({ "id": id, "state": status.state, "context": status.context,
                                    "description": status.description, "creator": user_json(&login) });
                self.repo_mut(&full_name).statuses.push(status);
                Reply::json(201, reply)
            }
            "repos/create-deployment" => {
                let git_ref = call.body["ref"].as_str().unwrap_or_default().to_owned();
                let Some(sha) = self.resolve(&self.repos[&full_name], &git_ref) else {
                    return Reply::error(422, &format!("No ref found for: {git_ref}"));
                };
                let id = self.next_id();
                let deployment = Deployment {
                    id,
                    git_ref,
                    sha,
                    environment: call.body["environment"]
                        .as_str()
                        .unwrap_or("production")
                        .to_owned(),
                    payload: call.body["payload"].clone(),
                    statuses: Vec::new(),
                };
                let reply = json!({ "id": id, "ref": deployment.git_ref, "sha": deployment.sha,
                                    "environment": deployment.environment, "payload": deployment.payload });
                self.repo_mut(&full_name).deployments.push(deployment);
                Reply::json(201, reply)
            }
            "repos/create-deployment-status" => {
                let id = call.number("deployment_id");
                let status_id = self.next_id();
                let repo = self.repo_mut(&full_name);
                let Some(d) = repo.deployments.iter_mut().find(|d| d.id == id) else {
                    return Reply::error(404, "Not Found");
                };
                let state = call.body["state"].as_str().unwrap_or_default().to_owned();
                let description = call.body["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                d.statuses.push((state.clone(), description));
                Reply::json(201, json!({ "id": status_id, "state": state }))
            }
            other => Reply::error(501, &format!("fake GitHub does not implement {other}")),
        }
    }

    /// `PUT /repos/{o}/{r}/contents/{path}`: a new commit on `branch` (the
    /// default branch when absent) with the file replaced, as GitHub makes
    /// it: replacing a file needs the blob SHA it replaces (422 without it,
    /// 409 when the branch moved on), and the pull requests from the branch
    /// follow it to the new head.
    fn put_file(&mut self, call: &Call, full_name: &str) -> Reply {
        let repo = &self.repos[full_name];
        let branch = call.body["branch"]
            .as_str()
            .unwrap_or(&repo.default_branch)
            .to_owned();
        let Some(parent) = repo.branches.get(&branch).cloned() else {
            return Reply::error(404, &format!("Branch {branch} not found"));
        };
        let path = call.param("path").trim_matches('/').to_owned();
        let Ok(content) = base64::engine::general_purpose::STANDARD
            .decode(call.body["content"].as_str().unwrap_or_default())
        else {
            return Reply::error(422, "content is not valid Base64");
        };
        let existing = self.commits[&parent].tree.get(&path).map(|b| blob_sha(b));
        match (&existing, call.body["sha"].as_str()) {
            (Some(_), None) => return Reply::error(422, "\"sha\" wasn't supplied."),
            (Some(current), Some(given)) if current != given => {
                return Reply::error(409, &format!("{path} does not match {given}"));
            }
            _ => {}
        }
        let sha = self.make_commit(Some(&parent), &[(path.as_str(), Some(content.as_slice()))]);
        let repo = self.repo_mut(full_name);
        repo.branches.insert(branch.clone(), sha.clone());
        for pull in repo.pulls.values_mut() {
            if pull.head_ref == branch && pull.state == "open" {
                pull.head_sha = sha.clone();
            }
        }
        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
        Reply::json(
            if existing.is_some() { 200 } else { 201 },
            json!({
                "content": { "type": "file", "name": name, "path": path, "sha": blob_sha(&content),
                             "size": content.len() },
                "commit": { "sha": sha, "message": call.body["message"], "parents": [{ "sha": parent }] },
            }),
        )
    }

    /// Where a new review comment goes, checked as GitHub checks it: a
    /// commit of the pull request, a file in it, `line` (and `start_line`
    /// before it) on the RIGHT side, every line inside one hunk of the pull
    /// request's diff (changed lines with three lines of context).
    fn review_comment_on(
        &self,
        pr: &Pull,
        body: &Value,
    ) -> Result<(String, String, Option<u64>, u64), String> {
        let commit_id = body["commit_id"].as_str().ok_or("commit_id is required")?;
        if commit_id != pr.head_sha {
            return Err(format!(
                "commit_id {commit_id} is not the pull request's head {}",
                pr.head_sha
            ));
        }
        let path = body["path"].as_str().ok_or("path is required")?;
        let line = body["line"]
            .as_u64()
            .ok_or("line is required (position is closing down)")?;
        let start_line = body["start_line"].as_u64();
        for side in ["side", "start_side"] {
            if let Some(s) = body[side].as_str()
                && s != "RIGHT"
            {
                return Err(format!(
                    "{side} {s}: this fake comments on the RIGHT side only"
                ));
            }
        }
        if start_line.is_some_and(|s| s >= line) {
            return Err("start_line must precede line".into());
        }
        let (merge_base, _) = self.diff(&pr.base_sha, &pr.head_sha);
        let text = |sha: &str| {
            self.commits
                .get(sha)
                .and_then(|c| c.tree.get(path))
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let new = text(&pr.head_sha).ok_or("path is not a file of the pull request's head")?;
        let old = text(&merge_base).unwrap_or_default();
        let diff = similar::TextDiff::from_lines(&old, &new);
        let first = start_line.unwrap_or(line);
        let in_one_hunk = diff.grouped_ops(3).iter().any(|group| {
            let start = group.first().map_or(0, |op| op.new_range().start) as u64 + 1;
            let end = group.last().map_or(0, |op| op.new_range().end) as u64;
            start <= first && line <= end
        });
        if !in_one_hunk {
            return Err("pull_request_review_thread.line must be part of the diff".into());
        }
        Ok((path.to_owned(), commit_id.to_owned(), start_line, line))
    }

    /// One page of `items` with GitHub's `Link` header.
    fn page(&self, call: &Call, items: Vec<Value>) -> Reply {
        let per_page = call
            .query("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = call
            .query("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let chunk: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let mut reply = Reply::json(200, Value::Array(chunk));
        let link_to = |p: usize| {
            let others: Vec<String> = call
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| format!("{k}={v}"))
                .chain([format!("page={p}")])
                .collect();
            format!("<{}{}?{}>", call.base_url, call.path, others.join("&"))
        };
        let mut links = Vec::new();
        if page < last {
            links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
            links.push(format!("{}; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
            links.push(format!("{}; rel=\"first\"", link_to(1)));
        }
        if !links.is_empty() {
            reply.headers.push(("link".into(), links.join(", ")));
        }
        reply
    }
}

/// The fake's blob id of a file's bytes (a stand-in for git's SHA-1).
fn blob_sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))[..40].to_owned()
}

fn file_json(path: &str, status: &str) -> Value {
    json!({ "filename": path, "status": status, "sha": "0000000000000000000000000000000000000000",
            "additions": 1, "deletions": 0, "changes": 1 })
}

fn pull_json(full_name: &str, pr: &Pull) -> Value {
    let repo = |name: &Option<String>| match name {
        Some(n) => json!({ "full_name": n, "name": n.rsplit('/').next() }),
        None => Value::Null,
    };
    json!({
        "number": pr.number, "state": pr.state, "merged": pr.merged,
        "merge_commit_sha": if pr.merged { Value::from(pr.head_sha.clone()) } else { Value::Null },
        "head": { "sha": pr.head_sha, "ref": pr.head_ref, "repo": repo(&pr.head_repo) },
        "base": { "sha": pr.base_sha, "ref": pr.base_ref, "repo": repo(&Some(full_name.to_owned())) },
    })
}

fn issue_json(issue: &Issue) -> Value {
    let mut v = json!({ "id": issue.number, "number": issue.number, "title": issue.title, "body": issue.body,
                        "state": issue.state, "user": user_json(&issue.author) });
    if issue.is_pull_request {
        v["pull_request"] = json!({ "url": "" });
    }
    v
}

fn comment_json(c: &Comment) -> Value {
    let mut user = user_json(&c.author);
    user["type"] = json!(if c.author_is_bot { "Bot" } else { "User" });
    json!({ "id": c.id, "body": c.body, "user": user, "created_at": now() })
}

fn review_comment_json(c: &ReviewComment) -> Value {
    json!({ "id": c.id, "body": c.body, "user": user_json(&c.author), "path": c.path,
            "commit_id": c.commit_id, "original_commit_id": c.commit_id, "line": c.line,
            "start_line": c.start_line, "side": "RIGHT", "created_at": now() })
}

fn check_run_json(r: &CheckRun) -> Value {
    json!({ "id": r.id, "name": r.name, "head_sha": r.head_sha, "status": r.status,
            "external_id": r.external_id,
            "conclusion": r.conclusion, "output": { "title": r.title, "summary": r.summary,
            "annotations_count": r.annotations.len() } })
}
