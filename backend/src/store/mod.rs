//! The results store: runs, check results, metric series, schema snapshots and distribution
//! profiles, kept so that drift and anomalies can be judged against history and the server
//! can show it.
//!
//! One contract ([`StoreApi`]), two implementations: Postgres for production (many replicas
//! share it, and coordinate only through it) and SQLite, the embedded default under
//! `.tidemark/`. [`Store::open`] picks one from the URL scheme. Both run the same contract
//! tests (`tests/integration/store_contract.rs`). Incidents and the notification outbox
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
    CheckResult, Feedback, MetricPoint, NewProfile, Outcome, ProfileQuery, SnapshotColumn,
    StoredProfile, Summary,
};
pub use crate::spec::Retention;

pub use incidents::*;
pub use postgres::{PG_MIGRATOR, PgStore};
pub use sqlite::{SQLITE_MIGRATOR, SqliteStore};

/// Where the embedded store lives, relative to the project root, when no URL is given.
pub const DEFAULT_SQLITE_PATH: &str = ".tidemark/store.db";

/// The error [`StoreApi::expire_leases`] gives the runs it abandons.
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

/// A run going on some replica, as [`StoreApi::running`] lists it.
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

/// The answer to [`StoreApi::start_run`].
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

/// The store's contract. Every method is one short transaction (prune: a few): nothing
/// holds a lock while a warehouse query runs. Times are kept in UTC to the microsecond.
pub trait StoreApi: Send + Sync {
    /// Applies pending migrations (also done by [`Store::open`]).
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a run as running. For scheduled runs the (dataset, slot) pair is claimed
    /// atomically: exactly one replica gets [`Claim::Started`].
    fn start_run(&self, run: &NewRun) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// [`StoreApi::start_run`] for many runs in few statements: the scheduler claims every
    /// slot due at a tick at once. Returns the ids of the runs that started; the others'
    /// slots were claimed already.
    fn start_runs(
        &self,
        runs: &[NewRun],
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// The runs going on any replica at `now`: running, with a lease that has not lapsed.
    fn running(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Running>, StoreError>> + Send;

    /// Extends the leases of many running runs at once (runs claimed and waiting for a
    /// worker); ids of runs no longer running are ignored.
    fn renew_leases(
        &self,
        runs: &[Uuid],
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Extends a running run's lease. [`StoreError::NotFound`] when no such run is running
    /// any more (it finished, or another replica expired its lease): stop working on it.
    fn heartbeat(
        &self,
        run: Uuid,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks the run finished and stores its results, metric points (every result with a
    /// finite value), schema snapshot and distribution profiles, atomically. The summary counts come from the
    /// results. A run whose lease expired (abandoned) may still finish: its results are kept.
    /// [`StoreError::NotFound`] for an unknown run; an error for one that already finished.
    fn finish_run(&self, run: &FinishedRun) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks running runs whose lease ended before `now` as abandoned (error
    /// [`LEASE_EXPIRED`]) and returns them, oldest first. Each expired run is returned to
    /// exactly one caller, however many replicas call at once.
    fn expire_leases(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;

    fn run(&self, id: Uuid) -> impl Future<Output = Result<Run, StoreError>> + Send;

    /// Runs, newest first (paged by an internal sequence number).
    fn runs(
        &self,
        filter: &RunFilter,
        page: Page,
    ) -> impl Future<Output = Result<Paged<Run>, StoreError>> + Send;

    /// Check results, newest first.
    fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> impl Future<Output = Result<Paged<StoredResult>, StoreError>> + Send;

    /// The newest result of every check of every dataset: current health. Ordered by
    /// dataset, then check.
    fn latest_results(&self) -> impl Future<Output = Result<Vec<StoredResult>, StoreError>> + Send;

    /// A number that grows whenever a stored result becomes a check's latest: what was read
    /// by [`StoreApi::latest_results`] is current while it stays the same (pruning aside).
    fn latest_results_version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A check's values over time, oldest first, from `since` on (inclusive).
    fn metric_series(
        &self,
        dataset: &str,
        check: &str,
        since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Vec<MetricPoint>, StoreError>> + Send;

    /// The newest `limit` points of a check's series, oldest first: what anomaly thresholds
    /// learn from.
    fn metric_history(
        &self,
        dataset: &str,
        check: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MetricPoint>, StoreError>> + Send;

    /// Marks the anomalies of a check's series from `since` on as a level shift the
    /// detector accepted (see [`crate::anomaly::Judgement::shift_since`]), so later runs
    /// learn the new level from them instead of deciding again.
    fn accept_shift(
        &self,
        dataset: &str,
        check: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a result's metric point `expected` or `incident` (or clears the mark, with
    /// `None`) for anomaly detection. [`StoreError::NotFound`] for an unknown result.
    fn mark_result(
        &self,
        id: i64,
        feedback: Option<Feedback>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest snapshot of a dataset's table, to judge drift against.
    fn latest_snapshot(
        &self,
        dataset: &str,
        warehouse: &str,
    ) -> impl Future<Output = Result<Option<SchemaSnapshot>, StoreError>> + Send;

    /// Profiles a distribution check recorded of its column, newest first: what later runs
    /// judge drift against. Pruned with their runs.
    fn distribution_profiles(
        &self,
        query: &ProfileQuery<'_>,
    ) -> impl Future<Output = Result<Vec<StoredProfile>, StoreError>> + Send;

    /// Snapshots of a dataset whose columns (or warehouse) differ from the one before, newest
    /// first; the first snapshot always counts as a change.
    fn schema_history(
        &self,
        dataset: &str,
    ) -> impl Future<Output = Result<Vec<SchemaSnapshot>, StoreError>> + Send;

    /// The newest slot a scheduled run of the dataset claimed, for catch-up after downtime.
    fn last_slot(
        &self,
        dataset: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// Stores an API token's hash (never the token). Hashes are unique: storing one twice
    /// is an error.
    fn create_token(
        &self,
        name: &str,
        hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The name of the token with this hash (`None`: no such token): who acts with it.
    fn token_name(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Opens a dashboard session: `id_hash` is the SHA-256 of the session id (the id itself
    /// lives only in the browser's cookie), `token_hash` the API token it was opened with.
    /// Clears out expired sessions on the way, so the table holds only live ones.
    fn create_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The name of the token a session was opened with, if the session exists, has not
    /// expired at `now`, and its token still does; `None` otherwise.
    fn session_owner(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Ends a session (signing out); ending one that does not exist is not an error.
    fn delete_session(&self, id_hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes what retention no longer keeps: runs started before `now - results` (with
    /// their results and snapshots) unless still running, and metric points from before
    /// `now - metrics`.
    fn prune(
        &self,
        now: DateTime<Utc>,
        retention: Retention,
    ) -> impl Future<Output = Result<Pruned, StoreError>> + Send;

    /// The latest incident (of any status) of every check of these datasets that has one.
    fn latest_incidents(
        &self,
        datasets: &[String],
    ) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    /// Writes incident changes and enqueues their notifications, all in one transaction;
    /// returns the ids of the notifications enqueued. [`StoreError::Conflict`] (and nothing
    /// written) when a new incident's check already has an active one, or a change's base
    /// version is no longer the incident's.
    fn write_incidents(
        &self,
        changes: &[IncidentChange],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    fn incident(&self, id: i64) -> impl Future<Output = Result<Incident, StoreError>> + Send;

    /// Incidents, newest first.
    fn incidents(
        &self,
        filter: &IncidentFilter,
        page: Page,
    ) -> impl Future<Output = Result<Paged<Incident>, StoreError>> + Send;

    /// Incidents the reminder sweep looks at (see [`Due`]), oldest first, at most 500.
    fn incidents_due(
        &self,
        due: Due,
    ) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    /// Active incidents whose likely cause is incident `id`: what is folded into it.
    fn incidents_caused_by(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    /// The latest [`INCIDENT_EVENTS`] entries of incident `id`'s timeline, oldest first.
    fn incident_events(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Vec<IncidentEvent>, StoreError>> + Send;

    /// Claims up to `limit` pending notifications due at `now` for `claimer` until `until`,
    /// oldest due first. A notification is claimed by one caller at a time, however many
    /// replicas ask; a claim that lapsed (its worker died) can be taken over.
    fn claim_notifications(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Notification>, StoreError>> + Send;

    /// Records an attempt at time `at` and its outcome, releasing the claim.
    /// [`StoreError::NotFound`] when `claimer` no longer holds it.
    fn settle_notification(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        settlement: &Settlement,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Notifications, newest first.
    fn notifications(
        &self,
        filter: &NotificationFilter,
        page: Page,
    ) -> impl Future<Output = Result<Paged<Notification>, StoreError>> + Send;

    /// The earliest next attempt among these notifications that are still pending; `None`
    /// when every one is delivered or dead.
    fn next_attempt(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// Records lineage edges, atomically: a new edge as given; one already kept (same
    /// upstream, downstream and source) widens its first and last sightings to cover both.
    fn upsert_edges(&self, edges: &[Edge]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every lineage edge kept, by upstream, downstream (bytewise) and source.
    fn edges(&self) -> impl Future<Output = Result<Vec<Edge>, StoreError>> + Send;

    /// How many edges are kept and the newest `last_seen` among them: cheap to read, and
    /// changed by nearly every write of edges (graphs built from them are rebuilt when it
    /// changes).
    fn edges_version(&self) -> impl Future<Output = Result<EdgesVersion, StoreError>> + Send;
}

/// See [`StoreApi::edges_version`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgesVersion {
    pub count: i64,
    pub newest: Option<DateTime<Utc>>,
}

/// The store a project uses, chosen from its URL.
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Store {
    /// `postgres` or `sqlite`: what to tell the user, who must never see the URL.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Opens (creating the SQLite file and its folder if needed) and migrates the store.
    /// `url` is the project's `store:`; `None` means the embedded default under `root`.
    pub async fn open(url: Option<&str>, root: &Path) -> Result<Store, StoreError> {
        let store = match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Store::Postgres(PgStore::connect(url).await?)
            }
            Some(url) if url.starts_with("sqlite:") => {
                Store::Sqlite(SqliteStore::open(&crate::warehouse::sqlite_path(url, root)).await?)
            }
            Some(_) => return Err(StoreError::UnsupportedUrl),
            None => Store::Sqlite(SqliteStore::open(&root.join(DEFAULT_SQLITE_PATH)).await?),
        };
        store.migrate().await?;
        Ok(store)
    }
}

/// Forwards each [`StoreApi`] method to the implementation behind the enum.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Postgres($store) => $call.await,
            Store::Sqlite($store) => $call.await,
        }
    };
}

impl StoreApi for Store {
    async fn migrate(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.migrate())
    }
    async fn start_run(&self, run: &NewRun) -> Result<Claim, StoreError> {
        delegate!(self, s => s.start_run(run))
    }
    async fn start_runs(&self, runs: &[NewRun]) -> Result<Vec<Uuid>, StoreError> {
        delegate!(self, s => s.start_runs(runs))
    }
    async fn running(&self, now: DateTime<Utc>) -> Result<Vec<Running>, StoreError> {
        delegate!(self, s => s.running(now))
    }
    async fn renew_leases(
        &self,
        runs: &[Uuid],
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.renew_leases(runs, lease_until))
    }
    async fn heartbeat(&self, run: Uuid, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        delegate!(self, s => s.heartbeat(run, lease_until))
    }
    async fn finish_run(&self, run: &FinishedRun) -> Result<(), StoreError> {
        delegate!(self, s => s.finish_run(run))
    }
    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<Vec<Run>, StoreError> {
        delegate!(self, s => s.expire_leases(now))
    }
    async fn run(&self, id: Uuid) -> Result<Run, StoreError> {
        delegate!(self, s => s.run(id))
    }
    async fn runs(&self, filter: &RunFilter, page: Page) -> Result<Paged<Run>, StoreError> {
        delegate!(self, s => s.runs(filter, page))
    }
    async fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> Result<Paged<StoredResult>, StoreError> {
        delegate!(self, s => s.results(filter, page))
    }
    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError> {
        delegate!(self, s => s.latest_results())
    }
    async fn latest_results_version(&self) -> Result<i64, StoreError> {
        delegate!(self, s => s.latest_results_version())
    }
    async fn metric_series(
        &self,
        dataset: &str,
        check: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        delegate!(self, s => s.metric_series(dataset, check, since))
    }
    async fn metric_history(
        &self,
        dataset: &str,
        check: &str,
        limit: u32,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        delegate!(self, s => s.metric_history(dataset, check, limit))
    }
    async fn accept_shift(
        &self,
        dataset: &str,
        check: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.accept_shift(dataset, check, since))
    }
    async fn mark_result(&self, id: i64, feedback: Option<Feedback>) -> Result<(), StoreError> {
        delegate!(self, s => s.mark_result(id, feedback))
    }
    async fn latest_snapshot(
        &self,
        dataset: &str,
        warehouse: &str,
    ) -> Result<Option<SchemaSnapshot>, StoreError> {
        delegate!(self, s => s.latest_snapshot(dataset, warehouse))
    }
    async fn distribution_profiles(
        &self,
        query: &ProfileQuery<'_>,
    ) -> Result<Vec<StoredProfile>, StoreError> {
        delegate!(self, s => s.distribution_profiles(query))
    }
    async fn schema_history(&self, dataset: &str) -> Result<Vec<SchemaSnapshot>, StoreError> {
        delegate!(self, s => s.schema_history(dataset))
    }
    async fn last_slot(&self, dataset: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        delegate!(self, s => s.last_slot(dataset))
    }
    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.create_token(name, hash))
    }
    async fn token_name(&self, hash: &str) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.token_name(hash))
    }
    async fn create_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.create_session(id_hash, token_hash, expires_at))
    }
    async fn session_owner(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.session_owner(id_hash, now))
    }
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.delete_session(id_hash))
    }
    async fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<Pruned, StoreError> {
        delegate!(self, s => s.prune(now, retention))
    }
    async fn latest_incidents(&self, datasets: &[String]) -> Result<Vec<Incident>, StoreError> {
        delegate!(self, s => s.latest_incidents(datasets))
    }
    async fn write_incidents(
        &self,
        changes: &[IncidentChange],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        delegate!(self, s => s.write_incidents(changes, now))
    }
    async fn incident(&self, id: i64) -> Result<Incident, StoreError> {
        delegate!(self, s => s.incident(id))
    }
    async fn incidents(
        &self,
        filter: &IncidentFilter,
        page: Page,
    ) -> Result<Paged<Incident>, StoreError> {
        delegate!(self, s => s.incidents(filter, page))
    }
    async fn incidents_due(&self, due: Due) -> Result<Vec<Incident>, StoreError> {
        delegate!(self, s => s.incidents_due(due))
    }
    async fn incidents_caused_by(&self, id: i64) -> Result<Vec<Incident>, StoreError> {
        delegate!(self, s => s.incidents_caused_by(id))
    }
    async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        delegate!(self, s => s.incident_events(id))
    }
    async fn claim_notifications(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        delegate!(self, s => s.claim_notifications(claimer, now, until, limit))
    }
    async fn settle_notification(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        settlement: &Settlement,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.settle_notification(id, claimer, at, settlement))
    }
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: Page,
    ) -> Result<Paged<Notification>, StoreError> {
        delegate!(self, s => s.notifications(filter, page))
    }
    async fn next_attempt(&self, ids: &[i64]) -> Result<Option<DateTime<Utc>>, StoreError> {
        delegate!(self, s => s.next_attempt(ids))
    }
    async fn upsert_edges(&self, edges: &[Edge]) -> Result<(), StoreError> {
        delegate!(self, s => s.upsert_edges(edges))
    }
    async fn edges(&self) -> Result<Vec<Edge>, StoreError> {
        delegate!(self, s => s.edges())
    }
    async fn edges_version(&self) -> Result<EdgesVersion, StoreError> {
        delegate!(self, s => s.edges_version())
    }
}
