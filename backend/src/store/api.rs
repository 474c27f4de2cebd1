//! The store's contract, one trait per area. Every method is one short transaction (prune:
//! a few): nothing holds a lock while a warehouse query runs. Times are kept in UTC to the
//! microsecond. The traits are object-safe (`async_trait`), so a [`super::Store`] holds
//! whichever implementation its URL chose behind one pointer, and callers use the methods
//! without naming the area.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::lineage::Edge;
use crate::results::{Feedback, MetricPoint, ProfileQuery, StoredProfile};

/// Runs and their leases: claiming slots exactly once, keeping runs alive, finishing them.
#[async_trait::async_trait]
pub trait Runs: Send + Sync {
    /// Records a run as running. For scheduled runs the (dataset, slot) pair is claimed
    /// atomically: exactly one replica gets [`Claim::Started`].
    async fn start_run(&self, run: &NewRun) -> Result<Claim, StoreError>;

    /// [`Runs::start_run`] for many runs in few statements: the scheduler claims every
    /// slot due at a tick at once. Returns the ids of the runs that started; the others'
    /// slots were claimed already.
    async fn start_runs(&self, runs: &[NewRun]) -> Result<Vec<Uuid>, StoreError>;

    /// The runs going on any replica at `now`: running, with a lease that has not lapsed.
    async fn running(&self, now: DateTime<Utc>) -> Result<Vec<Running>, StoreError>;

    /// Extends the leases of many running runs at once (runs claimed and waiting for a
    /// worker); ids of runs no longer running are ignored.
    async fn renew_leases(
        &self,
        runs: &[Uuid],
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Extends a running run's lease. [`StoreError::NotFound`] when no such run is running
    /// any more (it finished, or another replica expired its lease): stop working on it.
    async fn heartbeat(&self, run: Uuid, lease_until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Marks the run finished and stores its results, metric points (every result with a
    /// finite value), schema snapshot and distribution profiles, atomically. The summary
    /// counts come from the results. A run whose lease expired (abandoned) may still finish: its results are kept.
    /// [`StoreError::NotFound`] for an unknown run; an error for one that already finished.
    async fn finish_run(&self, run: &FinishedRun) -> Result<(), StoreError>;

    /// Marks running runs whose lease ended before `now` as abandoned (error
    /// [`LEASE_EXPIRED`]) and returns them, oldest first. Each expired run is returned to
    /// exactly one caller, however many replicas call at once.
    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<Vec<Run>, StoreError>;

    async fn run(&self, id: Uuid) -> Result<Run, StoreError>;

    /// Runs, newest first (paged by an internal sequence number).
    async fn runs(&self, filter: &RunFilter, page: Page) -> Result<Paged<Run>, StoreError>;

    /// Those of these `(dataset, slot)` pairs that no scheduled run has claimed, in the
    /// order given: the slots a sweep of the scheduler still has to run.
    async fn unclaimed_slots(
        &self,
        slots: &[(String, DateTime<Utc>)],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;

    /// Hands claims back: deletes these runs if they are still running and never started
    /// work (a stopping replica's claimed-but-unstarted slots), so that their slots can be
    /// claimed again by another replica or the next start. Returns how many were deleted.
    async fn release_claims(&self, runs: &[Uuid]) -> Result<u64, StoreError>;
}

/// What runs observed: results, metric series, schema snapshots and distribution profiles.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// Check results, newest first.
    async fn results(
        &self,
        filter: &ResultFilter,
        page: Page,
    ) -> Result<Paged<StoredResult>, StoreError>;

    /// The newest result of every check of every dataset: current health. Ordered by
    /// dataset, then check.
    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError>;

    /// A number that grows whenever a stored result becomes a check's latest: what was read
    /// by [`History::latest_results`] is current while it stays the same (pruning aside).
    async fn latest_results_version(&self) -> Result<i64, StoreError>;

    /// A check's values over time, oldest first, from `since` on (inclusive).
    async fn metric_series(
        &self,
        dataset: &str,
        check: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<MetricPoint>, StoreError>;

    /// The newest `limit` points of a check's series, oldest first: what anomaly thresholds
    /// learn from.
    async fn metric_history(
        &self,
        dataset: &str,
        check: &str,
        limit: u32,
    ) -> Result<Vec<MetricPoint>, StoreError>;

    /// Marks the anomalies of a check's series from `since` on as a level shift the
    /// detector accepted (see [`crate::anomaly::Judgement::shift_since`]), so later runs
    /// learn the new level from them instead of deciding again.
    async fn accept_shift(
        &self,
        dataset: &str,
        check: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks a result's metric point `expected` or `incident` (or clears the mark, with
    /// `None`) for anomaly detection. [`StoreError::NotFound`] for an unknown result.
    async fn mark_result(&self, id: i64, feedback: Option<Feedback>) -> Result<(), StoreError>;

    /// The newest snapshot of a dataset's table, to judge drift against.
    async fn latest_snapshot(
        &self,
        dataset: &str,
        warehouse: &str,
    ) -> Result<Option<SchemaSnapshot>, StoreError>;

    /// Profiles a distribution check recorded of its column, newest first: what later runs
    /// judge drift against. Pruned with their runs.
    async fn distribution_profiles(
        &self,
        query: &ProfileQuery<'_>,
    ) -> Result<Vec<StoredProfile>, StoreError>;

    /// Snapshots of a dataset whose columns (or warehouse) differ from the one before, newest
    /// first; the first snapshot always counts as a change.
    async fn schema_history(&self, dataset: &str) -> Result<Vec<SchemaSnapshot>, StoreError>;
}

/// Incidents and their timelines; a change and the notifications it causes are one write.
#[async_trait::async_trait]
pub trait Incidents: Send + Sync {
    /// The latest incident (of any status) of every check of these datasets that has one.
    async fn latest_incidents(&self, datasets: &[String]) -> Result<Vec<Incident>, StoreError>;

    /// Writes incident changes and enqueues their notifications, all in one transaction;
    /// returns the ids of the notifications enqueued. [`StoreError::Conflict`] (and nothing
    /// written) when a new incident's check already has an active one, or a change's base
    /// version is no longer the incident's.
    async fn write_incidents(
        &self,
        changes: &[IncidentChange],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError>;

    async fn incident(&self, id: i64) -> Result<Incident, StoreError>;

    /// Incidents, newest first.
    async fn incidents(
        &self,
        filter: &IncidentFilter,
        page: Page,
    ) -> Result<Paged<Incident>, StoreError>;

    /// Incidents the reminder sweep looks at (see [`Due`]), oldest first, at most 500.
    async fn incidents_due(&self, due: Due) -> Result<Vec<Incident>, StoreError>;

    /// Active incidents whose likely cause is incident `id`: what is folded into it.
    async fn incidents_caused_by(&self, id: i64) -> Result<Vec<Incident>, StoreError>;

    /// The latest [`INCIDENT_EVENTS`] entries of incident `id`'s timeline, oldest first.
    async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError>;
}

/// The notification outbox: claimed by one delivery worker at a time, settled per attempt.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` pending notifications due at `now` for `claimer` until `until`,
    /// oldest due first. A notification is claimed by one caller at a time, however many
    /// replicas ask; a claim that lapsed (its worker died) can be taken over.
    async fn claim_notifications(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Records an attempt at time `at` and its outcome, releasing the claim.
    /// [`StoreError::NotFound`] when `claimer` no longer holds it.
    async fn settle_notification(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        settlement: &Settlement,
    ) -> Result<(), StoreError>;

    /// Notifications, newest first.
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: Page,
    ) -> Result<Paged<Notification>, StoreError>;

    /// The earliest next attempt among these notifications that are still pending; `None`
    /// when every one is delivered or dead.
    async fn next_attempt(&self, ids: &[i64]) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// API tokens (kept as hashes) and dashboard sessions.
#[async_trait::async_trait]
pub trait Auth: Send + Sync {
    /// Stores an API token's hash (never the token). Hashes are unique: storing one twice
    /// is an error.
    async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError>;

    /// The name of the token with this hash (`None`: no such token): who acts with it.
    async fn token_name(&self, hash: &str) -> Result<Option<String>, StoreError>;

    /// Opens a dashboard session: `id_hash` is the SHA-256 of the session id (the id itself
    /// lives only in the browser's cookie), `token_hash` the API token it was opened with.
    /// Clears out expired sessions on the way, so the table holds only live ones.
    async fn create_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The name of the token a session was opened with, if the session exists, has not
    /// expired at `now`, and its token still does; `None` otherwise.
    async fn session_owner(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Ends a session (signing out); ending one that does not exist is not an error.
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
}

/// Lineage edges reported by OpenLineage producers and dbt.
#[async_trait::async_trait]
pub trait Edges: Send + Sync {
    /// Records lineage edges, atomically: a new edge as given; one already kept (same
    /// upstream, downstream and source) widens its first and last sightings to cover both.
    async fn upsert_edges(&self, edges: &[Edge]) -> Result<(), StoreError>;

    /// Every lineage edge kept, by upstream, downstream (bytewise) and source.
    async fn edges(&self) -> Result<Vec<Edge>, StoreError>;

    /// How many edges are kept and the newest `last_seen` among them: cheap to read, and
    /// changed by nearly every write of edges (graphs built from them are rebuilt when it
    /// changes).
    async fn edges_version(&self) -> Result<EdgesVersion, StoreError>;
}

/// Migrations and retention.
#[async_trait::async_trait]
pub trait Upkeep: Send + Sync {
    /// Applies pending migrations (also done by [`Store::open`]).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Deletes what retention no longer keeps: runs started before `now - results` (with
    /// their results and snapshots) unless still running, and metric points from before
    /// `now - metrics`.
    async fn prune(&self, now: DateTime<Utc>, retention: Retention) -> Result<Pruned, StoreError>;
}

/// The whole contract: what [`super::Store`] derefs to.
pub trait StoreApi: Runs + History + Incidents + Outbox + Auth + Edges + Upkeep {}

impl<T: Runs + History + Incidents + Outbox + Auth + Edges + Upkeep> StoreApi for T {}
