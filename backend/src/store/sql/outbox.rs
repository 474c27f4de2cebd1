//! The notification outbox: claims under a lease, settlements with their delivery attempts.

use super::*;

sql_area! {
    impl Outbox {
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
                    "SELECT id FROM notifications ",
                    "WHERE status = 'pending' AND next_attempt_at <= $3 ",
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
    }
}
