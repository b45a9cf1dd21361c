//! Publishing the current versions of prompts: evaluate (or reuse the
//! stored result of an identical evaluation), gate each against the
//! baseline of the version `latest` names, publish the content with
//! includes resolved, record the result as the new version's baseline and
//! move `latest`. `promptgate publish`, the Action's push flow and the
//! server's publish jobs share it.
//! Publishing unchanged content again changes nothing.

use std::path::Path;

use super::error::FlowError;
use super::evaluate::{Evaluated, Locations, RunOptions, evaluate_workspace};
use crate::edges::git::WorkingTree;
use crate::edges::registry::{
    self, GateOutcome, LATEST, NewVersion, PublishInput, Registry, RegistryError, VersionRef,
};
use crate::pipeline::config::Config;
use crate::pipeline::gate::{self, GateInput};
use crate::pipeline::spec::Workspace;
use crate::types::EvalResult;

/// Who publishes, and from which commit.
#[derive(Debug, Clone, Default)]
pub struct PublishMeta {
    pub author: String,
    pub git_commit: Option<String>,
    pub message: Option<String>,
}

/// One prompt's publish, for printing and for the Action's deployments.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedPrompt {
    pub prompt: String,
    pub number: u32,
    /// False when identical content was already published.
    pub created: bool,
    pub latest_moved: bool,
    /// The gate of this result against the baseline of the version `latest`
    /// named before (thresholds only, for a first version).
    pub gate: GateOutcome,
    /// Provider calls made for it (0 when a stored result was reused).
    pub calls: u64,
}

impl PublishedPrompt {
    /// `support-bot v3 published (gate passed), latest → v3`.
    pub fn describe(&self) -> String {
        format!(
            "{} v{}{} (gate {}){}",
            self.prompt,
            self.number,
            if self.created {
                " published"
            } else {
                " already published"
            },
            self.gate.as_str().replace('_', " "),
            if self.latest_moved {
                format!(", latest → v{}", self.number)
            } else {
                String::new()
            }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Check(#[from] FlowError),
    #[error("{prompt}: its includes could not be resolved for publishing: {source}")]
    Content {
        prompt: String,
        #[source]
        source: crate::pipeline::template::TemplateError,
    },
    #[error("publishing {prompt} to {registry}: {source}")]
    Registry {
        prompt: String,
        registry: String,
        #[source]
        source: RegistryError,
    },
}

/// Evaluates the named prompts of the working tree (all when `selectors` is
/// empty; stored results are reused unless `options.cache` says otherwise)
/// and publishes each to `registry`.
pub async fn publish_current(
    root: &Path,
    registry: &dyn Registry,
    selectors: &[String],
    options: &RunOptions,
    meta: &PublishMeta,
) -> Result<Vec<PublishedPrompt>, PublishError> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(root).map_err(FlowError::from)?))
        .map_err(FlowError::from)?;
    let locations = Locations::checkout(root);
    publish_workspace(&workspace, &locations, registry, selectors, options, meta).await
}

/// [`publish_current`] on any workspace (the server's comes from the GitHub
/// API), with the store where `locations` says.
pub async fn publish_workspace(
    workspace: &Workspace,
    locations: &Locations,
    registry: &dyn Registry,
    selectors: &[String],
    options: &RunOptions,
    meta: &PublishMeta,
) -> Result<Vec<PublishedPrompt>, PublishError> {
    let evaluations = evaluate_workspace(workspace, selectors, options, locations).await?;
    for skipped in &evaluations.skipped {
        tracing::warn!("{}", skipped.note);
    }
    let mut published = Vec::new();
    for item in evaluations.evaluated {
        let content =
            crate::pipeline::template::resolved_content(&item.prompt, workspace.files.as_ref())
                .map_err(|source| PublishError::Content {
                    prompt: item.prompt.name.clone(),
                    source,
                })?;
        let registry_error = |source| PublishError::Registry {
            prompt: item.prompt.name.clone(),
            registry: registry.describe(),
            source,
        };
        let previous = previous_baseline(registry, &item)
            .await
            .map_err(registry_error)?;
        let gate = gate_against(&workspace.config, &item, previous.as_ref());
        let input = PublishInput {
            version: NewVersion {
                prompt: item.prompt.name.clone(),
                id: item.result.version.clone(),
                content,
                parent: None,
                git_commit: meta.git_commit.clone(),
                author: meta.author.clone(),
                message: meta.message.clone(),
            },
            result: Some(item.result.clone()),
            gate,
        };
        let outcome = registry::publish_prompt(registry, input)
            .await
            .map_err(registry_error)?;
        published.push(PublishedPrompt {
            prompt: item.prompt.name.clone(),
            number: outcome.version.number,
            created: outcome.created,
            latest_moved: outcome.latest_moved,
            gate,
            calls: item.calls.made,
        });
    }
    Ok(published)
}

/// The baseline result of the version `latest` names, unless that version
/// is this very content (a repeated publish).
async fn previous_baseline(
    registry: &dyn Registry,
    item: &Evaluated,
) -> Result<Option<EvalResult>, RegistryError> {
    let name = &item.prompt.name;
    let Some(target) = registry.label(name, LATEST).await? else {
        return Ok(None);
    };
    let Some(number) = target.versions().into_iter().max() else {
        return Ok(None);
    };
    let Some(version) = registry.version(name, &VersionRef::Number(number)).await? else {
        return Ok(None);
    };
    if version.id == item.result.version {
        return Ok(None);
    }
    Ok(registry.baseline(name, number).await?.map(|b| b.result))
}

/// The gate of the new result against the previous baseline (or against
/// thresholds alone), under the config's policy and the prompt's overrides.
fn gate_against(config: &Config, item: &Evaluated, previous: Option<&EvalResult>) -> GateOutcome {
    let gates = gate::gate_all(&[GateInput {
        head: &item.result,
        baseline: previous,
        policy: &config.gate,
        overrides: &item.prompt.gate,
        sequential: None,
    }]);
    match gates.first() {
        Some(g) if g.failed => GateOutcome::Failed,
        Some(_) => GateOutcome::Passed,
        None => GateOutcome::NotRun,
    }
}
