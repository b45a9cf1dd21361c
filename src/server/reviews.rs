//! Human review over HTTP (docs/review.md): the JSON routes a review page
//! and `promptgate review` against a server use, under
//! `/v1/repos/{owner}/{repo}/reviews/`, on the registry view of that
//! repository.
//!
//! - `GET queue`: a seeded sample of judged outputs to label, stratified
//!   by the judge's grade, drawn from the results recorded as baselines of
//!   the repository's published versions; **without** the judge's score,
//!   which a reviewer sees only after labelling.
//! - `POST labels`: a reviewer's label. The judge's score is read from the
//!   stored result, never taken from the client; the answer reveals it.
//! - `GET labels`: every label (the HTTP registry backend reads them here).
//! - `GET agreement`: per criterion, how often the judge agrees with the
//!   reviewers (accuracy, kappa, sensitivity, specificity, intervals).
//!
//! Keys: `read` sees the queue, the labels and the agreement; labelling
//! needs `publish` (a label moves the gate of criteria corrected by them).

// Helpers return the answer itself as their error (see registry_api).
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::ServerState;
use super::auth::Scope;
use super::prompts::error;
use super::registry_api::{body, ok, query_of, registry_error, scoped};
use crate::edges::registry::http::{LabelBody, LabelsPage};
use crate::edges::registry::validate_name;
use crate::flows::review::{NewLabel, StoredLabelError, label_stored_output, published_queue};
use crate::pipeline::review::agreement::DEFAULT_MIN_AGREEMENT;
use crate::pipeline::review::{ReviewLabel, SampleRequest, agreement_by_criterion};

/// Outputs per criterion a queue holds unless asked, and at most.
pub const DEFAULT_QUEUE: usize = 20;
pub const MAX_QUEUE: usize = 200;

type RepoPath = Path<(String, String)>;

/// The review routes, merged into the server's router.
pub fn routes() -> Router<ServerState> {
    const REVIEWS: &str = "/v1/repos/{owner}/{repo}/reviews";
    Router::new()
        .route(&format!("{REVIEWS}/queue"), get(queue))
        .route(&format!("{REVIEWS}/labels"), post(label).get(labels))
        .route(&format!("{REVIEWS}/agreement"), get(agreement))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueQuery {
    prompt: Option<String>,
    criterion: Option<String>,
    count: Option<usize>,
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PromptQuery {
    prompt: Option<String>,
}

fn missing(owner: &str, repo: &str) -> impl FnOnce() -> String {
    let what = format!("no reviews for {owner}/{repo}");
    move || what
}

/// Checks an optional prompt name from a query string.
fn prompt_filter(prompt: &Option<String>) -> Result<(), Response> {
    match prompt {
        Some(name) => validate_name("prompt name", name).map_err(registry_error),
        None => Ok(()),
    }
}

async fn queue(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    query: Result<Query<QueueQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let at = scoped(
            &state,
            &headers,
            Scope::Read,
            &owner,
            &repo,
            missing(&owner, &repo),
        )
        .await?;
        let Query(query) = query_of(query)?;
        prompt_filter(&query.prompt)?;
        let count = query.count.unwrap_or(DEFAULT_QUEUE);
        if !(1..=MAX_QUEUE).contains(&count) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("`count` is {count}; ask for 1 to {MAX_QUEUE} outputs per criterion"),
            ));
        }
        let request = SampleRequest {
            per_criterion: count,
            seed: query.seed.unwrap_or(0),
            criterion: query.criterion,
            prompt: query.prompt,
        };
        // The judge's view stays on the server until the output is labelled.
        let items: Vec<_> = published_queue(at.registry.as_ref(), &request)
            .await
            .map_err(registry_error)?
            .into_iter()
            .map(|item| {
                json!({
                    "prompt": item.output.prompt,
                    "criterion": item.output.criterion,
                    "fingerprint": item.output.fingerprint,
                    "case_id": item.output.case_id,
                    "repeat": item.output.repeat,
                    "vars": item.vars,
                    "output": item.text,
                })
            })
            .collect();
        Ok(ok(json!({ "items": items })))
    };
    answer.await.unwrap_or_else(|response| response)
}

async fn label(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let at = scoped(
            &state,
            &headers,
            Scope::Publish,
            &owner,
            &repo,
            missing(&owner, &repo),
        )
        .await?;
        let request: LabelBody = body(&bytes)?;
        validate_name("prompt name", &request.prompt).map_err(registry_error)?;
        let new = NewLabel {
            output: request.output(),
            human: request.human,
            note: request.note,
            reviewer: request.reviewer,
        };
        let (label, judge) = label_stored_output(at.registry.as_ref(), new)
            .await
            .map_err(|refused| match refused {
                StoredLabelError::Registry(e) => registry_error(e),
                StoredLabelError::NotFound(_) => error(StatusCode::NOT_FOUND, refused.to_string()),
                StoredLabelError::Invalid(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            })?;
        let answer = json!({ "label": label, "judge": judge });
        Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
    };
    answer.await.unwrap_or_else(|response| response)
}

/// The review labels a read key may see in `owner/repo`, of one prompt
/// when the query names it.
async fn stored_labels(
    state: &ServerState,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    query: Result<Query<PromptQuery>, QueryRejection>,
) -> Result<Vec<ReviewLabel>, Response> {
    let at = scoped(
        state,
        headers,
        Scope::Read,
        owner,
        repo,
        missing(owner, repo),
    )
    .await?;
    let Query(query) = query_of(query)?;
    prompt_filter(&query.prompt)?;
    at.registry
        .review_labels(query.prompt.as_deref())
        .await
        .map_err(registry_error)
}

async fn labels(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    query: Result<Query<PromptQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let labels = stored_labels(&state, &headers, &owner, &repo, query).await?;
        Ok(ok(LabelsPage { labels }))
    };
    answer.await.unwrap_or_else(|response| response)
}

async fn agreement(
    State(state): State<ServerState>,
    Path((owner, repo)): RepoPath,
    query: Result<Query<PromptQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let labels = stored_labels(&state, &headers, &owner, &repo, query).await?;
        let criteria = agreement_by_criterion(&labels, DEFAULT_MIN_AGREEMENT);
        Ok(ok(json!({ "criteria": criteria })))
    };
    answer.await.unwrap_or_else(|response| response)
}

/// The routes, as (path, method), for [`super::openapi`].
pub const ROUTES: [(&str, &str); 4] = [
    ("/v1/repos/{owner}/{repo}/reviews/queue", "get"),
    ("/v1/repos/{owner}/{repo}/reviews/labels", "post"),
    ("/v1/repos/{owner}/{repo}/reviews/labels", "get"),
    ("/v1/repos/{owner}/{repo}/reviews/agreement", "get"),
];

/// The OpenAPI `paths` entries of [`ROUTES`].
pub fn openapi_paths() -> serde_json::Map<String, serde_json::Value> {
    use super::openapi::name_schema;
    let error_response = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        })
    };
    let responses = |ok_status: &str, ok: serde_json::Value| {
        let mut responses = serde_json::Map::new();
        responses.insert(ok_status.into(), ok);
        for (status, why) in [
            (
                "400",
                "A malformed request: the message names the parameter or field.",
            ),
            ("401", "No API key, or an unknown or revoked one."),
            ("403", "The API key's scope is too small."),
            (
                "404",
                "Nothing there (no such judged output), or a repository the key does not reach.",
            ),
            ("503", "The registry is unavailable."),
        ] {
            responses.insert(status.into(), error_response(why));
        }
        serde_json::Value::Object(responses)
    };
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let answer = |description: &str, body: serde_json::Value| json!({"description": description, "content": {"application/json": {"schema": body}}});
    let repo = || {
        vec![
            json!({"name": "owner", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}),
            json!({"name": "repo", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}),
        ]
    };
    let prompt = json!({"name": "prompt", "in": "query", "description": "Only this prompt.", "schema": name_schema()});
    let with = |more: Vec<serde_json::Value>| {
        let mut params = repo();
        params.extend(more);
        params
    };
    let security = json!([{"apiKey": []}]);
    let mut paths = serde_json::Map::new();
    paths.insert(ROUTES[0].0.into(), json!({"get": {
        "summary": "Judged outputs to review, without the judge's score.",
        "description": "A seeded sample from the baselines of the repository's published versions: per prompt and judged criterion, outputs not yet labelled, stratified by the judge's grade in proportion to each grade's share. The judge's score is not included: it is revealed when the output is labelled. Key scope: read.",
        "security": security.clone(),
        "parameters": with(vec![
            prompt.clone(),
            json!({"name": "criterion", "in": "query", "description": "Only this criterion.", "schema": {"type": "string", "maxLength": 200}}),
            json!({"name": "count", "in": "query", "description": "Outputs per criterion (default 20).", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_QUEUE}}),
            json!({"name": "seed", "in": "query", "description": "The sample's seed (default 0): the same seed and labels give the same queue.", "schema": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991u64}}),
        ]),
        "responses": responses("200", answer("The queue.", schema("ReviewQueue")))
    }}));
    paths.insert(ROUTES[1].0.into(), json!({
        "post": {
            "summary": "Label a judged output (pass/fail or a grade 1-5).",
            "description": "The judge's score is read from the stored result, never from the request; the answer reveals it. A later label of the same output supersedes this one in the agreement. Key scope: publish.",
            "operationId": "recordReviewLabel",
            "security": security.clone(),
            "parameters": repo(),
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema("ReviewLabelRequest")}}},
            "responses": responses("201", answer("Recorded; with the judge's view.", schema("RecordedReviewLabel")))
        },
        "get": {
            "summary": "Every review label, oldest first.",
            "description": "Key scope: read.",
            "security": security.clone(),
            "parameters": with(vec![prompt.clone()]),
            "responses": responses("200", answer("The labels.", json!({
                "type": "object", "required": ["labels"],
                "properties": {"labels": {"type": "array", "items": schema("ReviewLabel")}}
            })))
        }
    }));
    paths.insert(ROUTES[3].0.into(), json!({"get": {
        "summary": "How often each criterion's judge agrees with reviewers.",
        "description": "Per prompt and criterion, on the pass/fail reading (a grade passes from 3): accuracy, Cohen's kappa, sensitivity and specificity with 95% intervals, once there are at least 30 labels with 10 passed and 10 failed by reviewers; `flagged` when the accuracy's whole interval is below 0.8. Key scope: read.",
        "security": security,
        "parameters": with(vec![prompt]),
        "responses": responses("200", answer("Agreement per criterion.", json!({
            "type": "object", "required": ["criteria"],
            "properties": {"criteria": {"type": "array", "items": {"type": "object"}}}
        })))
    }}));
    paths
}

/// The schemas [`openapi_paths`] refers to.
pub fn openapi_schemas() -> serde_json::Map<String, serde_json::Value> {
    use super::openapi::name_schema;
    // A name any label may carry: some non-space text, at most 200 characters.
    let text = json!({"type": "string", "minLength": 1, "maxLength": crate::pipeline::review::MAX_NAME, "pattern": "\\S"});
    let human = json!({"type": "string", "enum": ["pass", "fail", "1", "2", "3", "4", "5"]});
    let repeat = json!({"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64});
    let output_properties = json!({
        "prompt": name_schema(),
        "criterion": text,
        "fingerprint": text,
        "case_id": text,
        "repeat": repeat,
    });
    let mut request = output_properties.clone();
    request["human"] = human.clone();
    request["note"] =
        json!({"type": ["string", "null"], "maxLength": crate::pipeline::review::MAX_NOTE});
    request["reviewer"] = text.clone();
    let mut item = output_properties.clone();
    item["vars"] = json!({"type": "object"});
    item["output"] = json!({"type": "string"});
    let mut label = output_properties;
    label["judge_score"] = json!({"type": "number", "minimum": 0, "maximum": 1});
    label["human"] = human;
    label["note"] = json!({"type": "string"});
    label["reviewer"] = json!({"type": "string"});
    label["labelled_at"] = json!({"type": "string"});
    let judge = json!({
        "type": "object", "required": ["score", "reason"],
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "display": {"type": ["string", "null"]},
            "reason": {"type": "string"}
        }
    });
    let mut schemas = serde_json::Map::new();
    schemas.insert("ReviewLabelRequest".into(), json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["prompt", "criterion", "fingerprint", "case_id", "repeat", "human", "reviewer"],
        "properties": request
    }));
    schemas.insert("ReviewLabel".into(), json!({
        "type": "object",
        "required": ["prompt", "criterion", "fingerprint", "case_id", "repeat", "judge_score", "human", "reviewer", "labelled_at"],
        "properties": label
    }));
    schemas.insert(
        "RecordedReviewLabel".into(),
        json!({
            "type": "object", "required": ["label", "judge"],
            "properties": {"label": {"$ref": "#/components/schemas/ReviewLabel"}, "judge": judge}
        }),
    );
    schemas.insert("ReviewQueue".into(), json!({
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {
            "type": "object",
            "required": ["prompt", "criterion", "fingerprint", "case_id", "repeat", "vars", "output"],
            "properties": item
        }}}
    }));
    schemas
}
