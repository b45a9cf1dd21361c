//! The dashboard's handlers: check the session (and the CSRF token of a
//! form), read what the page shows, lay it out with a template.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::data::{self, VersionSummary};
use super::scores::ScoreSummary;
use super::sessions::{self, Access, NewSession, SESSION_COOKIE, Viewer};
use super::views::{self, Day};
use super::{Dashboard, PREFIX, csrf};
use crate::edges::registry::{
    Namespace, Promote, Registry, RegistryError, Version, VersionRef, check_promotion,
};
use crate::flows::review;
use crate::pipeline::report::html::{Counts, MAX_CASES, case_views, criterion_rows};
use crate::pipeline::report::{BaselineSource, PromptReport};
use crate::pipeline::review::agreement::DEFAULT_MIN_AGREEMENT;
use crate::server::ServerState;
use crate::server::telemetry::store::DAY_MS;
use crate::types::{EvalResult, Fingerprint};

/// Days of production telemetry the prompt page charts.
const TELEMETRY_DAYS: i64 = 14;
/// The cookie that holds the OAuth `state` between the redirect to GitHub
/// and the way back.
const STATE_COOKIE: &str = "pg_oauth_state";

/// What every page's frame shows.
#[derive(Serialize)]
pub(super) struct Layout {
    pub(super) title: String,
    pub(super) login: Option<String>,
    pub(super) csrf: String,
    /// Breadcrumbs: (text, link).
    pub(super) trail: Vec<(String, String)>,
    pub(super) review_queue: Option<String>,
}

/// The frame of a page; on a prompt's pages (`prompt`: its link) the
/// navigation offers the prompt's review queue.
pub(super) fn layout(
    dashboard: &Dashboard,
    viewer: &Viewer,
    title: String,
    trail: Vec<(String, String)>,
    prompt: Option<&str>,
) -> Layout {
    let review_queue = prompt
        .filter(|_| dashboard.settings.review_queue)
        .map(|link| format!("{link}/review"));
    Layout {
        title,
        login: Some(viewer.login.clone()),
        csrf: csrf::token(&viewer.token),
        trail,
        review_queue,
    }
}

pub(super) fn render(
    dashboard: &Dashboard,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
) -> Response {
    match dashboard
        .templates
        .get_template(template)
        .and_then(|t| t.render(context))
    {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, template, "the dashboard could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page that says what went wrong, in the frame.
pub(super) fn problem(
    dashboard: &Dashboard,
    viewer: Option<&Viewer>,
    status: StatusCode,
    message: impl Into<String>,
) -> Response {
    let layout = Layout {
        title: status.canonical_reason().unwrap_or("error").to_string(),
        login: viewer.map(|v| v.login.clone()),
        csrf: viewer.map(|v| csrf::token(&v.token)).unwrap_or_default(),
        trail: Vec::new(),
        review_queue: None,
    };
    render(
        dashboard,
        status,
        "error.html.j2",
        minijinja::context! { layout => layout, message => message.into() },
    )
}

pub(super) fn unavailable(
    dashboard: &Dashboard,
    viewer: Option<&Viewer>,
    what: &str,
    error: impl std::fmt::Display,
) -> Response {
    tracing::error!(%error, "dashboard: cannot read {what}");
    problem(
        dashboard,
        viewer,
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} cannot be read right now; try again"),
    )
}

pub(super) fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: i64) {
    let cookie =
        format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The signed-in viewer, or the answer: to the sign-in page.
pub(super) async fn viewer(dashboard: &Dashboard, headers: &HeaderMap) -> Result<Viewer, Response> {
    match dashboard.sessions.viewer(headers).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(see_other(&format!("{PREFIX}/signin"))),
        Err(error) => Err(unavailable(dashboard, None, "the sessions", error)),
    }
}

/// A repository the viewer may see, and the registry's view of it. Out of
/// reach answers as a repository that does not exist (404).
pub(super) struct Repo {
    pub namespace: Namespace,
    pub access: Access,
    pub registry: Arc<dyn Registry>,
}

pub(super) async fn repo(
    state: &ServerState,
    viewer: &Viewer,
    owner: &str,
    name: &str,
) -> Result<Repo, Response> {
    let dashboard = &state.dashboard;
    let missing = || {
        problem(
            dashboard,
            Some(viewer),
            StatusCode::NOT_FOUND,
            format!("no repository {owner}/{name}"),
        )
    };
    let Ok(namespace) = Namespace::parse(&format!("{owner}/{name}")) else {
        return Err(missing());
    };
    let access = match dashboard.sessions.access(viewer, &namespace).await {
        Ok(Some(access)) => access,
        Ok(None) => return Err(missing()),
        Err(error) => {
            return Err(unavailable(
                dashboard,
                Some(viewer),
                "the access rights",
                error,
            ));
        }
    };
    let Some(registry) = &state.registry else {
        return Err(problem(
            dashboard,
            Some(viewer),
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no registry",
        ));
    };
    Ok(Repo {
        registry: registry.scoped(&namespace),
        namespace,
        access,
    })
}

fn repo_trail(namespace: &Namespace) -> Vec<(String, String)> {
    vec![
        ("repositories".into(), PREFIX.to_string()),
        (namespace.to_string(), repo_link(namespace)),
    ]
}

fn repo_link(namespace: &Namespace) -> String {
    format!("{PREFIX}/repos/{}", namespace.as_str())
}

pub(super) fn prompt_link(namespace: &Namespace, prompt: &str) -> String {
    format!(
        "{}/prompts/{}",
        repo_link(namespace),
        crate::edges::registry::url_segment(prompt)
    )
}

pub(super) fn prompt_trail(namespace: &Namespace, prompt: &str) -> Vec<(String, String)> {
    let mut trail = repo_trail(namespace);
    trail.push((prompt.to_string(), prompt_link(namespace, prompt)));
    trail
}

/// A result's summary: from the cache, or read and summarised once.
async fn summary(
    dashboard: &Dashboard,
    registry: &dyn Registry,
    namespace: &Namespace,
    fingerprint: &str,
) -> Result<Option<Arc<ScoreSummary>>, RegistryError> {
    if let Some(found) = dashboard.scores.get(namespace.as_str(), fingerprint) {
        return Ok(Some(found));
    }
    Ok(registry
        .result(&Fingerprint(fingerprint.to_string()))
        .await?
        .map(|result| {
            dashboard
                .scores
                .put(namespace.as_str(), fingerprint, ScoreSummary::of(&result))
        }))
}

/// The score summaries of these versions' baselines, in order.
async fn summaries(
    dashboard: &Dashboard,
    at: &Repo,
    versions: &[&VersionSummary],
) -> Result<Vec<Option<Arc<ScoreSummary>>>, RegistryError> {
    let mut found = Vec::with_capacity(versions.len());
    for version in versions {
        found.push(match &version.baseline {
            Some(baseline) => {
                summary(
                    dashboard,
                    at.registry.as_ref(),
                    &at.namespace,
                    &baseline.fingerprint,
                )
                .await?
            }
            None => None,
        });
    }
    Ok(found)
}

pub(super) async fn home() -> Response {
    see_other(PREFIX)
}

// ---- sign-in ----

#[derive(Serialize)]
struct SignInPage {
    layout: Layout,
    github: bool,
    error: Option<String>,
}

fn signin_answer(
    dashboard: &Dashboard,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    // The sign-in form's CSRF secret: kept while the browser has one.
    let secret = sessions::cookie(headers, csrf::SIGN_IN_COOKIE)
        .map(str::to_string)
        .unwrap_or_else(sessions::random_token);
    let page = SignInPage {
        layout: Layout {
            title: "Sign in".into(),
            login: None,
            csrf: csrf::token(&secret),
            trail: Vec::new(),
            review_queue: None,
        },
        github: dashboard.oauth.is_some(),
        error,
    };
    let mut response = render(
        dashboard,
        status,
        "signin.html.j2",
        minijinja::Value::from_serialize(&page),
    );
    set_cookie(&mut response, csrf::SIGN_IN_COOKIE, &secret, 3600);
    response
}

pub(super) async fn signin_page(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    signin_answer(&state.dashboard, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct KeyForm {
    api_key: String,
    csrf: Option<String>,
}

async fn start_session(dashboard: &Dashboard, session: NewSession) -> Response {
    match dashboard.sessions.create(&session).await {
        Ok(token) => {
            let mut response = see_other(PREFIX);
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                &token,
                dashboard.sessions.lifetime_seconds(),
            );
            response
        }
        Err(error) => unavailable(dashboard, None, "the sessions", error),
    }
}

pub(super) async fn signin_with_key(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    let dashboard = &state.dashboard;
    let secret = sessions::cookie(&headers, csrf::SIGN_IN_COOKIE).unwrap_or("");
    if secret.is_empty() || !csrf::verify(secret, form.csrf.as_deref()) {
        return problem(
            dashboard,
            None,
            StatusCode::FORBIDDEN,
            "the form has expired or did not come from this dashboard; reload the sign-in page",
        );
    }
    let info = match state.api_keys.authenticate(form.api_key.trim()).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return signin_answer(
                dashboard,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("this API key is not valid (unknown or revoked)".into()),
            );
        }
        Err(error) => return unavailable(dashboard, None, "the API keys", error),
    };
    tracing::info!(key = info.id, "dashboard: signed in with an API key");
    start_session(
        dashboard,
        NewSession {
            login: format!("key {}", info.name),
            api_key_id: Some(info.id),
            repositories: BTreeMap::new(),
        },
    )
    .await
}

fn callback_url(dashboard: &Dashboard, headers: &HeaderMap) -> String {
    let base = match &dashboard.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!(
            "http://{}",
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
        ),
    };
    format!("{base}{PREFIX}/signin/github/callback")
}

pub(super) async fn github_start(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    let dashboard = &state.dashboard;
    let Some(oauth) = &dashboard.oauth else {
        return problem(
            dashboard,
            None,
            StatusCode::NOT_FOUND,
            "signing in with GitHub is not set up on this server",
        );
    };
    let oauth_state = sessions::random_token();
    let mut response =
        see_other(&oauth.authorize_url(&callback_url(dashboard, &headers), &oauth_state));
    set_cookie(&mut response, STATE_COOKIE, &oauth_state, 600);
    response
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn github_callback(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let dashboard = &state.dashboard;
    let Some(oauth) = &dashboard.oauth else {
        return problem(
            dashboard,
            None,
            StatusCode::NOT_FOUND,
            "signing in with GitHub is not set up on this server",
        );
    };
    if let Some(error) = callback.error {
        return problem(
            dashboard,
            None,
            StatusCode::FORBIDDEN,
            format!("GitHub did not sign you in: {error}"),
        );
    }
    let expected = sessions::cookie(&headers, STATE_COOKIE);
    let state_matches = match (expected, callback.state.as_deref()) {
        (Some(expected), Some(got)) => csrf::token(expected) == csrf::token(got),
        _ => false,
    };
    let Some(code) = callback.code.filter(|_| state_matches) else {
        return problem(
            dashboard,
            None,
            StatusCode::FORBIDDEN,
            "this sign-in did not start here (its state does not match); sign in again",
        );
    };
    let user = match oauth
        .sign_in(&code, &callback_url(dashboard, &headers))
        .await
    {
        Ok(user) => user,
        Err(error) => {
            tracing::warn!(%error, "dashboard: GitHub sign-in failed");
            return problem(dashboard, None, StatusCode::BAD_GATEWAY, error.to_string());
        }
    };
    tracing::info!(login = %user.login, repositories = user.repositories.len(), "dashboard: signed in with GitHub");
    let mut response = start_session(
        dashboard,
        NewSession {
            login: user.login,
            api_key_id: None,
            repositories: user.repositories,
        },
    )
    .await;
    set_cookie(&mut response, STATE_COOKIE, "", 0);
    response
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

/// The viewer of a form, its CSRF token checked.
async fn form_viewer(
    dashboard: &Dashboard,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<Viewer, Response> {
    let viewer = match dashboard.sessions.viewer(headers).await {
        Ok(Some(viewer)) => viewer,
        Ok(None) => {
            return Err(problem(
                dashboard,
                None,
                StatusCode::FORBIDDEN,
                "you are not signed in (or your session ended); sign in and try again",
            ));
        }
        Err(error) => return Err(unavailable(dashboard, None, "the sessions", error)),
    };
    if !csrf::verify(&viewer.token, token) {
        return Err(problem(
            dashboard,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "the form did not come from this dashboard (no valid CSRF token); reload the page and try again",
        ));
    }
    Ok(viewer)
}

pub(super) async fn signout(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(form_viewer(dashboard, &headers, form.csrf.as_deref()).await);
    if let Err(error) = dashboard.sessions.end(&viewer.token).await {
        return unavailable(dashboard, Some(&viewer), "the sessions", error);
    }
    let mut response = see_other(&format!("{PREFIX}/signin"));
    set_cookie(&mut response, SESSION_COOKIE, "", 0);
    response
}

// ---- repositories and prompts ----

#[derive(Serialize)]
struct RepositoryRow {
    name: String,
    link: String,
    prompts: i64,
    access: &'static str,
}

pub(super) async fn repositories(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let listed = match data::repositories(&dashboard.db).await {
        Ok(listed) => listed,
        Err(error) => return unavailable(dashboard, Some(&viewer), "the repositories", error),
    };
    let mut rows = Vec::new();
    for (name, prompts) in listed {
        let Ok(namespace) = Namespace::parse(&name) else {
            continue;
        };
        match dashboard.sessions.access(&viewer, &namespace).await {
            Ok(Some(access)) => rows.push(RepositoryRow {
                link: repo_link(&namespace),
                name,
                prompts,
                access: match access {
                    Access::Read => "read",
                    Access::Write => "write",
                },
            }),
            Ok(None) => {}
            Err(error) => return unavailable(dashboard, Some(&viewer), "the access rights", error),
        }
    }
    let layout = layout(
        dashboard,
        &viewer,
        "Repositories".into(),
        vec![("repositories".into(), PREFIX.into())],
        None,
    );
    render(
        dashboard,
        StatusCode::OK,
        "repositories.html.j2",
        minijinja::context! { layout => layout, repositories => rows },
    )
}

/// Versions whose scores the prompt list's sparklines draw (the newest).
const SPARKLINE_VERSIONS: usize = 30;

/// The newest `count` of `versions` (oldest first, as given).
fn newest(versions: &[VersionSummary], count: usize) -> Vec<&VersionSummary> {
    versions[versions.len().saturating_sub(count)..]
        .iter()
        .collect()
}

#[derive(Serialize)]
struct PromptRow {
    name: String,
    link: String,
    labels: Vec<views::LabelView>,
    latest: Option<u32>,
    versions: usize,
    verdict: Option<String>,
    score: Option<String>,
    sparkline: Option<String>,
}

pub(super) async fn prompts(
    State(state): State<ServerState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let at = or_answer!(repo(&state, &viewer, &owner, &name).await);
    let built: Result<Vec<PromptRow>, String> = async {
        let mut rows = Vec::new();
        for prompt in at.registry.prompts().await.map_err(|e| e.to_string())? {
            let versions = data::version_summaries(&dashboard.db, at.namespace.as_str(), &prompt)
                .await
                .map_err(|e| e.to_string())?;
            let labels = at
                .registry
                .labels(&prompt)
                .await
                .map_err(|e| e.to_string())?;
            let sparkline = newest(&versions, SPARKLINE_VERSIONS);
            let scores = summaries(dashboard, &at, &sparkline)
                .await
                .map_err(|e| e.to_string())?;
            let values: Vec<Option<f64>> = scores
                .iter()
                .map(|s| s.as_ref().and_then(|s| s.score))
                .collect();
            let latest = versions.last();
            rows.push(PromptRow {
                link: prompt_link(&at.namespace, &prompt),
                labels: views::label_views(&labels),
                latest: latest.map(|v| v.number),
                versions: versions.len(),
                verdict: latest
                    .and_then(|v| v.baseline.as_ref())
                    .map(|b| b.gate.replace('_', " ")),
                score: values.last().copied().flatten().map(views::percent),
                sparkline: super::charts::sparkline(
                    &values,
                    &format!(
                        "{prompt}: overall score of the last {} versions",
                        sparkline.len()
                    ),
                ),
                name: prompt,
            });
        }
        Ok(rows)
    }
    .await;
    let rows = match built {
        Ok(rows) => rows,
        Err(error) => return unavailable(dashboard, Some(&viewer), "the prompts", error),
    };
    let layout = layout(
        dashboard,
        &viewer,
        format!("{} — prompts", at.namespace),
        repo_trail(&at.namespace),
        None,
    );
    render(
        dashboard,
        StatusCode::OK,
        "prompts.html.j2",
        minijinja::context! { layout => layout, prompts => rows, repository => at.namespace.to_string() },
    )
}

// ---- one prompt ----

#[derive(Serialize)]
struct PromoteOption {
    to: String,
    /// `None`: allowed; otherwise the rules that refuse it.
    refused: Option<String>,
}

#[derive(Serialize)]
struct PromptPage {
    layout: Layout,
    name: String,
    link: String,
    labels: Vec<views::LabelView>,
    chart: Option<String>,
    versions_total: usize,
    versions: Vec<views::VersionRow>,
    history: Vec<views::MoveView>,
    can_write: bool,
    /// The version the promote buttons promote: the newest.
    number: u32,
    promote: Vec<PromoteOption>,
    rollback: Vec<String>,
    telemetry: views::TelemetryView,
    telemetry_days: i64,
    notice: Option<String>,
    agreement: Vec<views::AgreementRow>,
    review_link: String,
}

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    pub done: Option<String>,
}

/// The last [`TELEMETRY_DAYS`] days of telemetry, today last, in one
/// read of the daily rollups.
async fn telemetry_days(
    state: &ServerState,
    repo: &Namespace,
    prompt: &str,
) -> Result<Vec<Day>, crate::edges::db::DatabaseError> {
    let now = sessions::now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    let first = today - (TELEMETRY_DAYS - 1) * DAY_MS;
    let mut read = state
        .telemetry
        .store()
        .daily_tallies(repo.as_str(), prompt, first, today + DAY_MS)
        .await?;
    Ok((0..TELEMETRY_DAYS)
        .map(|day| {
            let start = first + day * DAY_MS;
            let label = time::OffsetDateTime::from_unix_timestamp(start / 1000)
                .map(|d| format!("{:02}-{:02}", u8::from(d.month()), d.day()))
                .unwrap_or_default();
            Day {
                label,
                tallies: read.remove(&start).unwrap_or_default(),
            }
        })
        .collect())
}

/// Each environment `number` could be promoted to, and the rules that
/// refuse it now (the same check the registry makes when the button is
/// pressed).
async fn promote_options(
    state: &ServerState,
    at: &Repo,
    prompt: &str,
    number: u32,
    labels: &BTreeMap<String, crate::edges::registry::LabelTarget>,
) -> Result<Vec<PromoteOption>, RegistryError> {
    let policy = crate::server::registry_api::at_least(&state.promotion_floor, None);
    let environments = &state.dashboard.settings.environments;
    let baseline = at.registry.baseline(prompt, number).await?;
    Ok(environments
        .iter()
        .map(|to| PromoteOption {
            to: to.clone(),
            refused: check_promotion(
                prompt,
                number,
                to,
                environments,
                &policy,
                labels,
                baseline.as_ref(),
            )
            .err()
            .map(|refused| {
                refused
                    .rules
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        })
        .collect())
}

async fn prompt_page(
    state: &ServerState,
    viewer: &Viewer,
    at: &Repo,
    name: &str,
    notice: Option<String>,
) -> Result<PromptPage, String> {
    let dashboard = &state.dashboard;
    let text = |e: RegistryError| e.to_string();
    let versions = data::version_summaries(&dashboard.db, at.namespace.as_str(), name)
        .await
        .map_err(|e| e.to_string())?;
    let Some(latest) = versions.last() else {
        return Err(String::new());
    };
    let labels = at.registry.labels(name).await.map_err(text)?;
    let history = at.registry.label_history(name).await.map_err(text)?;
    let charted = newest(&versions, views::CHART_VERSIONS);
    let numbers: Vec<u32> = charted.iter().map(|v| v.number).collect();
    let scores = summaries(dashboard, at, &charted).await.map_err(text)?;
    let by_number: BTreeMap<u32, Option<&ScoreSummary>> = numbers
        .iter()
        .copied()
        .zip(scores.iter().map(|s| s.as_deref()))
        .collect();
    let chart = views::score_chart(
        name,
        &numbers,
        &scores.iter().map(|s| s.as_deref()).collect::<Vec<_>>(),
    );
    let rows = versions
        .iter()
        .rev()
        .take(views::TABLE_VERSIONS)
        .map(|v| views::version_row(v, by_number.get(&v.number).copied().flatten(), &labels))
        .collect();
    // The judged criteria of the newest summarised result, and any other
    // criterion reviewers labelled.
    let judged: Vec<String> = scores
        .iter()
        .rev()
        .find_map(|s| s.as_deref())
        .map(|s| {
            s.criteria
                .iter()
                .filter(|c| c.judged)
                .map(|c| c.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let review_labels = at.registry.review_labels(Some(name)).await.map_err(text)?;
    let agreement = review::prompt_agreement(name, &judged, &review_labels, DEFAULT_MIN_AGREEMENT);
    let promote = promote_options(state, at, name, latest.number, &labels)
        .await
        .map_err(text)?;
    let environments = &dashboard.settings.environments;
    let rollback = environments
        .iter()
        .filter(|e| labels.contains_key(*e))
        .cloned()
        .collect();
    let days = telemetry_days(state, &at.namespace, name)
        .await
        .map_err(|e| e.to_string())?;
    let link = prompt_link(&at.namespace, name);
    Ok(PromptPage {
        layout: layout(
            dashboard,
            viewer,
            name.to_string(),
            prompt_trail(&at.namespace, name),
            Some(&link),
        ),
        name: name.to_string(),
        agreement: views::agreement_rows(&agreement),
        review_link: format!("{link}/review"),
        link,
        labels: views::label_views(&labels),
        chart,
        versions_total: versions.len(),
        versions: rows,
        history: views::move_views(&history),
        can_write: at.access == Access::Write,
        number: latest.number,
        promote,
        rollback,
        telemetry: views::telemetry_view(&days, &labels),
        telemetry_days: TELEMETRY_DAYS,
        notice,
    })
}

pub(super) async fn prompt(
    State(state): State<ServerState>,
    Path((owner, name, prompt)): Path<(String, String, String)>,
    Query(query): Query<NoticeQuery>,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let at = or_answer!(repo(&state, &viewer, &owner, &name).await);
    show_prompt(&state, &viewer, &at, &prompt, StatusCode::OK, query.done).await
}

async fn show_prompt(
    state: &ServerState,
    viewer: &Viewer,
    at: &Repo,
    prompt: &str,
    status: StatusCode,
    notice: Option<String>,
) -> Response {
    let dashboard = &state.dashboard;
    match prompt_page(state, viewer, at, prompt, notice).await {
        Ok(page) => render(
            dashboard,
            status,
            "prompt.html.j2",
            minijinja::Value::from_serialize(&page),
        ),
        Err(error) if error.is_empty() => problem(
            dashboard,
            Some(viewer),
            StatusCode::NOT_FOUND,
            format!("no prompt `{prompt}` in {}", at.namespace),
        ),
        Err(error) => unavailable(dashboard, Some(viewer), "the prompt", error),
    }
}

/// The signed-in viewer of a form (its CSRF token checked) and the
/// repository, when the viewer may write to it; `doing` names the action
/// in the refusal.
pub(super) async fn writer(
    state: &ServerState,
    headers: &HeaderMap,
    csrf: Option<&str>,
    owner: &str,
    name: &str,
    doing: &str,
) -> Result<(Viewer, Repo), Response> {
    let dashboard = &state.dashboard;
    let viewer = form_viewer(dashboard, headers, csrf).await?;
    let at = repo(state, &viewer, owner, name).await?;
    if at.access != Access::Write {
        return Err(problem(
            dashboard,
            Some(&viewer),
            StatusCode::FORBIDDEN,
            format!(
                "{doing} needs write access to the repository (or an API key with scope `publish`)"
            ),
        ));
    }
    Ok((viewer, at))
}

#[derive(Deserialize)]
pub(super) struct PromoteForm {
    version: u32,
    to: String,
    csrf: Option<String>,
}

/// `POST …/promote`: under the same promotion policy as the API; a refusal
/// shows the prompt page with the rules that refused it (409).
pub(super) async fn promote(
    State(state): State<ServerState>,
    Path((owner, name, prompt)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<PromoteForm>,
) -> Response {
    let (viewer, at) = or_answer!(
        writer(
            &state,
            &headers,
            form.csrf.as_deref(),
            &owner,
            &name,
            "promoting"
        )
        .await
    );
    let dashboard = &state.dashboard;
    let policy = crate::server::registry_api::at_least(&state.promotion_floor, None);
    let promoted = at
        .registry
        .promote(
            Promote {
                prompt: prompt.clone(),
                version: VersionRef::Number(form.version),
                to: form.to.clone(),
                actor: viewer.login.clone(),
                reason: Some("promoted in the dashboard".into()),
                force: false,
            },
            &dashboard.settings.environments,
            &policy,
        )
        .await;
    label_moved(
        &state,
        &viewer,
        &at,
        &prompt,
        promoted,
        format!("v{} promoted to {}", form.version, form.to),
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct RollbackForm {
    label: String,
    csrf: Option<String>,
}

pub(super) async fn rollback(
    State(state): State<ServerState>,
    Path((owner, name, prompt)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<RollbackForm>,
) -> Response {
    let (viewer, at) = or_answer!(
        writer(
            &state,
            &headers,
            form.csrf.as_deref(),
            &owner,
            &name,
            "rolling back"
        )
        .await
    );
    let moved = at
        .registry
        .rollback(
            &prompt,
            &form.label,
            &viewer.login,
            Some("rolled back in the dashboard".into()),
        )
        .await;
    label_moved(
        &state,
        &viewer,
        &at,
        &prompt,
        moved,
        format!("{} rolled back", form.label),
    )
    .await
}

/// After a label move: back to the prompt page (303), or the page again
/// with why the move was refused.
async fn label_moved(
    state: &ServerState,
    viewer: &Viewer,
    at: &Repo,
    prompt: &str,
    outcome: Result<crate::edges::registry::LabelMove, RegistryError>,
    done: String,
) -> Response {
    match outcome {
        Ok(moved) => {
            tracing::info!(repo = %at.namespace, prompt, label = %moved.label, to = %moved.to, actor = %viewer.login, "dashboard: label moved");
            // Served from the next request on, as after the API's moves.
            state.prompts.forget(&at.namespace, prompt);
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("done", &done)
                .finish();
            see_other(&format!("{}?{query}", prompt_link(&at.namespace, prompt)))
        }
        Err(refused) => {
            let status = match crate::edges::registry::wire::WireError::of(&refused) {
                Some((code, _)) => StatusCode::from_u16(code).unwrap_or(StatusCode::CONFLICT),
                None => {
                    return unavailable(&state.dashboard, Some(viewer), "the registry", refused);
                }
            };
            show_prompt(
                state,
                viewer,
                at,
                prompt,
                status,
                Some(format!("refused: {refused}")),
            )
            .await
        }
    }
}

// ---- one version, and its run ----

#[derive(Serialize)]
struct MessageView {
    role: String,
    pieces: Vec<views::Piece>,
}

#[derive(Serialize)]
struct VersionPage {
    layout: Layout,
    prompt: String,
    prompt_link: String,
    number: u32,
    id: String,
    model: String,
    parameters: String,
    created_at: String,
    author: String,
    message: Option<String>,
    commit: Option<String>,
    commit_link: Option<String>,
    pulls_link: Option<String>,
    messages: Vec<MessageView>,
    against: Option<u32>,
    others: Vec<u32>,
    diff: Vec<views::PartDiff>,
    gate: Option<String>,
    criteria: Vec<CriterionLine>,
    cases: Option<usize>,
    score: Option<String>,
    run_link: Option<String>,
    can_write: bool,
    promote: Vec<PromoteOption>,
}

#[derive(Serialize)]
struct CriterionLine {
    name: String,
    mean: String,
    interval: String,
}

#[derive(Deserialize)]
pub(super) struct AgainstQuery {
    against: Option<String>,
    show: Option<String>,
}

/// The version a version is compared with: the one asked for, else its
/// parent, else the one before it.
fn against_number(version: &Version, asked: Option<&str>) -> Option<u32> {
    if let Some(asked) = asked.filter(|a| !a.is_empty()) {
        return asked.trim_start_matches('v').parse().ok();
    }
    version
        .parent
        .or_else(|| version.number.checked_sub(1).filter(|n| *n > 0))
}

async fn one_version(
    state: &ServerState,
    viewer: &Viewer,
    at: &Repo,
    prompt: &str,
    number: &str,
) -> Result<Version, Response> {
    let dashboard = &state.dashboard;
    let missing = || {
        problem(
            dashboard,
            Some(viewer),
            StatusCode::NOT_FOUND,
            format!("no version {number} of `{prompt}`"),
        )
    };
    let Ok(n) = number.trim_start_matches('v').parse::<u32>() else {
        return Err(missing());
    };
    match at.registry.version(prompt, &VersionRef::Number(n)).await {
        Ok(Some(version)) => Ok(version),
        Ok(None) => Err(missing()),
        Err(error) => Err(unavailable(dashboard, Some(viewer), "the version", error)),
    }
}

fn github_web(dashboard: &Dashboard) -> String {
    dashboard
        .settings
        .oauth
        .as_ref()
        .map_or(super::oauth::DEFAULT_WEB_URL.to_string(), |o| {
            o.web_url.trim_end_matches('/').to_string()
        })
}

pub(super) async fn version(
    State(state): State<ServerState>,
    Path((owner, name, prompt, number)): Path<(String, String, String, String)>,
    Query(query): Query<AgainstQuery>,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let at = or_answer!(repo(&state, &viewer, &owner, &name).await);
    let version = or_answer!(one_version(&state, &viewer, &at, &prompt, &number).await);
    let against = against_number(&version, query.against.as_deref());
    let other = match against {
        Some(n) if n != version.number => {
            match at.registry.version(&prompt, &VersionRef::Number(n)).await {
                Ok(found) => found,
                Err(error) => return unavailable(dashboard, Some(&viewer), "the version", error),
            }
        }
        _ => None,
    };
    let all = match data::version_summaries(&dashboard.db, at.namespace.as_str(), &prompt).await {
        Ok(all) => all,
        Err(error) => return unavailable(dashboard, Some(&viewer), "the versions", error),
    };
    let baseline = all
        .iter()
        .find(|v| v.number == version.number)
        .and_then(|v| v.baseline.clone());
    let summary = match &baseline {
        Some(b) => match summary(
            dashboard,
            at.registry.as_ref(),
            &at.namespace,
            &b.fingerprint,
        )
        .await
        {
            Ok(found) => found,
            Err(error) => return unavailable(dashboard, Some(&viewer), "the result", error),
        },
        None => None,
    };
    let promote = match at.registry.labels(&prompt).await {
        Ok(labels) => match promote_options(&state, &at, &prompt, version.number, &labels).await {
            Ok(options) => options,
            Err(error) => return unavailable(dashboard, Some(&viewer), "the result", error),
        },
        Err(error) => return unavailable(dashboard, Some(&viewer), "the labels", error),
    };
    let web = github_web(dashboard);
    let link = prompt_link(&at.namespace, &prompt);
    let page = VersionPage {
        layout: layout(
            dashboard,
            &viewer,
            format!("{prompt} v{}", version.number),
            {
                let mut trail = prompt_trail(&at.namespace, &prompt);
                trail.push((
                    format!("v{}", version.number),
                    format!("{link}/versions/{}", version.number),
                ));
                trail
            },
            Some(&link),
        ),
        prompt: prompt.clone(),
        number: version.number,
        id: version.id.0.clone(),
        model: version.content.model.to_string(),
        parameters: serde_json::to_string(&version.content.parameters).unwrap_or_default(),
        created_at: version.created_at.clone(),
        author: version.author.clone(),
        message: version.message.clone(),
        commit_link: version
            .git_commit
            .as_ref()
            .map(|c| format!("{web}/{}/commit/{c}", at.namespace)),
        pulls_link: version
            .git_commit
            .as_ref()
            .map(|c| format!("{web}/{}/pulls?q=is%3Apr+{c}", at.namespace)),
        commit: version.git_commit.clone(),
        messages: version
            .content
            .messages
            .iter()
            .map(|m| MessageView {
                role: m.role.to_string(),
                pieces: views::message_pieces(&m.content),
            })
            .collect(),
        against: other.as_ref().map(|o| o.number),
        others: all
            .iter()
            .map(|v| v.number)
            .filter(|n| *n != version.number)
            .collect(),
        diff: other
            .as_ref()
            .map(|o| views::word_diff(o, &version))
            .unwrap_or_default(),
        gate: baseline.as_ref().map(|b| b.gate.replace('_', " ")),
        criteria: summary
            .as_ref()
            .map(|s| {
                s.criteria
                    .iter()
                    .map(|c| CriterionLine {
                        name: c.name.clone(),
                        mean: c.mean.map_or("—".into(), views::percent),
                        interval: c.interval.map_or("—".into(), |(l, h)| {
                            format!("[{}, {}]", views::percent(l), views::percent(h))
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        cases: summary.as_ref().map(|s| s.cases),
        score: summary.as_ref().and_then(|s| s.score).map(views::percent),
        run_link: baseline
            .as_ref()
            .map(|_| format!("{link}/versions/{}/run", version.number)),
        prompt_link: link,
        can_write: at.access == Access::Write,
        promote,
    };
    render(
        dashboard,
        StatusCode::OK,
        "version.html.j2",
        minijinja::Value::from_serialize(&page),
    )
}

/// The case filters of the run page, as query values.
const FILTERS: [(&str, &str, &str); 4] = [
    ("all", "", "all"),
    ("flipped", "flipped", "flipped to fail"),
    ("regressed", "dropped", "scored lower"),
    ("errored", "errored", "errors"),
];

#[derive(Serialize)]
struct FilterLink {
    text: String,
    link: String,
    current: bool,
}

async fn stored_result(
    at: &Repo,
    prompt: &str,
    number: u32,
) -> Result<Option<EvalResult>, RegistryError> {
    Ok(at
        .registry
        .baseline(prompt, number)
        .await?
        .map(|b| b.result))
}

pub(super) async fn run(
    State(state): State<ServerState>,
    Path((owner, name, prompt, number)): Path<(String, String, String, String)>,
    Query(query): Query<AgainstQuery>,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let at = or_answer!(repo(&state, &viewer, &owner, &name).await);
    let version = or_answer!(one_version(&state, &viewer, &at, &prompt, &number).await);
    let show = query.show.as_deref().unwrap_or("all");
    let Some(&(_, class, _)) = FILTERS.iter().find(|(key, _, _)| *key == show) else {
        return problem(
            dashboard,
            Some(&viewer),
            StatusCode::BAD_REQUEST,
            format!("show `{show}`: use all, flipped, regressed or errored"),
        );
    };
    let head = match stored_result(&at, &prompt, version.number).await {
        Ok(Some(result)) => result,
        Ok(None) => {
            return problem(
                dashboard,
                Some(&viewer),
                StatusCode::NOT_FOUND,
                format!("no result was published with {prompt} v{}", version.number),
            );
        }
        Err(error) => return unavailable(dashboard, Some(&viewer), "the result", error),
    };
    let against =
        against_number(&version, query.against.as_deref()).filter(|n| *n != version.number);
    let baseline = match against {
        Some(n) => match stored_result(&at, &prompt, n).await {
            Ok(found) => found,
            Err(error) => return unavailable(dashboard, Some(&viewer), "the result", error),
        },
        None => None,
    };
    let report = PromptReport {
        gate: None,
        baseline_source: baseline.as_ref().map(|_| BaselineSource::Registry),
        head,
        baseline,
        path: None,
        affected_because: Vec::new(),
        prompt_diff_markdown: None,
        prompt_diff_terminal: None,
        policy_change: None,
        calls: Default::default(),
        cases_must_pass: false,
        sequential: None,
    };
    let rows = criterion_rows(&report);
    let (cases, counts) = case_views(&report);
    let shown: Vec<_> = cases
        .into_iter()
        .filter(|c| class.is_empty() || c.is(class))
        .take(MAX_CASES)
        .collect();
    let link = prompt_link(&at.namespace, &prompt);
    let base = format!("{link}/versions/{}/run", version.number);
    let against_param = against.map(|n| format!("&against={n}")).unwrap_or_default();
    let filters: Vec<FilterLink> = FILTERS
        .iter()
        .map(|(key, class, text)| {
            let count = count_of(&counts, class);
            FilterLink {
                text: format!("{text} ({count})"),
                link: format!("{base}?show={key}{against_param}"),
                current: *key == show,
            }
        })
        .collect();
    let layout = layout(
        dashboard,
        &viewer,
        format!("{prompt} v{} — run", version.number),
        {
            let mut trail = prompt_trail(&at.namespace, &prompt);
            trail.push((
                format!("v{}", version.number),
                format!("{link}/versions/{}", version.number),
            ));
            trail.push(("run".into(), base.clone()));
            trail
        },
        Some(&link),
    );
    render(
        dashboard,
        StatusCode::OK,
        "run.html.j2",
        minijinja::context! {
            layout => layout,
            prompt => prompt,
            number => version.number,
            against => against.filter(|_| report.baseline.is_some()),
            check => report.baseline.is_some(),
            rows => rows,
            cases => shown,
            filters => filters,
            show => show,
        },
    )
}

fn count_of(counts: &Counts, class: &str) -> usize {
    match class {
        "flipped" => counts.flipped,
        "dropped" => counts.dropped,
        "errored" => counts.errored,
        _ => counts.all,
    }
}
