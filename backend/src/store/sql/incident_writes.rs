//! The statements that write an incident and its timeline, inside the transaction of the
//! change (see `write_incidents`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, IntoArguments, Transaction};

use super::super::common::*;
use super::super::*;
use super::{Bind, Dialect, StoreRow, Written};

/// Inserts a new incident; its id. A check with an active incident already is a conflict.
pub(super) async fn insert_incident<DB>(
    tx: &mut Transaction<'static, DB>,
    incident: &Incident,
) -> Result<i64, StoreError>
where
    DB: Dialect,
    DB::Row: StoreRow,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<'a, DB>,
    for<'a> Option<&'a str>: Bind<'a, DB>,
    for<'a> Option<Json<&'a serde_json::Value>>: Bind<'a, DB>,
    i64: Bind<'static, DB>,
    bool: Bind<'static, DB>,
    Option<i64>: Bind<'static, DB>,
    Option<f64>: Bind<'static, DB>,
    Option<DB::Time>: Bind<'static, DB>,
{
    let query = sqlx::query(concat!(
        "INSERT INTO incidents (dataset, check_name, kind, sla, severity, status, opened_at, ",
        "last_seen_at, resolved_at, resolved_by, acknowledged_at, muted_until, count, flaps, ",
        "value, expected, message, cause_id, version, announced, last_notified_at) VALUES ",
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, ",
        "$19, $20, $21) RETURNING id"
    ))
    .bind(incident.dataset.as_str())
    .bind(incident.check.as_str());
    let row = bind_incident_state::<DB>(query, incident)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| unique_conflict(e, "the check's active incident"))?;
    row.integer("id")
}

/// Rewrites an incident that is still at version `base`; its id.
pub(super) async fn update_incident<DB>(
    tx: &mut Transaction<'static, DB>,
    incident: &Incident,
    base: i64,
) -> Result<i64, StoreError>
where
    DB: Dialect,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<'a, DB>,
    for<'a> Option<&'a str>: Bind<'a, DB>,
    for<'a> Option<Json<&'a serde_json::Value>>: Bind<'a, DB>,
    i64: Bind<'static, DB>,
    bool: Bind<'static, DB>,
    Option<i64>: Bind<'static, DB>,
    Option<f64>: Bind<'static, DB>,
    Option<DB::Time>: Bind<'static, DB>,
{
    let query = sqlx::query(concat!(
        "UPDATE incidents SET kind = $3, sla = $4, severity = $5, status = $6, opened_at = $7, ",
        "last_seen_at = $8, resolved_at = $9, resolved_by = $10, acknowledged_at = $11, ",
        "muted_until = $12, count = $13, flaps = $14, value = $15, expected = $16, ",
        "message = $17, cause_id = $18, version = $19, announced = $20, ",
        "last_notified_at = $21 WHERE id = $1 AND version = $2"
    ))
    .bind(incident.id)
    .bind(base);
    let updated = bind_incident_state::<DB>(query, incident)
        .execute(&mut **tx)
        .await
        .map_err(|e| unique_conflict(e, "the check's active incident"))?;
    if updated.rows_affected() == 0 {
        return Err(conflict(&format!("incident {}", incident.id)));
    }
    Ok(incident.id)
}

/// Adds `event` to incident `id`'s timeline, as the change to `version` made at `at`.
pub(super) async fn insert_event<DB>(
    tx: &mut Transaction<'static, DB>,
    id: i64,
    version: i64,
    event: &NewEvent,
    at: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: Dialect,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<'a, DB>,
    for<'a> Option<&'a str>: Bind<'a, DB>,
    i64: Bind<'static, DB>,
    DB::Time: Bind<'static, DB>,
{
    sqlx::query(
        "INSERT INTO incident_events (incident_id, version, at, kind, actor, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(version)
    .bind(DB::time(at))
    .bind(event.kind.as_str())
    .bind(event.actor.as_str())
    .bind(event.detail.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Binds `$3`… of an incident write: everything but its identity.
pub(super) fn bind_incident_state<'q, DB>(
    query: sqlx::query::Query<'q, DB, DB::Arguments>,
    incident: &'q Incident,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: Dialect,
    for<'a> &'a str: Bind<'a, DB>,
    for<'a> Option<&'a str>: Bind<'a, DB>,
    for<'a> Option<Json<&'a serde_json::Value>>: Bind<'a, DB>,
    i64: Bind<'static, DB>,
    bool: Bind<'static, DB>,
    Option<i64>: Bind<'static, DB>,
    Option<f64>: Bind<'static, DB>,
    Option<DB::Time>: Bind<'static, DB>,
{
    query
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
}

/// A unique-key violation as a lost race; any other error as itself.
pub(super) fn unique_conflict(error: sqlx::Error, what: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => conflict(what),
        _ => error.into(),
    }
}
