//! The diagnostic job: a `repository_dispatch` of type `promptgate-selftest`
//! runs a [`JobKind::SelfTest`](crate::server::jobs::JobKind::SelfTest) job that writes
//! marker files into the operator's `[selftest] dir`. It shows that webhooks
//! reach the queue and workers finish jobs; `hold_attempts` makes the first
//! attempts hang, which is how an operator (and the crash test) checks that a
//! killed server finishes the job after a restart; `work_ms` simulates slow
//! work (the acknowledgement benchmark).
//!
//! Files in the directory, for order id `ID`:
//! - `ID.attempt-N` — created when attempt N starts, holding
//!   `job #J attempt N worker W`: which worker pool (`W`, its lease owner
//!   id; host, pid and a random part for `promptgate serve`) claimed it;
//! - `ID.done` — one line appended per completion (a correct queue writes one).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::server::jobs::{Job, JobError, JobHandler, ServerError};

/// The longest simulated work a self-test may ask for.
pub const MAX_WORK: Duration = Duration::from_secs(60);

/// What a self-test job does; read from the dispatch's `client_payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfTestOrder {
    /// Names the marker files: 1–64 of `A-Z a-z 0-9 _ -`.
    pub id: String,
    /// Attempts up to this number hang until the job is stopped.
    #[serde(default)]
    pub hold_attempts: u32,
    /// Simulated work before finishing, at most 60 000 ms.
    #[serde(default)]
    pub work_ms: u64,
}

impl SelfTestOrder {
    /// Reads and checks a `client_payload`; the error says what to fix.
    pub fn from_client_payload(payload: &serde_json::Value) -> Result<Self, String> {
        let order: SelfTestOrder = serde_path_to_error::deserialize(payload)
            .map_err(|e| format!("client_payload at `{}`: {}", e.path(), e.inner()))?;
        order.check()?;
        Ok(order)
    }

    fn check(&self) -> Result<(), String> {
        let safe = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        if !safe {
            return Err(format!(
                "client_payload.id `{}` must be 1-64 characters of A-Z, a-z, 0-9, `_` or `-`",
                self.id.escape_debug()
            ));
        }
        if self.work_ms > MAX_WORK.as_millis() as u64 {
            return Err(format!(
                "client_payload.work_ms {} is above the limit of {}",
                self.work_ms,
                MAX_WORK.as_millis()
            ));
        }
        Ok(())
    }
}

/// Runs self-test jobs, writing markers into `dir`.
#[derive(Debug, Clone)]
pub struct SelfTestHandler {
    pub dir: PathBuf,
}

#[async_trait::async_trait]
impl JobHandler for SelfTestHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: SelfTestOrder = serde_json::from_value(job.payload.clone())
            .map_err(|source| ServerError::SelfTestPayload { source })?;
        order
            .check()
            .map_err(|problem| ServerError::SelfTestOrder { problem })?;
        let write_error = |source: std::io::Error| -> JobError {
            ServerError::SelfTestMarkers {
                dir: self.dir.clone(),
                source,
            }
            .into()
        };
        std::fs::create_dir_all(&self.dir).map_err(write_error)?;
        std::fs::write(
            self.dir
                .join(format!("{}.attempt-{}", order.id, job.attempts)),
            format!(
                "job {} attempt {} worker {}\n",
                job.id,
                job.attempts,
                job.lease_owner.as_deref().unwrap_or("unknown")
            ),
        )
        .map_err(write_error)?;
        if job.attempts <= order.hold_attempts {
            tracing::info!(job = %job.id, attempt = job.attempts, "self-test holding this attempt");
            std::future::pending::<()>().await;
        }
        if order.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(order.work_ms)).await;
        }
        let mut done = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.done", order.id)))
            .map_err(write_error)?;
        writeln!(done, "job {} attempt {}", job.id, job.attempts).map_err(write_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn orders_are_checked() {
        let ok = SelfTestOrder::from_client_payload(&json!({"id": "crash-1", "hold_attempts": 1}))
            .unwrap();
        assert_eq!(ok.hold_attempts, 1);
        for bad in [
            json!({"id": "../etc"}),
            json!({"id": ""}),
            json!({"id": "a", "work_ms": 600_000}),
            json!({"id": "a", "path": "/tmp"}),
            json!({}),
        ] {
            assert!(SelfTestOrder::from_client_payload(&bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// An accepted id is always a plain file name inside the directory.
        #[test]
        fn accepted_ids_stay_in_the_directory(id in "\\PC{0,80}") {
            if let Ok(order) = SelfTestOrder::from_client_payload(&json!({"id": id})) {
                let path = std::path::Path::new(&order.id);
                proptest::prop_assert_eq!(path.components().count(), 1);
                proptest::prop_assert!(!order.id.contains('/') && !order.id.contains('.'));
            }
        }
    }
}
