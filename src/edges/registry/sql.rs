//! The SQL registry: one query module for SQLite and PostgreSQL through
//! sqlx's runtime `Any` driver (the compile-time macros bind to one database).
//!
//! Every write is one transaction whose first statement upserts the
//! prompt's row in `prompts`. That takes the SQLite write lock at once (so a
//! busy writer waits on the busy timeout instead of failing a lock upgrade)
//! and, on PostgreSQL, locks the prompt's row until commit, so writers of one
//! prompt go one at a time and version numbers cannot collide. Unique keys
//! are the backstop; a transient conflict is retried.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use super::{
    AuditEntry, Baseline, GateOutcome, LabelMove, LabelTarget, MoveKind, MoveLabel, NewVersion,
    Published, Registry, RegistryError, Result, Version, VersionRef, backoff, baseline_detail,
    check_result_matches, checked_move, move_detail, next_version, not_found, now, publish_detail,
    result_detail, validate_name,
};
use crate::types::{EvalResult, Fingerprint, VersionId};

/// How often a write is retried after a transient conflict.
const ATTEMPTS: u32 = 10;

const VERSION_COLUMNS: &str =
    "prompt, number, version_id, content, parent, git_commit, author, message, created_at";
const MOVE_COLUMNS: &str = "prompt, label, from_target, to_target, kind, forced, actor, reason, at";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// A registry in a SQLite file or a PostgreSQL database.
pub struct SqlRegistry {
    pool: AnyPool,
    dialect: Dialect,
    describe: String,
}

impl SqlRegistry {
    /// Opens (creating it if needed) a SQLite registry, in WAL mode with a
    /// busy timeout, and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        sqlx::any::install_default_drivers();
        // sqlx percent-decodes the path: escape what would end it early.
        let escaped = path
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        let url = format!("sqlite://{escaped}?mode=rwc");
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 15000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        // WAL is a property of the file: readers never block the writer.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            dialect: Dialect::Sqlite,
            describe: format!("sqlite://{}", path.display()),
        })
    }

    /// Connects to a PostgreSQL registry and applies the migrations (under
    /// sqlx's advisory lock, so several processes may start at once).
    pub async fn open_postgres(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            dialect: Dialect::Postgres,
            describe: without_password(url),
        })
    }

    /// Closes the connections (tests drop their database afterwards).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction holding the prompt's lock.
    async fn begin(&self, prompt: &str) -> Result<Transaction<'static, Any>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO prompts (name) VALUES ($1) \
             ON CONFLICT (name) DO UPDATE SET writes = prompts.writes + 1",
        )
        .bind(prompt)
        .execute(&mut *tx)
        .await?;
        Ok(tx)
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
        match self.dialect {
            // Serialization failure, deadlock, unique violation (a lost race
            // the row lock should prevent; retrying sees the winner's row).
            Dialect::Postgres => matches!(code.as_ref(), "40001" | "40P01" | "23505"),
            // SQLITE_BUSY and its extended codes, SQLITE_LOCKED.
            Dialect::Sqlite => matches!(code.as_ref(), "5" | "6" | "261" | "517" | "773"),
        }
    }

    async fn try_publish(&self, new: &NewVersion) -> Result<Published> {
        let mut tx = self.begin(&new.prompt).await?;
        if let Some(version) =
            select_version(&mut tx, &new.prompt, &VersionRef::Id(new.id.clone())).await?
        {
            tx.commit().await?;
            return Ok(Published {
                version,
                created: false,
            });
        }
        let newest: Option<i64> =
            sqlx::query("SELECT MAX(number) AS newest FROM versions WHERE prompt = $1")
                .bind(&new.prompt)
                .fetch_one(&mut *tx)
                .await?
                .try_get("newest")?;
        let newest = newest.map(to_u32).transpose()?;
        let parent = match &new.parent {
            Some(id) => select_version(&mut tx, &new.prompt, &VersionRef::Id(id.clone()))
                .await?
                .map(|v| v.number),
            None => None,
        };
        let version = next_version(new, newest, parent);
        sqlx::query(&format!(
            "INSERT INTO versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
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
        audit(
            &mut tx,
            &version.author,
            "publish",
            Some(&version.prompt),
            publish_detail(&version),
        )
        .await?;
        tx.commit().await?;
        Ok(Published {
            version,
            created: true,
        })
    }

    async fn try_record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        let mut tx = self.begin(&result.prompt).await?;
        sqlx::query(
            "INSERT INTO results (fingerprint, prompt, version_id, result, recorded_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (fingerprint) DO UPDATE SET prompt = excluded.prompt, \
             version_id = excluded.version_id, result = excluded.result, recorded_at = excluded.recorded_at",
        )
        .bind(&result.fingerprint.0)
        .bind(&result.prompt)
        .bind(&result.version.0)
        .bind(to_json(result))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "record_result",
            Some(&result.prompt),
            result_detail(result),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn try_set_baseline(
        &self,
        prompt: &str,
        number: u32,
        fingerprint: &Fingerprint,
        gate: GateOutcome,
        actor: &str,
    ) -> Result<Baseline> {
        let mut tx = self.begin(prompt).await?;
        let version = select_version(&mut tx, prompt, &VersionRef::Number(number))
            .await?
            .ok_or_else(|| not_found(prompt, &VersionRef::Number(number)))?;
        let result = select_result(&mut tx, fingerprint)
            .await?
            .ok_or_else(|| RegistryError::ResultNotFound(fingerprint.clone()))?;
        check_result_matches(&version, &result)?;
        let baseline = Baseline {
            prompt: prompt.to_string(),
            number,
            fingerprint: fingerprint.clone(),
            gate,
            result,
            set_by: actor.to_string(),
            set_at: now(),
        };
        sqlx::query(
            "INSERT INTO baselines (prompt, number, fingerprint, gate, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (prompt, number) DO UPDATE SET fingerprint = excluded.fingerprint, \
             gate = excluded.gate, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(prompt)
        .bind(i64::from(number))
        .bind(&fingerprint.0)
        .bind(gate.as_str())
        .bind(actor)
        .bind(&baseline.set_at)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "set_baseline",
            Some(prompt),
            baseline_detail(&baseline),
        )
        .await?;
        tx.commit().await?;
        Ok(baseline)
    }

    async fn try_move_label(&self, request: &MoveLabel, to: &LabelTarget) -> Result<LabelMove> {
        let mut tx = self.begin(&request.prompt).await?;
        for number in to.versions() {
            if select_version(&mut tx, &request.prompt, &VersionRef::Number(number))
                .await?
                .is_none()
            {
                return Err(not_found(&request.prompt, &VersionRef::Number(number)));
            }
        }
        let current: Option<LabelTarget> =
            sqlx::query("SELECT target FROM labels WHERE prompt = $1 AND label = $2")
                .bind(&request.prompt)
                .bind(&request.label)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| from_json_column(&row, "target", "labels"))
                .transpose()?;
        let recorded = checked_move(request, to, current)?;
        sqlx::query(
            "INSERT INTO labels (prompt, label, target) VALUES ($1, $2, $3) \
             ON CONFLICT (prompt, label) DO UPDATE SET target = excluded.target",
        )
        .bind(&request.prompt)
        .bind(&request.label)
        .bind(to_json(to))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO label_moves ({MOVE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
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
        audit(
            &mut tx,
            &recorded.actor,
            "move_label",
            Some(&recorded.prompt),
            move_detail(&recorded),
        )
        .await?;
        tx.commit().await?;
        Ok(recorded)
    }
}

#[async_trait]
impl Registry for SqlRegistry {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn publish(&self, new: NewVersion) -> Result<Published> {
        validate_name("prompt name", &new.prompt)?;
        let new = &new;
        self.retrying("publishing", move || self.try_publish(new))
            .await
    }

    async fn version(&self, prompt: &str, at: &VersionRef) -> Result<Option<Version>> {
        let mut conn = self.pool.acquire().await?;
        select_version(&mut conn, prompt, at).await
    }

    async fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE prompt = $1 ORDER BY number"
        ))
        .bind(prompt)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn prompts(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT prompt FROM versions ORDER BY prompt")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("prompt"))
            .collect::<Result<_, _>>()?)
    }

    async fn record_result(&self, result: &EvalResult, actor: &str) -> Result<()> {
        validate_name("prompt name", &result.prompt)?;
        self.retrying("recording a result", move || {
            self.try_record_result(result, actor)
        })
        .await
    }

    async fn result(&self, fingerprint: &Fingerprint) -> Result<Option<EvalResult>> {
        let mut conn = self.pool.acquire().await?;
        select_result(&mut conn, fingerprint).await
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
        let row = sqlx::query(
            "SELECT b.fingerprint, b.gate, b.set_by, b.set_at, r.result FROM baselines b \
             JOIN results r ON r.fingerprint = b.fingerprint WHERE b.prompt = $1 AND b.number = $2",
        )
        .bind(prompt)
        .bind(i64::from(number))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let gate: String = row.try_get("gate")?;
        Ok(Some(Baseline {
            prompt: prompt.to_string(),
            number,
            fingerprint: Fingerprint(row.try_get("fingerprint")?),
            gate: GateOutcome::parse(&gate)
                .ok_or_else(|| corrupt("baselines", format!("unknown gate `{gate}`")))?,
            result: from_json_column(&row, "result", "results")?,
            set_by: row.try_get("set_by")?,
            set_at: row.try_get("set_at")?,
        }))
    }

    async fn labels(&self, prompt: &str) -> Result<BTreeMap<String, LabelTarget>> {
        let rows = sqlx::query("SELECT label, target FROM labels WHERE prompt = $1")
            .bind(prompt)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("label")?,
                    from_json_column(row, "target", "labels")?,
                ))
            })
            .collect()
    }

    async fn move_label(&self, request: MoveLabel) -> Result<LabelMove> {
        validate_name("label", &request.label)?;
        let to = request.to.clone().normalized()?;
        let (request, to) = (&request, &to);
        self.retrying("moving a label", move || self.try_move_label(request, to))
            .await
    }

    async fn label_history(&self, prompt: &str) -> Result<Vec<LabelMove>> {
        let rows = sqlx::query(&format!(
            "SELECT {MOVE_COLUMNS} FROM label_moves WHERE prompt = $1 ORDER BY id"
        ))
        .bind(prompt)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(move_from_row).collect()
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        let rows =
            sqlx::query("SELECT seq, at, actor, action, prompt, detail FROM audit ORDER BY seq")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: u64::try_from(row.try_get::<i64, _>("seq")?)
                        .map_err(|_| corrupt("audit", "negative sequence number".into()))?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    prompt: row.try_get("prompt")?,
                    detail: from_json_column(row, "detail", "audit")?,
                })
            })
            .collect()
    }
}

async fn audit(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    action: &str,
    prompt: Option<&str>,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, prompt, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now())
    .bind(actor)
    .bind(action)
    .bind(prompt.map(str::to_string))
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn select_version(
    conn: &mut sqlx::AnyConnection,
    prompt: &str,
    at: &VersionRef,
) -> Result<Option<Version>> {
    let by_number =
        format!("SELECT {VERSION_COLUMNS} FROM versions WHERE prompt = $1 AND number = $2");
    let by_id =
        format!("SELECT {VERSION_COLUMNS} FROM versions WHERE prompt = $1 AND version_id = $2");
    let row = match at {
        VersionRef::Number(n) => {
            sqlx::query(&by_number)
                .bind(prompt)
                .bind(i64::from(*n))
                .fetch_optional(&mut *conn)
                .await?
        }
        VersionRef::Id(id) => {
            sqlx::query(&by_id)
                .bind(prompt)
                .bind(&id.0)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    row.as_ref().map(version_from_row).transpose()
}

async fn select_result(
    conn: &mut sqlx::AnyConnection,
    fingerprint: &Fingerprint,
) -> Result<Option<EvalResult>> {
    sqlx::query("SELECT result FROM results WHERE fingerprint = $1")
        .bind(&fingerprint.0)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| from_json_column(&row, "result", "results"))
        .transpose()
}

fn version_from_row(row: &AnyRow) -> Result<Version> {
    Ok(Version {
        prompt: row.try_get("prompt")?,
        number: to_u32(row.try_get("number")?)?,
        id: VersionId(row.try_get("version_id")?),
        content: from_json_column(row, "content", "versions")?,
        parent: row
            .try_get::<Option<i64>, _>("parent")?
            .map(to_u32)
            .transpose()?,
        git_commit: row.try_get("git_commit")?,
        author: row.try_get("author")?,
        message: row.try_get("message")?,
        created_at: row.try_get("created_at")?,
    })
}

fn move_from_row(row: &AnyRow) -> Result<LabelMove> {
    let kind: String = row.try_get("kind")?;
    Ok(LabelMove {
        prompt: row.try_get("prompt")?,
        label: row.try_get("label")?,
        from: row
            .try_get::<Option<String>, _>("from_target")?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| corrupt("label_moves", e.to_string()))
            })
            .transpose()?,
        to: from_json_column(row, "to_target", "label_moves")?,
        kind: MoveKind::parse(&kind)
            .ok_or_else(|| corrupt("label_moves", format!("unknown kind `{kind}`")))?,
        forced: row.try_get::<i64, _>("forced")? != 0,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        at: row.try_get("at")?,
    })
}

fn from_json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
    table: &str,
) -> Result<T> {
    let text: String = row.try_get(column)?;
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

/// A database URL safe to print: the password is removed.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "postgres://(unparsable URL)".to_string(),
    }
}
