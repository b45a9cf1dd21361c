//! A fake GitHub on 127.0.0.1:0 for integration tests.
//!
//! A world model (repositories, commits, pull requests, comments, check runs,
//! statuses, deployments, issues, tokens) sits behind a mutex; one axum
//! handler looks every request up in GitHub's published OpenAPI description
//! (`fixtures/github/openapi.json`), records any contract violation (unknown
//! path, wrong method, unknown query parameter, a body the schema rejects),
//! then lets the world answer. Dropping the fake asserts that no violation
//! was recorded, so a request GitHub would reject fails the test.
//!
//! Include it from an integration test with
//! `#[path = "support/fake_github/mod.rs"] mod fake_github;`.

// Each test file uses part of the vocabulary.
#![allow(dead_code, unused_imports)]

pub mod contract;
pub mod world;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use promptgate::edges::github::Secret;
use promptgate::types::{CommitSha, InstallationId, PrNumber, RepoName};
use serde_json::Value;

use contract::{Lookup, contract};
pub use world::{
    APP_ID, APP_SLUG, CheckRun, Comment, Deployment, Injected, Issue, ManifestApp, RecordedRequest,
    Status, TokenInfo, TokenKind, World,
};
use world::{Call, Pull, Reply};

/// The token an Actions workflow would get: writes as `github-actions[bot]`.
pub const ACTIONS_TOKEN: &str = "ghs_fake_actions_token";

pub const APP_PRIVATE_KEY: &str = include_str!("../../../fixtures/github/test-app-key.pem");
const APP_PUBLIC_KEY: &str = include_str!("../../../fixtures/github/test-app-key.pub.pem");

struct Shared {
    world: Mutex<World>,
    base_url: String,
}

pub struct FakeGitHub {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut world = World::default();
        world.app_public_key = APP_PUBLIC_KEY.as_bytes().to_vec();
        world.app_private_key = APP_PRIVATE_KEY.to_owned();
        world.tokens.insert(
            ACTIONS_TOKEN.to_owned(),
            TokenInfo {
                login: "github-actions[bot]".into(),
                kind: TokenKind::Actions,
            },
        );
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            base_url: format!("http://{addr}"),
        });
        // The web pages GitHub serves outside its REST API: the App manifest form.
        let app = axum::Router::new()
            .route("/settings/apps/new", axum::routing::post(new_app_form))
            .route(
                "/organizations/{org}/settings/apps/new",
                axum::routing::post(new_app_form),
            )
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake GitHub serves");
        });
        Self { shared, server }
    }

    /// What `GITHUB_API_URL` would be.
    pub fn api_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Actions `GITHUB_TOKEN`.
    pub fn actions_token(&self) -> Secret {
        Secret::new(ACTIONS_TOKEN)
    }

    /// A personal access token acting as `login` (may not create check runs).
    pub fn user_token(&self, login: &str) -> Secret {
        let token = format!("ghp_fake_{login}");
        self.world().tokens.insert(
            token.clone(),
            TokenInfo {
                login: login.to_owned(),
                kind: TokenKind::User,
            },
        );
        Secret::new(token)
    }

    /// Installs the App (id [`APP_ID`], slug [`APP_SLUG`]) on these repositories.
    pub fn install_app(&self, repos: &[&RepoName]) -> InstallationId {
        let mut world = self.world();
        let id = world.next_id();
        world.installations.insert(
            id,
            repos.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>(),
        );
        InstallationId(id)
    }

    /// A repository whose default branch `main` has one commit with a README.
    pub fn create_repo(&self, full_name: &str) -> RepoName {
        let repo: RepoName = full_name.parse().expect("owner/name");
        let mut world = self.world();
        let root = world.make_commit(None, &[("README.md", Some(b"# prompts\n".as_slice()))]);
        world.repos.insert(
            full_name.to_owned(),
            World::new_repo(full_name, "main", root),
        );
        repo
    }

    /// Commits `files` (path, content) on top of `branch` (created from the
    /// default branch when new) and moves the branch.
    pub fn commit(&self, repo: &RepoName, branch: &str, files: &[(&str, &str)]) -> CommitSha {
        let changes: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(p, c)| (*p, Some(c.as_bytes())))
            .collect();
        self.commit_changes(repo, branch, &changes)
    }

    /// Commits every file git tracks in the checkout at `root`, as it is in
    /// the working tree, on top of `branch`: the fake's copy of a local
    /// repository.
    pub fn commit_checkout(
        &self,
        repo: &RepoName,
        branch: &str,
        root: &std::path::Path,
    ) -> CommitSha {
        let listed = std::process::Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(root)
            .output()
            .expect("git runs");
        assert!(
            listed.status.success(),
            "git ls-files failed in {}",
            root.display()
        );
        let files: Vec<(String, String)> = String::from_utf8(listed.stdout)
            .expect("UTF-8 paths")
            .split('\0')
            .filter(|path| !path.is_empty())
            .map(|path| {
                let content = std::fs::read_to_string(root.join(path)).expect("a text file");
                (path.to_owned(), content)
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, content)| (path.as_str(), content.as_str()))
            .collect();
        self.commit(repo, branch, &borrowed)
    }

    /// Like [`commit`](Self::commit), where `None` deletes the file.
    pub fn commit_changes(
        &self,
        repo: &RepoName,
        branch: &str,
        changes: &[(&str, Option<&[u8]>)],
    ) -> CommitSha {
        let mut world = self.world();
        let key = repo.to_string();
        let r = world.repo_mut(&key);
        let parent = r
            .branches
            .get(branch)
            .or_else(|| r.branches.get(&r.default_branch))
            .cloned();
        let sha = world.make_commit(parent.as_deref(), changes);
        world
            .repo_mut(&key)
            .branches
            .insert(branch.to_owned(), sha.clone());
        CommitSha(sha)
    }

    /// Opens a pull request from a new branch `head` with `files` into the default branch.
    pub fn open_pr(&self, repo: &RepoName, head: &str, files: &[(&str, &str)]) -> PrNumber {
        self.commit(repo, head, files);
        self.open_pr_from(repo, head, Some(repo.to_string()))
    }

    /// A pull request whose head lives in `fork_owner`'s fork.
    pub fn open_fork_pr(
        &self,
        repo: &RepoName,
        fork_owner: &str,
        head: &str,
        files: &[(&str, &str)],
    ) -> PrNumber {
        // The fork's commits are visible in the base repository, as on GitHub.
        let branch = format!("refs/pull-head/{fork_owner}/{head}");
        self.commit(repo, &branch, files);
        let number = self.open_pr_from(repo, &branch, Some(format!("{fork_owner}/{}", repo.name)));
        let mut world = self.world();
        let r = world.repo_mut(&repo.to_string());
        r.branches.remove(&branch);
        if let Some(pr) = r.pulls.get_mut(&number.0) {
            pr.head_ref = head.to_owned();
        }
        number
    }

    fn open_pr_from(&self, repo: &RepoName, branch: &str, head_repo: Option<String>) -> PrNumber {
        let mut world = self.world();
        let r = world.repo_mut(&repo.to_string());
        let number = World::next_number(r);
        let base_ref = r.default_branch.clone();
        let pull = Pull {
            number,
            head_ref: branch.to_owned(),
            head_sha: r.branches[branch].clone(),
            head_repo,
            base_sha: r.branches[&base_ref].clone(),
            base_ref,
            state: "open".into(),
            merged: false,
        };
        r.issues.insert(
            number,
            Issue {
                number,
                title: format!("Change {branch}"),
                body: String::new(),
                state: "open".into(),
                author: "contributor".into(),
                is_pull_request: true,
            },
        );
        r.pulls.insert(number, pull);
        PrNumber(number)
    }

    /// Pushes `files` to the pull request's head branch (a `synchronize`).
    pub fn push_to_pr(&self, repo: &RepoName, pr: PrNumber, files: &[(&str, &str)]) -> CommitSha {
        let head_ref = self.world().repo_mut(&repo.to_string()).pulls[&pr.0]
            .head_ref
            .clone();
        let sha = self.commit(repo, &head_ref, files);
        self.world()
            .repo_mut(&repo.to_string())
            .pulls
            .get_mut(&pr.0)
            .expect("pull request")
            .head_sha = sha.0.clone();
        sha
    }

    pub fn pull(&self, repo: &RepoName, pr: PrNumber) -> world::Pull {
        self.world().repo_mut(&repo.to_string()).pulls[&pr.0].clone()
    }

    /// A comment written by `user` (a `[bot]` suffix makes it a bot).
    pub fn add_comment_by(&self, repo: &RepoName, pr: PrNumber, user: &str, body: &str) -> u64 {
        let mut world = self.world();
        let id = world.next_id();
        world.repo_mut(&repo.to_string()).comments.push(Comment {
            id,
            issue_number: pr.0,
            author: user.to_owned(),
            author_is_bot: user.ends_with("[bot]"),
            body: body.to_owned(),
            edits: 0,
        });
        id
    }

    pub fn comments(&self, repo: &RepoName, pr: PrNumber) -> Vec<Comment> {
        self.world()
            .repo_mut(&repo.to_string())
            .comments
            .iter()
            .filter(|c| c.issue_number == pr.0)
            .cloned()
            .collect()
    }

    /// Review comments (comments on lines) of a pull request, oldest first.
    pub fn review_comments(&self, repo: &RepoName, pr: PrNumber) -> Vec<world::ReviewComment> {
        self.world()
            .repo_mut(&repo.to_string())
            .review_comments
            .iter()
            .filter(|c| c.pull_number == pr.0)
            .cloned()
            .collect()
    }

    /// A file's text at a commit.
    pub fn file_at(&self, sha: &CommitSha, path: &str) -> Option<String> {
        self.world()
            .commits
            .get(&sha.0)
            .and_then(|c| c.tree.get(path))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn check_runs(&self, repo: &RepoName, sha: &CommitSha) -> Vec<CheckRun> {
        self.world()
            .repo_mut(&repo.to_string())
            .check_runs
            .iter()
            .filter(|r| r.head_sha == sha.0)
            .cloned()
            .collect()
    }

    pub fn statuses(&self, repo: &RepoName, sha: &CommitSha) -> Vec<Status> {
        self.world()
            .repo_mut(&repo.to_string())
            .statuses
            .iter()
            .filter(|s| s.sha == sha.0)
            .cloned()
            .collect()
    }

    pub fn deployments(&self, repo: &RepoName) -> Vec<Deployment> {
        self.world().repo_mut(&repo.to_string()).deployments.clone()
    }

    /// Issues only (pull requests excluded), oldest first.
    pub fn issues(&self, repo: &RepoName) -> Vec<Issue> {
        self.world()
            .repo_mut(&repo.to_string())
            .issues
            .values()
            .filter(|i| !i.is_pull_request)
            .cloned()
            .collect()
    }

    /// `user`'s permission: `admin`, `maintain`, `write`, `triage`, `read`, `none`.
    pub fn set_permission(&self, repo: &RepoName, user: &str, permission: &str) {
        self.world()
            .repo_mut(&repo.to_string())
            .permissions
            .insert(user.to_owned(), permission.to_owned());
    }

    /// Check-run creation answers 403, as for a token without `checks: write`.
    pub fn forbid_check_runs(&self) {
        self.world().failures.forbid_check_runs = true;
    }

    /// The next `times` calls of `operation_id` (e.g. `checks/create`) answer `status`.
    pub fn fail_next(&self, operation_id: &str, status: u16, times: u32) {
        self.world().failures.injected.push(Injected {
            operation_id: operation_id.to_owned(),
            status,
            headers: Vec::new(),
            message: "Server Error".into(),
            times,
            delay: None,
        });
    }

    /// The next call of `operation_id` hits a secondary rate limit (403 + `Retry-After`).
    pub fn rate_limit_next(&self, operation_id: &str, retry_after_secs: u64) {
        self.world().failures.injected.push(Injected {
            operation_id: operation_id.to_owned(),
            status: 403,
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".into(),
            times: 1,
            delay: None,
        });
    }

    /// The next `times` calls of `operation_id` hang for a minute before a 504.
    pub fn hang_next(&self, operation_id: &str, times: u32) {
        self.world().failures.injected.push(Injected {
            operation_id: operation_id.to_owned(),
            status: 504,
            headers: Vec::new(),
            message: "Gateway Timeout".into(),
            times,
            delay: Some(std::time::Duration::from_secs(60)),
        });
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.world().requests.clone()
    }

    /// Requests made to one operation, e.g. `checks/update`.
    pub fn requests_to(&self, operation_id: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.operation_id.as_deref() == Some(operation_id))
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.world().violations.clone()
    }

    /// Takes the recorded violations (for tests that provoke them on purpose).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.world().violations)
    }

    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "requests GitHub's OpenAPI description rejects:\n{}",
            violations.join("\n")
        );
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
        if !std::thread::panicking() {
            self.assert_no_violations();
        }
    }
}

/// Keys GitHub documents for an App manifest
/// (docs.github.com, "Registering a GitHub App from a manifest").
const MANIFEST_KEYS: &[&str] = &[
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
];

/// What GitHub's manifest documentation says is wrong with `manifest`.
fn manifest_problems(manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(fields) = manifest.as_object() else {
        return vec!["the manifest is not a JSON object".into()];
    };
    for key in fields.keys() {
        if !MANIFEST_KEYS.contains(&key.as_str()) {
            problems.push(format!("manifest: unknown key `{key}`"));
        }
    }
    if !manifest["url"].is_string() {
        problems.push("manifest: `url` (the App's homepage) is required".into());
    }
    if !manifest["hook_attributes"].is_null() && !manifest["hook_attributes"]["url"].is_string() {
        problems.push("manifest: `hook_attributes.url` is required".into());
    }
    // GitHub refuses these in `default_events`: every App gets them.
    for event in manifest["default_events"].as_array().into_iter().flatten() {
        if matches!(
            event.as_str(),
            Some("installation" | "installation_repositories") | None
        ) {
            problems.push(format!("manifest: `default_events` may not hold {event}"));
        }
    }
    for (name, access) in manifest["default_permissions"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if !matches!(access.as_str(), Some("read" | "write")) {
            problems.push(format!("manifest: permission `{name}` = {access}"));
        }
    }
    problems
}

/// GitHub's `settings/apps/new` form, as a browser posts a manifest to it:
/// registers the App and sends the browser to the manifest's `redirect_url`
/// with a one-time `code` and the `state` it was given.
async fn new_app_form(
    State(shared): State<Arc<Shared>>,
    org: Option<axum::extract::Path<String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut world = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let state = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let mut problems = Vec::new();
    if content_type != Some("application/x-www-form-urlencoded") {
        problems.push(format!("manifest form: content-type {content_type:?}"));
    }
    let manifest = form
        .get("manifest")
        .and_then(|m| serde_json::from_str::<Value>(m).ok());
    match &manifest {
        Some(m) => problems.extend(manifest_problems(m)),
        None => problems.push("manifest form: no `manifest` field holding JSON".into()),
    }
    let redirect = manifest
        .as_ref()
        .and_then(|m| m["redirect_url"].as_str())
        .map(str::to_owned);
    if redirect.is_none() {
        problems.push("manifest: no `redirect_url` to send the browser back to".into());
    }
    if !problems.is_empty() {
        world.violations.extend(problems.iter().cloned());
        return (StatusCode::UNPROCESSABLE_ENTITY, problems.join("\n")).into_response();
    }
    let code = format!("manifestcode{}", world.next_id());
    let webhook_secret = format!(
        "whsec{:016x}",
        world.next_id().wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    world.manifest_apps.insert(
        code.clone(),
        ManifestApp {
            manifest: manifest.unwrap_or_default(),
            org: org.map(|o| o.0),
            webhook_secret,
            converted: false,
        },
    );
    let mut location = url::Url::parse(&redirect.unwrap_or_default()).expect("redirect_url");
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = state {
        location.query_pairs_mut().append_pair("state", &state);
    }
    (
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// GitHub's example payloads for `event` (from `fixtures/github/webhooks/`),
/// each as (action, body bytes).
pub fn webhook_examples(file_stem: &str) -> Vec<(Option<String>, Vec<u8>)> {
    let path = format!(
        "{}/fixtures/github/webhooks/{file_stem}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let examples: Vec<Value> = serde_json::from_str(&text).expect("examples are a JSON array");
    examples
        .into_iter()
        .map(|e| {
            let action = e.get("action").and_then(Value::as_str).map(str::to_owned);
            (action, serde_json::to_vec(&e).expect("serialise"))
        })
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
}

/// App endpoints take the App's JWT: RS256, signed by the App key, `iss` the
/// App id, at most 10 minutes between `iat` and `exp`.
fn check_app_jwt(world: &World, token: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iat: u64,
        exp: u64,
        iss: String,
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&world.app_public_key)
        .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| format!("invalid JWT: {e}"))?;
    if data.claims.iss != APP_ID.to_string() {
        return Err(format!("JWT iss {} is not the App id", data.claims.iss));
    }
    if data.claims.exp.saturating_sub(data.claims.iat) > 600 {
        return Err("JWT lives longer than 10 minutes".into());
    }
    Ok(())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (contract::decode(k), contract::decode(v))
        })
        .collect();
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    // The world is locked only while answering, never across an await.
    let reply = {
        let mut world = shared.world.lock().unwrap_or_else(|e| e.into_inner());
        let reply = answer(
            &mut world,
            &shared.base_url,
            &method,
            &path,
            &query,
            &headers,
            &body,
            json_body.clone(),
        );
        let operation_id = match contract().lookup(method.as_str(), &path) {
            Lookup::Found(m) => Some(m.operation_id),
            _ => None,
        };
        world.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query,
            operation_id,
            body: json_body,
            status: reply.status,
        });
        reply
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            axum::http::HeaderValue::try_from(v),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn answer(
    world: &mut World,
    base_url: &str,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    json_body: Option<Value>,
) -> Reply {
    let matched = match contract().lookup(method.as_str(), path) {
        Lookup::Found(m) => m,
        Lookup::WrongMethod { allowed } => {
            world.violations.push(format!(
                "{method} {path}: method not in GitHub's description (allowed: {})",
                allowed.join(", ")
            ));
            return Reply::error(404, "Not Found");
        }
        Lookup::UnknownPath => {
            world
                .violations
                .push(format!("{method} {path}: path not in GitHub's description"));
            return Reply::error(404, "Not Found");
        }
    };
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let problems = contract().check(&matched, method.as_str(), query, content_type, body);
    if !problems.is_empty() {
        world.violations.extend(problems.iter().cloned());
        return Reply::error(422, &format!("Invalid request: {}", problems.join("; ")));
    }
    if let Some(i) = world
        .failures
        .injected
        .iter()
        .position(|f| f.operation_id == matched.operation_id && f.times > 0)
    {
        let injected = &mut world.failures.injected[i];
        injected.times -= 1;
        let mut reply = Reply::error(injected.status, &injected.message);
        reply.headers.extend(injected.headers.iter().cloned());
        reply.delay = injected.delay;
        return reply;
    }
    // The one-time code is the credential of the manifest conversion.
    if matched.operation_id == "apps/create-from-manifest" {
        let reply = world.handle(&Call {
            operation_id: &matched.operation_id,
            params: &matched.params,
            query,
            body: Value::Null,
            token: None,
            base_url,
            path,
            accept_raw: false,
        });
        if let Ok(body) = serde_json::from_slice::<Value>(&reply.body) {
            let problems = contract().check_response(&matched.operation_id, reply.status, &body);
            world.violations.extend(problems);
        }
        return reply;
    }
    let Some(token) = bearer(headers) else {
        return Reply::error(401, "Requires authentication");
    };
    let app_endpoint = matched.operation_id.starts_with("apps/");
    let token_info = if app_endpoint {
        if let Err(e) = check_app_jwt(world, token) {
            return Reply::error(401, &format!("A JSON web token could not be decoded: {e}"));
        }
        None
    } else {
        match world.tokens.get(token) {
            Some(info) => Some(info.clone()),
            None => return Reply::error(401, "Bad credentials"),
        }
    };
    let accept_raw = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("raw"));
    world.handle(&Call {
        operation_id: &matched.operation_id,
        params: &matched.params,
        query,
        body: json_body.unwrap_or(Value::Null),
        token: token_info.as_ref(),
        base_url,
        path,
        accept_raw,
    })
}
