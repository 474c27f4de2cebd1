//! What the two implementations share: rows turned into the contract's types, paging,
//! retention cut-offs and error classification. Pure, so it is unit-tested here.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::*;
use crate::results::Band;
use crate::spec::{Redactor, Severity};

/// How many runs one prune transaction deletes (with their results and snapshots): big
/// enough to be quick, small enough that no transaction holds locks for long.
pub(super) const PRUNE_RUN_BATCH: i64 = 500;

/// Runs inserted per statement by `start_runs`: 9 parameters each stays far below both
/// databases' limits (SQLite 32,766, Postgres 65,535).
pub(super) const START_RUNS_PER_STATEMENT: usize = 1_000;
/// How many metric points one prune transaction deletes.
pub(super) const PRUNE_POINT_BATCH: i64 = 10_000;
/// Rows per multi-row INSERT: 14 bound columns each stays far below both databases'
/// limits on bind parameters (65,535 and 32,766).
pub(super) const INSERT_BATCH: usize = 500;

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            return StoreError::Unavailable(error.to_string());
        }
        StoreError::Query(match error {
            // The message alone: the detail may quote values (a token's hash, say).
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        })
    }
}

/// Whether an error means the store cannot be reached or cannot take work right now (worth
/// retrying later), rather than that the query itself was refused.
fn is_unavailable(error: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match error {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                pg_code_unavailable(pg.code())
            } else {
                db.code().is_some_and(|code| sqlite_code_unavailable(&code))
            }
        }
        _ => false,
    }
}

/// SQLSTATE classes of Postgres errors that are about the server, not the query:
/// connection exceptions (08), insufficient resources (53: too many connections, disk full)
/// and operator intervention (57P01-03: shutting down, starting up).
fn pg_code_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
}

/// SQLite result codes (primary code in the low byte) that are about the file, not the
/// query: BUSY (5), LOCKED (6), IOERR (10), FULL (13), CANTOPEN (14).
fn sqlite_code_unavailable(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// A migration failure; a connection lost on the way is still [`StoreError::Unavailable`].
pub(super) fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match error {
        M::Execute(e) | M::ExecuteMigration(e, _) if is_unavailable(&e) => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Migrate(other.to_string()),
    }
}

/// `message` with the store URL and each secret part of it masked, for errors raised while
/// connecting (the URL holds credentials and must never reach a message or a log).
pub(super) fn redact(message: &str, url: &str) -> String {
    Redactor::of([url]).text(message)
}

/// A feedback as the store spells it; anything else is a corrupt row.
pub(super) fn stored_feedback(s: &str) -> Result<Feedback, StoreError> {
    Feedback::parse(s)
        .ok_or_else(|| StoreError::Query(format!("the store holds an unknown feedback: {s:?}")))
}

impl Page {
    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub(super) fn fetch_limit(self) -> i64 {
        i64::from(self.effective_limit()) + 1
    }

    /// Turns up to `fetch_limit()` rows, each with its paging key, newest first, into a page.
    pub(super) fn paged<T>(self, mut rows: Vec<(i64, T)>) -> Paged<T> {
        let limit = self.effective_limit() as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(|(key, _)| *key)
        } else {
            None
        };
        Paged {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next,
        }
    }
}

/// The time before which retention `keep` no longer keeps anything; `None` when that lies
/// before any representable time (nothing is old enough).
pub(super) fn cutoff(now: DateTime<Utc>, keep: Duration) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::from_std(keep).ok()?)
}

/// The value a result is stored with: JSON cannot hold NaN or infinities (they print as null),
/// so neither store keeps them.
pub(super) fn stored_value(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// The metric points a finished run leaves at its finish: `(result, value)` for every
/// result with a (finite) value, except those of per-bucket checks, whose points are their
/// buckets.
pub(super) fn metric_points(run: &FinishedRun) -> Vec<(&CheckResult, f64)> {
    let bucketed = |check: &str| run.bucket_points.iter().any(|p| p.check == check);
    run.results
        .iter()
        .filter(|(r, _)| !bucketed(&r.check))
        .filter_map(|(r, _)| Some((r, stored_value(r.value)?)))
        .collect()
}

/// Refuses to "finish" a run into the running state.
pub(super) fn check_final(run: &FinishedRun) -> Result<Summary, StoreError> {
    if run.status == RunStatus::Running {
        return Err(StoreError::Query(format!(
            "run {} cannot finish as running: give it a final status",
            run.id
        )));
    }
    Ok(Summary::of(run.results.iter().map(|(r, _)| r.outcome)))
}

/// Why a run could not be finished: it does not exist, or it already finished.
pub(super) fn not_finishable(id: Uuid, status: Option<String>) -> StoreError {
    match status {
        None => StoreError::NotFound,
        Some(status) => StoreError::Query(format!("run {id} has already finished ({status})")),
    }
}

/// A summary count as its integer column holds it.
pub(super) fn count_column(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A count of rows or bytes for a `bigint` column.
pub(super) fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(format!("the store holds an unknown {what}: {value:?}"))
}

/// A stored enum's text parsed, or an error naming what the store holds.
pub(super) fn parsed<T>(
    what: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| corrupt(what, text))
}

/// A write that lost a race with another writer's (a unique key, or a stale version).
pub(super) fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(format!("{what} changed meanwhile; read it again"))
}

/// JSON text from a SQLite column (Postgres decodes jsonb itself).
pub(super) fn parse_json<T: DeserializeOwned>(
    what: &str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Query(format!("the store holds invalid {what} JSON: {e}")))
    })
    .transpose()
}

/// A run as read from either store, before its enums are parsed.
pub(super) struct RunRow {
    pub seq: i64,
    pub id: Uuid,
    pub batch_id: Uuid,
    pub dataset: String,
    pub warehouse: String,
    pub trigger: String,
    pub slot: Option<DateTime<Utc>>,
    pub status: String,
    pub replica: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub lease_until: DateTime<Utc>,
    pub error: Option<String>,
    /// pass, warn, fail, error
    pub counts: [i64; 4],
    /// rows, bytes
    pub scanned: [Option<i64>; 2],
    pub warehouse_seconds: Option<f64>,
}

impl RunRow {
    /// The run with its paging key.
    pub fn into_run(self) -> Result<(i64, Run), StoreError> {
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        let [pass, warn, fail, error] = self.counts.map(count);
        let [rows_scanned, bytes_scanned] =
            self.scanned.map(|n| n.and_then(|n| u64::try_from(n).ok()));
        // A run that finished since the store kept costs has its warehouse time.
        let cost = self.warehouse_seconds.map(|seconds| Cost {
            rows_scanned,
            bytes_scanned,
            seconds,
        });
        let run = Run {
            id: self.id,
            batch_id: self.batch_id,
            dataset: self.dataset,
            warehouse: self.warehouse,
            trigger: Trigger::parse(&self.trigger)
                .ok_or_else(|| corrupt("trigger", &self.trigger))?,
            slot: self.slot,
            status: RunStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            replica: self.replica,
            started_at: self.started_at,
            finished_at: self.finished_at,
            lease_until: self.lease_until,
            error: self.error,
            summary: Summary {
                pass,
                warn,
                fail,
                error,
            },
            cost,
        };
        Ok((self.seq, run))
    }
}

/// A check result as read from either store, before its enums are parsed.
pub(super) struct ResultRow {
    pub id: i64,
    pub run_id: Uuid,
    pub dataset: String,
    pub warehouse: String,
    pub check_name: String,
    pub check_hash: String,
    pub kind: String,
    pub column_name: Option<String>,
    pub columns: Option<Vec<String>>,
    pub outcome: String,
    pub value: Option<f64>,
    pub expected: Option<serde_json::Value>,
    pub message: String,
    pub severity: Option<String>,
    pub band: Option<Band>,
    pub observed_at: DateTime<Utc>,
}

impl ResultRow {
    /// The result with its paging key.
    pub fn into_result(self) -> Result<(i64, StoredResult), StoreError> {
        let severity = match &self.severity {
            Some(s) => Some(Severity::parse(s).ok_or_else(|| corrupt("severity", s))?),
            None => None,
        };
        let stored = StoredResult {
            id: self.id,
            run_id: self.run_id,
            check_hash: self.check_hash,
            observed_at: self.observed_at,
            result: CheckResult {
                dataset: self.dataset,
                warehouse: self.warehouse,
                check: self.check_name,
                kind: self.kind,
                column: self.column_name,
                columns: self.columns,
                outcome: Outcome::parse(&self.outcome)
                    .ok_or_else(|| corrupt("outcome", &self.outcome))?,
                value: self.value,
                expected: self.expected,
                message: self.message,
                severity,
                band: self.band,
            },
        };
        Ok((self.id, stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn page_sizes_are_clamped() {
        let page = |limit| Page {
            limit,
            before: None,
        };
        assert_eq!(page(0).effective_limit(), 1);
        assert_eq!(page(7).effective_limit(), 7);
        assert_eq!(page(5000).effective_limit(), Page::MAX_LIMIT);
        assert_eq!(page(7).fetch_limit(), 8);
    }

    #[test]
    fn a_page_points_at_the_next_only_when_more_rows_were_found() {
        let page = Page {
            limit: 2,
            before: None,
        };
        let rows = |keys: &[i64]| keys.iter().map(|&k| (k, k * 10)).collect::<Vec<_>>();
        assert_eq!(
            page.paged(rows(&[9, 8, 7])),
            Paged {
                items: vec![90, 80],
                next: Some(8)
            }
        );
        assert_eq!(
            page.paged(rows(&[9, 8])),
            Paged {
                items: vec![90, 80],
                next: None
            }
        );
        assert_eq!(
            page.paged(rows(&[])),
            Paged {
                items: vec![],
                next: None
            }
        );
    }

    #[test]
    fn cutoffs_subtract_retention_and_saturate_to_none() {
        let now = at("2026-03-10T12:00:00Z");
        assert_eq!(
            cutoff(now, Duration::from_secs(86_400)),
            Some(at("2026-03-09T12:00:00Z"))
        );
        assert_eq!(cutoff(now, Duration::ZERO), Some(now));
        assert_eq!(cutoff(now, Duration::from_secs(u64::MAX)), None);
        assert_eq!(
            cutoff(now, Duration::from_secs(400_000 * 365 * 86_400)),
            None
        );
    }

    #[test]
    fn unavailable_codes() {
        for code in ["08006", "08001", "53300", "57P01", "57P03"] {
            assert!(pg_code_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "22P02"] {
            assert!(!pg_code_unavailable(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517), SQLITE_IOERR_WRITE (778), SQLITE_CANTOPEN
        for code in ["5", "517", "6", "778", "13", "14"] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_ERROR, garbage
        for code in ["2067", "1", "19", "x"] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
    }

    #[test]
    fn pool_and_io_errors_are_unavailable_others_are_query_errors() {
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = StoreError::from(sqlx::Error::Io(io));
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        let e = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, StoreError::Query(_)), "{e:?}");
    }

    #[test]
    fn redaction_removes_the_url_and_the_password() {
        let url = "postgres://tm:s3cr%21t@db.internal:5432/tidemark";
        assert_eq!(
            redact(&format!("cannot parse {url}: bad"), url),
            "cannot parse ***: bad"
        );
        assert_eq!(
            redact("password s3cr%21t rejected", url),
            "password *** rejected"
        );
        assert_eq!(
            redact("password s3cr!t rejected", url),
            "password *** rejected"
        );
        assert_eq!(
            redact("nothing to hide", "postgres://db/x"),
            "nothing to hide"
        );
    }

    fn result(check: &str, outcome: Outcome, value: Option<f64>) -> (CheckResult, String) {
        let result = CheckResult {
            dataset: "orders".into(),
            warehouse: "main".into(),
            check: check.into(),
            kind: "row_count".into(),
            column: None,
            columns: None,
            outcome,
            value,
            expected: None,
            message: String::new(),
            severity: None,
            band: None,
        };
        (result, "hash".into())
    }

    fn finished(status: RunStatus, results: Vec<(CheckResult, String)>) -> FinishedRun {
        FinishedRun {
            id: Uuid::nil(),
            status,
            finished_at: at("2026-03-10T12:00:00Z"),
            error: None,
            results,
            snapshot: None,
            profiles: Vec::new(),
            bucket_points: Vec::new(),
            cost: Default::default(),
        }
    }

    #[test]
    fn metric_points_are_the_finite_values() {
        let run = finished(
            RunStatus::Completed,
            vec![
                result("a", Outcome::Pass, Some(3.0)),
                result("b", Outcome::Error, None),
                result("c", Outcome::Fail, Some(f64::NAN)),
                result("d", Outcome::Warn, Some(f64::INFINITY)),
                result("e", Outcome::Warn, Some(-0.5)),
            ],
        );
        let points: Vec<_> = metric_points(&run)
            .into_iter()
            .map(|(r, value)| (r.check.as_str(), value))
            .collect();
        assert_eq!(points, vec![("a", 3.0), ("e", -0.5)]);
        assert_eq!(stored_value(Some(f64::NEG_INFINITY)), None);
    }

    #[test]
    fn a_run_finishes_with_a_final_status_and_counted_outcomes() {
        let results = vec![
            result("a", Outcome::Pass, None),
            result("b", Outcome::Fail, None),
            result("c", Outcome::Fail, None),
        ];
        let summary = check_final(&finished(RunStatus::Completed, results.clone()));
        assert!(matches!(
            summary,
            Ok(Summary {
                pass: 1,
                warn: 0,
                fail: 2,
                error: 0
            })
        ));
        let running = check_final(&finished(RunStatus::Running, results));
        assert!(matches!(running, Err(StoreError::Query(_))));
        assert!(matches!(
            not_finishable(Uuid::nil(), None),
            StoreError::NotFound
        ));
        assert!(matches!(
            not_finishable(Uuid::nil(), Some("completed".into())),
            StoreError::Query(m) if m.contains("already finished (completed)")
        ));
    }

    fn run_row() -> RunRow {
        RunRow {
            seq: 4,
            id: Uuid::nil(),
            batch_id: Uuid::nil(),
            dataset: "orders".into(),
            warehouse: "main".into(),
            trigger: "schedule".into(),
            slot: Some(at("2026-03-10T12:00:00Z")),
            status: "completed".into(),
            replica: "host:1".into(),
            started_at: at("2026-03-10T12:00:01Z"),
            finished_at: Some(at("2026-03-10T12:00:02Z")),
            lease_until: at("2026-03-10T12:01:00Z"),
            error: None,
            counts: [1, 2, 3, 4],
            scanned: [Some(10), None],
            warehouse_seconds: Some(0.5),
        }
    }

    #[test]
    fn rows_become_runs_and_unknown_enums_are_errors() {
        let (seq, run) = run_row().into_run().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seq, 4);
        assert_eq!(run.trigger, Trigger::Schedule);
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(
            run.summary,
            Summary {
                pass: 1,
                warn: 2,
                fail: 3,
                error: 4
            }
        );
        let bad = RunRow {
            status: "exploded".into(),
            ..run_row()
        };
        assert!(matches!(bad.into_run(), Err(StoreError::Query(m)) if m.contains("exploded")));
    }

    #[test]
    fn rows_become_results() {
        let row = ResultRow {
            id: 7,
            run_id: Uuid::nil(),
            dataset: "orders".into(),
            warehouse: "main".into(),
            check_name: "unique(id)".into(),
            check_hash: "h".into(),
            kind: "unique".into(),
            column_name: Some("id".into()),
            columns: None,
            outcome: "warn".into(),
            value: Some(2.0),
            expected: Some(serde_json::json!({"max": 0})),
            message: "2 duplicates".into(),
            severity: Some("high".into()),
            band: None,
            observed_at: at("2026-03-10T12:00:00Z"),
        };
        let (id, stored) = row.into_result().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id, 7);
        assert_eq!(stored.result.outcome, Outcome::Warn);
        assert_eq!(stored.result.severity, Some(Severity::High));
        assert_eq!(stored.result.check, "unique(id)");
    }

    #[test]
    fn json_columns_parse_or_say_what_is_wrong() {
        let ok: Option<Vec<String>> =
            parse_json("columns", Some(r#"["a","b"]"#.into())).unwrap_or_default();
        assert_eq!(ok, Some(vec!["a".to_string(), "b".to_string()]));
        let none: Result<Option<Vec<String>>, _> = parse_json("columns", None);
        assert!(matches!(none, Ok(None)));
        let bad: Result<Option<Vec<String>>, _> = parse_json("columns", Some("{".into()));
        assert!(matches!(bad, Err(StoreError::Query(m)) if m.contains("columns")));
    }
}
