//! Incidents, their timelines and the notifications a change enqueues, in one transaction.

use super::*;

/// Incidents the reminder sweep reads at once.
const DUE_BATCH: i64 = 500;

/// A new incident; `$1`, `$2` are its dataset and check, `$3`… its state. A check with an
/// active incident already is a unique-key conflict.
const INSERT_INCIDENT: &str = concat!(
    "INSERT INTO incidents (dataset, check_name, kind, sla, severity, status, opened_at, ",
    "last_seen_at, resolved_at, resolved_by, acknowledged_at, muted_until, count, flaps, ",
    "value, expected, message, cause_id, version, announced, last_notified_at) VALUES ",
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, ",
    "$19, $20, $21) RETURNING id"
);

/// An incident rewritten while still at version `$2`; `$1` is its id, `$3`… its state.
const UPDATE_INCIDENT: &str = concat!(
    "UPDATE incidents SET kind = $3, sla = $4, severity = $5, status = $6, opened_at = $7, ",
    "last_seen_at = $8, resolved_at = $9, resolved_by = $10, acknowledged_at = $11, ",
    "muted_until = $12, count = $13, flaps = $14, value = $15, expected = $16, ",
    "message = $17, cause_id = $18, version = $19, announced = $20, ",
    "last_notified_at = $21 WHERE id = $1 AND version = $2 RETURNING id"
);

/// One entry of an incident's timeline.
const INSERT_EVENT: &str = "INSERT INTO incident_events \
     (incident_id, version, at, kind, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// A notification of a change, once per idempotency key `incident/version/channel`.
const ENQUEUE_NOTIFICATION: &str = "INSERT INTO notifications (idempotency_key, incident_id, \
     transition, channel, payload, status, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

/// A unique-key violation as a lost race; any other error as itself.
fn unique_conflict(error: sqlx::Error, what: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => conflict(what),
        _ => error.into(),
    }
}

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
                let incident = &change.incident;
                // `$1` and `$2` say which incident: a new one's check, or the id and the
                // version the change was computed from (a stale version updates no row).
                let query = match change.base {
                    None => sqlx::query(INSERT_INCIDENT)
                        .bind(incident.dataset.as_str())
                        .bind(incident.check.as_str()),
                    Some(base) => sqlx::query(UPDATE_INCIDENT).bind(incident.id).bind(base),
                };
                let written = query
                    .bind(incident.kind.as_str())
                    .bind(incident.sla)
                    .bind(incident.severity.as_str())
                    .bind(incident.status.as_str())
                    .bind(Some(DB::time(incident.opened_at)))
                    .bind(Some(DB::time(incident.last_seen_at)))
                    .bind(incident.resolved_at.map(DB::time))
                    .bind(incident.resolved_by.as_deref())
                    .bind(incident.acknowledged_at.map(DB::time))
                    .bind(incident.muted_until.map(DB::time))
                    .bind(incident.count)
                    .bind(incident.flaps)
                    .bind(stored_value(incident.value))
                    .bind(incident.expected.as_ref().map(Json))
                    .bind(incident.message.as_str())
                    .bind(incident.cause)
                    .bind(incident.version)
                    .bind(incident.announced.map(IncidentStatus::as_str))
                    .bind(incident.last_notified_at.map(DB::time))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| unique_conflict(e, "the check's active incident"))?;
                let Some(written) = written else {
                    return Err(conflict(&format!("incident {}", incident.id)));
                };
                let id = written.integer("id")?;
                if let Some(event) = &change.event {
                    sqlx::query(INSERT_EVENT)
                        .bind(id)
                        .bind(incident.version)
                        .bind(DB::time(now))
                        .bind(event.kind.as_str())
                        .bind(event.actor.as_str())
                        .bind(event.detail.as_deref())
                        .execute(&mut *tx)
                        .await?;
                }
                for notification in &change.notifications {
                    let key = format!("{id}/{}/{}", incident.version, notification.channel);
                    let row = sqlx::query(ENQUEUE_NOTIFICATION)
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
