//! The web dashboard of `promptgate serve`: server-rendered HTML (minijinja
//! templates in `templates/dashboard/`), readable without JavaScript and
//! loading nothing from elsewhere (a strict Content-Security-Policy; charts
//! are inline SVG drawn here).
//!
//! Nothing shows without signing in: with an API key (any installation), or
//! with GitHub through the App's OAuth credentials ([`oauth`]). Sessions
//! live in the server's database ([`sessions`]); every form carries a CSRF
//! token ([`csrf`]). Promote and rollback go through the registry under the
//! same promotion policy as the API.
//!
//! The pages: repositories → prompts (labels, latest version, last verdict,
//! score sparkline) → a prompt (scores per version, labels and their
//! history, judge agreement with reviewers, production telemetry per
//! version and per A/B arm, promote and rollback) → a version (messages,
//! word diff against another version, its result) → its run (every case,
//! head against baseline, with filters); and a prompt's review queue
//! ([`review`]: judged outputs to label, the judge's score hidden until
//! the label is saved).

/// The value of a step that answers with the page itself when it fails.
macro_rules! or_answer {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

pub mod charts;
pub mod csrf;
mod data;
pub mod oauth;
mod pages;
mod review;
pub mod scores;
pub mod sessions;
mod views;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::ServerState;
use crate::edges::db::Database;
pub use oauth::OAuthSettings;

/// The dashboard's path prefix.
pub const PREFIX: &str = "/dashboard";

/// How the dashboard is set up (`[dashboard]` in the server config).
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// "Sign in with GitHub"; `None`: API keys only.
    pub oauth: Option<OAuthSettings>,
    /// The server's address as browsers reach it (for GitHub's redirect
    /// back); without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    pub session_lifetime: Duration,
    /// The environments promotions go through, in order.
    pub environments: Vec<String>,
    /// Shows the prompt's review queue in the navigation of a prompt's
    /// pages (on by default; the prompt page links to it either way).
    pub review_queue: bool,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            oauth: None,
            public_url: None,
            session_lifetime: Duration::from_secs(8 * 3600),
            environments: super::registry_api::DEFAULT_ENVIRONMENTS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            review_queue: true,
        }
    }
}

/// The dashboard's share of the server state.
pub struct Dashboard {
    settings: DashboardSettings,
    sessions: sessions::Sessions,
    oauth: Option<oauth::GitHubOAuth>,
    templates: Environment<'static>,
    scores: scores::ScoreCache,
    db: Database,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Every template, embedded in the binary.
const TEMPLATES: [(&str, &str); 10] = [
    (
        "base.html.j2",
        include_str!("../../../templates/dashboard/base.html.j2"),
    ),
    (
        "signin.html.j2",
        include_str!("../../../templates/dashboard/signin.html.j2"),
    ),
    (
        "repositories.html.j2",
        include_str!("../../../templates/dashboard/repositories.html.j2"),
    ),
    (
        "prompts.html.j2",
        include_str!("../../../templates/dashboard/prompts.html.j2"),
    ),
    (
        "prompt.html.j2",
        include_str!("../../../templates/dashboard/prompt.html.j2"),
    ),
    (
        "version.html.j2",
        include_str!("../../../templates/dashboard/version.html.j2"),
    ),
    (
        "run.html.j2",
        include_str!("../../../templates/dashboard/run.html.j2"),
    ),
    (
        "review.html.j2",
        include_str!("../../../templates/dashboard/review.html.j2"),
    ),
    (
        "promote.html.j2",
        include_str!("../../../templates/dashboard/promote.html.j2"),
    ),
    (
        "error.html.j2",
        include_str!("../../../templates/dashboard/error.html.j2"),
    ),
];

/// The stylesheet and the icon, served from the dashboard's own origin.
const STYLESHEET: &str = include_str!("../../../templates/dashboard/dashboard.css");
const ICON: &str = include_str!("../../../templates/dashboard/favicon.svg");

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompt text, model output and names are untrusted.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("the dashboard's templates parse (tested)");
    }
    env.add_template(
        crate::pipeline::report::html::CASE_PARTIAL_NAME,
        crate::pipeline::report::html::CASE_PARTIAL,
    )
    .expect("the report's case partial parses (tested)");
    env
}

impl Dashboard {
    /// The sign-in sessions (benchmarks and tests sign in through them).
    pub fn sessions(&self) -> &sessions::Sessions {
        &self.sessions
    }

    pub fn new(db: Database, settings: DashboardSettings) -> Self {
        Dashboard {
            sessions: sessions::Sessions::new(db.clone(), settings.session_lifetime),
            oauth: settings.oauth.clone().map(oauth::GitHubOAuth::new),
            templates: environment(),
            scores: scores::ScoreCache::default(),
            db,
            settings,
        }
    }
}

/// The strict policy every dashboard page is served with: only this
/// origin's stylesheet; no script, no frame, no form posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes.
pub fn routes() -> Router<ServerState> {
    let repo = format!("{PREFIX}/repos/{{owner}}/{{repo}}");
    let prompt = format!("{repo}/prompts/{{name}}");
    Router::new()
        .route("/", get(pages::home))
        .route(PREFIX, get(pages::repositories))
        .route(
            &format!("{PREFIX}/assets/dashboard.css"),
            get(|| asset("text/css; charset=utf-8", STYLESHEET)),
        )
        .route(
            &format!("{PREFIX}/assets/icon.svg"),
            get(|| asset("image/svg+xml", ICON)),
        )
        .route(
            &format!("{PREFIX}/signin"),
            get(pages::signin_page).post(pages::signin_with_key),
        )
        .route(&format!("{PREFIX}/signin/github"), get(pages::github_start))
        .route(
            &format!("{PREFIX}/signin/github/callback"),
            get(pages::github_callback),
        )
        .route(&format!("{PREFIX}/signout"), post(pages::signout))
        .route(&repo, get(pages::prompts))
        .route(&prompt, get(pages::prompt))
        .route(&format!("{prompt}/versions/{{n}}"), get(pages::version))
        .route(&format!("{prompt}/versions/{{n}}/run"), get(pages::run))
        .route(&format!("{prompt}/promote"), post(pages::promote))
        .route(&format!("{prompt}/rollback"), post(pages::rollback))
        .route(
            &format!("{prompt}/review"),
            get(review::queue).post(review::label),
        )
        .layer(axum::middleware::map_response(security_headers))
}

async fn asset(
    content_type: &'static str,
    body: &'static str,
) -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        let env = super::environment();
        for (name, _) in super::TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
