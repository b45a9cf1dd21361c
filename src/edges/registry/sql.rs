//! The SQL registry, in a [`Database`]: SQLite or PostgreSQL through their
//! typed pools ([`per_backend!`]) and sqlx's runtime query API, one query
//! text for both (the compile-time macros bind to one database).
//!
//! The CLI opens a registry of its own ([`SqlRegistry::open_sqlite`],
//! [`SqlRegistry::open_postgres`]), which applies only the registry's
//! migrations ([`REGISTRY_SCHEMA`]); the server runs it on the pool its job
//! queue uses ([`SqlRegistry::on`]).
//!
//! Every row carries its namespace (`repo`, `owner/repo`); a
//! [`SqlRegistry`] reads and writes one namespace, and every query names it.
//!
//! Every write is one transaction whose first statement upserts the
//! prompt's row in `prompts`. That takes the SQLite write lock at once (so a
//! busy writer waits on the busy timeout instead of failing a lock upgrade)
//! and, on PostgreSQL, locks the prompt's row until commit, so writers of one
//! prompt go one at a time and version numbers cannot collide. Unique keys
//! are the backstop; a transient conflict is retried.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::Namespace;
use super::{
    AuditEntry, Baseline, GateOutcome, LabelMove, LabelTarget, MoveKind, MoveLabel, NewVersion,
    Published, Registry, RegistryError, Result, Version, VersionRef, backoff, baseline_detail,
    check_result_matches, checked_move, move_detail, next_version, not_found, publish_detail,
    result_detail, validate_name,
};
use crate::edges::db::{Backend, Database, Schema, per_backend, redact_url};
use crate::pipeline::review::ReviewLabel;
use crate::types::{EvalResult, Fingerprint, VersionId, now_rfc3339};

/// The registry's tables: prompts, versions, results, baselines, labels,
/// label moves and the audit log (`migrations/registry/<engine>`).
pub static REGISTRY_SCHEMA: Schema = Schema::new(
    "registry",
    || sqlx::migrate!("migrations/registry/sqlite"),
    || sqlx::migrate!("migrations/registry/postgres"),
);

/// How often a write is retried after a transient conflict.
const ATTEMPTS: u32 = 10;

/// Pool sizes of a registry the CLI opens for itself.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;

const VERSION_COLUMNS: &str =
    "repo, prompt, number, version_id, content, parent, git_commit, author, message, created_at";
const MOVE_COLUMNS: &str =
    "repo, prompt, label, from_target, to_target, kind, forced, actor, reason, at";

// The queries shared by several operations are macros, not functions: inside
// `per_backend!` they expand once per backend, against that backend's
// connection and row types, where a generic function would need a bound for
// every type it binds or reads.

/// Upserts the prompt's row: the first statement of every write (see the
/// module comment).
macro_rules! lock_prompt {
    ($conn:expr, $repo:expr, $prompt:expr) => {
        sqlx::query(
            "INSERT INTO prompts (repo, name) VALUES ($1, $2) \
             ON CONFLICT (repo, name) DO UPDATE SET writes = prompts.writes + 1",
        )
        .bind($repo)
        .bind($prompt)
        .execute($conn)
        .await?
    };
}

/// Appends one line to the audit log.
macro_rules! audit {
    ($conn:expr, $repo:expr, $actor:expr, $action:expr, $prompt:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO audit (repo, at, actor, action, prompt, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($repo)
        .bind(now_rfc3339())
        .bind($actor)
        .bind($action)
        .bind($prompt)
        .bind($detail.to_string())
        .execute($conn)
        .await?
    };
}

/// The version `$at` names, if it is published (an `Option<Version>`).
macro_rules! select_version {
    ($conn:expr, $repo:expr, $prompt:expr, $at:expr) => {{
        let row = match $at {
            VersionRef::Number(n) => {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions \
                     WHERE repo = $1 AND prompt = $2 AND number = $3"
                );
                sqlx::query(&sql)
                    .bind($repo)
                    .bind($prompt)
                    .bind(i64::from(*n))
                    .fetch_optional($conn)
                    .await?
            }
            VersionRef::Id(id) => {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions \
                     WHERE repo = $1 AND prompt = $2 AND version_id = $3"
                );
                sqlx::query(&sql)
                    .bind($repo)
                    .bind($prompt)
                    .bind(&id.0)
                    .fetch_optional($conn)
                    .await?
            }
        };
        row.as_ref().map(version_from_row).transpose()?
    }};
}

/// The result stored under `$fingerprint` (an `Option<EvalResult>`).
macro_rules! select_result {
    ($conn:expr, $repo:expr, $fingerprint:expr) => {
        sqlx::query("SELECT result FROM results WHERE repo = $1 AND fingerprint = $2")
            .bind($repo)
            .bind(&$fingerprint.0)
            .fetch_optional($conn)
            .await?
            .map(|row| from_json_column::<EvalResult>(&row, "result", "results"))
            .transpose()?
    };
}

/// One namespace of a registry in a SQLite file or a PostgreSQL database.
#[derive(Clone)]
pub struct SqlRegistry {
    db: Database,
    describe: String,
    namespace: Namespace,
}

impl SqlRegistry {
    /// The registry in `db`, sharing its pool. The caller has applied
    /// [`REGISTRY_SCHEMA`] (the server does at start-up).
    pub fn on(db: Database) -> Self {
        let describe = match db.backend() {
            Backend::Sqlite => "the server's SQLite database",
            Backend::Postgres => "the server's PostgreSQL database",
        };
        SqlRegistry {
            db,
            describe: describe.to_string(),
            namespace: Namespace::default_namespace(),
        }
    }

    /// The same registry, reading and writing `namespace`.
    pub fn in_namespace(mut self, namespace: &Namespace) -> Self {
        self.namespace = namespace.clone();
        self
    }

    fn repo(&self) -> &str {
        self.namespace.as_str()
    }

    /// Names where the registry lives, for messages. Pass URLs through
    /// [`redact_url`]: this is shown as is.
    pub fn described_as(mut self, describe: impl Into<String>) -> Self {
        self.describe = describe.into();
        self
    }

    /// Opens (creating it if needed) a SQLite registry, in WAL mode with a
    /// busy timeout, and applies the registry's migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let db = Database::open_sqlite_file(path, SQLITE_CONNECTIONS).await?;
        db.migrate(&REGISTRY_SCHEMA).await?;
        Ok(Self::on(db).described_as(format!("sqlite://{}", path.display())))
    }

    /// Connects to a PostgreSQL registry and applies the registry's
    /// migrations (under sqlx's advisory lock, so several processes may start
    /// at once).
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let db = Database::connect(url, POSTGRES_CONNECTIONS).await?;
        db.migrate(&REGISTRY_SCHEMA).await?;
        Ok(Self::on(db).described_as(redact_url(url)))
    }

    /// The database the registry is in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Closes the connections (tests drop their database afterwards). On a
    /// shared pool this closes it for every user.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Runs a write, retrying it when the database reports a transient conflict.
    async fn retrying<T, F, Fut>(&self, what: &str, write: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        for attempt in 1..=ATTEMPTS {
            match write().await {
                Err(RegistryError::Database(error))
                    if self.transient(&error) && attempt < ATTEMPTS =>
                {
                    tracing::debug!("{what}: transient database conflict ({error}); retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
        Err(RegistryError::Contention {
            what: what.to_string(),
            attempts: ATTEMPTS,
        })
    }

    fn transient(&self, error: &sqlx::Error) -> bool {
        let Some(db) = error.as_database_error() else {
            return false;
        };
        let code = db.code().unwrap_or_default();
        match self.db.backend() {
            // Serialization failure, deadlock, unique violation (a lost race
            // the row lock should prevent; retrying sees the winner's row).
            Backend::Postgres => matches!(code.as_ref(), "40001" | "40P01" | "23505"),
            // SQLITE_BUSY and its extended codes, SQLITE_LOCKED.
            Backend::Sqlite => matches!(code.as_ref(), "5" | "6" | "261" | "517" | "773"),
        }
    }

    /// Copies `prompt`'s whole history — versions, results, baselines,
    /// labels and their moves, its audit lines — from `from` (the default
    /// namespace, where rows written before namespaces live) into this
    /// registry's namespace, in one transaction, and records the adoption
    /// in both audit logs. Rows are append-only, so the originals stay:
    /// applications still reading `from` keep being served. Refused when
    /// this namespace already has the prompt.
    pub async fn adopt(&self, from: &Namespace, prompt: &str, actor: &str) -> Result<u32> {
        validate_name("prompt name", prompt)?;
        let copy = [
            "INSERT INTO prompts (repo, name, writes) \
             SELECT $1, name, writes FROM prompts WHERE repo = $2 AND name = $3"
                .to_string(),
            format!(
                "INSERT INTO versions ({VERSION_COLUMNS}) \
                 SELECT $1, prompt, number, version_id, content, parent, git_commit, author, \
                 message, created_at FROM versions WHERE repo = $2 AND prompt = $3 ORDER BY number"
            ),
            // A result is the same whichever namespace stored it (its
            // fingerprint is its content): one already here is kept.
            "INSERT INTO results (repo, fingerprint, prompt, version_id, result, recorded_at) \
             SELECT $1, fingerprint, prompt, version_id, result, recorded_at FROM results \
             WHERE repo = $2 AND prompt = $3 ON CONFLICT (repo, fingerprint) DO NOTHING"
                .to_string(),
            "INSERT INTO baselines (repo, prompt, number, fingerprint, gate, set_by, set_at) \
             SELECT $1, prompt, number, fingerprint, gate, set_by, set_at FROM baselines \
             WHERE repo = $2 AND prompt = $3"
                .to_string(),
            "INSERT INTO labels (repo, prompt, label, target) \
             SELECT $1, prompt, label, target FROM labels WHERE repo = $2 AND prompt = $3"
                .to_string(),
            format!(
                "INSERT INTO label_moves ({MOVE_COLUMNS}) \
                 SELECT $1, prompt, label, from_target, to_target, kind, forced, actor, reason, at \
                 FROM label_moves WHERE repo = $2 AND prompt = $3 ORDER BY id"
            ),
            "INSERT INTO audit (repo, at, actor, action, prompt, detail) \
             SELECT $1, at, actor, action, prompt, detail FROM audit \
             WHERE repo = $2 AND prompt = $3 ORDER BY seq"
                .to_string(),
        ];
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // The target's row first: it takes the write lock (SQLite) and
            // makes a concurrent adoption of the same prompt wait (PostgreSQL).
            // Versions of the prompt in the target and in `from`, in one read.
            let mut existing = 0;
            let mut versions = 0;
            for row in sqlx::query(
                "SELECT repo, COUNT(*) AS n FROM versions \
                 WHERE repo IN ($1, $2) AND prompt = $3 GROUP BY repo",
            )
            .bind(self.repo())
            .bind(from.as_str())
            .bind(prompt)
            .fetch_all(&mut *tx)
            .await?
            {
                let repo: String = row.try_get("repo")?;
                let count: i64 = row.try_get("n")?;
                if repo == self.repo() {
                    existing = count;
                } else {
                    versions = count;
                }
            }
            if existing > 0 {
                return Err(RegistryError::AlreadyAdopted {
                    prompt: prompt.to_string(),
                    namespace: self.repo().to_string(),
                });
            }
            if versions == 0 {
                return Err(RegistryError::NothingToAdopt {
                    prompt: prompt.to_string(),
                    namespace: from.to_string(),
                });
            }
            // A prompt row without versions (a result recorded first) is
            // replaced by the adopted one.
            sqlx::query("DELETE FROM prompts WHERE repo = $1 AND name = $2")
                .bind(self.repo())
                .bind(prompt)
                .execute(&mut *tx)
                .await?;
            for statement in &copy {
                sqlx::query(statement)
                    .bind(self.repo())
                    .bind(from.as_str())
                    .bind(prompt)
                    .execute(&mut *tx)
                    .await?;
            }
            let detail = format!("{versions} versions from {from} into {}", self.repo());
            audit!(&mut *tx, from.as_str(), actor, "adopt", Some(prompt), &detail);
            audit!(&mut *tx, self.repo(), actor, "adopt", Some(prompt), &detail);
            tx.commit().await?;
            Ok(to_u32(versions)?)
        })
    }

    async fn try_publish(&self, new: &NewVersion) -> Result<Published> {
        let insert = format!(
            "INSERT INTO versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            lock_prompt!(&mut *tx, self.repo(), &new.prompt);
            if let Some(version) =
                select_version!(&mut *tx, self.repo(), &new.prompt, &VersionRef::Id(new.id.clone()))
            {
                tx.commit().await?;
                return Ok(Published {
                    version,
                    created: false,
                });
            }
            let newest: Option<i64> =
                sqlx::query(
                    "SELECT MAX(number) AS newest FROM versions WHERE repo = $1 AND prompt = $2",
                )
                .bind(self.repo())
                .bind(&new.prompt)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("newest")?;
            let newest = newest.map(to_u32).transpose()?;
            let parent = match &new.parent {
                Some(id) => select_version!(&mut *tx, self.repo(), &new.prompt, &VersionRef::Id(id.clone()))
                    .map(|v| v.number),
                None => None,
            };
            let version = next_version(new, newest, parent);
            sqlx::query(&insert)
                .bind(self.repo())
                .bind(&version.prompt)
                .bind(i64::from(version.number))
                .bind(&version.id.0)
                .bind(to_json(&version.content))
                .bind(version.parent.map(i64::from))
                .bind(version.git_commit.clone())
                .bind(&version.author)
                .bind(version.message.clone())
                .bind(&version.created_at)
                .execute(&mut *tx)
                .await?;
            audit!(
                &mut *tx,
                self.repo(),
                &version.author,
                "publish",
                Some(version.prompt.as_str()),
                publish_detail(&version)
            );
            tx.commit().await?;
            Ok(Published {
                version,
                created: true,
            })
        })
    }

    async fn try_record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            lock_prompt!(&mut *tx, self.repo(), &result.prompt);
            sqlx::query(
                "INSERT INTO results (repo, fingerprint, prompt, version_id, result, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (repo, fingerprint) DO UPDATE SET prompt = excluded.prompt, \
                 version_id = excluded.version_id, result = excluded.result, recorded_at = excluded.recorded_at",
            )
            .bind(self.repo())
            .bind(&result.fingerprint.0)
            .bind(&result.prompt)
            .bind(&result.version.0)
            .bind(to_json(result))
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
            audit!(
                &mut *tx,
                self.repo(),
                actor,
                "record_result",
                Some(result.prompt.as_str()),
                result_detail(result)
            );
            tx.commit().await?;
            Ok(())
        })
    }

    async fn try_set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            lock_prompt!(&mut *tx, self.repo(), prompt);
            let version = select_version!(&mut *tx, self.repo(), prompt, &VersionRef::Number(number))
                .ok_or_else(|| not_found(prompt, &VersionRef::Number(number)))?;
            let result = select_result!(&mut *tx, self.repo(), fingerprint)
                .ok_or_else(|| RegistryError::ResultNotFound(fingerprint.clone()))?;
            check_result_matches(&version, &result)?;
            let baseline = Baseline {
                prompt: prompt.to_string(),
                number,
                fingerprint: fingerprint.clone(),
                gate,
                result,
                set_by: actor.to_string(),
                set_at: now_rfc3339(),
            };
            sqlx::query(
                "INSERT INTO baselines (repo, prompt, number, fingerprint, gate, set_by, set_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (repo, prompt, number) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 gate = excluded.gate, set_by = excluded.set_by, set_at = excluded.set_at",
            )
            .bind(self.repo())
            .bind(prompt)
            .bind(i64::from(number))
            .bind(&fingerprint.0)
            .bind(gate.as_str())
            .bind(actor)
            .bind(&baseline.set_at)
            .execute(&mut *tx)
            .await?;
            audit!(
                &mut *tx,
                self.repo(),
                actor,
                "set_baseline",
                Some(prompt),
                baseline_detail(&baseline)
            );
            tx.commit().await?;
            Ok(baseline)
        })
    }

    async fn try_move_label(&self, request: &MoveLabel, to: &LabelTarget) -> Result<LabelMove> {
        let insert = format!(
            "INSERT INTO label_moves ({MOVE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            lock_prompt!(&mut *tx, self.repo(), &request.prompt);
            for number in to.versions() {
                if select_version!(&mut *tx, self.repo(), &request.prompt, &VersionRef::Number(number)).is_none() {
                    return Err(not_found(&request.prompt, &VersionRef::Number(number)));
                }
            }
            let current: Option<LabelTarget> =
                sqlx::query(
                    "SELECT target FROM labels WHERE repo = $1 AND prompt = $2 AND label = $3",
                )
                .bind(self.repo())
                .bind(&request.prompt)
                    .bind(&request.label)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| from_json_column(&row, "target", "labels"))
                    .transpose()?;
            let recorded = checked_move(request, to, current)?;
            sqlx::query(
                "INSERT INTO labels (repo, prompt, label, target) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo, prompt, label) DO UPDATE SET target = excluded.target",
            )
            .bind(self.repo())
            .bind(&request.prompt)
            .bind(&request.label)
            .bind(to_json(to))
            .execute(&mut *tx)
            .await?;
            sqlx::query(&insert)
                .bind(self.repo())
                .bind(&recorded.prompt)
                .bind(&recorded.label)
                .bind(recorded.from.as_ref().map(to_json))
                .bind(to_json(&recorded.to))
                .bind(recorded.kind.as_str())
                .bind(i64::from(recorded.forced))
                .bind(&recorded.actor)
                .bind(recorded.reason.clone())
                .bind(&recorded.at)
                .execute(&mut *tx)
                .await?;
            audit!(
                &mut *tx,
                self.repo(),
                &recorded.actor,
                "move_label",
                Some(recorded.prompt.as_str()),
                move_detail(&recorded)
            );
            tx.commit().await?;
            Ok(recorded)
        })
    }
}

#[async_trait]
impl Registry for SqlRegistry {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn scoped(&self, namespace: &Namespace) -> std::sync::Arc<dyn Registry> {
        std::sync::Arc::new(self.clone().in_namespace(namespace))
    }

    async fn publish(&self, new: NewVersion) -> Result<Published> {
        validate_name("prompt name", &new.prompt)?;
        let new = &new;
        self.retrying("publishing", move || self.try_publish(new))
            .await
    }

    async fn version(&self, prompt: &str, at: &VersionRef) -> Result<Option<Version>> {
        Ok(per_backend!(&self.db, pool => select_version!(pool, self.repo(), prompt, at)))
    }

    async fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND prompt = $2 ORDER BY number"
        );
        per_backend!(&self.db, pool => {
            sqlx::query(&sql)
                .bind(self.repo())
                .bind(prompt)
                .fetch_all(pool)
                .await?
                .iter()
                .map(version_from_row)
                .collect()
        })
    }

    async fn prompts(&self) -> Result<Vec<String>> {
        per_backend!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT DISTINCT prompt FROM versions WHERE repo = $1 ORDER BY prompt",
            )
            .bind(self.repo())
            .fetch_all(pool)
                .await?;
            Ok(rows
                .iter()
                .map(|row| row.try_get("prompt"))
                .collect::<Result<_, _>>()?)
        })
    }

    async fn record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        validate_name("prompt name", &result.prompt)?;
        self.retrying("recording a result", move || {
            self.try_record_result(result, actor)
        })
        .await
    }

    async fn result(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>> {
        Ok(per_backend!(&self.db, pool => select_result!(pool, self.repo(), fingerprint)))
    }

    async fn set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        self.retrying("setting a baseline", move || {
            self.try_set_baseline(prompt, number, fingerprint, gate, actor)
        })
        .await
    }

    async fn baseline(&self, prompt: &str, number: u32) -> Result<Option<Baseline>> {
        let stored = per_backend!(&self.db, pool => {
            let row = sqlx::query(
                "SELECT b.fingerprint, b.gate, b.set_by, b.set_at, r.result FROM baselines b \
                 JOIN results r ON r.repo = b.repo AND r.fingerprint = b.fingerprint \
                 WHERE b.repo = $1 AND b.prompt = $2 AND b.number = $3",
            )
            .bind(self.repo())
            .bind(prompt)
            .bind(i64::from(number))
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => Some((
                    row.text("fingerprint")?,
                    row.text("gate")?,
                    row.text("set_by")?,
                    row.text("set_at")?,
                    from_json_column::<EvalResult>(&row, "result", "results")?,
                )),
            }
        });
        let Some((fingerprint, gate, set_by, set_at, result)) = stored else {
            return Ok(None);
        };
        Ok(Some(Baseline {
            prompt: prompt.to_string(),
            number,
            fingerprint: Fingerprint(fingerprint),
            gate: GateOutcome::parse(&gate)
                .ok_or_else(|| corrupt("baselines", format!("unknown gate `{gate}`")))?,
            result,
            set_by,
            set_at,
        }))
    }

    async fn labels(&self, prompt: &str) -> Result<BTreeMap<String, LabelTarget>> {
        per_backend!(&self.db, pool => {
            sqlx::query("SELECT label, target FROM labels WHERE repo = $1 AND prompt = $2")
                .bind(self.repo())
                .bind(prompt)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.text("label")?, from_json_column(row, "target", "labels")?)))
                .collect()
        })
    }

    async fn move_label(&self, request: MoveLabel) -> Result<LabelMove> {
        validate_name("label", &request.label)?;
        let to = request.to.clone().normalized()?;
        let (request, to) = (&request, &to);
        self.retrying("moving a label", move || self.try_move_label(request, to))
            .await
    }

    async fn label_history(&self, prompt: &str) -> Result<Vec<LabelMove>> {
        let sql = format!(
            "SELECT {MOVE_COLUMNS} FROM label_moves WHERE repo = $1 AND prompt = $2 ORDER BY id"
        );
        per_backend!(&self.db, pool => {
            sqlx::query(&sql)
                .bind(self.repo())
                .bind(prompt)
                .fetch_all(pool)
                .await?
                .iter()
                .map(move_from_row)
                .collect()
        })
    }

    async fn record_review_label(&self, label: &ReviewLabel) -> Result<()> {
        validate_name("prompt name", &label.output.prompt)?;
        label.validate()?;
        per_backend!(&self.db, pool => {
            // Append-only rows need no prompt lock: nothing is numbered.
            sqlx::query(
                "INSERT INTO review_labels (repo, prompt, criterion, fingerprint, case_id, label, labelled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(self.repo())
            .bind(&label.output.prompt)
            .bind(&label.output.criterion)
            .bind(&label.output.fingerprint)
            .bind(&label.output.case_id)
            .bind(to_json(label))
            .bind(&label.labelled_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn review_labels(&self, prompt: Option<&str>) -> Result<Vec<ReviewLabel>> {
        per_backend!(&self.db, pool => {
            sqlx::query(
                "SELECT label FROM review_labels WHERE repo = $1 AND ($2 IS NULL OR prompt = $2) ORDER BY id",
            )
            .bind(self.repo())
            .bind(prompt)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| from_json_column(row, "label", "review_labels"))
            .collect()
        })
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        per_backend!(&self.db, pool => {
            sqlx::query(
                "SELECT seq, at, actor, action, prompt, detail FROM audit WHERE repo = $1 ORDER BY seq",
            )
            .bind(self.repo())
            .fetch_all(pool)
                .await?
                .iter()
                .map(audit_from_row)
                .collect()
        })
    }
}

/// A row of either backend, read by column name: the registry's columns
/// are text and 64-bit integers on both.
trait RegistryRow {
    fn text(&self, column: &str) -> sqlx::Result<String>;
    fn optional_text(&self, column: &str) -> sqlx::Result<Option<String>>;
    fn integer(&self, column: &str) -> sqlx::Result<i64>;
    fn optional_integer(&self, column: &str) -> sqlx::Result<Option<i64>>;
}

macro_rules! registry_row {
    ($row:ty) => {
        impl RegistryRow for $row {
            fn text(&self, column: &str) -> sqlx::Result<String> {
                self.try_get(column)
            }
            fn optional_text(&self, column: &str) -> sqlx::Result<Option<String>> {
                self.try_get(column)
            }
            fn integer(&self, column: &str) -> sqlx::Result<i64> {
                self.try_get(column)
            }
            fn optional_integer(&self, column: &str) -> sqlx::Result<Option<i64>> {
                self.try_get(column)
            }
        }
    };
}
registry_row!(SqliteRow);
registry_row!(PgRow);

fn version_from_row(row: &impl RegistryRow) -> Result<Version> {
    Ok(Version {
        prompt: row.text("prompt")?,
        number: to_u32(row.integer("number")?)?,
        id: VersionId(row.text("version_id")?),
        content: from_json_column(row, "content", "versions")?,
        parent: row.optional_integer("parent")?.map(to_u32).transpose()?,
        git_commit: row.optional_text("git_commit")?,
        author: row.text("author")?,
        message: row.optional_text("message")?,
        created_at: row.text("created_at")?,
    })
}

fn move_from_row(row: &impl RegistryRow) -> Result<LabelMove> {
    let kind = row.text("kind")?;
    Ok(LabelMove {
        prompt: row.text("prompt")?,
        label: row.text("label")?,
        from: row
            .optional_text("from_target")?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| corrupt("label_moves", e.to_string()))
            })
            .transpose()?,
        to: from_json_column(row, "to_target", "label_moves")?,
        kind: MoveKind::parse(&kind)
            .ok_or_else(|| corrupt("label_moves", format!("unknown kind `{kind}`")))?,
        forced: row.integer("forced")? != 0,
        actor: row.text("actor")?,
        reason: row.optional_text("reason")?,
        at: row.text("at")?,
    })
}

fn audit_from_row(row: &impl RegistryRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: u64::try_from(row.integer("seq")?)
            .map_err(|_| corrupt("audit", "negative sequence number".into()))?,
        at: row.text("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        prompt: row.optional_text("prompt")?,
        detail: from_json_column(row, "detail", "audit")?,
    })
}

fn from_json_column<T: serde::de::DeserializeOwned>(
    row: &impl RegistryRow,
    column: &str,
    table: &str,
) -> Result<T> {
    let text = row.text(column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(table, format!("column {column}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own plain-data types always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

fn to_u32(value: i64) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| corrupt("versions", format!("version number {value} out of range")))
}

fn corrupt(table: &str, message: String) -> RegistryError {
    RegistryError::Corrupt {
        path: format!("table {table}"),
        message,
    }
}
