//! The scheduler under faults, with real servers: a results store that goes away for longer
//! than a slot, and a rolling restart at the top of a minute with two replicas. Each test
//! asserts what the scheduler owes its users: no slot lost that could still run once the
//! fault was over, and no slot run twice. Both wait for minute boundaries (the clock is part
//! of the scenario), on conditions only.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

use tidemark::scheduler::Schedule;
use tidemark::store::{Page, Run, RunFilter, RunStatus, Store, Trigger};

use crate::support::{PgCluster, PgDb, Project, ServeProcess, Served, SqliteDb, eventually};

/// Short leases: the sweep for missed slots runs every third of one.
const LEASE: (&str, &str) = ("TIDEMARK_LEASE_SECS", "6");
/// How long the store stays down: over two minute boundaries.
const OUTAGE: Duration = Duration::from_secs(150);

fn config(warehouse_url: &str, store_url: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\nstore: {}\nchecks: [checks/]\n",
        quote(warehouse_url),
        quote(store_url)
    )
}

/// `count` minutely datasets `t000`, `t001`… on tables of three rows each.
async fn minutely(count: usize, store_url: &str) -> (SqliteDb, Project) {
    let warehouse = SqliteDb::new().await;
    let names: Vec<String> = (0..count).map(|i| format!("t{i:03}")).collect();
    let seed: String = names
        .iter()
        .map(|t| format!("CREATE TABLE {t} (id INTEGER); INSERT INTO {t} VALUES (1), (2), (3);"))
        .collect();
    warehouse.exec(&seed).await;
    let mut project = Project::builder().config(&config(&warehouse.url, store_url));
    for name in &names {
        let yaml = format!(
            "dataset: {name}\nwarehouse: main\nschedule: \"* * * * *\"\nchecks:\n  \
             - row_count: {{ min: 1 }}\n"
        );
        project = project.dataset(name, &yaml);
    }
    (warehouse, project.build())
}

/// Every run in the store, page by page.
async fn all_runs(store: &Store) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut before = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            before,
        };
        let paged = store
            .runs(&RunFilter::default(), page)
            .await
            .unwrap_or_else(|e| panic!("list the runs: {e}"));
        runs.extend(paged.items);
        match paged.next {
            Some(next) => before = Some(next),
            None => return runs,
        }
    }
}

/// Every run in the store, by dataset.
async fn runs_by_dataset(store: &Store) -> HashMap<String, Vec<Run>> {
    let mut by_dataset: HashMap<String, Vec<Run>> = HashMap::new();
    for run in all_runs(store).await {
        by_dataset.entry(run.dataset.clone()).or_default().push(run);
    }
    by_dataset
}

fn latest_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    Schedule::parse("* * * * *", chrono_tz::UTC)
        .expect("a cron")
        .latest_at_or_before(at)
        .expect("a minute")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_down_for_two_slots_loses_no_slot_that_could_run_once_it_is_back() {
    let mut cluster = tokio::task::spawn_blocking(PgCluster::new)
        .await
        .expect("create the store's Postgres cluster");
    let (_warehouse, project) = minutely(3, &cluster.url).await;
    let store = Store::open(Some(&cluster.url), project.path())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let server = ServeProcess::start(project.path(), &[LEASE]);
    eventually("the catch-up runs", Duration::from_secs(60), || async {
        let runs = runs_by_dataset(&store).await;
        (runs.len() == 3
            && runs
                .values()
                .flatten()
                .all(|r| r.status == RunStatus::Completed))
        .then_some(())
    })
    .await;

    let stopped = Utc::now();
    tokio::task::block_in_place(|| cluster.stop());
    // Back after the outage, over half a minute after a slot (its claim's retries, 10 s
    // and then 20 s apart, are spent or nearly) and well before the next one, which the
    // slot latest when the store returns must be run before.
    eventually("the outage to last", OUTAGE * 2, || async {
        let now = Utc::now();
        let long_enough = (now - stopped).to_std().is_ok_and(|d| d >= OUTAGE);
        (long_enough && (33..45).contains(&now.second())).then_some(())
    })
    .await;
    let back = Utc::now();
    tokio::task::block_in_place(|| cluster.start());
    let owed = latest_minute(back);
    let next = owed + chrono::Duration::minutes(1);

    // Every dataset runs the slot that was latest when the store came back (by a claim
    // retry or the sweep), and the clock's next slot on top.
    let runs = eventually(
        "the owed and the next slots to run",
        Duration::from_secs(150),
        || async {
            let runs = runs_by_dataset(&store).await;
            let ran = |runs: &Vec<Run>, slot| {
                runs.iter().any(|r| {
                    r.slot == Some(slot)
                        && r.trigger == Trigger::Schedule
                        && r.status == RunStatus::Completed
                })
            };
            (runs.len() == 3 && runs.values().all(|r| ran(r, owed) && ran(r, next))).then_some(runs)
        },
    )
    .await;
    for (dataset, runs) in &runs {
        let mut slots: Vec<_> = runs
            .iter()
            .filter(|r| r.trigger == Trigger::Schedule)
            .filter_map(|r| r.slot)
            .collect();
        let claimed = slots.len();
        slots.dedup();
        assert_eq!(
            slots.len(),
            claimed,
            "{dataset}: a slot claimed twice: {runs:#?}"
        );
    }
    // The slots the outage did take are counted, not silent.
    let metrics = crate::support::http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tidemark_slots_skipped_total{") && !l.ends_with(" 0")),
        "no skipped slot counted:\n{metrics}\n--- server stderr\n{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_stopped_at_the_top_of_a_minute_run_every_claimed_slot_once() {
    // More datasets than a replica starts at once (256): a stopping replica holds claims
    // that it never started.
    const DATASETS: usize = 600;
    let store_db = PgDb::new().await;
    let (_warehouse, project) = minutely(DATASETS, &store_db.url).await;
    let store = Store::open(Some(&store_db.url), project.path())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let mut stopping = ServeProcess::start(project.path(), &[LEASE]);
    let staying = ServeProcess::start(project.path(), &[LEASE]);
    // The slot both replicas caught up at start: the test is about the clock's slots.
    let caught_up = latest_minute(Utc::now());
    let replica = format!(":{}", stopping.pid);

    // SIGTERM as soon as the stopping replica has claimed some of a new minute's slots
    // (under load it may lose a minute's races to the other, or be busy with the catch-up).
    let claimed = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            let slot = all_runs(&store)
                .await
                .iter()
                .filter(|r| r.replica.ends_with(&replica))
                .filter_map(|r| r.slot)
                .find(|slot| *slot > caught_up);
            if let Some(slot) = slot {
                return slot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let Ok(slot) = claimed else {
        panic!(
            "no claim after {caught_up} by the stopping replica; runs: {}\n--- stopping\n{}\n--- staying\n{}",
            all_runs(&store).await.len(),
            stopping.stderr(),
            staying.stderr()
        );
    };
    // What it holds of that slot (claims still in flight are not seen here).
    let held: std::collections::HashSet<String> = all_runs(&store)
        .await
        .into_iter()
        .filter(|r| r.slot == Some(slot) && r.replica.ends_with(&replica))
        .map(|r| r.dataset)
        .collect();
    stopping.signal("TERM");
    let status = stopping.wait_exit(Duration::from_secs(120));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{status:?}\n{}",
        stopping.stderr()
    );

    // Every slot the stopping replica had claimed runs: what it did not start, the other
    // claims after it was handed back.
    let runs = eventually(
        "the held slots to run",
        Duration::from_secs(120),
        || async {
            let runs = runs_by_dataset(&store).await;
            let done = held.iter().all(|dataset| {
                runs.get(dataset).is_some_and(|runs| {
                    runs.iter()
                        .any(|r| r.slot == Some(slot) && r.status == RunStatus::Completed)
                })
            });
            done.then_some(runs)
        },
    )
    .await;
    for (dataset, runs) in &runs {
        let of_slot: Vec<&Run> = runs.iter().filter(|r| r.slot == Some(slot)).collect();
        assert!(
            of_slot.len() <= 1,
            "{dataset}: the slot ran {} times: {of_slot:#?}",
            of_slot.len()
        );
        assert!(
            runs.iter().all(|r| r.status != RunStatus::Failed),
            "{dataset}: {runs:#?}\n--- stopping replica\n{}",
            stopping.stderr()
        );
    }
    drop(staying);
}
