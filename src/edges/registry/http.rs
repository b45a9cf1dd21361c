//! The registry of a `promptgate serve` server, over its JSON API
//! (`https://HOST/v1/repos/{owner}/{repo}/…`, see docs/server.md): the
//! fourth backend, so `promote`, `rollback`, `history` and `diff` work
//! against a server as against a database or a branch.
//!
//! The API key comes from `PROMPTGATE_API_KEY` and is only ever sent, in the
//! `Authorization` header. Plain `http://` is refused except to a loopback
//! address, where the key does not leave the machine. Errors the server
//! reports in the registry's terms ([`super::wire`]) become the same
//! [`RegistryError`]s the other backends return.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::wire::ErrorBody;
use super::{
    AuditEntry, Baseline, ExpectFrom, GateOutcome, LabelMove, LabelTarget, MoveKind, MoveLabel,
    Namespace, NewVersion, Promote, Published, Registry, RegistryError, Result, Version,
    VersionRef, url_segment, validate_name,
};
use crate::edges::db::redact_url;
use crate::edges::github::Secret;
use crate::pipeline::config::PromotionPolicy;
use crate::pipeline::review::{HumanScore, OutputRef, ReviewLabel};
use crate::types::{EvalResult, Fingerprint};

/// Where the CLI finds the server's API key.
pub const ENV_API_KEY: &str = "PROMPTGATE_API_KEY";

/// Versions per page when reading a prompt's history.
const PAGE: usize = 100;

/// What `POST …/versions` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedBody {
    pub version: Version,
    pub created: bool,
}

/// A page of `GET …/versions`.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionPage {
    pub prompt: String,
    pub page: usize,
    pub per_page: usize,
    pub total: usize,
    pub versions: Vec<Version>,
}

/// One entry of `GET …/prompts`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PromptSummary {
    pub name: String,
    pub latest_version: Option<u32>,
    pub versions: usize,
    pub labels: BTreeMap<String, LabelTarget>,
}

/// The body of `POST …/reviews/labels`: a reviewer's label on one judged
/// output. The judge's score is not sent: the server reads it from the
/// result it stores, so a client cannot misstate what the judge said.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelBody {
    pub prompt: String,
    pub criterion: String,
    pub fingerprint: String,
    pub case_id: String,
    pub repeat: u32,
    pub human: HumanScore,
    #[serde(default)]
    pub note: Option<String>,
    pub reviewer: String,
}

impl LabelBody {
    pub fn of(label: &ReviewLabel) -> Self {
        let output = label.output.clone();
        Self {
            prompt: output.prompt,
            criterion: output.criterion,
            fingerprint: output.fingerprint,
            case_id: output.case_id,
            repeat: output.repeat,
            human: label.human,
            note: label.note.clone(),
            reviewer: label.reviewer.clone(),
        }
    }

    pub fn output(&self) -> OutputRef {
        OutputRef {
            prompt: self.prompt.clone(),
            criterion: self.criterion.clone(),
            fingerprint: self.fingerprint.clone(),
            case_id: self.case_id.clone(),
            repeat: self.repeat,
        }
    }
}

/// What `GET …/reviews/labels` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct LabelsPage {
    pub labels: Vec<ReviewLabel>,
}

/// The body of `PUT …/versions/{n}/baseline`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BaselineBody {
    pub fingerprint: Fingerprint,
    pub gate: GateOutcome,
    pub actor: String,
}

/// The body of `POST …/labels/{label}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MoveBody {
    pub to: LabelTarget,
    pub expect: ExpectFrom,
    pub kind: MoveKind,
    #[serde(default)]
    pub forced: bool,
    pub actor: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of `POST …/promote`. The server checks the promotion against
/// `environments` and the policy sent (never weaker than its floor).
#[derive(Debug, Serialize, Deserialize)]
pub struct PromoteBody {
    /// `v7`, `7`, or a version id.
    pub version: String,
    pub to: String,
    pub actor: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    #[serde(default)]
    pub policy: Option<PromotionPolicy>,
}

/// The body of `POST …/rollback`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RollbackBody {
    pub label: String,
    pub actor: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of `PUT …/results/{fingerprint}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultBody {
    pub result: EvalResult,
    pub actor: String,
}

/// One namespace of a server's registry.
#[derive(Clone)]
pub struct HttpRegistry {
    client: reqwest::Client,
    /// The server's URL, without a trailing `/`.
    base: String,
    key: Arc<Secret>,
    namespace: Namespace,
}

impl HttpRegistry {
    /// A registry at `url` (`https://…`, or `http://` to a loopback
    /// address) presenting `key`.
    pub fn new(url: &str, key: Secret, namespace: &Namespace) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|_| RegistryError::BadUrl {
            url: redact_url(url),
        })?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(RegistryError::InsecureServer(redact_url(url))),
        }
        if key.is_empty() {
            return Err(RegistryError::NoApiKey);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| RegistryError::Remote {
                status: 0,
                message: format!("cannot set up an HTTP client: {error}"),
            })?;
        Ok(HttpRegistry {
            client,
            base: url.trim_end_matches('/').to_string(),
            key: Arc::new(key),
            namespace: namespace.clone(),
        })
    }

    /// [`HttpRegistry::new`] with the key from `PROMPTGATE_API_KEY`.
    pub fn from_env(url: &str, namespace: &Namespace) -> Result<Self> {
        let key = std::env::var(ENV_API_KEY).unwrap_or_default();
        Self::new(url, Secret::new(key.trim()), namespace)
    }

    pub fn in_namespace(mut self, namespace: &Namespace) -> Self {
        self.namespace = namespace.clone();
        self
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/repos/{}/{}{path}",
            self.base,
            url_segment(self.namespace.owner()),
            url_segment(self.namespace.repo())
        )
    }

    fn prompt_url(&self, prompt: &str, rest: &str) -> String {
        self.url(&format!("/prompts/{}{rest}", url_segment(prompt)))
    }

    /// Sends a request; `Ok(None)` for a 404 that is not a registry error
    /// (nothing there), the registry's error for one that is.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        body: Option<&(dyn erased::Json + Sync)>,
    ) -> Result<Option<T>> {
        let mut request = self
            .client
            .request(method, &url)
            .bearer_auth(self.key.expose());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_json());
        }
        let response = request
            .send()
            .await
            .map_err(|error| RegistryError::Remote {
                status: 0,
                // reqwest's message names the URL, which holds no secret.
                message: format!("cannot reach the registry server: {error}"),
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| RegistryError::Remote {
                status: status.as_u16(),
                message: format!("reading the answer: {error}"),
            })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| bad_answer(&url, e));
        }
        let answer: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        match answer {
            Some(ErrorBody {
                detail: Some(detail),
                ..
            }) => Err(detail.into_error()),
            _ if status == StatusCode::NOT_FOUND => Ok(None),
            Some(ErrorBody { error, .. }) => Err(RegistryError::Remote {
                status: status.as_u16(),
                message: error,
            }),
            None => Err(RegistryError::Remote {
                status: status.as_u16(),
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, url: String) -> Result<Option<T>> {
        self.send(Method::GET, url, None).await
    }

    /// A write: its answer must be there.
    async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        body: &(dyn erased::Json + Sync),
    ) -> Result<T> {
        let what = url.clone();
        self.send(method, url, Some(body))
            .await?
            .ok_or_else(|| RegistryError::Remote {
                status: 404,
                message: format!("{what}: not found (is this a promptgate server, and does the API key reach {}?)", self.namespace),
            })
    }
}

/// Request bodies as JSON, behind a trait object so `send` is not generic
/// over them.
mod erased {
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            // Our own plain-data types always serialize.
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

fn bad_answer(url: &str, error: serde_json::Error) -> RegistryError {
    RegistryError::Remote {
        status: 200,
        message: format!("{url}: the answer is not what a promptgate server sends ({error})"),
    }
}

#[async_trait]
impl Registry for HttpRegistry {
    fn describe(&self) -> String {
        redact_url(&self.base)
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn scoped(&self, namespace: &Namespace) -> Arc<dyn Registry> {
        Arc::new(self.clone().in_namespace(namespace))
    }

    async fn publish(&self, new: NewVersion) -> Result<Published> {
        validate_name("prompt name", &new.prompt)?;
        let url = self.prompt_url(&new.prompt, "/versions");
        let answer: PublishedBody = self.write(Method::POST, url, &new).await?;
        Ok(Published {
            version: answer.version,
            created: answer.created,
        })
    }

    async fn version(&self, prompt: &str, at: &VersionRef) -> Result<Option<Version>> {
        if validate_name("prompt name", prompt).is_err() {
            return Ok(None);
        }
        let query = match at {
            VersionRef::Number(n) => format!("?number={n}"),
            VersionRef::Id(id) => format!("?id={}", url_segment(&id.0)),
        };
        let page: Option<VersionPage> = self
            .get(self.prompt_url(prompt, &format!("/versions{query}")))
            .await?;
        Ok(page.and_then(|page| page.versions.into_iter().next()))
    }

    async fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        if validate_name("prompt name", prompt).is_err() {
            return Ok(Vec::new());
        }
        let mut versions = Vec::new();
        for page in 1.. {
            let url = self.prompt_url(prompt, &format!("/versions?page={page}&per_page={PAGE}"));
            let Some(answer): Option<VersionPage> = self.get(url).await? else {
                break;
            };
            let last = answer.versions.len() < PAGE || page * PAGE >= answer.total;
            versions.extend(answer.versions);
            if last {
                break;
            }
        }
        Ok(versions)
    }

    async fn prompts(&self) -> Result<Vec<String>> {
        let listed: Vec<PromptSummary> = self.get(self.url("/prompts")).await?.unwrap_or_default();
        Ok(listed.into_iter().map(|p| p.name).collect())
    }

    async fn record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        validate_name("prompt name", &result.prompt)?;
        let url = self.url(&format!("/results/{}", url_segment(&result.fingerprint.0)));
        let body = ResultBody {
            result: result.clone(),
            actor: actor.to_string(),
        };
        let _: serde_json::Value = self.write(Method::PUT, url, &body).await?;
        Ok(())
    }

    async fn result(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>> {
        let url = self.url(&format!("/results/{}", url_segment(&fingerprint.0)));
        match self.get(url).await {
            Err(RegistryError::ResultNotFound(_)) => Ok(None),
            other => other,
        }
    }

    async fn set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        validate_name("prompt name", prompt)?;
        let url = self.prompt_url(prompt, &format!("/versions/{number}/baseline"));
        let body = BaselineBody {
            fingerprint: fingerprint.clone(),
            gate,
            actor: actor.to_string(),
        };
        self.write(Method::PUT, url, &body).await
    }

    async fn baseline(&self, prompt: &str, number: u32) -> Result<Option<Baseline>> {
        if validate_name("prompt name", prompt).is_err() {
            return Ok(None);
        }
        let url = self.prompt_url(prompt, &format!("/versions/{number}/baseline"));
        match self.get(url).await {
            Err(RegistryError::VersionNotFound { .. }) => Ok(None),
            other => other,
        }
    }

    async fn labels(&self, prompt: &str) -> Result<BTreeMap<String, LabelTarget>> {
        if validate_name("prompt name", prompt).is_err() {
            return Ok(BTreeMap::new());
        }
        Ok(self
            .get(self.prompt_url(prompt, "/labels"))
            .await?
            .unwrap_or_default())
    }

    async fn move_label(&self, request: MoveLabel) -> Result<LabelMove> {
        validate_name("prompt name", &request.prompt)?;
        validate_name("label", &request.label)?;
        let to = request.to.clone().normalized()?;
        let url = self.prompt_url(
            &request.prompt,
            &format!("/labels/{}", url_segment(&request.label)),
        );
        let body = MoveBody {
            to,
            expect: request.expect,
            kind: request.kind,
            forced: request.forced,
            actor: request.actor,
            reason: request.reason,
        };
        self.write(Method::POST, url, &body).await
    }

    async fn label_history(&self, prompt: &str) -> Result<Vec<LabelMove>> {
        if validate_name("prompt name", prompt).is_err() {
            return Ok(Vec::new());
        }
        Ok(self
            .get(self.prompt_url(prompt, "/history"))
            .await?
            .unwrap_or_default())
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self.get(self.url("/audit")).await?.unwrap_or_default())
    }

    async fn record_review_label(&self, label: &ReviewLabel) -> Result<()> {
        validate_name("prompt name", &label.output.prompt)?;
        label.validate()?;
        let body = LabelBody::of(label);
        let _: serde_json::Value = self
            .write(Method::POST, self.url("/reviews/labels"), &body)
            .await?;
        Ok(())
    }

    async fn review_labels(&self, prompt: Option<&str>) -> Result<Vec<ReviewLabel>> {
        let query = prompt.map_or_else(String::new, |p| format!("?prompt={}", url_segment(p)));
        let page: Option<LabelsPage> = self
            .get(self.url(&format!("/reviews/labels{query}")))
            .await?;
        Ok(page.map(|p| p.labels).unwrap_or_default())
    }

    /// The server checks the policy (never weaker than its floor).
    async fn promote(
        &self,
        request: Promote,
        environments: &[String],
        policy: &PromotionPolicy,
    ) -> Result<LabelMove> {
        validate_name("prompt name", &request.prompt)?;
        let body = PromoteBody {
            version: request.version.to_string(),
            to: request.to,
            actor: request.actor,
            reason: request.reason,
            force: request.force,
            environments: Some(environments.to_vec()),
            policy: Some(policy.clone()),
        };
        let url = self.prompt_url(&request.prompt, "/promote");
        self.write(Method::POST, url, &body).await
    }

    async fn rollback(
        &self,
        prompt: &str,
        label: &str,
        actor: &str,
        reason: Option<String>,
    ) -> Result<LabelMove> {
        validate_name("prompt name", prompt)?;
        let body = RollbackBody {
            label: label.to_string(),
            actor: actor.to_string(),
            reason,
        };
        self.write(Method::POST, self.prompt_url(prompt, "/rollback"), &body)
            .await
    }
}
