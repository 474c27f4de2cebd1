//! The SQLite store: the embedded default under `.tidemark/`, for laptops, CI and a single
//! server. WAL mode lets readers work while a run is written; writes go through one
//! connection of their own, so they queue in the pool instead of fighting over the file's
//! lock (other processes on the same file still wait for it, up to the busy timeout).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use super::common::*;
use super::*;

/// The SQLite migrations (`migrations/sqlite`), embedded in the binary.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a statement waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections for reads; WAL lets them run beside the writer.
const READERS: u32 = 4;
/// How long a query waits for a connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

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

pub struct SqliteStore {
    /// One connection: every write.
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    /// Opens the store file, creating it and its folder if needed.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses no committed transaction when the process crashes
            // (only on power loss), and commits without an fsync each.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let cannot_open = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
        };
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().create_if_missing(true))
            .await
            .map_err(cannot_open)?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(cannot_open)?;
        Ok(SqliteStore { write, read })
    }

    async fn status_of(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT status FROM runs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.write)
            .await?)
    }
}

/// A time as stored: fixed-width RFC 3339 in UTC, to the microsecond, so that text order is
/// time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Query(format!("the store holds an invalid time {text:?}: {e}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text)
        .map_err(|e| StoreError::Query(format!("the store holds an invalid id {text:?}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Query(e.to_string()))
}

fn time(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(&row.try_get::<String, _>(column)?)
}

fn optional_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_ts)
        .transpose()
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    parse_uuid(&row.try_get::<String, _>(column)?)
}

fn run_row(row: &SqliteRow) -> Result<(i64, Run), StoreError> {
    RunRow {
        seq: row.try_get("seq")?,
        id: uuid(row, "id")?,
        batch_id: uuid(row, "batch_id")?,
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        trigger: row.try_get("trigger")?,
        slot: optional_time(row, "slot")?,
        status: row.try_get("status")?,
        replica: row.try_get("replica")?,
        started_at: time(row, "started_at")?,
        finished_at: optional_time(row, "finished_at")?,
        lease_until: time(row, "lease_until")?,
        error: row.try_get("error")?,
        counts: [
            row.try_get("pass_count")?,
            row.try_get("warn_count")?,
            row.try_get("fail_count")?,
            row.try_get("error_count")?,
        ],
    }
    .into_run()
}

fn result_row(row: &SqliteRow) -> Result<(i64, StoredResult), StoreError> {
    ResultRow {
        id: row.try_get("id")?,
        run_id: uuid(row, "run_id")?,
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        check_name: row.try_get("check_name")?,
        check_hash: row.try_get("check_hash")?,
        kind: row.try_get("kind")?,
        column_name: row.try_get("column_name")?,
        columns: parse_json("columns", row.try_get("columns")?)?,
        outcome: row.try_get("outcome")?,
        value: row.try_get("value")?,
        expected: parse_json("expected", row.try_get("expected")?)?,
        message: row.try_get("message")?,
        severity: row.try_get("severity")?,
        observed_at: time(row, "observed_at")?,
    }
    .into_result()
}

fn snapshot_row(row: &SqliteRow) -> Result<SchemaSnapshot, StoreError> {
    Ok(SchemaSnapshot {
        dataset: row.try_get("dataset")?,
        warehouse: row.try_get("warehouse")?,
        run_id: uuid(row, "run_id")?,
        taken_at: time(row, "taken_at")?,
        columns: parse_json("columns", row.try_get("columns")?)?.unwrap_or_default(),
    })
}

fn all<T>(
    rows: &[SqliteRow],
    convert: fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(convert).collect()
}

impl StoreApi for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes no lock on SQLite: two processes migrating a new file together can
        // collide ("table already exists"). The second attempt sees the winner's work.
        match SQLITE_MIGRATOR.run(&self.write).await {
            Ok(()) => Ok(()),
            Err(_) => SQLITE_MIGRATOR
                .run(&self.write)
                .await
                .map_err(migrate_error),
        }
    }

    async fn start_run(&self, run: &NewRun) -> Result<Claim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, replica, \
             started_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?) \
             ON CONFLICT (dataset, slot) WHERE trigger = 'schedule' DO NOTHING",
        )
        .bind(run.id.to_string())
        .bind(run.batch_id.to_string())
        .bind(&run.dataset)
        .bind(&run.warehouse)
        .bind(run.trigger.as_str())
        .bind(run.slot.map(ts))
        .bind(&run.replica)
        .bind(ts(run.started_at))
        .bind(ts(run.lease_until))
        .execute(&self.write)
        .await?;
        Ok(if inserted.rows_affected() == 1 {
            Claim::Started
        } else {
            Claim::AlreadyClaimed
        })
    }

    async fn heartbeat(&self, run: Uuid, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE runs SET lease_until = ? WHERE id = ? AND status = 'running'")
                .bind(ts(lease_until))
                .bind(run.to_string())
                .execute(&self.write)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn finish_run(&self, run: &FinishedRun) -> Result<(), StoreError> {
        let summary = check_final(run)?;
        let finished_at = ts(run.finished_at);
        let run_id = run.id.to_string();
        // IMMEDIATE: take the write lock up front, so another process cannot slip a write in
        // between and make this transaction fail instead of wait.
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let owner = sqlx::query(
            "UPDATE runs SET status = ?, finished_at = ?, error = ?, pass_count = ?, \
             warn_count = ?, fail_count = ?, error_count = ? \
             WHERE id = ? AND status IN ('running', 'abandoned') RETURNING dataset, warehouse",
        )
        .bind(run.status.as_str())
        .bind(&finished_at)
        .bind(&run.error)
        .bind(count_column(summary.pass))
        .bind(count_column(summary.warn))
        .bind(count_column(summary.fail))
        .bind(count_column(summary.error))
        .bind(&run_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            tx.rollback().await?;
            return Err(not_finishable(run.id, self.status_of(run.id).await?));
        };

        for chunk in run.results.chunks(INSERT_BATCH) {
            let rows = chunk
                .iter()
                .map(|(r, hash)| {
                    Ok((
                        r,
                        hash,
                        r.columns.as_ref().map(to_json).transpose()?,
                        r.expected.as_ref().map(to_json).transpose()?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut insert = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, ",
                "kind, column_name, columns, outcome, value, expected, message, severity, ",
                "observed_at) "
            ));
            insert.push_values(&rows, |mut row, (r, hash, columns, expected)| {
                row.push_bind(&run_id)
                    .push_bind(&r.dataset)
                    .push_bind(&r.warehouse)
                    .push_bind(&r.check)
                    .push_bind(*hash)
                    .push_bind(&r.kind)
                    .push_bind(&r.column)
                    .push_bind(columns)
                    .push_bind(r.outcome.as_str())
                    .push_bind(stored_value(r.value))
                    .push_bind(expected)
                    .push_bind(&r.message)
                    .push_bind(r.severity.map(|s| s.as_str()))
                    .push_bind(&finished_at);
            });
            insert.build().execute(&mut *tx).await?;
        }

        let points = metric_points(run);
        for chunk in points.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO metric_points (dataset, check_name, at, value) ",
            );
            insert.push_values(chunk, |mut row, (dataset, check, value)| {
                row.push_bind(*dataset)
                    .push_bind(*check)
                    .push_bind(&finished_at)
                    .push_bind(*value);
            });
            insert.build().execute(&mut *tx).await?;
        }

        if let Some(columns) = &run.snapshot {
            sqlx::query(
                "INSERT INTO schema_snapshots (dataset, warehouse, run_id, taken_at, columns) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(owner.try_get::<String, _>("dataset")?)
            .bind(owner.try_get::<String, _>("warehouse")?)
            .bind(&run_id)
            .bind(&finished_at)
            .bind(to_json(columns)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(concat!(
            "UPDATE runs SET status = 'abandoned', error = ? ",
            "WHERE status = 'running' AND lease_until < ? RETURNING ",
            run_columns!()
        ))
        .bind(LEASE_EXPIRED)
        .bind(ts(now))
        .fetch_all(&self.write)
        .await?;
        let mut runs = all(&rows, run_row)?;
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(runs.into_iter().map(|(_, run)| run).collect())
    }

    async fn run(&self, id: Uuid) -> Result<Run, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(run_row(&row)?.1)
    }

    async fn runs(&self, filter: &RunFilter, page: Page) -> Result<Paged<Run>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
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
        let rows = query.build().fetch_all(&self.read).await?;
        Ok(page.paged(all(&rows, run_row)?))
    }

    async fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> Result<Paged<StoredResult>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
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
            query.push(" AND run_id = ").push_bind(run_id.to_string());
        }
        if let Some(since) = filter.since {
            query.push(" AND observed_at >= ").push_bind(ts(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND observed_at < ").push_bind(ts(until));
        }
        if let Some(before) = page.before {
            query.push(" AND id < ").push_bind(before);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(&self.read).await?;
        Ok(page.paged(all(&rows, result_row)?))
    }

    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError> {
        // The group-by walks check_results_by_check alone (a covering index).
        let rows = sqlx::query(concat!(
            "SELECT ",
            result_columns!(),
            " FROM check_results WHERE id IN ",
            "(SELECT max(id) FROM check_results GROUP BY dataset, check_name) ",
            "ORDER BY dataset, check_name"
        ))
        .fetch_all(&self.read)
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
            QueryBuilder::<Sqlite>::new("SELECT at, value FROM metric_points WHERE dataset = ");
        query
            .push_bind(dataset)
            .push(" AND check_name = ")
            .push_bind(check);
        if let Some(since) = since {
            query.push(" AND at >= ").push_bind(ts(since));
        }
        query.push(" ORDER BY at, id");
        let rows = query.build().fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                Ok(MetricPoint {
                    at: time(row, "at")?,
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
             WHERE dataset = ? AND warehouse = ? ORDER BY taken_at DESC, id DESC LIMIT 1",
        )
        .bind(dataset)
        .bind(warehouse)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(snapshot_row).transpose()
    }

    async fn schema_history(&self, dataset: &str) -> Result<Vec<SchemaSnapshot>, StoreError> {
        // Columns are compared as text: this store writes them with one serializer, so equal
        // columns are equal text.
        let rows = sqlx::query(
            "SELECT dataset, warehouse, run_id, taken_at, columns FROM ( \
               SELECT s.*, \
                 lag(columns) OVER w AS previous_columns, \
                 lag(warehouse) OVER w AS previous_warehouse \
               FROM schema_snapshots s WHERE dataset = ? \
               WINDOW w AS (ORDER BY taken_at, id) \
             ) t \
             WHERE previous_columns IS NULL \
                OR previous_columns <> columns OR previous_warehouse <> warehouse \
             ORDER BY taken_at DESC, id DESC",
        )
        .bind(dataset)
        .fetch_all(&self.read)
        .await?;
        all(&rows, snapshot_row)
    }

    async fn last_slot(&self, dataset: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let slot: Option<String> = sqlx::query_scalar(
            "SELECT max(slot) FROM runs WHERE dataset = ? AND trigger = 'schedule'",
        )
        .bind(dataset)
        .fetch_one(&self.read)
        .await?;
        slot.as_deref().map(parse_ts).transpose()
    }

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(hash)
            .bind(ts(Utc::now()))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn token_valid(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_tokens WHERE hash = ?)")
                .bind(hash)
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some(cutoff) = cutoff(now, retention.results) {
            loop {
                let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM runs WHERE started_at < ? AND status <> 'running' \
                     ORDER BY started_at LIMIT ?",
                )
                .bind(ts(cutoff))
                .bind(PRUNE_RUN_BATCH)
                .fetch_all(&mut *tx)
                .await?;
                if ids.is_empty() {
                    tx.rollback().await?;
                    break;
                }
                let ids_json = to_json(&ids)?;
                // Children first, explicitly, to count them (the cascade would not say).
                pruned.results += sqlx::query(
                    "DELETE FROM check_results WHERE run_id IN (SELECT value FROM json_each(?))",
                )
                .bind(&ids_json)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                pruned.snapshots += sqlx::query(
                    "DELETE FROM schema_snapshots WHERE run_id IN (SELECT value FROM json_each(?))",
                )
                .bind(&ids_json)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                pruned.runs +=
                    sqlx::query("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))")
                        .bind(&ids_json)
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
                     (SELECT id FROM metric_points WHERE at < ? LIMIT ?)",
                )
                .bind(ts(cutoff))
                .bind(PRUNE_POINT_BATCH)
                .execute(&self.write)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_utc_micros_and_sort_as_text() {
        let at = |s: &str| parse_ts(s).unwrap_or_else(|e| panic!("{e}"));
        let t = at("2026-03-10T13:45:06.123456789+01:00");
        assert_eq!(ts(t), "2026-03-10T12:45:06.123456Z");
        assert_eq!(
            ts(at("2026-03-10T12:45:06Z")),
            "2026-03-10T12:45:06.000000Z"
        );
        assert_eq!(at(&ts(t)), at("2026-03-10T12:45:06.123456Z"));
        let times = [
            "1999-12-31T23:59:59.999999Z",
            "2026-03-10T12:45:06Z",
            "2026-03-10T12:45:06.000001Z",
            "2026-03-10T12:45:06.1Z",
            "2026-11-01T00:00:00Z",
        ]
        .map(|s| ts(at(s)));
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(sorted, times);
        assert!(parse_ts("yesterday").is_err());
    }
}
