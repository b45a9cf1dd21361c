//! [`PromptSource`] over the registry: what `GET /v1/repos/…/prompts/…` serves is
//! what `promptgate publish` and `promote` wrote. The server's database URL is
//! a registry URL too (the server applies the registry's migrations next to
//! its own), so one SQLite file or PostgreSQL database holds both.

use std::sync::Arc;

use super::prompts::{PromptSource, PromptSourceError, ServedPrompt};
use crate::edges::registry::{Namespace, Registry, RegistryError, Version, VersionRef};

/// Published prompts, read from a [`Registry`] (any of its views: each
/// request reads the namespace it names).
pub struct RegistryPrompts {
    registry: Arc<dyn Registry>,
}

impl RegistryPrompts {
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        RegistryPrompts { registry }
    }
}

fn served(
    repo: &Namespace,
    version: Version,
    label: Option<&str>,
) -> Result<ServedPrompt, PromptSourceError> {
    let content =
        serde_json::to_value(&version.content).map_err(|source| PromptSourceError::Content {
            prompt: version.prompt.clone(),
            number: version.number,
            source,
        })?;
    Ok(ServedPrompt {
        repository: repo.to_string(),
        name: version.prompt,
        version: u64::from(version.number),
        version_id: version.id.0,
        label: label.map(str::to_string),
        content,
        git_commit: version.git_commit,
        author: Some(version.author),
        message: version.message,
        created_at: Some(version.created_at),
    })
}

/// Unknown prompts, labels, versions and names that cannot exist are all
/// "not found" to an application; everything else is the registry failing.
fn absent_or_failed(
    prompt: &str,
    error: RegistryError,
) -> Result<Option<ServedPrompt>, PromptSourceError> {
    match error {
        RegistryError::LabelNotSet { .. }
        | RegistryError::VersionNotFound { .. }
        | RegistryError::InvalidName { .. } => Ok(None),
        source => Err(PromptSourceError::Registry {
            prompt: prompt.to_string(),
            source: Box::new(source),
        }),
    }
}

#[async_trait::async_trait]
impl PromptSource for RegistryPrompts {
    async fn resolve(
        &self,
        repo: &Namespace,
        name: &str,
        label: &str,
        key: Option<&str>,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        match self.registry.scoped(repo).resolve(name, label, key).await {
            Ok(version) => served(repo, version, Some(label)).map(Some),
            Err(error) => absent_or_failed(name, error),
        }
    }

    async fn version(
        &self,
        repo: &Namespace,
        name: &str,
        number: u64,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        let Ok(number) = u32::try_from(number) else {
            return Ok(None);
        };
        match self
            .registry
            .scoped(repo)
            .version(name, &VersionRef::Number(number))
            .await
        {
            Ok(found) => found.map(|version| served(repo, version, None)).transpose(),
            Err(error) => absent_or_failed(name, error),
        }
    }
}
