//! The store contract (`tidemark::store::StoreApi`), one suite run against both stores: a
//! fresh SQLite file in a temporary folder and a fresh Postgres database. Each scenario is
//! an async function over a [`Fixture`]; `on_each_store!` declares it once per store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tidemark::results::{CheckResult, MetricPoint, Outcome, SnapshotColumn, Summary};
use tidemark::store::{
    Claim, EventKind, FinishedRun, Incident, IncidentChange, NewEvent, NewNotification, NewRun,
    Page, Paged, ResultFilter, Run, RunFilter, RunStatus, Store, StoreError, StoredResult,
    Transition, Trigger,
};
use uuid::Uuid;

use crate::support::PgDb;

// ---------------------------------------------------------------------------------------
// Fixture

/// What keeps a store's database alive (and removes it afterwards).
enum Backing {
    Postgres(PgDb),
    Sqlite(tempfile::TempDir),
}

/// A freshly created, migrated store.
struct Fixture {
    store: Arc<Store>,
    backing: Backing,
}

impl Fixture {
    /// A new database `tm_<uuid>` on the test server, dropped afterwards.
    async fn postgres() -> Fixture {
        let db = PgDb::new().await;
        let store = Store::open(Some(&db.url), Path::new("."))
            .await
            .unwrap_or_else(|e| panic!("open the Postgres store: {e}"));
        Fixture {
            store: Arc::new(store),
            backing: Backing::Postgres(db),
        }
    }

    /// The embedded default: `.tidemark/store.db` under a new temporary project folder.
    async fn sqlite() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("tidemark-store-")
            .tempdir()
            .expect("create a temporary directory");
        let store = Store::open(None, dir.path())
            .await
            .unwrap_or_else(|e| panic!("open the SQLite store: {e}"));
        Fixture {
            store: Arc::new(store),
            backing: Backing::Sqlite(dir),
        }
    }

    /// A second handle on the same store, as another replica (or process) would open it.
    async fn reopen(&self) -> Store {
        let opened = match &self.backing {
            Backing::Postgres(db) => Store::open(Some(&db.url), Path::new(".")).await,
            Backing::Sqlite(dir) => Store::open(None, dir.path()).await,
        };
        opened.unwrap_or_else(|e| panic!("reopen the store: {e}"))
    }
}

/// Declares one `#[tokio::test]` per store, each running `scenario(&fixture)`. The names are
/// written out in full so that a failing test's name can be found with grep.
macro_rules! on_each_store {
    ($scenario:ident, postgres: $postgres:ident, sqlite: $sqlite:ident $(,)?) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $postgres() {
            $scenario(&Fixture::postgres().await).await;
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $sqlite() {
            $scenario(&Fixture::sqlite().await).await;
        }
    };
}

/// Awaits a store call and panics, naming the call, if it failed.
macro_rules! ok {
    ($call:expr) => {
        $call
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", stringify!($call)))
    };
}

mod incidents;
mod leases;
mod lineage;
mod listing;
mod metrics;
mod migrations;
mod outbox;
mod pruning;
mod runs;
mod snapshots;
mod tokens;

// ---------------------------------------------------------------------------------------
// Building runs and results

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// A time with microseconds, which both stores keep exactly.
fn t0() -> DateTime<Utc> {
    at("2026-03-10T12:00:00.123456Z")
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn new_run(
    dataset: &str,
    trigger: Trigger,
    slot: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
) -> NewRun {
    NewRun {
        id: Uuid::new_v4(),
        batch_id: Uuid::new_v4(),
        dataset: dataset.to_owned(),
        warehouse: "main".to_owned(),
        trigger,
        slot,
        replica: "test-host:4242".to_owned(),
        started_at,
        lease_until: started_at + minutes(1),
    }
}

fn cli_run(dataset: &str, started_at: DateTime<Utc>) -> NewRun {
    new_run(dataset, Trigger::Cli, None, started_at)
}

/// A result of `check` on `dataset`, everything else plain.
fn check(dataset: &str, check: &str, outcome: Outcome, value: Option<f64>) -> CheckResult {
    CheckResult {
        dataset: dataset.to_owned(),
        warehouse: "main".to_owned(),
        check: check.to_owned(),
        kind: "row_count".to_owned(),
        column: None,
        columns: None,
        outcome,
        value,
        expected: None,
        message: format!("{check} is {value:?}"),
        severity: None,
        band: None,
    }
}

/// A metric point no anomaly threshold judged.
fn plain_point(at: DateTime<Utc>, value: f64) -> MetricPoint {
    MetricPoint {
        at,
        value,
        lower: None,
        upper: None,
        anomalous: false,
        shift: false,
        feedback: None,
    }
}

fn hash_of(result: &CheckResult) -> String {
    format!("sha256:{}", result.check)
}

/// A completed run of `run` at `finished_at` with `results` (hashed by [`hash_of`]).
fn completed(run: &NewRun, finished_at: DateTime<Utc>, results: &[CheckResult]) -> FinishedRun {
    FinishedRun {
        id: run.id,
        status: RunStatus::Completed,
        finished_at,
        error: None,
        results: results.iter().map(|r| (r.clone(), hash_of(r))).collect(),
        snapshot: None,
        profiles: Vec::new(),
        bucket_points: Vec::new(),
        cost: Default::default(),
    }
}

/// Starts and completes a CLI run of `dataset` at `started_at`, finishing a second later.
async fn record(
    store: &Store,
    dataset: &str,
    started_at: DateTime<Utc>,
    results: &[CheckResult],
) -> NewRun {
    let run = cli_run(dataset, started_at);
    assert_eq!(ok!(store.start_run(&run)), Claim::Started);
    ok!(store.finish_run(&completed(
        &run,
        started_at + TimeDelta::seconds(1),
        results
    )));
    run
}

/// The run a [`NewRun`] becomes when started.
fn running(run: &NewRun) -> Run {
    Run {
        id: run.id,
        batch_id: run.batch_id,
        dataset: run.dataset.clone(),
        warehouse: run.warehouse.clone(),
        trigger: run.trigger,
        slot: run.slot,
        status: RunStatus::Running,
        replica: run.replica.clone(),
        started_at: run.started_at,
        finished_at: None,
        lease_until: run.lease_until,
        error: None,
        summary: Summary::default(),
        cost: None,
    }
}

const ALL: Page = Page {
    limit: Page::MAX_LIMIT,
    before: None,
};

async fn all_results(store: &Store, filter: &ResultFilter) -> Vec<StoredResult> {
    let page = ok!(store.results(filter, ALL));
    assert_eq!(page.next, None, "more than one page");
    page.items
}

async fn all_runs(store: &Store, filter: &RunFilter) -> Vec<Run> {
    let page = ok!(store.runs(filter, ALL));
    assert_eq!(page.next, None, "more than one page");
    page.items
}

fn ids(results: &[StoredResult]) -> Vec<i64> {
    results.iter().map(|r| r.id).collect()
}

fn run_ids(runs: &[Run]) -> Vec<Uuid> {
    runs.iter().map(|r| r.id).collect()
}

/// Walks every page of a listing `limit` at a time; returns the keys in order and each
/// page's size, checking that `next` is the last key of its page.
async fn walk<T, F, Fut>(limit: u32, key: fn(&T) -> i64, mut fetch: F) -> (Vec<i64>, Vec<usize>)
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Paged<T>, StoreError>>,
{
    let (mut keys, mut sizes, mut before) = (Vec::new(), Vec::new(), None);
    for _ in 0..100 {
        let page = fetch(Page { limit, before })
            .await
            .unwrap_or_else(|e| panic!("fetch a page: {e}"));
        sizes.push(page.items.len());
        let page_keys: Vec<i64> = page.items.iter().map(key).collect();
        keys.extend(&page_keys);
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), page_keys.last(), "next is the page's last key");
                before = Some(next);
            }
            None => return (keys, sizes),
        }
    }
    panic!("paging did not end after 100 pages: {sizes:?}");
}

fn columns(spec: &[(&str, &str)]) -> Vec<SnapshotColumn> {
    spec.iter()
        .map(|(name, data_type)| SnapshotColumn {
            name: name.to_string(),
            data_type: data_type.to_string(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Incidents

fn opened(incident: Incident, channels: &[&str]) -> IncidentChange {
    IncidentChange {
        incident,
        base: None,
        notifications: channels
            .iter()
            .map(|channel| NewNotification {
                transition: Transition::Opened,
                channel: (*channel).to_owned(),
                payload: json!({"dataset": "orders"}),
            })
            .collect(),
        event: Some(NewEvent {
            kind: EventKind::Opened,
            actor: "check".to_owned(),
            detail: Some("0 rows".to_owned()),
        }),
    }
}

fn everything() -> Page {
    Page {
        limit: Page::MAX_LIMIT,
        before: None,
    }
}

/// Writes a new incident and returns it as stored.
async fn open_incident(store: &Store, incident: Incident) -> Incident {
    let (dataset, check) = (incident.dataset.clone(), incident.check.clone());
    ok!(store.write_incidents(&[opened(incident, &[])], t0()));
    ok!(store.latest_incidents(&[dataset]))
        .into_iter()
        .find(|i| i.check == check)
        .expect("the incident just written")
}
