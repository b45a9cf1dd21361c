//! Starts llm-katan (PyPI `llm-katan`, a third-party test server speaking
//! the OpenAI and Anthropic wire formats) on 127.0.0.1 with a free port.
//!
//! Where it looks: `$PROMPTGATE_LLM_KATAN`, then `.venv-test/bin/llm-katan`
//! (what `scripts/install-test-deps.sh` installs), then `PATH`. When it is
//! missing, tests fail under `CI` and print a loud skip elsewhere.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct LlmKatan {
    child: Child,
    pub port: u16,
    /// Holds the stats file llm-katan insists on writing.
    _dir: tempfile::TempDir,
}

impl LlmKatan {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Successful completions served so far (llm-katan's own counter, from
    /// `/metrics`): what the server saw, not what the client thinks it sent.
    pub async fn served(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base_url()))
            .await
            .expect("llm-katan /metrics")
            .text()
            .await
            .expect("llm-katan /metrics body");
        text.lines()
            .find(|line| line.starts_with("llm_katan_requests_total"))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.trim().parse().ok())
            .expect("llm_katan_requests_total in /metrics")
    }
}

impl Drop for LlmKatan {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROMPTGATE_LLM_KATAN") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/llm-katan");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("llm-katan"))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts llm-katan with the echo backend, both wire formats, and `extra`
/// flags (failure injection). `None` (after a loud notice) when it is not
/// installed and `CI` is not set.
pub fn start(extra: &[&str]) -> Option<LlmKatan> {
    start_on(0, extra)
}

/// As [`start`], on a given port (0: any free one). A restart on the same
/// port is the same endpoint, so cache keys carry over.
pub fn start_on(port: u16, extra: &[&str]) -> Option<LlmKatan> {
    let Some(binary) = find_binary() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "llm-katan is not installed, and CI is set: run scripts/install-test-deps.sh \
                 (or set PROMPTGATE_LLM_KATAN to its path)"
            );
        }
        eprintln!(
            "\n*** SKIPPED: llm-katan is not installed; the tests against it did not run. \
             Run scripts/install-test-deps.sh to install it. ***\n"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(&binary)
        .args([
            "--model",
            "katan",
            "--backend",
            "echo",
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string()])
        .args(["--providers", "openai,anthropic", "--disable-dashboard"])
        .arg("--stats-file")
        .arg(dir.path().join("stats.json"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));

    // uvicorn announces the port it bound; wait for that line, not a sleep.
    let stderr = child.stderr.take().expect("piped stderr");
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !announced
                && let Some(rest) = line.split("Uvicorn running on http://127.0.0.1:").nth(1)
            {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(port) = port.parse::<u16>() {
                    announced = true;
                    let _ = port_tx.send(port);
                }
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    let port = match port_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => port,
        Err(_) => {
            let _ = child.kill();
            panic!("llm-katan did not announce its port within 30 s");
        }
    };
    Some(LlmKatan {
        child,
        port,
        _dir: dir,
    })
}
