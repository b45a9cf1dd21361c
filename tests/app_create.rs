//! `promptgate app create`, end to end: the real binary serves its page on
//! loopback, a browser stand-in (reqwest) posts the page's form to the fake
//! GitHub's manifest form, follows GitHub's redirect back with the code, and
//! the binary exchanges the code through the contract-checked
//! `POST /app-manifests/{code}/conversions` and writes the App's files.

#[path = "support/fake_github/mod.rs"]
mod fake_github;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_github::{APP_ID, APP_PRIVATE_KEY, FakeGitHub};
use promptgate::edges::github::{AppCredentials, ClientOptions, GitHubApp, Secret};
use promptgate::server::settings::ServeSettings;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

const SERVER_URL: &str = "https://gate.acme.dev";

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the test finished in time")
}

/// A running `promptgate app create` and what it printed.
struct Run {
    child: tokio::process::Child,
    /// The loopback page it asked us to open.
    page: String,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Run {
    async fn start(fake: &FakeGitHub, out: &Path, extra: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(["app", "create", "--github-url"])
            .arg(fake.api_url())
            .arg("--api-url")
            .arg(fake.api_url())
            .arg("--out")
            .arg(out)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("promptgate runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let page = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("promptgate printed no loopback URL:\n{printed}"));
            printed.push_str(&line);
            printed.push('\n');
            if let Some(url) = line.trim().strip_prefix("http://127.0.0.1:") {
                break format!("http://127.0.0.1:{url}");
            }
        };
        let stdout = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                printed.push_str(&line);
                printed.push('\n');
            }
            printed
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            page,
            stdout,
            stderr,
        }
    }

    /// Exit code, stdout, stderr.
    async fn finish(mut self) -> (i32, String, String) {
        let status = self.child.wait().await.unwrap();
        (
            status.code().unwrap_or(-1),
            self.stdout.await.unwrap(),
            self.stderr.await.unwrap(),
        )
    }
}

/// The page's form: where it posts and the manifest it carries.
struct Form {
    action: String,
    manifest: String,
}

impl Form {
    fn state(&self) -> String {
        url::Url::parse(&self.action)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("the form's action carries a state")
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn open_form(browser: &reqwest::Client, page: &str) -> Form {
    let html = browser
        .get(page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attribute = |after: &str| {
        let start = html
            .find(after)
            .unwrap_or_else(|| panic!("no {after} in:\n{html}"))
            + after.len();
        let end = start + html[start..].find('"').unwrap();
        unescape(&html[start..end])
    };
    Form {
        action: attribute("action=\""),
        manifest: attribute("name=\"manifest\" value=\""),
    }
}

/// What a browser does with the form: posts it, follows GitHub's redirect.
async fn submit(browser: &reqwest::Client, form: &Form) -> (u16, String) {
    let response = browser
        .post(&form.action)
        .form(&[("manifest", form.manifest.as_str())])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn shipped_manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/app-manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn one_command_creates_the_app_and_writes_a_config_the_server_accepts() {
    within(async {
        let fake = FakeGitHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app");
        let run = Run::start(
            &fake,
            &out,
            &["--url", SERVER_URL, "--name", "promptgate-acme"],
        )
        .await;
        let browser = browser();
        let form = open_form(&browser, &run.page).await;
        assert!(
            form.action
                .starts_with(&format!("{}/settings/apps/new?state=", fake.api_url())),
            "{}",
            form.action
        );
        let (status, page) = submit(&browser, &form).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("The App is created"), "{page}");
        let loopback = run.page.clone();
        let (code, stdout, stderr) = run.finish().await;
        assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

        // GitHub got the shipped permissions and events, our webhook and our callback.
        let manifest: Value = serde_json::from_str(&form.manifest).unwrap();
        let shipped = shipped_manifest();
        assert_eq!(
            manifest["default_permissions"],
            shipped["default_permissions"]
        );
        assert_eq!(manifest["default_events"], shipped["default_events"]);
        assert_eq!(
            manifest["hook_attributes"]["url"],
            format!("{SERVER_URL}/webhooks/github")
        );
        assert_eq!(manifest["hook_attributes"]["active"], true);
        assert_eq!(manifest["redirect_url"], format!("{loopback}callback"));

        // The key and the secret, private; the config, accepted by the server as is.
        let out = out.canonicalize().unwrap();
        let key = out.join("promptgate-app.pem");
        let secret_file = out.join("webhook-secret");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), APP_PRIVATE_KEY);
        let secret = fake
            .world()
            .manifest_apps
            .values()
            .next()
            .unwrap()
            .webhook_secret
            .clone();
        assert_eq!(
            std::fs::read_to_string(&secret_file).unwrap().trim(),
            secret
        );
        #[cfg(unix)]
        {
            assert_eq!(mode(&key), 0o600);
            assert_eq!(mode(&secret_file), 0o600);
        }
        let settings = ServeSettings::load(Some(&out.join("server.toml")), &|_| None)
            .expect("the written config loads");
        assert_eq!(settings.webhook_secrets, vec![Secret::new(&secret)]);
        let app = settings.github_app.expect("the App is configured");
        assert_eq!(app.app_id, APP_ID);
        assert_eq!(app.api_url, fake.api_url());
        assert_eq!(app.private_key_path, key);
        // The written id and key authenticate as the App (the fake checks the JWT).
        let github = GitHubApp::new(
            &app.api_url,
            &AppCredentials {
                app_id: app.app_id,
                private_key_pem: app.private_key,
            },
            ClientOptions::default(),
        )
        .unwrap();
        assert_eq!(github.bot_login().await.unwrap(), "promptgate[bot]");

        // The App's page and its installation link; no secret on the terminal.
        let html_url = format!("{}/apps/promptgate-acme", fake.api_url());
        assert!(stdout.contains(&html_url), "{stdout}");
        assert!(
            stdout.contains(&format!("{html_url}/installations/new")),
            "{stdout}"
        );
        let printed = format!("{stdout}{stderr}");
        assert!(!printed.contains(&secret), "{printed}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
        let key_line = APP_PRIVATE_KEY.lines().nth(1).unwrap();
        assert!(!printed.contains(key_line), "{printed}");
        assert_eq!(fake.requests_to("apps/create-from-manifest").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused_and_the_run_goes_on() {
    within(async {
        let fake = FakeGitHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        let run = Run::start(&fake, dir.path(), &["--org", "acme", "--url", SERVER_URL]).await;
        let browser = browser();
        let form = open_form(&browser, &run.page).await;
        assert!(
            form.action.starts_with(&format!(
                "{}/organizations/acme/settings/apps/new?state=",
                fake.api_url()
            )),
            "{}",
            form.action
        );
        // A forged callback: GitHub-shaped, but not this run's state.
        for forged in [
            format!("{}callback?code=stolen&state=0123456789abcdef", run.page),
            format!("{}callback?code=stolen", run.page),
        ] {
            let response = browser.get(&forged).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 400, "{forged}");
        }
        assert!(fake.requests_to("apps/create-from-manifest").is_empty());
        assert!(!dir.path().join("promptgate-app.pem").exists());

        let (status, page) = submit(&browser, &form).await;
        assert_eq!(status, 200, "{page}");
        let (code, stdout, stderr) = run.finish().await;
        assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains("refused a callback"), "{stderr}");
        let app = fake.world().manifest_apps.values().next().unwrap().clone();
        assert_eq!(app.org.as_deref(), Some("acme"));
        assert!(dir.path().join("promptgate-app.pem").exists());
    })
    .await;
}

#[tokio::test]
async fn an_expired_or_refused_code_is_a_clear_error_with_exit_2() {
    within(async {
        let fake = FakeGitHub::start().await;
        let browser = browser();

        // A code GitHub does not know (expired after an hour, or spent): 404.
        let dir = tempfile::tempdir().unwrap();
        let run = Run::start(&fake, dir.path(), &[]).await;
        let form = open_form(&browser, &run.page).await;
        let expired = format!(
            "{}callback?code=expiredcode1&state={}",
            run.page,
            form.state()
        );
        let response = browser.get(&expired).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 502);
        let (code, stdout, stderr) = run.finish().await;
        assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(
            stderr.contains("codes last one hour") && stderr.contains("404"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let written: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(written.is_empty(), "{written:?}");

        // GitHub refuses the conversion: 422.
        let dir = tempfile::tempdir().unwrap();
        fake.fail_next("apps/create-from-manifest", 422, 1);
        let run = Run::start(&fake, dir.path(), &[]).await;
        let form = open_form(&browser, &run.page).await;
        let (status, _) = submit(&browser, &form).await;
        assert_eq!(status, 502);
        let (code, _, stderr) = run.finish().await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("HTTP 422"), "{stderr}");
        assert!(!dir.path().join("server.toml").exists());
    })
    .await;
}

#[test]
fn existing_files_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("promptgate-app.pem"), "mine").unwrap();
    let out = assert_cmd::Command::cargo_bin("promptgate")
        .unwrap()
        .args(["app", "create", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("promptgate-app.pem")).unwrap(),
        "mine"
    );
}
