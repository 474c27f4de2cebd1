//! Reading the store's rows as its types, on any [`Dialect`].

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, QueryBuilder, Row};
use uuid::Uuid;

use super::super::common::*;
use super::super::*;
use super::{Bind, Dialect, Read};

// The columns each reader below reads, in one list per table, for the statements.

macro_rules! run_columns {
    () => {
        "seq, id, batch_id, dataset, warehouse, trigger, slot, status, replica, started_at, \
         finished_at, lease_until, error, pass_count, warn_count, fail_count, error_count, \
         rows_scanned, bytes_scanned, warehouse_seconds"
    };
}

macro_rules! metric_point_columns {
    () => {
        "at, value, band_lower, band_upper, anomalous, shift, feedback"
    };
}

macro_rules! result_columns {
    () => {
        "id, run_id, dataset, warehouse, check_name, check_hash, kind, column_name, columns, \
         outcome, value, expected, message, severity, band, observed_at"
    };
}

macro_rules! incident_columns {
    () => {
        "id, dataset, check_name, kind, sla, severity, status, opened_at, last_seen_at, \
         resolved_at, resolved_by, acknowledged_at, muted_until, count, flaps, value, expected, \
         message, cause_id, version, announced, last_notified_at"
    };
}

macro_rules! notification_columns {
    () => {
        "id, idempotency_key, incident_id, transition, channel, payload, status, attempts, \
         next_attempt_at, last_error, created_at, delivered_at"
    };
}

/// A row of any [`Dialect`], read as the store's types.
pub(in crate::store) trait StoreRow {
    /// A run with its paging key.
    fn run(&self) -> Result<(i64, Run), StoreError>;
    /// A check result with its paging key.
    fn result(&self) -> Result<(i64, StoredResult), StoreError>;
    fn snapshot(&self) -> Result<SchemaSnapshot, StoreError>;
    fn metric_point(&self) -> Result<MetricPoint, StoreError>;
    fn incident(&self) -> Result<Incident, StoreError>;
    fn incident_event(&self) -> Result<IncidentEvent, StoreError>;
    fn notification(&self) -> Result<Notification, StoreError>;

    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn integer(&self, column: &str) -> Result<i64, StoreError>;
    fn uuid(&self, column: &str) -> Result<Uuid, StoreError>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

impl<R, DB> StoreRow for R
where
    R: Row<Database = DB>,
    DB: Dialect<Row = R>,
    for<'a> &'a str: ColumnIndex<R>,
    String: Read<DB>,
    i32: Read<DB>,
    i64: Read<DB>,
    f64: Read<DB>,
    bool: Read<DB>,
{
    fn run(&self) -> Result<(i64, Run), StoreError> {
        // Summary counts are `integer` columns.
        let count = |column| Ok::<_, StoreError>(self.try_get::<i32, _>(column)?.into());
        RunRow {
            seq: self.try_get("seq")?,
            id: self.uuid("id")?,
            batch_id: self.uuid("batch_id")?,
            dataset: self.try_get("dataset")?,
            warehouse: self.try_get("warehouse")?,
            trigger: self.try_get("trigger")?,
            slot: self.optional_time("slot")?,
            status: self.try_get("status")?,
            replica: self.try_get("replica")?,
            started_at: self.time("started_at")?,
            finished_at: self.optional_time("finished_at")?,
            lease_until: self.time("lease_until")?,
            error: self.try_get("error")?,
            counts: [
                count("pass_count")?,
                count("warn_count")?,
                count("fail_count")?,
                count("error_count")?,
            ],
            scanned: [
                self.try_get("rows_scanned")?,
                self.try_get("bytes_scanned")?,
            ],
            warehouse_seconds: self.try_get("warehouse_seconds")?,
        }
        .into_run()
    }

    fn result(&self) -> Result<(i64, StoredResult), StoreError> {
        ResultRow {
            id: self.try_get("id")?,
            run_id: self.uuid("run_id")?,
            dataset: self.try_get("dataset")?,
            warehouse: self.try_get("warehouse")?,
            check_name: self.try_get("check_name")?,
            check_hash: self.try_get("check_hash")?,
            kind: self.try_get("kind")?,
            column_name: self.try_get("column_name")?,
            columns: DB::json(self, "columns")?,
            outcome: self.try_get("outcome")?,
            value: self.try_get("value")?,
            expected: DB::json(self, "expected")?,
            message: self.try_get("message")?,
            severity: self.try_get("severity")?,
            band: DB::json(self, "band")?,
            observed_at: self.time("observed_at")?,
        }
        .into_result()
    }

    fn snapshot(&self) -> Result<SchemaSnapshot, StoreError> {
        Ok(SchemaSnapshot {
            dataset: self.try_get("dataset")?,
            warehouse: self.try_get("warehouse")?,
            run_id: self.uuid("run_id")?,
            taken_at: self.time("taken_at")?,
            columns: DB::json(self, "columns")?.unwrap_or_default(),
        })
    }

    fn metric_point(&self) -> Result<MetricPoint, StoreError> {
        let feedback: Option<String> = self.try_get("feedback")?;
        Ok(MetricPoint {
            at: self.time("at")?,
            value: self.try_get("value")?,
            lower: self.try_get("band_lower")?,
            upper: self.try_get("band_upper")?,
            anomalous: self.try_get("anomalous")?,
            shift: self.try_get("shift")?,
            feedback: feedback.as_deref().map(stored_feedback).transpose()?,
        })
    }

    fn incident(&self) -> Result<Incident, StoreError> {
        let kind: String = self.try_get("kind")?;
        let severity: String = self.try_get("severity")?;
        let status: String = self.try_get("status")?;
        let announced: Option<String> = self.try_get("announced")?;
        Ok(Incident {
            id: self.try_get("id")?,
            dataset: self.try_get("dataset")?,
            check: self.try_get("check_name")?,
            kind: parsed("incident kind", &kind, IncidentKind::parse)?,
            sla: self.try_get("sla")?,
            severity: parsed("severity", &severity, crate::spec::Severity::parse)?,
            status: parsed("incident status", &status, IncidentStatus::parse)?,
            opened_at: self.time("opened_at")?,
            last_seen_at: self.time("last_seen_at")?,
            resolved_at: self.optional_time("resolved_at")?,
            resolved_by: self.try_get("resolved_by")?,
            acknowledged_at: self.optional_time("acknowledged_at")?,
            muted_until: self.optional_time("muted_until")?,
            count: self.try_get("count")?,
            flaps: self.try_get("flaps")?,
            value: self.try_get("value")?,
            expected: DB::json(self, "expected")?,
            message: self.try_get("message")?,
            cause: self.try_get("cause_id")?,
            version: self.try_get("version")?,
            announced: announced
                .map(|a| parsed("announced status", &a, IncidentStatus::parse))
                .transpose()?,
            last_notified_at: self.optional_time("last_notified_at")?,
        })
    }

    fn incident_event(&self) -> Result<IncidentEvent, StoreError> {
        let kind: String = self.try_get("kind")?;
        Ok(IncidentEvent {
            id: self.try_get("id")?,
            incident_id: self.try_get("incident_id")?,
            version: self.try_get("version")?,
            at: self.time("at")?,
            kind: parsed("incident event", &kind, EventKind::parse)?,
            actor: self.try_get("actor")?,
            detail: self.try_get("detail")?,
        })
    }

    fn notification(&self) -> Result<Notification, StoreError> {
        let transition: String = self.try_get("transition")?;
        let status: String = self.try_get("status")?;
        Ok(Notification {
            id: self.try_get("id")?,
            idempotency_key: self.try_get("idempotency_key")?,
            incident_id: self.try_get("incident_id")?,
            transition: parsed("transition", &transition, Transition::parse)?,
            channel: self.try_get("channel")?,
            payload: DB::json(self, "payload")?.unwrap_or_default(),
            status: parsed("notification status", &status, NotificationStatus::parse)?,
            attempts: self.try_get("attempts")?,
            next_attempt_at: self.time("next_attempt_at")?,
            last_error: self.try_get("last_error")?,
            created_at: self.time("created_at")?,
            delivered_at: self.optional_time("delivered_at")?,
        })
    }

    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn integer(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        DB::uuid_of(self.try_get(column)?)
    }

    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        DB::time_of(self.try_get(column)?)
    }

    fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.try_get::<Option<DB::Time>, _>(column)?
            .map(DB::time_of)
            .transpose()
    }
}

/// Every row converted, or the first error.
pub(super) fn all<R, T>(
    rows: &[R],
    convert: impl Fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(convert).collect()
}

/// Adds ` AND <condition> <value>` to a query's `WHERE` when there is a value.
pub(super) fn and_where<'t, DB: Database, T: Bind<'t, DB>>(
    query: &mut QueryBuilder<DB>,
    condition: &str,
    value: Option<T>,
) {
    if let Some(value) = value {
        query.push(" AND ").push(condition).push_bind(value);
    }
}

/// Drops the paging keys.
pub(super) fn unkeyed<T>(rows: Vec<(i64, T)>) -> Vec<T> {
    rows.into_iter().map(|(_, item)| item).collect()
}
