//! The Postgres store: production, shared by any number of replicas, which coordinate only
//! through it. A scheduled slot is claimed by a unique index (not a lock held for the run);
//! a run stays alive by renewing a lease timestamp.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::common::*;
use super::sql::{Backend, Dialect};
use super::*;

/// The Postgres migrations (`migrations/postgres`), embedded in the binary.
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per replica: the scheduler's writes and the API's reads are short.
const MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (one connection up front, so a wrong URL or a down server shows now). Errors
    /// never contain the URL or its password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(redact(&e.to_string(), url)))?
            .application_name("tidemark-store")
            // Sessions in UTC: timestamptz values print and truncate the same everywhere.
            .options([("TimeZone", "UTC")]);
        // One direct connection first: a store that is down is reported at once with the
        // driver's reason, where a pool would retry until its acquire timeout.
        crate::warehouse::probe::<sqlx::PgConnection>(&options)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Unavailable(m) | StoreError::Query(m) => {
                    StoreError::Unavailable(redact(&m, url))
                }
                other => other,
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgStore { pool })
    }
}

impl Backend for PgStore {
    type Db = Postgres;

    /// One pool: the server orders the writes of every replica.
    fn reader(&self) -> &PgPool {
        &self.pool
    }
}

/// Postgres keeps uuids, times (`timestamptz`) and JSON (`jsonb`) natively.
impl Dialect for Postgres {
    type Id = Uuid;
    type Time = DateTime<Utc>;
    type IdList = Vec<Uuid>;
    type Numbers = Vec<i64>;
    type Texts = Vec<String>;

    // Text columns sort by the database's collation unless told otherwise; SQLite sorts by
    // bytes, and both stores list in the same order.
    const BYTE_ORDER: &'static str = r#" COLLATE "C""#;
    const IN_ID_LIST: &'static str = "= ANY($1)";
    // A plain join (or `id IN (SELECT result_id …)`) is planned as a hash join over a scan
    // of every stored result: 240 ms at 1M results, against 18 ms for one index probe per
    // pointer, which the LATERAL subquery (kept apart from the join by OFFSET 0) forces.
    const LATEST_RESULTS: &'static str = "(SELECT result_id FROM latest_results) latest \
         CROSS JOIN LATERAL (SELECT * FROM check_results WHERE id = latest.result_id OFFSET 0) r";
    // Locked so that a late finish_run cannot write into a run being deleted; SKIP LOCKED
    // lets two replicas prune side by side.
    const LOCK_RUNS_TO_PRUNE: &'static str = " FOR UPDATE SKIP LOCKED";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    fn id(id: Uuid) -> Uuid {
        id
    }

    fn time(time: DateTime<Utc>) -> DateTime<Utc> {
        time
    }

    fn id_list(ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        Ok(ids.to_vec())
    }

    fn numbers(values: &[i64]) -> Result<Vec<i64>, StoreError> {
        Ok(values.to_vec())
    }

    fn texts(values: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(values.to_vec())
    }

    fn uuid_of(id: Uuid) -> Result<Uuid, StoreError> {
        Ok(id)
    }

    fn time_of(time: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        Ok(time)
    }

    fn json<T: DeserializeOwned>(row: &PgRow, column: &str) -> Result<Option<T>, StoreError> {
        Ok(row.try_get::<Option<Json<T>>, _>(column)?.map(|j| j.0))
    }

    async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        // sqlx takes an advisory lock: replicas starting together migrate one at a time.
        PG_MIGRATOR.run(pool).await.map_err(migrate_error)
    }

    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }
}
