//! The dashboard in a real browser: Debian's chromium, driven through
//! chromedriver's W3C WebDriver HTTP API with plain reqwest (already a
//! dependency; the dozen commands used here need no WebDriver crate). The
//! real server runs on a seeded SQLite database; the browser signs in with
//! an API key and through GitHub's web flow (a local stand-in), and checks:
//! the pages render with no console error (a resource blocked by the
//! Content-Security-Policy is one), the stylesheet applies, the charts show
//! the seeded numbers, the run page's filters work without JavaScript,
//! promote obeys the policy, a form without its CSRF token is refused, and
//! a label posted from the review queue's form persists (the output leaves
//! the queue, the prompt page counts it) while a reader cannot label.
//!
//! Without chromium and chromedriver the test skips loudly (a failure under
//! `CI`); `scripts/install-test-deps.sh` installs them. With
//! `PROMPTGATE_UPDATE_SCREENSHOTS=1` it saves the main pages as PNG in
//! `docs/` (the README shows them).
#![cfg(unix)]

#[allow(dead_code)]
#[path = "support/fake_github/contract.rs"]
mod contract;
#[path = "support/dashboard_world.rs"]
mod dashboard_world;
#[path = "support/postgres.rs"]
mod postgres;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use dashboard_world::{Backing, GitHubOAuthStandIn, PROMPT, REPO, World};
use promptgate::edges::registry::LabelTarget;
use serde_json::{Value, json};

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// chromium and chromedriver, or `None` after a loud skip.
fn browser_parts() -> Option<(PathBuf, PathBuf)> {
    match (
        which(&["chromium", "chromium-browser"]),
        which(&["chromedriver"]),
    ) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but chromium/chromedriver are missing: run scripts/install-test-deps.sh"
            )
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED the dashboard browser test: install chromium and chromedriver (scripts/install-test-deps.sh) ***\n"
            );
            None
        }
    }
}

/// A chromedriver process and one headless chromium session.
struct Driver {
    process: tokio::process::Child,
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    base: String,
}

impl Driver {
    async fn start(chromium: &Path, driver: &Path) -> Driver {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let process = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = http.get(format!("{base}/status")).send().await
                && let Ok(status) = answer.json::<Value>().await
                && status["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not get ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600", "--force-prefers-reduced-motion", "--blink-settings=preferredColorScheme=1"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Driver {
            process,
            http,
            base: format!("{base}/session/{session}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self) -> String {
        self.script("return document.body.innerText")
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits (up to 20 s) for the page's text to contain `needle`: a click
    /// that submits a form may return before the next page has loaded.
    async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{needle}` never showed in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The console's warnings and errors since the last call.
    async fn console_problems(&self) -> Vec<String> {
        let logs = self
            .command(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        logs.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| matches!(entry["level"].as_str(), Some("SEVERE" | "WARNING")))
            .map(|entry| entry["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn screenshot(&self, name: &str) {
        if std::env::var_os("PROMPTGATE_UPDATE_SCREENSHOTS").is_none() {
            return;
        }
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(format!("dashboard-{name}.png"));
        std::fs::write(&path, bytes).unwrap();
    }

    async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.process.kill().await;
    }
}

/// The outputs (`fingerprint/case`) the review queue's forms label.
async fn queued_outputs(driver: &Driver) -> Vec<String> {
    let keys = driver
        .script("return Array.from(document.querySelectorAll('form.review-label')).map(f => f.fingerprint.value + '/' + f.case_id.value)")
        .await;
    serde_json::from_value(keys).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_chromium() {
    let Some((chromium, driver_path)) = browser_parts() else {
        return;
    };
    let backing = Backing::sqlite().await;
    let github = GitHubOAuthStandIn::start("octocat", &[REPO], &[]).await;
    let world = World::start(&backing.url(), Some(github.settings())).await;
    let driver = Driver::start(&chromium, &driver_path).await;
    let base = &world.base;
    let prompt = format!("{base}/dashboard/repos/{REPO}/prompts/{PROMPT}");

    // Not signed in: the sign-in page.
    driver.go(&format!("{base}/dashboard")).await;
    assert!(
        driver.url().await.ends_with("/dashboard/signin"),
        "{}",
        driver.url().await
    );
    driver.screenshot("signin").await;
    driver.type_into("#api_key", &world.publisher_key).await;
    driver.click("form.stack button[type=submit]").await;
    driver.wait_for_text("your access").await;
    assert!(driver.text().await.contains(REPO));
    // The stylesheet applies (a blocked or missing one would not).
    let header_border = driver
        .script("return getComputedStyle(document.querySelector('header.top')).borderBottomStyle")
        .await;
    assert_eq!(header_border, json!("solid"));
    assert_eq!(driver.console_problems().await, Vec::<String>::new());

    driver.go(&format!("{base}/dashboard/repos/{REPO}")).await;
    let text = driver.text().await;
    assert!(
        text.contains("production: v1") && text.contains("70.0%"),
        "{text}"
    );
    assert_eq!(
        driver
            .script("return document.querySelectorAll('svg.sparkline polyline').length")
            .await,
        json!(1)
    );
    driver.screenshot("prompts").await;
    assert_eq!(driver.console_problems().await, Vec::<String>::new());

    // The charts carry the seeded numbers.
    driver.go(&prompt).await;
    let titles = driver
        .script("return Array.from(document.querySelectorAll('svg.chart circle title')).map(t => t.textContent)")
        .await;
    let titles: Vec<String> = serde_json::from_value(titles).unwrap();
    for expected in [
        "overall: 82.5% at v2",
        "tone: 60.0% at v3",
        "v2: 20.0% at",
        "v1: $0.00200 at",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(expected)),
            "{expected} in {titles:?}"
        );
    }
    assert!(
        driver
            .script("return document.querySelectorAll('svg.chart').length")
            .await
            .as_u64()
            .unwrap()
            >= 5
    );
    // Lines are drawn in the stylesheet's colours.
    let stroke = driver
        .script(
            "return getComputedStyle(document.querySelector('svg.chart .series.s0 circle')).fill",
        )
        .await;
    assert_ne!(stroke, json!("rgb(0, 0, 0)"));
    // v3's gate failed: the button is disabled and says why.
    let disabled = driver
        .script("return Array.from(document.querySelectorAll('button')).filter(b => b.textContent === 'Promote v3 to staging').map(b => b.disabled)")
        .await;
    assert_eq!(disabled, json!([true]));
    assert!(
        driver
            .text()
            .await
            .contains("Refused by the policy: promotion.require_gate_passed: its gate failed")
    );
    driver.screenshot("prompt").await;
    assert_eq!(driver.console_problems().await, Vec::<String>::new());

    // The review queue, from the prompt page's link: label the first output
    // with its form.
    driver.click("a[href$='/review']").await;
    driver.wait_for_text("Review queue: ").await;
    driver.screenshot("review").await;
    assert_eq!(driver.console_problems().await, Vec::<String>::new());
    let before = queued_outputs(&driver).await;
    assert_eq!(before.len(), 20);
    assert!(
        !driver.text().await.contains("tone judged"),
        "no judge score before the label"
    );
    let labels_before = world.review_labels().await.len();
    driver
        .click("form.review-label input[name=human][value='4']")
        .await;
    driver
        .type_into("form.review-label textarea[name=note]", "friendly enough")
        .await;
    driver.click("form.review-label button[type=submit]").await;
    let text = driver.wait_for_text("Label saved").await;
    assert!(text.contains("you said 4; the judge said"), "{text}");
    driver.script("location.reload(); return null").await;
    driver.wait_for_text("Review queue: ").await;
    let after = queued_outputs(&driver).await;
    assert!(!after.contains(&before[0]), "{} is still queued", before[0]);
    let labels = world.review_labels().await;
    assert_eq!(labels.len(), labels_before + 1);
    assert_eq!(
        labels.last().unwrap().note.as_deref(),
        Some("friendly enough")
    );
    assert_eq!(driver.console_problems().await, Vec::<String>::new());
    driver.go(&prompt).await;
    assert!(driver.text().await.contains(&format!(
        "not enough labels yet: {} of 30",
        dashboard_world::TONE_LABELS.len() + 1
    )));

    // The run page's filters are links: they work without JavaScript.
    driver.go(&format!("{prompt}/versions/2/run")).await;
    assert_eq!(
        driver
            .script("return document.querySelectorAll('article.case').length")
            .await,
        json!(10)
    );
    driver.screenshot("run").await;
    driver.click("nav.filters a[href*='show=flipped']").await;
    driver.wait_for_text("flipped to fail (1)").await;
    assert!(driver.url().await.contains("show=flipped"));
    assert_eq!(
        driver
            .script("return document.querySelectorAll('article.case').length")
            .await,
        json!(1)
    );
    assert!(driver.text().await.contains("v1 answer to customer 3"));
    assert_eq!(driver.console_problems().await, Vec::<String>::new());

    // Promote v2 (on staging, gate passed) to production from its page.
    driver.go(&format!("{prompt}/versions/2")).await;
    driver.screenshot("version").await;
    assert_eq!(driver.console_problems().await, Vec::<String>::new());
    driver
        .click("form[action$='/promote'] input[value=production] ~ button")
        .await;
    driver.wait_for_text("v2 promoted to production").await;
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(2))
    );

    // The same form without its CSRF token is refused.
    driver
        .script("const f = document.querySelector('form[action$=\"/rollback\"]'); f.querySelector('input[name=csrf]').remove(); f.submit(); return null")
        .await;
    driver.wait_for_text("CSRF").await;
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(2))
    );
    // The console reports that refusal: the checks of it would catch an error.
    let problems = driver.console_problems().await;
    assert!(
        problems.len() == 1 && problems[0].contains("/rollback") && problems[0].contains("403"),
        "{problems:?}"
    );

    // Sign out, then in again with GitHub.
    driver.go(&format!("{base}/dashboard")).await;
    driver.click("form.signout button").await;
    driver.wait_for_text("API key").await;
    assert!(driver.url().await.ends_with("/dashboard/signin"));
    driver.click("a[href='/dashboard/signin/github']").await;
    let text = driver.wait_for_text("octocat").await;
    assert!(text.contains(REPO), "{text}");
    assert_eq!(driver.console_problems().await, Vec::<String>::new());
    github.assert_no_violations();

    // A reader (a `read` key) sees the queue without forms, is told why,
    // and a label it posts anyway is refused.
    driver.click("form.signout button").await;
    driver.wait_for_text("API key").await;
    driver.type_into("#api_key", &world.reader_key).await;
    driver.click("form.stack button[type=submit]").await;
    driver.wait_for_text("your access").await;
    driver.go(&format!("{prompt}/review")).await;
    let text = driver.wait_for_text("Review queue: ").await;
    assert!(text.contains("Labelling needs write access"), "{text}");
    assert_eq!(
        driver
            .script("return document.querySelectorAll('form.review-label').length")
            .await,
        json!(0)
    );
    let labels_before = world.review_labels().await.len();
    driver
        .script(&format!(
            "const f = document.createElement('form'); f.method = 'post'; f.action = '{prompt}/review'; \
             const token = document.querySelector('form.signout input[name=csrf]').value; \
             for (const [n, v] of Object.entries({{csrf: token, criterion: 'tone', fingerprint: 'fp{:062}', case_id: 'case-9', repeat: '0', human: '5'}})) {{ \
               const i = document.createElement('input'); i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); }} \
             document.body.appendChild(f); f.submit(); return null",
            1
        ))
        .await;
    driver
        .wait_for_text("needs write access to the repository")
        .await;
    assert_eq!(world.review_labels().await.len(), labels_before);
    let problems = driver.console_problems().await;
    assert!(
        problems.len() == 1 && problems[0].contains("/review") && problems[0].contains("403"),
        "{problems:?}"
    );

    driver.quit().await;
    world.stop().await;
}
