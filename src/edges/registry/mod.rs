//! The registry: the system of record of published prompt versions, the
//! labels (`latest`, environments, A/B splits) that say which version runs
//! where, the results that justified each move, and an append-only audit log.
//!
//! One [`Registry`] trait, four backends chosen by URL in [`open`]:
//! `sqlite://PATH` and `postgres://…` ([`sql::SqlRegistry`]),
//! `git+branch://NAME` ([`gitbranch::GitBranchRegistry`]) and a server's
//! `https://…` ([`http::HttpRegistry`]). The rules that do
//! not depend on storage (promotion policy, rollback target, A/B arm choice)
//! live here and in [`policy`], written once.
//!
//! Every prompt belongs to a repository, its [`Namespace`] (`owner/repo`):
//! a [`Registry`] value is a view of one namespace, and [`Registry::scoped`]
//! gives the view of another on the same storage. Two repositories that
//! publish a prompt of the same name publish two prompts.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pipeline::config::PromotionPolicy;
use crate::pipeline::review::ReviewLabel;
use crate::types::{
    Backoff, EvalResult, Fingerprint, Jitter, PromptContent, VersionId, now_rfc3339,
};

pub mod gitbranch;
pub mod http;
mod namespace;
pub mod policy;
pub mod sql;
pub mod wire;

pub use namespace::{ENV_REPOSITORY, Namespace, namespace_for};

pub use policy::{PolicyRule, PromotionRefused, ResultSummary, check_promotion};

/// The label every publish moves to the newest version.
pub const LATEST: &str = "latest";
/// The branch `git+branch://` uses when the URL names none.
pub const DEFAULT_BRANCH: &str = "promptgate-registry";

/// A version to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVersion {
    pub prompt: String,
    /// The content hash of `content` (computed by `spec`).
    pub id: VersionId,
    pub content: PromptContent,
    /// The version this one was derived from, when known; otherwise the
    /// prompt's newest published version is recorded as the parent.
    #[serde(default)]
    pub parent: Option<VersionId>,
    #[serde(default)]
    pub git_commit: Option<String>,
    pub author: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// A published version: immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub prompt: String,
    /// 1, 2, … per prompt, in publish order.
    pub number: u32,
    pub id: VersionId,
    pub content: PromptContent,
    pub parent: Option<u32>,
    pub git_commit: Option<String>,
    pub author: String,
    pub message: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// The answer to a publish: the version, and whether this call created it
/// (`false`: identical content was already published).
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub version: Version,
    pub created: bool,
}

/// How a version is named: `v7`, `7`, or its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    Number(u32),
    Id(VersionId),
}

impl VersionRef {
    /// `v7` or `7` is a number; anything else is a version id.
    pub fn parse(text: &str) -> Self {
        let digits = text.strip_prefix('v').unwrap_or(text);
        match digits.parse::<u32>() {
            Ok(number) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                VersionRef::Number(number)
            }
            _ => VersionRef::Id(VersionId(text.to_string())),
        }
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "v{n}"),
            VersionRef::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Where a label points: one version, or a weighted split between versions
/// (an A/B test). JSON: `7`, or `{"7": 80, "8": 20}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawTarget")]
pub enum LabelTarget {
    Version(u32),
    /// Version number → weight.
    Split(BTreeMap<u32, u32>),
}

/// [`LabelTarget`] as JSON has it: an untagged enum buffers map keys as
/// strings, so the split's version numbers are parsed here.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTarget {
    Version(u32),
    Split(BTreeMap<String, u32>),
}

impl TryFrom<RawTarget> for LabelTarget {
    type Error = String;

    fn try_from(raw: RawTarget) -> Result<Self, String> {
        match raw {
            RawTarget::Version(n) => Ok(LabelTarget::Version(n)),
            RawTarget::Split(arms) => arms
                .into_iter()
                .map(|(n, w)| {
                    n.parse::<u32>()
                        .map(|n| (n, w))
                        .map_err(|_| format!("`{n}` is not a version number"))
                })
                .collect::<Result<_, _>>()
                .map(LabelTarget::Split),
        }
    }
}

impl LabelTarget {
    /// Every version the target names.
    pub fn versions(&self) -> Vec<u32> {
        match self {
            LabelTarget::Version(n) => vec![*n],
            LabelTarget::Split(arms) => arms.keys().copied().collect(),
        }
    }

    pub fn contains(&self, number: u32) -> bool {
        self.versions().contains(&number)
    }

    /// A split needs positive weights; a split of one arm is that version.
    pub fn normalized(self) -> Result<Self, RegistryError> {
        match self {
            LabelTarget::Version(0) => Err(RegistryError::InvalidTarget(
                "versions are numbered from v1".into(),
            )),
            LabelTarget::Version(n) => Ok(LabelTarget::Version(n)),
            LabelTarget::Split(arms) => {
                if arms.is_empty() {
                    return Err(RegistryError::InvalidTarget(
                        "a split needs at least one arm".into(),
                    ));
                }
                if let Some((n, _)) = arms.iter().find(|(n, w)| **n == 0 || **w == 0) {
                    return Err(RegistryError::InvalidTarget(format!(
                        "arm v{n}: versions start at v1 and every weight must be positive"
                    )));
                }
                if arms.values().map(|w| u64::from(*w)).sum::<u64>() > u64::from(u32::MAX) {
                    return Err(RegistryError::InvalidTarget(
                        "split weights are too large".into(),
                    ));
                }
                match arms.len() {
                    1 => Ok(LabelTarget::Version(*arms.keys().next().unwrap_or(&0))),
                    _ => Ok(LabelTarget::Split(arms)),
                }
            }
        }
    }

    /// The version serving `key`: the same key always gets the same arm.
    pub fn pick(&self, prompt: &str, key: Option<&str>) -> u32 {
        match self {
            LabelTarget::Version(n) => *n,
            LabelTarget::Split(arms) => {
                let total: u64 = arms.values().map(|w| u64::from(*w)).sum();
                let mut hasher = Sha256::new();
                hasher.update(prompt.as_bytes());
                hasher.update([0]);
                hasher.update(key.unwrap_or("").as_bytes());
                let digest = hasher.finalize();
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                let mut point = u64::from_be_bytes(first) % total.max(1);
                for (number, weight) in arms {
                    if point < u64::from(*weight) {
                        return *number;
                    }
                    point -= u64::from(*weight);
                }
                *arms.keys().next_back().unwrap_or(&0)
            }
        }
    }

    /// Parses `v7`, `7`, or `v7:80,v8:20` (as the command line writes them).
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let bad = || {
            RegistryError::InvalidTarget(format!(
                "`{text}`: write a version (`v7`) or a weighted split (`v7:80,v8:20`)"
            ))
        };
        let number = |part: &str| {
            let digits = part.trim().strip_prefix('v').unwrap_or(part.trim());
            digits.parse::<u32>().map_err(|_| bad())
        };
        if !text.contains(':') {
            return LabelTarget::Version(number(text)?).normalized();
        }
        let mut arms = BTreeMap::new();
        for arm in text.split(',') {
            let (version, weight) = arm.split_once(':').ok_or_else(bad)?;
            let weight = weight.trim().parse::<u32>().map_err(|_| bad())?;
            if arms.insert(number(version)?, weight).is_some() {
                return Err(bad());
            }
        }
        LabelTarget::Split(arms).normalized()
    }
}

impl std::fmt::Display for LabelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelTarget::Version(n) => write!(f, "v{n}"),
            LabelTarget::Split(arms) => {
                let parts: Vec<String> = arms.iter().map(|(n, w)| format!("v{n}: {w}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

/// Why a label moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    /// `latest`, moved by a publish.
    Publish,
    /// Through the promotion policy (or past it, when `forced`).
    Promote,
    /// Back to the label's previous target.
    Rollback,
    /// Set directly (an A/B split, an administrator).
    Set,
}

impl MoveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveKind::Publish => "publish",
            MoveKind::Promote => "promote",
            MoveKind::Rollback => "rollback",
            MoveKind::Set => "set",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            MoveKind::Publish,
            MoveKind::Promote,
            MoveKind::Rollback,
            MoveKind::Set,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// What a label must point to for a move to go ahead (compare-and-swap).
/// JSON: `"anything"`, `"unset"`, or `{"target": 7}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectFrom {
    /// Move whatever the label points to now.
    Anything,
    /// The label must not be set yet.
    Unset,
    /// The label must point exactly here.
    Target(LabelTarget),
}

impl ExpectFrom {
    fn matches(&self, current: Option<&LabelTarget>) -> bool {
        match self {
            ExpectFrom::Anything => true,
            ExpectFrom::Unset => current.is_none(),
            ExpectFrom::Target(target) => current == Some(target),
        }
    }

    /// The precondition that holds exactly when the label is as `current`.
    pub fn current(current: Option<&LabelTarget>) -> Self {
        match current {
            None => ExpectFrom::Unset,
            Some(target) => ExpectFrom::Target(target.clone()),
        }
    }
}

/// A request to move a label.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveLabel {
    pub prompt: String,
    pub label: String,
    pub to: LabelTarget,
    pub expect: ExpectFrom,
    pub kind: MoveKind,
    /// The promotion policy was overridden.
    pub forced: bool,
    pub actor: String,
    pub reason: Option<String>,
}

/// One recorded label move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMove {
    pub prompt: String,
    pub label: String,
    pub from: Option<LabelTarget>,
    pub to: LabelTarget,
    pub kind: MoveKind,
    pub forced: bool,
    pub actor: String,
    pub reason: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// Whether the gate passed for the result a baseline was set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    Passed,
    Failed,
    /// No gate ran (a first version, or a result recorded by hand).
    NotRun,
}

impl GateOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            GateOutcome::Passed => "passed",
            GateOutcome::Failed => "failed",
            GateOutcome::NotRun => "not_run",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            GateOutcome::Passed,
            GateOutcome::Failed,
            GateOutcome::NotRun,
        ]
        .into_iter()
        .find(|gate| gate.as_str() == text)
    }
}

/// The result a version is compared against, and what its gate said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub prompt: String,
    pub number: u32,
    pub fingerprint: Fingerprint,
    pub gate: GateOutcome,
    pub result: EvalResult,
    pub set_by: String,
    pub set_at: String,
}

/// One line of the append-only audit log: every write, who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, … in write order.
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// `publish`, `record_result`, `set_baseline`, `move_label`.
    pub action: String,
    pub prompt: Option<String>,
    pub detail: serde_json::Value,
}

/// A request to promote a version to an environment under the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Promote {
    pub prompt: String,
    pub version: VersionRef,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
    /// Override the policy; needs a reason and is recorded as forced.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "unsupported registry URL `{url}`: use `sqlite://PATH`, `postgres://USER@HOST/DB`, `git+branch://NAME` or `https://SERVER`"
    )]
    BadUrl { url: String },
    #[error(
        "`{0}`: the API key would cross the network unencrypted; use https:// (plain http:// only to a loopback address)"
    )]
    InsecureServer(String),
    #[error(
        "a registry server needs an API key: set PROMPTGATE_API_KEY (`promptgate keys create` on the server makes one)"
    )]
    NoApiKey,
    /// The server failed, or answered what this version cannot read.
    #[error("the registry server answered {status}: {message}")]
    Remote { status: u16, message: String },
    #[error("invalid {what} `{name}`: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: &'static str,
    },
    #[error(
        "invalid repository `{0}`: write it as `owner/repo` (letters, digits, `-`, `_` and `.`)"
    )]
    InvalidNamespace(String),
    #[error(
        "which repository's prompts? set PROMPTGATE_REPOSITORY=owner/repo (or run inside a checkout whose `origin` remote is on GitHub)"
    )]
    NamespaceUnknown,
    #[error("invalid label target: {0}")]
    InvalidTarget(String),
    #[error("{prompt}: no published version {version}; `promptgate history {prompt}` lists them")]
    VersionNotFound { prompt: String, version: String },
    #[error("{prompt}: label `{label}` is not set")]
    LabelNotSet { prompt: String, label: String },
    #[error(
        "{prompt}: label `{label}` changed while it was being moved (expected {expected}, found {found}); run the command again to act on the new state"
    )]
    Conflict {
        prompt: String,
        label: String,
        expected: String,
        found: String,
    },
    #[error("{prompt}: label `{label}` already points to {target}; nothing to do")]
    Unchanged {
        prompt: String,
        label: String,
        target: LabelTarget,
    },
    #[error("invalid review label: {0}")]
    InvalidReviewLabel(#[from] crate::pipeline::review::LabelError),
    #[error("no stored result with fingerprint {0}; record the result before making it a baseline")]
    ResultNotFound(Fingerprint),
    #[error(
        "the result {fingerprint} is for {result_prompt} {result_version}, not {prompt} v{number} ({version})"
    )]
    ResultMismatch {
        fingerprint: Fingerprint,
        result_prompt: String,
        result_version: VersionId,
        prompt: String,
        number: u32,
        version: VersionId,
    },
    #[error(transparent)]
    Refused(#[from] PromotionRefused),
    #[error("--force needs --reason: say why the promotion policy is overridden (it is recorded)")]
    ForceWithoutReason,
    #[error(
        "{prompt}: label `{label}` has no earlier target to roll back to (see `promptgate history {prompt}`)"
    )]
    NothingToRollBack { prompt: String, label: String },
    #[error(
        "{prompt}: already published in {namespace}; adopting would mix two histories (nothing was copied)"
    )]
    AlreadyAdopted { prompt: String, namespace: String },
    #[error("{prompt}: not in {namespace}; `promptgate list` there shows what it holds")]
    NothingToAdopt { prompt: String, namespace: String },
    #[error("registry database: {0}")]
    Database(#[from] sqlx::Error),
    /// Opening or migrating the registry's database.
    #[error("registry: {0}")]
    Open(#[from] crate::edges::db::DatabaseError),
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error(
        "registry data `{path}` is unreadable: {message}; it was not written by this version of promptgate"
    )]
    Corrupt { path: String, message: String },
    #[error("{what}: still conflicting with other writers after {attempts} attempts; try again")]
    Contention { what: String, attempts: u32 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The registry, whatever stores it. Writes are atomic and append to the
/// audit log; versions and label moves are never changed once written.
#[async_trait]
pub trait Registry: Send + Sync {
    /// Where the registry lives, for messages (never includes a password).
    fn describe(&self) -> String;

    /// The repository whose prompts this view reads and writes.
    fn namespace(&self) -> &Namespace;

    /// The view of another repository's prompts on the same storage.
    fn scoped(&self, namespace: &Namespace) -> std::sync::Arc<dyn Registry>;

    /// Publishes a version: numbered one past the prompt's newest, or, when
    /// the same content (same id) is already published, that version.
    async fn publish(&self, new: NewVersion) -> Result<Published>;

    async fn version(&self, prompt: &str, at: &VersionRef) -> Result<Option<Version>>;

    /// Every version of a prompt, oldest first.
    async fn versions(&self, prompt: &str) -> Result<Vec<Version>>;

    /// Every prompt of this namespace with a published version, sorted.
    async fn prompts(&self) -> Result<Vec<String>>;

    /// Stores an evaluation result under its fingerprint (replacing an
    /// earlier result with the same fingerprint).
    async fn record_result(&self, result: &EvalResult, actor: &str) -> Result<()>;

    async fn result(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>>;

    /// Makes a stored result the baseline of a published version.
    async fn set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline>;

    async fn baseline(&self, prompt: &str, number: u32) -> Result<Option<Baseline>>;

    /// Every label of a prompt and where it points.
    async fn labels(&self, prompt: &str) -> Result<BTreeMap<String, LabelTarget>>;

    /// Moves a label, atomically with its precondition, checking that every
    /// version it names exists, and records the move.
    async fn move_label(&self, request: MoveLabel) -> Result<LabelMove>;

    /// Every move of every label of a prompt, oldest first.
    async fn label_history(&self, prompt: &str) -> Result<Vec<LabelMove>>;

    /// The namespace's audit log, oldest first.
    async fn audit_log(&self) -> Result<Vec<AuditEntry>>;

    /// Records a reviewer's label on a judged output (labels are never
    /// changed; a later label of the same output supersedes it).
    async fn record_review_label(&self, label: &ReviewLabel) -> Result<()>;

    /// Every review label of this namespace, oldest first; only `prompt`'s
    /// when given.
    async fn review_labels(&self, prompt: Option<&str>) -> Result<Vec<ReviewLabel>>;

    async fn label(&self, prompt: &str, label: &str) -> Result<Option<LabelTarget>> {
        Ok(self.labels(prompt).await?.remove(label))
    }

    /// The version a label serves to `key` (an A/B split picks an arm by
    /// hashing the key, so one user always sees the same arm).
    async fn resolve(&self, prompt: &str, label: &str, key: Option<&str>) -> Result<Version> {
        let target =
            self.label(prompt, label)
                .await?
                .ok_or_else(|| RegistryError::LabelNotSet {
                    prompt: prompt.to_string(),
                    label: label.to_string(),
                })?;
        let number = target.pick(prompt, key);
        self.version(prompt, &VersionRef::Number(number))
            .await?
            .ok_or_else(|| not_found(prompt, &VersionRef::Number(number)))
    }

    /// Moves an environment label to a version if the policy allows it (or
    /// `force` with a reason overrides it, recorded as forced).
    async fn promote(
        &self,
        request: Promote,
        environments: &[String],
        policy: &PromotionPolicy,
    ) -> Result<LabelMove> {
        let reason = request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if request.force && reason.is_none() {
            return Err(RegistryError::ForceWithoutReason);
        }
        let version = self
            .version(&request.prompt, &request.version)
            .await?
            .ok_or_else(|| not_found(&request.prompt, &request.version))?;
        let labels = self.labels(&request.prompt).await?;
        let baseline = self.baseline(&request.prompt, version.number).await?;
        let verdict = check_promotion(
            &request.prompt,
            version.number,
            &request.to,
            environments,
            policy,
            &labels,
            baseline.as_ref(),
        );
        let forced = match verdict {
            Ok(()) => false,
            Err(refused) if request.force => {
                tracing::warn!("{refused} — overridden with --force");
                true
            }
            Err(refused) => return Err(refused.into()),
        };
        self.move_label(MoveLabel {
            prompt: request.prompt.clone(),
            label: request.to.clone(),
            to: LabelTarget::Version(version.number),
            expect: ExpectFrom::current(labels.get(&request.to)),
            kind: MoveKind::Promote,
            forced,
            actor: request.actor,
            reason: reason.map(str::to_string),
        })
        .await
    }

    /// Moves a label back to the target it had before its latest move that
    /// has not been rolled back already (so repeated rollbacks walk back).
    async fn rollback(
        &self,
        prompt: &str,
        label: &str,
        actor: &str,
        reason: Option<String>,
    ) -> Result<LabelMove> {
        let history = self.label_history(prompt).await?;
        let moves: Vec<&LabelMove> = history.iter().filter(|m| m.label == label).collect();
        let current =
            moves
                .last()
                .map(|m| m.to.clone())
                .ok_or_else(|| RegistryError::LabelNotSet {
                    prompt: prompt.to_string(),
                    label: label.to_string(),
                })?;
        let previous = rollback_target(&moves).ok_or_else(|| RegistryError::NothingToRollBack {
            prompt: prompt.to_string(),
            label: label.to_string(),
        })?;
        self.move_label(MoveLabel {
            prompt: prompt.to_string(),
            label: label.to_string(),
            to: previous,
            expect: ExpectFrom::Target(current),
            kind: MoveKind::Rollback,
            forced: false,
            actor: actor.to_string(),
            reason,
        })
        .await
    }
}

/// Walks a label's moves newest first; each rollback cancels the newest
/// move not yet cancelled. The first move left standing is undone.
fn rollback_target(moves: &[&LabelMove]) -> Option<LabelTarget> {
    let mut cancelled = 0usize;
    for each in moves.iter().rev() {
        if each.kind == MoveKind::Rollback {
            cancelled += 1;
        } else if cancelled > 0 {
            cancelled -= 1;
        } else {
            return each.from.clone();
        }
    }
    None
}

/// Checks a move against the label's current target and makes its record.
pub(crate) fn checked_move(
    request: &MoveLabel,
    to: &LabelTarget,
    current: Option<LabelTarget>,
) -> Result<LabelMove> {
    if !request.expect.matches(current.as_ref()) {
        return Err(RegistryError::Conflict {
            prompt: request.prompt.clone(),
            label: request.label.clone(),
            expected: match &request.expect {
                ExpectFrom::Target(target) => target.to_string(),
                _ => "no target".to_string(),
            },
            found: current
                .as_ref()
                .map_or("no target".to_string(), |t| t.to_string()),
        });
    }
    if current.as_ref() == Some(to) {
        return Err(RegistryError::Unchanged {
            prompt: request.prompt.clone(),
            label: request.label.clone(),
            target: to.clone(),
        });
    }
    Ok(LabelMove {
        prompt: request.prompt.clone(),
        label: request.label.clone(),
        from: current,
        to: to.clone(),
        kind: request.kind,
        forced: request.forced,
        actor: request.actor.clone(),
        reason: request.reason.clone(),
        at: now_rfc3339(),
    })
}

/// What a label move records in the audit log.
pub(crate) fn move_detail(recorded: &LabelMove) -> serde_json::Value {
    serde_json::json!({
        "label": recorded.label, "from": recorded.from, "to": recorded.to,
        "kind": recorded.kind, "forced": recorded.forced, "reason": recorded.reason,
    })
}

/// A baseline must be a result of that very version.
pub(crate) fn check_result_matches(version: &Version, result: &EvalResult) -> Result<()> {
    if result.prompt == version.prompt && result.version == version.id {
        return Ok(());
    }
    Err(RegistryError::ResultMismatch {
        fingerprint: result.fingerprint.clone(),
        result_prompt: result.prompt.clone(),
        result_version: result.version.clone(),
        prompt: version.prompt.clone(),
        number: version.number,
        version: version.id.clone(),
    })
}

/// The record of a new version: numbered one past the newest; its parent is
/// the version it names when that is published, else the newest.
pub(crate) fn next_version(
    new: &NewVersion,
    newest: Option<u32>,
    named_parent: Option<u32>,
) -> Version {
    Version {
        prompt: new.prompt.clone(),
        number: newest.unwrap_or(0) + 1,
        id: new.id.clone(),
        content: new.content.clone(),
        parent: named_parent.or(newest),
        git_commit: new.git_commit.clone(),
        author: new.author.clone(),
        message: new.message.clone(),
        created_at: now_rfc3339(),
    }
}

pub(crate) fn publish_detail(version: &Version) -> serde_json::Value {
    serde_json::json!({
        "number": version.number, "id": version.id, "parent": version.parent, "git_commit": version.git_commit,
    })
}

pub(crate) fn result_detail(result: &EvalResult) -> serde_json::Value {
    serde_json::json!({ "fingerprint": result.fingerprint, "version": result.version, "cases": result.cases.len() })
}

pub(crate) fn baseline_detail(baseline: &Baseline) -> serde_json::Value {
    serde_json::json!({ "number": baseline.number, "fingerprint": baseline.fingerprint, "gate": baseline.gate })
}

pub(crate) fn not_found(prompt: &str, at: &VersionRef) -> RegistryError {
    RegistryError::VersionNotFound {
        prompt: prompt.to_string(),
        version: at.to_string(),
    }
}

/// What the publish step hands over: a version, and the result that becomes
/// its baseline (when it was evaluated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishInput {
    pub version: NewVersion,
    #[serde(default)]
    pub result: Option<EvalResult>,
    #[serde(default = "not_run")]
    pub gate: GateOutcome,
}

fn not_run() -> GateOutcome {
    GateOutcome::NotRun
}

#[derive(Debug, Clone, PartialEq)]
pub struct PublishOutcome {
    pub version: Version,
    /// False when identical content was already published.
    pub created: bool,
    /// `latest` moved to this version.
    pub latest_moved: bool,
}

/// Publishes one prompt version, records its result as the version's
/// baseline, and moves `latest` to it unless `latest` already names a newer
/// version. Safe to repeat.
pub async fn publish_prompt(
    registry: &dyn Registry,
    input: PublishInput,
) -> Result<PublishOutcome> {
    const ATTEMPTS: u32 = 8;
    let actor = input.version.author.clone();
    let prompt = input.version.prompt.clone();
    let published = registry.publish(input.version).await?;
    let number = published.version.number;
    if let Some(result) = &input.result {
        registry.record_result(result, &actor).await?;
        registry
            .set_baseline(&prompt, number, &result.fingerprint, input.gate, &actor)
            .await?;
    }
    for _ in 0..ATTEMPTS {
        let current = registry.label(&prompt, LATEST).await?;
        if current
            .as_ref()
            .is_some_and(|t| t.versions().iter().any(|n| *n >= number))
        {
            return Ok(PublishOutcome {
                version: published.version,
                created: published.created,
                latest_moved: false,
            });
        }
        let moved = registry
            .move_label(MoveLabel {
                prompt: prompt.clone(),
                label: LATEST.to_string(),
                to: LabelTarget::Version(number),
                expect: ExpectFrom::current(current.as_ref()),
                kind: MoveKind::Publish,
                forced: false,
                actor: actor.clone(),
                reason: published.version.message.clone(),
            })
            .await;
        match moved {
            Ok(_) => {
                return Ok(PublishOutcome {
                    version: published.version,
                    created: published.created,
                    latest_moved: true,
                });
            }
            // Another publisher moved `latest` in between: look again.
            Err(RegistryError::Conflict { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(RegistryError::Contention {
        what: format!("moving `{LATEST}` of {prompt}"),
        attempts: ATTEMPTS,
    })
}

/// Opens the registry a URL names, in the namespace [`namespace_for`] finds
/// for the checkout at `repo_root` (relative paths are relative to it).
pub async fn open(url: &str, repo_root: &Path) -> Result<Box<dyn Registry>> {
    let namespace = namespace_for(url, repo_root).await?;
    open_in(url, repo_root, &namespace).await
}

/// The SQL registry `url` names (`sqlite://PATH`, relative to `repo_root`,
/// or `postgres://…`) in `namespace`; `None` for any other kind of URL.
pub async fn open_sql_in(
    url: &str,
    repo_root: &Path,
    namespace: &Namespace,
) -> Result<Option<sql::SqlRegistry>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(RegistryError::BadUrl {
                url: url.to_string(),
            });
        }
        let path = repo_root.join(path);
        return Ok(Some(
            sql::SqlRegistry::open_sqlite(&path)
                .await?
                .in_namespace(namespace),
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Some(
            sql::SqlRegistry::open_postgres(url)
                .await?
                .in_namespace(namespace),
        ));
    }
    Ok(None)
}

/// Opens the registry a URL names, in `namespace`.
pub async fn open_in(
    url: &str,
    repo_root: &Path,
    namespace: &Namespace,
) -> Result<Box<dyn Registry>> {
    if let Some(opened) = open_sql_in(url, repo_root, namespace).await? {
        return Ok(Box::new(opened));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Box::new(http::HttpRegistry::from_env(url, namespace)?));
    }
    if let Some(branch) = url.strip_prefix("git+branch://") {
        let branch = if branch.is_empty() {
            DEFAULT_BRANCH
        } else {
            branch.trim_end_matches('/')
        };
        return Ok(Box::new(
            gitbranch::GitBranchRegistry::open(repo_root, branch)
                .await?
                .in_namespace(namespace),
        ));
    }
    Err(RegistryError::BadUrl {
        url: url.to_string(),
    })
}

/// Prompt and label names become file and folder names (on the registry
/// branch and in the export) and URL path segments: anything a prompt
/// file's `name` may say, except what would change the path or is invalid
/// in a file name on some system.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    const FORBIDDEN: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|', '#', '%'];
    let why = if name.trim().is_empty() {
        Some("it is empty")
    } else if name.len() > 200 {
        Some("it is longer than 200 bytes")
    } else if name.starts_with(['.', '-'])
        || name.starts_with(char::is_whitespace)
        || name.ends_with(char::is_whitespace)
    {
        Some("it may not start with `.`, `-` or a space, nor end with a space")
    } else if name
        .chars()
        .any(|c| c.is_control() || FORBIDDEN.contains(&c))
    {
        Some("it may not contain control characters or any of / \\ : * ? \" < > | # %")
    } else {
        None
    };
    match why {
        Some(why) => Err(RegistryError::InvalidName {
            what,
            name: name.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

/// A prompt name in a URL path (the export and the branch are served as
/// files named by the plain prompt name).
pub fn url_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How long a write that lost a race to another writer waits before it
/// tries again: short, doubling, jittered so the racers spread out.
const WRITE_RACE_BACKOFF: Backoff = Backoff {
    first: std::time::Duration::from_millis(20),
    cap: std::time::Duration::from_millis(1280),
    jitter: Jitter::Equal,
};

pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    WRITE_RACE_BACKOFF.delay(attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn moved(from: Option<u32>, to: u32, kind: MoveKind) -> LabelMove {
        LabelMove {
            prompt: "p".into(),
            label: "production".into(),
            from: from.map(LabelTarget::Version),
            to: LabelTarget::Version(to),
            kind,
            forced: false,
            actor: "a".into(),
            reason: None,
            at: now_rfc3339(),
        }
    }

    #[test]
    fn repeated_rollbacks_walk_back_through_history() {
        let mut moves = vec![
            moved(None, 1, MoveKind::Promote),
            moved(Some(1), 2, MoveKind::Promote),
            moved(Some(2), 3, MoveKind::Promote),
        ];
        let refs = |m: &[LabelMove]| rollback_target(&m.iter().collect::<Vec<_>>());
        assert_eq!(refs(&moves), Some(LabelTarget::Version(2)));
        moves.push(moved(Some(3), 2, MoveKind::Rollback));
        assert_eq!(refs(&moves), Some(LabelTarget::Version(1)));
        moves.push(moved(Some(2), 1, MoveKind::Rollback));
        assert_eq!(refs(&moves), None);
        moves.push(moved(Some(1), 4, MoveKind::Promote));
        assert_eq!(refs(&moves), Some(LabelTarget::Version(1)));
    }

    #[test]
    fn targets_parse_and_print() {
        assert_eq!(LabelTarget::parse("v7").unwrap(), LabelTarget::Version(7));
        assert_eq!(LabelTarget::parse("7").unwrap(), LabelTarget::Version(7));
        let split = LabelTarget::parse("v7:80, v8:20").unwrap();
        assert_eq!(split.to_string(), "{v7: 80, v8: 20}");
        assert_eq!(serde_json::to_string(&split).unwrap(), r#"{"7":80,"8":20}"#);
        assert_eq!(
            serde_json::from_str::<LabelTarget>(r#"{"7":80,"8":20}"#).unwrap(),
            split
        );
        assert_eq!(
            serde_json::from_str::<LabelTarget>("7").unwrap(),
            LabelTarget::Version(7)
        );
        assert!(serde_json::from_str::<LabelTarget>(r#"{"x":1}"#).is_err());
        assert_eq!(
            LabelTarget::parse("v7:100").unwrap(),
            LabelTarget::Version(7)
        );
        assert!(LabelTarget::parse("v0").is_err());
        assert!(LabelTarget::parse("v7:0,v8:10").is_err());
        assert!(LabelTarget::parse("v7:50,v7:50").is_err());
        assert!(LabelTarget::parse("seven").is_err());
        assert_eq!(VersionRef::parse("v12"), VersionRef::Number(12));
        assert_eq!(
            VersionRef::parse("abc123"),
            VersionRef::Id(VersionId("abc123".into()))
        );
    }

    #[test]
    fn names_from_prompt_files_are_accepted_and_paths_refused() {
        for name in [
            "support bot",
            "Text Summarizer (short)",
            "résumé-writer",
            "v2_final.prompt",
        ] {
            assert!(validate_name("prompt name", name).is_ok(), "{name}");
        }
        for name in [
            "",
            " padded",
            "../up",
            "a/b",
            ".hidden",
            "-flag",
            "what?",
            "tab\there",
        ] {
            assert!(validate_name("prompt name", name).is_err(), "{name:?}");
        }
        assert_eq!(url_segment("support bot (v2)"), "support%20bot%20%28v2%29");
    }

    #[test]
    fn split_arms_follow_their_weights() {
        let split = LabelTarget::parse("v1:80,v2:20").unwrap();
        let to_v2 = (0..2000)
            .filter(|i| split.pick("p", Some(&format!("user-{i}"))) == 2)
            .count();
        assert!(
            (300..500).contains(&to_v2),
            "{to_v2} of 2000 keys went to the 20% arm"
        );
    }

    proptest! {
        #[test]
        fn a_key_always_gets_the_same_arm(key in ".{0,40}", a in 1u32..100, b in 1u32..100) {
            let split = LabelTarget::Split(BTreeMap::from([(3, a), (9, b)]));
            let first = split.pick("support-bot", Some(&key));
            prop_assert!(first == 3 || first == 9);
            prop_assert_eq!(first, split.pick("support-bot", Some(&key)));
        }

        #[test]
        fn accepted_names_stay_one_path_segment(name in "\\PC{0,30}") {
            if validate_name("prompt name", &name).is_ok() {
                let path = std::path::Path::new("prompts").join(&name);
                prop_assert_eq!(path.components().count(), 2);
                prop_assert!(!url_segment(&name).contains(['/', '?', '#', ' ']));
            }
        }

        #[test]
        fn target_parser_never_panics(text in ".{0,30}") {
            let _ = LabelTarget::parse(&text);
        }
    }
}
