//! The telemetry tables: executions appended with their hourly rollups in
//! one transaction, rollups summed for a window, and the upkeep that keeps
//! months of a busy application in bounded space (retention; day partitions
//! on PostgreSQL, deletion of raw rows already rolled up on SQLite).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use sqlx::{QueryBuilder, Row as _};

use crate::edges::db::{Backend, Database, DatabaseError, per_backend};
use crate::pipeline::telemetry::{Execution, Tally};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Rows per multi-row INSERT: far below both engines' bound parameter limits.
const ROWS_PER_STATEMENT: usize = 400;
/// Raw rows deleted per statement by the SQLite compaction, so the write
/// lock is never held for long.
const DELETE_CHUNK: i64 = 20_000;

/// One execution ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExecution {
    pub repo: String,
    pub prompt: String,
    pub version: i64,
    /// '' when the application named a version and no label.
    pub label: String,
    pub at_ms: i64,
    pub execution: Execution,
    pub error_kind: Option<String>,
    /// Idempotency key, unique per repository.
    pub key: Option<String>,
    pub received_at_ms: i64,
}

/// One size of rollup: the tables holding its sums and latency sketches,
/// the column naming a period's start, and the period's length.
#[derive(Debug, Clone, Copy)]
struct Grain {
    table: &'static str,
    latency_table: &'static str,
    column: &'static str,
    period_ms: i64,
}

const HOURLY: Grain = Grain {
    table: "telemetry_hourly",
    latency_table: "telemetry_hourly_latency",
    column: "hour_ms",
    period_ms: HOUR_MS,
};

/// Whole days read 24 times fewer rows: a week's metrics sum about 7 rows
/// per (version, label) and sketch bucket instead of 168.
const DAILY: Grain = Grain {
    table: "telemetry_daily",
    latency_table: "telemetry_daily_latency",
    column: "day_ms",
    period_ms: DAY_MS,
};

impl Grain {
    fn start_of(self, at_ms: i64) -> i64 {
        at_ms - at_ms.rem_euclid(self.period_ms)
    }
}

/// The periods of `[from_ms, to_ms)` (both whole hours), each read from the
/// coarsest rollup that covers it exactly: whole days from the daily rows,
/// the hours before the first and after the last from the hourly rows.
fn window_segments(from_ms: i64, to_ms: i64) -> Vec<(Grain, i64, i64)> {
    let first_day = DAILY.start_of(from_ms + DAY_MS - 1);
    let last_day = DAILY.start_of(to_ms);
    if first_day >= last_day {
        return vec![(HOURLY, from_ms, to_ms)];
    }
    [
        (HOURLY, from_ms, first_day),
        (DAILY, first_day, last_day),
        (HOURLY, last_day, to_ms),
    ]
    .into_iter()
    .filter(|(_, from, to)| from < to)
    .collect()
}

/// One rollup row's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PeriodKey {
    repo: String,
    prompt: String,
    start_ms: i64,
    version: i64,
    label: String,
}

/// What the upkeep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upkeep {
    pub raw_deleted: u64,
    pub partitions_created: Vec<String>,
    pub partitions_dropped: Vec<String>,
    /// Hourly rollup rows deleted.
    pub rollups_deleted: u64,
    pub daily_rollups_deleted: u64,
    pub keys_deleted: u64,
}

/// The telemetry tables of the server's database.
#[derive(Debug)]
pub struct TelemetryStore {
    db: Database,
    /// PostgreSQL day partitions known to exist (days since the epoch).
    partitions: Mutex<HashSet<i64>>,
}

fn opt_i64(value: Option<u64>) -> Option<i64> {
    value.map(|v| v.min(i64::MAX as u64) as i64)
}

/// `telemetry_executions_p20261201` for the day starting at `day * DAY_MS`.
fn partition_name(day: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "telemetry_executions_p{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The day a partition name stands for, if it is one of ours.
fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("telemetry_executions_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u8 = digits[4..6].parse().ok()?;
    let day: u8 = digits[6..].parse().ok()?;
    let date = time::Date::from_calendar_date(year, month.try_into().ok()?, day).ok()?;
    Some(
        date.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(86_400),
    )
}

impl TelemetryStore {
    pub fn new(db: Database) -> Self {
        TelemetryStore {
            db,
            partitions: Mutex::new(HashSet::new()),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Creates the PostgreSQL day partitions `days` that are not known to
    /// exist (another replica may be creating the same: that is no error).
    pub async fn ensure_partitions(
        &self,
        days: impl IntoIterator<Item = i64>,
    ) -> Result<Vec<String>, DatabaseError> {
        let Database::Postgres(pool) = &self.db else {
            return Ok(Vec::new());
        };
        let missing: Vec<i64> = {
            let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            let mut days: Vec<i64> = days.into_iter().filter(|d| !known.contains(d)).collect();
            days.sort_unstable();
            days.dedup();
            days
        };
        let mut created = Vec::new();
        for day in missing {
            let name = partition_name(day);
            let exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
                .bind(&name)
                .fetch_one(pool)
                .await?
                .try_get(0)?;
            if !exists {
                let statement = format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF telemetry_executions \
                     FOR VALUES FROM ({}) TO ({})",
                    day * DAY_MS,
                    (day + 1) * DAY_MS
                );
                if let Err(error) = sqlx::query(&statement).execute(pool).await {
                    // A concurrent CREATE by another replica loses the race
                    // on the catalog; the partition exists all the same.
                    let now_exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
                        .bind(&name)
                        .fetch_one(pool)
                        .await?
                        .try_get(0)?;
                    if !now_exists {
                        return Err(error.into());
                    }
                } else {
                    created.push(name);
                }
            }
            self.partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(day);
        }
        Ok(created)
    }

    /// Appends `rows` and their rollups in one transaction; per row, whether
    /// it was stored (`false`: its idempotency key was stored before, or
    /// earlier in `rows`).
    pub async fn append(&self, rows: &[StoredExecution]) -> Result<Vec<bool>, DatabaseError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_partitions(rows.iter().map(|row| row.at_ms.div_euclid(DAY_MS)))
            .await?;
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut keyed: Vec<(&str, &str, i64)> = Vec::new();
        for row in rows {
            if let Some(key) = &row.key
                && seen.insert((row.repo.as_str(), key.as_str()))
            {
                keyed.push((row.repo.as_str(), key.as_str(), row.received_at_ms));
            }
        }
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // The first statement writes, so an SQLite transaction takes the
            // write lock at once instead of upgrading a read (which can fail).
            let mut fresh: HashSet<(String, String)> = HashSet::new();
            for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO telemetry_idempotency (repo, key, received_at_ms) ",
                );
                insert.push_values(chunk, |mut values, (repo, key, received)| {
                    values.push_bind(*repo).push_bind(*key).push_bind(*received);
                });
                insert.push(" ON CONFLICT DO NOTHING RETURNING repo, key");
                for returned in insert.build().fetch_all(&mut *tx).await? {
                    fresh.insert((returned.try_get(0)?, returned.try_get(1)?));
                }
            }
            let mut taken: HashSet<(&str, &str)> = HashSet::new();
            let stored: Vec<bool> = rows
                .iter()
                .map(|row| match &row.key {
                    None => true,
                    Some(key) => {
                        let id = (row.repo.as_str(), key.as_str());
                        fresh.contains(&(id.0.to_string(), id.1.to_string())) && taken.insert(id)
                    }
                })
                .collect();
            let kept: Vec<&StoredExecution> = rows
                .iter()
                .zip(&stored)
                .filter_map(|(row, keep)| keep.then_some(row))
                .collect();
            for chunk in kept.chunks(ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO telemetry_executions (repo, prompt, version, label, at_ms, \
                     latency_ms, outcome, error_kind, input_tokens, output_tokens, cost_usd, \
                     feedback, quality, idempotency_key, received_at_ms) ",
                );
                insert.push_values(chunk, |mut values, row| {
                    let e = &row.execution;
                    values
                        .push_bind(&row.repo)
                        .push_bind(&row.prompt)
                        .push_bind(row.version)
                        .push_bind(&row.label)
                        .push_bind(row.at_ms)
                        .push_bind(e.latency_ms)
                        .push_bind(e.outcome.as_str())
                        .push_bind(&row.error_kind)
                        .push_bind(opt_i64(e.input_tokens))
                        .push_bind(opt_i64(e.output_tokens))
                        .push_bind(e.cost_usd)
                        .push_bind(e.feedback)
                        .push_bind(e.quality)
                        .push_bind(&row.key)
                        .push_bind(row.received_at_ms);
                });
                insert.build().execute(&mut *tx).await?;
            }
            for grain in [HOURLY, DAILY] {
                let mut periods: BTreeMap<PeriodKey, Tally> = BTreeMap::new();
                for row in &kept {
                    periods
                        .entry(PeriodKey {
                            repo: row.repo.clone(),
                            prompt: row.prompt.clone(),
                            start_ms: grain.start_of(row.at_ms),
                            version: row.version,
                            label: row.label.clone(),
                        })
                        .or_default()
                        .add(&row.execution);
                }
                let periods: Vec<(PeriodKey, Tally)> = periods.into_iter().collect();
                for chunk in periods.chunks(ROWS_PER_STATEMENT / 2) {
                    let mut upsert = QueryBuilder::new(format!(
                        "INSERT INTO {} (repo, prompt, {}, version, label, {}) ",
                        grain.table,
                        grain.column,
                        SUMMED_COLUMNS.map(|(column, _)| column).join(", ")
                    ));
                    upsert.push_values(chunk, |mut values, (key, t)| {
                        values
                            .push_bind(&key.repo)
                            .push_bind(&key.prompt)
                            .push_bind(key.start_ms)
                            .push_bind(key.version)
                            .push_bind(&key.label)
                            .push_bind(t.count as i64)
                            .push_bind(t.ok as i64)
                            .push_bind(t.errors as i64)
                            .push_bind(t.timeouts as i64)
                            .push_bind(t.refusals as i64)
                            .push_bind(t.latency_sum_ms)
                            .push_bind(t.input_tokens as i64)
                            .push_bind(t.output_tokens as i64)
                            .push_bind(t.cost_count as i64)
                            .push_bind(t.cost_sum)
                            .push_bind(t.cost_sum_sq)
                            .push_bind(t.feedback_count as i64)
                            .push_bind(t.feedback_sum)
                            .push_bind(t.feedback_positive as i64)
                            .push_bind(t.quality_count as i64)
                            .push_bind(t.quality_sum);
                    });
                    upsert.push(format!(
                        " ON CONFLICT (repo, prompt, {}, version, label) DO UPDATE SET ",
                        grain.column
                    ));
                    let mut columns = upsert.separated(", ");
                    for (column, _) in SUMMED_COLUMNS {
                        columns.push(format!(
                            "{column} = {table}.{column} + excluded.{column}",
                            table = grain.table
                        ));
                    }
                    upsert.build().execute(&mut *tx).await?;
                }
                let buckets: Vec<(&PeriodKey, i32, u64)> = periods
                    .iter()
                    .flat_map(|(key, t)| t.latency.buckets().map(move |(b, c)| (key, b, c)))
                    .collect();
                for chunk in buckets.chunks(ROWS_PER_STATEMENT) {
                    let mut upsert = QueryBuilder::new(format!(
                        "INSERT INTO {} (repo, prompt, {}, version, label, bucket, count) ",
                        grain.latency_table, grain.column
                    ));
                    upsert.push_values(chunk, |mut values, (key, bucket, count)| {
                        values
                            .push_bind(&key.repo)
                            .push_bind(&key.prompt)
                            .push_bind(key.start_ms)
                            .push_bind(key.version)
                            .push_bind(&key.label)
                            .push_bind(*bucket)
                            .push_bind(*count as i64);
                    });
                    upsert.push(format!(
                        " ON CONFLICT (repo, prompt, {column}, version, label, bucket) DO UPDATE SET \
                         count = {table}.count + excluded.count",
                        column = grain.column,
                        table = grain.latency_table
                    ));
                    upsert.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(stored)
        })
    }

    /// The tallies of `prompt` per (version, label) over the hours starting
    /// in `[from_ms, to_ms)` (whole hours), optionally of one label only.
    pub async fn tallies(
        &self,
        repo: &str,
        prompt: &str,
        from_ms: i64,
        to_ms: i64,
        label: Option<&str>,
    ) -> Result<BTreeMap<(i64, String), Tally>, DatabaseError> {
        let mut tallies: BTreeMap<(i64, String), Tally> = BTreeMap::new();
        for (grain, from_ms, to_ms) in window_segments(from_ms, to_ms) {
            let segment = Segment {
                grain,
                repo,
                prompt,
                from_ms,
                to_ms,
                label,
            };
            for (group, tally) in self.segment_tallies(&segment).await? {
                tallies.entry(group).or_default().merge(&tally);
            }
        }
        Ok(tallies)
    }

    /// The tallies of one segment of a window, read from one grain's rows.
    async fn segment_tallies(
        &self,
        segment: &Segment<'_>,
    ) -> Result<BTreeMap<(i64, String), Tally>, DatabaseError> {
        Ok(self
            .period_tallies(segment, false)
            .await?
            .into_iter()
            .map(|((_, version, label), tally)| ((version, label), tally))
            .collect())
    }

    /// The tallies of `prompt` per day and (version, label) over the days
    /// starting in `[from_ms, to_ms)` (both the start of a UTC day), read
    /// from the daily rollups in one pass: a chart of N days costs the
    /// same two queries as one day.
    pub async fn daily_tallies(
        &self,
        repo: &str,
        prompt: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<BTreeMap<i64, BTreeMap<(i64, String), Tally>>, DatabaseError> {
        let segment = Segment {
            grain: DAILY,
            repo,
            prompt,
            from_ms: DAILY.start_of(from_ms),
            to_ms: DAILY.start_of(to_ms),
            label: None,
        };
        let mut days: BTreeMap<i64, BTreeMap<(i64, String), Tally>> = BTreeMap::new();
        for ((day, version, label), tally) in self.period_tallies(&segment, true).await? {
            days.entry(day).or_default().insert((version, label), tally);
        }
        Ok(days)
    }

    /// A segment's tallies per (period start, version, label); the period
    /// start is 0 unless `per_period` (then each period is its own group).
    async fn period_tallies(
        &self,
        segment: &Segment<'_>,
        per_period: bool,
    ) -> Result<BTreeMap<(i64, i64, String), Tally>, DatabaseError> {
        let Segment {
            grain,
            repo,
            prompt,
            from_ms,
            to_ms,
            label,
        } = *segment;
        let mut tallies: BTreeMap<(i64, i64, String), Tally> = BTreeMap::new();
        let sums = SUMMED_COLUMNS
            .iter()
            .map(|(column, real)| {
                let kind = if *real { "DOUBLE PRECISION" } else { "BIGINT" };
                format!("CAST(SUM({column}) AS {kind})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let filter = if label.is_some() {
            " AND label = $5"
        } else {
            ""
        };
        let Grain {
            table,
            latency_table,
            column,
            ..
        } = grain;
        let (period, grouped) = if per_period {
            (column.to_string(), format!("{column}, "))
        } else {
            ("CAST(0 AS BIGINT)".to_string(), String::new())
        };
        let sums_query = format!(
            "SELECT {period}, version, label, {sums} FROM {table} \
             WHERE repo = $1 AND prompt = $2 AND {column} >= $3 AND {column} < $4{filter} \
             GROUP BY {grouped}version, label"
        );
        let latency_query = format!(
            "SELECT {period}, version, label, bucket, CAST(SUM(count) AS BIGINT) FROM {latency_table} \
             WHERE repo = $1 AND prompt = $2 AND {column} >= $3 AND {column} < $4{filter} \
             GROUP BY {grouped}version, label, bucket"
        );
        per_backend!(&self.db, pool => {
            let mut query = sqlx::query(&sums_query).bind(repo).bind(prompt).bind(from_ms).bind(to_ms);
            if let Some(label) = label {
                query = query.bind(label);
            }
            for row in query.fetch_all(pool).await? {
                let int = |i: usize| row.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
                let real = |i: usize| row.try_get::<f64, _>(i);
                let tally = Tally {
                    count: int(3)?,
                    ok: int(4)?,
                    errors: int(5)?,
                    timeouts: int(6)?,
                    refusals: int(7)?,
                    latency_sum_ms: real(8)?,
                    input_tokens: int(9)?,
                    output_tokens: int(10)?,
                    cost_count: int(11)?,
                    cost_sum: real(12)?,
                    cost_sum_sq: real(13)?,
                    feedback_count: int(14)?,
                    feedback_sum: real(15)?,
                    feedback_positive: int(16)?,
                    quality_count: int(17)?,
                    quality_sum: real(18)?,
                    latency: Default::default(),
                };
                tallies.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?), tally);
            }
            let mut query = sqlx::query(&latency_query).bind(repo).bind(prompt).bind(from_ms).bind(to_ms);
            if let Some(label) = label {
                query = query.bind(label);
            }
            for row in query.fetch_all(pool).await? {
                let group: (i64, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                let bucket: i32 = row.try_get(3)?;
                let count: i64 = row.try_get(4)?;
                tallies
                    .entry(group)
                    .or_default()
                    .latency
                    .add_bucket(bucket, count.max(0) as u64);
            }
        });
        Ok(tallies)
    }

    /// Raw executions stored for a prompt (every version), for tests and
    /// operators; rollups answer the metrics.
    pub async fn raw_count(&self, repo: &str, prompt: &str) -> Result<u64, DatabaseError> {
        let count: i64 = per_backend!(&self.db, pool => {
            sqlx::query("SELECT COUNT(*) FROM telemetry_executions WHERE repo = $1 AND prompt = $2")
                .bind(repo)
                .bind(prompt)
                .fetch_one(pool)
                .await?
                .try_get(0)?
        });
        Ok(count.max(0) as u64)
    }

    /// Retention and compaction as of `now_ms`: raw executions (and
    /// idempotency keys) older than `raw_retention_days` go (whole day
    /// partitions on PostgreSQL, which also gets `ahead_days` of partitions
    /// created); rollups older than `retention_days` go.
    pub async fn upkeep(
        &self,
        now_ms: i64,
        raw_retention_days: u32,
        retention_days: u32,
        ahead_days: u32,
    ) -> Result<Upkeep, DatabaseError> {
        let mut done = Upkeep::default();
        let raw_cutoff = now_ms - i64::from(raw_retention_days) * DAY_MS;
        let cutoff = now_ms - i64::from(retention_days) * DAY_MS;
        let today = now_ms.div_euclid(DAY_MS);
        match &self.db {
            Database::Postgres(pool) => {
                done.partitions_created = self
                    .ensure_partitions(today..=today + i64::from(ahead_days))
                    .await?;
                let names: Vec<String> = sqlx::query(
                    "SELECT child.relname::text FROM pg_inherits \
                     JOIN pg_class child ON child.oid = pg_inherits.inhrelid \
                     JOIN pg_class parent ON parent.oid = pg_inherits.inhparent \
                     WHERE parent.relname = 'telemetry_executions'",
                )
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
                for name in names {
                    // A day partition goes once all of its day is past the cutoff.
                    let Some(day) = partition_day(&name) else {
                        continue;
                    };
                    if (day + 1) * DAY_MS <= raw_cutoff {
                        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                            .execute(pool)
                            .await?;
                        self.partitions
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&day);
                        done.partitions_dropped.push(name);
                    }
                }
            }
            Database::Sqlite(pool) => loop {
                let deleted = sqlx::query(
                    "DELETE FROM telemetry_executions WHERE rowid IN \
                     (SELECT rowid FROM telemetry_executions WHERE at_ms < $1 LIMIT $2)",
                )
                .bind(raw_cutoff)
                .bind(DELETE_CHUNK)
                .execute(pool)
                .await?
                .rows_affected();
                done.raw_deleted += deleted;
                if deleted < DELETE_CHUNK as u64 {
                    break;
                }
            },
        }
        per_backend!(&self.db, pool => {
            done.keys_deleted = sqlx::query("DELETE FROM telemetry_idempotency WHERE received_at_ms < $1")
                .bind(raw_cutoff)
                .execute(pool)
                .await?
                .rows_affected();
            // A period goes once all of it is past the cutoff. Until then a
            // window reaching into a partly expired day reads what is left of
            // it from the hourly rows at its edge.
            for (grain, deleted) in [
                (HOURLY, &mut done.rollups_deleted),
                (DAILY, &mut done.daily_rollups_deleted),
            ] {
                let Grain { table, latency_table, column, .. } = grain;
                let before = grain.start_of(cutoff);
                *deleted = sqlx::query(&format!("DELETE FROM {table} WHERE {column} < $1"))
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected();
                sqlx::query(&format!("DELETE FROM {latency_table} WHERE {column} < $1"))
                    .bind(before)
                    .execute(pool)
                    .await?;
            }
        });
        Ok(done)
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}

/// One part of a metrics window and the rows it is read from.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    grain: Grain,
    repo: &'a str,
    prompt: &'a str,
    from_ms: i64,
    to_ms: i64,
    label: Option<&'a str>,
}

/// The rollup columns that add up, in the order [`TelemetryStore::tallies`]
/// reads them, and whether each is a real number (else a count).
const SUMMED_COLUMNS: [(&str, bool); 16] = [
    ("count", false),
    ("ok", false),
    ("errors", false),
    ("timeouts", false),
    ("refusals", false),
    ("latency_sum_ms", true),
    ("input_tokens", false),
    ("output_tokens", false),
    ("cost_count", false),
    ("cost_sum", true),
    ("cost_sum_sq", true),
    ("feedback_count", false),
    ("feedback_sum", true),
    ("feedback_positive", false),
    ("quality_count", false),
    ("quality_sum", true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_whole_days_from_the_daily_rows() {
        let day = 20_000 * DAY_MS;
        let names = |segments: Vec<(Grain, i64, i64)>| -> Vec<(&str, i64, i64)> {
            segments
                .into_iter()
                .map(|(grain, from, to)| {
                    (grain.column, (from - day) / HOUR_MS, (to - day) / HOUR_MS)
                })
                .collect()
        };
        // Within one day: hours only.
        assert_eq!(
            names(window_segments(day + HOUR_MS, day + 5 * HOUR_MS)),
            [("hour_ms", 1, 5)]
        );
        // Exactly whole days: days only.
        assert_eq!(
            names(window_segments(day, day + 2 * DAY_MS)),
            [("day_ms", 0, 48)]
        );
        // Partial days on both sides of whole ones.
        assert_eq!(
            names(window_segments(
                day + 20 * HOUR_MS,
                day + 3 * DAY_MS + 2 * HOUR_MS
            )),
            [("hour_ms", 20, 24), ("day_ms", 24, 72), ("hour_ms", 72, 74)]
        );
        // Across midnight without a whole day.
        assert_eq!(
            names(window_segments(day + 20 * HOUR_MS, day + 26 * HOUR_MS)),
            [("hour_ms", 20, 26)]
        );
    }

    #[test]
    fn partition_names_round_trip() {
        let day = 1_764_547_200 / 86_400; // 2025-12-01
        assert_eq!(partition_name(day), "telemetry_executions_p20251201");
        assert_eq!(partition_day(&partition_name(day)), Some(day));
        assert_eq!(partition_day("telemetry_executions_p2025120"), None);
        assert_eq!(partition_day("other_p20251201"), None);
    }
}
