//! The registry over HTTP: everything the CLI's registry commands do, as
//! JSON routes under `/v1/repos/{owner}/{repo}/` (listed in
//! [`super::openapi`]), on the registry view of that repository. The HTTP
//! backend of the registry ([`crate::edges::registry::http`]) is their
//! client, so one conformance suite covers them.
//!
//! Every route checks the key before anything else, then the repository
//! (out of reach: 404, as for nothing published), then the scope: reads
//! need `read`; publishing, recording results, baselines, promote and
//! rollback need `publish`; moving a label by hand (other than a publish
//! moving `latest`) and a forced promotion need `admin`. Bodies are read
//! only after the key is checked.

// Helpers here return the answer itself as their error: it is built once,
// on the way out of a request, so its size costs nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::ServerState;
use super::auth::{AuthFailure, Scope};
use super::prompts::{authorized_repo, error};
use crate::edges::registry::http::{
    BaselineBody, MoveBody, PromoteBody, PromptSummary, PublishedBody, ResultBody, RollbackBody,
    VersionPage,
};
use crate::edges::registry::wire::{ErrorBody, WireError};
use crate::edges::registry::{
    LATEST, LabelMove, MoveKind, MoveLabel, Namespace, NewVersion, Promote, Registry,
    RegistryError, Version, VersionRef,
};
use crate::pipeline::config::PromotionPolicy;
use crate::pipeline::textdiff;
use crate::types::Fingerprint;

/// The order of environments when a promotion names none.
pub(crate) const DEFAULT_ENVIRONMENTS: [&str; 2] = ["staging", "production"];
/// Versions per page unless asked, and at most.
const DEFAULT_PER_PAGE: usize = 50;
const MAX_PER_PAGE: usize = 100;

/// A route's repository and the registry's view of it, or the response.
pub(super) struct Scoped {
    pub(super) registry: Arc<dyn Registry>,
    pub(super) namespace: Namespace,
}

pub(super) async fn scoped(
    state: &ServerState,
    headers: &HeaderMap,
    need: Scope,
    owner: &str,
    repo: &str,
    missing: impl FnOnce() -> String,
) -> Result<Scoped, Response> {
    let namespace = authorized_repo(state, headers, need, owner, repo, missing).await?;
    let Some(registry) = &state.registry else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no registry",
        ));
    };
    Ok(Scoped {
        registry: registry.scoped(&namespace),
        namespace,
    })
}

/// A registry error as an answer: the request's fault with its status and
/// wire form; the registry failing as 503 (logged, not shown).
pub(super) fn registry_error(failure: RegistryError) -> Response {
    match WireError::of(&failure) {
        Some((status, detail)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = ErrorBody {
                error: failure.to_string(),
                detail: Some(detail),
            };
            (status, Json(body)).into_response()
        }
        None => match failure {
            RegistryError::InvalidName { .. } | RegistryError::InvalidNamespace(_) => {
                error(StatusCode::BAD_REQUEST, failure.to_string())
            }
            failure => {
                tracing::error!(error = %failure, "the registry failed");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the prompt registry is unavailable",
                )
            }
        },
    }
}

/// A JSON body, or 400 naming the field that is wrong. A whole number
/// written with a fraction (`3.0`) is a whole number, as JSON Schema says.
pub(super) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|failure| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not JSON: {failure}"),
        )
    })?;
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|failure| {
        let path = failure.path().to_string();
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "the request body at `{}`: {}",
                if path.is_empty() { "." } else { &path },
                failure.inner()
            ),
        )
    })
}

/// Rewrites `3.0` as `3` throughout (integers stay exact below 2^53).
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
                && float.abs() < 9_007_199_254_740_992.0
            {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// A query string, or 400 in JSON (axum's own rejection is plain text).
pub(super) fn query_of<T>(query: Result<Query<T>, QueryRejection>) -> Result<Query<T>, Response> {
    query.map_err(|rejection| error(StatusCode::BAD_REQUEST, rejection.body_text()))
}

pub(super) fn ok<T: serde::Serialize>(value: T) -> Response {
    Json(value).into_response()
}

/// Unwraps a step that already is the response on failure.
macro_rules! or_respond {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// Unwraps a registry call, answering its error.
macro_rules! or_registry_error {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(failure) => return registry_error(failure),
        }
    };
}

type RepoPath = Path<(String, String)>;
type PromptPath = Path<(String, String, String)>;

/// `GET …/prompts`: every prompt, its newest version and its labels.
pub(super) async fn list_prompts(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
) -> Response {
    let at = or_respond!(
        scoped(&state, &headers, Scope::Read, &owner, &repo, || format!(
            "no repository {owner}/{repo}"
        ))
        .await
    );
    let names = or_registry_error!(at.registry.prompts().await);
    let mut listed = Vec::new();
    for name in names {
        let versions = or_registry_error!(at.registry.versions(&name).await);
        let labels = or_registry_error!(at.registry.labels(&name).await);
        listed.push(PromptSummary {
            latest_version: versions.last().map(|v| v.number),
            versions: versions.len(),
            name,
            labels,
        });
    }
    ok(listed)
}

#[derive(Debug, Deserialize)]
pub(super) struct VersionsQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    /// Only the version with this number.
    number: Option<u32>,
    /// Only the version with this content hash.
    id: Option<String>,
}

/// `GET …/prompts/{name}/versions`: oldest first, paged; or the one
/// version `number` or `id` names.
pub(super) async fn list_versions(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    query: Result<Query<VersionsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no prompt `{name}` in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    let Query(query) = or_respond!(query_of(query));
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
    let page = query.page.unwrap_or(1);
    if !(1..=MAX_PER_PAGE).contains(&per_page) || page == 0 {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`page` starts at 1 and `per_page` is 1 to {MAX_PER_PAGE}"),
        );
    }
    let one = match (&query.number, &query.id) {
        (Some(n), _) => Some(VersionRef::Number(*n)),
        (None, Some(id)) => Some(VersionRef::Id(crate::types::VersionId(id.clone()))),
        (None, None) => None,
    };
    if let Some(one) = one {
        let found = or_registry_error!(at.registry.version(&name, &one).await);
        let versions: Vec<Version> = found.into_iter().collect();
        return ok(VersionPage {
            prompt: name,
            page: 1,
            per_page: 1,
            total: versions.len(),
            versions,
        });
    }
    let versions = or_registry_error!(at.registry.versions(&name).await);
    if versions.is_empty() {
        return error(StatusCode::NOT_FOUND, missing());
    }
    let total = versions.len();
    let start = (page - 1).saturating_mul(per_page);
    let versions = versions.into_iter().skip(start).take(per_page).collect();
    ok(VersionPage {
        prompt: name,
        page,
        per_page,
        total,
        versions,
    })
}

/// `POST …/prompts/{name}/versions`: publishes a version (201 when new).
pub(super) async fn publish(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let at = or_respond!(
        scoped(&state, &headers, Scope::Publish, &owner, &repo, || {
            format!("no repository {owner}/{repo}")
        })
        .await
    );
    let mut new: NewVersion = or_respond!(body(&bytes));
    new.prompt = name;
    let published = or_registry_error!(at.registry.publish(new).await);
    let status = if published.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(repo = %at.namespace, prompt = %published.version.prompt, number = published.version.number, "published over the API");
    (
        status,
        Json(PublishedBody {
            version: published.version,
            created: published.created,
        }),
    )
        .into_response()
}

fn version_number(text: &str) -> Result<u32, Response> {
    text.trim_start_matches('v').parse::<u32>().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not a version number (a whole number, like 3)"),
        )
    })
}

/// `GET …/prompts/{name}/versions/{n}/baseline`: the result published with
/// the version (per criterion and per case) and its gate verdict.
pub(super) async fn get_baseline(
    State(state): State<ServerState>,
    Path((owner, repo, name, number)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no result published with {name} {number} in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    let number = or_respond!(version_number(&number));
    match or_registry_error!(at.registry.baseline(&name, number).await) {
        Some(baseline) => ok(baseline),
        None => error(StatusCode::NOT_FOUND, missing()),
    }
}

/// `PUT …/prompts/{name}/versions/{n}/baseline`.
pub(super) async fn put_baseline(
    State(state): State<ServerState>,
    Path((owner, repo, name, number)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let at = or_respond!(
        scoped(&state, &headers, Scope::Publish, &owner, &repo, || {
            format!("no repository {owner}/{repo}")
        })
        .await
    );
    let number = or_respond!(version_number(&number));
    let request: BaselineBody = or_respond!(body(&bytes));
    ok(or_registry_error!(
        at.registry
            .set_baseline(
                &name,
                number,
                &request.fingerprint,
                request.gate,
                &request.actor
            )
            .await
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct DiffQuery {
    from: String,
    to: String,
    format: Option<String>,
}

/// A version named by number (`v3`, `3`), label, or content hash.
pub(super) async fn named_version(
    registry: &dyn Registry,
    prompt: &str,
    name: &str,
) -> Result<Version, RegistryError> {
    if let VersionRef::Number(n) = VersionRef::parse(name) {
        return registry
            .version(prompt, &VersionRef::Number(n))
            .await?
            .ok_or_else(|| crate::edges::registry::not_found(prompt, &VersionRef::Number(n)));
    }
    if registry.label(prompt, name).await?.is_some() {
        return registry.resolve(prompt, name, None).await;
    }
    let at = VersionRef::parse(name);
    registry
        .version(prompt, &at)
        .await?
        .ok_or_else(|| crate::edges::registry::not_found(prompt, &at))
}

/// `GET …/prompts/{name}/diff?from=…&to=…&format=json|markdown`: what
/// changed between two versions, part by part, with word diffs.
pub(super) async fn diff(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    query: Result<Query<DiffQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no prompt `{name}` in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    let Query(query) = or_respond!(query_of(query));
    let markdown = match query.format.as_deref() {
        None | Some("json") => false,
        Some("markdown") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("format `{other}`: use json or markdown"),
            );
        }
    };
    let old = or_registry_error!(named_version(at.registry.as_ref(), &name, &query.from).await);
    let new = or_registry_error!(named_version(at.registry.as_ref(), &name, &query.to).await);
    let diff = textdiff::diff_contents(Some(&old.content), Some(&new.content));
    if markdown {
        let mut response = diff.render_markdown().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        );
        return response;
    }
    let changes: Vec<serde_json::Value> = diff
        .changes
        .iter()
        .map(|change| {
            json!({
                "part": change.part,
                "old": change.old,
                "new": change.new,
                "words": textdiff::word_diff_terminal(
                    change.old.as_deref().unwrap_or(""),
                    change.new.as_deref().unwrap_or(""),
                    false,
                ),
            })
        })
        .collect();
    ok(json!({
        "prompt": name,
        "from": old.number,
        "to": new.number,
        "changes": changes,
        "markdown": diff.render_markdown(),
    }))
}

/// `GET …/prompts/{name}/labels`.
pub(super) async fn labels(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no prompt `{name}` in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    ok(or_registry_error!(at.registry.labels(&name).await))
}

/// `GET …/prompts/{name}/history`: every label move, oldest first.
pub(super) async fn history(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no prompt `{name}` in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    ok(or_registry_error!(at.registry.label_history(&name).await))
}

/// `POST …/prompts/{name}/labels/{label}`: moves a label as asked. A
/// publish moving `latest` needs `publish`; anything else, `admin`.
pub(super) async fn move_label(
    State(state): State<ServerState>,
    Path((owner, repo, name, label)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let missing = || format!("no repository {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Publish, &owner, &repo, missing).await);
    let request: MoveBody = or_respond!(body(&bytes));
    if !(label == LATEST && request.kind == MoveKind::Publish) {
        or_respond!(require_admin(&state, &headers, &at.namespace, "moving a label by hand").await);
    }
    moved(
        &state,
        &at,
        or_registry_error!(
            at.registry
                .move_label(MoveLabel {
                    prompt: name,
                    label,
                    to: request.to,
                    expect: request.expect,
                    kind: request.kind,
                    forced: request.forced,
                    actor: request.actor,
                    reason: request.reason,
                })
                .await
        ),
    )
}

async fn require_admin(
    state: &ServerState,
    headers: &HeaderMap,
    namespace: &Namespace,
    what: &str,
) -> Result<(), Response> {
    match state
        .api_keys
        .require_in(headers, Scope::Admin, namespace)
        .await
    {
        Ok(_) => Ok(()),
        Err(AuthFailure::Forbidden { have, .. }) => Err(error(
            StatusCode::FORBIDDEN,
            format!("{what} needs an API key with scope `admin`; this one has `{have}`"),
        )),
        Err(refused) => Err(error(refused.status(), refused.message())),
    }
}

/// The policy a promotion is checked against: the caller's (its
/// repository's promptgate.toml), never weaker than the server's floor
/// (each rule the stricter of the two); without one, the default policy.
pub(crate) fn at_least(floor: &PromotionPolicy, asked: Option<PromotionPolicy>) -> PromotionPolicy {
    let asked = asked.unwrap_or_default();
    PromotionPolicy {
        min_cases: asked.min_cases.max(floor.min_cases),
        min_score: match (asked.min_score, floor.min_score) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
        require_gate_passed: asked.require_gate_passed || floor.require_gate_passed,
    }
}

/// `POST …/prompts/{name}/promote`: under the promotion policy; refused
/// (409) with every rule that refused it. `force` needs `admin`.
pub(super) async fn promote(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let missing = || format!("no repository {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Publish, &owner, &repo, missing).await);
    let request: PromoteBody = or_respond!(body(&bytes));
    if request.force {
        // Said before the scope: a reason is needed whoever asks.
        if request
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return registry_error(RegistryError::ForceWithoutReason);
        }
        or_respond!(require_admin(&state, &headers, &at.namespace, "a forced promotion").await);
    }
    let environments: Vec<String> = request
        .environments
        .filter(|given| !given.is_empty())
        .unwrap_or_else(|| DEFAULT_ENVIRONMENTS.iter().map(|e| e.to_string()).collect());
    let policy = at_least(&state.promotion_floor, request.policy);
    moved(
        &state,
        &at,
        or_registry_error!(
            at.registry
                .promote(
                    Promote {
                        prompt: name,
                        version: VersionRef::parse(&request.version),
                        to: request.to,
                        actor: request.actor,
                        reason: request.reason,
                        force: request.force,
                    },
                    &environments,
                    &policy,
                )
                .await
        ),
    )
}

/// `POST …/prompts/{name}/rollback`.
pub(super) async fn rollback(
    State(state): State<ServerState>,
    Path((owner, repo, name)): PromptPath,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let missing = || format!("no repository {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Publish, &owner, &repo, missing).await);
    let request: RollbackBody = or_respond!(body(&bytes));
    moved(
        &state,
        &at,
        or_registry_error!(
            at.registry
                .rollback(&name, &request.label, &request.actor, request.reason)
                .await
        ),
    )
}

/// A label this server moved is served from the next request on: the
/// serving cache forgets the prompt's labels (other replicas' caches expire).
fn moved(state: &ServerState, at: &Scoped, moved: LabelMove) -> Response {
    state.prompts.forget(&at.namespace, &moved.prompt);
    ok(moved)
}

/// `GET …/audit`: the repository's audit log, oldest first.
pub(super) async fn audit(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
) -> Response {
    let at = or_respond!(
        scoped(&state, &headers, Scope::Read, &owner, &repo, || format!(
            "no repository {owner}/{repo}"
        ))
        .await
    );
    ok(or_registry_error!(at.registry.audit_log().await))
}

/// `GET …/results/{fingerprint}`.
pub(super) async fn get_result(
    State(state): State<ServerState>,
    Path((owner, repo, fingerprint)): PromptPath,
    headers: HeaderMap,
) -> Response {
    let missing = || format!("no result {fingerprint} in {owner}/{repo}");
    let at = or_respond!(scoped(&state, &headers, Scope::Read, &owner, &repo, missing).await);
    let fingerprint = Fingerprint(fingerprint);
    match or_registry_error!(at.registry.result(&fingerprint).await) {
        Some(result) => ok(result),
        None => registry_error(RegistryError::ResultNotFound(fingerprint)),
    }
}

/// `PUT …/results/{fingerprint}`: stores an evaluation result.
pub(super) async fn put_result(
    State(state): State<ServerState>,
    Path((owner, repo, fingerprint)): PromptPath,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let at = or_respond!(
        scoped(&state, &headers, Scope::Publish, &owner, &repo, || {
            format!("no repository {owner}/{repo}")
        })
        .await
    );
    let request: ResultBody = or_respond!(body(&bytes));
    if request.result.fingerprint.0 != fingerprint {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "the result's fingerprint is {}, the path names {fingerprint}",
                request.result.fingerprint
            ),
        );
    }
    or_registry_error!(
        at.registry
            .record_result(&request.result, &request.actor)
            .await
    );
    let recorded: BTreeMap<&str, &str> = BTreeMap::from([("fingerprint", fingerprint.as_str())]);
    ok(recorded)
}
