//! The SQLite store: the embedded default under `.tidemark/`, for laptops, CI and a single
//! server. WAL mode lets readers work while a run is written; writes go through one
//! connection of their own, so they queue in the pool instead of fighting over the file's
//! lock (other processes on the same file still wait for it, up to the busy timeout).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::common::*;
use super::sql::{Backend, Dialect};
use super::*;

/// The SQLite migrations (`migrations/sqlite`), embedded in the binary.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a statement waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections for reads; WAL lets them run beside the writer.
const READERS: u32 = 4;
/// How long a query waits for a connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

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

impl Backend for SqliteStore {
    type Db = Sqlite;

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }
}

/// SQLite keeps uuids, times ([`ts`]) and JSON as text.
impl Dialect for Sqlite {
    type Id = String;
    type Time = String;
    /// A JSON array of ids.
    type IdList = String;
    /// A JSON array of numbers.
    type Numbers = String;
    /// A JSON array of strings.
    type Texts = String;

    // SQLite's default collation (BINARY) already compares bytes.
    const BYTE_ORDER: &'static str = "";
    const IN_ID_LIST: &'static str = "IN (SELECT value FROM json_each($1))";
    // SQLite looks each pointer up by primary key on its own.
    const LATEST_RESULTS: &'static str =
        "(SELECT result_id FROM latest_results) latest JOIN check_results ON id = result_id";
    // The IMMEDIATE transaction holds the file's write lock: nothing else writes meanwhile.
    const LOCK_RUNS_TO_PRUNE: &'static str = "";
    // One writer at a time: a claim's UPDATE already has the file to itself.
    const SKIP_LOCKED: &'static str = "";

    fn id(id: Uuid) -> String {
        id.to_string()
    }

    fn time(time: DateTime<Utc>) -> String {
        ts(time)
    }

    fn id_list(ids: &[Uuid]) -> Result<String, StoreError> {
        to_json(&ids)
    }

    fn numbers(values: &[i64]) -> Result<String, StoreError> {
        to_json(&values)
    }

    fn texts(values: &[String]) -> Result<String, StoreError> {
        to_json(&values)
    }

    fn uuid_of(id: String) -> Result<Uuid, StoreError> {
        parse_uuid(&id)
    }

    fn time_of(time: String) -> Result<DateTime<Utc>, StoreError> {
        parse_ts(&time)
    }

    fn json<T: DeserializeOwned>(row: &SqliteRow, column: &str) -> Result<Option<T>, StoreError> {
        parse_json(column, row.try_get(column)?)
    }

    async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
        // sqlx takes no lock on SQLite: two processes migrating a new file together can
        // collide ("table already exists"). The second attempt sees the winner's work.
        match SQLITE_MIGRATOR.run(pool).await {
            Ok(()) => Ok(()),
            Err(_) => SQLITE_MIGRATOR.run(pool).await.map_err(migrate_error),
        }
    }

    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        // IMMEDIATE: take the write lock up front, so another process cannot slip a write in
        // between and make this transaction fail instead of wait.
        pool.begin_with("BEGIN IMMEDIATE").await
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
