//! The configuration of `promptgate serve`: the optional TOML file, then
//! the environment (which wins), checked into [`ServeSettings`] before
//! anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::connections::HttpLimits;
use super::dashboard::{DashboardSettings, OAuthSettings};
use super::jobs::{RetryPolicy, WorkerConfig};
use super::telemetry::TelemetrySettings;
use crate::pipeline::config::{PromotionPolicy, ProviderConfig};
use crate::pipeline::runner::pricing::PriceTable;
use crate::types::RepoName;

pub const ENV_WEBHOOK_SECRET: &str = "PROMPTGATE_WEBHOOK_SECRET";
pub const ENV_APP_ID: &str = "PROMPTGATE_GITHUB_APP_ID";
pub const ENV_PRIVATE_KEY_PATH: &str = "PROMPTGATE_GITHUB_PRIVATE_KEY_PATH";
pub const ENV_DATABASE_URL: &str = "PROMPTGATE_DATABASE_URL";
pub const ENV_GITHUB_API_URL: &str = "PROMPTGATE_GITHUB_API_URL";
pub const ENV_DATA_DIR: &str = "PROMPTGATE_DATA_DIR";
/// The App's OAuth client id and secret ("Sign in with GitHub").
pub const ENV_CLIENT_ID: &str = "PROMPTGATE_GITHUB_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "PROMPTGATE_GITHUB_CLIENT_SECRET";
/// GitHub's web address (sign-in pages), for GitHub Enterprise Server.
pub const ENV_GITHUB_WEB_URL: &str = "PROMPTGATE_GITHUB_WEB_URL";
/// The server's address as browsers reach it.
pub const ENV_PUBLIC_URL: &str = "PROMPTGATE_PUBLIC_URL";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://promptgate-server.db";
pub const DEFAULT_DATA_DIR: &str = "promptgate-data";
/// The shortest webhook secret accepted: GitHub signs with it, so a short
/// one lets anyone forge deliveries.
pub const MIN_WEBHOOK_SECRET: usize = 16;

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    max_webhook_bytes: Option<usize>,
    #[serde(default)]
    jobs: JobsFile,
    selftest: Option<SelfTestFile>,
    #[serde(default)]
    github: GitHubFile,
    #[serde(default)]
    http: HttpFile,
    /// `[[keys]]`: where each provider key may be sent.
    #[serde(default)]
    keys: Vec<KeyFile>,
    #[serde(default)]
    telemetry: TelemetryFile,
    /// `[promotion_floor]`: the least every promotion over the API must meet.
    promotion_floor: Option<PromotionFloorFile>,
    #[serde(default)]
    serving: ServingFile,
    /// `[pricing."model"]`: prices of executions reported without a cost.
    #[serde(default)]
    pricing: std::collections::BTreeMap<String, crate::pipeline::config::ModelPrice>,
    #[serde(default)]
    dashboard: DashboardFile,
}

/// `[dashboard]`: sign-in and the web pages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    /// The GitHub App's OAuth client id (its settings page shows it).
    github_client_id: Option<String>,
    /// A file holding the App's OAuth client secret.
    github_client_secret_path: Option<PathBuf>,
    /// `https://github.com`, or a GitHub Enterprise Server's address.
    github_web_url: Option<String>,
    public_url: Option<String>,
    session_hours: Option<u64>,
    environments: Option<Vec<String>>,
}

/// `[telemetry]`: batch size, retention and upkeep of executions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryFile {
    max_batch: Option<usize>,
    retention_days: Option<u32>,
    raw_retention_days: Option<u32>,
    partitions_ahead_days: Option<u32>,
    upkeep_interval_seconds: Option<u64>,
}

impl TelemetryFile {
    fn settings(
        &self,
        pricing: &std::collections::BTreeMap<String, crate::pipeline::config::ModelPrice>,
    ) -> Result<TelemetrySettings, ServeConfigError> {
        let default = TelemetrySettings::default();
        let retention_days = self.retention_days.unwrap_or(default.retention_days);
        let raw_retention_days = self
            .raw_retention_days
            .unwrap_or(default.raw_retention_days.min(retention_days));
        let max_batch = self.max_batch.unwrap_or(default.max_batch);
        let out_of_range = |field, rule| Err(ServeConfigError::OutOfRange { field, rule });
        if retention_days == 0 {
            return out_of_range("telemetry.retention_days", "at least 1");
        }
        if raw_retention_days == 0 || raw_retention_days > retention_days {
            return out_of_range(
                "telemetry.raw_retention_days",
                "from 1 to telemetry.retention_days",
            );
        }
        if !(1..=10_000).contains(&max_batch) {
            return out_of_range("telemetry.max_batch", "from 1 to 10000");
        }
        if let Some(model) = pricing
            .iter()
            .find(|(_, p)| !(p.input_per_mtok >= 0.0 && p.output_per_mtok >= 0.0))
            .map(|(model, _)| model)
        {
            return Err(ServeConfigError::NegativePrice {
                model: model.clone(),
            });
        }
        Ok(TelemetrySettings {
            max_batch,
            retention_days,
            raw_retention_days,
            partitions_ahead_days: self
                .partitions_ahead_days
                .unwrap_or(default.partitions_ahead_days),
            upkeep_interval: self
                .upkeep_interval_seconds
                .map_or(default.upkeep_interval, |s| Duration::from_secs(s.max(1))),
            prices: PriceTable::new(pricing),
        })
    }
}

/// `[serving]`: how long API keys and label targets read from the database
/// are trusted before they are read again.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServingFile {
    cache_ms: Option<u64>,
}

/// `[promotion_floor]`: rules every promotion through the server meets,
/// whatever policy the caller sends (each rule the stricter of the two), so
/// a client cannot promote past what the operator requires.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromotionFloorFile {
    #[serde(default)]
    min_cases: u32,
    min_score: Option<f64>,
    #[serde(default)]
    require_gate_passed: bool,
}

impl PromotionFloorFile {
    fn policy(&self) -> Result<PromotionPolicy, ServeConfigError> {
        if let Some(score) = self.min_score
            && !(0.0..=1.0).contains(&score)
        {
            return Err(ServeConfigError::OutOfRange {
                field: "promotion_floor.min_score",
                rule: "from 0 to 1",
            });
        }
        Ok(PromotionPolicy {
            min_cases: self.min_cases,
            min_score: self.min_score,
            require_gate_passed: self.require_gate_passed,
        })
    }
}

/// One `[[keys]]` entry: the variable holding a key, the endpoints it may
/// be sent to, and (optionally) the repositories that may use it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    env: String,
    endpoints: Vec<String>,
    #[serde(default)]
    repositories: Vec<String>,
}

/// Where the server's provider keys may go, per repository. A kind's own
/// variable may always go to the kind's own endpoint (`OPENAI_API_KEY` to
/// `https://api.openai.com/v1`); anything else needs a `[[keys]]` entry, so
/// a repository's `base_url` cannot draw a key to a server of its choosing.
#[derive(Debug, Clone, Default)]
pub struct KeyAllowlist {
    rules: Vec<KeyAllowed>,
}

#[derive(Debug, Clone)]
struct KeyAllowed {
    env: String,
    endpoints: Vec<url::Url>,
    /// `owner/name` or `owner/*`; empty: every repository.
    repositories: Vec<String>,
}

impl KeyAllowed {
    fn covers(&self, repo: &RepoName) -> bool {
        self.repositories.is_empty()
            || self.repositories.iter().any(|pattern| {
                let full = format!("{}/{}", repo.owner, repo.name);
                match pattern.strip_suffix("/*") {
                    Some(owner) => owner.eq_ignore_ascii_case(&repo.owner),
                    None => pattern.eq_ignore_ascii_case(&full),
                }
            })
    }
}

/// The same scheme and host, the same port when the entry names one, and a
/// path under the entry's.
fn endpoint_matches(allowed: &url::Url, url: &url::Url) -> bool {
    allowed.scheme() == url.scheme()
        && allowed.host_str() == url.host_str()
        && (allowed.port().is_none() || allowed.port() == url.port())
        && url
            .path()
            .trim_end_matches('/')
            .starts_with(allowed.path().trim_end_matches('/'))
}

impl KeyAllowlist {
    /// May `repo` have the key of provider `alias` (its table, defaults
    /// filled in) sent to the table's endpoint? `Err` says why not and how
    /// to allow it.
    pub fn check(
        &self,
        repo: &RepoName,
        alias: &str,
        table: &ProviderConfig,
    ) -> Result<(), String> {
        let Some(var) = table.api_key_env.as_deref() else {
            return Ok(());
        };
        let endpoint = table.base_url.as_deref().unwrap_or_default();
        let own = table.kind.default_api_key_env() == Some(var)
            && table
                .kind
                .default_base_url()
                .is_some_and(|url| url.trim_end_matches('/') == endpoint.trim_end_matches('/'));
        if own {
            return Ok(());
        }
        let parsed = url::Url::parse(endpoint).ok();
        let allowed = self.rules.iter().any(|rule| {
            rule.env == var
                && rule.covers(repo)
                && parsed
                    .as_ref()
                    .is_some_and(|url| rule.endpoints.iter().any(|a| endpoint_matches(a, url)))
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "this server does not send `{var}` to {endpoint} for {}/{} (provider `{alias}`); \
                 its operator can allow it with a `[[keys]]` entry (env = \"{var}\", endpoints, \
                 repositories) in the server config",
                repo.owner, repo.name
            ))
        }
    }
}

/// `[http]`: what a connection may cost before it has proven anything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    max_connections: Option<usize>,
    idle_timeout_seconds: Option<u64>,
    request_timeout_seconds: Option<u64>,
    max_unverified_body_bytes: Option<usize>,
}

impl HttpFile {
    fn limits(&self) -> HttpLimits {
        let default = HttpLimits::default();
        let seconds = |value: Option<u64>, default: Duration| {
            value.map_or(default, |s| Duration::from_secs(s.max(1)))
        };
        HttpLimits {
            max_connections: self
                .max_connections
                .unwrap_or(default.max_connections)
                .max(1),
            idle_timeout: seconds(self.idle_timeout_seconds, default.idle_timeout),
            request_timeout: seconds(self.request_timeout_seconds, default.request_timeout),
            max_unverified_body_bytes: self
                .max_unverified_body_bytes
                .unwrap_or(default.max_unverified_body_bytes),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsFile {
    concurrency: Option<usize>,
    lease_seconds: Option<u64>,
    poll_interval_ms: Option<u64>,
    max_attempts: Option<u32>,
    backoff_base_seconds: Option<u64>,
    backoff_max_seconds: Option<u64>,
    shutdown_grace_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelfTestFile {
    dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHubFile {
    app_id: Option<u64>,
    private_key_path: Option<PathBuf>,
    api_url: Option<String>,
    /// A file holding the webhook secret (what `promptgate app create` writes),
    /// so the secret need not sit in the config or the environment.
    webhook_secret_path: Option<PathBuf>,
}

/// The GitHub App's identity, for the API client.
#[derive(Debug, Clone)]
pub struct GitHubAppSettings {
    pub app_id: u64,
    /// `https://api.github.com`, or a GitHub Enterprise Server's `/api/v3`.
    pub api_url: String,
    pub private_key_path: PathBuf,
    /// The PEM contents, read at start-up so a bad path stops the start.
    pub private_key: Secret,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub database_url: Secret,
    pub webhook_secrets: Vec<Secret>,
    pub github_app: Option<GitHubAppSettings>,
    /// Per-repository stores (response cache, results) of the jobs.
    pub data_dir: PathBuf,
    pub max_webhook_bytes: usize,
    pub http: HttpLimits,
    /// Where each provider key may be sent.
    pub keys: KeyAllowlist,
    pub retry: RetryPolicy,
    pub worker: WorkerConfig,
    /// Where self-test jobs write their markers; `None` disables them.
    pub selftest_dir: Option<PathBuf>,
    /// `[telemetry]` and `[pricing]`.
    pub telemetry: TelemetrySettings,
    /// `[promotion_floor]`; by default no rule (the caller's policy applies).
    pub promotion_floor: PromotionPolicy,
    /// `[serving] cache_ms`: a revoked key or a label moved elsewhere takes
    /// effect within this (zero: at once, every request reads the tables).
    pub serving_cache: Duration,
    /// `[dashboard]`: sign-in and the web pages.
    pub dashboard: DashboardSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeConfigError {
    #[error("cannot read the server config {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the server config {path} is invalid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error(
        "{ENV_WEBHOOK_SECRET} is not set: set it to the webhook secret of the GitHub App (several, comma-separated, while rotating), or name a file holding it as [github] webhook_secret_path in the config"
    )]
    MissingWebhookSecret,
    #[error(
        "the webhook secret ({from}) has an empty entry (entry {position}): remove the stray comma"
    )]
    EmptyWebhookSecret { from: String, position: usize },
    #[error("cannot read the webhook secret file {path} ([github] webhook_secret_path): {source}")]
    ReadWebhookSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the webhook secret ({from}) entry {position} has {length} characters; a webhook secret \
         needs at least {MIN_WEBHOOK_SECRET} (a short one can be guessed): generate one with \
         `openssl rand -hex 32` and set the same on GitHub"
    )]
    ShortWebhookSecret {
        from: String,
        position: usize,
        length: usize,
    },
    #[error("{ENV_APP_ID} `{value}` is not a GitHub App id (a positive whole number)")]
    BadAppId { value: String },
    #[error(
        "the GitHub App needs both an id and a private key: {missing} is not set ({source_hint})"
    )]
    IncompleteGitHubApp {
        missing: &'static str,
        source_hint: &'static str,
    },
    #[error(
        "cannot read the GitHub App private key {path} (from {ENV_PRIVATE_KEY_PATH} or [github] private_key_path): {source}"
    )]
    ReadPrivateKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a PEM private key (no `-----BEGIN` line): download the key from the App's settings page"
    )]
    NotPem { path: PathBuf },
    #[error("server config: [pricing.\"{model}\"]: prices cannot be negative")]
    NegativePrice { model: String },
    #[error(
        "\"Sign in with GitHub\" needs the App's OAuth client id and secret: {missing} is not set ({source_hint})"
    )]
    IncompleteOAuth {
        missing: &'static str,
        source_hint: &'static str,
    },
    #[error(
        "cannot read the OAuth client secret {path} ([dashboard] github_client_secret_path): {source}"
    )]
    ReadClientSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("server config: {field} must be {rule}")]
    OutOfRange {
        field: &'static str,
        rule: &'static str,
    },
}

impl ServeSettings {
    /// Reads the optional config file, then the environment (through `env`,
    /// so tests need not touch the process environment). Environment wins.
    pub fn load(
        config: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ServeConfigError> {
        let file = match config {
            None => ServeFile::default(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ServeConfigError::ReadFile {
                        path: path.to_path_buf(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|error| ServeConfigError::ParseFile {
                    path: path.to_path_buf(),
                    message: error.to_string(),
                })?
            }
        };
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let dashboard = dashboard_settings(&file, &env)?;

        let (raw_secrets, secrets_from) =
            match (env(ENV_WEBHOOK_SECRET), &file.github.webhook_secret_path) {
                (Some(value), _) => (value, ENV_WEBHOOK_SECRET.to_string()),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|source| {
                        ServeConfigError::ReadWebhookSecret {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    (text, path.display().to_string())
                }
                (None, None) => return Err(ServeConfigError::MissingWebhookSecret),
            };
        if raw_secrets.trim().is_empty() {
            return Err(ServeConfigError::MissingWebhookSecret);
        }
        let mut webhook_secrets = Vec::new();
        for (index, secret) in raw_secrets.trim().split(',').enumerate() {
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(ServeConfigError::EmptyWebhookSecret {
                    from: secrets_from,
                    position: index + 1,
                });
            }
            if secret.chars().count() < MIN_WEBHOOK_SECRET {
                return Err(ServeConfigError::ShortWebhookSecret {
                    from: secrets_from,
                    position: index + 1,
                    length: secret.chars().count(),
                });
            }
            webhook_secrets.push(Secret::new(secret));
        }

        let app_id = match env(ENV_APP_ID) {
            Some(value) => Some(
                value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or(ServeConfigError::BadAppId { value })?,
            ),
            None => file.github.app_id,
        };
        let key_path = env(ENV_PRIVATE_KEY_PATH)
            .map(PathBuf::from)
            .or(file.github.private_key_path);
        let github_app = match (app_id, key_path) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ServeConfigError::IncompleteGitHubApp {
                    missing: ENV_PRIVATE_KEY_PATH,
                    source_hint: "or [github] private_key_path in the config",
                });
            }
            (None, Some(_)) => {
                return Err(ServeConfigError::IncompleteGitHubApp {
                    missing: ENV_APP_ID,
                    source_hint: "or [github] app_id in the config",
                });
            }
            (Some(app_id), Some(path)) => {
                let pem = std::fs::read_to_string(&path).map_err(|source| {
                    ServeConfigError::ReadPrivateKey {
                        path: path.clone(),
                        source,
                    }
                })?;
                if !pem.contains("-----BEGIN") {
                    return Err(ServeConfigError::NotPem { path });
                }
                Some(GitHubAppSettings {
                    app_id,
                    api_url: env(ENV_GITHUB_API_URL)
                        .or(file.github.api_url.clone())
                        .unwrap_or_else(|| crate::edges::github::DEFAULT_API_URL.to_string()),
                    private_key_path: path,
                    private_key: Secret::new(pem),
                })
            }
        };

        let jobs = file.jobs;
        let positive = |value: Option<u64>, default: u64, field: &'static str| match value {
            Some(0) => Err(ServeConfigError::OutOfRange {
                field,
                rule: "at least 1",
            }),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let concurrency =
            positive(jobs.concurrency.map(|n| n as u64), 4, "jobs.concurrency")? as usize;
        let lease = Duration::from_secs(positive(jobs.lease_seconds, 60, "jobs.lease_seconds")?);
        let poll_interval = Duration::from_millis(positive(
            jobs.poll_interval_ms,
            1000,
            "jobs.poll_interval_ms",
        )?);
        let max_attempts =
            positive(jobs.max_attempts.map(u64::from), 5, "jobs.max_attempts")? as u32;
        let base_delay = Duration::from_secs(jobs.backoff_base_seconds.unwrap_or(10));
        let max_delay = Duration::from_secs(jobs.backoff_max_seconds.unwrap_or(600));
        if max_delay < base_delay {
            return Err(ServeConfigError::OutOfRange {
                field: "jobs.backoff_max_seconds",
                rule: "at least jobs.backoff_base_seconds",
            });
        }
        let mut keys = KeyAllowlist::default();
        for (index, entry) in file.keys.iter().enumerate() {
            let endpoints = entry
                .endpoints
                .iter()
                .map(|text| {
                    url::Url::parse(text).map_err(|error| ServeConfigError::ParseFile {
                        path: config.map(Path::to_path_buf).unwrap_or_default(),
                        message: format!(
                            "keys[{index}].endpoints: `{text}` is not a URL ({error})"
                        ),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            keys.rules.push(KeyAllowed {
                env: entry.env.clone(),
                endpoints,
                repositories: entry.repositories.clone(),
            });
        }
        let max_webhook_bytes = positive(
            file.max_webhook_bytes.map(|n| n as u64),
            super::DEFAULT_MAX_WEBHOOK_BYTES as u64,
            "max_webhook_bytes",
        )? as usize;

        let telemetry = file.telemetry.settings(&file.pricing)?;
        let promotion_floor = file.promotion_floor.unwrap_or_default().policy()?;
        Ok(ServeSettings {
            database_url: Secret::new(
                env(ENV_DATABASE_URL)
                    .or(file.database_url)
                    .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            ),
            webhook_secrets,
            github_app,
            data_dir: env(ENV_DATA_DIR)
                .map(PathBuf::from)
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            max_webhook_bytes,
            http: file.http.limits(),
            keys,
            retry: RetryPolicy {
                max_attempts,
                base_delay,
                max_delay,
            },
            worker: WorkerConfig {
                concurrency,
                lease,
                poll_interval,
                shutdown_grace: Duration::from_secs(jobs.shutdown_grace_seconds.unwrap_or(30)),
                ..WorkerConfig::new(worker_id())
            },
            selftest_dir: file.selftest.map(|selftest| selftest.dir),
            telemetry,
            promotion_floor,
            serving_cache: file.serving.cache_ms.map_or(
                super::ttl_cache::DEFAULT_SERVING_CACHE,
                Duration::from_millis,
            ),
            dashboard,
        })
    }
}

/// `[dashboard]` and its environment variables, checked.
fn dashboard_settings(
    file: &ServeFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DashboardSettings, ServeConfigError> {
    let section = &file.dashboard;
    let client_id = env(ENV_CLIENT_ID).or(section.github_client_id.clone());
    let client_secret = match (env(ENV_CLIENT_SECRET), &section.github_client_secret_path) {
        (Some(secret), _) => Some(secret),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ServeConfigError::ReadClientSecret {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let oauth = match (client_id, client_secret) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(ServeConfigError::IncompleteOAuth {
                missing: ENV_CLIENT_SECRET,
                source_hint: "or [dashboard] github_client_secret_path in the config",
            });
        }
        (None, Some(_)) => {
            return Err(ServeConfigError::IncompleteOAuth {
                missing: ENV_CLIENT_ID,
                source_hint: "or [dashboard] github_client_id in the config",
            });
        }
        (Some(client_id), Some(secret)) => Some(OAuthSettings {
            client_id,
            client_secret: Secret::new(secret),
            web_url: env(ENV_GITHUB_WEB_URL)
                .or(section.github_web_url.clone())
                .unwrap_or_else(|| super::dashboard::oauth::DEFAULT_WEB_URL.to_string()),
            api_url: env(ENV_GITHUB_API_URL)
                .or(file.github.api_url.clone())
                .unwrap_or_else(|| crate::edges::github::DEFAULT_API_URL.to_string()),
        }),
    };
    let defaults = DashboardSettings::default();
    let session_lifetime = match section.session_hours {
        Some(0) => {
            return Err(ServeConfigError::OutOfRange {
                field: "dashboard.session_hours",
                rule: "at least 1",
            });
        }
        Some(hours) => Duration::from_secs(hours.saturating_mul(3600)),
        None => defaults.session_lifetime,
    };
    Ok(DashboardSettings {
        oauth,
        public_url: env(ENV_PUBLIC_URL).or(section.public_url.clone()),
        session_lifetime,
        environments: section
            .environments
            .clone()
            .filter(|given| !given.is_empty())
            .unwrap_or(defaults.environments),
        review_queue: defaults.review_queue,
    })
}

/// What a new App's server config says: written by `promptgate app create`.
#[derive(Debug, Clone)]
pub struct StarterConfig<'a> {
    pub app_name: &'a str,
    pub app_id: u64,
    pub api_url: &'a str,
    pub private_key_path: &'a Path,
    /// `None` when GitHub gave no webhook secret; the config then says where to put one.
    pub webhook_secret_path: Option<&'a Path>,
    /// Where the database and the jobs' data go.
    pub data_root: &'a Path,
}

/// A config file [`ServeSettings::load`] accepts as is: absolute paths, no
/// secret in it (the key and the webhook secret stay in their own files).
pub fn starter_config(config: &StarterConfig) -> String {
    let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let path = |p: &Path| quoted(&p.display().to_string());
    let database = format!(
        "sqlite://{}",
        config.data_root.join("promptgate-server.db").display()
    );
    let secret_line = match config.webhook_secret_path {
        Some(p) => format!("webhook_secret_path = {}", path(p)),
        None => "# GitHub gave no webhook secret: set one in the App's settings, write it to a\n\
                 # file readable only by the server, and name that file here:\n\
                 # webhook_secret_path = \"/path/to/webhook-secret\""
            .to_owned(),
    };
    format!(
        "# The promptgate server of the GitHub App {name} (id {id}), written by\n\
         # `promptgate app create`. Run: promptgate serve --listen 127.0.0.1:8080 --config THIS_FILE\n\
         # Every key is described in docs/server.md; PROMPTGATE_* variables override them.\n\
         database_url = {database}\n\
         data_dir = {data_dir}\n\
         \n\
         [github]\n\
         app_id = {id}\n\
         private_key_path = {key}\n\
         {secret_line}\n\
         api_url = {api}\n",
        name = config.app_name.replace(['\n', '\r'], " "),
        id = config.app_id,
        database = quoted(&database),
        data_dir = path(&config.data_root.join("promptgate-data")),
        key = path(config.private_key_path),
        api = quoted(config.api_url),
    )
}

/// Names this process's leases: host, pid and a random part (pids repeat
/// across restarts and containers).
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "promptgate".to_string());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<ServeSettings, ServeConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServeSettings::load(file.map(|_| path.as_path()), &|name| {
            vars.get(name).cloned()
        })
    }

    #[test]
    fn the_servers_secrets_are_never_provider_keys() {
        for name in [ENV_WEBHOOK_SECRET, ENV_DATABASE_URL, ENV_PRIVATE_KEY_PATH] {
            assert!(
                crate::pipeline::provider::http::RESERVED_VARIABLES.contains(&name),
                "{name} must be refused as an api_key_env"
            );
        }
    }

    #[test]
    fn a_promotion_floor_is_read_and_checked() {
        let secret = [(ENV_WEBHOOK_SECRET, "settings-test-secret-1")];
        let none = load(None, &secret).unwrap();
        assert_eq!(none.promotion_floor.min_cases, 0);
        assert!(none.promotion_floor.min_score.is_none());
        assert!(!none.promotion_floor.require_gate_passed);
        let floor = load(
            Some(
                "[promotion_floor]\nmin_cases = 20\nmin_score = 0.8\nrequire_gate_passed = true\n",
            ),
            &secret,
        )
        .unwrap()
        .promotion_floor;
        assert_eq!(
            (floor.min_cases, floor.min_score, floor.require_gate_passed),
            (20, Some(0.8), true)
        );
        let error = load(Some("[promotion_floor]\nmin_score = 1.5\n"), &secret).unwrap_err();
        assert!(
            error.to_string().contains("promotion_floor.min_score"),
            "{error}"
        );
    }

    #[test]
    fn the_serving_cache_is_read_and_zero_turns_it_off() {
        let secret = [(ENV_WEBHOOK_SECRET, "settings-test-secret-1")];
        let default = load(None, &secret).unwrap().serving_cache;
        assert_eq!(default, crate::server::ttl_cache::DEFAULT_SERVING_CACHE);
        let set = load(Some("[serving]\ncache_ms = 250\n"), &secret).unwrap();
        assert_eq!(set.serving_cache, Duration::from_millis(250));
        let off = load(Some("[serving]\ncache_ms = 0\n"), &secret).unwrap();
        assert!(off.serving_cache.is_zero());
    }

    #[test]
    fn defaults_with_only_a_secret() {
        let settings = load(None, &[(ENV_WEBHOOK_SECRET, "settings-test-secret-1")]).unwrap();
        assert_eq!(settings.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(
            settings.webhook_secrets,
            vec![Secret::new("settings-test-secret-1")]
        );
        assert!(settings.github_app.is_none());
        assert_eq!(settings.worker.concurrency, 4);
        assert_eq!(settings.retry, RetryPolicy::default());
    }

    #[test]
    fn secrets_rotate_and_never_print() {
        let settings = load(
            None,
            &[(
                ENV_WEBHOOK_SECRET,
                "old-webhook-secret-1, new-webhook-secret-2",
            )],
        )
        .unwrap();
        assert_eq!(settings.webhook_secrets.len(), 2);
        assert_eq!(settings.webhook_secrets[1].expose(), "new-webhook-secret-2");
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("old-webhook-secret") && !shown.contains("new-webhook-secret"),
            "{shown}"
        );
        let error = load(
            None,
            &[(
                ENV_WEBHOOK_SECRET,
                "first-webhook-secret,,second-webhook-secret",
            )],
        )
        .unwrap_err();
        assert!(error.to_string().contains("entry 2"), "{error}");
        // A secret anyone could guess is refused, naming the entry.
        for short in ["x", "short-secret", "first-webhook-secret,tiny"] {
            let error = load(None, &[(ENV_WEBHOOK_SECRET, short)]).unwrap_err();
            assert!(error.to_string().contains("at least 16"), "{error}");
        }
    }

    #[test]
    fn missing_and_malformed_configuration_is_named() {
        let error = load(None, &[]).unwrap_err().to_string();
        assert!(error.contains(ENV_WEBHOOK_SECRET), "{error}");

        let error = load(
            Some("[jobs]\nconcurency = 2\n"),
            &[(ENV_WEBHOOK_SECRET, "settings-test-secret-1")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("server.toml") && error.contains("concurency"),
            "{error}"
        );

        let error = load(
            None,
            &[
                (ENV_WEBHOOK_SECRET, "settings-test-secret-1"),
                (ENV_APP_ID, "twelve"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(ENV_APP_ID) && error.contains("twelve"),
            "{error}"
        );

        let error = load(
            None,
            &[
                (ENV_WEBHOOK_SECRET, "settings-test-secret-1"),
                (ENV_APP_ID, "12"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(ENV_PRIVATE_KEY_PATH), "{error}");

        let error = load(
            None,
            &[
                (ENV_WEBHOOK_SECRET, "settings-test-secret-1"),
                (ENV_APP_ID, "12"),
                (ENV_PRIVATE_KEY_PATH, "/nonexistent/key.pem"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("/nonexistent/key.pem"), "{error}");

        let error = load(
            Some("[jobs]\nconcurrency = 0\n"),
            &[(ENV_WEBHOOK_SECRET, "settings-test-secret-1")],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("jobs.concurrency"), "{error}");
    }

    #[test]
    fn a_secret_file_serves_when_the_environment_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("webhook-secret");
        std::fs::write(&secret, "from-file-0123456789abcdef\n").unwrap();
        let key = dir.path().join("app.pem");
        std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n").unwrap();
        let text = starter_config(&StarterConfig {
            app_name: "promptgate \"acme\"",
            app_id: 12,
            api_url: "https://ghe.acme.dev/api/v3",
            private_key_path: &key,
            webhook_secret_path: Some(&secret),
            data_root: dir.path(),
        });
        let settings = load(Some(&text), &[]).unwrap();
        assert_eq!(
            settings.webhook_secrets,
            vec![Secret::new("from-file-0123456789abcdef")]
        );
        let app = settings.github_app.unwrap();
        assert_eq!(
            (app.app_id, app.api_url.as_str()),
            (12, "https://ghe.acme.dev/api/v3")
        );
        assert!(settings.database_url.expose().starts_with("sqlite:///"));
        // The environment still wins over the file.
        let settings = load(
            Some(&text),
            &[(ENV_WEBHOOK_SECRET, "from-env-0123456789abcdef")],
        )
        .unwrap();
        assert_eq!(
            settings.webhook_secrets,
            vec![Secret::new("from-env-0123456789abcdef")]
        );

        std::fs::write(&secret, "aaaaaaaaaaaaaaaaaaaa,,b").unwrap();
        let error = load(Some(&text), &[]).unwrap_err().to_string();
        assert!(
            error.contains("webhook-secret") && error.contains("entry 2"),
            "{error}"
        );
        assert!(!error.contains("a,,b"), "{error}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        std::fs::write(
            &key,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let file = format!(
            "database_url = \"sqlite://file.db\"\n[jobs]\nlease_seconds = 5\n[github]\napp_id = 7\nprivate_key_path = \"{}\"\n[selftest]\ndir = \"/tmp/st\"\n",
            key.display()
        );
        let settings = load(
            Some(&file),
            &[
                (ENV_WEBHOOK_SECRET, "settings-test-secret-1"),
                (ENV_DATABASE_URL, "postgres://db/x"),
                (ENV_APP_ID, "99"),
            ],
        )
        .unwrap();
        assert_eq!(settings.database_url.expose(), "postgres://db/x");
        let app = settings.github_app.unwrap();
        assert_eq!(app.app_id, 99);
        assert!(app.private_key.expose().contains("BEGIN"));
        assert_eq!(settings.worker.lease, Duration::from_secs(5));
        assert_eq!(settings.selftest_dir, Some(PathBuf::from("/tmp/st")));
    }
}
