//! The Postgres store: production, shared by any number of replicas, which coordinate only
//! through it. A scheduled slot is claimed by a unique index (not a lock held for the run);
//! a run stays alive by renewing a lease timestamp.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::common::*;
use super::*;

/// The Postgres migrations (`migrations/postgres`), embedded in the binary.
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per replica: the scheduler's writes and the API's reads are short.
const MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

macro_rules! run_columns {
    () => {
        "seq, id, batch_id, dataset, warehouse, trigger, slot, status, replica, started_at, \
         finished_at, lease_until, error, pass_count, warn_count, fail_count, error_count"
    };
}

macro_rules! result_columns {
    () => {
        "id, run_id, dataset, warehouse, check_name, check_hash, kind, column_name, columns, \
         outcome, value, expected, message, severity, observed_at"
    };
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (one connection up front, so a wrong URL or a down server shows now). Errors
    /// never contain the URL or its password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(redact(&e.to_string(), url)))?
            .application_name("tidemark-store")
            // Sessions in UTC: timestamptz values print and truncate the same everywhere.
            .options([("TimeZone", "UTC")]);
        // One direct connection first: a store that is down is reported at once with the
        // driver's reason, where a pool would retry until its acquire timeout.
        crate::warehouse::probe::<sqlx::PgConnection>(&options)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Unavailable(m) | StoreError::Query(m) => {
                    StoreError::Unavailable(redact(&m, url))
                }
                other => other,
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgStore { pool })
    }

    /// The status of a run that could not be finished, to say why.
    async fn status_of(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }
}

fn run_row(row: &PgRow) -> Result<(i64, Run), StoreError> {
    RunRow {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        batch_id: row.try_get("batch_id")?,
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        trigger: row.try_get("trigger")?,
        slot: row.try_get("slot")?,
        status: row.try_get("status")?,
        replica: row.try_get("replica")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        lease_until: row.try_get("lease_until")?,
        error: row.try_get("error")?,
        counts: [
            row.try_get::<i32, _>("pass_count")?.into(),
            row.try_get::<i32, _>("warn_count")?.into(),
            row.try_get::<i32, _>("fail_count")?.into(),
            row.try_get::<i32, _>("error_count")?.into(),
        ],
    }
    .into_run()
}

fn result_row(row: &PgRow) -> Result<(i64, StoredResult), StoreError> {
    ResultRow {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        check_name: row.try_get("check_name")?,
        check_hash: row.try_get("check_hash")?,
        kind: row.try_get("kind")?,
        column_name: row.try_get("column_name")?,
        columns: row
            .try_get::<Option<Json<Vec<String>>>, _>("columns")?
            .map(|j| j.0),
        outcome: row.try_get("outcome")?,
        value: row.try_get("value")?,
        expected: row
            .try_get::<Option<Json<serde_json::Value>>, _>("expected")?
            .map(|j| j.0),
        message: row.try_get("message")?,
        severity: row.try_get("severity")?,
        observed_at: row.try_get("observed_at")?,
    }
    .into_result()
}

fn snapshot_row(row: &PgRow) -> Result<SchemaSnapshot, StoreError> {
    Ok(SchemaSnapshot {
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        run_id: row.try_get("run_id")?,
        taken_at: row.try_get("taken_at")?,
        columns: row.try_get::<Json<Vec<SnapshotColumn>>, _>("columns")?.0,
    })
}

fn all<T>(
    rows: &[PgRow],
    convert: fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(convert).collect()
}

impl StoreApi for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock: replicas starting together migrate one at a time.
        PG_MIGRATOR.run(&self.pool).await.map_err(migrate_error)
    }

    async fn start_run(&self, run: &NewRun) -> Result<Claim, StoreError> {
        // The arbiter names the partial unique index, so only a slot conflict is a lost
        // claim; a duplicate run id is still an error.
        let inserted = sqlx::query(
            "INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, replica, \
             started_at, lease_until) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9) \
             ON CONFLICT (dataset, slot) WHERE trigger = 'schedule' DO NOTHING",
        )
        .bind(run.id)
        .bind(run.batch_id)
        .bind(&run.dataset)
        .bind(&run.warehouse)
        .bind(run.trigger.as_str())
        .bind(run.slot)
        .bind(&run.replica)
        .bind(run.started_at)
        .bind(run.lease_until)
        .execute(&self.pool)
        .await?;
        Ok(if inserted.rows_affected() == 1 {
            Claim::Started
        } else {
            Claim::AlreadyClaimed
        })
    }

    async fn heartbeat(&self, run: Uuid, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE runs SET lease_until = $2 WHERE id = $1 AND status = 'running'")
                .bind(run)
                .bind(lease_until)
                .execute(&self.pool)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn finish_run(&self, run: &FinishedRun) -> Result<(), StoreError> {
        let summary = check_final(run)?;
        let mut tx = self.pool.begin().await?;
        let owner = sqlx::query(
            "UPDATE runs SET status = $2, finished_at = $3, error = $4, pass_count = $5, \
             warn_count = $6, fail_count = $7, error_count = $8 \
             WHERE id = $1 AND status IN ('running', 'abandoned') RETURNING dataset, warehouse",
        )
        .bind(run.id)
        .bind(run.status.as_str())
        .bind(run.finished_at)
        .bind(&run.error)
        .bind(count_column(summary.pass))
        .bind(count_column(summary.warn))
        .bind(count_column(summary.fail))
        .bind(count_column(summary.error))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            tx.rollback().await?;
            return Err(not_finishable(run.id, self.status_of(run.id).await?));
        };

        for chunk in run.results.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, ",
                "kind, column_name, columns, outcome, value, expected, message, severity, ",
                "observed_at) "
            ));
            insert.push_values(chunk, |mut row, (r, hash)| {
                row.push_bind(run.id)
                    .push_bind(&r.dataset)
                    .push_bind(&r.warehouse)
                    .push_bind(&r.check)
                    .push_bind(hash)
                    .push_bind(&r.kind)
                    .push_bind(&r.column)
                    .push_bind(r.columns.as_ref().map(Json))
                    .push_bind(r.outcome.as_str())
                    .push_bind(stored_value(r.value))
                    .push_bind(r.expected.as_ref().map(Json))
                    .push_bind(&r.message)
                    .push_bind(r.severity.map(|s| s.as_str()))
                    .push_bind(run.finished_at);
            });
            insert.build().execute(&mut *tx).await?;
        }

        let points = metric_points(run);
        for chunk in points.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO metric_points (dataset, check_name, at, value) ",
            );
            insert.push_values(chunk, |mut row, (dataset, check, value)| {
                row.push_bind(*dataset)
                    .push_bind(*check)
                    .push_bind(run.finished_at)
                    .push_bind(*value);
            });
            insert.build().execute(&mut *tx).await?;
        }

        if let Some(columns) = &run.snapshot {
            sqlx::query(
                "INSERT INTO schema_snapshots (dataset, warehouse, run_id, taken_at, columns) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(owner.try_get::<String, _>("dataset")?)
            .bind(owner.try_get::<String, _>("warehouse")?)
            .bind(run.id)
            .bind(run.finished_at)
            .bind(Json(columns))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<Vec<Run>, StoreError> {
        // Concurrent callers: the second waits on the row lock, re-checks `status`, and
        // skips the row, so each run is returned once.
        let rows = sqlx::query(concat!(
            "UPDATE runs SET status = 'abandoned', error = $2 ",
            "WHERE status = 'running' AND lease_until < $1 RETURNING ",
            run_columns!()
        ))
        .bind(now)
        .bind(LEASE_EXPIRED)
        .fetch_all(&self.pool)
        .await?;
        let mut runs = all(&rows, run_row)?;
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(runs.into_iter().map(|(_, run)| run).collect())
    }

    async fn run(&self, id: Uuid) -> Result<Run, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(run_row(&row)?.1)
    }

    async fn runs(&self, filter: &RunFilter, page: Page) -> Result<Paged<Run>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE TRUE"
        ));
        if let Some(dataset) = &filter.dataset {
            query.push(" AND dataset = ").push_bind(dataset);
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(trigger) = filter.trigger {
            query.push(" AND trigger = ").push_bind(trigger.as_str());
        }
        if let Some(before) = page.before {
            query.push(" AND seq < ").push_bind(before);
        }
        query
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(page.paged(all(&rows, run_row)?))
    }

    async fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> Result<Paged<StoredResult>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            result_columns!(),
            " FROM check_results WHERE TRUE"
        ));
        if let Some(dataset) = &filter.dataset {
            query.push(" AND dataset = ").push_bind(dataset);
        }
        if let Some(check) = &filter.check {
            query.push(" AND check_name = ").push_bind(check);
        }
        if let Some(outcome) = filter.outcome {
            query.push(" AND outcome = ").push_bind(outcome.as_str());
        }
        if let Some(run_id) = filter.run_id {
            query.push(" AND run_id = ").push_bind(run_id);
        }
        if let Some(since) = filter.since {
            query.push(" AND observed_at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND observed_at < ").push_bind(until);
        }
        if let Some(before) = page.before {
            query.push(" AND id < ").push_bind(before);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(page.paged(all(&rows, result_row)?))
    }

    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError> {
        // The group-by reads only check_results_by_check (an index-only scan); measured
        // faster here than DISTINCT ON, which fetches every row's columns to discard them.
        // Byte order (COLLATE "C"), as SQLite sorts: both stores list in the same order.
        let rows = sqlx::query(concat!(
            "SELECT ",
            result_columns!(),
            " FROM check_results WHERE id IN ",
            "(SELECT max(id) FROM check_results GROUP BY dataset, check_name) ",
            r#"ORDER BY dataset COLLATE "C", check_name COLLATE "C""#
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(all(&rows, result_row)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    async fn metric_series(
        &self,
        dataset: &str,
        check: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        let mut query =
            QueryBuilder::<Postgres>::new("SELECT at, value FROM metric_points WHERE dataset = ");
        query
            .push_bind(dataset)
            .push(" AND check_name = ")
            .push_bind(check);
        if let Some(since) = since {
            query.push(" AND at >= ").push_bind(since);
        }
        query.push(" ORDER BY at, id");
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(MetricPoint {
                    at: row.try_get("at")?,
                    value: row.try_get("value")?,
                })
            })
            .collect()
    }

    async fn latest_snapshot(
        &self,
        dataset: &str,
        warehouse: &str,
    ) -> Result<Option<SchemaSnapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT dataset, warehouse, run_id, taken_at, columns FROM schema_snapshots \
             WHERE dataset = $1 AND warehouse = $2 ORDER BY taken_at DESC, id DESC LIMIT 1",
        )
        .bind(dataset)
        .bind(warehouse)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(snapshot_row).transpose()
    }

    async fn schema_history(&self, dataset: &str) -> Result<Vec<SchemaSnapshot>, StoreError> {
        // jsonb equality compares structure, so key order or spacing never counts as a change.
        let rows = sqlx::query(
            "SELECT dataset, warehouse, run_id, taken_at, columns FROM ( \
               SELECT s.*, \
                 lag(columns) OVER w AS previous_columns, \
                 lag(warehouse) OVER w AS previous_warehouse \
               FROM schema_snapshots s WHERE dataset = $1 \
               WINDOW w AS (ORDER BY taken_at, id) \
             ) t \
             WHERE previous_columns IS NULL \
                OR previous_columns <> columns OR previous_warehouse <> warehouse \
             ORDER BY taken_at DESC, id DESC",
        )
        .bind(dataset)
        .fetch_all(&self.pool)
        .await?;
        all(&rows, snapshot_row)
    }

    async fn last_slot(&self, dataset: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT max(slot) FROM runs WHERE dataset = $1 AND trigger = 'schedule'",
        )
        .bind(dataset)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(hash)
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_valid(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_tokens WHERE hash = $1)")
                .bind(hash)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some(cutoff) = cutoff(now, retention.results) {
            loop {
                let mut tx = self.pool.begin().await?;
                // Locked so that a late finish_run cannot write into a run being deleted;
                // SKIP LOCKED lets two replicas prune side by side.
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM runs WHERE started_at < $1 AND status <> 'running' \
                     ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                )
                .bind(cutoff)
                .bind(PRUNE_RUN_BATCH)
                .fetch_all(&mut *tx)
                .await?;
                if ids.is_empty() {
                    tx.rollback().await?;
                    break;
                }
                // Children first, explicitly, to count them (the cascade would not say).
                pruned.results += sqlx::query("DELETE FROM check_results WHERE run_id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                pruned.snapshots +=
                    sqlx::query("DELETE FROM schema_snapshots WHERE run_id = ANY($1)")
                        .bind(&ids)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                pruned.runs += sqlx::query("DELETE FROM runs WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                if (ids.len() as i64) < PRUNE_RUN_BATCH {
                    break;
                }
            }
        }
        if let Some(cutoff) = cutoff(now, retention.metrics) {
            loop {
                let deleted = sqlx::query(
                    "DELETE FROM metric_points WHERE id IN \
                     (SELECT id FROM metric_points WHERE at < $1 LIMIT $2)",
                )
                .bind(cutoff)
                .bind(PRUNE_POINT_BATCH)
                .execute(&self.pool)
                .await?
                .rows_affected();
                pruned.metric_points += deleted;
                if deleted < PRUNE_POINT_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}
