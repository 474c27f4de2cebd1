//! Runs and leases: slots claimed by a unique index, leases renewed by heartbeats, a run
//! finished with everything it leaves in one transaction.

use super::*;

sql_area! {
    impl Runs {
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
                    " ON CONFLICT (dataset, slot) WHERE trigger = 'schedule' \
                     DO NOTHING RETURNING id",
                );
                let rows = insert.build().fetch_all(self.writer()).await?;
                started.extend(all(&rows, |row| row.uuid("id"))?);
            }
            Ok(started)
        }

        async fn running(&self, now: DateTime<Utc>) -> Result<Vec<Running>, StoreError> {
            let rows = sqlx::query(
                "SELECT dataset, slot, replica FROM runs \
                 WHERE status = 'running' AND lease_until > $1",
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
                 warn_count = $6, fail_count = $7, error_count = $8, rows_scanned = $9, \
                 bytes_scanned = $10, warehouse_seconds = $11 \
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
            .bind(run.cost.rows_scanned.map(saturating_i64))
            .bind(run.cost.bytes_scanned.map(saturating_i64))
            .bind(run.cost.seconds)
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
                    "INSERT INTO check_results (run_id, dataset, warehouse, check_name, ",
                    "check_hash, ",
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
            // A bucket measured again (back-filled, late data) replaces its earlier point:
            // one delete per check, then the points in batches like the results'.
            let dataset = owner.text("dataset")?;
            let mut checks: Vec<&str> = run.bucket_points.iter().map(|p| p.check.as_str()).collect();
            checks.sort_unstable();
            checks.dedup();
            for check in checks {
                let mut delete = QueryBuilder::<DB>::new("DELETE FROM metric_points WHERE dataset = ");
                delete.push_bind(dataset.as_str()).push(" AND check_name = ").push_bind(check);
                delete.push(" AND at IN (");
                let mut ats = delete.separated(", ");
                for point in run.bucket_points.iter().filter(|p| p.check == check) {
                    ats.push_bind(DB::time(point.at));
                }
                delete.push(")").build().execute(&mut *tx).await?;
            }
            for chunk in run.bucket_points.chunks(INSERT_BATCH) {
                let mut insert = QueryBuilder::<DB>::new(
                    "INSERT INTO metric_points (dataset, check_name, at, value) ",
                );
                insert.push_values(chunk, |mut row, point| {
                    row.push_bind(dataset.as_str())
                        .push_bind(point.check.as_str())
                        .push_bind(DB::time(point.at))
                        .push_bind(point.value);
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
                "UPDATE runs SET status = 'abandoned', error = $2, finished_at = $1 ",
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
            let mut query = QueryBuilder::<DB>::new(concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE TRUE"
            ));
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

        async fn unclaimed_slots(
            &self,
            slots: &[(String, DateTime<Utc>)],
        ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
            let mut unclaimed = Vec::new();
            for chunk in slots.chunks(START_RUNS_PER_STATEMENT) {
                // One probe of the slot index per pair.
                let mut query = QueryBuilder::<DB>::new("WITH wanted (n, dataset, slot) AS (");
                query.push_values(chunk.iter().enumerate(), |mut row, (n, (dataset, slot))| {
                    row.push_bind(n as i64)
                        .push_bind(dataset.as_str())
                        .push_bind(DB::time(*slot));
                });
                query.push(
                    ") SELECT w.dataset, w.slot FROM wanted w WHERE NOT EXISTS (\
                     SELECT 1 FROM runs r WHERE r.trigger = 'schedule' \
                     AND r.dataset = w.dataset AND r.slot = w.slot) ORDER BY w.n",
                );
                let rows = query.build().fetch_all(self.reader()).await?;
                unclaimed.extend(all(&rows, |row| Ok((row.text("dataset")?, row.time("slot")?)))?);
            }
            Ok(unclaimed)
        }

        async fn release_claims(&self, runs: &[Uuid]) -> Result<u64, StoreError> {
            if runs.is_empty() {
                return Ok(0);
            }
            // The caller hands back only runs it never gave a worker; one another replica
            // has expired meanwhile is not `running` and stays, abandoned.
            let delete = format!(
                "DELETE FROM runs WHERE status = 'running' AND id {}",
                DB::IN_ID_LIST
            );
            let deleted = sqlx::query(AssertSqlSafe(delete))
                .bind(DB::id_list(runs)?)
                .execute(self.writer())
                .await?;
            Ok(deleted.rows_affected())
        }
    }
}
