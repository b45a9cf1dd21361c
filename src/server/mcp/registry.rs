//! The `/mcp` tools on the server's registry: list the prompts published
//! in a repository, read a version or label, diff two versions, read the
//! result and verdict published with a version, read the history, and
//! (with a `publish` key) promote and roll back.

use axum::http::request::Parts;
use rmcp::Json;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{Granted, ServerTools, actor, registry_failure};
use crate::edges::registry::{LATEST, Promote, RegistryError, ResultSummary, Version, VersionRef};
use crate::mcp::results::{self, DiffText, Moved, PromptText, as_object};
use crate::pipeline::textdiff;
use crate::server::auth::Scope;
use crate::server::registry_api::{DEFAULT_ENVIRONMENTS, at_least, named_version};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InRepository {
    /// The repository, as `owner/repo`.
    pub repository: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct OnePrompt {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AtVersion {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
    /// A version number (`v3`, `3`), a label (`production`) or a version
    /// id; default `latest`, the newest published.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Between {
    /// The repository, as `owner/repo`.
    pub repository: String,
    /// The prompt's name.
    pub prompt: String,
    /// The old version: number, label or version id.
    pub from: String,
    /// The new version, in the same forms; default `latest`.
    #[serde(default)]
    pub to: Option<String>,
}

/// The stdio server's promote, in a repository (`force` needs an `admin` key).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromoteIn {
    /// The repository, as `owner/repo`.
    pub repository: String,
    #[serde(flatten)]
    pub promote: results::Promote,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RollbackIn {
    /// The repository, as `owner/repo`.
    pub repository: String,
    #[serde(flatten)]
    pub rollback: results::Rollback,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedPrompts {
    pub repository: String,
    pub prompts: Vec<PublishedPrompt>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedPrompt {
    pub name: String,
    /// How many versions are published.
    pub versions: usize,
    pub latest_version: Option<u32>,
    /// Each label and the version(s) it serves (`v3`, or an A/B split).
    pub labels: BTreeMap<String, String>,
}

/// The result published with a version and its gate verdict.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedResult {
    pub prompt: String,
    pub version: u32,
    /// `passed`, `failed`, or `not_run` (a first version, or recorded by hand).
    pub gate: String,
    pub cases: usize,
    /// The weighted mean score (0–1) over cases and criteria; absent without cases.
    pub score: Option<f64>,
    /// Who made it the version's baseline, and when (RFC 3339).
    pub set_by: String,
    pub set_at: String,
    /// The evaluation result: per criterion and per case.
    pub result: serde_json::Map<String, serde_json::Value>,
}

/// As `promptgate history --json` prints it: newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct History {
    pub prompt: String,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub versions: Vec<serde_json::Map<String, serde_json::Value>>,
    pub moves: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[tool_router(router = registry_tools, vis = "pub(super)")]
impl ServerTools {
    /// The version `at` names, in a repository the key may read.
    async fn read_version(
        &self,
        parts: &Parts,
        at: AtVersion,
        tool: &str,
    ) -> Result<(Granted, Version), String> {
        let granted = self
            .grant_prompt(parts, &at.repository, &at.prompt, Scope::Read, tool)
            .await?;
        let version = at.version.unwrap_or_else(|| LATEST.to_string());
        let found = named_version(granted.registry.as_ref(), &at.prompt, &version)
            .await
            .map_err(registry_failure)?;
        Ok((granted, found))
    }

    #[tool(
        description = "List the prompts published in a repository of this server: each with its number of versions, newest version and labels. Needs an API key that reaches the repository."
    )]
    async fn list_prompts(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<InRepository>,
    ) -> Result<Json<PublishedPrompts>, String> {
        let repository = params.0.repository;
        let missing = || format!("nothing published in {repository} yet");
        let at = self
            .grant(&parts, &repository, Scope::Read, "list_prompts", missing)
            .await?;
        let names = at.registry.prompts().await.map_err(registry_failure)?;
        if names.is_empty() {
            return Err(missing());
        }
        let mut prompts = Vec::new();
        for name in names {
            let versions = at
                .registry
                .versions(&name)
                .await
                .map_err(registry_failure)?;
            let labels = at.registry.labels(&name).await.map_err(registry_failure)?;
            prompts.push(PublishedPrompt {
                versions: versions.len(),
                latest_version: versions.last().map(|v| v.number),
                labels: labels
                    .into_iter()
                    .map(|(label, target)| (label, target.to_string()))
                    .collect(),
                name,
            });
        }
        Ok(Json(PublishedPrompts {
            repository: at.namespace.to_string(),
            prompts,
        }))
    }

    #[tool(
        description = "Read a published version of a prompt: by number (`v3`), label (`production`) or version id; default `latest`. Returns its content, author, commit and message."
    )]
    async fn read_prompt(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<AtVersion>,
    ) -> Result<Json<PromptText>, String> {
        let (at, found) = self.read_version(&parts, params.0, "read_prompt").await?;
        Ok(Json(PromptText {
            source: format!("{}@v{} ({})", found.prompt, found.number, at.namespace),
            name: found.prompt.clone(),
            text: None,
            published: Some(as_object(&found)?),
        }))
    }

    #[tool(
        description = "What changed in a prompt between two published versions (numbers, labels or version ids), as a word-level markdown diff."
    )]
    async fn diff_prompt(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<Between>,
    ) -> Result<Json<DiffText>, String> {
        let Between {
            repository,
            prompt,
            from,
            to,
        } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &prompt, Scope::Read, "diff_prompt")
            .await?;
        let to = to.unwrap_or_else(|| LATEST.to_string());
        let old = named_version(at.registry.as_ref(), &prompt, &from)
            .await
            .map_err(registry_failure)?;
        let new = named_version(at.registry.as_ref(), &prompt, &to)
            .await
            .map_err(registry_failure)?;
        let diff = textdiff::diff_contents(Some(&old.content), Some(&new.content));
        Ok(Json(DiffText {
            name: prompt,
            from: format!("v{} ({from})", old.number),
            to: format!("v{} ({to})", new.number),
            note: None,
            markdown: diff.render_markdown(),
        }))
    }

    #[tool(
        description = "The evaluation result published with a version (number, label or version id; default `latest`) and its gate verdict: passed, failed or not_run, with the case count, overall score and per-criterion, per-case scores."
    )]
    async fn results(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<AtVersion>,
    ) -> Result<Json<PublishedResult>, String> {
        let (at, found) = self.read_version(&parts, params.0, "results").await?;
        let prompt = found.prompt;
        let baseline = at
            .registry
            .baseline(&prompt, found.number)
            .await
            .map_err(registry_failure)?
            .ok_or_else(|| {
                format!(
                    "{prompt} v{}: no result was published with this version",
                    found.number
                )
            })?;
        let summary = ResultSummary::of(&baseline.result);
        Ok(Json(PublishedResult {
            prompt,
            version: found.number,
            gate: baseline.gate.as_str().to_string(),
            cases: summary.cases,
            score: summary.score,
            set_by: baseline.set_by,
            set_at: baseline.set_at,
            result: as_object(&baseline.result)?,
        }))
    }

    #[tool(
        description = "A prompt's published versions and every move of its labels, newest first, as `promptgate history --json` gives them."
    )]
    async fn history(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<OnePrompt>,
    ) -> Result<Json<History>, String> {
        let OnePrompt { repository, prompt } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &prompt, Scope::Read, "history")
            .await?;
        let versions = at
            .registry
            .versions(&prompt)
            .await
            .map_err(registry_failure)?;
        let moves = at
            .registry
            .label_history(&prompt)
            .await
            .map_err(registry_failure)?;
        let labels = at
            .registry
            .labels(&prompt)
            .await
            .map_err(registry_failure)?;
        Ok(Json(History {
            labels: as_object(&labels)?,
            versions: versions
                .iter()
                .rev()
                .map(as_object)
                .collect::<Result<_, _>>()?,
            moves: moves
                .iter()
                .rev()
                .map(as_object)
                .collect::<Result<_, _>>()?,
            prompt,
        }))
    }

    #[tool(
        description = "Move an environment label (`staging`, then `production`) to a published version under the promotion policy (the gate must have passed for the version's result, and the server's promotion floor applies); refused with every rule that refused it. Needs a `publish` key; `force` (with a `reason`) needs an `admin` key."
    )]
    async fn promote(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<PromoteIn>,
    ) -> Result<Json<Moved>, String> {
        let PromoteIn {
            repository,
            promote: args,
        } = params.0;
        let at = self
            .grant_prompt(&parts, &repository, &args.prompt, Scope::Publish, "promote")
            .await?;
        if args.force {
            if args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(RegistryError::ForceWithoutReason.to_string());
            }
            if !at.key.scope.allows(Scope::Admin) {
                return Err(format!(
                    "a forced promotion needs an API key with scope `admin`; this one has `{}`",
                    at.key.scope
                ));
            }
        }
        let environments: Vec<String> = DEFAULT_ENVIRONMENTS.map(String::from).to_vec();
        // No repository config reaches the server over MCP: the default
        // policy, never weaker than the server's floor.
        let policy = at_least(&self.floor, None);
        let moved = at
            .registry
            .promote(
                Promote {
                    prompt: args.prompt,
                    version: VersionRef::parse(&args.version),
                    to: args.to,
                    actor: actor(&at.key),
                    reason: args.reason,
                    force: args.force,
                },
                &environments,
                &policy,
            )
            .await
            .map_err(registry_failure)?;
        // Served from the next request on (see `registry_api::moved`).
        self.prompts.forget(&at.namespace, &moved.prompt);
        Ok(Json(Moved::of(&moved)))
    }

    #[tool(
        description = "Move a label back to the version it pointed to before its last move. Needs a `publish` key."
    )]
    async fn rollback(
        &self,
        Extension(parts): Extension<Parts>,
        params: Parameters<RollbackIn>,
    ) -> Result<Json<Moved>, String> {
        let RollbackIn {
            repository,
            rollback: args,
        } = params.0;
        let at = self
            .grant_prompt(
                &parts,
                &repository,
                &args.prompt,
                Scope::Publish,
                "rollback",
            )
            .await?;
        let moved = at
            .registry
            .rollback(&args.prompt, &args.label, &actor(&at.key), args.reason)
            .await
            .map_err(registry_failure)?;
        // Served from the next request on (see `registry_api::moved`).
        self.prompts.forget(&at.namespace, &moved.prompt);
        Ok(Json(Moved::of(&moved)))
    }
}
