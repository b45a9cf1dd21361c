//! `promptgate app create`: registers the GitHub App from its manifest in one
//! command. A page on loopback posts the manifest to GitHub; GitHub sends the
//! browser back with a one-time code; the code is exchanged for the App's id,
//! private key and webhook secret, which are written next to a server config
//! that `promptgate serve --config` accepts as is. Secrets go to files (mode
//! 0600), never to the terminal.

use super::console::outln;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use clap::{Args, Subcommand};
use tokio::sync::oneshot;

use super::Outcome;
use crate::edges::github::manifest::{self, CreatedApp, ManifestOptions};
use crate::pipeline::report::escape::html as escape;
use crate::server::settings::{StarterConfig, starter_config};

/// How long the command waits for the browser: GitHub's codes last an hour.
const WAIT_FOR_BROWSER: Duration = Duration::from_secs(60 * 60);
/// The code exchange is one request; GitHub answers it in well under this.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

const KEY_FILE: &str = "promptgate-app.pem";
const SECRET_FILE: &str = "webhook-secret";
const CONFIG_FILE: &str = "server.toml";

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register promptgate's GitHub App on GitHub and write its private key,
    /// webhook secret and a ready server config.
    ///
    /// Serves a page on 127.0.0.1 and prints its address: open it in a
    /// browser signed in to GitHub, press the button, confirm on GitHub. The
    /// command then writes the files and prints the link that installs the
    /// App on repositories.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Create the App for this organization (you must be one of its owners)
    /// instead of your own account.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,

    /// The public HTTPS address of your promptgate server (e.g.
    /// `https://promptgate.example.com`); webhooks go to URL/webhooks/github.
    /// Without it the App's webhook starts inactive: set the URL in the App's
    /// settings once the server has one.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The App's name, unique across GitHub (you can still change it on
    /// GitHub's page).
    #[arg(long, value_name = "NAME", default_value = "promptgate")]
    pub name: String,

    /// GitHub's web address: a GitHub Enterprise Server's `https://HOST`.
    #[arg(
        long,
        value_name = "URL",
        env = "PROMPTGATE_GITHUB_URL",
        default_value = manifest::DEFAULT_WEB_URL
    )]
    pub github_url: String,

    /// GitHub's REST API (default: `https://api.github.com` for github.com,
    /// `GITHUB_URL/api/v3` for a GitHub Enterprise Server).
    #[arg(long, value_name = "URL", env = "PROMPTGATE_GITHUB_API_URL")]
    pub api_url: Option<String>,

    /// Where to write the key, the webhook secret and server.toml (created
    /// if missing; existing files are never overwritten).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

pub fn run(args: AppArgs) -> anyhow::Result<Outcome> {
    match args.command {
        AppCommand::Create(args) => super::block_on(create(args)),
    }
}

/// The flow's inputs, checked before anything is served.
struct Plan {
    org: Option<String>,
    name: String,
    server_url: Option<url::Url>,
    web_url: String,
    api_url: String,
    out: PathBuf,
}

fn plan(args: CreateArgs) -> anyhow::Result<Plan> {
    if let Some(org) = &args.org
        && (org.is_empty()
            || org.starts_with('-')
            || !org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        bail!("--org `{org}` is not a GitHub organization name (letters, digits and `-`)");
    }
    let name = args.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 34 {
        bail!("--name must be 1 to 34 characters (GitHub's limit for App names)");
    }
    let server_url = args
        .url
        .as_deref()
        .map(|raw| http_url("--url", raw))
        .transpose()?;
    if let Some(url) = &server_url
        && url.scheme() == "http"
    {
        eprintln!(
            "warning: --url {url} is not HTTPS; GitHub sends webhooks to it in clear text (see \"HTTPS\" in docs/server.md)"
        );
    }
    let web_url = http_url("--github-url", &args.github_url)?
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let api_url = match args.api_url {
        Some(raw) => http_url("--api-url", &raw)?
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        None => manifest::api_url_for(&web_url),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("cannot resolve the output directory {}", args.out.display()))?;
    // Refuse now, not after GitHub created an App whose key we could not keep.
    for file in [KEY_FILE, SECRET_FILE, CONFIG_FILE] {
        let path = out.join(file);
        if path.exists() {
            bail!(
                "{} already exists; choose another --out directory (promptgate never overwrites a key or a config)",
                path.display()
            );
        }
    }
    Ok(Plan {
        org: args.org,
        name,
        server_url,
        web_url,
        api_url,
        out,
    })
}

fn http_url(flag: &str, raw: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(raw.trim()).with_context(|| {
        format!("{flag} `{raw}` is not a URL (e.g. https://promptgate.example.com)")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("{flag} `{raw}` must be an https:// address with a host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("{flag} `{raw}` must not have a query or a fragment");
    }
    Ok(url)
}

/// What the loopback pages share.
struct Flow {
    /// Echoed by GitHub on the redirect: a callback without it is not ours.
    state: String,
    form_page: String,
    api_url: String,
    out: PathBuf,
    done: Mutex<Option<oneshot::Sender<anyhow::Result<Created>>>>,
}

/// The App and the files written for it.
struct Created {
    app: CreatedApp,
    key: PathBuf,
    secret: Option<PathBuf>,
    config: PathBuf,
}

async fn create(args: CreateArgs) -> anyhow::Result<Outcome> {
    let plan = plan(args)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot listen on 127.0.0.1")?;
    let local = listener.local_addr().context("the loopback address")?;
    let state = random_hex();
    let redirect_url = format!("http://{local}/callback");
    let manifest = manifest::manifest(&ManifestOptions {
        name: plan.name.clone(),
        server_url: plan.server_url.clone(),
        redirect_url,
    });
    let action = manifest::creation_url(&plan.web_url, plan.org.as_deref(), &state);
    let (tx, rx) = oneshot::channel();
    let flow = Arc::new(Flow {
        form_page: form_page(&action, &manifest.to_string(), plan.org.as_deref()),
        state,
        api_url: plan.api_url.clone(),
        out: plan.out.clone(),
        done: Mutex::new(Some(tx)),
    });
    let router = axum::Router::new()
        .route("/", axum::routing::get(show_form))
        .route("/callback", axum::routing::get(callback))
        .with_state(Arc::clone(&flow));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    let owner = match &plan.org {
        Some(org) => format!("an owner of the organization {org}"),
        None => "the account that will own the App".to_owned(),
    };
    outln!("Open this page in a browser signed in to GitHub as {owner}:");
    outln!();
    outln!("    http://{local}/");
    outln!();
    outln!(
        "It sends the App's manifest to {}; confirm there, and GitHub sends you back here.",
        plan.web_url
    );
    outln!("Waiting (up to an hour; Ctrl-C stops)…");
    let _ = std::io::stdout().flush();

    let outcome = tokio::select! {
        result = rx => result.unwrap_or_else(|_| Err(anyhow::anyhow!("the loopback server stopped"))),
        _ = tokio::time::sleep(WAIT_FOR_BROWSER) => Err(anyhow::anyhow!(
            "nobody finished the form within an hour; run `promptgate app create` again"
        )),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("stopped (Ctrl-C) before GitHub sent the App back")),
    };
    let _ = stop_tx.send(());
    // Let the last page reach the browser; an idle keep-alive must not hold us.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let created = outcome?;
    report(&created, &plan)?;
    Ok(Outcome::Success)
}

fn report(created: &Created, plan: &Plan) -> anyhow::Result<()> {
    let app = &created.app;
    outln!();
    outln!(
        "Created the GitHub App {} (id {}): {}",
        app.name,
        app.id,
        app.html_url
    );
    outln!("Wrote:");
    outln!(
        "  {}  the App's private key (mode 0600)",
        created.key.display()
    );
    if let Some(secret) = &created.secret {
        outln!("  {}  the webhook secret (mode 0600)", secret.display());
    }
    outln!("  {}  the server config", created.config.display());
    if created.secret.is_none() {
        outln!(
            "GitHub gave no webhook secret: set one in the App's settings and follow the note in {}.",
            created.config.display()
        );
    }
    outln!();
    outln!("Next:");
    outln!(
        "  1. Install the App on your repositories: {}",
        app.installation_url()
    );
    outln!(
        "  2. Start the server: promptgate serve --listen 127.0.0.1:8080 --config {}",
        created.config.display()
    );
    match &plan.server_url {
        Some(url) => outln!(
            "     and make {} reach it through an HTTPS reverse proxy (docs/server.md, \"HTTPS and a reverse proxy\").",
            manifest::webhook_url(url)
        ),
        None => outln!(
            "     The App's webhook is inactive: once the server has a public HTTPS address, set the\n     webhook URL to https://YOUR-HOST/webhooks/github in the App's settings and tick \"Active\"."
        ),
    }
    Ok(())
}

async fn show_form(State(flow): State<Arc<Flow>>) -> Html<String> {
    Html(flow.form_page.clone())
}

async fn callback(
    State(flow): State<Arc<Flow>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state_ok = query
        .get("state")
        .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
    if !state_ok {
        eprintln!(
            "refused a callback whose `state` is not this run's (a stale tab, or a request that did not come from GitHub)"
        );
        return page(
            StatusCode::BAD_REQUEST,
            "Not this run's callback",
            "The <code>state</code> of this request is not the one this run of <code>promptgate app create</code> sent to GitHub. Nothing was created here; use the page the terminal shows.",
        );
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "No code",
            "GitHub sends the browser back with a <code>code</code>; this request has none.",
        );
    };
    let Some(done) = flow.done.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return page(
            StatusCode::CONFLICT,
            "Already done",
            "This run has already received its App; see the terminal.",
        );
    };
    let result = finish(&flow, code).await;
    let response = match &result {
        Ok(created) => page(
            StatusCode::OK,
            "The App is created",
            &format!(
                "<p>{} is registered on GitHub; its key and config are written (see the terminal).</p><p><a href=\"{}\">Install it on your repositories</a>.</p>",
                escape(&created.app.name),
                escape(&created.app.installation_url())
            ),
        ),
        Err(error) => page(
            StatusCode::BAD_GATEWAY,
            "The App could not be completed",
            &escape(&super::render_error(error)),
        ),
    };
    let _ = done.send(result);
    response
}

/// Exchanges the code and writes the files.
async fn finish(flow: &Flow, code: &str) -> anyhow::Result<Created> {
    let app = manifest::convert_code(&flow.api_url, code, EXCHANGE_TIMEOUT)
        .await
        .context("exchanging GitHub's code for the App's credentials")?;
    let key = flow.out.join(KEY_FILE);
    write_private(&key, app.pem.expose())?;
    let secret = match &app.webhook_secret {
        Some(value) => {
            let path = flow.out.join(SECRET_FILE);
            write_private(&path, &format!("{}\n", value.expose()))?;
            Some(path)
        }
        None => None,
    };
    let config = flow.out.join(CONFIG_FILE);
    let text = starter_config(&StarterConfig {
        app_name: &app.name,
        app_id: app.id,
        api_url: &flow.api_url,
        private_key_path: &key,
        webhook_secret_path: secret.as_deref(),
        data_root: &flow.out,
    });
    write_new(&config, &text, 0o644)?;
    Ok(Created {
        app,
        key,
        secret,
        config,
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    write_new(path, text, 0o600)
}

/// Creates `path` (never replacing a file) with `mode` from the start, so the
/// secret is never readable by others, not even for a moment.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn form_page(action: &str, manifest: &str, org: Option<&str>) -> String {
    let whom = match org {
        Some(org) => format!("the organization <b>{}</b>", escape(org)),
        None => "your account".to_owned(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>promptgate: create the GitHub App</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">\n\
         <h1>Create promptgate's GitHub App</h1>\n\
         <p>This sends promptgate's App manifest (its permissions, events and webhook address) to GitHub, which creates the App for {whom} once you confirm. GitHub then sends you back here, and <code>promptgate app create</code> writes the App's key and server config.</p>\n\
         <form id=\"create\" action=\"{action}\" method=\"post\">\n\
         <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\n\
         <button type=\"submit\">Create the App on GitHub</button>\n\
         </form>\n</body></html>\n",
        action = escape(action),
        manifest = escape(manifest),
    )
}

fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>promptgate: {title}</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\"><h1>{title}</h1>\n<p>{body_html}</p>\n</body></html>\n"
    );
    (status, Html(html)).into_response()
}

fn random_hex() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_the_manifest_escaped() {
        let page = form_page(
            "https://github.com/settings/apps/new?state=ab",
            r#"{"name":"a<b>&'c'"}"#,
            Some("acme"),
        );
        assert!(
            page.contains(r#"value="{&quot;name&quot;:&quot;a&lt;b&gt;&amp;&#39;c&#39;&quot;}""#),
            "{page}"
        );
        assert!(page.contains(r#"action="https://github.com/settings/apps/new?state=ab""#));
    }

    #[test]
    fn bad_flags_are_refused_before_anything_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let args = |org: Option<&str>, url: Option<&str>| CreateArgs {
            org: org.map(str::to_owned),
            url: url.map(str::to_owned),
            name: "promptgate".into(),
            github_url: manifest::DEFAULT_WEB_URL.into(),
            api_url: None,
            out: dir.path().to_path_buf(),
        };
        let error = plan(args(Some("acme/../x"), None))
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("--org"), "{error}");
        let error = plan(args(None, Some("gate.acme.dev")))
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("--url"), "{error}");
        let ok = plan(args(Some("acme"), Some("https://gate.acme.dev"))).unwrap();
        assert_eq!(ok.api_url, "https://api.github.com");
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        let error = plan(args(None, None)).err().unwrap().to_string();
        assert!(error.contains("already exists"), "{error}");
    }
}
