//! Warehouse connections: one engine per configured warehouse, with its dialect. Every
//! query Tidemark sends runs read-only (a read-only transaction on Postgres and MySQL, a
//! read-only connection on SQLite) and under the warehouse's `query_timeout`, enforced by
//! the server where it can and by the client always.
//!
//! | module     | owns                                                              |
//! |------------|-------------------------------------------------------------------|
//! | `engine`   | the seam: [`Engine`], what a connected warehouse answers          |
//! | `pooled`   | the one [`Engine`] of the engines over an sqlx pool, generic over the driver |
//! | `dialect`  | [`SqlDialect`], what a warehouse's SQL looks like; quoting written once |
//! | `cost`     | what queries cost: time, and rows and bytes scanned where the engine says |
//! | `postgres`, `mysql`, `sqlite` | one engine each: its dialect, connecting, catalogs, cancelling |
//! | `duckdb`   | DuckDB (cargo feature `warehouse-duckdb`): database files and files in place |
//! | `spark`    | Spark and Databricks over Spark Connect (cargo feature `warehouse-spark`) |
//!
//! A new engine is one module: a [`SqlDialect`], an [`Engine`] (for an sqlx driver, a
//! `pooled::Native`), a `connect` function, and a line in [`ENGINES`]; then it runs the engine conformance suite
//! (`tests/integration/engines.rs` and the suites it names).

pub mod cost;
mod dialect;
#[cfg(feature = "warehouse-duckdb")]
mod duckdb;
mod engine;
mod mysql;
mod pooled;
mod postgres;
#[cfg(feature = "warehouse-spark")]
mod spark;
mod sqlite;

pub use dialect::{Dialect, Facts, ReadOnly, SqlDialect};
pub use engine::Engine;
pub(crate) use pooled::probe;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::spec::user_sql;
use crate::spec::{Redactor, TableRef, TypeFamily, WarehouseConfig};
use engine::TIMEOUT_GRACE;

/// What an engine's `connect` is given.
#[derive(Clone, Copy)]
pub struct ConnectRequest<'a> {
    pub url: &'a str,
    /// The project root: relative file paths resolve against it.
    pub root: &'a Path,
    pub max_connections: u32,
    pub query_timeout: Duration,
}

/// One engine Tidemark can run checks in.
pub struct EngineKind {
    /// The URL schemes that name it (`postgres`, `postgresql`).
    pub schemes: &'static [&'static str],
    pub dialect: Dialect,
    connect: fn(ConnectRequest<'_>) -> engine::Connecting<'_>,
}

/// Every engine, by the URL schemes that name it: the one list a new engine joins.
pub const ENGINES: &[EngineKind] = &[
    EngineKind {
        schemes: &["postgres", "postgresql"],
        dialect: Dialect::POSTGRES,
        connect: postgres::connect,
    },
    EngineKind {
        schemes: &["mysql", "mariadb"],
        dialect: Dialect::MYSQL,
        connect: mysql::connect,
    },
    EngineKind {
        schemes: &["sqlite"],
        dialect: Dialect::SQLITE,
        connect: sqlite::connect,
    },
    #[cfg(feature = "warehouse-duckdb")]
    EngineKind {
        schemes: &["duckdb"],
        dialect: Dialect::DUCKDB,
        connect: duckdb::connect,
    },
    #[cfg(feature = "warehouse-spark")]
    EngineKind {
        schemes: &["sc"],
        dialect: Dialect::SPARK,
        connect: spark::connect,
    },
];

/// Engines a build may leave out, by `(scheme, engine, cargo feature)`, named so a URL for
/// one gets a reason.
const OPTIONAL_ENGINES: [(&str, &str, &str); 2] = [
    ("duckdb", "DuckDB", "warehouse-duckdb"),
    ("sc", "Spark", "warehouse-spark"),
];

/// The engine a warehouse URL's scheme names.
pub fn engine_of(url: &str) -> Option<&'static EngineKind> {
    let scheme = url.split_once(':')?.0.to_ascii_lowercase();
    ENGINES
        .iter()
        .find(|engine| engine.schemes.contains(&scheme.as_str()))
}

/// The file a file engine's URL names (`sqlite://demo.db`, `sqlite:demo.db`,
/// `sqlite:///abs/demo.db`, `duckdb://lake/w.duckdb`); relative paths are relative to the
/// project root, so a project runs the same from any directory.
pub fn file_path(url: &str, root: &Path) -> PathBuf {
    let rest = url.split_once(':').map_or(url, |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    let path = Path::new(rest);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

/// Why no engine takes `url`: an engine this build left out, or an unknown scheme.
fn unsupported(url: &str) -> String {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match OPTIONAL_ENGINES
        .iter()
        .find(|(optional, _, _)| scheme.eq_ignore_ascii_case(optional))
    {
        Some((_, name, feature)) => format!(
            "this build of Tidemark has no {name} engine: build it with `--features {feature}`"
        ),
        None => "unsupported URL scheme".to_owned(),
    }
}

/// The schema query as `tidemark explain` shows it: its parameters, then the SQL.
pub fn schema_query(dialect: Dialect, table: &TableRef) -> String {
    let describe = dialect.describe(table);
    if describe.binds.is_empty() {
        return describe.sql;
    }
    let binds: Vec<String> = describe
        .binds
        .iter()
        .map(|b| dialect.text_literal(b))
        .collect();
    format!("-- parameters: {}\n{}", binds.join(", "), describe.sql)
}

/// Why a warehouse could not answer. Messages never contain the connection URL.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot connect to warehouse {warehouse}: {reason}")]
    Connect { warehouse: String, reason: String },
    #[error("query failed: {0}")]
    Query(String),
    #[error("query timed out after {}", humanize(*.0))]
    Timeout(Duration),
    #[error("refused by the user-SQL guard: {0}")]
    Refused(String),
    #[error("{0}")]
    Shape(String),
}

/// One value of a small result table ([`Warehouse::fetch_rows`]): numbers are cast to
/// doubles by the planner, labels to text.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Number(f64),
    Text(String),
}

/// A column as the warehouse describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the warehouse prints it (`character varying(20)`, `DATETIME`).
    pub data_type: String,
    /// The base type name (`varchar`, `int4`, MySQL's `tinyint(1)`): exact declarations
    /// may use either spelling.
    pub base_type: String,
    pub family: Option<TypeFamily>,
}

impl Column {
    pub fn has_type_named(&self, name: &str) -> bool {
        let bare = self.data_type.split('(').next().unwrap_or("").trim();
        [self.data_type.as_str(), self.base_type.as_str(), bare]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(name))
    }
}

/// The columns of a table in their declared order; empty when the table does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: Vec<Column>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A view as the warehouse's catalog keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub schema: String,
    pub name: String,
    /// The `SELECT` (Postgres, MySQL) or the whole `CREATE VIEW` (SQLite).
    pub sql: String,
}

impl View {
    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A warehouse's views, with what unqualified names in them refer to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Views {
    pub dialect: Dialect,
    /// The schema (MySQL: database) unqualified names resolve in.
    pub default_schema: String,
    pub views: Vec<View>,
}

pub struct Warehouse {
    pub name: String,
    pub dialect: Dialect,
    engine: Box<dyn Engine>,
    query_timeout: Duration,
    /// Datasets hold a permit for their queries, so a suite never asks for more
    /// connections than `max_connections` and never waits out the pool's acquire timeout.
    slots: Semaphore,
}

impl Warehouse {
    /// Connects eagerly, so an unreachable warehouse is reported once, up front, by name.
    /// Relative SQLite paths resolve against the project root.
    pub async fn connect(
        config: &WarehouseConfig,
        root: &Path,
    ) -> Result<Arc<Self>, WarehouseError> {
        let url = config.url.expose();
        let connect_error = |reason: String| WarehouseError::Connect {
            warehouse: config.name.clone(),
            reason: Redactor::of([url]).text(&reason),
        };
        let kind = engine_of(url).ok_or_else(|| connect_error(unsupported(url)))?;
        let request = ConnectRequest {
            url,
            root,
            max_connections: config.max_connections.max(1),
            query_timeout: config.query_timeout,
        };
        let engine = (kind.connect)(request)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        if kind.dialect.read_only() == ReadOnly::GuardOnly {
            tracing::warn!(
                warehouse = %config.name,
                "{} has no read-only mode: user SQL is held to the user-SQL guard alone",
                kind.dialect.name()
            );
        }
        if let Some(reason) = engine.privilege_warning().await {
            tracing::warn!(
                warehouse = %config.name,
                "{reason}: give Tidemark an account that may only read (see docs/CHECKS.md, \
                 \"User SQL guard\")"
            );
        }
        Ok(Arc::new(Self {
            name: config.name.clone(),
            dialect: kind.dialect,
            engine,
            query_timeout: config.query_timeout,
            slots: Semaphore::new(config.max_connections.max(1) as usize),
        }))
    }

    /// Waits for one of the warehouse's connection slots.
    pub async fn slot(&self) -> SemaphorePermit<'_> {
        // The semaphore is never closed, so acquiring cannot fail.
        self.slots
            .acquire()
            .await
            .expect("warehouse semaphore is never closed")
    }

    #[tracing::instrument(
        name = "tidemark.warehouse_query",
        skip_all,
        fields(
            query = "schema",
            warehouse = %self.name,
            db.system = self.dialect.name(),
            otel.kind = "client",
        )
    )]
    pub async fn table_schema(&self, table: &TableRef) -> Result<TableSchema, WarehouseError> {
        let rows = self.timed(self.engine.table_columns(table)).await?;
        let columns = rows
            .into_iter()
            .map(|(name, data_type, base_type)| Column {
                family: self.dialect.family(&data_type, &base_type),
                name,
                data_type,
                base_type,
            })
            .collect();
        Ok(TableSchema { columns })
    }

    /// Runs an aggregate query that returns exactly one row of numbers (every column cast
    /// to a double by the planner).
    #[tracing::instrument(
        name = "tidemark.warehouse_query",
        skip_all,
        fields(
            query = "metrics",
            warehouse = %self.name,
            db.system = self.dialect.name(),
            db.query.text = sql,
            otel.kind = "client",
        )
    )]
    pub async fn fetch_metrics(&self, sql: &str) -> Result<Vec<Option<f64>>, WarehouseError> {
        self.timed(self.engine.fetch_doubles(sql)).await
    }

    /// Runs user SQL that must return one row with one numeric column.
    #[tracing::instrument(
        name = "tidemark.warehouse_query",
        skip_all,
        fields(
            query = "sql_metric",
            warehouse = %self.name,
            db.system = self.dialect.name(),
            db.query.text = sql,
            otel.kind = "client",
        )
    )]
    pub async fn fetch_number(&self, sql: &str) -> Result<Option<f64>, WarehouseError> {
        // Validation refused unsafe SQL already; checked again here, where it runs, so no
        // other way in (a project built in code, a future caller) skips the guard.
        user_sql::check_query(self.dialect.grammar(), sql)
            .map_err(|refusal| WarehouseError::Refused(refusal.to_string()))?;
        let limit = self.query_timeout + TIMEOUT_GRACE;
        let started = std::time::Instant::now();
        let answer = self.engine.fetch_user_number(sql, limit).await;
        cost::record_time(started.elapsed());
        answer.map_err(|e| self.timeout_or(e))
    }

    /// Runs a query that returns a few rows (a distribution profile); more than `max_rows`
    /// is an error, so a planning mistake can never pull a table into memory.
    #[tracing::instrument(
        name = "tidemark.warehouse_query",
        skip_all,
        fields(
            query = "profile",
            warehouse = %self.name,
            db.system = self.dialect.name(),
            db.query.text = sql,
            otel.kind = "client",
        )
    )]
    pub async fn fetch_rows(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        self.timed(self.engine.fetch_rows(sql, max_rows)).await
    }

    /// Every view's definition, as the warehouse's catalog keeps it.
    #[tracing::instrument(
        name = "tidemark.warehouse_query",
        skip_all,
        fields(
            query = "views",
            warehouse = %self.name,
            db.system = self.dialect.name(),
            otel.kind = "client",
        )
    )]
    pub async fn views(&self) -> Result<Views, WarehouseError> {
        let rows = self.timed(self.engine.views()).await?;
        let default_schema = rows.first().map(|row| row.3.clone()).unwrap_or_default();
        let views = rows
            .into_iter()
            .map(|(schema, name, sql, _)| View { schema, name, sql })
            .collect();
        Ok(Views {
            dialect: self.dialect,
            default_schema,
            views,
        })
    }

    pub async fn close(&self) {
        self.engine.close().await;
    }

    /// Bounds a query by `query_timeout`. The warehouse enforces the timeout itself
    /// (Postgres' statement_timeout, MySQL's max_statement_time, an interrupt on SQLite);
    /// the client waits a little longer, so that the statement is cancelled where it runs
    /// and the connection stays usable, whereas a query abandoned mid-flight leaves a
    /// connection the pool can only discard. The client's limit is the backstop for a
    /// server or network that stops answering.
    async fn timed<T>(
        &self,
        query: impl Future<Output = Result<T, WarehouseError>>,
    ) -> Result<T, WarehouseError> {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(self.query_timeout + TIMEOUT_GRACE, query).await;
        cost::record_time(started.elapsed());
        match answer {
            Ok(result) => result.map_err(|e| self.timeout_or(e)),
            Err(_) => Err(WarehouseError::Timeout(self.query_timeout)),
        }
    }

    /// Server-side cancellations read like a client-side timeout: same cause, one wording.
    fn timeout_or(&self, error: WarehouseError) -> WarehouseError {
        match &error {
            WarehouseError::Query(message) if is_server_timeout(message) => {
                WarehouseError::Timeout(self.query_timeout)
            }
            _ => error,
        }
    }
}

/// Postgres: "canceling statement due to statement timeout"; MariaDB: "Query execution was
/// interrupted (max_statement_time exceeded)"; MySQL: "maximum statement execution time
/// exceeded"; SQLite, whose only interrupter is our deadline: "interrupted".
fn is_server_timeout(message: &str) -> bool {
    message == "interrupted"
        || [
            "statement timeout",
            "max_statement_time exceeded",
            "maximum statement execution time",
        ]
        .iter()
        .any(|needle| message.contains(needle))
}

/// `90s` → "1m30s": durations read back the way users write them.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_yaml() {
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(7200)), "2h");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn file_paths_resolve_against_the_project_root() {
        let root = Path::new("/project");
        assert_eq!(
            file_path("sqlite://demo.db", root),
            Path::new("/project/demo.db")
        );
        assert_eq!(
            file_path("sqlite:data/w.db?mode=ro", root),
            Path::new("/project/data/w.db")
        );
        assert_eq!(
            file_path("duckdb:///var/w.duckdb", root),
            Path::new("/var/w.duckdb")
        );
    }

    #[test]
    fn exact_types_match_any_spelling() {
        let column = Column {
            name: "a".into(),
            data_type: "character varying(20)".into(),
            base_type: "varchar".into(),
            family: Some(TypeFamily::Text),
        };
        assert!(column.has_type_named("VARCHAR"));
        assert!(column.has_type_named("character varying"));
        assert!(!column.has_type_named("text"));
    }
}
