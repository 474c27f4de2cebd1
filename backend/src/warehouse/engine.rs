//! The engine seam: what Tidemark asks of a connected warehouse. Each engine module
//! (`postgres`, `mysql`, `sqlite`) implements [`Engine`] and [`super::SqlDialect`] and is
//! listed once in [`super::ENGINES`]; nothing else names an engine. The helpers below are
//! the shared way to run a query over any sqlx driver (generic over the database, as the
//! store's SQL is), so an engine module holds only what is its own: connecting, catalogs,
//! timeouts and how it cancels a query.

use std::time::Duration;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use sqlx::{AssertSqlSafe, Column as _, ColumnIndex, Connection, Database, Decode, Executor};
use sqlx::{Encode, IntoArguments, Row, Type, TypeInfo as _};

use super::{Cell, Dialect, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::TableRef;

/// How long connecting may take before the warehouse counts as unreachable.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An engine's `connect`: the connected engine, or why not (the driver's own words).
pub type Connecting<'a> = BoxFuture<'a, Result<Box<dyn Engine>, sqlx::Error>>;

/// `(name, data_type, base_type)` of one column, as the catalog query returns it.
pub type CatalogColumn = (String, String, String);

/// `(schema, name, definition, default schema)` of one view.
pub type CatalogView = (String, String, String, String);

/// A connected warehouse. Every query is read-only (by the engine's
/// [`super::ReadOnly`] mode) and bounded by the server's own timeout where it has one;
/// [`super::Warehouse`] adds the client's backstop, spans and connection slots.
pub trait Engine: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// The columns of a table in order; empty when there is no such table.
    fn table_columns<'a>(
        &'a self,
        table: &'a TableRef,
    ) -> BoxFuture<'a, Result<Vec<CatalogColumn>, WarehouseError>>;
    /// The planned aggregate: exactly one row of doubles.
    fn fetch_doubles<'a>(
        &'a self,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Option<f64>>, WarehouseError>>;
    /// A small result table (a profile); more than `max_rows` rows is an error.
    fn fetch_rows<'a>(
        &'a self,
        sql: &'a str,
        max_rows: usize,
    ) -> BoxFuture<'a, Result<Vec<Vec<Cell>>, WarehouseError>>;
    /// User SQL (a `sql_metric`, already through the guard) returning one number, on a
    /// connection no other query reuses, cancelled on the server once `limit` passes.
    fn fetch_user_number<'a>(
        &'a self,
        sql: &'a str,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Option<f64>, WarehouseError>>;
    fn views(&self) -> BoxFuture<'_, Result<Vec<CatalogView>, WarehouseError>>;
    /// Why the account can do more than read, if it can (see docs/CHECKS.md).
    fn privilege_warning(&self) -> BoxFuture<'_, Option<String>>;
    fn close(&self) -> BoxFuture<'_, ()>;
}

impl From<sqlx::Error> for WarehouseError {
    fn from(error: sqlx::Error) -> Self {
        WarehouseError::Query(match error {
            sqlx::Error::Database(db) => db.message().to_string(),
            other => other.to_string(),
        })
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

/// Up to `limit + 1` rows of `sql` (one more than allowed tells the caller there were too
/// many, without reading the rest), in a read-only transaction when the dialect reads
/// that way (rolled back: it wrote nothing, and rollback frees soonest).
async fn read_rows<DB>(
    conn: &mut DB::Connection,
    dialect: &dyn SqlDialect,
    sql: &str,
    limit: usize,
) -> Result<Vec<DB::Row>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    match dialect.read_only() {
        ReadOnly::Transaction(begin) => {
            let mut tx = conn.begin_with(AssertSqlSafe(begin.to_owned())).await?;
            let rows = collect::<DB>(&mut tx, sql, limit).await;
            tx.rollback().await?;
            rows
        }
        ReadOnly::Connection | ReadOnly::GuardOnly => collect::<DB>(conn, sql, limit).await,
    }
}

async fn collect<DB>(
    conn: &mut DB::Connection,
    sql: &str,
    limit: usize,
) -> Result<Vec<DB::Row>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut stream = sqlx::query(AssertSqlSafe(sql.to_owned())).fetch(conn);
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await? {
        rows.push(row);
        if rows.len() > limit {
            break;
        }
    }
    Ok(rows)
}

/// The columns of `table` from the dialect's catalog query, its parameters bound, read on
/// `executor` (a pool, or a connection with a deadline).
pub(super) async fn catalog_columns<'e, DB, E>(
    executor: E,
    dialect: &dyn SqlDialect,
    table: &TableRef,
) -> Result<Vec<CatalogColumn>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    E: Executor<'e, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB> + Encode<'r, DB>,
{
    let mut query = sqlx::query::<DB>(dialect.schema_query(table.schema.is_some()));
    for bind in dialect.schema_binds(table) {
        query = query.bind(bind.to_owned());
    }
    let rows = query.fetch_all(executor).await?;
    let columns = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(columns)
}

/// The rows of the dialect's views query, decoded.
fn catalog_views<R>(rows: Vec<R>) -> Result<Vec<CatalogView>, WarehouseError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let views = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(views)
}

/// The planned aggregate's one row of doubles, read on `conn`.
pub(super) async fn aggregate<DB>(
    conn: &mut DB::Connection,
    dialect: &dyn SqlDialect,
    sql: &str,
) -> Result<Vec<Option<f64>>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
{
    doubles(read_rows::<DB>(conn, dialect, sql, 1).await?)
}

/// A profile's rows (at most `max_rows`), read on `conn`.
pub(super) async fn profile<DB>(
    conn: &mut DB::Connection,
    dialect: &dyn SqlDialect,
    sql: &str,
    max_rows: usize,
) -> Result<Vec<Vec<Cell>>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
{
    cells(
        read_rows::<DB>(conn, dialect, sql, max_rows).await?,
        max_rows,
    )
}

/// Every view the dialect's views query lists, read on `conn`.
pub(super) async fn views<DB>(
    conn: &mut DB::Connection,
    dialect: &dyn SqlDialect,
) -> Result<Vec<CatalogView>, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
{
    let rows = read_rows::<DB>(conn, dialect, dialect.views_query(), usize::MAX - 1).await?;
    catalog_views(rows)
}

/// The one row of one column of a `sql_metric`, read on `conn`.
pub(super) async fn user_row<DB>(
    conn: &mut DB::Connection,
    dialect: &dyn SqlDialect,
    sql: &str,
) -> Result<DB::Row, WarehouseError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    single(read_rows::<DB>(conn, dialect, sql, 1).await?)
}

/// The aggregate's one row, every column a double (the planner casts them).
fn doubles<R>(rows: Vec<R>) -> Result<Vec<Option<f64>>, WarehouseError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
{
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| WarehouseError::Shape("the aggregate query returned no row".into()))?;
    Ok((0..row.len())
        .map(|i| row.try_get::<Option<f64>, _>(i))
        .collect::<Result<Vec<_>, _>>()?)
}

/// A profile's rows: a number where the driver reads one, else text; NULL of any type is
/// [`Cell::Null`].
fn cells<R>(rows: Vec<R>, max_rows: usize) -> Result<Vec<Vec<Cell>>, WarehouseError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    if rows.len() > max_rows {
        return Err(WarehouseError::Shape(format!(
            "the query returned more than {max_rows} rows"
        )));
    }
    let cell = |row: &R, i: usize| match row.try_get::<Option<f64>, _>(i) {
        Ok(number) => Ok(number.map_or(Cell::Null, Cell::Number)),
        Err(_) => row
            .try_get::<Option<String>, _>(i)
            .map(|text| text.map_or(Cell::Null, Cell::Text)),
    };
    rows.iter()
        .map(|row| (0..row.len()).map(|i| cell(row, i)).collect())
        .collect::<Result<_, sqlx::Error>>()
        .map_err(WarehouseError::from)
}

/// The one row with one column a `sql_metric` must return.
fn single<R: Row>(rows: Vec<R>) -> Result<R, WarehouseError> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (Some(row), None) if row.len() == 1 => Ok(row),
        (Some(row), None) => Err(WarehouseError::Shape(format!(
            "the query must return one column, it returned {}",
            row.len()
        ))),
        (None, _) => Err(WarehouseError::Shape("the query returned no row".into())),
        (Some(_), Some(_)) => Err(WarehouseError::Shape(
            "the query must return one row, it returned several".into(),
        )),
    }
}

/// The error for a `sql_metric` column that is not a number.
pub(super) fn not_a_number<R: Row>(row: &R) -> WarehouseError
where
    usize: ColumnIndex<R>,
{
    WarehouseError::Shape(format!(
        "the query must return a number, not {}",
        row.column(0usize).type_info().name()
    ))
}

/// Reads column 0 of `$row` as a number, trying each Rust type the driver may map the
/// column's SQL type to (each driver has its own list).
macro_rules! decode_number {
    ($row:expr, $($ty:ty),+) => {{
        let row = $row;
        let mut decoded = None;
        $(
            if decoded.is_none() {
                if let Ok(value) = sqlx::Row::try_get::<Option<$ty>, _>(row, 0) {
                    decoded = Some(value.map(super::engine::ToDouble::to_double));
                }
            }
        )+
        decoded.ok_or_else(|| super::engine::not_a_number(row))
    }};
}
pub(super) use decode_number;

pub(super) trait ToDouble {
    fn to_double(self) -> f64;
}

macro_rules! to_double_as {
    ($($ty:ty),+) => { $(impl ToDouble for $ty { fn to_double(self) -> f64 { self as f64 } })+ };
}
to_double_as!(f64, f32, i64, u64, i32, u32, i16, i8);

impl ToDouble for sqlx::types::Decimal {
    fn to_double(self) -> f64 {
        // Decimal's Display is exact, and every finite decimal parses as a double.
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

/// Runs `work` under `limit`; when it runs over, `cancel` asks the server to stop the
/// statement (the client giving up alone would leave it running there).
pub(super) async fn cancelled_at<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, WarehouseError>>,
    cancel: impl Future<Output = ()>,
) -> Result<T, WarehouseError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => {
            cancel.await;
            Err(WarehouseError::Timeout(limit.saturating_sub(TIMEOUT_GRACE)))
        }
    }
}

/// How much longer than `query_timeout` the client waits for the warehouse to enforce it.
pub(super) const TIMEOUT_GRACE: Duration = Duration::from_secs(2);
