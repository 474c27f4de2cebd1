//! DuckDB: a database file opened read-only (`access_mode = READ_ONLY`), or an in-memory
//! database for datasets over files (`files:`), which DuckDB reads in place (Parquet, CSV,
//! JSON; hive partition folders become columns). The driver is synchronous, so each query
//! runs on a blocking thread; DuckDB has no statement timeout, so the engine interrupts a
//! query once `query_timeout` passes (DuckDB's interrupt stops it between vectors).
//!
//! An in-memory database has nothing to write to, and the only ways to write files
//! (`COPY … TO`, `EXPORT DATABASE`, `ATTACH`) are statements the user-SQL guard refuses;
//! the guard also refuses the table functions that read files or secrets, so user SQL
//! reads the database's tables and views only. Extensions are never installed or loaded
//! on demand (no downloads, no code the build did not ship), and the configuration is
//! locked once the database is open.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use duckdb::types::ValueRef;
use duckdb::{AccessMode, Config, Connection};
use futures_util::FutureExt as _;

use super::engine::{CatalogColumn, CatalogView, Connecting, Engine, at_most, doubles, one_number};
use super::{Cell, ConnectRequest, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::user_sql::Grammar;
use crate::spec::{FileFormat, FileSource, Grain, TableRef, TypeFamily};

pub struct DuckDbDialect;

const FACTS: Facts = Facts {
    name: "duckdb",
    grammar: Grammar::DuckDb,
    quote: '"',
    backslash_escapes: false,
    escaped_string_prefix: "",
    quote_in_text: "''",
    bools: ("TRUE", "FALSE"),
    double_type: "DOUBLE",
    text_type: "VARCHAR",
    read_only: ReadOnly::Connection,
    scanned_rows: None,
};

impl SqlDialect for DuckDbDialect {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn regex_match(&self, expr: &str, pattern: &str) -> String {
        format!("regexp_matches({}, {pattern})", self.as_text(expr))
    }
    /// `epoch()` reads dates, zoned and zone-less timestamps alike (zone-less as UTC).
    fn freshness_seconds(&self, column: &str) -> String {
        format!("(epoch(now()) - epoch(MAX({column})))")
    }
    fn bucket(&self, column: &str, grain: Grain) -> String {
        format!("date_trunc('{}', {column})", grain.keyword())
    }
    fn bucket_label(&self, bucket: &str) -> String {
        format!("strftime({bucket}, '%Y-%m-%dT%H:00:00')")
    }
    fn family(&self, data_type: &str, full_type: &str) -> Option<TypeFamily> {
        let t = data_type.to_ascii_lowercase();
        let family = match t.split('(').next().unwrap_or(&t).trim() {
            "hugeint" | "uhugeint" | "ubigint" | "uinteger" | "usmallint" | "utinyint" => {
                TypeFamily::Integer
            }
            "timestamp_s" | "timestamp_ms" | "timestamp_ns" => TypeFamily::Timestamp,
            _ => return super::dialect::named_family_of(data_type, full_type),
        };
        Some(family)
    }
    fn schema_query(&self, with_schema: bool) -> Option<&'static str> {
        Some(if with_schema {
            "SELECT column_name, data_type, data_type FROM duckdb_columns() \
             WHERE database_name = current_database() AND schema_name = ? AND table_name = ? \
             ORDER BY column_index"
        } else {
            "SELECT column_name, data_type, data_type FROM duckdb_columns() \
             WHERE database_name = current_database() AND schema_name = current_schema() \
             AND table_name = ? ORDER BY column_index"
        })
    }
    fn views_query(&self) -> Option<&'static str> {
        Some(
            "SELECT schema_name, view_name, sql, current_schema() FROM duckdb_views() \
         WHERE NOT internal AND database_name = current_database() ORDER BY 1, 2",
        )
    }
    /// Hive partitioning is on, so `dt=2026-12-01/` folders read as a `dt` column.
    fn file_scan(&self, files: &FileSource) -> Option<String> {
        let reader = match files.format {
            FileFormat::Parquet => "read_parquet",
            FileFormat::Csv => "read_csv",
            FileFormat::Json => "read_json",
        };
        let path = self.text_literal(&files.path);
        Some(format!("{reader}({path}, hive_partitioning = true)"))
    }
}

/// The connected database. Connections are cloned from the first one (they share the
/// database and its cache) and kept for reuse, except one that ran user SQL or was
/// interrupted.
pub struct DuckDb {
    first: Mutex<Connection>,
    idle: Mutex<Vec<Connection>>,
    query_timeout: Duration,
}

/// `duckdb:///abs/w.duckdb`, `duckdb://rel/w.duckdb` (relative to the project root) and
/// `duckdb://:memory:`; `None` for the in-memory database.
pub fn duckdb_path(url: &str, root: &Path) -> Option<PathBuf> {
    let rest = url.split_once(':').map_or(url, |(_, rest)| rest);
    if matches!(rest.trim_start_matches('/'), "" | ":memory:") {
        return None;
    }
    Some(super::file_path(url, root))
}

pub fn connect(request: ConnectRequest<'_>) -> Connecting<'_> {
    async move {
        let path = duckdb_path(request.url, request.root);
        let first = tokio::task::spawn_blocking(move || open(path.as_deref())).await??;
        let engine = DuckDb {
            first: Mutex::new(first),
            idle: Mutex::default(),
            query_timeout: request.query_timeout,
        };
        Ok(Box::new(engine) as Box<dyn Engine>)
    }
    .boxed()
}

/// Opens the database: a file read-only (it must exist: a typo must not create an empty
/// warehouse), or an in-memory one. An aggregate larger than memory spills to the system's
/// temporary folder, not (DuckDB's default) beside the database file or in the working
/// directory, which a server may not be able to write.
fn open(path: Option<&Path>) -> Result<Connection, String> {
    let spill = std::env::temp_dir().join(format!("tidemark-duckdb-{}", std::process::id()));
    let config = || {
        Config::default()
            .enable_autoload_extension(false)?
            .with("autoinstall_known_extensions", "false")?
            .with("temp_directory", spill.to_string_lossy())
    };
    let connection = match path {
        Some(path) if !path.exists() => {
            return Err(format!("DuckDB file {} does not exist", path.display()));
        }
        Some(path) => {
            let config = config().and_then(|c| c.access_mode(AccessMode::ReadOnly));
            config.and_then(|config| Connection::open_with_flags(path, config))
        }
        None => config().and_then(Connection::open_in_memory_with_flags),
    };
    let connection = connection.map_err(|e| e.to_string())?;
    connection
        .execute_batch("SET lock_configuration = true")
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

impl DuckDb {
    fn connection(&self) -> Result<Connection, WarehouseError> {
        let idle = self.idle.lock().map_err(|_| poisoned())?.pop();
        match idle {
            Some(connection) => Ok(connection),
            None => Ok(self.first.lock().map_err(|_| poisoned())?.try_clone()?),
        }
    }

    /// Runs `work` on a connection on a blocking thread, interrupting it once the query
    /// timeout passes. The connection goes back for reuse when `reuse` says so and the
    /// query was not interrupted.
    async fn run<T: Send + 'static>(
        &self,
        reuse: bool,
        work: impl FnOnce(&Connection) -> Result<T, WarehouseError> + Send + 'static,
    ) -> Result<T, WarehouseError> {
        let connection = self.connection()?;
        let interrupt = connection.interrupt_handle();
        let mut task = tokio::task::spawn_blocking(move || {
            let result = work(&connection);
            (connection, result)
        });
        let thread_failed = |e: tokio::task::JoinError| {
            WarehouseError::Query(format!("the query's thread failed: {e}"))
        };
        let (connection, result) = tokio::select! {
            joined = &mut task => joined.map_err(thread_failed)?,
            () = tokio::time::sleep(self.query_timeout) => {
                interrupt.interrupt();
                // The interrupted query returns within a vector's work; its connection
                // may still carry the interrupt, so it is dropped, not reused.
                return match task.await {
                    Ok((_, Ok(value))) => Ok(value),
                    _ => Err(WarehouseError::Timeout(self.query_timeout)),
                };
            }
        };
        if reuse && let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        result
    }
}

#[async_trait]
impl Engine for DuckDb {
    fn dialect(&self) -> Dialect {
        Dialect::DUCKDB
    }

    /// A table's columns from DuckDB's catalog; files' columns as DuckDB reads them
    /// (`DESCRIBE` of the scan, hive partition columns included).
    async fn table_columns(&self, table: &TableRef) -> Result<Vec<CatalogColumn>, WarehouseError> {
        let table = table.clone();
        self.run(true, move |conn| {
            let describe = DuckDbDialect.describe(&table);
            let mut statement = conn.prepare(&describe.sql)?;
            let rows = statement.query_map(duckdb::params_from_iter(describe.binds), |row| {
                let (name, data_type): (String, String) = (row.get(0)?, row.get(1)?);
                Ok((name, data_type.clone(), data_type))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn fetch_doubles(&self, sql: &str) -> Result<Vec<Option<f64>>, WarehouseError> {
        let sql = sql.to_owned();
        self.run(true, move |conn| doubles(read(conn, &sql, 1)?))
            .await
    }

    async fn fetch_rows(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        let sql = sql.to_owned();
        self.run(true, move |conn| {
            at_most(read(conn, &sql, max_rows)?, max_rows)
        })
        .await
    }

    /// On a connection of its own, dropped afterwards: user SQL may leave temporary
    /// objects or settings behind on its connection.
    async fn fetch_user_number(
        &self,
        sql: &str,
        _limit: Duration,
    ) -> Result<Option<f64>, WarehouseError> {
        let sql = sql.to_owned();
        self.run(false, move |conn| one_number(&read(conn, &sql, 1)?))
            .await
    }

    async fn views(&self) -> Result<Vec<CatalogView>, WarehouseError> {
        let Some(query) = DuckDbDialect.views_query() else {
            return Ok(Vec::new());
        };
        self.run(true, move |conn| {
            let mut statement = conn.prepare(query)?;
            let rows = statement.query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// A file opened read-only has no accounts: what the process may read, the checks may.
    async fn privilege_warning(&self) -> Option<String> {
        None
    }

    async fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// Up to `limit + 1` rows of `sql` as cells (one more than allowed tells the caller there
/// were too many, without reading the rest).
fn read(conn: &Connection, sql: &str, limit: usize) -> Result<Vec<Vec<Cell>>, WarehouseError> {
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let columns = row.as_ref().column_count();
        let cells = (0..columns)
            .map(|i| row.get_ref(i).map(cell))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(cells);
        if out.len() > limit {
            break;
        }
    }
    Ok(out)
}

/// A value as the planner reads it: numbers (integers, decimals, booleans) as doubles,
/// text as text, anything else as its text form.
fn cell(value: ValueRef<'_>) -> Cell {
    let number = match value {
        ValueRef::Null => return Cell::Null,
        ValueRef::Boolean(b) => f64::from(u8::from(b)),
        ValueRef::TinyInt(n) => f64::from(n),
        ValueRef::SmallInt(n) => f64::from(n),
        ValueRef::Int(n) => f64::from(n),
        ValueRef::BigInt(n) => n as f64,
        ValueRef::HugeInt(n) => n as f64,
        ValueRef::UHugeInt(n) => n as f64,
        ValueRef::UTinyInt(n) => f64::from(n),
        ValueRef::USmallInt(n) => f64::from(n),
        ValueRef::UInt(n) => f64::from(n),
        ValueRef::UBigInt(n) => n as f64,
        ValueRef::Float(n) => f64::from(n),
        ValueRef::Double(n) => n,
        // Decimal's Display is exact, and every finite decimal parses as a double.
        ValueRef::Decimal(d) => d.to_string().parse().unwrap_or(f64::NAN),
        ValueRef::Text(bytes) => return Cell::Text(String::from_utf8_lossy(bytes).into_owned()),
        other => return Cell::Text(format!("{:?}", other.to_owned())),
    };
    Cell::Number(number)
}

fn poisoned() -> WarehouseError {
    WarehouseError::Query("a DuckDB connection lock was poisoned by a failed query".into())
}

impl From<duckdb::Error> for WarehouseError {
    fn from(error: duckdb::Error) -> Self {
        WarehouseError::Query(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_no_file() {
        let root = Path::new("/project");
        assert_eq!(
            duckdb_path("duckdb://lake/w.duckdb", root),
            Some(PathBuf::from("/project/lake/w.duckdb"))
        );
        assert_eq!(duckdb_path("duckdb://:memory:", root), None);
    }

    #[test]
    fn files_are_read_where_they_are() {
        let files = FileSource {
            path: "/data/it's/*.parquet".into(),
            format: FileFormat::Parquet,
        };
        assert_eq!(
            DuckDbDialect.file_scan(&files).as_deref(),
            Some("read_parquet('/data/it''s/*.parquet', hive_partitioning = true)")
        );
    }
}
