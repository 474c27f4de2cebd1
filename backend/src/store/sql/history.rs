//! What runs observed, read back: results (paged and latest), metric series, snapshots and
//! profiles.

use super::*;

sql_area! {
    impl History {
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
            let row =
                sqlx::query("SELECT COALESCE(max(result_id), 0) AS version FROM latest_results")
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
                   ON p.dataset = r.dataset AND p.check_name = r.check_name \
                   AND p.at = r.observed_at \
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
    }
}
