//! Storing new jobs, many in one transaction with a fixed number of
//! statements: a burst of webhook deliveries costs a handful of statements
//! per commit instead of three or four per delivery (each statement is a
//! round trip to PostgreSQL, or to SQLite's connection thread).

use std::collections::HashMap;

use super::{EnqueueOutcome, JobId, NewJob};

/// Rows per multi-row statement: far below either backend's limit on bound
/// parameters (a job row binds eight).
pub(super) const ROWS_PER_STATEMENT: usize = 256;

/// One job to store, with the webhook delivery (id, event) that asked for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Insert<'a> {
    pub delivery: Option<(&'a str, &'a str)>,
    pub job: &'a NewJob,
}

/// What storing one item did, and the older jobs its job superseded.
pub(super) type Stored = (EnqueueOutcome, Vec<JobId>);

/// How each item of a batch is stored, decided before anything is written.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BatchPlan {
    /// Items that get a job unless their delivery id is already recorded:
    /// every item without a delivery, and the first item of each delivery id.
    pub candidates: Vec<usize>,
    /// Items repeating the delivery id of an earlier item of the same batch
    /// (a redelivery arriving together with the original): `(item, first)`.
    pub repeats: Vec<(usize, usize)>,
}

impl BatchPlan {
    pub fn of(items: &[Insert<'_>]) -> Self {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut candidates = Vec::with_capacity(items.len());
        let mut repeats = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.delivery {
                Some((delivery, _)) => match first.get(delivery) {
                    Some(&earlier) => repeats.push((index, earlier)),
                    None => {
                        first.insert(delivery, index);
                        candidates.push(index);
                    }
                },
                None => candidates.push(index),
            }
        }
        BatchPlan {
            candidates,
            repeats,
        }
    }
}

/// For each distinct supersede key among the stored jobs, the newest job of
/// the batch with it (which supersedes every other unfinished job of the
/// key, earlier ones of the batch included), sorted by key.
pub(super) fn newest_per_key<'a>(
    stored: impl IntoIterator<Item = (&'a NewJob, i64)>,
) -> Vec<(&'a str, i64)> {
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for (job, id) in stored {
        if let Some(key) = &job.supersede_key {
            let entry = newest.entry(key.as_str()).or_insert(id);
            *entry = (*entry).max(id);
        }
    }
    let mut keys: Vec<(&str, i64)> = newest.into_iter().collect();
    keys.sort_unstable();
    keys
}

/// Stores `$items` (`&[Insert]`) in one transaction on `$pool` (either
/// backend) and evaluates to their [`Stored`] outcomes, in order, or returns
/// the error from the enclosing function (nothing is then stored):
/// 1. ids are reserved for every candidate (on SQLite under the write lock
///    that `BEGIN IMMEDIATE` takes first, so no other writer interleaves);
/// 2. deliveries are recorded with their job's id; one already recorded is
///    a duplicate, answered with the job its first delivery created;
/// 3. the jobs of the recorded deliveries (and those without one) are
///    inserted with their ids;
/// 4. each supersede key's newest job supersedes the key's other
///    unfinished jobs (PostgreSQL locked the keys before step 1, in key
///    order, so two replicas enqueueing for one pull request at once cannot
///    both survive, and the later one has the larger id).
macro_rules! store_jobs {
    ($pool:ident, $items:expr, $max_attempts:expr, $now:expr, $is_postgres:expr) => {{
        use std::collections::{HashMap, HashSet};
        use $crate::server::jobs::enqueue::{
            BatchPlan, Insert, ROWS_PER_STATEMENT, Stored, newest_per_key,
        };
        let items: &[Insert<'_>] = $items;
        let max_attempts: i64 = $max_attempts;
        let now: i64 = $now;
        let is_postgres: bool = $is_postgres;
        let plan = BatchPlan::of(items);
        let mut tx = if is_postgres {
            $pool.begin().await?
        } else {
            $pool.begin_with("BEGIN IMMEDIATE").await?
        };

        // 1. Ids, ascending in batch order. PostgreSQL first locks every
        // supersede key the batch may store, so that of two replicas
        // enqueueing for one pull request, the one whose ids come later
        // also commits later: a key's newest job is always its largest id.
        if is_postgres {
            let mut keys: Vec<&str> = plan
                .candidates
                .iter()
                .filter_map(|&index| items[index].job.supersede_key.as_deref())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let count = plan.candidates.len() as i64;
        let mut ids: Vec<i64> = if is_postgres {
            sqlx::query(
                "SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id \
                 FROM generate_series(1, $1::bigint)",
            )
            .bind(count)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>("id"))
            .collect::<Result<_, _>>()?
        } else {
            let last: i64 = sqlx::query(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0), \
                 COALESCE((SELECT MAX(id) FROM jobs), 0)) AS last",
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get("last")?;
            (1..=count).map(|n| last + n).collect()
        };
        ids.sort_unstable();
        let id_of: HashMap<usize, i64> = plan.candidates.iter().copied().zip(ids).collect();

        // 2. Deliveries.
        let delivered: Vec<usize> = plan
            .candidates
            .iter()
            .copied()
            .filter(|&index| items[index].delivery.is_some())
            .collect();
        let mut recorded: HashSet<String> = HashSet::with_capacity(delivered.len());
        for chunk in delivered.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO webhook_deliveries (delivery_id, event, received_at, job_id) ",
            );
            insert.push_values(chunk, |mut row, &index| {
                let (delivery, event) = items[index].delivery.unwrap_or_default();
                row.push_bind(delivery)
                    .push_bind(event)
                    .push_bind(now)
                    .push_bind(id_of[&index]);
            });
            insert.push(" ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id");
            for row in insert.build().fetch_all(&mut *tx).await? {
                recorded.insert(row.try_get("delivery_id")?);
            }
        }
        let mut outcomes: Vec<Option<Stored>> = vec![None; items.len()];
        let seen_before: Vec<usize> = delivered
            .iter()
            .copied()
            .filter(|&index| {
                items[index]
                    .delivery
                    .is_some_and(|(delivery, _)| !recorded.contains(delivery))
            })
            .collect();
        for chunk in seen_before.chunks(ROWS_PER_STATEMENT) {
            let mut select = sqlx::QueryBuilder::new(
                "SELECT delivery_id, job_id FROM webhook_deliveries WHERE delivery_id IN (",
            );
            let mut list = select.separated(", ");
            for &index in chunk {
                list.push_bind(items[index].delivery.unwrap_or_default().0);
            }
            select.push(")");
            let mut first_jobs: HashMap<String, Option<i64>> = HashMap::new();
            for row in select.build().fetch_all(&mut *tx).await? {
                first_jobs.insert(row.try_get("delivery_id")?, row.try_get("job_id")?);
            }
            for &index in chunk {
                let delivery = items[index].delivery.unwrap_or_default().0;
                let job = first_jobs.get(delivery).copied().flatten().map(JobId);
                outcomes[index] = Some((EnqueueOutcome::Duplicate { job }, Vec::new()));
            }
        }

        // 3. Jobs.
        let fresh: Vec<usize> = plan
            .candidates
            .iter()
            .copied()
            .filter(|&index| outcomes[index].is_none())
            .collect();
        let keys = newest_per_key(fresh.iter().map(|&index| (items[index].job, id_of[&index])));
        for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO jobs (id, kind, payload, supersede_key, status, attempts, \
                 max_attempts, run_after, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, &index| {
                let job = items[index].job;
                row.push_bind(id_of[&index])
                    .push_bind(job.kind.as_str())
                    .push_bind(job.payload.to_string())
                    .push_bind(job.supersede_key.as_deref())
                    .push_bind("queued")
                    .push_bind(0_i64)
                    .push_bind(max_attempts)
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for &index in &fresh {
            outcomes[index] = Some((EnqueueOutcome::Enqueued(JobId(id_of[&index])), Vec::new()));
        }

        // 4. Supersede: the older jobs go to the key's newest job.
        for (key, newest) in &keys {
            let rows = sqlx::query(
                "UPDATE jobs SET status = 'superseded', updated_at = $1, finished_at = $1, \
                 last_error = $2 \
                 WHERE supersede_key = $3 AND status IN ('queued', 'running') AND id <> $4 \
                 RETURNING id",
            )
            .bind(now)
            .bind(format!("superseded by job #{newest}"))
            .bind(*key)
            .bind(*newest)
            .fetch_all(&mut *tx)
            .await?;
            let newest_index = fresh
                .iter()
                .copied()
                .find(|&index| id_of[&index] == *newest);
            if let Some(Some((_, superseded))) = newest_index.map(|index| &mut outcomes[index]) {
                for row in rows {
                    superseded.push(JobId(row.try_get("id")?));
                }
            }
        }
        tx.commit().await?;

        // A repeat within the batch is a duplicate of its first delivery.
        for &(index, first) in &plan.repeats {
            let job = match outcomes[first] {
                Some((EnqueueOutcome::Enqueued(id), _)) => Some(id),
                Some((EnqueueOutcome::Duplicate { job }, _)) => job,
                None => None,
            };
            outcomes[index] = Some((EnqueueOutcome::Duplicate { job }, Vec::new()));
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or((EnqueueOutcome::Duplicate { job: None }, Vec::new())))
            .collect::<Vec<Stored>>()
    }};
}
pub(super) use store_jobs;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edges::db::Database;
    use crate::server::jobs::{JobKind, JobQueue, RetryPolicy};

    fn job(key: Option<&str>) -> NewJob {
        let job = NewJob::new(JobKind::SelfTest, serde_json::json!({}));
        match key {
            Some(key) => job.superseding(key),
            None => job,
        }
    }

    #[test]
    fn a_delivery_repeated_in_one_batch_is_a_repeat_of_its_first() {
        let plain = job(None);
        let items = [
            Insert {
                delivery: Some(("a", "push")),
                job: &plain,
            },
            Insert {
                delivery: None,
                job: &plain,
            },
            Insert {
                delivery: Some(("b", "push")),
                job: &plain,
            },
            Insert {
                delivery: Some(("a", "push")),
                job: &plain,
            },
        ];
        assert_eq!(
            BatchPlan::of(&items),
            BatchPlan {
                candidates: vec![0, 1, 2],
                repeats: vec![(3, 0)],
            }
        );
    }

    #[test]
    fn each_key_goes_to_its_newest_job_in_key_order() {
        let (a, b, none) = (job(Some("o/r#2")), job(Some("o/r#1")), job(None));
        let stored = [(&a, 5), (&b, 6), (&a, 9), (&none, 10), (&b, 7)];
        assert_eq!(newest_per_key(stored), vec![("o/r#1", 7), ("o/r#2", 9)]);
    }

    /// Groups larger than one statement's rows, with deliveries repeated
    /// inside a group and across groups: each delivery gets exactly one job,
    /// ids ascend in arrival order, and a repeat names its first's job.
    #[tokio::test]
    async fn groups_larger_than_a_statement_store_each_delivery_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let db = Database::connect(&url, 2).await.unwrap();
        crate::server::schema::migrate(&db).await.unwrap();
        let queue = JobQueue::new(db, RetryPolicy::default());
        let plain = job(None);
        let ids: Vec<String> = (0..900).map(|n| format!("d{n}")).collect();
        let insert = |n: usize| Insert {
            delivery: Some((ids[n].as_str(), "push")),
            job: &plain,
        };

        // 300 new deliveries, then d0..d9 again in the same group.
        let first: Vec<Insert<'_>> = (0..300).chain(0..10).map(insert).collect();
        let stored = queue.store(&first).await.unwrap();
        let enqueued: Vec<JobId> = stored[..300]
            .iter()
            .map(|(outcome, _)| match outcome {
                EnqueueOutcome::Enqueued(id) => *id,
                other => panic!("a new delivery must enqueue, got {other:?}"),
            })
            .collect();
        assert!(enqueued.windows(2).all(|pair| pair[0] < pair[1]));
        for (n, (outcome, _)) in stored[300..].iter().enumerate() {
            assert_eq!(
                *outcome,
                EnqueueOutcome::Duplicate {
                    job: Some(enqueued[n])
                }
            );
        }

        // d250..d849: the first 50 were stored by the group before.
        let second: Vec<Insert<'_>> = (250..850).map(insert).collect();
        let stored = queue.store(&second).await.unwrap();
        for (n, (outcome, _)) in stored.iter().enumerate() {
            match (n < 50, outcome) {
                (true, EnqueueOutcome::Duplicate { job }) => {
                    assert_eq!(*job, Some(enqueued[250 + n]));
                }
                (false, EnqueueOutcome::Enqueued(id)) => assert!(*id > enqueued[299]),
                (_, other) => panic!("delivery d{}: {other:?}", 250 + n),
            }
        }
        assert_eq!(queue.jobs().await.unwrap().len(), 850);
    }
}
