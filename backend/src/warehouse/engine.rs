//! The engine seam: what Tidemark asks of a connected warehouse. Each engine module
//! implements [`Engine`] and [`super::SqlDialect`] and is listed once in
//! [`super::ENGINES`]; nothing else names an engine. The engines over an sqlx pool share
//! one implementation ([`super::pooled`]).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use super::{Cell, Dialect, WarehouseError};
use crate::spec::TableRef;

/// Why an engine could not connect, in the driver's own words.
pub type ConnectFailure = Box<dyn std::error::Error + Send + Sync>;

/// An engine's `connect`: the connected engine, or why not.
pub type Connecting<'a> = BoxFuture<'a, Result<Box<dyn Engine>, ConnectFailure>>;

/// `(name, data_type, base_type)` of one column, as the catalog query returns it.
pub type CatalogColumn = (String, String, String);

/// `(schema, name, definition, default schema)` of one view.
pub type CatalogView = (String, String, String, String);

/// A connected warehouse. Every query is read-only (by the engine's
/// [`super::ReadOnly`] mode) and bounded by the server's own timeout where it has one;
/// [`super::Warehouse`] adds the client's backstop, spans and connection slots.
#[async_trait]
pub trait Engine: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// The columns of a table in order; empty when there is no such table.
    async fn table_columns(&self, table: &TableRef) -> Result<Vec<CatalogColumn>, WarehouseError>;
    /// The planned aggregate: exactly one row of doubles.
    async fn fetch_doubles(&self, sql: &str) -> Result<Vec<Option<f64>>, WarehouseError>;
    /// A small result table (a profile); more than `max_rows` rows is an error.
    async fn fetch_rows(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError>;
    /// User SQL (a `sql_metric`, already through the guard) returning one number, on a
    /// connection no other query reuses, cancelled on the server once `limit` passes.
    async fn fetch_user_number(
        &self,
        sql: &str,
        limit: Duration,
    ) -> Result<Option<f64>, WarehouseError>;
    async fn views(&self) -> Result<Vec<CatalogView>, WarehouseError>;
    /// Why the account can do more than read, if it can (see docs/CHECKS.md).
    async fn privilege_warning(&self) -> Option<String>;
    async fn close(&self);
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

/// The planned aggregate's answer for an engine that reads rows as cells: its one row,
/// every cell a number or NULL.
#[cfg(any(feature = "warehouse-duckdb", feature = "warehouse-spark"))]
pub(super) fn doubles(rows: Vec<Vec<Cell>>) -> Result<Vec<Option<f64>>, WarehouseError> {
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| WarehouseError::Shape("the aggregate query returned no row".into()))?;
    row.into_iter()
        .map(|cell| match cell {
            Cell::Null => Ok(None),
            Cell::Number(n) => Ok(Some(n)),
            Cell::Text(text) => Err(WarehouseError::Shape(format!(
                "the aggregate returned text ({text}) where a number was planned"
            ))),
        })
        .collect()
}

/// A profile's rows, read one past `max_rows`: more than allowed is an error.
#[cfg(any(feature = "warehouse-duckdb", feature = "warehouse-spark"))]
pub(super) fn at_most(
    rows: Vec<Vec<Cell>>,
    max_rows: usize,
) -> Result<Vec<Vec<Cell>>, WarehouseError> {
    if rows.len() > max_rows {
        return Err(WarehouseError::Shape(format!(
            "the query returned more than {max_rows} rows"
        )));
    }
    Ok(rows)
}

/// A user query's answer for an engine that reads rows as cells: one row of one number.
#[cfg(any(feature = "warehouse-duckdb", feature = "warehouse-spark"))]
pub(super) fn one_number(rows: &[Vec<Cell>]) -> Result<Option<f64>, WarehouseError> {
    match rows {
        [row] => match row.as_slice() {
            [Cell::Number(n)] => Ok(Some(*n)),
            [Cell::Null] => Ok(None),
            [Cell::Text(_)] => Err(WarehouseError::Shape(
                "the query must return a number, not text".into(),
            )),
            cells => Err(WarehouseError::Shape(format!(
                "the query must return one column, it returned {}",
                cells.len()
            ))),
        },
        [] => Err(WarehouseError::Shape("the query returned no row".into())),
        _ => Err(WarehouseError::Shape(
            "the query must return one row, it returned several".into(),
        )),
    }
}

/// How much longer than `query_timeout` the client waits for the warehouse to enforce it.
pub(super) const TIMEOUT_GRACE: Duration = Duration::from_secs(2);
