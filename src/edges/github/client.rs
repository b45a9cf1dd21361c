//! [`GitHubClient`]: the real [`GitHubApi`], octocrab underneath.
//!
//! octocrab's typed builders hide response headers, and we need them: the
//! `Link` header for pagination, `Retry-After` / `x-ratelimit-*` for retries.
//! So every call goes through octocrab's raw request methods (its HTTP stack,
//! base URL handling and auth header) and one loop here that adds the
//! timeout, the retries and the error that names the call.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::app::GitHubApp;
use super::{
    ACTIONS_BOT_LOGIN, CallName, ChangedFile, CheckRunUpdate, CommitStatus, Comparison,
    DeploymentState, FileChange, GitHubApi, GitHubError, Issue, IssueComment, NewDeployment,
    NewReviewComment, Permission, PullRequest, ReviewComment, Secret, Tree, TreeFile,
    truncate_chars,
};
use crate::types::{Backoff, CommitSha, InstallationId, Jitter, PrNumber, RepoName};

/// When to retry and how long to wait.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First wait after a 5xx without `Retry-After`; doubles each attempt.
    pub backoff: Duration,
    /// A secondary rate limit without any header: GitHub asks for at least a minute.
    pub secondary_rate_limit_wait: Duration,
    /// Never wait longer than this for one retry; give up instead.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            secondary_rate_limit_wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per attempt, from sending the request to the last byte of the answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// `https://api.github.com`, or `GITHUB_API_URL` (GitHub Enterprise:
/// `https://ghe.example.com/api/v3`).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The real GitHub client. Cheap to clone.
#[derive(Clone)]
pub struct GitHubClient {
    inner: Arc<Inner>,
}

struct Inner {
    api_url: String,
    options: ClientOptions,
    auth: Auth,
    login: tokio::sync::OnceCell<String>,
}

enum Auth {
    Token(Octocrab),
    Installation { app: GitHubApp, id: InstallationId },
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("api_url", &self.inner.api_url)
            .field("token", &"***")
            .finish()
    }
}

/// A builds an octocrab for `api_url` sending `bearer`; shared with App auth.
pub(crate) fn build_octocrab(
    api_url: &str,
    bearer: &Secret,
    options: &ClientOptions,
) -> Result<Octocrab, GitHubError> {
    let api_url = normalise_api_url(api_url)?;
    Octocrab::builder()
        .base_uri(api_url.as_str())
        .map_err(|e| GitHubError::Config(format!("GitHub API URL `{api_url}`: {e}")))?
        .personal_token(bearer.expose().to_owned())
        .set_connect_timeout(Some(options.timeout))
        .set_read_timeout(Some(options.timeout))
        .set_write_timeout(Some(options.timeout))
        .build()
        .map_err(|e| GitHubError::Config(format!("building the GitHub client: {e}")))
}

pub(crate) fn normalise_api_url(api_url: &str) -> Result<String, GitHubError> {
    let trimmed = api_url.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed).map_err(|e| {
        GitHubError::Config(format!(
            "GITHUB_API_URL `{trimmed}` is not a URL ({e}); expected e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(GitHubError::Config(format!(
            "GITHUB_API_URL `{trimmed}` must be an http(s) URL with a host"
        )));
    }
    Ok(trimmed.to_owned())
}

impl GitHubClient {
    /// A client for `api_url` authenticated with a token (an Actions
    /// `GITHUB_TOKEN`, a personal access token or an installation token).
    pub fn new(api_url: &str, token: Secret, options: ClientOptions) -> Result<Self, GitHubError> {
        if token.is_empty() {
            return Err(GitHubError::Config(
                "the GitHub token is empty; pass `github-token` (or set GITHUB_TOKEN)".into(),
            ));
        }
        let octocrab = build_octocrab(api_url, &token, &options)?;
        Ok(Self::from_parts(api_url, options, Auth::Token(octocrab)))
    }

    pub(crate) fn for_installation(
        app: GitHubApp,
        id: InstallationId,
        api_url: &str,
        options: ClientOptions,
    ) -> Self {
        Self::from_parts(api_url, options, Auth::Installation { app, id })
    }

    fn from_parts(api_url: &str, options: ClientOptions, auth: Auth) -> Self {
        Self {
            inner: Arc::new(Inner {
                api_url: api_url.trim().trim_end_matches('/').to_owned(),
                options,
                auth,
                login: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Sets the login our comments are authored by, skipping the lookup
    /// (e.g. `github-actions[bot]`, or a bot account's login).
    pub fn with_login(self, login: impl Into<String>) -> Self {
        let cell = tokio::sync::OnceCell::new();
        let _ = cell.set(login.into());
        Self {
            inner: Arc::new(Inner {
                api_url: self.inner.api_url.clone(),
                options: self.inner.options.clone(),
                auth: match &self.inner.auth {
                    Auth::Token(o) => Auth::Token(o.clone()),
                    Auth::Installation { app, id } => Auth::Installation {
                        app: app.clone(),
                        id: *id,
                    },
                },
                login: cell,
            }),
        }
    }

    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    async fn octocrab(&self) -> Result<Octocrab, GitHubError> {
        match &self.inner.auth {
            Auth::Token(o) => Ok(o.clone()),
            Auth::Installation { app, id } => app.installation_octocrab(*id).await,
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        path: &str,
    ) -> Result<T, GitHubError> {
        let response = self.send(call, Method::GET, path, None, None).await?;
        response.json(call, path)
    }

    async fn write_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, GitHubError> {
        let response = self.send(call, method, path, Some(body), None).await?;
        response.json(call, path)
    }

    /// GET that maps 404 to `None`.
    async fn get_optional(
        &self,
        call: &Call,
        path: &str,
        accept: Option<&'static str>,
    ) -> Result<Option<Response>, GitHubError> {
        match self.send(call, Method::GET, path, None, accept).await {
            Ok(r) => Ok(Some(r)),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every page of a list, following `Link: <…>; rel="next"`.
    async fn get_all_pages<T: DeserializeOwned>(
        &self,
        call: &Call,
        first: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next.take() {
            let response = self.send(call, Method::GET, &path, None, None).await?;
            next = next_page(&response.headers)
                .map(|url| self.same_api(call, &url))
                .transpose()?;
            let page: Vec<T> = response.json(call, &path)?;
            items.extend(page);
        }
        Ok(items)
    }

    /// A `Link` target must stay on our API host: the token goes with it.
    fn same_api(&self, call: &Call, url: &str) -> Result<String, GitHubError> {
        let base = url::Url::parse(&self.inner.api_url).ok();
        let target = url::Url::parse(url).ok();
        match (base, target) {
            (Some(b), Some(t)) if b.origin() == t.origin() => {
                let mut path = t.path().to_owned();
                if let Some(q) = t.query() {
                    path.push('?');
                    path.push_str(q);
                }
                // octocrab prefixes the base path (GHE's `/api/v3`) unless it is there.
                Ok(path)
            }
            _ => Err(GitHubError::Decode {
                call: call.name(&Method::GET, url),
                message: format!("pagination link `{url}` leaves {}", self.inner.api_url),
            }),
        }
    }

    /// One call with timeout and retries.
    async fn send(
        &self,
        call: &Call,
        method: Method,
        path: &str,
        body: Option<&Value>,
        accept: Option<&'static str>,
    ) -> Result<Response, GitHubError> {
        let policy = &self.inner.options.retry;
        let timeout = self.inner.options.timeout;
        // A write that timed out or lost its connection may have happened;
        // repeating it could post twice. Reads are always safe to repeat.
        let idempotent = method == Method::GET;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts.max(1);
            let octocrab = self.octocrab().await?;
            let outcome =
                tokio::time::timeout(timeout, execute(&octocrab, &method, path, body, accept))
                    .await;
            match &outcome {
                Ok(Ok(response)) => crate::pipeline::call_counters::record_github_call(
                    call.what,
                    Some(response.status.as_u16()),
                    response.header("x-ratelimit-remaining"),
                ),
                _ => crate::pipeline::call_counters::record_github_call(call.what, None, None),
            }
            let response = match outcome {
                Err(_elapsed) if idempotent && !last => {
                    tracing::warn!(call = call.what, attempt, "GitHub call timed out; retrying");
                    tokio::time::sleep(backoff(policy, attempt)).await;
                    continue;
                }
                Err(_elapsed) => {
                    return Err(GitHubError::Timeout {
                        call: call.name(&method, path),
                        secs: timeout.as_secs(),
                        attempts: attempt,
                        api_url: self.inner.api_url.clone(),
                    });
                }
                Ok(Err(message)) if idempotent && !last => {
                    tracing::warn!(call = call.what, attempt, %message, "GitHub call failed; retrying");
                    tokio::time::sleep(backoff(policy, attempt)).await;
                    continue;
                }
                Ok(Err(message)) => {
                    return Err(GitHubError::Transport {
                        call: call.name(&method, path),
                        message,
                    });
                }
                Ok(Ok(response)) => response,
            };
            if response.status.is_success() {
                return Ok(response);
            }
            match retry_after(policy, &response, attempt) {
                Some(Retry::Wait(wait)) if !last && wait <= policy.max_wait => {
                    tracing::warn!(
                        call = call.what,
                        status = response.status.as_u16(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub asked us to retry"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Some(Retry::Wait(wait)) if is_rate_limited(&response) => {
                    return Err(GitHubError::RateLimited {
                        call: call.name(&method, path),
                        attempts: attempt,
                        wait_secs: wait.as_secs(),
                    });
                }
                _ => return Err(call.error(&method, path, &response)),
            }
        }
    }
}

/// Sends one request; a transport failure comes back as its message.
async fn execute(
    octocrab: &Octocrab,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    accept: Option<&'static str>,
) -> Result<Response, String> {
    let result = match *method {
        Method::GET => {
            let headers = accept.map(|a| {
                let mut h = HeaderMap::new();
                h.insert(http::header::ACCEPT, http::HeaderValue::from_static(a));
                h
            });
            octocrab._get_with_headers(path, headers).await
        }
        Method::POST => octocrab._post(path, body).await,
        Method::PATCH => octocrab._patch(path, body).await,
        Method::PUT => octocrab._put(path, body).await,
        _ => return Err(format!("promptgate does not send {method} requests")),
    };
    let response = result.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| format!("reading the response: {e}"))?
        .to_bytes();
    Ok(Response {
        status: parts.status,
        headers: parts.headers,
        body: bytes.to_vec(),
    })
}

struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    fn json<T: DeserializeOwned>(&self, call: &Call, path: &str) -> Result<T, GitHubError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| GitHubError::Decode {
            call: call.name(&Method::GET, path),
            message: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }

    fn message(&self) -> String {
        #[derive(Deserialize)]
        struct ErrorBody {
            message: Option<String>,
            #[serde(default)]
            errors: Vec<Value>,
        }
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(ErrorBody {
                message: Some(m),
                errors,
            }) => {
                let mut m = m;
                if !errors.is_empty() {
                    m.push_str(&format!(" {}", Value::Array(errors)));
                }
                truncate_chars(&m, 500)
            }
            _ => truncate_chars(String::from_utf8_lossy(&self.body).trim(), 200),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn is_rate_limited(response: &Response) -> bool {
    let status = response.status.as_u16();
    status == 429
        || (status == 403
            && (response.header("retry-after").is_some()
                || response.header("x-ratelimit-remaining") == Some("0")
                || response.message().to_lowercase().contains("rate limit")))
}

enum Retry {
    Wait(Duration),
}

/// Whether to retry, and after how long: rate limits (429, or 403 with the
/// rate-limit signs) wait for `Retry-After`, else `x-ratelimit-reset`, else a
/// minute; 5xx wait for `Retry-After`, else an exponential backoff.
fn retry_after(policy: &RetryPolicy, response: &Response, attempt: u32) -> Option<Retry> {
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if is_rate_limited(response) {
        let reset = (response.header("x-ratelimit-remaining") == Some("0"))
            .then(|| response.header("x-ratelimit-reset"))
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|reset| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                Duration::from_secs(reset.saturating_sub(now) + 1)
            });
        return Some(Retry::Wait(
            retry_after
                .or(reset)
                .unwrap_or(policy.secondary_rate_limit_wait),
        ));
    }
    if matches!(response.status.as_u16(), 500 | 502 | 503 | 504) {
        return Some(Retry::Wait(
            retry_after.unwrap_or_else(|| backoff(policy, attempt)),
        ));
    }
    None
}

/// The wait after failed attempt `attempt` (1-based) when GitHub names none:
/// doubling from `policy.backoff`, at most `policy.max_wait`.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    Backoff {
        first: policy.backoff,
        cap: policy.max_wait,
        jitter: Jitter::None,
    }
    .delay(attempt.saturating_sub(1))
}

/// The URL of the next page in a `Link` header.
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// What a call is, for its error message, and the permission it needs.
struct Call {
    what: &'static str,
    permission: &'static str,
}

impl Call {
    const fn new(what: &'static str, permission: &'static str) -> Self {
        Self { what, permission }
    }

    fn name(&self, method: &Method, path: &str) -> CallName {
        let path = path.split('?').next().unwrap_or(path);
        CallName(format!("{} ({method} {path})", self.what))
    }

    fn error(&self, method: &Method, path: &str, response: &Response) -> GitHubError {
        let call = self.name(method, path);
        let message = response.message();
        match response.status.as_u16() {
            401 => GitHubError::Unauthorized { call, message },
            403 => GitHubError::Forbidden {
                call,
                permission: self.permission,
                message,
            },
            404 => GitHubError::NotFound {
                call,
                permission: self.permission,
                message,
            },
            status => GitHubError::Status {
                call,
                status,
                message,
            },
        }
    }
}

const GET_USER: Call = Call::new("get the authenticated user", "metadata: read");
const GET_REPO: Call = Call::new("get the repository", "metadata: read");
const GET_PULL: Call = Call::new("get the pull request", "pull-requests: read");
const LIST_PULL_FILES: Call = Call::new("list pull request files", "pull-requests: read");
const GET_CONTENTS: Call = Call::new("get file contents", "contents: read");
const GET_REF: Call = Call::new("get a git ref", "contents: read");
const GET_TREE: Call = Call::new("get a git tree", "contents: read");
const COMPARE: Call = Call::new("compare two commits", "contents: read");
const GET_PERMISSION: Call = Call::new("get a collaborator's permission", "metadata: read");
const LIST_COMMENTS: Call = Call::new("list issue comments", "pull-requests: read");
const CREATE_COMMENT: Call = Call::new("create a comment", "pull-requests: write");
const UPDATE_COMMENT: Call = Call::new("update a comment", "pull-requests: write");
const LIST_REVIEW_COMMENTS: Call = Call::new(
    "list review comments on a pull request",
    "pull-requests: read",
);
const CREATE_REVIEW_COMMENT: Call = Call::new(
    "create a review comment on a pull request",
    "pull-requests: write",
);
const UPDATE_REVIEW_COMMENT: Call = Call::new(
    "update a review comment on a pull request",
    "pull-requests: write",
);
const CREATE_CHECK_RUN: Call = Call::new("create a check run", "checks: write");
const LIST_CHECK_RUNS: Call = Call::new("list check runs for a commit", "checks: read");
const UPDATE_CHECK_RUN: Call = Call::new("update a check run", "checks: write");
const CREATE_STATUS: Call = Call::new("create a commit status", "statuses: write");
const CREATE_DEPLOYMENT: Call = Call::new("create a deployment", "deployments: write");
const CREATE_DEPLOYMENT_STATUS: Call =
    Call::new("create a deployment status", "deployments: write");
const LIST_ISSUES: Call = Call::new("list issues", "issues: read");
const CREATE_ISSUE: Call = Call::new("create an issue", "issues: write");
const UPDATE_ISSUE: Call = Call::new("update an issue", "issues: write");

/// Percent-encodes a path or ref for a URL, keeping `/` as the separator.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn repo_path(repo: &RepoName) -> String {
    format!(
        "/repos/{}/{}",
        encode_path(&repo.owner),
        encode_path(&repo.name)
    )
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Deserialize)]
struct Branch {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct PullBody {
    number: u64,
    state: String,
    head: Branch,
    base: Branch,
    #[serde(default)]
    merged: Option<bool>,
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct FileBody {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

impl From<FileBody> for ChangedFile {
    fn from(f: FileBody) -> Self {
        let change = match f.status.as_str() {
            "added" => FileChange::Added,
            "modified" => FileChange::Modified,
            "removed" => FileChange::Removed,
            "renamed" => FileChange::Renamed {
                from: f.previous_filename.unwrap_or_default(),
            },
            other => FileChange::Other(other.to_owned()),
        };
        ChangedFile {
            path: f.filename,
            change,
        }
    }
}

fn parse_repo(full_name: &str) -> Option<RepoName> {
    full_name.parse().ok()
}

#[async_trait]
impl GitHubApi for GitHubClient {
    async fn own_login(&self) -> Result<String, GitHubError> {
        self.inner
            .login
            .get_or_try_init(|| async {
                match &self.inner.auth {
                    Auth::Installation { app, .. } => app.bot_login().await,
                    Auth::Token(_) => match self.get_json::<User>(&GET_USER, "/user").await {
                        Ok(user) => Ok(user.login),
                        // An Actions GITHUB_TOKEN may not read /user; it writes as this bot.
                        Err(GitHubError::Forbidden { .. }) => Ok(ACTIONS_BOT_LOGIN.to_owned()),
                        Err(e) => Err(e),
                    },
                }
            })
            .await
            .cloned()
    }

    async fn default_branch(&self, repo: &RepoName) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct RepoBody {
            default_branch: String,
        }
        let body: RepoBody = self.get_json(&GET_REPO, &repo_path(repo)).await?;
        Ok(body.default_branch)
    }

    async fn pull_request(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<PullRequest, GitHubError> {
        let path = format!("{}/pulls/{}", repo_path(repo), number.0);
        let body: PullBody = self.get_json(&GET_PULL, &path).await?;
        let base_repo = body
            .base
            .repo
            .as_ref()
            .and_then(|r| parse_repo(&r.full_name))
            .unwrap_or_else(|| repo.clone());
        Ok(PullRequest {
            number: PrNumber(body.number),
            state: body.state,
            head_sha: CommitSha(body.head.sha),
            head_ref: body.head.git_ref,
            head_repo: body.head.repo.and_then(|r| parse_repo(&r.full_name)),
            base_sha: CommitSha(body.base.sha),
            base_ref: body.base.git_ref,
            base_repo,
            merged: body.merged.unwrap_or(false),
            merge_commit_sha: body.merge_commit_sha.map(CommitSha),
        })
    }

    async fn pull_request_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<ChangedFile>, GitHubError> {
        let path = format!("{}/pulls/{}/files?per_page=100", repo_path(repo), number.0);
        let files: Vec<FileBody> = self.get_all_pages(&LIST_PULL_FILES, &path).await?;
        Ok(files.into_iter().map(ChangedFile::from).collect())
    }

    async fn file_contents(
        &self,
        repo: &RepoName,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, GitHubError> {
        #[derive(Deserialize)]
        struct Contents {
            #[serde(rename = "type")]
            kind: String,
            encoding: Option<String>,
            content: Option<String>,
        }
        let url = format!(
            "{}/contents/{}?ref={}",
            repo_path(repo),
            encode_path(path.trim_start_matches('/')),
            encode_path(git_ref)
        );
        let Some(response) = self.get_optional(&GET_CONTENTS, &url, None).await? else {
            return Ok(None);
        };
        let value: Value = response.json(&GET_CONTENTS, &url)?;
        if value.is_array() {
            return Err(GitHubError::Decode {
                call: GET_CONTENTS.name(&Method::GET, &url),
                message: format!("`{path}` is a directory at {git_ref}, not a file"),
            });
        }
        let contents: Contents =
            serde_json::from_value(value).map_err(|e| GitHubError::Decode {
                call: GET_CONTENTS.name(&Method::GET, &url),
                message: e.to_string(),
            })?;
        if contents.kind != "file" {
            return Err(GitHubError::Decode {
                call: GET_CONTENTS.name(&Method::GET, &url),
                message: format!("`{path}` is a {} at {git_ref}, not a file", contents.kind),
            });
        }
        match (contents.encoding.as_deref(), contents.content) {
            (Some("base64"), Some(content)) => {
                let cleaned: String = content.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(cleaned)
                    .map(Some)
                    .map_err(|e| GitHubError::Decode {
                        call: GET_CONTENTS.name(&Method::GET, &url),
                        message: format!("base64 content of `{path}`: {e}"),
                    })
            }
            // Files over 1 MB come without content; ask for the raw bytes.
            _ => Ok(self
                .get_optional(&GET_CONTENTS, &url, Some("application/vnd.github.raw+json"))
                .await?
                .map(|r| r.body)),
        }
    }

    async fn resolve_ref(
        &self,
        repo: &RepoName,
        git_ref: &str,
    ) -> Result<Option<CommitSha>, GitHubError> {
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        #[derive(Deserialize)]
        struct RefBody {
            object: Object,
        }
        let git_ref = git_ref.trim_start_matches("refs/");
        let url = format!("{}/git/ref/{}", repo_path(repo), encode_path(git_ref));
        match self.get_optional(&GET_REF, &url, None).await? {
            Some(response) => {
                let body: RefBody = response.json(&GET_REF, &url)?;
                Ok(Some(CommitSha(body.object.sha)))
            }
            None => Ok(None),
        }
    }

    async fn tree(&self, repo: &RepoName, commit: &CommitSha) -> Result<Tree, GitHubError> {
        #[derive(Deserialize)]
        struct Entry {
            path: String,
            #[serde(rename = "type")]
            kind: String,
            sha: String,
            size: Option<u64>,
        }
        #[derive(Deserialize)]
        struct TreeBody {
            tree: Vec<Entry>,
            truncated: bool,
        }
        let url = format!(
            "{}/git/trees/{}?recursive=1",
            repo_path(repo),
            encode_path(&commit.0)
        );
        let body: TreeBody = self.get_json(&GET_TREE, &url).await?;
        Ok(Tree {
            files: body
                .tree
                .into_iter()
                .filter(|entry| entry.kind == "blob")
                .map(|entry| TreeFile {
                    path: entry.path,
                    blob_sha: entry.sha,
                    size: entry.size,
                })
                .collect(),
            truncated: body.truncated,
        })
    }

    async fn compare(
        &self,
        repo: &RepoName,
        base: &str,
        head: &str,
    ) -> Result<Comparison, GitHubError> {
        #[derive(Deserialize)]
        struct Commit {
            sha: String,
        }
        #[derive(Deserialize)]
        struct CompareBody {
            status: String,
            merge_base_commit: Commit,
            #[serde(default)]
            files: Vec<FileBody>,
        }
        // The files of a comparison are paginated alongside its commits.
        let first = format!(
            "{}/compare/{}...{}?per_page=100",
            repo_path(repo),
            encode_path(base),
            encode_path(head)
        );
        let mut next = Some(first);
        let mut comparison: Option<Comparison> = None;
        while let Some(path) = next.take() {
            let response = self.send(&COMPARE, Method::GET, &path, None, None).await?;
            next = next_page(&response.headers)
                .map(|url| self.same_api(&COMPARE, &url))
                .transpose()?;
            let page: CompareBody = response.json(&COMPARE, &path)?;
            let files = page.files.into_iter().map(ChangedFile::from);
            match comparison.as_mut() {
                Some(c) => c.files.extend(files),
                None => {
                    comparison = Some(Comparison {
                        merge_base_sha: CommitSha(page.merge_base_commit.sha),
                        status: page.status,
                        files: files.collect(),
                    })
                }
            }
        }
        comparison.ok_or_else(|| GitHubError::Decode {
            call: COMPARE.name(&Method::GET, &repo_path(repo)),
            message: "no comparison returned".into(),
        })
    }

    async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct PermissionBody {
            permission: String,
        }
        let url = format!(
            "{}/collaborators/{}/permission",
            repo_path(repo),
            encode_path(user)
        );
        match self.get_optional(&GET_PERMISSION, &url, None).await? {
            None => Ok(Permission::None),
            Some(response) => {
                let body: PermissionBody = response.json(&GET_PERMISSION, &url)?;
                Ok(match body.permission.as_str() {
                    "admin" => Permission::Admin,
                    "write" | "maintain" => Permission::Write,
                    "read" | "triage" => Permission::Read,
                    _ => Permission::None,
                })
            }
        }
    }

    async fn issue_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<IssueComment>, GitHubError> {
        #[derive(Deserialize)]
        struct CommentBody {
            id: u64,
            user: Option<User>,
            body: Option<String>,
        }
        let path = format!(
            "{}/issues/{}/comments?per_page=100",
            repo_path(repo),
            number.0
        );
        let comments: Vec<CommentBody> = self.get_all_pages(&LIST_COMMENTS, &path).await?;
        Ok(comments
            .into_iter()
            .map(|c| IssueComment {
                id: c.id,
                author: c.user.map(|u| u.login).unwrap_or_default(),
                body: c.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn create_issue_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("{}/issues/{}/comments", repo_path(repo), number.0);
        let created: Id = self
            .write_json(
                &CREATE_COMMENT,
                Method::POST,
                &path,
                &json!({ "body": body }),
            )
            .await?;
        Ok(created.id)
    }

    async fn update_issue_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/issues/comments/{comment_id}", repo_path(repo));
        let _: Id = self
            .write_json(
                &UPDATE_COMMENT,
                Method::PATCH,
                &path,
                &json!({ "body": body }),
            )
            .await?;
        Ok(())
    }

    async fn review_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<ReviewComment>, GitHubError> {
        #[derive(Deserialize)]
        struct ReviewCommentBody {
            id: u64,
            user: Option<User>,
            body: Option<String>,
            path: String,
            commit_id: String,
        }
        let path = format!(
            "{}/pulls/{}/comments?per_page=100",
            repo_path(repo),
            number.0
        );
        let comments: Vec<ReviewCommentBody> =
            self.get_all_pages(&LIST_REVIEW_COMMENTS, &path).await?;
        Ok(comments
            .into_iter()
            .map(|c| ReviewComment {
                id: c.id,
                author: c.user.map(|u| u.login).unwrap_or_default(),
                body: c.body.unwrap_or_default(),
                path: c.path,
                commit_id: c.commit_id,
            })
            .collect())
    }

    async fn create_review_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        comment: &NewReviewComment<'_>,
    ) -> Result<u64, GitHubError> {
        let mut body = json!({
            "body": comment.body,
            "commit_id": comment.commit_id.0,
            "path": comment.path,
            "line": comment.line,
            "side": "RIGHT",
        });
        if let Some(start) = comment.start_line.filter(|s| *s < comment.line) {
            body["start_line"] = json!(start);
            body["start_side"] = json!("RIGHT");
        }
        let path = format!("{}/pulls/{}/comments", repo_path(repo), number.0);
        let created: Id = self
            .write_json(&CREATE_REVIEW_COMMENT, Method::POST, &path, &body)
            .await?;
        Ok(created.id)
    }

    async fn update_review_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/pulls/comments/{comment_id}", repo_path(repo));
        let _: Id = self
            .write_json(
                &UPDATE_REVIEW_COMMENT,
                Method::PATCH,
                &path,
                &json!({ "body": body }),
            )
            .await?;
        Ok(())
    }

    async fn create_check_run(
        &self,
        repo: &RepoName,
        name: &str,
        head_sha: &CommitSha,
        details_url: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<u64, GitHubError> {
        let mut body = json!({
            "name": name,
            "head_sha": head_sha.0,
            "status": "in_progress",
            "started_at": crate::types::time::now_rfc3339_seconds(),
        });
        if let Some(url) = details_url {
            body["details_url"] = json!(url);
        }
        if let Some(external_id) = external_id {
            body["external_id"] = json!(external_id);
        }
        let path = format!("{}/check-runs", repo_path(repo));
        let created: Id = self
            .write_json(&CREATE_CHECK_RUN, Method::POST, &path, &body)
            .await?;
        Ok(created.id)
    }

    async fn find_unfinished_check_run(
        &self,
        repo: &RepoName,
        name: &str,
        head_sha: &CommitSha,
        external_id: &str,
    ) -> Result<Option<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Listed {
            check_runs: Vec<ListedRun>,
        }
        #[derive(Deserialize)]
        struct ListedRun {
            id: u64,
            status: String,
            external_id: Option<String>,
        }
        let path = format!(
            "{}/commits/{}/check-runs?check_name={}&filter=latest&per_page=100",
            repo_path(repo),
            head_sha.0,
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        let listed: Listed = self.get_json(&LIST_CHECK_RUNS, &path).await?;
        Ok(listed
            .check_runs
            .into_iter()
            .find(|run| {
                run.status != "completed" && run.external_id.as_deref() == Some(external_id)
            })
            .map(|run| run.id))
    }

    async fn update_check_run(
        &self,
        repo: &RepoName,
        check_run_id: u64,
        update: &CheckRunUpdate,
    ) -> Result<(), GitHubError> {
        let annotations: Vec<Value> = update
            .annotations
            .iter()
            .map(|a| {
                let mut v = json!({
                    "path": a.path,
                    "start_line": a.start_line.max(1),
                    "end_line": a.end_line.max(a.start_line).max(1),
                    "annotation_level": a.level.as_str(),
                    "message": truncate_chars(&a.message, 64 * 1024 - 1),
                });
                if let Some(title) = &a.title {
                    v["title"] = json!(truncate_chars(title, 255));
                }
                v
            })
            .collect();
        let mut body = json!({
            "output": {
                "title": update.title,
                "summary": update.summary,
                "annotations": annotations,
            }
        });
        if let Some(conclusion) = update.conclusion {
            body["status"] = json!("completed");
            body["conclusion"] = json!(conclusion.as_str());
            body["completed_at"] = json!(crate::types::time::now_rfc3339_seconds());
        }
        if let Some(url) = &update.details_url {
            body["details_url"] = json!(url);
        }
        let path = format!("{}/check-runs/{check_run_id}", repo_path(repo));
        let _: Id = self
            .write_json(&UPDATE_CHECK_RUN, Method::PATCH, &path, &body)
            .await?;
        Ok(())
    }

    async fn create_commit_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<(), GitHubError> {
        let mut body = json!({
            "state": status.state.as_str(),
            "context": status.context,
            "description": truncate_chars(&status.description, 140),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let path = format!("{}/statuses/{}", repo_path(repo), encode_path(&sha.0));
        let _: Id = self
            .write_json(&CREATE_STATUS, Method::POST, &path, &body)
            .await?;
        Ok(())
    }

    async fn create_deployment(
        &self,
        repo: &RepoName,
        deployment: &NewDeployment,
    ) -> Result<u64, GitHubError> {
        let body = json!({
            "ref": deployment.git_ref,
            "environment": deployment.environment,
            "description": deployment.description,
            "payload": deployment.payload,
            // Prompts are published by the gate itself; don't wait for other checks.
            "required_contexts": [],
            "auto_merge": false,
        });
        let path = format!("{}/deployments", repo_path(repo));
        let created: Id = self
            .write_json(&CREATE_DEPLOYMENT, Method::POST, &path, &body)
            .await?;
        Ok(created.id)
    }

    async fn create_deployment_status(
        &self,
        repo: &RepoName,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        environment_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut body = json!({
            "state": state.as_str(),
            "description": truncate_chars(description, 140),
        });
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        let path = format!("{}/deployments/{deployment_id}/statuses", repo_path(repo));
        let _: Id = self
            .write_json(&CREATE_DEPLOYMENT_STATUS, Method::POST, &path, &body)
            .await?;
        Ok(())
    }

    async fn issues_by(&self, repo: &RepoName, creator: &str) -> Result<Vec<Issue>, GitHubError> {
        #[derive(Deserialize)]
        struct IssueBody {
            number: u64,
            state: String,
            title: String,
            body: Option<String>,
            user: Option<User>,
            pull_request: Option<Value>,
        }
        let path = format!(
            "{}/issues?state=all&creator={}&per_page=100",
            repo_path(repo),
            encode_path(creator)
        );
        let issues: Vec<IssueBody> = self.get_all_pages(&LIST_ISSUES, &path).await?;
        Ok(issues
            .into_iter()
            .filter(|i| i.pull_request.is_none())
            .map(|i| Issue {
                number: i.number,
                state: i.state,
                author: i.user.map(|u| u.login).unwrap_or_default(),
                title: i.title,
                body: i.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn create_issue(
        &self,
        repo: &RepoName,
        title: &str,
        body: &str,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let path = format!("{}/issues", repo_path(repo));
        let created: Created = self
            .write_json(
                &CREATE_ISSUE,
                Method::POST,
                &path,
                &json!({ "title": title, "body": body }),
            )
            .await?;
        Ok(created.number)
    }

    async fn update_issue(
        &self,
        repo: &RepoName,
        number: u64,
        title: Option<&str>,
        body: Option<&str>,
        state: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut patch = serde_json::Map::new();
        if let Some(t) = title {
            patch.insert("title".into(), json!(t));
        }
        if let Some(b) = body {
            patch.insert("body".into(), json!(b));
        }
        if let Some(s) = state {
            patch.insert("state".into(), json!(s));
        }
        let path = format!("{}/issues/{number}", repo_path(repo));
        let _: Id = self
            .write_json(&UPDATE_ISSUE, Method::PATCH, &path, &Value::Object(patch))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn wait(r: &Response) -> Option<Duration> {
        retry_after(&RetryPolicy::default(), r, 1).map(|Retry::Wait(d)| d)
    }

    #[test]
    fn retry_waits_follow_githubs_headers() {
        assert_eq!(
            wait(&response(403, &[("retry-after", "7")], "{}")),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(&response(
                403,
                &[],
                r#"{"message":"You have exceeded a secondary rate limit"}"#
            )),
            Some(Duration::from_secs(60))
        );
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let w = wait(&response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset.to_string()),
            ],
            "{}",
        ))
        .unwrap();
        assert!((29..=31).contains(&w.as_secs()), "{w:?}");
        assert_eq!(
            wait(&response(502, &[], "")),
            Some(RetryPolicy::default().backoff)
        );
        // A plain permission error is not retried.
        assert_eq!(
            wait(&response(
                403,
                &[],
                r#"{"message":"Resource not accessible by integration"}"#
            )),
            None
        );
        assert_eq!(wait(&response(422, &[], "{}")), None);
    }

    #[test]
    fn next_page_is_read_from_the_link_header() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_page(&h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        h.insert(
            http::header::LINK,
            r#"<https://api.github.com/x?page=1>; rel="prev""#.parse().unwrap(),
        );
        assert_eq!(next_page(&h), None);
    }

    #[test]
    fn errors_name_the_call_and_the_permission() {
        let r = response(
            403,
            &[],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        let err = CREATE_CHECK_RUN.error(&Method::POST, "/repos/o/r/check-runs", &r);
        let text = err.to_string();
        assert!(
            text.contains("create a check run (POST /repos/o/r/check-runs)"),
            "{text}"
        );
        assert!(text.contains("`checks: write`"), "{text}");
    }

    #[test]
    fn api_urls_are_checked() {
        assert_eq!(
            normalise_api_url("https://ghe.example.com/api/v3/").unwrap(),
            "https://ghe.example.com/api/v3"
        );
        assert!(normalise_api_url("not a url").is_err());
        assert!(normalise_api_url("ftp://x").is_err());
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(
            encode_path("prompts/a b.prompt.yml"),
            "prompts/a%20b.prompt.yml"
        );
        assert_eq!(encode_path("feature#1"), "feature%231");
    }
}
