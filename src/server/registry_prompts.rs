//! [`PromptSource`] over the registry: what `GET /v1/prompts/…` serves is
//! what `promptgate publish` and `promote` wrote. The server's database URL is
//! a registry URL too (the registry and the queue migrate from the same
//! folders), so one SQLite file or PostgreSQL database holds both.

use std::path::Path;
use std::sync::Arc;

use super::prompts::{PromptSource, PromptSourceError, ServedPrompt};
use crate::edges::registry::{self, Registry, RegistryError, Version, VersionRef};

/// Published prompts, read from a [`Registry`].
pub struct RegistryPrompts {
    registry: Arc<dyn Registry>,
}

impl RegistryPrompts {
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        RegistryPrompts { registry }
    }

    /// Opens the registry at `url` (`sqlite://PATH`, relative to the current
    /// directory, or `postgres://…`), applying its migrations.
    pub async fn open(url: &str) -> Result<Self, RegistryError> {
        Ok(Self::new(Arc::from(
            registry::open(url, Path::new(".")).await?,
        )))
    }
}

fn served(version: Version, label: Option<&str>) -> Result<ServedPrompt, PromptSourceError> {
    Ok(ServedPrompt {
        name: version.prompt,
        version: u64::from(version.number),
        version_id: version.id.0,
        label: label.map(str::to_string),
        content: serde_json::to_value(&version.content)
            .map_err(|error| PromptSourceError(error.to_string()))?,
    })
}

/// Unknown prompts, labels, versions and names that cannot exist are all
/// "not found" to an application; everything else is the registry failing.
fn absent_or_failed(error: RegistryError) -> Result<Option<ServedPrompt>, PromptSourceError> {
    match error {
        RegistryError::LabelNotSet { .. }
        | RegistryError::VersionNotFound { .. }
        | RegistryError::InvalidName { .. } => Ok(None),
        other => Err(PromptSourceError(other.to_string())),
    }
}

#[async_trait::async_trait]
impl PromptSource for RegistryPrompts {
    async fn resolve(
        &self,
        name: &str,
        label: &str,
        key: Option<&str>,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        match self.registry.resolve(name, label, key).await {
            Ok(version) => served(version, Some(label)).map(Some),
            Err(error) => absent_or_failed(error),
        }
    }

    async fn version(
        &self,
        name: &str,
        number: u64,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        let Ok(number) = u32::try_from(number) else {
            return Ok(None);
        };
        match self
            .registry
            .version(name, &VersionRef::Number(number))
            .await
        {
            Ok(found) => found.map(|version| served(version, None)).transpose(),
            Err(error) => absent_or_failed(error),
        }
    }
}
