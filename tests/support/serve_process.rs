//! The real `promptgate serve` as a child process on a free loopback port,
//! and GitHub's webhook signature. Include it with
//! `#[path = "support/serve_process.rs"] mod serve_process;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncBufReadExt;

/// `X-Hub-Signature-256` as GitHub computes it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A running `promptgate serve`; killed when dropped.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    pub pid: u32,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `promptgate serve --listen 127.0.0.1:0 --config CONFIG` with
    /// `envs` (and no App unless `envs` names one), its log in `log`, and
    /// waits for the line that gives its address.
    pub async fn start(config: &Path, envs: &[(&str, String)], log: &Path) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env_remove("PROMPTGATE_GITHUB_APP_ID")
            .env_remove("PROMPTGATE_GITHUB_PRIVATE_KEY_PATH")
            .env("PROMPTGATE_LOG", "info")
            .envs(envs.iter().map(|(name, value)| (*name, value.as_str())))
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("the promptgate binary starts");
        let pid = child.id().expect("a running child has a pid");
        let banner = tokio::io::BufReader::new(child.stdout.take().unwrap())
            .lines()
            .next_line()
            .await
            .unwrap()
            .expect("the server prints its address");
        let Some((_, address)) = banner.trim().split_once("http://") else {
            panic!("the server printed {banner:?}, not `… listening on http://ADDR`");
        };
        ServeProcess {
            child,
            address: address.to_string(),
            pid,
            log: log.to_path_buf(),
        }
    }

    /// Posts a webhook signed with `secret`; the status of the answer.
    pub async fn deliver(
        &self,
        secret: &str,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
    ) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(format!("http://{}/webhooks/github", self.address))
            .timeout(Duration::from_secs(30))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", sign(secret, &body))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// SIGTERM, then a graceful exit (status 0) within 30 s; the log is
    /// shown when it does not come.
    pub async fn stop(mut self) {
        let pid = i32::try_from(self.pid).unwrap();
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let Ok(status) = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await
        else {
            panic!(
                "the server did not stop within 30 s of SIGTERM:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        };
        let status = status.unwrap();
        assert!(status.success(), "graceful exit, got {status}");
    }
}
