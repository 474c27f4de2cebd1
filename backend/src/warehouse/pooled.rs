//! The engines over an sqlx pool (Postgres, MySQL/MariaDB, SQLite) share everything but
//! what is their own: [`Pooled`] is the one [`Engine`] for them all, and each module
//! implements [`Native`] (its pool, how it hands out a connection, how it runs user SQL
//! and cancels it, who it connects as). The sqlx bounds the shared code needs are listed
//! once, on the blanket implementation of [`Driver`]; only its row reader, `collect`, a
//! free function it calls for a connection and for a transaction alike, repeats the
//! three of them it uses.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Column as _, ColumnIndex, Connection, Database, Decode, Executor};
use sqlx::{Encode, IntoArguments, Pool, Row, Type, TypeInfo as _};

use super::engine::{CatalogColumn, CatalogView, Engine};
use super::{Cell, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::TableRef;

/// How long connecting may take before the warehouse counts as unreachable.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one sqlx engine adds to the shared code.
#[async_trait]
pub(super) trait Native: Send + Sync + 'static {
    type Db: Driver;
    const DIALECT: Dialect;
    fn pool(&self) -> &Pool<Self::Db>;
    /// A connection for one query (SQLite arms a deadline on it).
    async fn connection(&self) -> Result<PoolConnection<Self::Db>, sqlx::Error> {
        self.pool().acquire().await
    }
    /// User SQL (a `sql_metric`, already through the guard) returning one number, on a
    /// connection no other query reuses, cancelled on the server once `limit` passes.
    async fn user_number(&self, sql: &str, limit: Duration) -> Result<Option<f64>, WarehouseError>;
    /// Why the account can do more than read, if it can.
    async fn privilege_warning(&self) -> Option<String>;
}

/// An sqlx engine as the seam sees it.
pub(super) struct Pooled<N>(pub N);

#[async_trait]
impl<N: Native> Engine for Pooled<N> {
    fn dialect(&self) -> Dialect {
        N::DIALECT
    }

    async fn table_columns(&self, table: &TableRef) -> Result<Vec<CatalogColumn>, WarehouseError> {
        let mut conn = self.0.connection().await?;
        N::Db::catalog_columns(&mut conn, &*N::DIALECT, table).await
    }

    async fn fetch_doubles(&self, sql: &str) -> Result<Vec<Option<f64>>, WarehouseError> {
        let mut conn = self.0.connection().await?;
        N::Db::doubles(N::Db::read(&mut conn, N::DIALECT.facts(), sql, 1).await?)
    }

    async fn fetch_rows(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        let mut conn = self.0.connection().await?;
        let rows = N::Db::read(&mut conn, N::DIALECT.facts(), sql, max_rows).await?;
        N::Db::cells(rows, max_rows)
    }

    async fn fetch_user_number(
        &self,
        sql: &str,
        limit: Duration,
    ) -> Result<Option<f64>, WarehouseError> {
        self.0.user_number(sql, limit).await
    }

    async fn views(&self) -> Result<Vec<CatalogView>, WarehouseError> {
        let Some(query) = N::DIALECT.views_query() else {
            return Ok(Vec::new());
        };
        let mut conn = self.0.connection().await?;
        let facts = N::DIALECT.facts();
        N::Db::catalog_views(N::Db::read(&mut conn, facts, query, usize::MAX - 1).await?)
    }

    async fn privilege_warning(&self) -> Option<String> {
        self.0.privilege_warning().await
    }

    async fn close(&self) {
        self.0.pool().close().await;
    }
}

/// The shared code over one sqlx driver. Only [`Driver`]'s blanket implementation names
/// sqlx's bounds, so code generic over `DB: Driver` needs no other.
pub(super) trait Driver: Database {
    /// Up to `limit + 1` rows of `sql` (one more than allowed tells the caller there were
    /// too many, without reading the rest), in a read-only transaction when the engine
    /// reads that way (rolled back: it wrote nothing, and rollback frees soonest), with the
    /// rows it scanned recorded where the engine tells them.
    fn read<'c>(
        conn: &'c mut Self::Connection,
        facts: &'static Facts,
        sql: &'c str,
        limit: usize,
    ) -> BoxFuture<'c, Result<Vec<Self::Row>, WarehouseError>>;
    /// The columns of `table` from the dialect's catalog query, its parameters bound.
    fn catalog_columns<'c>(
        conn: &'c mut Self::Connection,
        dialect: &'c dyn SqlDialect,
        table: &'c TableRef,
    ) -> BoxFuture<'c, Result<Vec<CatalogColumn>, WarehouseError>>;
    /// The aggregate's one row, every column a double (the planner casts them).
    fn doubles(rows: Vec<Self::Row>) -> Result<Vec<Option<f64>>, WarehouseError>;
    /// A profile's rows: a number where the driver reads one, else text; NULL of any type
    /// is [`Cell::Null`].
    fn cells(rows: Vec<Self::Row>, max_rows: usize) -> Result<Vec<Vec<Cell>>, WarehouseError>;
    /// The rows of the dialect's views query, decoded.
    fn catalog_views(rows: Vec<Self::Row>) -> Result<Vec<CatalogView>, WarehouseError>;
}

impl<DB> Driver for DB
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB> + Encode<'r, DB>,
{
    fn read<'c>(
        conn: &'c mut DB::Connection,
        facts: &'static Facts,
        sql: &'c str,
        limit: usize,
    ) -> BoxFuture<'c, Result<Vec<DB::Row>, WarehouseError>> {
        Box::pin(async move {
            match facts.read_only {
                ReadOnly::Transaction(begin) => {
                    let mut tx = conn.begin_with(AssertSqlSafe(begin.to_owned())).await?;
                    let rows = collect::<DB>(&mut tx, sql, limit).await;
                    if let (Ok(_), Some(scanned)) = (&rows, facts.scanned_rows) {
                        record_scanned_rows::<DB>(&mut *tx, scanned).await;
                    }
                    tx.rollback().await?;
                    rows
                }
                ReadOnly::Connection | ReadOnly::GuardOnly => collect::<DB>(conn, sql, limit).await,
            }
        })
    }

    fn catalog_columns<'c>(
        conn: &'c mut DB::Connection,
        dialect: &'c dyn SqlDialect,
        table: &'c TableRef,
    ) -> BoxFuture<'c, Result<Vec<CatalogColumn>, WarehouseError>> {
        Box::pin(async move {
            let describe = dialect.describe(table);
            let mut query = sqlx::query::<DB>(AssertSqlSafe(describe.sql));
            for bind in describe.binds {
                query = query.bind(bind);
            }
            let rows = query.fetch_all(conn).await?;
            let columns = rows
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok(columns)
        })
    }

    fn doubles(rows: Vec<DB::Row>) -> Result<Vec<Option<f64>>, WarehouseError> {
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| WarehouseError::Shape("the aggregate query returned no row".into()))?;
        Ok((0..row.len())
            .map(|i| row.try_get::<Option<f64>, _>(i))
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn cells(rows: Vec<DB::Row>, max_rows: usize) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        if rows.len() > max_rows {
            return Err(WarehouseError::Shape(format!(
                "the query returned more than {max_rows} rows"
            )));
        }
        let cell = |row: &DB::Row, i: usize| match row.try_get::<Option<f64>, _>(i) {
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

    fn catalog_views(rows: Vec<DB::Row>) -> Result<Vec<CatalogView>, WarehouseError> {
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
}

async fn collect<DB>(
    conn: &mut DB::Connection,
    sql: &str,
    limit: usize,
) -> Result<Vec<DB::Row>, WarehouseError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
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

/// Records what the transaction's scans read. Best effort: the count is a report on the
/// query, whose answer stands without it.
async fn record_scanned_rows<DB>(conn: &mut DB::Connection, scanned: &'static str)
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
{
    let Ok(rows) = collect::<DB>(conn, scanned, 0).await else {
        return;
    };
    if let Some(Ok(read)) = rows.first().map(|row| row.try_get::<f64, _>(0)) {
        super::cost::record_scan(Some(read.max(0.0) as u64), None);
    }
}

/// The one row of one column of a `sql_metric`, read on `conn` as the engine reads.
pub(super) async fn user_row<DB: Driver>(
    conn: &mut DB::Connection,
    facts: &'static Facts,
    sql: &str,
) -> Result<DB::Row, WarehouseError> {
    let mut rows = DB::read(conn, facts, sql, 1).await?.into_iter();
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
                    decoded = Some(value.map(super::pooled::ToDouble::to_double));
                }
            }
        )+
        decoded.ok_or_else(|| super::pooled::not_a_number(row))
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
