//! The registry commands: `publish` (the current versions, evaluated or
//! reused), `promote`, `rollback`, `history` and `export`.

use super::console::{out, outln};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::{Outcome, block_on};
use crate::edges::registry::{
    ENV_REPOSITORY, LabelMove, LabelTarget, Namespace, Promote, PublishInput, Registry, Version,
    VersionRef, open_sql_in, publish_prompt, url_segment,
};
use crate::flows::registry::actor;
use crate::pipeline::config::Config;

#[derive(Debug, Clone, Args)]
pub struct RegistryArg {
    /// The registry: `sqlite://PATH`, `postgres://…` or `git+branch://NAME`
    /// (default: `registry` in promptgate.toml, else sqlite://.promptgate/registry.db).
    #[arg(long, value_name = "URL", env = "PROMPTGATE_REGISTRY")]
    pub registry: Option<String>,
    /// The repository whose prompts these are (`owner/repo`). Default: a
    /// file or branch registry belongs to this checkout alone (the default
    /// namespace); a shared one (postgres://, https://) uses
    /// GITHUB_REPOSITORY, else the `origin` remote.
    #[arg(long = "repository", value_name = "OWNER/REPO", env = ENV_REPOSITORY)]
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The prompts to publish, by name or path (default: every prompt).
    /// Each is evaluated, or its stored result reused, and gated against
    /// the baseline of the version `latest` names.
    #[arg(value_name = "PROMPT", conflicts_with = "input")]
    pub prompts: Vec<String>,
    /// Publish versions described in a JSON file instead (one
    /// `PublishInput` or a list: version, result, gate outcome).
    #[arg(long, value_name = "FILE", hide = true)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub cache: super::output::CacheArgs,
    #[command(flatten)]
    pub registry: RegistryArg,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The prompt's name.
    pub prompt: String,
    /// The version: `v7`, `7`, or a version id.
    #[arg(value_name = "VERSION")]
    pub target_version: String,
    /// The environment label to move, e.g. `staging` or `production`.
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Why; recorded with the move.
    #[arg(long)]
    pub reason: Option<String>,
    /// Override the promotion policy (needs --reason; recorded as forced).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The prompt's name.
    pub prompt: String,
    /// The label to move back to its previous version.
    #[arg(long, value_name = "ENV")]
    pub label: String,
    /// Why; recorded with the move.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArg,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The prompt's name.
    pub prompt: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The folder to write the static bundle to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArg,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The prompts to adopt (default: every prompt in the default namespace).
    #[arg(value_name = "PROMPT")]
    pub prompts: Vec<String>,
    /// The SQL registry: `sqlite://PATH` or `postgres://…` (for a server,
    /// its database URL). Default: `registry` in promptgate.toml.
    #[arg(long, value_name = "URL", env = "PROMPTGATE_REGISTRY")]
    pub registry: Option<String>,
    /// The repository that published them (`owner/repo`). Never guessed:
    /// adopting says who owns a prompt's history.
    #[arg(long = "repository", value_name = "OWNER/REPO")]
    pub repository: String,
}

/// `promptgate.toml` through the shared loader (every problem with its
/// line), or the defaults when there is none.
fn load_config(repo: &Path) -> anyhow::Result<Config> {
    let files = crate::edges::git::WorkingTree::new(repo)?;
    Ok(crate::pipeline::config::load(&files)?)
}

pub(crate) async fn open_registry(
    repo: &Path,
    flag: &RegistryArg,
    config: &Config,
) -> anyhow::Result<Box<dyn Registry>> {
    Ok(crate::flows::registry::open_registry(
        repo,
        flag.registry.as_deref(),
        flag.repository.as_deref(),
        config,
    )
    .await?)
}

pub fn publish(repo: &Path, args: PublishArgs) -> anyhow::Result<Outcome> {
    if let Some(input) = &args.input {
        return publish_inputs(repo, input, &args.registry);
    }
    let config = load_config(repo)?;
    let options = crate::flows::evaluate::RunOptions {
        cache: args.cache.mode(),
        ..Default::default()
    };
    let meta = crate::flows::publish::PublishMeta {
        author: actor(repo),
        git_commit: crate::edges::git::resolve_commit(repo, "HEAD").ok(),
        message: None,
    };
    block_on(async {
        let registry = open_registry(repo, &args.registry, &config).await?;
        let published = crate::flows::publish::publish_current(
            repo,
            registry.as_ref(),
            &args.prompts,
            &options,
            &meta,
        )
        .await?;
        for item in &published {
            outln!("{}", item.describe());
        }
        anyhow::Ok(Outcome::Success)
    })
}

/// `publish --input FILE`: versions evaluated elsewhere, as JSON.
fn publish_inputs(repo: &Path, path: &Path, flag: &RegistryArg) -> anyhow::Result<Outcome> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let inputs: Vec<PublishInput> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(_)) => serde_json::from_str(&text),
        _ => serde_json::from_str(&text).map(|one| vec![one]),
    }
    .with_context(|| {
        format!(
            "{}: not a publish input (a version with its result, or a list of them)",
            path.display()
        )
    })?;
    let config = load_config(repo)?;
    block_on(async {
        let registry = open_registry(repo, flag, &config).await?;
        for input in inputs {
            let prompt = input.version.prompt.clone();
            let outcome = publish_prompt(registry.as_ref(), input)
                .await
                .with_context(|| format!("publishing {prompt}"))?;
            outln!(
                "{prompt} v{}{}{}",
                outcome.version.number,
                if outcome.created {
                    " published"
                } else {
                    " (already published)"
                },
                if outcome.latest_moved {
                    ", latest → this version"
                } else {
                    ""
                }
            );
        }
        anyhow::Ok(Outcome::Success)
    })
}

pub fn promote(repo: &Path, args: PromoteArgs) -> anyhow::Result<Outcome> {
    let config = load_config(repo)?;
    let environments = crate::flows::registry::environments(&config);
    let request = Promote {
        prompt: args.prompt,
        version: VersionRef::parse(&args.target_version),
        to: args.to,
        actor: actor(repo),
        reason: args.reason,
        force: args.force,
    };
    block_on(async {
        let registry = open_registry(repo, &args.registry, &config).await?;
        let moved = registry
            .promote(request, &environments, &config.promotion)
            .await?;
        outln!(
            "{}{}",
            describe_move(&moved),
            if moved.forced {
                " (forced: policy overridden)"
            } else {
                ""
            }
        );
        anyhow::Ok(Outcome::Success)
    })
}

pub fn rollback(repo: &Path, args: RollbackArgs) -> anyhow::Result<Outcome> {
    let config = load_config(repo)?;
    let who = actor(repo);
    block_on(async {
        let registry = open_registry(repo, &args.registry, &config).await?;
        let moved = registry
            .rollback(&args.prompt, &args.label, &who, args.reason)
            .await?;
        outln!("{} (rolled back)", describe_move(&moved));
        anyhow::Ok(Outcome::Success)
    })
}

fn describe_move(moved: &LabelMove) -> String {
    format!(
        "{}: {} → {} (was {})",
        moved.prompt,
        moved.label,
        moved.to,
        moved
            .from
            .as_ref()
            .map_or("unset".to_string(), LabelTarget::to_string)
    )
}

pub fn history(repo: &Path, args: HistoryArgs) -> anyhow::Result<Outcome> {
    let config = load_config(repo)?;
    block_on(async {
        let registry = open_registry(repo, &args.registry, &config).await?;
        let mut versions = registry.versions(&args.prompt).await?;
        if versions.is_empty() {
            anyhow::bail!(
                "{}: nothing published in {} yet",
                args.prompt,
                registry.describe()
            );
        }
        let mut moves = registry.label_history(&args.prompt).await?;
        let labels = registry.labels(&args.prompt).await?;
        versions.reverse();
        moves.reverse();
        if args.json {
            let out = json!({ "prompt": args.prompt, "labels": labels, "versions": versions, "moves": moves });
            outln!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            out!(
                "{}",
                render_history(&args.prompt, &versions, &moves, &labels)
            );
        }
        Ok(Outcome::Success)
    })
}

/// Versions and label moves, both newest first, as text.
fn render_history(
    prompt: &str,
    versions: &[Version],
    moves: &[LabelMove],
    labels: &BTreeMap<String, LabelTarget>,
) -> String {
    let mut out = format!("{prompt}\n\nversions (newest first)\n");
    for version in versions {
        let on: Vec<&str> = labels
            .iter()
            .filter(|(_, target)| target.contains(version.number))
            .map(|(label, _)| label.as_str())
            .collect();
        let short_id = version.id.short();
        out.push_str(&format!(
            "  v{:<4} {short_id:<12}  {}  {}{}{}\n",
            version.number,
            version.created_at,
            version.author,
            version
                .message
                .as_deref()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default(),
            if on.is_empty() {
                String::new()
            } else {
                format!("  [{}]", on.join(", "))
            },
        ));
    }
    out.push_str("\nlabel moves (newest first)\n");
    if moves.is_empty() {
        out.push_str("  none\n");
    }
    for moved in moves {
        out.push_str(&format!(
            "  {}  {}: {} → {}  {}{}  by {}{}\n",
            moved.at,
            moved.label,
            moved
                .from
                .as_ref()
                .map_or("unset".to_string(), LabelTarget::to_string),
            moved.to,
            moved.kind.as_str(),
            if moved.forced { " (FORCED)" } else { "" },
            moved.actor,
            moved
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
        ));
    }
    out
}

/// `promptgate adopt`: copies prompts published before namespaces (kept in
/// the default namespace) into the repository that published them.
pub fn adopt(repo: &Path, args: AdoptArgs) -> anyhow::Result<Outcome> {
    let config = load_config(repo)?;
    let target = Namespace::parse(&args.repository)?;
    let url = args
        .registry
        .or_else(|| config.registry.clone())
        .unwrap_or_else(|| crate::flows::registry::DEFAULT_REGISTRY.to_string());
    block_on(async {
        let Some(registry) = open_sql_in(&url, repo, &target).await? else {
            anyhow::bail!(
                "`adopt` works on a SQL registry (sqlite://PATH or postgres://…); for a server, \
                 run it with the server's database URL"
            );
        };
        let adopted = crate::flows::registry::adopt(&registry, &args.prompts, &actor(repo)).await?;
        let mut failed = 0;
        for (prompt, outcome) in &adopted {
            match outcome {
                Ok(versions) => outln!(
                    "adopted {prompt}: {versions} versions from {} into {target}",
                    Namespace::DEFAULT
                ),
                Err(error) => {
                    failed += 1;
                    outln!("not adopted: {error}");
                }
            }
        }
        if adopted.is_empty() {
            outln!("nothing to adopt: {} holds no prompts", Namespace::DEFAULT);
        }
        if failed > 0 {
            anyhow::bail!("{failed} of {} prompts were not adopted", adopted.len());
        }
        Ok(Outcome::Success)
    })
}

pub fn export(repo: &Path, args: ExportArgs) -> anyhow::Result<Outcome> {
    let config = load_config(repo)?;
    block_on(async {
        let registry = open_registry(repo, &args.registry, &config).await?;
        let count = export_bundle(registry.as_ref(), &args.out).await?;
        outln!("exported {count} prompts to {}", args.out.display());
        anyhow::Ok(Outcome::Success)
    })
}

/// Writes the static bundle of one repository's prompts (the namespace
/// the registry was opened in, named in `index.json`): `index.json`, and per prompt `labels.json`,
/// `labels/<label>.json` (the version a label serves), `versions.json` and
/// `versions/v<n>.json`. Paths use the plain prompt name, so a static host
/// serves `prompts/<name>/labels/production.json` as is.
pub async fn export_bundle(registry: &dyn Registry, out: &Path) -> anyhow::Result<usize> {
    let write = |path: PathBuf, value: serde_json::Value| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut text = serde_json::to_string_pretty(&value)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    let prompts = registry.prompts().await?;
    let mut index = Vec::new();
    for prompt in &prompts {
        let dir = out.join("prompts").join(prompt);
        let versions = registry.versions(prompt).await?;
        let labels = registry.labels(prompt).await?;
        for version in &versions {
            write(
                dir.join("versions")
                    .join(format!("v{}.json", version.number)),
                json!(version),
            )?;
        }
        let summaries: Vec<_> = versions
            .iter()
            .rev()
            .map(|v| json!({ "number": v.number, "id": v.id, "created_at": v.created_at, "author": v.author, "message": v.message }))
            .collect();
        write(dir.join("versions.json"), json!(summaries))?;
        write(dir.join("labels.json"), json!(labels))?;
        for (label, target) in &labels {
            let serves = match target {
                LabelTarget::Version(n) => {
                    versions.iter().find(|v| v.number == *n).map(|v| json!(v))
                }
                LabelTarget::Split(_) => None,
            };
            write(
                dir.join("labels").join(format!("{label}.json")),
                json!({ "label": label, "target": target, "version": serves }),
            )?;
        }
        index.push(json!({
            "name": prompt,
            "path": format!("prompts/{}/", url_segment(prompt)),
            "versions": versions.len(),
            "latest_version": versions.last().map(|v| v.number),
            "labels": labels,
        }));
    }
    write(
        out.join("index.json"),
        json!({
            "format": "promptgate-registry-export/1",
            "repository": registry.namespace(),
            "generated_at": crate::types::now_rfc3339(),
            "prompts": index,
        }),
    )?;
    Ok(prompts.len())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_registry_commands_parse() {
        super::super::Cli::command().debug_assert();
        let cli = <super::super::Cli as clap::Parser>::try_parse_from([
            "promptgate",
            "promote",
            "support",
            "v3",
            "--to",
            "production",
            "--force",
            "--reason",
            "incident",
        ])
        .unwrap();
        let super::super::Command::Promote(args) = cli.command else {
            panic!("not promote")
        };
        assert_eq!(
            (args.target_version.as_str(), args.to.as_str(), args.force),
            ("v3", "production", true)
        );
    }
}
