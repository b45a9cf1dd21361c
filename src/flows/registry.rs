//! Which registry a local checkout uses, who is acting on it, and which
//! environments its labels name: the same for every front end that works
//! in a checkout (the CLI's registry commands, `diff`, the MCP tools).

use std::path::Path;

use crate::edges::registry::sql::SqlRegistry;
use crate::edges::registry::{Namespace, Registry, RegistryError, open, open_in};
use crate::pipeline::config::Config;

/// Used when neither `--registry` nor `registry` in promptgate.toml names one.
pub const DEFAULT_REGISTRY: &str = "sqlite://.promptgate/registry.db";
/// Used when promptgate.toml lists no `environments`.
const DEFAULT_ENVIRONMENTS: [&str; 2] = ["staging", "production"];

#[derive(Debug, thiserror::Error)]
#[error("opening the {scheme} registry")]
pub struct OpenError {
    /// Only the kind of registry: its URL may hold a password.
    pub scheme: String,
    #[source]
    pub source: Box<RegistryError>,
}

/// The registry `chosen` names (a flag), else the config's, else the
/// default SQLite file in the checkout; in `repository`'s namespace when
/// one is named (`owner/repo`), else as [`open`] chooses it.
pub async fn open_registry(
    repo: &Path,
    chosen: Option<&str>,
    repository: Option<&str>,
    config: &Config,
) -> Result<Box<dyn Registry>, OpenError> {
    let url = chosen
        .map(str::to_owned)
        .or_else(|| config.registry.clone())
        .unwrap_or_else(|| DEFAULT_REGISTRY.into());
    let scheme = url.split("://").next().unwrap_or("registry").to_string();
    let opened = match repository.map(Namespace::parse).transpose() {
        Ok(Some(namespace)) => open_in(&url, repo, &namespace).await,
        Ok(None) => open(&url, repo).await,
        Err(error) => Err(error),
    };
    opened.map_err(|source| OpenError {
        scheme,
        source: Box::new(source),
    })
}

/// The environment labels `promote` may move.
pub fn environments(config: &Config) -> Vec<String> {
    if config.environments.is_empty() {
        DEFAULT_ENVIRONMENTS.iter().map(|e| e.to_string()).collect()
    } else {
        config.environments.clone()
    }
}

/// Who is acting: `PROMPTGATE_ACTOR`, else git's `user.name <user.email>`,
/// else `$GITHUB_ACTOR`.
pub fn actor(repo: &Path) -> String {
    if let Some(actor) = std::env::var("PROMPTGATE_ACTOR")
        .ok()
        .filter(|a| !a.trim().is_empty())
    {
        return actor;
    }
    let git_config = |key: &str| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["config", "--get", key])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|value| !value.is_empty())
    };
    match (git_config("user.name"), git_config("user.email")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name,
        _ => std::env::var("GITHUB_ACTOR")
            .ok()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "unknown".to_string()),
    }
}

/// Adopts `prompts` (every prompt of the default namespace when empty) from
/// the default namespace into `target`'s; per prompt, how many versions
/// came, or why none did. One prompt's refusal does not stop the others.
pub async fn adopt(
    target: &SqlRegistry,
    prompts: &[String],
    actor: &str,
) -> Result<Vec<(String, Result<u32, RegistryError>)>, RegistryError> {
    let from = Namespace::default_namespace();
    let prompts = if prompts.is_empty() {
        target.clone().in_namespace(&from).prompts().await?
    } else {
        prompts.to_vec()
    };
    let mut adopted = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let outcome = target.adopt(&from, &prompt, actor).await;
        adopted.push((prompt, outcome));
    }
    Ok(adopted)
}
