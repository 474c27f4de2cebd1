//! Incidents, their timelines and the notifications a change enqueues, in one transaction.

use super::incident_writes::{insert_event, insert_incident, update_incident};
use super::*;

/// Incidents the reminder sweep reads at once.
const DUE_BATCH: i64 = 500;

sql_area! {
    impl Incidents {
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
    }
}
