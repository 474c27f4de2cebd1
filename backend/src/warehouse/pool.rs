//! The sqlx pools behind [`super::Warehouse`], one variant per driver. Queries are written
//! once as macros over the three pool types; decoding differs only in which Rust types each
//! driver accepts for numbers.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::types::Decimal;
use sqlx::{AssertSqlSafe, Column, Connection as _, Executor, Row, TypeInfo};

use super::{Cell, Dialect, WarehouseError};
use crate::spec::TableRef;

/// How long connecting may take before the warehouse counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much longer than `query_timeout` the client waits for the warehouse to enforce it.
pub(super) const TIMEOUT_GRACE: Duration = Duration::from_secs(2);

pub enum AnyPool {
    Postgres(PgPool),
    MySql(MySqlPool),
    /// SQLite has no statement timeout of its own: each query gets a deadline (below).
    Sqlite(SqlitePool, Duration),
}

impl From<sqlx::Error> for WarehouseError {
    fn from(error: sqlx::Error) -> Self {
        WarehouseError::Query(match error {
            sqlx::Error::Database(db) => db.message().to_string(),
            other => other.to_string(),
        })
    }
}

/// Runs `$sql` inside a read-only transaction on a Postgres or MySQL pool and binds the
/// resulting rows to `$rows` for `$body`; the transaction is rolled back afterwards (it
/// wrote nothing, and rollback frees the connection soonest).
macro_rules! in_read_only_tx {
    ($pool:expr, $dialect:expr, $sql:expr, |$rows:ident| $body:expr) => {{
        let begin = $dialect.begin_read_only().unwrap_or("BEGIN");
        let mut tx = $pool.begin_with(begin).await?;
        let result = {
            let $rows = sqlx::query(AssertSqlSafe($sql.to_owned())).fetch(&mut *tx);
            $body
        };
        tx.rollback().await?;
        result
    }};
}

/// Reads one number from column 0 of `$row`, trying each Rust type the driver may map the
/// column's SQL type to.
macro_rules! decode_number {
    ($row:expr, $($ty:ty),+) => {{
        let row = $row;
        let mut decoded = None;
        $(
            if decoded.is_none() {
                if let Ok(value) = row.try_get::<Option<$ty>, _>(0) {
                    decoded = Some(value.map(ToDouble::to_double));
                }
            }
        )+
        decoded.ok_or_else(|| {
            WarehouseError::Shape(format!(
                "the query must return a number, not {}",
                row.column(0).type_info().name()
            ))
        })
    }};
}

impl AnyPool {
    pub async fn connect(
        dialect: Dialect,
        url: &str,
        root: &Path,
        max_connections: u32,
        query_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let max_connections = max_connections.max(1);
        Ok(match dialect {
            Dialect::Postgres => {
                let timeout_ms = query_timeout.as_millis().to_string();
                // UTC so timestamps without a zone compare with now() as stored; the
                // server-side timeout stops the query itself, not only our wait for it.
                let options = PgConnectOptions::from_str(url)?
                    .application_name("tidemark")
                    .options([
                        ("TimeZone", "UTC"),
                        ("statement_timeout", timeout_ms.as_str()),
                    ]);
                probe::<sqlx::PgConnection>(&options).await?;
                AnyPool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
            Dialect::MySql => {
                let options = MySqlConnectOptions::from_str(url)?;
                probe::<sqlx::MySqlConnection>(&options).await?;
                let seconds = query_timeout.as_secs_f64();
                AnyPool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .after_connect(move |conn, _| {
                            Box::pin(async move { set_mysql_timeout(conn, seconds).await })
                        })
                        .connect_lazy_with(options),
                )
            }
            Dialect::Sqlite => {
                let path = sqlite_path(url, root);
                if !path.exists() {
                    return Err(sqlx::Error::Configuration(
                        format!("SQLite file {} does not exist", path.display()).into(),
                    ));
                }
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .read_only(true)
                    .with_regexp();
                probe::<sqlx::SqliteConnection>(&options).await?;
                AnyPool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_lazy_with(options),
                    query_timeout,
                )
            }
        })
    }

    /// `(name, data_type, base_type)` of each column, in table order.
    pub async fn table_columns(
        &self,
        dialect: Dialect,
        table: &TableRef,
    ) -> Result<Vec<(String, String, String)>, WarehouseError> {
        let sql = schema_query(dialect, table.schema.is_some());
        let binds = schema_binds(dialect, table);
        macro_rules! columns {
            ($pool:expr) => {{
                let mut query = sqlx::query(sql);
                for bind in &binds {
                    query = query.bind(bind.to_string());
                }
                let rows = query.fetch_all($pool).await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }};
        }
        Ok(match self {
            AnyPool::Postgres(pool) => columns!(pool),
            AnyPool::MySql(pool) => columns!(pool),
            AnyPool::Sqlite(pool, timeout) => {
                let mut conn = sqlite_with_deadline(pool, *timeout).await?;
                columns!(&mut *conn)
            }
        })
    }

    pub async fn fetch_doubles(
        &self,
        dialect: Dialect,
        sql: &str,
    ) -> Result<Vec<Option<f64>>, WarehouseError> {
        macro_rules! doubles {
            ($rows:ident) => {{
                let mut rows = $rows;
                let row = rows.try_next().await?.ok_or_else(|| {
                    WarehouseError::Shape("the aggregate query returned no row".into())
                })?;
                (0..row.len())
                    .map(|i| row.try_get::<Option<f64>, _>(i))
                    .collect::<Result<Vec<_>, _>>()?
            }};
        }
        Ok(match self {
            AnyPool::Postgres(pool) => in_read_only_tx!(pool, dialect, sql, |rows| doubles!(rows)),
            AnyPool::MySql(pool) => in_read_only_tx!(pool, dialect, sql, |rows| doubles!(rows)),
            AnyPool::Sqlite(pool, timeout) => {
                let mut conn = sqlite_with_deadline(pool, *timeout).await?;
                let rows = sqlx::query(AssertSqlSafe(sql.to_owned())).fetch(&mut *conn);
                doubles!(rows)
            }
        })
    }

    /// Runs user SQL (a `sql_metric`) that must return one row with one number, on a
    /// connection of its own: its session is never handed to another query (MySQL and
    /// SQLite keep `SET`s, temp views and locks beyond a transaction; so the connection is
    /// closed afterwards), and when `limit` passes the statement is cancelled on the server
    /// (`pg_cancel_backend`, `KILL QUERY`; SQLite's deadline handler) rather than only
    /// abandoned by the client.
    pub async fn fetch_single_number(
        &self,
        dialect: Dialect,
        sql: &str,
        limit: Duration,
    ) -> Result<Option<f64>, WarehouseError> {
        macro_rules! single {
            ($rows:ident, $($ty:ty),+) => {{
                let mut rows = $rows;
                let first = rows.try_next().await?;
                let second = rows.try_next().await?;
                match (first, second) {
                    (Some(row), None) if row.len() == 1 => decode_number!(&row, $($ty),+),
                    (Some(row), None) => Err(WarehouseError::Shape(format!(
                        "the query must return one column, it returned {}",
                        row.len()
                    ))),
                    (None, _) => Err(WarehouseError::Shape("the query returned no row".into())),
                    (Some(_), Some(_)) => Err(WarehouseError::Shape(
                        "the query must return one row, it returned several".into(),
                    )),
                }
            }};
        }
        let timeout = || WarehouseError::Timeout(limit.saturating_sub(TIMEOUT_GRACE));
        match self {
            AnyPool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut *conn)
                    .await?;
                let run = async {
                    in_read_only_tx!(&mut *conn, dialect, sql, |rows| single!(
                        rows, f64, f32, i64, i32, i16, Decimal
                    ))
                };
                let outcome = tokio::time::timeout(limit, run).await;
                if outcome.is_err() {
                    conn.close_on_drop();
                    let cancel = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid);
                    // Best effort: the server's own statement_timeout is the first guard.
                    let _ = cancel.execute(pool).await;
                }
                outcome.map_err(|_| timeout())?
            }
            AnyPool::MySql(pool) => {
                let mut conn = pool.acquire().await?;
                conn.close_on_drop();
                let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                    .fetch_one(&mut *conn)
                    .await?;
                let run = async {
                    in_read_only_tx!(&mut *conn, dialect, sql, |rows| single!(
                        rows, f64, f32, i64, u64, i32, u32, i16, i8, Decimal
                    ))
                };
                let outcome = tokio::time::timeout(limit, run).await;
                if outcome.is_err() {
                    let kill = format!("KILL QUERY {id}");
                    let _ = pool.execute(AssertSqlSafe(kill)).await;
                }
                outcome.map_err(|_| timeout())?
            }
            AnyPool::Sqlite(pool, timeout_limit) => {
                let mut conn = sqlite_with_deadline(pool, *timeout_limit).await?;
                conn.close_on_drop();
                let run = async {
                    let rows = sqlx::query(AssertSqlSafe(sql.to_owned())).fetch(&mut *conn);
                    single!(rows, i64, f64)
                };
                tokio::time::timeout(limit, run)
                    .await
                    .map_err(|_| timeout())?
            }
        }
    }

    pub async fn fetch_rows(
        &self,
        dialect: Dialect,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        // A number where the driver reads one, else text; NULL of any type is `Null`.
        macro_rules! cell {
            ($row:expr, $i:expr) => {
                match $row.try_get::<Option<f64>, _>($i) {
                    Ok(number) => Ok(number.map_or(Cell::Null, Cell::Number)),
                    Err(_) => $row
                        .try_get::<Option<String>, _>($i)
                        .map(|text| text.map_or(Cell::Null, Cell::Text)),
                }
            };
        }
        macro_rules! rows {
            ($rows:ident) => {{
                let mut rows = $rows;
                let mut table = Vec::new();
                while let Some(row) = rows.try_next().await? {
                    if table.len() == max_rows {
                        return Err(WarehouseError::Shape(format!(
                            "the query returned more than {max_rows} rows"
                        )));
                    }
                    table.push(
                        (0..row.len())
                            .map(|i| cell!(row, i))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                table
            }};
        }
        Ok(match self {
            AnyPool::Postgres(pool) => in_read_only_tx!(pool, dialect, sql, |rows| rows!(rows)),
            AnyPool::MySql(pool) => in_read_only_tx!(pool, dialect, sql, |rows| rows!(rows)),
            AnyPool::Sqlite(pool, timeout) => {
                let mut conn = sqlite_with_deadline(pool, *timeout).await?;
                let rows = sqlx::query(AssertSqlSafe(sql.to_owned())).fetch(&mut *conn);
                rows!(rows)
            }
        })
    }

    /// `(schema, name, definition, default schema)` of every view outside the system
    /// schemas, by schema and name.
    pub async fn views(
        &self,
        dialect: Dialect,
    ) -> Result<Vec<(String, String, String, String)>, WarehouseError> {
        let sql = views_query(dialect);
        macro_rules! views {
            ($rows:ident) => {{
                let rows: Vec<_> = $rows.try_collect().await?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get(0)?,
                            row.try_get(1)?,
                            row.try_get(2)?,
                            row.try_get(3)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }};
        }
        Ok(match self {
            AnyPool::Postgres(pool) => in_read_only_tx!(pool, dialect, sql, |rows| views!(rows)),
            AnyPool::MySql(pool) => in_read_only_tx!(pool, dialect, sql, |rows| views!(rows)),
            AnyPool::Sqlite(pool, timeout) => {
                let mut conn = sqlite_with_deadline(pool, *timeout).await?;
                let rows = sqlx::query(sql).fetch(&mut *conn);
                views!(rows)
            }
        })
    }

    /// Why the account is more privileged than checks need, if it is: a Postgres superuser
    /// (or a member of the roles that write server files and run programs), or a MySQL /
    /// MariaDB account with FILE, SUPER or every privilege. The guard refuses what such an
    /// account could do through user SQL, but it is one layer; the account is the other.
    /// A failed look says nothing (the checks will report the connection).
    pub async fn privilege_warning(&self) -> Option<String> {
        match self {
            AnyPool::Postgres(pool) => {
                // Settings and role checks, not catalog reads: nothing here is schema.
                let powerful: bool = sqlx::query_scalar(
                    "SELECT current_setting('is_superuser') = 'on' \
                     OR pg_has_role('pg_execute_server_program', 'MEMBER') \
                     OR pg_has_role('pg_write_server_files', 'MEMBER')",
                )
                .fetch_one(pool)
                .await
                .ok()?;
                powerful.then(|| {
                    "the account is a superuser (or may write server files and run programs)"
                        .to_owned()
                })
            }
            AnyPool::MySql(pool) => {
                let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS")
                    .fetch_all(pool)
                    .await
                    .ok()?;
                grants
                    .iter()
                    .any(|grant| mysql_grant_is_powerful(grant))
                    .then(|| "the account has the FILE, SUPER or ALL privilege".to_owned())
            }
            AnyPool::Sqlite(..) => None,
        }
    }

    pub async fn close(&self) {
        match self {
            AnyPool::Postgres(pool) => pool.close().await,
            AnyPool::MySql(pool) => pool.close().await,
            AnyPool::Sqlite(pool, _) => pool.close().await,
        }
    }
}

/// Opens and closes one connection, so that an unreachable warehouse is reported at once
/// with the driver's reason ("connection refused"); a pool would retry until its acquire
/// timeout and then only say that it timed out.
pub(crate) async fn probe<C: sqlx::Connection>(
    options: &<C as sqlx::Connection>::Options,
) -> Result<(), sqlx::Error> {
    let connecting = C::connect_with(options);
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            ))
        })??;
    connection.close().await
}

/// How many SQLite VM steps run between two looks at the deadline. Some steps are slow
/// (a blob function over megabytes, a sort), so the look comes often; it costs a clock
/// read per hundred steps.
const SQLITE_STEPS_PER_CHECK: i32 = 100;

/// A pooled SQLite connection whose statements are interrupted once `timeout` has passed:
/// SQLite calls the progress handler every [`SQLITE_STEPS_PER_CHECK`] VM steps, and a
/// `false` answer stops the statement with SQLITE_INTERRUPT. Without it a runaway query
/// would run on in SQLite's worker thread long after Tidemark gave up on it.
async fn sqlite_with_deadline(
    pool: &SqlitePool,
    timeout: Duration,
) -> Result<PoolConnection<Sqlite>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let deadline = Instant::now() + timeout;
    conn.lock_handle()
        .await?
        .set_progress_handler(SQLITE_STEPS_PER_CHECK, move || Instant::now() < deadline);
    Ok(conn)
}

/// The schema query for each warehouse. The table (and schema) are bind parameters:
/// names from YAML never become SQL text here. Postgres reads pg_catalog directly, which is
/// several times faster than information_schema's views.
fn schema_query(dialect: Dialect, with_schema: bool) -> &'static str {
    match (dialect, with_schema) {
        (Dialect::Postgres, true) => {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum"
        }
        (Dialect::Postgres, false) => {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        }
        (Dialect::MySql, true) => {
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
        (Dialect::MySql, false) => {
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
        (Dialect::Sqlite, true) => "SELECT name, type, type FROM pragma_table_info(?1, ?2)",
        (Dialect::Sqlite, false) => "SELECT name, type, type FROM pragma_table_info(?1)",
    }
}

/// The views query for each warehouse. Postgres reads `pg_views` (and materialized views)
/// rather than `information_schema.views`, which hides the definitions of views the
/// connecting role does not own.
fn views_query(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SELECT schemaname::text, viewname::text, definition, \
             COALESCE(current_schema(), 'public')::text FROM pg_catalog.pg_views \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL SELECT schemaname::text, matviewname::text, definition, \
             COALESCE(current_schema(), 'public')::text FROM pg_catalog.pg_matviews \
             ORDER BY 1, 2"
        }
        Dialect::MySql => {
            "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION, COALESCE(DATABASE(), '') \
             FROM information_schema.VIEWS \
             WHERE TABLE_SCHEMA NOT IN ('sys', 'mysql', 'information_schema', 'performance_schema') \
             ORDER BY 1, 2"
        }
        Dialect::Sqlite => {
            "SELECT 'main', name, sql, 'main' FROM sqlite_master WHERE type = 'view' ORDER BY name"
        }
    }
}

/// The bind parameters of [`schema_query`], in order. SQLite's pragma takes the table
/// first, then the schema.
fn schema_binds(dialect: Dialect, table: &TableRef) -> Vec<&str> {
    let mut binds: Vec<&str> = table.schema.iter().map(String::as_str).collect();
    binds.push(&table.table);
    if dialect == Dialect::Sqlite {
        binds.reverse();
    }
    binds
}

/// The schema query as `tidemark explain` shows it: its parameters, then the SQL.
pub fn describe_schema_query(dialect: Dialect, table: &TableRef) -> String {
    let binds: Vec<String> = schema_binds(dialect, table)
        .into_iter()
        .map(|b| dialect.text_literal(b))
        .collect();
    format!(
        "-- parameters: {}\n{}",
        binds.join(", "),
        schema_query(dialect, table.schema.is_some())
    )
}

/// MariaDB calls the server-side timeout `max_statement_time` (seconds), MySQL
/// `max_execution_time` (milliseconds); whichever the server knows is set.
async fn set_mysql_timeout(
    conn: &mut sqlx::MySqlConnection,
    seconds: f64,
) -> Result<(), sqlx::Error> {
    let mariadb = format!("SET SESSION max_statement_time = {seconds}");
    if conn.execute(AssertSqlSafe(mariadb)).await.is_ok() {
        return Ok(());
    }
    let mysql = format!(
        "SET SESSION max_execution_time = {}",
        (seconds * 1000.0) as u64
    );
    conn.execute(AssertSqlSafe(mysql)).await.map(|_| ())
}

/// `sqlite://demo.db`, `sqlite:demo.db` and `sqlite:///abs/demo.db`; relative paths are
/// relative to the project root, so a project runs the same from any directory.
pub fn sqlite_path(url: &str, root: &Path) -> PathBuf {
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

/// Whether one line of `SHOW GRANTS` gives server-wide FILE, SUPER or every privilege.
fn mysql_grant_is_powerful(grant: &str) -> bool {
    let grant = grant.to_ascii_uppercase();
    let Some((privileges, rest)) = grant
        .strip_prefix("GRANT ")
        .and_then(|g| g.split_once(" ON "))
    else {
        return false;
    };
    rest.trim_start().starts_with("*.*")
        && privileges
            .split(',')
            .map(str::trim)
            .any(|privilege| ["ALL", "ALL PRIVILEGES", "FILE", "SUPER"].contains(&privilege))
}

trait ToDouble {
    fn to_double(self) -> f64;
}

macro_rules! to_double_as {
    ($($ty:ty),+) => { $(impl ToDouble for $ty { fn to_double(self) -> f64 { self as f64 } })+ };
}
to_double_as!(f64, f32, i64, u64, i32, u32, i16, i8);

impl ToDouble for Decimal {
    fn to_double(self) -> f64 {
        // Decimal's Display is exact, and every finite decimal parses as a double.
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powerful_mysql_grants_are_told_apart() {
        assert!(mysql_grant_is_powerful(
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"
        ));
        assert!(mysql_grant_is_powerful(
            "GRANT SELECT, FILE ON *.* TO `a`@`%`"
        ));
        assert!(!mysql_grant_is_powerful("GRANT SELECT ON *.* TO `a`@`%`"));
        assert!(!mysql_grant_is_powerful(
            "GRANT ALL PRIVILEGES ON `shop`.* TO `a`@`%`"
        ));
        assert!(!mysql_grant_is_powerful("GRANT USAGE ON *.* TO `a`@`%`"));
    }

    #[test]
    fn sqlite_paths_resolve_against_the_project_root() {
        let root = Path::new("/project");
        assert_eq!(
            sqlite_path("sqlite://demo.db", root),
            Path::new("/project/demo.db")
        );
        assert_eq!(
            sqlite_path("sqlite:data/w.db?mode=ro", root),
            Path::new("/project/data/w.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/w.db", root),
            Path::new("/var/w.db")
        );
    }
}
