//! The results store: runs, check results, metric series, schema snapshots and distribution
//! profiles, kept so that drift and anomalies can be judged against history and the server
//! can show it.
//!
//! One contract ([`StoreApi`]: one trait per area, in `api.rs`), two implementations:
//! Postgres for production (many replicas share it, and coordinate only through it) and
//! SQLite, the embedded default under `.tidemark/`; their SQL is written once, an area per
//! file under `sql/`. [`Store::open`] picks one from the URL scheme. Both run the same
//! contract tests (`tests/integration/store_contract/`). Incidents and the notification outbox
//! are kept here too (see [`incidents`]), so that an incident change and its notifications
//! are written in one transaction.

/// The text each enum is stored and shown as, and back. Defined before the modules, so
/// that they use it too.
macro_rules! spelled {
    ($type:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($type::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

mod api;
mod common;
mod incidents;
mod postgres;
mod sql;
mod sqlite;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use uuid::Uuid;

use crate::lineage::Edge;
use crate::results::{
    BucketPoint, CheckResult, Feedback, MetricPoint, NewProfile, Outcome, ProfileQuery,
    SnapshotColumn, StoredProfile, Summary,
};
pub use crate::spec::Retention;
use crate::warehouse::cost::Cost;

pub use api::*;
pub use incidents::*;
pub use postgres::{PG_MIGRATOR, PgStore};
pub use sqlite::{SQLITE_MIGRATOR, SqliteStore};

/// Where the embedded store lives, relative to the project root, when no URL is given.
pub const DEFAULT_SQLITE_PATH: &str = ".tidemark/store.db";

/// The error [`Runs::expire_leases`] gives the runs it abandons.
pub const LEASE_EXPIRED: &str =
    "lease expired: the replica running it stopped renewing it (crashed, killed or cut off)";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL: use sqlite:… or postgres://…")]
    UnsupportedUrl,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("migrating the store failed: {0}")]
    Migrate(String),
    #[error("store query failed: {0}")]
    Query(String),
    #[error("not found")]
    NotFound,
    /// A write lost a race: what it was computed from changed meanwhile.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `tidemark run`, on a laptop or in CI.
    Cli,
    /// A cron slot of `tidemark serve`.
    Schedule,
    /// "Run this dataset now" through the API.
    Manual,
    /// A scheduled run again, after the warehouse let it down: it carries the slot it
    /// retries, but never claims it (the failed run did).
    Retry,
}

spelled!(Trigger {
    Cli => "cli",
    Schedule => "schedule",
    Manual => "manual",
    Retry => "retry",
});

/// A run going on some replica, as [`Runs::running`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub dataset: String,
    /// The slot of a scheduled run.
    pub slot: Option<DateTime<Utc>>,
    /// Which process runs it.
    pub replica: String,
}

/// A run's own state, apart from what its checks found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Claimed and being worked on; its lease must be renewed by heartbeats.
    Running,
    /// Every check was evaluated (whatever the outcomes).
    Completed,
    /// The run itself could not complete (the engine failed, not a check).
    Failed,
    /// Its replica stopped renewing the lease (crashed, killed, partitioned).
    Abandoned,
}

spelled!(RunStatus {
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Abandoned => "abandoned",
});

/// A run about to start: one dataset, executed once.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: Uuid,
    /// Groups the runs of one invocation: the `run_id` `tidemark run` prints.
    pub batch_id: Uuid,
    pub dataset: String,
    pub warehouse: String,
    pub trigger: Trigger,
    /// The cron slot a scheduled run executes; unique per dataset among scheduled runs.
    pub slot: Option<DateTime<Utc>>,
    /// Which process runs it (host and pid), for operators reading a stuck run.
    pub replica: String,
    pub started_at: DateTime<Utc>,
    /// Until when the run counts as alive without a heartbeat.
    pub lease_until: DateTime<Utc>,
}

/// The answer to [`Runs::start_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Started,
    /// Another replica already claimed this dataset's slot.
    AlreadyClaimed,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    pub id: Uuid,
    pub batch_id: Uuid,
    pub dataset: String,
    pub warehouse: String,
    pub trigger: Trigger,
    pub slot: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub replica: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub lease_until: DateTime<Utc>,
    pub error: Option<String>,
    pub summary: Summary,
    /// What its queries cost the warehouse, once it finished.
    pub cost: Option<Cost>,
}

/// A check result as stored: the engine's result plus where and when it was observed.
///
/// It reads back as written, except that a value that is not finite (NaN, ±infinity) is
/// kept as `None`, as JSON prints it, and times are kept to the microsecond (truncated).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredResult {
    /// Increasing with insertion: the key for paging.
    pub id: i64,
    pub run_id: Uuid,
    /// Hash of the check's definition: history before an edit of the check is told apart.
    pub check_hash: String,
    /// When the run finished ([`FinishedRun::finished_at`]).
    pub observed_at: DateTime<Utc>,
    #[serde(flatten)]
    pub result: CheckResult,
}

/// The columns of a dataset's table as one run saw them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaSnapshot {
    pub dataset: String,
    pub warehouse: String,
    pub run_id: Uuid,
    pub taken_at: DateTime<Utc>,
    pub columns: Vec<SnapshotColumn>,
}

/// Everything a finished run leaves behind, written in one transaction so that a crash
/// never keeps half a run.
#[derive(Clone, Debug)]
pub struct FinishedRun {
    pub id: Uuid,
    /// A final status: anything but [`RunStatus::Running`].
    pub status: RunStatus,
    /// Also when its results were observed, its metric points' time and its snapshot's.
    pub finished_at: DateTime<Utc>,
    pub error: Option<String>,
    /// Each result with its check's definition hash.
    pub results: Vec<(CheckResult, String)>,
    /// The table's columns, when the run could read them.
    pub snapshot: Option<Vec<SnapshotColumn>>,
    /// The profiles its distribution checks measured: the references of later runs.
    pub profiles: Vec<NewProfile>,
    /// The buckets its per-bucket checks measured (partitioned datasets): their series'
    /// points, in place of a point at `finished_at`.
    pub bucket_points: Vec<BucketPoint>,
    /// What its queries cost the warehouse.
    pub cost: Cost,
}

/// Keyset paging: newest first; `before` is the last id of the previous page. A `limit`
/// outside `1..=MAX_LIMIT` is brought into it ([`Page::effective_limit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub before: Option<i64>,
}

impl Page {
    pub const MAX_LIMIT: u32 = 1000;

    /// The page size actually used: `limit` brought into `1..=MAX_LIMIT` (a page of 0 would
    /// never end a walk).
    pub fn effective_limit(self) -> u32 {
        self.limit.clamp(1, Page::MAX_LIMIT)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultFilter {
    pub dataset: Option<String>,
    pub check: Option<String>,
    pub outcome: Option<Outcome>,
    pub run_id: Option<Uuid>,
    /// Observed at or after (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Observed before (exclusive).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFilter {
    pub dataset: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger: Option<Trigger>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub runs: u64,
    pub results: u64,
    pub metric_points: u64,
    pub snapshots: u64,
    /// Resolved incidents, with their notifications.
    pub incidents: u64,
    /// OpenLineage edges no longer reported.
    pub lineage_edges: u64,
}

/// See [`Edges::edges_version`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgesVersion {
    pub count: i64,
    pub newest: Option<DateTime<Utc>>,
}

/// The store a project uses, chosen from its URL: one implementation of the contract behind
/// one pointer. It derefs to [`StoreApi`], so `store.start_run(…)` needs no import.
pub struct Store {
    kind: &'static str,
    api: Box<dyn StoreApi>,
}

impl Store {
    /// `postgres` or `sqlite`: what to tell the user, who must never see the URL.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Opens (creating the SQLite file and its folder if needed) and migrates the store.
    /// `url` is the project's `store:`; `None` means the embedded default under `root`.
    pub async fn open(url: Option<&str>, root: &Path) -> Result<Store, StoreError> {
        let store = match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Store::new("postgres", PgStore::connect(url).await?)
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = crate::warehouse::file_path(url, root);
                Store::new("sqlite", SqliteStore::open(&path).await?)
            }
            Some(_) => return Err(StoreError::UnsupportedUrl),
            None => Store::new(
                "sqlite",
                SqliteStore::open(&root.join(DEFAULT_SQLITE_PATH)).await?,
            ),
        };
        store.migrate().await?;
        Ok(store)
    }

    fn new(kind: &'static str, api: impl StoreApi + 'static) -> Store {
        Store {
            kind,
            api: Box::new(api),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn StoreApi;

    fn deref(&self) -> &(dyn StoreApi + 'static) {
        &*self.api
    }
}
