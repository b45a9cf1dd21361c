//! Serving published prompts to applications:
//! `GET /v1/repos/{owner}/{repo}/prompts/{name}` (by label, with `key`
//! choosing an A/B arm) and `…/prompts/{name}/versions/{n}`. Every prompt
//! belongs to a repository; the routes without one (`/v1/prompts/…`) answer
//! 410 naming the new route. The registry backs [`PromptSource`]; responses
//! carry the version's content hash as a strong ETag so clients poll
//! cheaply with `If-None-Match`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ServerState;
use super::auth::{AuthFailure, Scope};
use crate::edges::registry::{Namespace, RegistryError};

/// A published prompt version as an application receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedPrompt {
    /// The repository the prompt belongs to, `owner/repo`.
    pub repository: String,
    pub name: String,
    /// The registry's number for this version (v1, v2, …).
    pub version: u64,
    /// The content hash of the version; the ETag.
    pub version_id: String,
    /// The label that resolved to this version, when resolved by label.
    pub label: Option<String>,
    /// What to send: messages, model, model parameters, response format.
    pub content: serde_json::Value,
    /// The commit it was published from, when known.
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    /// The publish's message (the commit's or the merge's).
    #[serde(default)]
    pub message: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Why a [`PromptSource`] could not answer. For the operator (logged): an
/// application is only told the registry is unavailable (503), and an
/// unknown prompt, label or version is not an error but `None` (404).
#[derive(Debug, thiserror::Error)]
pub enum PromptSourceError {
    #[error("the prompt registry failed reading `{prompt}`: {source}")]
    Registry {
        prompt: String,
        /// Boxed: registry errors are large, and this is every answer's error.
        #[source]
        source: Box<RegistryError>,
    },
    /// A stored version that cannot be turned into the served JSON.
    #[error("the prompt registry failed: `{prompt}` v{number} cannot be served: {source}")]
    Content {
        prompt: String,
        number: u32,
        #[source]
        source: serde_json::Error,
    },
    /// Any other source's failure (sources outside this crate).
    #[error("the prompt registry failed: {source}")]
    Other {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads published prompts; the registry implements it.
#[async_trait::async_trait]
pub trait PromptSource: Send + Sync {
    /// The version `label` points at for `name`. With a weighted label
    /// (A/B split), `key` picks the arm deterministically (same key, same arm).
    async fn resolve(
        &self,
        repo: &Namespace,
        name: &str,
        label: &str,
        key: Option<&str>,
    ) -> Result<Option<ServedPrompt>, PromptSourceError>;

    /// Published version number `number` of `name`.
    async fn version(
        &self,
        repo: &Namespace,
        name: &str,
        number: u64,
    ) -> Result<Option<ServedPrompt>, PromptSourceError>;

    /// A label of `name` moved through this server: a source that keeps
    /// labels between requests reads them again.
    fn forget(&self, _repo: &Namespace, _name: &str) {}
}

/// A source with nothing published (the server before a registry is wired).
#[derive(Debug, Default)]
pub struct NoPrompts;

#[async_trait::async_trait]
impl PromptSource for NoPrompts {
    async fn resolve(
        &self,
        _: &Namespace,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        Ok(None)
    }

    async fn version(
        &self,
        _: &Namespace,
        _: &str,
        _: u64,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        Ok(None)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ResolveQuery {
    label: Option<String>,
    key: Option<String>,
}

const DEFAULT_LABEL: &str = "production";

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The repository a `/v1/repos/{owner}/{repo}/…` route names, after the
/// request's key: `Err` is the response (401 without a valid key, 404 for a
/// repository out of the key's reach or not a repository name, answered
/// with `missing` exactly as for a prompt that does not exist, 403 for a
/// scope too small).
pub(super) async fn authorized_repo(
    state: &ServerState,
    headers: &HeaderMap,
    need: Scope,
    owner: &str,
    repo: &str,
    missing: impl FnOnce() -> String,
) -> Result<Namespace, Response> {
    // The key first: without one, nothing about the route is answered.
    let Ok(namespace) = Namespace::parse(&format!("{owner}/{repo}")) else {
        return Err(match state.api_keys.require(headers, Scope::Read).await {
            Ok(_) => error(StatusCode::NOT_FOUND, missing()),
            Err(refused) => error(refused.status(), refused.message()),
        });
    };
    match state.api_keys.require_in(headers, need, &namespace).await {
        Ok(_) => Ok(namespace),
        Err(AuthFailure::OutOfReach) => Err(error(StatusCode::NOT_FOUND, missing())),
        Err(refused) => Err(error(refused.status(), refused.message())),
    }
}

pub(super) async fn resolve(
    State(state): State<ServerState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    query: Result<Query<ResolveQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let label = match &query {
        Ok(Query(query)) => query.label.as_deref().unwrap_or(DEFAULT_LABEL),
        Err(_) => DEFAULT_LABEL,
    }
    .to_string();
    let missing = || format!("no prompt `{name}` with label `{label}` in {owner}/{repo}");
    let namespace =
        match authorized_repo(&state, &headers, Scope::Read, &owner, &repo, missing).await {
            Ok(namespace) => namespace,
            Err(response) => return response,
        };
    // Answered after the key, in JSON (axum's own rejection is plain text).
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let found = state
        .prompts
        .resolve(&namespace, &name, &label, query.key.as_deref())
        .await;
    respond(found, &headers, missing)
}

pub(super) async fn version(
    State(state): State<ServerState>,
    Path((owner, repo, name, number)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no version {number} of prompt `{name}` in {owner}/{repo}");
    let namespace =
        match authorized_repo(&state, &headers, Scope::Read, &owner, &repo, missing).await {
            Ok(namespace) => namespace,
            Err(response) => return response,
        };
    let Ok(parsed) = number.trim_start_matches('v').parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{number}` is not a version number (a whole number, like 3)"),
        );
    };
    let found = state.prompts.version(&namespace, &name, parsed).await;
    respond(found, &headers, missing)
}

/// `/v1/prompts/…` from before namespaces: a prompt name alone no longer
/// names a prompt. 410 names the route to use instead.
pub(super) async fn moved(
    State(state): State<ServerState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = state.api_keys.require(&headers, Scope::Read).await {
        return error(refused.status(), refused.message());
    }
    error(
        StatusCode::GONE,
        format!("prompts belong to a repository: use /v1/repos/{{owner}}/{{repo}}/prompts/{rest}"),
    )
}

fn respond(
    found: Result<Option<ServedPrompt>, PromptSourceError>,
    headers: &HeaderMap,
    missing: impl FnOnce() -> String,
) -> Response {
    let prompt = match found {
        Ok(Some(prompt)) => prompt,
        Ok(None) => return error(StatusCode::NOT_FOUND, missing()),
        Err(failure) => {
            tracing::error!(error = %failure, "prompt source failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the prompt registry is unavailable",
            );
        }
    };
    let etag = format!("\"{}\"", prompt.version_id);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| etag_matches(value, &etag));
    let etag_header = HeaderValue::from_str(&etag).ok();
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(&prompt).into_response()
    };
    if let Some(value) = etag_header {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `If-None-Match` semantics (RFC 9110 §13.1.2): `*`, or a list of entity
/// tags compared weakly (a `W/` prefix is ignored).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let current = strip(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || strip(candidate) == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }
}
