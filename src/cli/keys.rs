//! `promptgate keys`: the API keys applications present to the `/v1` routes
//! (`Authorization: Bearer …`). `create` prints the key once (stdout, alone on
//! its line, so scripts can capture it); the database keeps only its hash, so
//! `list` can never show it. Every key names the repositories it reaches
//! (`--repository`, `--installation`, or `--all-repos`): there is no default.

use super::console::{out, outln};
use anyhow::Context;
use clap::{Args, Subcommand};

use super::Outcome;
use crate::edges::db::{Database, redact_url};
use crate::edges::registry::Namespace;
use crate::server::settings::{DEFAULT_DATABASE_URL, ENV_DATABASE_URL};
use crate::server::{ApiKeyRecord, ApiKeys, KeyReach, Scope, schema};

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The server's database (the one `promptgate serve` uses).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = ENV_DATABASE_URL,
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// What the key is for, e.g. the application's name.
        #[arg(long)]
        name: String,
        /// read: fetch prompts; telemetry: also report executions (an
        /// application's key); publish: also publish; admin: everything.
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: Scope,
        /// A repository (`owner/repo`) whose prompts the key reaches; repeat
        /// for several.
        #[arg(long = "repository", value_name = "OWNER/REPO", value_parser = parse_repo,
              required_unless_present_any = ["installation", "all_repos"])]
        repos: Vec<Namespace>,
        /// Every repository of this App installation (as the server knows
        /// them when a request comes).
        #[arg(long, value_name = "ID", conflicts_with_all = ["repos", "all_repos"])]
        installation: Option<u64>,
        /// Every repository on this server.
        #[arg(long, conflicts_with_all = ["repos", "installation"])]
        all_repos: bool,
    },
    /// List every key: id, name, scope, created, revoked (never the key).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (from `list`); requests with it get 401 at once.
    Revoke { id: i64 },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
}

fn parse_repo(text: &str) -> Result<Namespace, String> {
    Namespace::parse(text).map_err(|error| error.to_string())
}

pub fn run(args: KeysArgs) -> anyhow::Result<Outcome> {
    super::block_on(async move {
        let shown = redact_url(&args.database_url);
        let db = Database::connect(&args.database_url, 1).await?;
        schema::migrate(&db)
            .await
            .with_context(|| format!("cannot migrate the database {shown}"))?;
        let keys = ApiKeys::new(db.clone());
        let result = act(&keys, args.action).await;
        db.close().await;
        result
    })?;
    Ok(Outcome::Success)
}

async fn act(keys: &ApiKeys, action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Create {
            name,
            scope,
            repos,
            installation,
            all_repos,
        } => {
            let name = name.trim();
            if name.is_empty() {
                anyhow::bail!("--name is empty: name the key after what uses it");
            }
            let reach = match (installation, all_repos) {
                (Some(id), _) => KeyReach::Installation(id),
                (None, true) => KeyReach::Every,
                (None, false) => KeyReach::Repos(repos),
            };
            let created = keys.create(name, scope, reach).await?;
            outln!("{}", created.key.expose());
            eprintln!(
                "created key {} `{}` with scope {} for {}; store it now: it is not shown again",
                created.info.id, created.info.name, created.info.scope, created.info.reach
            );
        }
        KeysAction::List { json } => {
            let listed = keys.list().await?;
            if json {
                for key in &listed {
                    outln!("{}", serde_json::to_string(key)?);
                }
            } else {
                out!("{}", table(&listed));
            }
        }
        KeysAction::Revoke { id } => {
            if !keys.revoke(id).await? {
                anyhow::bail!(
                    "no active key with id {id}: `promptgate keys list` shows the ids (revoked keys stay revoked)"
                );
            }
            eprintln!("revoked key {id}");
        }
    }
    Ok(())
}

fn table(keys: &[ApiKeyRecord]) -> String {
    let name_width = keys.iter().map(|k| k.name.len()).max().unwrap_or(0).max(4);
    let mut text = format!(
        "{:>4}  {:<name_width$}  {:<7}  {:<20}  {:<20}  {}\n",
        "ID", "NAME", "SCOPE", "CREATED", "REVOKED", "REPOSITORIES"
    );
    for key in keys {
        text.push_str(&format!(
            "{:>4}  {:<name_width$}  {:<7}  {:<20}  {:<20}  {}\n",
            key.id,
            key.name,
            key.scope.as_str(),
            timestamp(key.created_at_ms),
            key.revoked_at_ms
                .map(timestamp)
                .unwrap_or_else(|| "-".into()),
            key.reach,
        ));
    }
    text
}

/// Unix milliseconds as RFC 3339 UTC, to the second.
fn timestamp(ms: i64) -> String {
    crate::types::time::unix_ms_rfc3339(ms).unwrap_or_else(|| ms.to_string())
}
