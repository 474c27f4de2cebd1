//! The store's SQL, written once for both databases.
//!
//! Each area of the contract ([`super::api`]) is implemented in a file of its own here, for
//! every [`Backend`]: a store that runs its statements on pools of a database with a
//! [`Dialect`]. The statements are shared text with numbered
//! parameters (`$1`, `$2`…), which sqlx binds by number for SQLite as for Postgres; a
//! [`QueryBuilder`] writes each database's own placeholders. What is not the same is each
//! database's [`Dialect`], kept explicit there: how ids and times are kept (native types in
//! Postgres, text in SQLite), how JSON columns read back, how a writing transaction starts,
//! how names sort by bytes, and how prune locks and lists the runs it deletes.

// What the area files share (`use super::*` there), the names `sql_area!` uses among them.
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::common::*;
use super::*;
use crate::distribution::Profile;
use crate::results::Band;
pub(super) use backend::{Backend, Bind, Dialect, Read, Written};
pub(super) use rows::StoreRow;
use rows::{all, and_where, unkeyed};

/// Implements one area of the contract for every [`Backend`], under the one list of what the
/// shared SQL needs of its database: the Rust types it binds. Rust does not carry bounds on
/// other types from a trait to its users, so the list is written here, once, rather than on
/// each area's impl.
macro_rules! sql_area {
    (impl $area:ident { $($body:tt)* }) => {
        #[async_trait::async_trait]
        impl<S, DB> $area for S
        where
            S: Backend<Db = DB>,
            DB: Dialect,
            DB::Row: StoreRow,
            DB::Arguments: IntoArguments<DB>,
            for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
            for<'a> &'a str: Bind<'a, DB>,
            for<'a> Option<&'a str>: Bind<'a, DB>,
            for<'a> Option<Json<&'a Vec<String>>>: Bind<'a, DB>,
            for<'a> Option<Json<&'a serde_json::Value>>: Bind<'a, DB>,
            for<'a> Option<Json<&'a Band>>: Bind<'a, DB>,
            for<'a> Json<&'a Vec<SnapshotColumn>>: Bind<'a, DB>,
            for<'a> Json<&'a serde_json::Value>: Bind<'a, DB>,
            for<'a> Json<&'a Profile>: Bind<'a, DB>,
            i32: Bind<'static, DB>,
            i64: Bind<'static, DB>,
            f64: Bind<'static, DB>,
            bool: Bind<'static, DB>,
            Option<i64>: Bind<'static, DB>,
            Option<f64>: Bind<'static, DB>,
            Option<DB::Time>: Bind<'static, DB>,
        {
            $($body)*
        }
    };
}
// First: the column lists of its readers are macros the area statements concatenate.
#[macro_use]
mod rows;
mod backend;

mod auth;
mod edges;
mod history;
mod incidents;
mod outbox;
mod runs;
mod upkeep;
