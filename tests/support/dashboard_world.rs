//! A seeded `promptgate serve` for the dashboard tests: the real server in
//! this process on a loopback port, on a real database (an SQLite file, or
//! a scratch database on `PROMPTGATE_TEST_POSTGRES`), with published
//! versions, results, labels, an A/B split with telemetry and API keys; a
//! stand-in of GitHub's OAuth web flow whose API answers are checked against
//! GitHub's published OpenAPI description; and a small browser-like HTTP
//! client that keeps cookies. Include it with
//! `#[path = "support/dashboard_world.rs"] mod dashboard_world;` (it needs
//! `#[path = "support/fake_github/contract.rs"] mod contract;` beside it).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::postgres::Scratch;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    ExpectFrom, GateOutcome, LabelTarget, MoveKind, MoveLabel, Namespace, NewVersion, Registry,
};
use promptgate::pipeline::review::{HumanScore, OutputRef, ReviewLabel};
use promptgate::pipeline::telemetry::{Execution, Outcome};
use promptgate::server::dashboard::{DashboardSettings, OAuthSettings};
use promptgate::server::jobs::{JobQueue, RetryPolicy, ShutdownTrigger, shutdown_channel};
use promptgate::server::telemetry::store::StoredExecution;
use promptgate::server::{
    ApiKeys, GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
    schema,
};
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    MessageTemplate, ModelId, ModelParameters, PromptContent, RepeatResult, ResponseFormat, Role,
    Score, Usage, VersionId,
};
use serde_json::{Value, json};

use super::contract;

pub const REPO: &str = "acme/bot";
pub const OTHER_REPO: &str = "acme/other";
pub const PROMPT: &str = "support-bot";
pub const CASES: usize = 10;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The database for a test: an SQLite file in `dir`, or a scratch database
/// on PostgreSQL (dropped by [`Scratch::drop`]).
pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(Scratch),
}

impl Backing {
    pub fn url(&self) -> String {
        match self {
            Backing::Sqlite(dir) => format!("sqlite://{}", dir.path().join("server.db").display()),
            Backing::Postgres(scratch) => scratch.url.clone(),
        }
    }

    pub async fn sqlite() -> Self {
        Backing::Sqlite(tempfile::tempdir().unwrap())
    }

    /// PostgreSQL when `PROMPTGATE_TEST_POSTGRES` names a server; `None`
    /// after a loud skip (a failure under `CI`).
    pub async fn postgres(test: &str) -> Option<Self> {
        let server = crate::postgres::server(test)?;
        Some(Backing::Postgres(
            Scratch::create(&server, "dashboard").await,
        ))
    }

    pub async fn drop(self) {
        if let Backing::Postgres(scratch) = self {
            scratch.drop().await;
        }
    }
}

/// The seeded server.
pub struct World {
    pub base: String,
    pub state: ServerState,
    pub db: Database,
    /// Scope `read`, reaching acme/bot only.
    pub reader_key: String,
    /// Scope `publish`, reaching acme/bot only.
    pub publisher_key: String,
    stop: ShutdownTrigger,
}

impl World {
    pub async fn start(url: &str, oauth: Option<OAuthSettings>) -> World {
        let db = Database::connect(url, 8).await.unwrap();
        schema::migrate(&db).await.unwrap();
        let registry: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
        let mut state = ServerState::new(
            JobQueue::new(db.clone(), RetryPolicy::default()),
            Arc::new(HmacVerifier::new(vec![Secret::new(
                "dashboard-test-secret",
            )])),
            Arc::new(GitHubEvents::default()),
            Arc::new(RegistryPrompts::new(registry.clone())),
        );
        state.registry = Some(registry.clone());
        state.dashboard = Arc::new(promptgate::server::dashboard::Dashboard::new(
            db.clone(),
            DashboardSettings {
                oauth,
                ..DashboardSettings::default()
            },
        ));
        seed(registry.as_ref(), &state).await;
        let keys = ApiKeys::new(db.clone());
        let reach = || KeyReach::Repos(vec![Namespace::parse(REPO).unwrap()]);
        let reader_key = keys
            .create("reader", Scope::Read, reach())
            .await
            .unwrap()
            .key
            .expose()
            .to_string();
        let publisher_key = keys
            .create("publisher", Scope::Publish, reach())
            .await
            .unwrap()
            .key
            .expose()
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let (stop, shutdown) = shutdown_channel();
        tokio::spawn(promptgate::server::serve(listener, state.clone(), shutdown));
        World {
            base,
            state,
            db,
            reader_key,
            publisher_key,
            stop,
        }
    }

    pub async fn label(&self, label: &str) -> Option<LabelTarget> {
        let registry = self
            .state
            .registry
            .as_ref()
            .unwrap()
            .scoped(&Namespace::parse(REPO).unwrap());
        registry.label(PROMPT, label).await.unwrap()
    }

    /// The review labels stored for the seeded prompt.
    pub async fn review_labels(&self) -> Vec<ReviewLabel> {
        let registry = self
            .state
            .registry
            .as_ref()
            .unwrap()
            .scoped(&Namespace::parse(REPO).unwrap());
        registry.review_labels(Some(PROMPT)).await.unwrap()
    }

    pub async fn stop(self) {
        self.stop.trigger();
        self.db.close().await;
    }
}

fn content(user: &str) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: "You answer support questions. {% include \"snippets/tone.md\" %}".into(),
            },
            MessageTemplate {
                role: Role::User,
                content: user.into(),
            },
        ],
        model: ModelId::parse("openai/gpt-4o-mini").unwrap(),
        parameters: ModelParameters::default(),
        response_format: ResponseFormat::Text,
    }
}

/// The seeded scores: per version, the `tone` score of every case and the
/// cases that fail `greeting` (a pass/fail criterion) or cannot be scored.
pub struct Seeded {
    pub text: &'static str,
    pub tone: f64,
    pub greeting_fails: &'static [usize],
    pub unscored: &'static [usize],
    pub gate: GateOutcome,
}

pub const VERSIONS: [Seeded; 3] = [
    Seeded {
        text: "Hello {{ name }}, how can I help?",
        tone: 0.5,
        greeting_fails: &[],
        unscored: &[],
        gate: GateOutcome::Passed,
    },
    Seeded {
        text: "Hi {{ name }}! How can I help you today?",
        tone: 0.75,
        greeting_fails: &[3],
        unscored: &[],
        gate: GateOutcome::Passed,
    },
    Seeded {
        text: "Hi {{ name }}. State your problem.",
        tone: 0.6,
        greeting_fails: &[3],
        unscored: &[5],
        gate: GateOutcome::Failed,
    },
];

/// A model call that answered `text` (10 tokens in, 20 out, 100 ms, $0.001).
fn answered(text: String) -> CallOutcome {
    CallOutcome {
        result: Ok(text),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 20,
        },
        latency_ms: 100,
        cost_usd: Some(0.001),
        cached: false,
    }
}

fn result(number: usize, seeded: &Seeded) -> EvalResult {
    let criteria = vec![
        CriterionInfo {
            name: "tone".into(),
            kind: "judge".into(),
            weight: 1.0,
            threshold: None,
            binary: false,
            line: None,
        },
        CriterionInfo {
            name: "greeting".into(),
            kind: "regex".into(),
            weight: 1.0,
            threshold: None,
            binary: true,
            line: None,
        },
    ];
    let cases = (0..CASES)
        .map(|i| {
            let greeting = if seeded.unscored.contains(&i) {
                Err("the regex evaluator failed".to_string())
            } else {
                Ok(Score::pass_fail(
                    !seeded.greeting_fails.contains(&i),
                    "greets by name",
                ))
            };
            CaseResult {
                case_id: format!("case-{i}"),
                vars: serde_json::Map::from_iter([(
                    "name".to_string(),
                    json!(format!("Customer {i}")),
                )]),
                repeats: vec![RepeatResult {
                    call: answered(format!("v{number} answer to customer {i}")),
                    scores: vec![
                        CriterionScore {
                            score: Ok(Score {
                                value: seeded.tone,
                                reason: format!("tone judged {}", seeded.tone),
                                display: None,
                            }),
                        },
                        CriterionScore { score: greeting },
                    ],
                }],
            }
        })
        .collect();
    EvalResult {
        prompt: PROMPT.into(),
        version: VersionId(format!("{number:064}")),
        fingerprint: Fingerprint(format!("fp{number:062}")),
        model: "openai/gpt-4o-mini".into(),
        from_model: true,
        criteria,
        cases,
        created_at: "2026-12-01T10:00:00Z".into(),
    }
}

/// The seeded review labels of `tone` (graded by the judge): on these
/// cases of v1's result, with these grades — too few for its agreement.
pub const TONE_LABELS: [(usize, u8); 4] = [(0, 4), (1, 4), (2, 5), (3, 2)];
/// The judged pass/fail criterion of an earlier run of v3 (not a
/// baseline, so none of its outputs is in the queue), and its labels'
/// table: both passed, the judge failed a pass, the judge passed a fail,
/// both failed. 30 of 49 agree: 61% [46%, 75%], a flagged judge.
pub const POLITENESS: &str = "politeness";
pub const POLITENESS_TABLE: [usize; 4] = [20, 10, 9, 10];

/// The earlier run of v3 that reviewers labelled for politeness.
fn politeness_run() -> EvalResult {
    let [both_pass, missed, false_pass, both_fail] = POLITENESS_TABLE;
    let judge_passes = (0..both_pass)
        .map(|_| true)
        .chain((0..missed).map(|_| false))
        .chain((0..false_pass).map(|_| true))
        .chain((0..both_fail).map(|_| false));
    let cases = judge_passes
        .enumerate()
        .map(|(i, passes)| CaseResult {
            case_id: format!("polite-{i}"),
            vars: serde_json::Map::from_iter([("name".to_string(), json!(format!("Guest {i}")))]),
            repeats: vec![RepeatResult {
                call: answered(format!("earlier answer to guest {i}")),
                scores: vec![CriterionScore {
                    score: Ok(Score::pass_fail(passes, "polite enough")),
                }],
            }],
        })
        .collect();
    EvalResult {
        prompt: PROMPT.into(),
        version: VersionId(format!("{:064}", 3)),
        fingerprint: Fingerprint(format!("fe{:062}", 3)),
        model: "openai/gpt-4o-mini".into(),
        from_model: true,
        criteria: vec![CriterionInfo {
            name: POLITENESS.into(),
            kind: "judge".into(),
            weight: 1.0,
            threshold: None,
            binary: true,
            line: None,
        }],
        cases,
        created_at: "2026-11-30T10:00:00Z".into(),
    }
}

/// The seeded reviewers' labels: [`TONE_LABELS`] and the politeness run's.
async fn seed_review_labels(registry: &dyn Registry) {
    let label = |output: OutputRef, judge_score: f64, human: HumanScore| ReviewLabel {
        output,
        judge_score,
        human,
        note: None,
        reviewer: "seed".into(),
        labelled_at: "2026-12-01T12:00:00Z".into(),
    };
    let tone_result = result(1, &VERSIONS[0]);
    for (case, grade) in TONE_LABELS {
        let output = OutputRef {
            prompt: PROMPT.into(),
            criterion: "tone".into(),
            fingerprint: tone_result.fingerprint.0.clone(),
            case_id: format!("case-{case}"),
            repeat: 0,
        };
        registry
            .record_review_label(&label(output, VERSIONS[0].tone, HumanScore::Grade(grade)))
            .await
            .unwrap();
    }
    let run = politeness_run();
    registry.record_result(&run, "seed").await.unwrap();
    let [both_pass, missed, _, _] = POLITENESS_TABLE;
    for (i, case) in run.cases.iter().enumerate() {
        let judge = case.repeats[0].scores[0].score.as_ref().unwrap().value;
        // The first two blocks are outputs reviewers passed.
        let human_passes = i < both_pass + missed;
        let output = OutputRef {
            prompt: PROMPT.into(),
            criterion: POLITENESS.into(),
            fingerprint: run.fingerprint.0.clone(),
            case_id: case.case_id.clone(),
            repeat: 0,
        };
        let human = if human_passes {
            HumanScore::Pass
        } else {
            HumanScore::Fail
        };
        registry
            .record_review_label(&label(output, judge, human))
            .await
            .unwrap();
    }
}

async fn set_label(registry: &dyn Registry, label: &str, to: &str) {
    registry
        .move_label(MoveLabel {
            prompt: PROMPT.into(),
            label: label.into(),
            to: LabelTarget::parse(to).unwrap(),
            expect: ExpectFrom::Anything,
            kind: MoveKind::Set,
            forced: false,
            actor: "seed".into(),
            reason: None,
        })
        .await
        .unwrap();
}

/// Executions of the A/B split today: v1 100 calls at 100 ms, 1 error,
/// $0.002 each; v2 100 calls at 300 ms, 20 errors, $0.004 each.
pub const TELEMETRY: [(i64, u64, f64, u64, f64); 2] =
    [(1, 100, 100.0, 1, 0.002), (2, 100, 300.0, 20, 0.004)];

async fn seed(root: &dyn Registry, state: &ServerState) {
    let registry = root.scoped(&Namespace::parse(REPO).unwrap());
    for (index, seeded) in VERSIONS.iter().enumerate() {
        let number = index + 1;
        let result = result(number, seeded);
        registry
            .publish(NewVersion {
                prompt: PROMPT.into(),
                id: result.version.clone(),
                content: content(seeded.text),
                parent: None,
                git_commit: Some(format!("{number:040x}")),
                author: "Ada <ada@example.com>".into(),
                message: Some(format!("change {number}")),
            })
            .await
            .unwrap();
        registry.record_result(&result, "seed").await.unwrap();
        registry
            .set_baseline(
                PROMPT,
                number as u32,
                &result.fingerprint,
                seeded.gate,
                "seed",
            )
            .await
            .unwrap();
    }
    seed_review_labels(registry.as_ref()).await;
    set_label(registry.as_ref(), "staging", "v2").await;
    set_label(registry.as_ref(), "production", "v1").await;
    set_label(registry.as_ref(), "experiment", "v1:50,v2:50").await;
    let other = root.scoped(&Namespace::parse(OTHER_REPO).unwrap());
    other
        .publish(NewVersion {
            prompt: "secret-greeter".into(),
            id: VersionId("9".repeat(64)),
            content: content("Other repository's {{ x }}"),
            parent: None,
            git_commit: None,
            author: "Eve".into(),
            message: None,
        })
        .await
        .unwrap();
    let now = now_ms();
    let mut rows = Vec::new();
    for (version, count, latency, errors, cost) in TELEMETRY {
        for i in 0..count {
            rows.push(StoredExecution {
                repo: REPO.into(),
                prompt: PROMPT.into(),
                version,
                label: "experiment".into(),
                at_ms: now - 1000 - i as i64,
                execution: Execution {
                    latency_ms: latency,
                    outcome: if i < errors {
                        Outcome::Error
                    } else {
                        Outcome::Ok
                    },
                    input_tokens: Some(10),
                    output_tokens: Some(20),
                    cost_usd: Some(cost),
                    feedback: None,
                    quality: None,
                },
                error_kind: None,
                key: None,
                received_at_ms: now,
            });
        }
    }
    state.telemetry.append(rows).await.unwrap();
}

// ---- GitHub's OAuth web flow, stood in ----

/// The stand-in's record: the codes it gave and what each was for.
#[derive(Default)]
struct OAuthWorld {
    codes: BTreeMap<String, String>,
    tokens: BTreeMap<String, String>,
    violations: Vec<String>,
    exchanges: u32,
}

#[derive(Clone)]
struct OAuthStandIn {
    world: Arc<Mutex<OAuthWorld>>,
    client_id: String,
    client_secret: String,
    login: String,
    /// (full name, push, pull)
    repositories: Vec<(String, bool, bool)>,
}

pub struct GitHubOAuthStandIn {
    pub url: String,
    world: Arc<Mutex<OAuthWorld>>,
}

pub const CLIENT_ID: &str = "Iv1.dashboardtest";
pub const CLIENT_SECRET: &str = "dashboard-client-secret-0123456789";

impl GitHubOAuthStandIn {
    /// GitHub on a loopback port: `login` may read `readable` and write
    /// `writable`, through one installation of the App.
    pub async fn start(login: &str, writable: &[&str], readable: &[&str]) -> Self {
        let world = Arc::new(Mutex::new(OAuthWorld::default()));
        let mut repositories: Vec<(String, bool, bool)> = writable
            .iter()
            .map(|r| (r.to_string(), true, true))
            .collect();
        repositories.extend(readable.iter().map(|r| (r.to_string(), false, true)));
        let stand_in = OAuthStandIn {
            world: world.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            login: login.into(),
            repositories,
        };
        let app = axum::Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/installations", get(installations))
            .route(
                "/user/installations/{id}/repositories",
                get(installation_repositories),
            )
            .with_state(stand_in);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GitHubOAuthStandIn { url, world }
    }

    pub fn settings(&self) -> OAuthSettings {
        OAuthSettings {
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            web_url: self.url.clone(),
            api_url: self.url.clone(),
        }
    }

    pub fn exchanges(&self) -> u32 {
        self.world.lock().unwrap().exchanges
    }

    pub fn assert_no_violations(&self) {
        let violations = self.world.lock().unwrap().violations.clone();
        assert!(
            violations.is_empty(),
            "the OAuth stand-in saw: {violations:#?}"
        );
    }
}

#[derive(serde::Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
}

/// GitHub asks the user, then sends the browser back with a code and the
/// state; the user here always agrees.
async fn authorize(State(s): State<OAuthStandIn>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.client_id != s.client_id {
        return (StatusCode::NOT_FOUND, "unknown client").into_response();
    }
    let code = format!("code-{}", now_ms());
    s.world
        .lock()
        .unwrap()
        .codes
        .insert(code.clone(), q.redirect_uri.clone());
    let mut back = url::Url::parse(&q.redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    Redirect::to(back.as_str()).into_response()
}

#[derive(serde::Deserialize)]
struct TokenForm {
    client_id: String,
    client_secret: String,
    code: String,
    redirect_uri: Option<String>,
}

async fn access_token(
    State(s): State<OAuthStandIn>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let mut world = s.world.lock().unwrap();
    world.exchanges += 1;
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        world
            .violations
            .push("the code exchange did not ask for JSON".into());
    }
    // GitHub answers 200 with an `error` for a bad code or client.
    let redirect = world.codes.remove(&form.code);
    if form.client_id != s.client_id || form.client_secret != s.client_secret || redirect.is_none()
    {
        return axum::Json(json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})).into_response();
    }
    if form.redirect_uri.is_some() && form.redirect_uri != redirect {
        return axum::Json(json!({"error": "redirect_uri_mismatch", "error_description": "The redirect_uri does not match."})).into_response();
    }
    let token = format!("ghu_{}", now_ms());
    world.tokens.insert(token.clone(), s.login.clone());
    axum::Json(json!({"access_token": token, "token_type": "bearer", "scope": ""})).into_response()
}

/// The signed-in user of a request's token, or 401 as GitHub answers.
fn authorized(
    s: &OAuthStandIn,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    query: &[(String, String)],
) -> Result<(), Box<Response>> {
    let mut world = s.world.lock().unwrap();
    match contract::contract().lookup(method, path) {
        contract::Lookup::Found(matched) => {
            let problems = contract::contract().check(&matched, method, query, None, &[]);
            world.violations.extend(problems);
        }
        _ => world
            .violations
            .push(format!("{method} {path} is not in GitHub's description")),
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if world.tokens.contains_key(token) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Bad credentials"})),
            )
                .into_response(),
        ))
    }
}

fn checked(s: &OAuthStandIn, operation: &str, body: Value) -> Response {
    let problems = contract::contract().check_response(operation, 200, &body);
    s.world.lock().unwrap().violations.extend(problems);
    axum::Json(body).into_response()
}

fn pairs(query: &BTreeMap<String, String>) -> Vec<(String, String)> {
    query.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

async fn user(State(s): State<OAuthStandIn>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorized(&s, &headers, "GET", "/user", &[]) {
        return *refused;
    }
    let mut body = contract::example("private-user-response-with-public-profile-information");
    body["login"] = json!(s.login);
    checked(&s, "users/get-authenticated", body)
}

const INSTALLATION: u64 = 4242;

async fn installations(
    State(s): State<OAuthStandIn>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(refused) = authorized(&s, &headers, "GET", "/user/installations", &pairs(&q)) {
        return *refused;
    }
    let mut body = contract::example("base-installation-for-auth-user-paginated");
    body["total_count"] = json!(1);
    let mut installation = body["installations"][0].clone();
    installation["id"] = json!(INSTALLATION);
    body["installations"] = json!([installation]);
    checked(&s, "apps/list-installations-for-authenticated-user", body)
}

async fn installation_repositories(
    State(s): State<OAuthStandIn>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/user/installations/{id}/repositories");
    if let Err(refused) = authorized(&s, &headers, "GET", &path, &pairs(&q)) {
        return *refused;
    }
    if id != INSTALLATION {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    }
    let template = contract::example("repository-paginated")["repositories"][0].clone();
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let repositories: Vec<Value> = s
        .repositories
        .iter()
        .filter(|_| page == 1)
        .map(|(full_name, push, pull)| {
            let mut repo = template.clone();
            let (owner, name) = full_name.split_once('/').unwrap();
            repo["full_name"] = json!(full_name);
            repo["name"] = json!(name);
            repo["owner"]["login"] = json!(owner);
            repo["permissions"] = json!({"admin": false, "maintain": false, "push": push, "triage": push, "pull": pull});
            repo
        })
        .collect();
    let body = json!({"total_count": s.repositories.len(), "repositories": repositories});
    checked(
        &s,
        "apps/list-installation-repos-for-authenticated-user",
        body,
    )
}

// ---- a browser-like client ----

/// Follows no redirect by itself and keeps cookies, as a browser would for
/// one origin.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie.join("; "))
        };
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            headers: response.headers().clone(),
            // minijinja escapes `/` too; the tests read the text as a browser shows it.
            body: response.text().await.unwrap().replace("&#x2f;", "/"),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(request).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(url).form(form);
        self.send(request).await
    }
}

/// The value of the hidden `name` field in the first form of `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}
