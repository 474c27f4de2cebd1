//! What the shared SQL needs of a database: the Rust types it binds and reads, and what
//! differs between Postgres and SQLite under the same statements ([`Dialect`]).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Database, Decode, Encode, Pool, Transaction, Type};
use uuid::Uuid;

use super::super::StoreError;

// The shared code is generic over the database, so it must say which Rust types the database
// binds and reads (every sqlx driver has them all). It says so once for writing, on the
// `StoreApi` impl at the end, and once for reading, on `StoreRow`'s; `Bind` and `Read` only
// shorten those lists.

/// A value the database binds as it is.
pub(in crate::store) trait Bind<'q, DB: Database>:
    Encode<'q, DB> + Type<DB>
{
}
impl<'q, DB: Database, T: Encode<'q, DB> + Type<DB>> Bind<'q, DB> for T {}

/// A value the database reads as it is.
pub(in crate::store) trait Read<DB: Database>:
    for<'r> Decode<'r, DB> + Type<DB>
{
}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Read<DB> for T {}

/// What a statement that writes says it did (each driver has it as its own method).
pub(in crate::store) trait Written {
    fn rows_affected(&self) -> u64;
}

impl Written for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        PgQueryResult::rows_affected(self)
    }
}

impl Written for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

/// What differs between the databases under the shared SQL.
pub(in crate::store) trait Dialect: Database<QueryResult: Written> {
    /// A uuid as the database keeps it.
    type Id: for<'q> Bind<'q, Self> + Read<Self> + Send + Sync + 'static;
    /// A time as the database keeps it: UTC, to the microsecond.
    type Time: for<'q> Bind<'q, Self> + Read<Self> + Send + Sync + 'static;
    /// Run ids bound as one parameter, for [`Dialect::IN_ID_LIST`].
    type IdList: for<'q> Bind<'q, Self> + Send + Sync;
    /// Numbers bound as one parameter, for [`Dialect::IN_ID_LIST`].
    type Numbers: for<'q> Bind<'q, Self> + Send + Sync;
    /// Texts bound as one parameter, for [`Dialect::IN_ID_LIST`].
    type Texts: for<'q> Bind<'q, Self> + Send + Sync;

    /// Appended to a text column in `ORDER BY`: sorts it by bytes.
    const BYTE_ORDER: &'static str;
    /// Appended to a column: it is one of the values of the list ([`Dialect::IdList`],
    /// [`Dialect::Numbers`], [`Dialect::Texts`]) bound as `$1`.
    const IN_ID_LIST: &'static str;
    /// The latest result of every check: `latest_results` joined to `check_results` by
    /// primary key, as a `FROM` clause whose only columns are the results'.
    const LATEST_RESULTS: &'static str;
    /// Appended to the query that selects the runs a prune transaction deletes.
    const LOCK_RUNS_TO_PRUNE: &'static str;
    /// Appended to the query that picks the notifications a worker claims: rows another
    /// worker is claiming at the same moment are skipped, not waited for.
    const SKIP_LOCKED: &'static str;

    fn id(id: Uuid) -> Self::Id;
    fn time(time: DateTime<Utc>) -> Self::Time;
    /// Ids as one parameter.
    fn id_list(ids: &[Uuid]) -> Result<Self::IdList, StoreError>;
    fn numbers(values: &[i64]) -> Result<Self::Numbers, StoreError>;
    fn texts(values: &[String]) -> Result<Self::Texts, StoreError>;

    fn uuid_of(id: Self::Id) -> Result<Uuid, StoreError>;
    fn time_of(time: Self::Time) -> Result<DateTime<Utc>, StoreError>;
    /// A nullable JSON column.
    fn json<T: DeserializeOwned>(row: &Self::Row, column: &str) -> Result<Option<T>, StoreError>;

    /// Applies pending migrations.
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Begins a transaction that writes.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

/// A store on one database: the pools its statements run on.
pub(in crate::store) trait Backend: Send + Sync {
    type Db: Dialect;

    /// Where reads run.
    fn reader(&self) -> &Pool<Self::Db>;

    /// Where writes run: the readers' pool, unless the store keeps writes apart.
    fn writer(&self) -> &Pool<Self::Db> {
        self.reader()
    }
}
