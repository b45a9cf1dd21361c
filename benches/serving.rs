//! Serving a prompt by label with an A/B key, against a bare axum handler
//! that returns the same bytes: the real `promptgate serve` (release build
//! under `cargo bench`) on a SQLite database, and a bare server (this bench
//! binary started again as a child process) answering every GET with the
//! body and headers promptgate answered. Both are loaded by `wrk` (Debian's
//! package `wrk`) on loopback, 64 connections, each request a new A/B key;
//! runs alternate (bare, promptgate, bare, promptgate, …) so drift in the
//! machine's load falls on both. Prints requests per second, p50 and p99 of
//! each, and the throughput ratio.
//!
//!     cargo bench --bench serving
//!
//! Under `cargo test` (no `--bench` argument) it checks that both servers
//! answer the same bytes and runs one short round when `wrk` is installed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use promptgate::edges::db::Database;
use promptgate::edges::registry::{
    self, ExpectFrom, LabelTarget, MoveKind, MoveLabel, Namespace, NewVersion,
};
use promptgate::server::{ApiKeys, KeyReach, Scope, schema};
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, VersionId,
};

type Error = Box<dyn std::error::Error>;

const REPO: &str = "octo/bench";
const CONNECTIONS: u32 = 64;
/// Set in the child that serves the bare handler: the file holding the
/// response to give (status line excluded: headers, blank line, body).
const BARE_RESPONSE_ENV: &str = "PROMPTGATE_BENCH_BARE_RESPONSE";

/// wrk's script: every request a new A/B key, the API key in a header.
const WRK_SCRIPT: &str = r#"
local counter = 0
local key = os.getenv("PROMPTGATE_BENCH_KEY")
request = function()
  counter = counter + 1
  local path = "/v1/repos/octo/bench/prompts/support?label=production&key=user-" .. counter
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. key })
end
"#;

fn main() -> Result<(), Error> {
    if let Ok(file) = std::env::var(BARE_RESPONSE_ENV) {
        return serve_bare(Path::new(&file));
    }
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("serving.db").display());
    let key = runtime.block_on(prepare(&url, dir.path()))?;

    let config = dir.path().join("server.toml");
    std::fs::write(&config, "")?;
    let mut promptgate = Command::new(env!("CARGO_BIN_EXE_promptgate"));
    promptgate
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("PROMPTGATE_WEBHOOK_SECRET", "serving-bench-secret-0")
        .env("PROMPTGATE_DATABASE_URL", &url)
        .env("PROMPTGATE_LOG", "warn");
    let promptgate = Server::start(promptgate)?;

    // What promptgate answers is what the bare handler will answer.
    let (head, body) = fetch(promptgate.address, &key, "user-1")?;
    let response_file = dir.path().join("response");
    std::fs::write(&response_file, [head.as_bytes(), b"\r\n", &body].concat())?;
    let mut bare = Command::new(std::env::current_exe()?);
    bare.env(BARE_RESPONSE_ENV, &response_file);
    let bare = Server::start(bare)?;
    let (_, bare_body) = fetch(bare.address, &key, "user-1")?;
    assert_eq!(
        bare_body, body,
        "the bare handler answers promptgate's bytes"
    );
    println!(
        "serving {} bytes of prompt JSON by label with an A/B key ({} connections)",
        body.len(),
        CONNECTIONS
    );

    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed (apt-get install wrk): nothing measured");
        assert!(!full, "`cargo bench --bench serving` needs wrk");
        return Ok(());
    }
    let script = dir.path().join("ab.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let (rounds, seconds) = if full { (5, 6) } else { (1, 1) };
    let mut runs: Vec<(Run, Run)> = Vec::new();
    for round in 1..=rounds {
        let bare_run = load(bare.address, &script, &key, seconds)?;
        let promptgate_run = load(promptgate.address, &script, &key, seconds)?;
        println!(
            "round {round}: bare {:>8.0} req/s p50 {:.3} ms p99 {:.3} ms | promptgate {:>8.0} req/s p50 {:.3} ms p99 {:.3} ms",
            bare_run.per_second,
            bare_run.p50_ms,
            bare_run.p99_ms,
            promptgate_run.per_second,
            promptgate_run.p50_ms,
            promptgate_run.p99_ms
        );
        runs.push((bare_run, promptgate_run));
    }
    let median = |pick: fn(&(Run, Run)) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let ratio = median(|(bare, promptgate)| promptgate.per_second / bare.per_second);
    println!(
        "median of {rounds}: promptgate {:.0} req/s (p99 {:.3} ms), bare {:.0} req/s (p99 {:.3} ms): {:.1}% of the bare handler's throughput",
        median(|(_, p)| p.per_second),
        median(|(_, p)| p.p99_ms),
        median(|(b, _)| b.per_second),
        median(|(b, _)| b.p99_ms),
        ratio * 100.0
    );
    // One connection: latency without queueing behind 63 others.
    let single = load_with(promptgate.address, &script, &key, seconds, 1)?;
    println!(
        "promptgate, 1 connection: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
        single.per_second, single.p50_ms, single.p99_ms
    );
    Ok(())
}

/// Publishes `support` v1 and v2, splits `production` 50/50 between them,
/// and returns a read key.
async fn prepare(url: &str, root: &Path) -> Result<String, Error> {
    let registry = registry::open_in(url, root, &Namespace::parse(REPO)?).await?;
    for n in 1..=2 {
        let content = PromptContent {
            semantics: Default::default(),
            messages: vec![
                MessageTemplate {
                    role: Role::System,
                    content: format!(
                        "You are the support assistant of Example Corp (variant {n}). Answer \
                         briefly, cite the help-centre article you used, and never promise refunds."
                    ),
                },
                MessageTemplate {
                    role: Role::User,
                    content: "Customer message: {{message}}".into(),
                },
            ],
            model: ModelId::parse("openai/gpt-4o-mini")?,
            parameters: ModelParameters::default(),
            response_format: ResponseFormat::Text,
        };
        registry
            .publish(NewVersion {
                prompt: "support".into(),
                id: VersionId(format!("support-{n}")),
                content,
                parent: None,
                git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                author: "bench".into(),
                message: Some(format!("variant {n}")),
            })
            .await?;
    }
    registry
        .move_label(MoveLabel {
            prompt: "support".into(),
            label: "production".into(),
            to: LabelTarget::parse("v1:50,v2:50")?,
            expect: ExpectFrom::Anything,
            kind: MoveKind::Set,
            forced: false,
            actor: "bench".into(),
            reason: None,
        })
        .await?;
    let db = Database::connect(url, 1).await?;
    schema::migrate(&db).await?;
    let key = ApiKeys::new(db.clone())
        .create("bench", Scope::Read, KeyReach::Every)
        .await?;
    db.close().await;
    Ok(key.key.expose().to_string())
}

/// A server child process and the address it printed.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(mut command: Command) -> Result<Server, Error> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let address = line
            .trim()
            .rsplit("http://")
            .next()
            .ok_or("the server printed no address")?
            .parse()?;
        Ok(Server { child, address })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET with `ab_key`: the response head after the status line (the
/// headers a bare server must repeat) and the body.
fn fetch(address: SocketAddr, api_key: &str, ab_key: &str) -> Result<(String, Vec<u8>), Error> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "GET /v1/repos/{REPO}/prompts/support?label=production&key={ab_key} HTTP/1.1\r\n\
         Host: bench\r\nAuthorization: Bearer {api_key}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8(response[..split + 2].to_vec())?;
    let (status, headers) = head.split_once("\r\n").ok_or("no status line")?;
    if !status.contains(" 200 ") {
        return Err(format!("GET answered {status}").into());
    }
    // Keep what a client sees of the content; the bare server sets its own
    // date, length and connection headers.
    let kept: String = headers
        .split("\r\n")
        .filter(|line| {
            let name = line
                .split(':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            !line.is_empty()
                && !["date", "content-length", "connection", "transfer-encoding"]
                    .contains(&name.as_str())
        })
        .map(|line| format!("{line}\r\n"))
        .collect();
    Ok((kept, response[split + 4..].to_vec()))
}

/// The bare handler: axum, one route for every path, answering the
/// recorded headers and body.
fn serve_bare(file: &Path) -> Result<(), Error> {
    use axum::http::{HeaderName, HeaderValue};
    let recorded = std::fs::read(file)?;
    let end = recorded
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no headers in the recorded response")?;
    let head = String::from_utf8(recorded[..end].to_vec())?;
    let body = bytes::Bytes::from(recorded[end + 4..].to_vec());
    let mut headers = axum::http::HeaderMap::new();
    for line in head.split("\r\n").filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or("a header without a colon")?;
        headers.insert(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let app = axum::Router::new().fallback(axum::routing::get(move || {
            let (headers, body) = (headers.clone(), body.clone());
            async move { (headers, body) }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("bare: listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok::<_, Error>(())
    })
}

/// What one wrk run measured.
struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn load(address: SocketAddr, script: &Path, key: &str, seconds: u32) -> Result<Run, Error> {
    load_with(address, script, key, seconds, CONNECTIONS)
}

fn load_with(
    address: SocketAddr,
    script: &Path,
    key: &str,
    seconds: u32,
    connections: u32,
) -> Result<Run, Error> {
    let output = Command::new("wrk")
        .arg("--latency")
        // wrk needs a connection per thread at least.
        .arg(format!("-t{}", connections.min(2)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{address}"))
        .env("PROMPTGATE_BENCH_KEY", key)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        return Err(format!("wrk failed or saw errors:\n{text}").into());
    }
    let number_after = |label: &str| -> Option<&str> {
        text.lines()
            .find(|line| line.trim_start().starts_with(label))?
            .trim_start()
            .strip_prefix(label)
            .map(str::trim)
    };
    let duration_ms = |text: &str| -> Option<f64> {
        let (digits, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
        let value: f64 = digits.parse().ok()?;
        Some(match unit {
            "us" => value / 1000.0,
            "ms" => value,
            "s" => value * 1000.0,
            _ => return None,
        })
    };
    let parse = || -> Option<Run> {
        Some(Run {
            per_second: number_after("Requests/sec:")?.parse().ok()?,
            p50_ms: duration_ms(number_after("50%")?)?,
            p99_ms: duration_ms(number_after("99%")?)?,
        })
    };
    parse().ok_or_else(|| format!("cannot read wrk's output:\n{text}").into())
}
