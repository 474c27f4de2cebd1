//! SQLite files: opened read-only, every statement under a deadline that SQLite's progress
//! handler checks between VM steps (SQLite has no statement timeout of its own), and a
//! connection that ran user SQL closed afterwards (temp views and pragmas are per
//! connection).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite as SqliteDb, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::engine::{Connecting, Engine, cancelled_at};
use super::pooled::{CONNECT_TIMEOUT, Native, Pooled, decode_number, probe, user_row};
use super::{ConnectRequest, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::user_sql::Grammar;
use crate::spec::{Grain, TableRef, TypeFamily};

pub struct SqliteDialect;

const FACTS: Facts = Facts {
    name: "sqlite",
    grammar: Grammar::Sqlite,
    quote: '"',
    backslash_escapes: false,
    escaped_string_prefix: "",
    quote_in_text: "''",
    bools: ("1", "0"),
    double_type: "REAL",
    text_type: "TEXT",
    read_only: ReadOnly::Connection,
    scanned_rows: None,
};

impl SqlDialect for SqliteDialect {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    /// No STDDEV_SAMP: the engine derives it from count, sum and sum of squares.
    fn stddev_samp(&self, _expr: &str) -> Option<String> {
        None
    }
    /// Parsed instants, not text, so ISO-8601 values with different zone suffixes order
    /// correctly.
    fn freshness_seconds(&self, column: &str) -> String {
        format!("(julianday('now') - MAX(julianday({column}))) * 86400.0")
    }
    /// Timestamps are ISO-8601 text, which strftime() parses whatever their zone suffix.
    fn bucket(&self, column: &str, grain: Grain) -> String {
        let format = match grain {
            Grain::Hour => "%Y-%m-%dT%H:00:00",
            Grain::Day => "%Y-%m-%dT00:00:00",
        };
        format!("strftime('{format}', {column})")
    }
    /// Compared as instants: ISO-8601 text with other separators or zone suffixes does not
    /// order as text (SQLite has no index on the expression, so this scans).
    fn range(
        &self,
        column: &str,
        (from, until): (DateTime<Utc>, DateTime<Utc>),
        _family: Option<TypeFamily>,
    ) -> String {
        let (from, until) = (
            from.format("%Y-%m-%d %H:%M:%S"),
            until.format("%Y-%m-%d %H:%M:%S"),
        );
        format!(
            "julianday({column}) >= julianday('{from}') AND julianday({column}) < julianday('{until}')"
        )
    }
    /// quote() renders each value as an SQL literal, so the concatenation is unambiguous:
    /// no two different tuples give the same string.
    fn count_distinct_tuples(&self, columns: &[String], when: &str) -> String {
        let parts: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
        format!(
            "COUNT(DISTINCT CASE WHEN {when} THEN {} END)",
            parts.join(" || ',' || ")
        )
    }
    fn family(&self, data_type: &str, _full_type: &str) -> Option<TypeFamily> {
        affinity_family(&data_type.to_ascii_lowercase())
    }
    fn schema_query(&self, with_schema: bool) -> Option<&'static str> {
        Some(if with_schema {
            "SELECT name, type, type FROM pragma_table_info(?1, ?2)"
        } else {
            "SELECT name, type, type FROM pragma_table_info(?1)"
        })
    }
    /// The pragma takes the table first, then the schema.
    fn schema_binds<'t>(&self, table: &'t TableRef) -> Vec<&'t str> {
        let mut binds = vec![table.table.as_str()];
        binds.extend(table.schema.as_deref());
        binds
    }
    fn views_query(&self) -> Option<&'static str> {
        Some(
            "SELECT 'main', name, sql, 'main' FROM sqlite_master WHERE type = 'view' ORDER BY name",
        )
    }
}

pub struct Sqlite {
    pool: SqlitePool,
    query_timeout: Duration,
}

/// Opens the file read-only; it must exist (a typo must not create an empty warehouse).
pub fn connect(request: ConnectRequest<'_>) -> Connecting<'_> {
    async move {
        let path = super::file_path(request.url, request.root);
        if !path.exists() {
            return Err(format!("SQLite file {} does not exist", path.display()).into());
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .with_regexp();
        probe::<sqlx::SqliteConnection>(&options).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(request.max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        let engine = Sqlite {
            pool,
            query_timeout: request.query_timeout,
        };
        Ok(Box::new(Pooled(engine)) as Box<dyn Engine>)
    }
    .boxed()
}

/// How many SQLite VM steps run between two looks at the deadline. Some steps are slow
/// (a blob function over megabytes, a sort), so the look comes often; it costs a clock
/// read per hundred steps.
const STEPS_PER_CHECK: i32 = 100;

#[async_trait]
impl Native for Sqlite {
    type Db = SqliteDb;
    const DIALECT: Dialect = Dialect::SQLITE;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A pooled connection whose statements are interrupted once the query timeout has
    /// passed: SQLite calls the progress handler every [`STEPS_PER_CHECK`] VM steps, and a
    /// `false` answer stops the statement with SQLITE_INTERRUPT. Without it a runaway query
    /// would run on in SQLite's worker thread long after Tidemark gave up on it.
    async fn connection(&self) -> Result<PoolConnection<SqliteDb>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let deadline = Instant::now() + self.query_timeout;
        conn.lock_handle()
            .await?
            .set_progress_handler(STEPS_PER_CHECK, move || Instant::now() < deadline);
        Ok(conn)
    }

    async fn user_number(&self, sql: &str, limit: Duration) -> Result<Option<f64>, WarehouseError> {
        let mut conn = self.connection().await?;
        conn.close_on_drop();
        let run = async {
            let row = user_row::<SqliteDb>(&mut conn, &FACTS, sql).await?;
            decode_number!(&row, i64, f64)
        };
        // The deadline handler stops the statement itself; nothing to send.
        cancelled_at(limit, run, async {}).await
    }

    /// A file has no accounts: what the process may read, the checks may read.
    async fn privilege_warning(&self) -> Option<String> {
        None
    }
}

/// SQLite types are free text; follow its affinity rules (section 3.1 of "Datatypes In
/// SQLite"), refined for the names people write for dates, booleans and JSON.
fn affinity_family(t: &str) -> Option<TypeFamily> {
    let base = t.split('(').next().unwrap_or(t).trim();
    let family = match base {
        "date" => TypeFamily::Date,
        "datetime" | "timestamp" => TypeFamily::Timestamp,
        "boolean" | "bool" => TypeFamily::Boolean,
        "json" => TypeFamily::Json,
        "decimal" | "numeric" => TypeFamily::Decimal,
        _ if t.contains("int") => TypeFamily::Integer,
        _ if t.contains("char") || t.contains("clob") || t.contains("text") => TypeFamily::Text,
        _ if t.contains("blob") => TypeFamily::Binary,
        _ if t.contains("real") || t.contains("floa") || t.contains("doub") => TypeFamily::Float,
        _ => return None,
    };
    Some(family)
}
