//! [`PromptSource`] over the registry: what `GET /v1/repos/…/prompts/…` serves is
//! what `promptgate publish` and `promote` wrote. The server's database URL is
//! a registry URL too (the server applies the registry's migrations next to
//! its own), so one SQLite file or PostgreSQL database holds both.

use std::sync::Arc;
use std::time::Duration;

use super::prompts::{PromptSource, PromptSourceError, ServedPrompt};
use super::ttl_cache::{DEFAULT_SERVING_CACHE, TtlCache};
use crate::edges::registry::{
    LabelTarget, Namespace, Registry, RegistryError, Version, VersionRef,
};

/// Versions never change once published; they are kept this long only to
/// bound what a server that stops serving a version holds.
const VERSION_CACHE: Duration = Duration::from_secs(600);
const CACHE_ENTRIES: usize = 10_000;

/// (repository, prompt, label or version number).
type PromptKey<T> = (String, String, T);

/// Published prompts, read from a [`Registry`] (any of its views: each
/// request reads the namespace it names). Labels and versions just read
/// are kept in memory, so serving a busy prompt reads no table.
pub struct RegistryPrompts {
    registry: Arc<dyn Registry>,
    labels: TtlCache<PromptKey<String>, Option<LabelTarget>>,
    versions: TtlCache<PromptKey<u32>, Arc<ServedPrompt>>,
}

impl RegistryPrompts {
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        Self::with_label_cache(registry, DEFAULT_SERVING_CACHE)
    }

    /// Labels trusted for `ttl` after they are read (a label moved by
    /// another process is served within it; one moved through this server
    /// at once); zero reads every time.
    pub fn with_label_cache(registry: Arc<dyn Registry>, ttl: Duration) -> Self {
        let version_ttl = if ttl.is_zero() {
            Duration::ZERO
        } else {
            VERSION_CACHE
        };
        RegistryPrompts {
            registry,
            labels: TtlCache::new(ttl, CACHE_ENTRIES),
            versions: TtlCache::new(version_ttl, CACHE_ENTRIES),
        }
    }

    /// Where `label` of `name` points (`None`: not set).
    async fn label(
        &self,
        repo: &Namespace,
        name: &str,
        label: &str,
    ) -> Result<Option<LabelTarget>, RegistryError> {
        let key = (repo.to_string(), name.to_string(), label.to_string());
        if let Some(target) = self.labels.get(&key) {
            return Ok(target);
        }
        let target = self.registry.scoped(repo).label(name, label).await?;
        self.labels.insert(key, target.clone());
        Ok(target)
    }

    /// Version `number` of `name` as served (no label), if published.
    async fn served_version(
        &self,
        repo: &Namespace,
        name: &str,
        number: u32,
    ) -> Result<Option<Arc<ServedPrompt>>, PromptSourceError> {
        let key = (repo.to_string(), name.to_string(), number);
        if let Some(found) = self.versions.get(&key) {
            return Ok(Some(found));
        }
        let version = match self
            .registry
            .scoped(repo)
            .version(name, &VersionRef::Number(number))
            .await
        {
            Ok(Some(version)) => version,
            Ok(None) => return Ok(None),
            Err(error) => return absent_or_failed(name, error).map(|_| None),
        };
        let served = Arc::new(served(repo, version, None)?);
        self.versions.insert(key, served.clone());
        Ok(Some(served))
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
        let target = match self.label(repo, name, label).await {
            Ok(Some(target)) => target,
            Ok(None) => return Ok(None),
            Err(error) => return absent_or_failed(name, error),
        };
        let number = target.pick(name, key);
        let Some(version) = self.served_version(repo, name, number).await? else {
            return Ok(None);
        };
        Ok(Some(ServedPrompt {
            label: Some(label.to_string()),
            ..(*version).clone()
        }))
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
        Ok(self
            .served_version(repo, name, number)
            .await?
            .map(|version| (*version).clone()))
    }

    fn forget(&self, repo: &Namespace, name: &str) {
        self.labels
            .forget(|(r, n, _)| r.as_str() == repo.as_str() && n == name);
    }
}
