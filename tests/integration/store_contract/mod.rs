//! The store contract (`tidemark::store::StoreApi`), one suite run against both stores: a
//! fresh SQLite file in a temporary folder and a fresh Postgres database. Each scenario is
//! an async function over a [`Fixture`]; `on_each_store!` declares it once per store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tidemark::distribution::{Bin, Count, Profile};
use tidemark::results::{Band, CheckResult, Outcome, Summary};
use tidemark::results::{Feedback, MetricPoint, SnapshotColumn};
use tidemark::results::{NewProfile, ProfileQuery, StoredProfile};
use tidemark::spec::Severity;
use tidemark::store::EdgesVersion;
use tidemark::store::{
    Claim, DEFAULT_SQLITE_PATH, FinishedRun, LEASE_EXPIRED, NewRun, Page, Paged, Pruned,
    ResultFilter, Retention, Run, RunFilter, RunStatus, Running, SchemaSnapshot, Store, StoreApi,
    StoreError, StoredResult, Trigger,
};
use uuid::Uuid;

use crate::support::{PgDb, incident};

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

// ---------------------------------------------------------------------------------------
// Migrations

async fn migrate_is_idempotent(f: &Fixture) {
    let store = &*f.store;
    ok!(store.migrate());
    let run = cli_run("orders", t0());
    assert_eq!(ok!(store.start_run(&run)), Claim::Started);
    ok!(store.migrate());
    // Opening migrates again, as each replica and each `tidemark run` does.
    let again = f.reopen().await;
    assert_eq!(ok!(again.run(run.id)), running(&run));
}

on_each_store!(
    migrate_is_idempotent,
    postgres: postgres_migrate_is_idempotent,
    sqlite: sqlite_migrate_is_idempotent,
);

// ---------------------------------------------------------------------------------------
// Runs and results

async fn runs_and_results_round_trip(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let new = NewRun {
        id: Uuid::new_v4(),
        batch_id: Uuid::new_v4(),
        dataset: "orders".into(),
        warehouse: "main".into(),
        trigger: Trigger::Schedule,
        slot: Some(slot),
        replica: "host-a:4242".into(),
        // Nanoseconds: the stores keep microseconds.
        started_at: at("2026-03-10T12:00:00.123456789Z"),
        lease_until: at("2026-03-10T12:01:00.5Z"),
    };
    assert_eq!(ok!(store.start_run(&new)), Claim::Started);
    let started = Run {
        started_at: at("2026-03-10T12:00:00.123456Z"),
        ..running(&new)
    };
    assert_eq!(ok!(store.run(new.id)), started);

    let results = vec![
        CheckResult {
            expected: Some(json!({"min": 1, "max": 10000})),
            message: "1234 rows".into(),
            ..check("orders", "row_count", Outcome::Pass, Some(1234.0))
        },
        CheckResult {
            kind: "unique".into(),
            columns: Some(vec!["customer_id".into(), "day".into()]),
            expected: Some(json!({"max": 0})),
            message: "3 duplicate keys".into(),
            severity: Some(Severity::Critical),
            ..check(
                "orders",
                "unique(customer_id, day)",
                Outcome::Fail,
                Some(3.0),
            )
        },
        CheckResult {
            kind: "avg".into(),
            column: Some("amount".into()),
            expected: Some(json!({"between": [0.25, 1e-7], "note": "ünïcode ' \" \\ ;--"})),
            message: "avg 0.30000000000000004 is high — ✓ 'quoted'".into(),
            severity: Some(Severity::Low),
            ..check("orders", "avg(amount)", Outcome::Warn, Some(0.1 + 0.2))
        },
        CheckResult {
            kind: "freshness".into(),
            column: Some("updated_at".into()),
            message: "connection refused".into(),
            severity: Some(Severity::Medium),
            ..check("orders", "freshness(updated_at)", Outcome::Error, None)
        },
        CheckResult {
            expected: Some(json!(null)),
            severity: Some(Severity::High),
            ..check("orders", "max(amount)", Outcome::Pass, Some(f64::MAX))
        },
        check(
            "orders",
            "min(amount)",
            Outcome::Pass,
            Some(f64::MIN_POSITIVE),
        ),
        // Not finite: kept as null, as JSON prints it.
        check("orders", "change", Outcome::Warn, Some(f64::INFINITY)),
        check("orders", "ratio", Outcome::Warn, Some(f64::NAN)),
    ];
    let columns = vec![
        SnapshotColumn {
            name: "id".into(),
            data_type: "integer".into(),
        },
        SnapshotColumn {
            name: "amount".into(),
            data_type: "numeric(10,2)".into(),
        },
    ];
    let finished_at = at("2026-03-10T12:00:07.654321Z");
    let finished = FinishedRun {
        snapshot: Some(columns.clone()),
        ..completed(&new, finished_at, &results)
    };
    ok!(store.finish_run(&finished));

    let done = Run {
        status: RunStatus::Completed,
        finished_at: Some(finished_at),
        summary: Summary {
            pass: 3,
            warn: 3,
            fail: 1,
            error: 1,
        },
        ..started.clone()
    };
    assert_eq!(ok!(store.run(new.id)), done);
    assert_eq!(
        all_runs(store, &RunFilter::default()).await,
        vec![done.clone()]
    );

    let by_run = ResultFilter {
        run_id: Some(new.id),
        ..ResultFilter::default()
    };
    let mut stored = all_results(store, &by_run).await;
    stored.reverse(); // newest first; ids increase with insertion
    assert!(
        stored.windows(2).all(|w| w[0].id < w[1].id),
        "{:?}",
        ids(&stored)
    );
    let expected: Vec<StoredResult> = results
        .iter()
        .zip(&stored)
        .map(|(r, s)| StoredResult {
            id: s.id,
            run_id: new.id,
            check_hash: hash_of(r),
            observed_at: finished_at,
            result: CheckResult {
                value: r.value.filter(|v| v.is_finite()),
                ..r.clone()
            },
        })
        .collect();
    assert_eq!(stored, expected);

    // A metric point for every finite value, at the run's finish.
    let point = |value| vec![plain_point(finished_at, value)];
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", None)),
        point(1234.0)
    );
    assert_eq!(
        ok!(store.metric_series("orders", "avg(amount)", None)),
        point(0.1 + 0.2)
    );
    assert_eq!(
        ok!(store.metric_series("orders", "max(amount)", None)),
        point(f64::MAX)
    );
    for no_value in ["freshness(updated_at)", "change", "ratio"] {
        assert_eq!(ok!(store.metric_series("orders", no_value, None)), vec![]);
    }
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")),
        Some(SchemaSnapshot {
            dataset: "orders".into(),
            warehouse: "main".into(),
            run_id: new.id,
            taken_at: finished_at,
            columns,
        })
    );

    // A run that could not complete: an error, no results, no snapshot.
    let broken = cli_run("orders", t0() + minutes(5));
    assert_eq!(ok!(store.start_run(&broken)), Claim::Started);
    let failed = FinishedRun {
        status: RunStatus::Failed,
        error: Some("could not connect: timed out after 10s".into()),
        ..completed(&broken, t0() + minutes(6), &[])
    };
    ok!(store.finish_run(&failed));
    assert_eq!(
        ok!(store.run(broken.id)),
        Run {
            status: RunStatus::Failed,
            finished_at: Some(t0() + minutes(6)),
            error: Some("could not connect: timed out after 10s".into()),
            ..running(&broken)
        }
    );
    let broken_results = ResultFilter {
        run_id: Some(broken.id),
        ..ResultFilter::default()
    };
    assert_eq!(all_results(store, &broken_results).await, vec![]);
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")).map(|s| s.run_id),
        Some(new.id)
    );

    // Finishing twice is refused and leaves the first record alone.
    let again = store.finish_run(&finished).await;
    assert!(matches!(again, Err(StoreError::Query(_))), "{again:?}");
    assert_eq!(ok!(store.run(new.id)), done);
    assert_eq!(all_results(store, &by_run).await.len(), results.len());
    // A run cannot finish as running, nor can an unknown run finish.
    let unfinished = FinishedRun {
        status: RunStatus::Running,
        ..completed(&cli_run("orders", t0()), t0(), &[])
    };
    assert!(matches!(
        store.finish_run(&unfinished).await,
        Err(StoreError::Query(_))
    ));
    let unknown = completed(&cli_run("orders", t0()), t0(), &results);
    assert!(matches!(
        store.finish_run(&unknown).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.run(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    ));
}

on_each_store!(
    runs_and_results_round_trip,
    postgres: postgres_runs_and_results_round_trip,
    sqlite: sqlite_runs_and_results_round_trip,
);

// ---------------------------------------------------------------------------------------
// The slot claim

async fn a_slot_is_claimed_once(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let first = new_run("orders", Trigger::Schedule, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&first)), Claim::Started);
    let rival = NewRun {
        replica: "host-b:99".into(),
        ..new_run("orders", Trigger::Schedule, Some(slot), t0() + minutes(1))
    };
    assert_eq!(ok!(store.start_run(&rival)), Claim::AlreadyClaimed);
    let orders = RunFilter {
        dataset: Some("orders".into()),
        ..RunFilter::default()
    };
    assert_eq!(all_runs(store, &orders).await, vec![running(&first)]);
    assert!(matches!(
        store.run(rival.id).await,
        Err(StoreError::NotFound)
    ));

    // Other datasets and other slots are claims of their own.
    let customers = new_run("customers", Trigger::Schedule, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&customers)), Claim::Started);
    let next = new_run("orders", Trigger::Schedule, Some(slot + minutes(1)), t0());
    assert_eq!(ok!(store.start_run(&next)), Claim::Started);

    // Runs from the CLI or the API have no slot and never conflict, with anything.
    for trigger in [Trigger::Cli, Trigger::Cli, Trigger::Manual, Trigger::Manual] {
        let run = new_run("orders", trigger, None, t0());
        assert_eq!(ok!(store.start_run(&run)), Claim::Started, "{trigger:?}");
    }
    let cli_in_slot = new_run("orders", Trigger::Cli, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&cli_in_slot)), Claim::Started);
    // Retries carry the slot they retry, as often as it takes, and claim nothing.
    for _ in 0..2 {
        let retry = new_run("orders", Trigger::Retry, Some(slot), t0());
        assert_eq!(ok!(store.start_run(&retry)), Claim::Started);
        let stored = ok!(store.run(retry.id));
        assert_eq!((stored.trigger, stored.slot), (Trigger::Retry, Some(slot)));
    }
    let retry_ahead = new_run("orders", Trigger::Retry, Some(slot + minutes(5)), t0());
    assert_eq!(ok!(store.start_run(&retry_ahead)), Claim::Started);
    assert_eq!(all_runs(store, &orders).await.len(), 10);

    // A finished slot stays claimed.
    ok!(store.finish_run(&completed(&first, t0() + minutes(2), &[])));
    let late = new_run("orders", Trigger::Schedule, Some(slot), t0() + minutes(3));
    assert_eq!(ok!(store.start_run(&late)), Claim::AlreadyClaimed);

    assert_eq!(ok!(store.last_slot("orders")), Some(slot + minutes(1)));
    assert_eq!(ok!(store.last_slot("customers")), Some(slot));
    record(store, "cli_only", t0(), &[]).await;
    assert_eq!(ok!(store.last_slot("cli_only")), None);
    assert_eq!(ok!(store.last_slot("unknown")), None);
}

on_each_store!(
    a_slot_is_claimed_once,
    postgres: postgres_a_slot_is_claimed_once,
    sqlite: sqlite_a_slot_is_claimed_once,
);

async fn concurrent_claims_start_one_run(f: &Fixture) {
    // Two replicas (two pools on one store), twenty tasks racing for one slot.
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let slot = at("2026-03-10T12:05:00Z");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = replicas[i % 2].clone();
            let run = NewRun {
                replica: format!("replica-{i}"),
                ..new_run("orders", Trigger::Schedule, Some(slot), t0())
            };
            tokio::spawn(async move { (run.id, store.start_run(&run).await) })
        })
        .collect();
    let mut started = Vec::new();
    for task in tasks {
        let (id, claim) = task.await.expect("join a claiming task");
        match claim.unwrap_or_else(|e| panic!("start_run: {e}")) {
            Claim::Started => started.push(id),
            Claim::AlreadyClaimed => {}
        }
    }
    assert_eq!(started.len(), 1, "exactly one claim wins: {started:?}");
    let runs = all_runs(&f.store, &RunFilter::default()).await;
    assert_eq!(run_ids(&runs), started);
}

on_each_store!(
    concurrent_claims_start_one_run,
    postgres: postgres_concurrent_claims_start_one_run,
    sqlite: sqlite_concurrent_claims_start_one_run,
);

async fn slots_are_claimed_in_batches_once(f: &Fixture) {
    // Two replicas claim the same 1,500 slots (more than one statement's worth) at once,
    // as two servers do at a tick; each slot goes to exactly one of them.
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let slot = at("2026-03-10T12:10:00Z");
    let batch = |replica: &str| -> Vec<NewRun> {
        (0..1_500)
            .map(|i| NewRun {
                replica: replica.to_owned(),
                ..new_run(&format!("t{i:04}"), Trigger::Schedule, Some(slot), t0())
            })
            .collect()
    };
    let (a, b) = (batch("replica-a"), batch("replica-b"));
    let (won_a, won_b) = tokio::join!(replicas[0].start_runs(&a), replicas[1].start_runs(&b));
    let (won_a, won_b) = (won_a.expect("claim a"), won_b.expect("claim b"));
    assert_eq!(won_a.len() + won_b.len(), 1_500, "every slot claimed once");
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            before,
        };
        let runs = ok!(f.store.runs(&RunFilter::default(), page));
        stored.extend(run_ids(&runs.items));
        match runs.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let mut winners: Vec<Uuid> = won_a.iter().chain(&won_b).copied().collect();
    stored.sort();
    winners.sort();
    assert_eq!(stored, winners, "the ids returned are the runs stored");

    // Claimed slots stay claimed; runs without a slot always start.
    let again = vec![
        new_run("t0001", Trigger::Schedule, Some(slot), t0()),
        new_run("t0001", Trigger::Schedule, Some(slot + minutes(1)), t0()),
        cli_run("t0001", t0()),
    ];
    let mut started = ok!(f.store.start_runs(&again));
    let mut expected = vec![again[1].id, again[2].id];
    started.sort();
    expected.sort();
    assert_eq!(started, expected);
    assert_eq!(ok!(f.store.start_runs(&[])), Vec::<Uuid>::new());
}

on_each_store!(
    slots_are_claimed_in_batches_once,
    postgres: postgres_slots_are_claimed_in_batches_once,
    sqlite: sqlite_slots_are_claimed_in_batches_once,
);

async fn running_lists_live_runs_and_leases_renew_together(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let live = new_run("orders", Trigger::Schedule, Some(slot), t0()); // lease t0 + 1 min
    let waiting = cli_run("customers", t0());
    let done = cli_run("events", t0());
    assert_eq!(
        ok!(store.start_runs(&[live.clone(), waiting.clone(), done.clone()])).len(),
        3
    );
    ok!(store.finish_run(&completed(&done, t0() + minutes(1), &[])));
    let running = |dataset: &str, slot| Running {
        dataset: dataset.to_owned(),
        slot,
        replica: "test-host:4242".to_owned(),
    };
    let mut now_running = ok!(store.running(t0()));
    now_running.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    assert_eq!(
        now_running,
        vec![running("customers", None), running("orders", Some(slot))]
    );

    // One statement renews many leases; unknown and finished runs are passed over.
    let later = t0() + minutes(5);
    ok!(store.renew_leases(&[live.id, waiting.id, done.id, Uuid::new_v4()], later));
    assert_eq!(ok!(store.run(live.id)).lease_until, later);
    assert_eq!(ok!(store.run(waiting.id)).lease_until, later);
    assert_eq!(ok!(store.run(done.id)).lease_until, t0() + minutes(1));
    ok!(store.renew_leases(&[], later));

    // A run whose lease lapsed is not going any more, whatever its status says.
    assert_eq!(ok!(store.running(later)), vec![]);
}

on_each_store!(
    running_lists_live_runs_and_leases_renew_together,
    postgres: postgres_running_lists_live_runs_and_leases_renew_together,
    sqlite: sqlite_running_lists_live_runs_and_leases_renew_together,
);

// ---------------------------------------------------------------------------------------
// Leases

async fn heartbeats_extend_the_lease(f: &Fixture) {
    let store = &*f.store;
    let run = cli_run("orders", t0()); // lease until t0 + 1 min
    assert_eq!(ok!(store.start_run(&run)), Claim::Started);
    ok!(store.heartbeat(run.id, t0() + minutes(3)));
    assert_eq!(ok!(store.run(run.id)).lease_until, t0() + minutes(3));
    // Expired under the first lease, alive under the renewed one.
    assert_eq!(ok!(store.expire_leases(t0() + minutes(2))), vec![]);
    assert_eq!(ok!(store.run(run.id)).status, RunStatus::Running);

    // Only a running run has a lease to renew.
    ok!(store.finish_run(&completed(&run, t0() + minutes(2), &[])));
    let finished = store.heartbeat(run.id, t0() + minutes(9)).await;
    assert!(
        matches!(finished, Err(StoreError::NotFound)),
        "{finished:?}"
    );
    assert_eq!(ok!(store.run(run.id)).lease_until, t0() + minutes(3));
    let unknown = store.heartbeat(Uuid::new_v4(), t0()).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

on_each_store!(
    heartbeats_extend_the_lease,
    postgres: postgres_heartbeats_extend_the_lease,
    sqlite: sqlite_heartbeats_extend_the_lease,
);

async fn expired_leases_abandon_running_runs(f: &Fixture) {
    let store = &*f.store;
    let now = t0() + minutes(10);
    let with_lease = |dataset: &str, lease_until| NewRun {
        lease_until,
        ..cli_run(dataset, t0())
    };
    let a = with_lease("a", now - TimeDelta::microseconds(1));
    let b = with_lease("b", now - minutes(5));
    let on_the_dot = with_lease("c", now);
    let alive = with_lease("d", now + minutes(1));
    let finished = with_lease("e", now - minutes(5));
    for run in [&a, &b, &on_the_dot, &alive, &finished] {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    ok!(store.finish_run(&completed(&finished, t0() + minutes(1), &[])));

    let abandoned = |run: &NewRun| Run {
        status: RunStatus::Abandoned,
        error: Some(LEASE_EXPIRED.into()),
        ..running(run)
    };
    assert_eq!(
        ok!(store.expire_leases(now)),
        vec![abandoned(&a), abandoned(&b)]
    );
    assert_eq!(ok!(store.run(a.id)), abandoned(&a));
    assert_eq!(ok!(store.run(on_the_dot.id)), running(&on_the_dot));
    assert_eq!(ok!(store.run(alive.id)), running(&alive));
    assert_eq!(ok!(store.run(finished.id)).status, RunStatus::Completed);
    assert_eq!(ok!(store.run(finished.id)).error, None);
    // Each expiry is reported once.
    assert_eq!(ok!(store.expire_leases(now)), vec![]);
    let by_status = RunFilter {
        status: Some(RunStatus::Abandoned),
        ..RunFilter::default()
    };
    assert_eq!(run_ids(&all_runs(store, &by_status).await), [b.id, a.id]);

    // The abandoned run's replica learns of it at its next heartbeat...
    assert!(matches!(
        store.heartbeat(b.id, now + minutes(1)).await,
        Err(StoreError::NotFound)
    ));
    // ...and if it still finishes, its results are kept, not lost.
    let late = [check("a", "row_count", Outcome::Pass, Some(5.0))];
    ok!(store.finish_run(&completed(&a, now + minutes(1), &late)));
    let a_now = ok!(store.run(a.id));
    assert_eq!(
        (a_now.status, a_now.error, a_now.summary.pass),
        (RunStatus::Completed, None, 1)
    );

    // Replicas expiring at the same time share the expired runs out, each to one of them.
    let many: Vec<NewRun> = (0..10)
        .map(|i| with_lease(&format!("many{i}"), now - minutes(1)))
        .collect();
    for run in &many {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let tasks: Vec<_> = replicas
        .iter()
        .cycle()
        .take(4)
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.expire_leases(now).await })
        })
        .collect();
    let mut expired = Vec::new();
    for task in tasks {
        let runs = task.await.expect("join").unwrap_or_else(|e| panic!("{e}"));
        expired.extend(run_ids(&runs));
    }
    expired.sort();
    let mut want: Vec<Uuid> = many.iter().map(|r| r.id).collect();
    want.sort();
    assert_eq!(expired, want);
}

on_each_store!(
    expired_leases_abandon_running_runs,
    postgres: postgres_expired_leases_abandon_running_runs,
    sqlite: sqlite_expired_leases_abandon_running_runs,
);

// ---------------------------------------------------------------------------------------
// Listing: filters and paging

const CHECKS: [&str; 3] = ["row_count", "nulls(email)", "freshness"];
const OUTCOMES: [Outcome; 4] = [Outcome::Pass, Outcome::Warn, Outcome::Fail, Outcome::Error];

/// Six runs an hour apart, alternating orders and customers, three results each with
/// outcomes cycling pass, warn, fail, error: eighteen results. Returns the runs.
async fn seed_history(store: &Store) -> Vec<NewRun> {
    let mut runs = Vec::new();
    for i in 0..6 {
        let dataset = if i % 2 == 0 { "orders" } else { "customers" };
        let results: Vec<CheckResult> = CHECKS
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let n = i * 3 + j;
                check(dataset, name, OUTCOMES[n % 4], Some(n as f64))
            })
            .collect();
        let started = t0() + TimeDelta::hours(i as i64);
        runs.push(record(store, dataset, started, &results).await);
    }
    runs
}

/// When seeded run `i` finished (its results' `observed_at`).
fn observed(i: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(i) + TimeDelta::seconds(1)
}

async fn results_filter_and_page(f: &Fixture) {
    let store = &*f.store;
    let runs = seed_history(store).await;
    let everything = all_results(store, &ResultFilter::default()).await;
    // Newest first, exactly as written.
    let mut written = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for (j, name) in CHECKS.iter().enumerate() {
            let outcome = OUTCOMES[(i * 3 + j) % 4];
            written.push((run.id, name.to_string(), outcome, observed(i as i64)));
        }
    }
    written.reverse();
    let got: Vec<_> = everything
        .iter()
        .map(|r| {
            (
                r.run_id,
                r.result.check.clone(),
                r.result.outcome,
                r.observed_at,
            )
        })
        .collect();
    assert_eq!(got, written);
    assert!(everything.windows(2).all(|w| w[0].id > w[1].id));

    // Each filter returns exactly the matching results, newest first.
    let keep = |pred: &dyn Fn(&StoredResult) -> bool| -> Vec<i64> {
        everything
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.id)
            .collect()
    };
    let cases: Vec<(ResultFilter, Vec<i64>, usize)> = vec![
        (
            ResultFilter {
                dataset: Some("orders".into()),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.dataset == "orders"),
            9,
        ),
        (
            ResultFilter {
                check: Some("nulls(email)".into()),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.check == "nulls(email)"),
            6,
        ),
        (
            ResultFilter {
                outcome: Some(Outcome::Fail),
                ..ResultFilter::default()
            },
            keep(&|r| r.result.outcome == Outcome::Fail),
            4,
        ),
        (
            ResultFilter {
                run_id: Some(runs[3].id),
                ..ResultFilter::default()
            },
            keep(&|r| r.run_id == runs[3].id),
            3,
        ),
        // since is inclusive, until exclusive
        (
            ResultFilter {
                since: Some(observed(2)),
                until: Some(observed(4)),
                ..ResultFilter::default()
            },
            keep(&|r| r.run_id == runs[2].id || r.run_id == runs[3].id),
            6,
        ),
        (
            ResultFilter {
                dataset: Some("customers".into()),
                check: Some("row_count".into()),
                outcome: Some(Outcome::Warn),
                since: Some(observed(1)),
                ..ResultFilter::default()
            },
            keep(&|r| {
                r.result.dataset == "customers"
                    && r.result.check == "row_count"
                    && r.result.outcome == Outcome::Warn
            }),
            1,
        ),
        (
            ResultFilter {
                dataset: Some("nobody".into()),
                ..ResultFilter::default()
            },
            vec![],
            0,
        ),
    ];
    for (filter, want, count) in cases {
        assert_eq!(want.len(), count, "{filter:?}");
        assert_eq!(ids(&all_results(store, &filter).await), want, "{filter:?}");
    }

    // Walking pages gives every result once, in order, and stops.
    let all_ids = ids(&everything);
    let no_filter = ResultFilter::default();
    let by_id = |r: &StoredResult| r.id;
    let (keys, sizes) = walk(4, by_id, |page| store.results(&no_filter, page)).await;
    assert_eq!((keys, sizes), (all_ids.clone(), vec![4, 4, 4, 4, 2]));
    // A last page that is exactly full still ends the walk.
    let (keys, sizes) = walk(6, by_id, |page| store.results(&no_filter, page)).await;
    assert_eq!((keys, sizes), (all_ids.clone(), vec![6, 6, 6]));
    let orders = ResultFilter {
        dataset: Some("orders".into()),
        ..ResultFilter::default()
    };
    let (keys, sizes) = walk(5, by_id, |page| store.results(&orders, page)).await;
    assert_eq!(keys, keep(&|r| r.result.dataset == "orders"));
    assert_eq!(sizes, vec![5, 4]);
    // Limits are clamped into 1..=MAX_LIMIT.
    let (_, sizes) = walk(0, by_id, |page| store.results(&orders, page)).await;
    assert_eq!(sizes, vec![1; 9]);
    let huge = ok!(store.results(
        &no_filter,
        Page {
            limit: 100_000,
            before: None
        }
    ));
    assert_eq!((ids(&huge.items), huge.next), (all_ids.clone(), None));
    // `before` starts below any id, whether or not it exists.
    let middle = ok!(store.results(
        &no_filter,
        Page {
            limit: 3,
            before: Some(all_ids[5])
        }
    ));
    assert_eq!(ids(&middle.items), all_ids[6..9].to_vec());
    assert_eq!(middle.next, Some(all_ids[8]));
    let past_the_end = ok!(store.results(
        &no_filter,
        Page {
            limit: 3,
            before: Some(all_ids[17])
        }
    ));
    assert_eq!(
        past_the_end,
        Paged {
            items: vec![],
            next: None
        }
    );
}

on_each_store!(
    results_filter_and_page,
    postgres: postgres_results_filter_and_page,
    sqlite: sqlite_results_filter_and_page,
);

async fn runs_filter_and_page(f: &Fixture) {
    let store = &*f.store;
    let mut seeded = seed_history(store).await;
    let manual = new_run("orders", Trigger::Manual, None, t0() + TimeDelta::hours(7));
    assert_eq!(ok!(store.start_run(&manual)), Claim::Started);
    seeded.push(manual.clone());
    let newest_first: Vec<Uuid> = seeded.iter().rev().map(|r| r.id).collect();

    let everything = all_runs(store, &RunFilter::default()).await;
    assert_eq!(run_ids(&everything), newest_first);

    // The runs' paging key is internal: collect ids page by page instead.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = ok!(store.runs(&RunFilter::default(), Page { limit: 3, before }));
        pages.push(run_ids(&page.items));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), newest_first);

    let customers = RunFilter {
        dataset: Some("customers".into()),
        ..RunFilter::default()
    };
    assert_eq!(
        run_ids(&all_runs(store, &customers).await),
        [seeded[5].id, seeded[3].id, seeded[1].id]
    );
    let running_runs = RunFilter {
        status: Some(RunStatus::Running),
        ..RunFilter::default()
    };
    assert_eq!(run_ids(&all_runs(store, &running_runs).await), [manual.id]);
    let manual_orders = RunFilter {
        dataset: Some("orders".into()),
        trigger: Some(Trigger::Manual),
        status: Some(RunStatus::Running),
    };
    assert_eq!(run_ids(&all_runs(store, &manual_orders).await), [manual.id]);
    let scheduled = RunFilter {
        trigger: Some(Trigger::Schedule),
        ..RunFilter::default()
    };
    assert_eq!(all_runs(store, &scheduled).await, vec![]);
}

on_each_store!(
    runs_filter_and_page,
    postgres: postgres_runs_filter_and_page,
    sqlite: sqlite_runs_filter_and_page,
);

// ---------------------------------------------------------------------------------------
// Current health, metric series, schema history

async fn latest_results_are_the_newest_per_check(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.latest_results()), vec![]);
    let mut version = ok!(store.latest_results_version());
    // Every run that stores a result moves the version on; one that stores none does not.
    let mut moved_on = async |expected: bool| {
        let now = ok!(store.latest_results_version());
        assert_eq!(now > version, expected, "version {version} then {now}");
        version = now;
    };
    record(store, "idle", t0(), &[]).await;
    moved_on(false).await;
    let first = record(
        store,
        "orders",
        t0(),
        &[
            check("orders", "row_count", Outcome::Pass, Some(10.0)),
            check("orders", "nulls(email)", Outcome::Fail, Some(2.0)),
        ],
    )
    .await;
    let customers = record(
        store,
        "customers",
        t0() + minutes(1),
        &[check("customers", "row_count", Outcome::Pass, Some(5.0))],
    )
    .await;
    moved_on(true).await;
    // The second orders run has no nulls result: the first run's stays current.
    let second = record(
        store,
        "orders",
        t0() + minutes(2),
        &[check("orders", "row_count", Outcome::Warn, Some(11.0))],
    )
    .await;
    moved_on(true).await;

    let everything = all_results(store, &ResultFilter::default()).await;
    let find = |run: &NewRun, name: &str| {
        everything
            .iter()
            .find(|r| r.run_id == run.id && r.result.check == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in run {}", run.id))
    };
    let latest = ok!(store.latest_results());
    let want = vec![
        find(&customers, "row_count"),
        find(&first, "nulls(email)"),
        find(&second, "row_count"),
    ];
    assert_eq!(latest, want);
    assert_eq!(latest[2].result.outcome, Outcome::Warn);
    assert_eq!(latest[2].result.value, Some(11.0));
}

on_each_store!(
    latest_results_are_the_newest_per_check,
    postgres: postgres_latest_results_are_the_newest_per_check,
    sqlite: sqlite_latest_results_are_the_newest_per_check,
);

async fn metric_series_are_ordered_by_time(f: &Fixture) {
    let store = &*f.store;
    // Recorded out of time order: the series is ordered by when values were observed.
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let point = |h: i64, value| plain_point(hour(h) + TimeDelta::seconds(1), value);
    for (h, value) in [(2, 20.0), (1, 10.0), (3, 30.0)] {
        let results = [
            check("orders", "row_count", Outcome::Pass, Some(value)),
            check("orders", "avg(amount)", Outcome::Pass, Some(value / 10.0)),
            check("orders", "freshness", Outcome::Error, None),
        ];
        record(store, "orders", hour(h), &results).await;
    }
    record(
        store,
        "customers",
        hour(2),
        &[check("customers", "row_count", Outcome::Pass, Some(99.0))],
    )
    .await;

    assert_eq!(
        ok!(store.metric_series("orders", "row_count", None)),
        vec![point(1, 10.0), point(2, 20.0), point(3, 30.0)]
    );
    // `since` is inclusive.
    let since = Some(point(2, 0.0).at);
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", since)),
        vec![point(2, 20.0), point(3, 30.0)]
    );
    assert_eq!(
        ok!(store.metric_series("orders", "avg(amount)", Some(hour(3)))),
        vec![point(3, 3.0)]
    );
    assert_eq!(
        ok!(store.metric_series("customers", "row_count", None)),
        vec![point(2, 99.0)]
    );
    assert_eq!(
        ok!(store.metric_series("orders", "freshness", None)),
        vec![]
    );
    assert_eq!(ok!(store.metric_series("orders", "unknown", None)), vec![]);
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", Some(hour(4)))),
        vec![]
    );
}

async fn anomaly_bands_and_feedback_are_kept(f: &Fixture) {
    let store = &*f.store;
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let judged = |value: f64, anomalous: bool| CheckResult {
        band: Some(Band {
            lower: 90.0,
            upper: 110.0,
            anomalous,
        }),
        ..check("orders", "row_count", Outcome::Pass, Some(value))
    };
    record(
        store,
        "orders",
        hour(1),
        &[check("orders", "row_count", Outcome::Pass, Some(95.0))],
    )
    .await;
    record(store, "orders", hour(2), &[judged(100.0, false)]).await;
    let spike = record(store, "orders", hour(3), &[judged(500.0, true)]).await;

    // The band is kept with the result and with its point.
    let results = all_results(store, &ResultFilter::default()).await;
    let spike_result = results
        .iter()
        .find(|r| r.run_id == spike.id)
        .expect("the spike");
    assert_eq!(spike_result.result.band, judged(500.0, true).band);
    let series = ok!(store.metric_series("orders", "row_count", None));
    let flags: Vec<_> = series
        .iter()
        .map(|p| (p.value, p.lower, p.upper, p.anomalous, p.trains()))
        .collect();
    assert_eq!(
        flags,
        vec![
            (95.0, None, None, false, true),
            (100.0, Some(90.0), Some(110.0), false, true),
            (500.0, Some(90.0), Some(110.0), true, false),
        ]
    );

    // Feedback on the spike's result marks its point; the detector then learns from it.
    ok!(store.mark_result(spike_result.id, Some(Feedback::Expected)));
    let history = ok!(store.metric_history("orders", "row_count", 2));
    assert_eq!(
        history.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![100.0, 500.0]
    );
    assert_eq!(history[1].feedback, Some(Feedback::Expected));
    assert!(history[1].trains());
    ok!(store.mark_result(spike_result.id, Some(Feedback::Incident)));
    assert!(!ok!(store.metric_history("orders", "row_count", 1))[0].trains());
    ok!(store.mark_result(spike_result.id, None));
    assert_eq!(
        ok!(store.metric_history("orders", "row_count", 1))[0].feedback,
        None
    );
    assert!(matches!(
        store.mark_result(999_999, Some(Feedback::Incident)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        ok!(store.metric_history("orders", "row_count", 10)).len(),
        3
    );
    assert_eq!(
        ok!(store.metric_history("unknown", "row_count", 10)),
        vec![]
    );

    // An accepted level shift marks the anomalies from its start on, and only those.
    ok!(store.accept_shift("orders", "row_count", hour(2)));
    let shifts: Vec<_> = ok!(store.metric_history("orders", "row_count", 10))
        .iter()
        .map(|p| (p.value, p.shift, p.trains()))
        .collect();
    assert_eq!(
        shifts,
        vec![
            (95.0, false, true),
            (100.0, false, true),
            (500.0, true, true)
        ]
    );
}

on_each_store!(
    anomaly_bands_and_feedback_are_kept,
    postgres: postgres_anomaly_bands_and_feedback_are_kept,
    sqlite: sqlite_anomaly_bands_and_feedback_are_kept,
);

on_each_store!(
    metric_series_are_ordered_by_time,
    postgres: postgres_metric_series_are_ordered_by_time,
    sqlite: sqlite_metric_series_are_ordered_by_time,
);

fn columns(spec: &[(&str, &str)]) -> Vec<SnapshotColumn> {
    spec.iter()
        .map(|(name, data_type)| SnapshotColumn {
            name: name.to_string(),
            data_type: data_type.to_string(),
        })
        .collect()
}

async fn snapshots_and_schema_history(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.latest_snapshot("orders", "main")), None);
    assert_eq!(ok!(store.schema_history("orders")), vec![]);

    let a = columns(&[("id", "integer"), ("email", "text")]);
    let b = columns(&[("id", "integer"), ("email", "text"), ("phone", "text")]);
    let a_retyped = columns(&[("id", "integer"), ("email", "varchar(80)")]);
    let reordered = columns(&[("email", "text"), ("id", "integer")]);
    let mut snapshots = Vec::new();
    // (minute, warehouse, columns): the archive copy first, then main's history.
    let history = [
        (0, "archive", Some(&a)),
        (1, "main", Some(&a)),
        (2, "main", Some(&a)),
        (3, "main", Some(&b)),
        (4, "main", None),
        (5, "main", Some(&b)),
        (6, "main", Some(&a_retyped)),
        (7, "main", Some(&reordered)),
        (8, "main", Some(&reordered)),
    ];
    for (minute, warehouse, cols) in history {
        let run = NewRun {
            warehouse: warehouse.into(),
            ..cli_run("orders", t0() + minutes(minute))
        };
        assert_eq!(ok!(store.start_run(&run)), Claim::Started);
        let taken_at = t0() + minutes(minute) + TimeDelta::seconds(30);
        let finished = FinishedRun {
            snapshot: cols.cloned(),
            ..completed(&run, taken_at, &[])
        };
        ok!(store.finish_run(&finished));
        if let Some(cols) = cols {
            snapshots.push(SchemaSnapshot {
                dataset: "orders".into(),
                warehouse: warehouse.into(),
                run_id: run.id,
                taken_at,
                columns: cols.clone(),
            });
        }
    }
    // Another dataset's snapshot is not part of this history.
    let other = cli_run("customers", t0() + minutes(3));
    assert_eq!(ok!(store.start_run(&other)), Claim::Started);
    let other_done = FinishedRun {
        snapshot: Some(b.clone()),
        ..completed(&other, t0() + minutes(3), &[])
    };
    ok!(store.finish_run(&other_done));

    // snapshots: [archive a, a@1, a@2, b@3, b@5, a_retyped@6, reordered@7, reordered@8]
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")),
        Some(snapshots[7].clone())
    );
    assert_eq!(
        ok!(store.latest_snapshot("orders", "archive")),
        Some(snapshots[0].clone())
    );
    assert_eq!(ok!(store.latest_snapshot("orders", "elsewhere")), None);
    // Unchanged snapshots collapse into the first of their kind; a move to another
    // warehouse counts as a change.
    let changes: Vec<SchemaSnapshot> = [6, 5, 3, 1, 0]
        .map(|i| snapshots[i].clone())
        .into_iter()
        .collect();
    assert_eq!(ok!(store.schema_history("orders")), changes);
    assert_eq!(
        ok!(store.schema_history("customers")),
        vec![SchemaSnapshot {
            dataset: "customers".into(),
            warehouse: "main".into(),
            run_id: other.id,
            taken_at: t0() + minutes(3),
            columns: b,
        }]
    );
}

on_each_store!(
    snapshots_and_schema_history,
    postgres: postgres_snapshots_and_schema_history,
    sqlite: sqlite_snapshots_and_schema_history,
);

// ---------------------------------------------------------------------------------------
// Tokens and retention

async fn tokens_are_known_by_hash(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.token_name("sha256:abc")), None);
    ok!(store.create_token("ci", "sha256:abc"));
    assert_eq!(ok!(store.token_name("sha256:abc")).as_deref(), Some("ci"));
    assert_eq!(ok!(store.token_name("sha256:abd")), None);
    assert_eq!(ok!(store.token_name("")), None);
    // Names may repeat; hashes may not.
    ok!(store.create_token("ci", "sha256:def"));
    assert_eq!(ok!(store.token_name("sha256:def")).as_deref(), Some("ci"));
    match store.create_token("other", "sha256:abc").await {
        Err(StoreError::Query(message)) => {
            assert!(!message.contains("sha256:abc"), "{message}")
        }
        other => panic!("a second token with the same hash: {other:?}"),
    }
}

on_each_store!(
    tokens_are_known_by_hash,
    postgres: postgres_tokens_are_known_by_hash,
    sqlite: sqlite_tokens_are_known_by_hash,
);

async fn sessions_live_until_they_expire_or_end(f: &Fixture) {
    let store = &*f.store;
    let now = Utc::now();
    let owner = Some("dashboard".to_owned());
    ok!(store.create_token("dashboard", "token-hash"));
    ok!(store.create_session("session-a", "token-hash", now + TimeDelta::hours(12)));
    assert_eq!(ok!(store.session_owner("session-a", now)), owner);
    // Another replica sharing the store knows the session.
    let replica = f.reopen().await;
    assert_eq!(ok!(replica.session_owner("session-a", now)), owner);
    assert_eq!(
        ok!(store.session_owner("session-a", now + TimeDelta::hours(12))),
        None
    );
    assert_eq!(ok!(store.session_owner("session-b", now)), None);

    // An expired session is no session, and is cleared out when the next one opens.
    ok!(store.create_session("session-old", "token-hash", now - minutes(1)));
    assert_eq!(ok!(store.session_owner("session-old", now)), None);
    ok!(store.create_session("session-b", "token-hash", now + minutes(5)));
    assert_eq!(ok!(store.session_owner("session-b", now)), owner);

    ok!(store.delete_session("session-a"));
    assert_eq!(ok!(replica.session_owner("session-a", now)), None);
    assert_eq!(ok!(store.session_owner("session-b", now)), owner);
    ok!(store.delete_session("session-a"));

    // A session belongs to a stored token.
    assert!(
        store
            .create_session("session-c", "no-such-token", now + minutes(5))
            .await
            .is_err()
    );
    assert_eq!(ok!(store.session_owner("session-c", now)), None);
}

on_each_store!(
    sessions_live_until_they_expire_or_end,
    postgres: postgres_sessions_live_until_they_expire_or_end,
    sqlite: sqlite_sessions_live_until_they_expire_or_end,
);

async fn prune_keeps_what_retention_keeps(f: &Fixture) {
    let store = &*f.store;
    let now = at("2026-06-01T00:00:00Z");
    let ago = |d: i64| now - TimeDelta::days(d);
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let snapshot = |run: &NewRun, cols: Vec<SnapshotColumn>, results: &[CheckResult]| FinishedRun {
        snapshot: Some(cols),
        ..completed(run, run.started_at + TimeDelta::seconds(1), results)
    };
    let values = |dataset: &str, n: usize| -> Vec<CheckResult> {
        (0..n)
            .map(|i| check(dataset, &format!("c{i}"), Outcome::Pass, Some(i as f64)))
            .collect()
    };

    // 40 days old: the run, its results and snapshot, and its metric points all go.
    let r40 = cli_run("orders", ago(40));
    // 20 days old: the run goes, its metric points stay.
    let r20 = cli_run("orders", ago(20));
    // 15 days old and abandoned: goes.
    let r15 = cli_run("orders", ago(15));
    // 12 days old and still running: stays.
    let r12 = NewRun {
        lease_until: now + minutes(1),
        ..cli_run("orders", ago(12))
    };
    // Exactly at the cut-off: stays (only older goes).
    let r10 = cli_run("orders", ago(10));
    // 5 days old: stays.
    let r5 = cli_run("orders", ago(5));
    for run in [&r40, &r20, &r15, &r12, &r10, &r5] {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    ok!(store.finish_run(&snapshot(
        &r40,
        columns(&[("a", "int")]),
        &values("orders", 2)
    )));
    ok!(store.finish_run(&snapshot(
        &r20,
        columns(&[("b", "int")]),
        &values("orders", 3)
    )));
    assert_eq!(run_ids(&ok!(store.expire_leases(ago(14)))), [r15.id]);
    ok!(store.finish_run(&completed(&r10, r10.started_at, &values("orders", 1))));
    ok!(store.finish_run(&snapshot(
        &r5,
        columns(&[("c", "int")]),
        &values("orders", 1)
    )));

    assert_eq!(
        ok!(store.prune(now, retention)),
        Pruned {
            runs: 3,
            results: 5,
            metric_points: 2,
            snapshots: 2,
            ..Pruned::default()
        }
    );
    for gone in [&r40, &r20, &r15] {
        assert!(matches!(
            store.run(gone.id).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(ok!(store.run(r12.id)).status, RunStatus::Running);
    let kept = all_runs(store, &RunFilter::default()).await;
    assert_eq!(run_ids(&kept), [r5.id, r10.id, r12.id]);
    let results = all_results(store, &ResultFilter::default()).await;
    let result_runs: Vec<Uuid> = results.iter().map(|r| r.run_id).collect();
    assert_eq!(result_runs, [r5.id, r10.id]);
    // c0 had a point from every finished run; c2 only from r20 (kept: within 30 days).
    let c0: Vec<DateTime<Utc>> = ok!(store.metric_series("orders", "c0", None))
        .iter()
        .map(|p| p.at)
        .collect();
    let second = TimeDelta::seconds(1);
    assert_eq!(c0, [ago(20) + second, ago(10), ago(5) + second]);
    assert_eq!(
        ok!(store.metric_series("orders", "c2", None)),
        vec![plain_point(ago(20) + second, 2.0)]
    );
    let history = ok!(store.schema_history("orders"));
    assert_eq!(
        history.iter().map(|s| s.run_id).collect::<Vec<_>>(),
        [r5.id]
    );

    // Nothing left to prune; a retention longer than all time prunes nothing.
    assert_eq!(ok!(store.prune(now, retention)), Pruned::default());
    let forever = Retention {
        results: Duration::MAX,
        metrics: Duration::MAX,
    };
    assert_eq!(ok!(store.prune(now, forever)), Pruned::default());
    // The stuck run goes once it is abandoned.
    assert_eq!(
        run_ids(&ok!(store.expire_leases(now + minutes(2)))),
        [r12.id]
    );
    assert_eq!(ok!(store.prune(now, retention)).runs, 1);
}

on_each_store!(
    prune_keeps_what_retention_keeps,
    postgres: postgres_prune_keeps_what_retention_keeps,
    sqlite: sqlite_prune_keeps_what_retention_keeps,
);

// ---------------------------------------------------------------------------------------
// Opening stores

#[tokio::test]
async fn store_errors_never_show_the_url() {
    // Nothing listens on port 1.
    let url = "postgres://tidemark:hunter2-secret@127.0.0.1:1/tidemark";
    match Store::open(Some(url), Path::new(".")).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(!message.contains("hunter2"), "{message}");
            assert!(!message.contains(url), "{message}");
        }
        Err(other) => panic!("expected unavailable, got {other:?}"),
        Ok(_) => panic!("connected to port 1"),
    }
    let bad_port = "postgres://tidemark:hunter2-secret@127.0.0.1:notaport/tidemark";
    match Store::open(Some(bad_port), Path::new(".")).await {
        Err(error) => assert!(!error.to_string().contains("hunter2"), "{error}"),
        Ok(_) => panic!("a URL with a bad port opened"),
    }
    assert!(matches!(
        Store::open(Some("mysql://root@127.0.0.1/x"), Path::new(".")).await,
        Err(StoreError::UnsupportedUrl)
    ));
}

#[tokio::test]
async fn the_sqlite_store_creates_its_folder_and_uses_wal() {
    let dir = tempfile::Builder::new()
        .prefix("tidemark-store-")
        .tempdir()
        .expect("create a temporary directory");
    let store = Store::open(None, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.kind(), "sqlite");
    let path = dir.path().join(DEFAULT_SQLITE_PATH);
    assert!(path.is_file(), "{} is missing", path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("open the store file");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("read the journal mode");
    assert_eq!(mode, "wal");
    // Foreign keys are declared (and the store enables them on its connections).
    let references: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_list('check_results')")
            .fetch_one(&pool)
            .await
            .expect("list foreign keys");
    assert_eq!(references, 1);

    let nested = Store::open(Some("sqlite:nested/deeper/history.db"), dir.path()).await;
    nested.unwrap_or_else(|e| panic!("{e}"));
    assert!(dir.path().join("nested/deeper/history.db").is_file());
}

/// Schema 0009 rebuilds SQLite's `runs` table (a CHECK constraint cannot change in place):
/// a store written before it keeps every run and result, its foreign keys, and the
/// AUTOINCREMENT high-water mark that keeps pruned runs' cursors from being handed out again.
#[tokio::test]
async fn sqlite_stores_from_before_the_retry_trigger_keep_their_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(DEFAULT_SQLITE_PATH);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the folder");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("create the store file");
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut before = sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("read the migrations");
    let kept: Vec<_> = before.iter().filter(|m| m.version < 9).cloned().collect();
    before.migrations = kept.into();
    before.run(&pool).await.expect("migrate to schema 0008");
    let slot = "2026-03-10T12:00:00.000000Z";
    let seed = format!(
        "INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, replica, \
         started_at, lease_until) VALUES \
         ('kept', 'b', 'orders', 'main', 'schedule', '{slot}', 'completed', 'r', '{slot}', '{slot}'), \
         ('pruned', 'b', 'orders', 'main', 'manual', NULL, 'completed', 'r', '{slot}', '{slot}'); \
         INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, kind, \
         outcome, message, observed_at) \
         VALUES ('kept', 'orders', 'main', 'row_count', 'h', 'row_count', 'pass', '', '{slot}'); \
         DELETE FROM runs WHERE id = 'pruned';"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed))
        .execute(&pool)
        .await
        .expect("seed runs and a result, then prune one run");
    pool.close().await;

    let store = Store::open(None, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let retry = new_run("orders", Trigger::Retry, Some(at(slot)), t0());
    assert_eq!(ok!(store.start_run(&retry)), Claim::Started);
    drop(store);
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .expect("open the store file");
    let scalar = |query: &'static str| sqlx::query_scalar::<_, i64>(query).fetch_one(&pool);
    assert_eq!(scalar("SELECT count(*) FROM runs").await.ok(), Some(2));
    assert_eq!(
        scalar("SELECT seq FROM runs WHERE trigger = 'retry'")
            .await
            .ok(),
        Some(3),
        "the pruned run's seq (2) is not reused"
    );
    let results = "SELECT count(*) FROM check_results WHERE run_id = 'kept'";
    assert_eq!(scalar(results).await.ok(), Some(1));
    let references = "SELECT count(*) FROM pragma_foreign_key_list('check_results') \
                      WHERE \"table\" = 'runs'";
    assert_eq!(scalar(references).await.ok(), Some(1));
    let indexes = "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' \
                   AND name LIKE 'runs_%'";
    assert_eq!(scalar(indexes).await.ok(), Some(4));
}

// ---------------------------------------------------------------------------------------
// Incidents and the notification outbox

use tidemark::store::{
    Due, EventKind, Incident, IncidentChange, IncidentFilter, IncidentStatus, NewEvent,
    NewNotification, NotificationFilter, NotificationStatus, Settlement, Transition,
};

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

async fn incidents_are_written_once_per_check_and_versioned(f: &Fixture) {
    let store = &f.store;
    let enqueued = ok!(store.write_incidents(
        &[opened(incident("orders", "row_count", t0()), &["a", "b"])],
        t0()
    ));
    assert_eq!(enqueued.len(), 2);
    let [stored] = ok!(store.latest_incidents(&["orders".to_owned()]))
        .try_into()
        .expect("one");
    assert_eq!(
        Incident {
            id: stored.id,
            ..incident("orders", "row_count", t0())
        },
        stored
    );
    assert_eq!(ok!(store.incident(stored.id)), stored);
    assert!(matches!(
        store.incident(stored.id + 1000).await,
        Err(StoreError::NotFound)
    ));

    // A second active incident for the check loses, and writes nothing.
    let again = store
        .write_incidents(
            &[opened(incident("orders", "row_count", t0()), &["c"])],
            t0(),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let listed = ok!(store.notifications(&NotificationFilter::default(), everything()));
    assert_eq!(listed.items.len(), 2);
    let keys: Vec<&str> = listed
        .items
        .iter()
        .map(|n| n.idempotency_key.as_str())
        .collect();
    assert_eq!(
        keys,
        [format!("{}/1/b", stored.id), format!("{}/1/a", stored.id)]
    );

    // Updates name the version they were computed from; a stale one loses.
    let update = |base: i64, count: i64| IncidentChange {
        incident: Incident {
            count,
            version: base + 1,
            ..stored.clone()
        },
        base: Some(base),
        notifications: vec![],
        event: None,
    };
    ok!(store.write_incidents(&[update(1, 2)], t0()));
    let stale = store.write_incidents(&[update(1, 3)], t0()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(ok!(store.incident(stored.id)).count, 2);

    // Once resolved, the check may have a new incident, which links to its cause.
    let resolved = Incident {
        status: IncidentStatus::Resolved,
        resolved_at: Some(t0() + minutes(1)),
        resolved_by: Some("check".to_owned()),
        version: 3,
        ..ok!(store.incident(stored.id))
    };
    ok!(store.write_incidents(
        &[IncidentChange {
            incident: resolved,
            base: Some(2),
            notifications: vec![],
            event: Some(NewEvent {
                kind: EventKind::Resolved,
                actor: "ci".to_owned(),
                detail: None,
            }),
        }],
        t0() + minutes(1)
    ));
    // The timeline has what the changes said happened, in order; repeats add nothing.
    let timeline: Vec<(EventKind, String, i64, DateTime<Utc>)> =
        ok!(store.incident_events(stored.id))
            .into_iter()
            .map(|e| (e.kind, e.actor, e.version, e.at))
            .collect();
    assert_eq!(
        timeline,
        [
            (EventKind::Opened, "check".to_owned(), 1, t0()),
            (EventKind::Resolved, "ci".to_owned(), 3, t0() + minutes(1)),
        ]
    );
    assert_eq!(
        ok!(store.incident_events(stored.id))[0].detail.as_deref(),
        Some("0 rows")
    );
    assert!(ok!(store.incident_events(stored.id + 1000)).is_empty());
    let upstream = open_incident(store, incident("raw", "row_count", t0())).await;
    let next = open_incident(
        store,
        Incident {
            cause: Some(upstream.id),
            ..incident("orders", "row_count", t0() + minutes(2))
        },
    )
    .await;
    assert!(next.id > stored.id);
    assert_eq!(
        ok!(store.incidents_caused_by(upstream.id)),
        std::slice::from_ref(&next)
    );
    let open = IncidentFilter {
        status: Some(IncidentStatus::Open),
        ..IncidentFilter::default()
    };
    let ids: Vec<i64> = ok!(store.incidents(&open, everything()))
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [next.id, upstream.id]);
    let of_orders = IncidentFilter {
        dataset: Some("orders".to_owned()),
        ..IncidentFilter::default()
    };
    let page = ok!(store.incidents(
        &of_orders,
        Page {
            limit: 1,
            before: None
        }
    ));
    assert_eq!((page.items[0].id, page.next), (next.id, Some(next.id)));
    let rest = ok!(store.incidents(
        &of_orders,
        Page {
            limit: 1,
            before: page.next
        }
    ));
    assert_eq!((rest.items[0].id, rest.next), (stored.id, None));
}

on_each_store!(
    incidents_are_written_once_per_check_and_versioned,
    postgres: incidents_are_written_once_per_check_and_versioned_on_postgres,
    sqlite: incidents_are_written_once_per_check_and_versioned_on_sqlite,
);

async fn notifications_are_claimed_by_one_worker_and_settled(f: &Fixture) {
    let store = &f.store;
    let other = Arc::new(f.reopen().await);
    let ids = ok!(store.write_incidents(
        &[opened(
            incident("orders", "row_count", t0()),
            &["a", "b", "c"]
        )],
        t0()
    ));
    let lease = t0() + minutes(1);
    let (mine, theirs) = tokio::join!(
        store.claim_notifications("w1", t0(), lease, 2),
        other.claim_notifications("w2", t0(), lease, 2),
    );
    let mut claimed: Vec<i64> = mine
        .expect("w1 claims")
        .iter()
        .chain(&theirs.expect("w2 claims"))
        .map(|n| n.id)
        .collect();
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "each claimed once");
    assert!(ok!(store.claim_notifications("w3", t0(), lease, 10)).is_empty());

    // Lapsed claims are taken over, and the old claimer can no longer settle.
    let later = lease + minutes(1);
    let taken = ok!(store.claim_notifications("w3", later, later + minutes(1), 10));
    assert_eq!(taken.len(), 3);
    let lost = store
        .settle_notification(ids[0], "w1", later, &Settlement::Delivered)
        .await;
    assert!(matches!(lost, Err(StoreError::NotFound)), "{lost:?}");
    let retry_at = later + minutes(5);
    ok!(store.settle_notification(ids[0], "w3", later, &Settlement::Delivered));
    ok!(store.settle_notification(
        ids[1],
        "w3",
        later,
        &Settlement::Retry {
            at: retry_at,
            error: "HTTP 500".into()
        }
    ));
    ok!(store.settle_notification(
        ids[2],
        "w3",
        later,
        &Settlement::Dead {
            error: "HTTP 404".into()
        }
    ));
    assert_eq!(ok!(store.next_attempt(&ids)), Some(retry_at));
    assert!(ok!(store.claim_notifications("w3", later, later + minutes(1), 10)).is_empty());

    let dead = NotificationFilter {
        status: Some(NotificationStatus::Dead),
        ..NotificationFilter::default()
    };
    let [letter] = ok!(store.notifications(&dead, everything()))
        .items
        .try_into()
        .expect("one dead letter");
    assert_eq!(
        (letter.id, letter.attempts, letter.last_error.as_deref()),
        (ids[2], 1, Some("HTTP 404"))
    );
    let delivered = NotificationFilter {
        status: Some(NotificationStatus::Delivered),
        ..NotificationFilter::default()
    };
    let [sent] = ok!(store.notifications(&delivered, everything()))
        .items
        .try_into()
        .expect("one delivered");
    assert_eq!((sent.id, sent.delivered_at), (ids[0], Some(later)));

    let [retried] = ok!(store.claim_notifications("w4", retry_at, retry_at + minutes(1), 10))
        .try_into()
        .expect("the retry comes due");
    assert_eq!(
        (retried.id, retried.attempts, retried.transition),
        (ids[1], 1, Transition::Opened)
    );
    ok!(store.settle_notification(ids[1], "w4", retry_at, &Settlement::Delivered));
    assert_eq!(ok!(store.next_attempt(&ids)), None);
    let by_incident = NotificationFilter {
        incident: Some(retried.incident_id),
        ..NotificationFilter::default()
    };
    assert_eq!(
        ok!(store.notifications(&by_incident, everything()))
            .items
            .len(),
        3
    );
}

on_each_store!(
    notifications_are_claimed_by_one_worker_and_settled,
    postgres: notifications_are_claimed_by_one_worker_and_settled_on_postgres,
    sqlite: notifications_are_claimed_by_one_worker_and_settled_on_sqlite,
);

async fn the_reminder_sweep_finds_unsettled_incidents(f: &Fixture) {
    let store = &f.store;
    let now = t0() + minutes(600);
    let long_ago = Some(t0());
    let never = open_incident(store, incident("a", "x", t0())).await;
    let reminded_long_ago = open_incident(
        store,
        Incident {
            last_notified_at: long_ago,
            announced: Some(IncidentStatus::Open),
            ..incident("b", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            last_notified_at: Some(now - minutes(5)),
            ..incident("c", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            muted_until: Some(now + minutes(5)),
            ..incident("d", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            cause: Some(never.id),
            ..incident("e", "x", t0())
        },
    )
    .await;
    let resolved = |dataset: &str, announced| Incident {
        status: IncidentStatus::Resolved,
        resolved_at: long_ago,
        announced: Some(announced),
        ..incident(dataset, "x", t0())
    };
    let unannounced = open_incident(store, resolved("f", IncidentStatus::Open)).await;
    open_incident(store, resolved("g", IncidentStatus::Resolved)).await;
    open_incident(
        store,
        Incident {
            status: IncidentStatus::Acknowledged,
            ..incident("h", "x", t0())
        },
    )
    .await;
    let due = Due {
        now,
        notified_before: now - minutes(60),
        resolved_before: now - minutes(60),
    };
    let ids: Vec<i64> = ok!(store.incidents_due(due)).iter().map(|i| i.id).collect();
    assert_eq!(ids, [never.id, reminded_long_ago.id, unannounced.id]);
}

on_each_store!(
    the_reminder_sweep_finds_unsettled_incidents,
    postgres: the_reminder_sweep_finds_unsettled_incidents_on_postgres,
    sqlite: the_reminder_sweep_finds_unsettled_incidents_on_sqlite,
);

// ---------------------------------------------------------------------------------------
// Lineage edges

async fn lineage_edges_keep_their_source_and_time_span(f: &Fixture) {
    use tidemark::lineage::{Edge, Source};
    let store = &f.store;
    assert_eq!(ok!(store.edges()), []);
    assert_eq!(ok!(store.edges_version()), EdgesVersion::default());
    let edge = |up: &str, down: &str, source, first: i64, last: i64| Edge {
        upstream: up.into(),
        downstream: down.into(),
        source,
        first_seen: t0() + minutes(first),
        last_seen: t0() + minutes(last),
    };
    ok!(store.upsert_edges(&[
        edge("raw.orders", "stg.orders", Source::OpenLineage, 10, 10),
        // Repeated in one call: merged, not an error.
        edge("raw.orders", "stg.orders", Source::OpenLineage, 20, 20),
        edge("raw.orders", "stg.orders", Source::View, 5, 5),
        edge("Stg Orders", "mart.Orders", Source::Dbt, 1, 2),
    ]));
    // Seen again, earlier and later: the span widens on both ends.
    ok!(store.upsert_edges(&[
        edge("raw.orders", "stg.orders", Source::OpenLineage, 15, 30),
        edge("raw.orders", "stg.orders", Source::OpenLineage, 3, 4),
    ]));
    ok!(store.upsert_edges(&[]));
    assert_eq!(
        ok!(store.edges()),
        [
            edge("Stg Orders", "mart.Orders", Source::Dbt, 1, 2),
            edge("raw.orders", "stg.orders", Source::OpenLineage, 3, 30),
            edge("raw.orders", "stg.orders", Source::View, 5, 5),
        ]
    );
    // What graphs built from the edges are checked against: their count and newest sighting.
    let version = EdgesVersion {
        count: 3,
        newest: Some(t0() + minutes(30)),
    };
    assert_eq!(ok!(store.edges_version()), version);
    // More edges than one statement takes.
    let chain = |i: usize| edge(&format!("n{i}"), &format!("n{}", i + 1), Source::Dbt, 0, 0);
    let many: Vec<Edge> = (0..2_500).map(chain).collect();
    ok!(store.upsert_edges(&many));
    assert_eq!(ok!(store.edges()).len(), 2_503);
    assert_eq!(ok!(store.edges_version()).count, 2_503);
}

on_each_store!(
    lineage_edges_keep_their_source_and_time_span,
    postgres: lineage_edges_postgres,
    sqlite: lineage_edges_sqlite,
);

/// Prune forgets incidents settled before the cut-off (with their notifications) and
/// edges no job reported since; anything still open, unannounced or recent stays.
async fn prune_forgets_settled_incidents_and_stale_edges(f: &Fixture) {
    use tidemark::lineage::{Edge, Source};
    let store = &*f.store;
    let now = t0() + TimeDelta::days(30);
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let resolved = |dataset: &str, at: DateTime<Utc>, announced| Incident {
        status: IncidentStatus::Resolved,
        resolved_at: Some(at),
        announced: Some(announced),
        ..incident(dataset, "x", t0())
    };
    let old = t0() + TimeDelta::days(1);
    ok!(store.write_incidents(
        &[opened(
            resolved("settled", old, IncidentStatus::Resolved),
            &["a"]
        )],
        t0()
    ));
    let unannounced =
        open_incident(store, resolved("unannounced", old, IncidentStatus::Open)).await;
    let recent = open_incident(store, resolved("recent", now, IncidentStatus::Resolved)).await;
    let open = open_incident(store, incident("open", "x", t0())).await;
    let edge = |up: &str, last: DateTime<Utc>| Edge {
        upstream: up.into(),
        downstream: "orders".into(),
        source: Source::OpenLineage,
        first_seen: t0(),
        last_seen: last,
    };
    ok!(store.upsert_edges(&[edge("stale", old), edge("live", now)]));

    let pruned = ok!(store.prune(now, retention));
    assert_eq!((pruned.incidents, pruned.lineage_edges), (1, 1));
    let kept: Vec<i64> = ok!(store.incidents(&IncidentFilter::default(), everything()))
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(kept, [open.id, recent.id, unannounced.id]);
    let notifications = ok!(store.notifications(&NotificationFilter::default(), everything()));
    assert!(notifications.items.is_empty(), "{:?}", notifications.items);
    assert_eq!(ok!(store.edges()), [edge("live", now)]);
}

on_each_store!(
    prune_forgets_settled_incidents_and_stale_edges,
    postgres: prune_incidents_postgres,
    sqlite: prune_incidents_sqlite,
);

// ---------------------------------------------------------------------------------------
// Distribution profiles

/// A numeric profile with awkward numbers: they must come back exactly.
fn amount_profile(minute: i64) -> Profile {
    let m = minute as f64;
    Profile::Numeric {
        bins: vec![
            Bin {
                min: 0.1 + m,
                max: 2.5 + m,
                count: 10.0,
            },
            Bin {
                min: 2.5 + m,
                max: 2.5 + m,
                count: 1.0 / 3.0,
            },
        ],
    }
}

async fn distribution_profiles_are_kept_per_check_and_column(f: &Fixture) {
    let store = &*f.store;
    let query = |since, until, limit| ProfileQuery {
        dataset: "orders",
        check: "distribution(amount)",
        column: "amount",
        since,
        until,
        limit,
    };
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        vec![]
    );
    let statuses = Profile::Values {
        top: vec![Count {
            value: "placed".into(),
            count: 3.0,
        }],
        other: 1.0,
    };
    let mut kept = Vec::new();
    for minute in 0..3 {
        let run = cli_run("orders", t0() + minutes(minute));
        assert_eq!(ok!(store.start_run(&run)), Claim::Started);
        let taken_at = run.started_at + TimeDelta::seconds(1);
        let profile = |check: &str, column: &str, profile: &Profile| NewProfile {
            check: check.into(),
            column: column.into(),
            profile: profile.clone(),
        };
        let finished = FinishedRun {
            profiles: vec![
                profile("distribution(amount)", "amount", &amount_profile(minute)),
                profile("distribution(status)", "status", &statuses),
                // The same name over another column (an edited check) is another history.
                profile("distribution(amount)", "total", &statuses),
            ],
            ..completed(&run, taken_at, &[])
        };
        ok!(store.finish_run(&finished));
        kept.push(StoredProfile {
            run_id: run.id,
            taken_at,
            profile: amount_profile(minute),
        });
    }
    // Another dataset's profile of a check with the same name.
    let other = cli_run("customers", t0());
    assert_eq!(ok!(store.start_run(&other)), Claim::Started);
    ok!(store.finish_run(&FinishedRun {
        profiles: vec![NewProfile {
            check: "distribution(amount)".into(),
            column: "amount".into(),
            profile: statuses.clone(),
        }],
        ..completed(&other, t0(), &[])
    }));

    let newest_first = |indexes: &[usize]| -> Vec<StoredProfile> {
        indexes.iter().map(|i| kept[*i].clone()).collect()
    };
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        newest_first(&[2, 1, 0])
    );
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 1))),
        newest_first(&[2])
    );
    // `until` and `since` are inclusive.
    let middle = kept[1].taken_at;
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, Some(middle), 10))),
        newest_first(&[1, 0])
    );
    assert_eq!(
        ok!(store.distribution_profiles(&query(Some(middle), None, 10))),
        newest_first(&[2, 1])
    );
    let status = ProfileQuery {
        check: "distribution(status)",
        column: "status",
        ..query(None, None, 10)
    };
    assert_eq!(ok!(store.distribution_profiles(&status)).len(), 3);

    // Pruning a run removes its profiles.
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let now = t0() + TimeDelta::days(10) + TimeDelta::seconds(90);
    ok!(store.prune(now, retention));
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        newest_first(&[2])
    );
}

on_each_store!(
    distribution_profiles_are_kept_per_check_and_column,
    postgres: postgres_distribution_profiles_are_kept_per_check_and_column,
    sqlite: sqlite_distribution_profiles_are_kept_per_check_and_column,
);
