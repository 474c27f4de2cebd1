//! The store's SQL, written once for both databases.
//!
//! [`StoreApi`] is implemented here for every [`Backend`]: a store that runs its statements on
//! pools of a database with a [`Dialect`]. The statements are shared text with numbered
//! parameters (`$1`, `$2`…), which sqlx binds by number for SQLite as for Postgres; a
//! [`QueryBuilder`] writes each database's own placeholders. What is not the same is each
//! database's [`Dialect`], kept explicit there: how ids and times are kept (native types in
//! Postgres, text in SQLite), how JSON columns read back, how a writing transaction starts,
//! how names sort by bytes, and how prune locks and lists the runs it deletes.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::common::*;
use super::*;
use crate::distribution::Profile;
use crate::lineage::{Edge, Graph, Source};
use crate::results::Band;
pub(super) use backend::{Backend, Bind, Dialect, Read, Written};
use incident_writes::{insert_event, insert_incident, update_incident};
pub(super) use rows::StoreRow;
use rows::{all, and_where, unkeyed};

// First: the column lists of its readers are macros the statements below concatenate.
#[macro_use]
mod rows;
mod backend;
mod incident_writes;

/// Incidents the reminder sweep reads at once.
const DUE_BATCH: i64 = 500;
/// Lineage edges written per statement: 5 parameters each, well under SQLite's limit.
const EDGES_PER_STATEMENT: usize = 1_000;

/// The contract, for a store on any database with a [`Dialect`].
impl<S, DB> StoreApi for S
where
    S: Backend<Db = DB>,
    DB: Dialect,
    DB::Row: StoreRow,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<'a, DB>,
    for<'a> Option<&'a str>: Bind<'a, DB>,
    for<'a> Option<Json<&'a Vec<String>>>: Bind<'a, DB>,
    for<'a> Option<Json<&'a serde_json::Value>>: Bind<'a, DB>,
    for<'a> Option<Json<&'a Band>>: Bind<'a, DB>,
    for<'a> Json<&'a Vec<SnapshotColumn>>: Bind<'a, DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<'a, DB>,
    for<'a> Json<&'a Profile>: Bind<'a, DB>,
    i32: Bind<'static, DB>,
    i64: Bind<'static, DB>,
    f64: Bind<'static, DB>,
    bool: Bind<'static, DB>,
    Option<i64>: Bind<'static, DB>,
    Option<f64>: Bind<'static, DB>,
    Option<DB::Time>: Bind<'static, DB>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrate(self.writer()).await
    }

    async fn start_run(&self, run: &NewRun) -> Result<Claim, StoreError> {
        let started = self.start_runs(std::slice::from_ref(run)).await?;
        Ok(if started.is_empty() {
            Claim::AlreadyClaimed
        } else {
            Claim::Started
        })
    }

    async fn start_runs(&self, runs: &[NewRun]) -> Result<Vec<Uuid>, StoreError> {
        let mut started = Vec::new();
        for chunk in runs.chunks(START_RUNS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, \
                 replica, started_at, lease_until) ",
            );
            insert.push_values(chunk, |mut row, run| {
                row.push_bind(DB::id(run.id))
                    .push_bind(DB::id(run.batch_id))
                    .push_bind(run.dataset.as_str())
                    .push_bind(run.warehouse.as_str())
                    .push_bind(run.trigger.as_str())
                    .push_bind(run.slot.map(DB::time))
                    .push("'running'")
                    .push_bind(run.replica.as_str())
                    .push_bind(DB::time(run.started_at))
                    .push_bind(DB::time(run.lease_until));
            });
            // The arbiter names the partial unique index, so only a slot conflict is a lost
            // claim; a duplicate run id is still an error.
            insert.push(
                " ON CONFLICT (dataset, slot) WHERE trigger = 'schedule' DO NOTHING RETURNING id",
            );
            let rows = insert.build().fetch_all(self.writer()).await?;
            started.extend(all(&rows, |row| row.uuid("id"))?);
        }
        Ok(started)
    }

    async fn running(&self, now: DateTime<Utc>) -> Result<Vec<Running>, StoreError> {
        let rows = sqlx::query(
            "SELECT dataset, slot, replica FROM runs WHERE status = 'running' AND lease_until > $1",
        )
        .bind(DB::time(now))
        .fetch_all(self.reader())
        .await?;
        all(&rows, |row| {
            Ok(Running {
                dataset: row.text("dataset")?,
                slot: row.optional_time("slot")?,
                replica: row.text("replica")?,
            })
        })
    }

    async fn renew_leases(
        &self,
        runs: &[Uuid],
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if runs.is_empty() {
            return Ok(());
        }
        let update = format!(
            "UPDATE runs SET lease_until = $2 WHERE status = 'running' AND id {}",
            DB::IN_ID_LIST
        );
        sqlx::query(AssertSqlSafe(update))
            .bind(DB::id_list(runs)?)
            .bind(DB::time(lease_until))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, run: Uuid, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE runs SET lease_until = $2 WHERE id = $1 AND status = 'running'")
                .bind(DB::id(run))
                .bind(DB::time(lease_until))
                .execute(self.writer())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn finish_run(&self, run: &FinishedRun) -> Result<(), StoreError> {
        let summary = check_final(run)?;
        let run_id = DB::id(run.id);
        let finished_at = DB::time(run.finished_at);
        let mut tx = DB::begin_write(self.writer()).await?;
        let owner = sqlx::query(
            "UPDATE runs SET status = $2, finished_at = $3, error = $4, pass_count = $5, \
             warn_count = $6, fail_count = $7, error_count = $8 \
             WHERE id = $1 AND status IN ('running', 'abandoned') RETURNING dataset, warehouse",
        )
        .bind(&run_id)
        .bind(run.status.as_str())
        .bind(&finished_at)
        .bind(run.error.as_deref())
        .bind(count_column(summary.pass))
        .bind(count_column(summary.warn))
        .bind(count_column(summary.fail))
        .bind(count_column(summary.error))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            tx.rollback().await?;
            // Why not: no such run, or it already finished.
            let status = sqlx::query("SELECT status FROM runs WHERE id = $1")
                .bind(&run_id)
                .fetch_optional(self.writer())
                .await?;
            let status = status.map(|row| row.text("status")).transpose()?;
            return Err(not_finishable(run.id, status));
        };

        for chunk in run.results.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<DB>::new(concat!(
                "INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, ",
                "kind, column_name, columns, outcome, value, expected, message, severity, ",
                "band, observed_at) "
            ));
            insert.push_values(chunk, |mut row, (r, hash)| {
                row.push_bind(&run_id)
                    .push_bind(r.dataset.as_str())
                    .push_bind(r.warehouse.as_str())
                    .push_bind(r.check.as_str())
                    .push_bind(hash.as_str())
                    .push_bind(r.kind.as_str())
                    .push_bind(r.column.as_deref())
                    .push_bind(r.columns.as_ref().map(Json))
                    .push_bind(r.outcome.as_str())
                    .push_bind(stored_value(r.value))
                    .push_bind(r.expected.as_ref().map(Json))
                    .push_bind(r.message.as_str())
                    .push_bind(r.severity.map(|s| s.as_str()))
                    .push_bind(r.band.as_ref().map(Json))
                    .push_bind(&finished_at);
            });
            insert.build().execute(&mut *tx).await?;
        }
        // Newer results (higher ids) replace older ones; a late finish of an older run
        // cannot push current health back in time.
        sqlx::query(
            "INSERT INTO latest_results (dataset, check_name, result_id) \
             SELECT dataset, check_name, max(id) FROM check_results WHERE run_id = $1 \
             GROUP BY dataset, check_name \
             ON CONFLICT (dataset, check_name) DO UPDATE SET result_id = excluded.result_id \
             WHERE excluded.result_id > latest_results.result_id",
        )
        .bind(&run_id)
        .execute(&mut *tx)
        .await?;

        let points = metric_points(run);
        for chunk in points.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO metric_points (dataset, check_name, at, value, band_lower, \
                 band_upper, anomalous) ",
            );
            insert.push_values(chunk, |mut row, (result, value)| {
                let band = result
                    .band
                    .filter(|b| b.lower.is_finite() && b.upper.is_finite());
                row.push_bind(result.dataset.as_str())
                    .push_bind(result.check.as_str())
                    .push_bind(&finished_at)
                    .push_bind(*value)
                    .push_bind(band.map(|b| b.lower))
                    .push_bind(band.map(|b| b.upper))
                    .push_bind(band.is_some_and(|b| b.anomalous));
            });
            insert.build().execute(&mut *tx).await?;
        }

        if let Some(columns) = &run.snapshot {
            sqlx::query(
                "INSERT INTO schema_snapshots (dataset, warehouse, run_id, taken_at, columns) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(owner.text("dataset")?.as_str())
            .bind(owner.text("warehouse")?.as_str())
            .bind(&run_id)
            .bind(&finished_at)
            .bind(Json(columns))
            .execute(&mut *tx)
            .await?;
        }
        let dataset = owner.text("dataset")?;
        for chunk in run.profiles.chunks(INSERT_BATCH) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO distribution_profiles (run_id, dataset, check_name, column_name, \
                 taken_at, profile) ",
            );
            insert.push_values(chunk, |mut row, p| {
                row.push_bind(&run_id)
                    .push_bind(dataset.as_str())
                    .push_bind(p.check.as_str())
                    .push_bind(p.column.as_str())
                    .push_bind(&finished_at)
                    .push_bind(Json(&p.profile));
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<Vec<Run>, StoreError> {
        // Concurrent callers: on Postgres the second waits on the row lock, re-checks
        // `status`, and skips the row; SQLite runs one write at a time. Each run is returned
        // once.
        let rows = sqlx::query(concat!(
            "UPDATE runs SET status = 'abandoned', error = $2 ",
            "WHERE status = 'running' AND lease_until < $1 RETURNING ",
            run_columns!()
        ))
        .bind(DB::time(now))
        .bind(LEASE_EXPIRED)
        .fetch_all(self.writer())
        .await?;
        let mut runs = all(&rows, StoreRow::run)?;
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(unkeyed(runs))
    }

    async fn run(&self, id: Uuid) -> Result<Run, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(DB::id(id))
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.run()?.1)
    }

    async fn runs(&self, filter: &RunFilter, page: Page) -> Result<Paged<Run>, StoreError> {
        let mut query =
            QueryBuilder::<DB>::new(concat!("SELECT ", run_columns!(), " FROM runs WHERE TRUE"));
        and_where(&mut query, "dataset = ", filter.dataset.as_deref());
        and_where(
            &mut query,
            "status = ",
            filter.status.map(RunStatus::as_str),
        );
        and_where(
            &mut query,
            "trigger = ",
            filter.trigger.map(Trigger::as_str),
        );
        and_where(&mut query, "seq < ", page.before);
        query
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(self.reader()).await?;
        Ok(page.paged(all(&rows, StoreRow::run)?))
    }

    async fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> Result<Paged<StoredResult>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            result_columns!(),
            " FROM check_results WHERE TRUE"
        ));
        and_where(&mut query, "dataset = ", filter.dataset.as_deref());
        and_where(&mut query, "check_name = ", filter.check.as_deref());
        and_where(
            &mut query,
            "outcome = ",
            filter.outcome.map(Outcome::as_str),
        );
        and_where(&mut query, "run_id = ", filter.run_id.map(DB::id));
        and_where(&mut query, "observed_at >= ", filter.since.map(DB::time));
        and_where(&mut query, "observed_at < ", filter.until.map(DB::time));
        and_where(&mut query, "id < ", page.before);
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(self.reader()).await?;
        Ok(page.paged(all(&rows, StoreRow::result)?))
    }

    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError> {
        // One pointer per check, kept by finish_run: the read does not grow with history
        // as long as each pointer is a primary-key lookup (see LATEST_RESULTS).
        // Names sort by bytes in both stores.
        let query = format!(
            concat!(
                "SELECT ",
                result_columns!(),
                " FROM {1} ORDER BY dataset{0}, check_name{0}"
            ),
            DB::BYTE_ORDER,
            DB::LATEST_RESULTS
        );
        let rows = sqlx::query(AssertSqlSafe(query))
            .fetch_all(self.reader())
            .await?;
        Ok(unkeyed(all(&rows, StoreRow::result)?))
    }

    async fn latest_results_version(&self) -> Result<i64, StoreError> {
        // Result ids only grow, and a new result is always its check's latest.
        let row = sqlx::query("SELECT COALESCE(max(result_id), 0) AS version FROM latest_results")
            .fetch_one(self.reader())
            .await?;
        row.integer("version")
    }

    async fn metric_series(
        &self,
        dataset: &str,
        check: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            metric_point_columns!(),
            " FROM metric_points WHERE dataset = "
        ));
        query
            .push_bind(dataset)
            .push(" AND check_name = ")
            .push_bind(check);
        and_where(&mut query, "at >= ", since.map(DB::time));
        query.push(" ORDER BY at, id");
        let rows = query.build().fetch_all(self.reader()).await?;
        all(&rows, StoreRow::metric_point)
    }

    async fn metric_history(
        &self,
        dataset: &str,
        check: &str,
        limit: u32,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            metric_point_columns!(),
            " FROM metric_points WHERE dataset = $1 AND check_name = $2 ",
            "ORDER BY at DESC, id DESC LIMIT $3"
        ))
        .bind(dataset)
        .bind(check)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        let mut points = all(&rows, StoreRow::metric_point)?;
        points.reverse();
        Ok(points)
    }

    async fn accept_shift(
        &self,
        dataset: &str,
        check: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE metric_points SET shift = TRUE \
             WHERE dataset = $1 AND check_name = $2 AND at >= $3 AND anomalous AND NOT shift",
        )
        .bind(dataset)
        .bind(check)
        .bind(DB::time(since))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn mark_result(&self, id: i64, feedback: Option<Feedback>) -> Result<(), StoreError> {
        // A result's point is the one its run stored for the check at the run's end.
        let marked = sqlx::query(
            "UPDATE metric_points SET feedback = $2 WHERE id IN ( \
               SELECT p.id FROM check_results r JOIN metric_points p \
               ON p.dataset = r.dataset AND p.check_name = r.check_name AND p.at = r.observed_at \
               WHERE r.id = $1)",
        )
        .bind(id)
        .bind(feedback.map(Feedback::as_str))
        .execute(self.writer())
        .await?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(StoreRow::snapshot).transpose()
    }

    async fn distribution_profiles(
        &self,
        query: &ProfileQuery<'_>,
    ) -> Result<Vec<StoredProfile>, StoreError> {
        let mut select = QueryBuilder::<DB>::new(
            "SELECT run_id, taken_at, profile FROM distribution_profiles WHERE dataset = ",
        );
        select
            .push_bind(query.dataset)
            .push(" AND check_name = ")
            .push_bind(query.check)
            .push(" AND column_name = ")
            .push_bind(query.column);
        and_where(&mut select, "taken_at >= ", query.since.map(DB::time));
        and_where(&mut select, "taken_at <= ", query.until.map(DB::time));
        select
            .push(" ORDER BY taken_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = select.build().fetch_all(self.reader()).await?;
        all(&rows, |row| {
            Ok(StoredProfile {
                run_id: row.uuid("run_id")?,
                taken_at: row.time("taken_at")?,
                profile: DB::json(row, "profile")?
                    .ok_or_else(|| StoreError::Query("a stored profile is NULL".into()))?,
            })
        })
    }

    async fn schema_history(&self, dataset: &str) -> Result<Vec<SchemaSnapshot>, StoreError> {
        // Postgres compares jsonb by structure, so key order or spacing never counts as a
        // change; SQLite compares the text, which its one serializer writes alike for equal
        // columns.
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
        .fetch_all(self.reader())
        .await?;
        all(&rows, StoreRow::snapshot)
    }

    async fn last_slot(&self, dataset: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        sqlx::query(
            "SELECT max(slot) AS slot FROM runs WHERE dataset = $1 AND trigger = 'schedule'",
        )
        .bind(dataset)
        .fetch_one(self.reader())
        .await?
        .optional_time("slot")
    }

    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(hash)
            .bind(DB::time(Utc::now()))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn token_name(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM api_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| row.text("name")).transpose()
    }

    async fn create_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = DB::begin_write(self.writer()).await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(DB::time(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(token_hash)
        .bind(DB::time(now))
        .bind(DB::time(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_owner(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        // The join: a session whose token is gone is no session.
        let row = sqlx::query(
            "SELECT t.name FROM sessions s JOIN api_tokens t ON t.hash = s.token_hash \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(DB::time(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| row.text("name")).transpose()
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some(cutoff) = cutoff(now, retention.results) {
            let select = format!(
                "SELECT id FROM runs WHERE started_at < $1 AND status <> 'running' \
                 ORDER BY started_at LIMIT $2{}",
                DB::LOCK_RUNS_TO_PRUNE
            );
            let delete = |table: &str, column: &str| {
                AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE {column} {}",
                    DB::IN_ID_LIST
                ))
            };
            loop {
                let mut tx = DB::begin_write(self.writer()).await?;
                let rows = sqlx::query(AssertSqlSafe(select.as_str()))
                    .bind(DB::time(cutoff))
                    .bind(PRUNE_RUN_BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
                if rows.is_empty() {
                    tx.rollback().await?;
                    break;
                }
                let ids = DB::id_list(&all(&rows, |row| row.uuid("id"))?)?;
                // Children first, explicitly, to count them (the cascade would not say).
                pruned.results += sqlx::query(delete("check_results", "run_id"))
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                pruned.snapshots += sqlx::query(delete("schema_snapshots", "run_id"))
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                pruned.runs += sqlx::query(delete("runs", "id"))
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                if (rows.len() as i64) < PRUNE_RUN_BATCH {
                    break;
                }
            }
            // Incidents settled before the cut-off (resolved, and the resolution announced)
            // go with the runs of their time; their notifications and delivery attempts
            // cascade, and incidents folded under them keep standing alone.
            pruned.incidents = sqlx::query(
                "DELETE FROM incidents WHERE status = 'resolved' AND resolved_at < $1 \
                 AND (announced IS NULL OR announced = 'resolved')",
            )
            .bind(DB::time(cutoff))
            .execute(self.writer())
            .await?
            .rows_affected();
            // A job that has not reported an edge since the cut-off stopped writing there.
            pruned.lineage_edges = sqlx::query("DELETE FROM lineage_edges WHERE last_seen < $1")
                .bind(DB::time(cutoff))
                .execute(self.writer())
                .await?
                .rows_affected();
        }
        if let Some(cutoff) = cutoff(now, retention.metrics) {
            loop {
                let deleted = sqlx::query(
                    "DELETE FROM metric_points WHERE id IN \
                     (SELECT id FROM metric_points WHERE at < $1 LIMIT $2)",
                )
                .bind(DB::time(cutoff))
                .bind(PRUNE_POINT_BATCH)
                .execute(self.writer())
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

    async fn latest_incidents(&self, datasets: &[String]) -> Result<Vec<Incident>, StoreError> {
        let query = format!(
            concat!(
                "SELECT ",
                incident_columns!(),
                " FROM incidents i WHERE dataset {} AND id = (SELECT max(id) FROM incidents j ",
                "WHERE j.dataset = i.dataset AND j.check_name = i.check_name) ORDER BY id"
            ),
            DB::IN_ID_LIST
        );
        let rows = sqlx::query(AssertSqlSafe(query))
            .bind(DB::texts(datasets)?)
            .fetch_all(self.reader())
            .await?;
        all(&rows, StoreRow::incident)
    }

    async fn write_incidents(
        &self,
        changes: &[IncidentChange],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = DB::begin_write(self.writer()).await?;
        let mut enqueued = Vec::new();
        for change in changes {
            let id = match change.base {
                None => insert_incident::<DB>(&mut tx, &change.incident).await?,
                Some(base) => update_incident::<DB>(&mut tx, &change.incident, base).await?,
            };
            if let Some(event) = &change.event {
                insert_event::<DB>(&mut tx, id, change.incident.version, event, now).await?;
            }
            for notification in &change.notifications {
                let key = format!("{id}/{}/{}", change.incident.version, notification.channel);
                let row = sqlx::query(
                    "INSERT INTO notifications (idempotency_key, incident_id, transition, \
                     channel, payload, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                )
                .bind(key.as_str())
                .bind(id)
                .bind(notification.transition.as_str())
                .bind(notification.channel.as_str())
                .bind(Json(&notification.payload))
                .bind(DB::time(now))
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = row {
                    enqueued.push(row.integer("id")?);
                }
            }
        }
        tx.commit().await?;
        Ok(enqueued)
    }

    async fn incident(&self, id: i64) -> Result<Incident, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?
        .incident()
    }

    async fn incidents(
        &self,
        filter: &IncidentFilter,
        page: Page,
    ) -> Result<Paged<Incident>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE TRUE"
        ));
        and_where(&mut query, "dataset = ", filter.dataset.as_deref());
        and_where(
            &mut query,
            "status = ",
            filter.status.map(IncidentStatus::as_str),
        );
        and_where(&mut query, "id < ", page.before);
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(self.reader()).await?;
        let incidents = all(&rows, |row| row.incident().map(|i| (i.id, i)))?;
        Ok(page.paged(incidents))
    }

    async fn incidents_due(&self, due: Due) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents i WHERE (muted_until IS NULL OR muted_until <= $1) AND (",
            "(status = 'open' AND (last_notified_at IS NULL OR last_notified_at < $2) ",
            "AND NOT EXISTS (SELECT 1 FROM incidents c WHERE c.id = i.cause_id ",
            "AND c.status <> 'resolved')) ",
            "OR (status = 'resolved' AND announced = 'open' AND resolved_at < $3)",
            ") ORDER BY id LIMIT $4"
        ))
        .bind(DB::time(due.now))
        .bind(DB::time(due.notified_before))
        .bind(DB::time(due.resolved_before))
        .bind(DUE_BATCH)
        .fetch_all(self.reader())
        .await?;
        all(&rows, StoreRow::incident)
    }

    async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, incident_id, version, at, kind, actor, detail FROM (\
             SELECT * FROM incident_events WHERE incident_id = $1 ORDER BY id DESC LIMIT $2\
             ) latest ORDER BY id",
        )
        .bind(id)
        .bind(INCIDENT_EVENTS)
        .fetch_all(self.reader())
        .await?;
        all(&rows, StoreRow::incident_event)
    }

    async fn incidents_caused_by(&self, id: i64) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE cause_id = $1 AND status <> 'resolved' ORDER BY id"
        ))
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        all(&rows, StoreRow::incident)
    }

    async fn claim_notifications(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let query = format!(
            concat!(
                "UPDATE notifications SET claimed_by = $1, claimed_until = $2 WHERE id IN (",
                "SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= $3 ",
                "AND (claimed_until IS NULL OR claimed_until < $3) ",
                "ORDER BY next_attempt_at, id LIMIT $4{}) RETURNING ",
                notification_columns!()
            ),
            DB::SKIP_LOCKED
        );
        let rows = sqlx::query(AssertSqlSafe(query))
            .bind(claimer)
            .bind(DB::time(until))
            .bind(DB::time(now))
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await?;
        let mut claimed = all(&rows, StoreRow::notification)?;
        claimed.sort_by_key(|n| (n.next_attempt_at, n.id));
        Ok(claimed)
    }

    async fn settle_notification(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        settlement: &Settlement,
    ) -> Result<(), StoreError> {
        let (status, outcome, next, error) = match settlement {
            Settlement::Delivered => ("delivered", "delivered", None, None),
            Settlement::Retry { at, error } => ("pending", "retry", Some(*at), Some(error)),
            Settlement::Dead { error } => ("dead", "dead", None, Some(error)),
        };
        let delivered_at = (status == "delivered").then_some(at);
        let mut tx = DB::begin_write(self.writer()).await?;
        let row = sqlx::query(
            "UPDATE notifications SET status = $3, attempts = attempts + 1, \
             next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5, \
             delivered_at = $6, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND status = 'pending' RETURNING attempts",
        )
        .bind(id)
        .bind(claimer)
        .bind(status)
        .bind(next.map(DB::time))
        .bind(error.map(String::as_str))
        .bind(delivered_at.map(DB::time))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        };
        sqlx::query(
            "INSERT INTO delivery_attempts (notification_id, attempt, at, outcome, error) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(row.integer("attempts")?)
        .bind(DB::time(at))
        .bind(outcome)
        .bind(error.map(String::as_str))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: Page,
    ) -> Result<Paged<Notification>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM notifications WHERE TRUE"
        ));
        and_where(
            &mut query,
            "status = ",
            filter.status.map(NotificationStatus::as_str),
        );
        and_where(&mut query, "incident_id = ", filter.incident);
        and_where(&mut query, "id < ", page.before);
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = query.build().fetch_all(self.reader()).await?;
        let notifications = all(&rows, |row| row.notification().map(|n| (n.id, n)))?;
        Ok(page.paged(notifications))
    }

    async fn next_attempt(&self, ids: &[i64]) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = format!(
            "SELECT min(next_attempt_at) AS next FROM notifications \
             WHERE status = 'pending' AND id {}",
            DB::IN_ID_LIST
        );
        sqlx::query(AssertSqlSafe(query))
            .bind(DB::numbers(ids)?)
            .fetch_one(self.reader())
            .await?
            .optional_time("next")
    }

    async fn upsert_edges(&self, edges: &[Edge]) -> Result<(), StoreError> {
        // One statement may not update a row twice (Postgres): repeats are merged first.
        let mut merged = Graph::default();
        edges.iter().cloned().for_each(|edge| merged.add_edge(edge));
        let merged: Vec<&Edge> = merged.edges().collect();
        let mut tx = DB::begin_write(self.writer()).await?;
        for chunk in merged.chunks(EDGES_PER_STATEMENT) {
            let mut upsert = QueryBuilder::<DB>::new(
                "INSERT INTO lineage_edges (upstream, downstream, source, first_seen, last_seen) ",
            );
            upsert.push_values(chunk, |mut row, edge| {
                row.push_bind(edge.upstream.as_str())
                    .push_bind(edge.downstream.as_str())
                    .push_bind(edge.source.as_str())
                    .push_bind(DB::time(edge.first_seen))
                    .push_bind(DB::time(edge.last_seen));
            });
            // CASE rather than least()/greatest(), which SQLite spells min()/max().
            upsert.push(
                " ON CONFLICT (upstream, downstream, source) DO UPDATE SET \
                 first_seen = CASE WHEN excluded.first_seen < lineage_edges.first_seen \
                 THEN excluded.first_seen ELSE lineage_edges.first_seen END, \
                 last_seen = CASE WHEN excluded.last_seen > lineage_edges.last_seen \
                 THEN excluded.last_seen ELSE lineage_edges.last_seen END",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn edges(&self) -> Result<Vec<Edge>, StoreError> {
        let order = DB::BYTE_ORDER;
        let query = format!(
            "SELECT upstream, downstream, source, first_seen, last_seen FROM lineage_edges \
             ORDER BY upstream{order}, downstream{order}, source"
        );
        let rows = sqlx::query(AssertSqlSafe(query))
            .fetch_all(self.reader())
            .await?;
        all(&rows, |row| {
            let source = row.text("source")?;
            Ok(Edge {
                upstream: row.text("upstream")?,
                downstream: row.text("downstream")?,
                source: parsed("lineage source", &source, Source::parse)?,
                first_seen: row.time("first_seen")?,
                last_seen: row.time("last_seen")?,
            })
        })
    }

    async fn edges_version(&self) -> Result<EdgesVersion, StoreError> {
        let row =
            sqlx::query("SELECT count(*) AS count, max(last_seen) AS newest FROM lineage_edges")
                .fetch_one(self.reader())
                .await?;
        Ok(EdgesVersion {
            count: row.integer("count")?,
            newest: row.optional_time("newest")?,
        })
    }
}
