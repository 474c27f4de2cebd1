//! `tidemark serve` as a black box: the real binary on port 0, a real store (SQLite, or
//! Postgres where replicas share it), real warehouses. The tests wait on conditions (the
//! `listening on` line, runs appearing in the store, the process exiting), never on the
//! clock; cron slots are a minute apart, so scheduling is driven through catch-up (a slot
//! that is due and has no run runs at once) rather than by waiting for a minute boundary.
//! Exactly-once across replicas is hammered at the scheduler level (`run_slot`, the unit two
//! replicas race for) over many slots, and checked end to end with two servers.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use tidemark::engine::Warehouses;
use tidemark::results::Outcome;
use tidemark::runner::Recorded;
use tidemark::scheduler::run_slot;
use tidemark::spec;
use tidemark::store::{
    FinishedRun, LEASE_EXPIRED, NewRun, Page, ResultFilter, Run, RunStatus, Store, Trigger,
};

use crate::support::{
    PgDb, Project, ServeProcess, Served, SqliteDb, api_token, eventually, http, pg_server_url,
    run_tidemark, runs_of, unique_name, with_database,
};

/// Generous: runs are quick, but two cores are shared with other tests.
const DEADLINE: Duration = Duration::from_secs(60);

/// The tables the tests' datasets check (a dataset is named after its table).
const TABLES: [&str; 6] = [
    "events",
    "minutely",
    "unscheduled",
    "first",
    "added",
    "slow",
];

/// SQL creating every table of [`TABLES`] with three rows.
fn seed() -> String {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "CREATE TABLE {t} (id INTEGER NOT NULL); INSERT INTO {t} (id) VALUES (1), (2), (3);"
            )
        })
        .collect()
}

/// `tidemark.yml` with the single warehouse `main` and, if given, a store URL.
fn config(warehouse_url: &str, store_url: Option<&str>) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    let store = store_url
        .map(|url| format!("store: {}\n", quote(url)))
        .unwrap_or_default();
    format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\n{store}checks: [checks/]\n",
        quote(warehouse_url)
    )
}

/// The dataset of table `name` in warehouse `main`, with `schedule` if given, checking its
/// row count and then `extra` checks (YAML list items).
fn dataset(name: &str, schedule: Option<&str>, extra: &str) -> String {
    let schedule = schedule
        .map(|cron| format!("schedule: \"{cron}\"\n"))
        .unwrap_or_default();
    format!(
        "dataset: {name}\nwarehouse: main\n{schedule}checks:\n  - row_count: {{ min: 1 }}\n{extra}"
    )
}

/// A SQLite warehouse holding [`TABLES`].
async fn sqlite_warehouse() -> SqliteDb {
    let warehouse = SqliteDb::new().await;
    warehouse.exec(&seed()).await;
    warehouse
}

async fn open_store(url: Option<&str>, project: &Project) -> Store {
    Store::open(url, project.path())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"))
}

/// Waits for a run of `dataset` that `matches`, and returns it.
async fn wait_for_run(
    store: &Store,
    dataset: &str,
    what: &str,
    matches: impl Fn(&Run) -> bool,
) -> Run {
    eventually(what, DEADLINE, || async {
        runs_of(store, dataset)
            .await
            .into_iter()
            .find(|r| matches(r))
    })
    .await
}

/// Asserts no slot of `runs` was run twice; returns the scheduled runs by slot.
#[track_caller]
fn one_run_per_slot(runs: &[Run]) -> BTreeMap<DateTime<Utc>, &Run> {
    let mut by_slot = BTreeMap::new();
    for run in runs.iter().filter(|r| r.trigger == Trigger::Schedule) {
        let slot = run.slot.expect("a scheduled run has its slot");
        assert!(
            by_slot.insert(slot, run).is_none(),
            "slot {slot} ran twice: {runs:#?}"
        );
    }
    by_slot
}

/// The start of the current minute: the latest slot of `* * * * *`.
fn this_minute() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("truncate to the minute")
}

/// Stops the server with SIGTERM and asserts it exits 0.
#[track_caller]
fn stop(server: &mut ServeProcess) {
    server.signal("TERM");
    let status = server.wait_exit(DEADLINE);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit status {status:?} after SIGTERM; stderr:\n{}",
        server.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// Start, stop, health

/// A server on a project of one unscheduled dataset; the warehouse and the project's
/// folder live as long as the caller keeps them.
async fn serve_one_dataset() -> (SqliteDb, Project, ServeProcess) {
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("events", &dataset("events", None, ""))
        .build();
    let server = ServeProcess::start(project.path(), &[]);
    (warehouse, project, server)
}

/// `GET /api/v1/health` answers 200.
async fn assert_healthy(server: &ServeProcess) {
    let response = http()
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .expect("GET /api/v1/health");
    assert_eq!(response.status(), StatusCode::OK, "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_prints_its_address_once_ready_answers_health_and_stops_on_sigterm() {
    let (_warehouse, _project, mut server) = serve_one_dataset().await;
    assert!(
        server.base.starts_with("http://127.0.0.1:") && !server.base.ends_with(":0"),
        "the printed address is the bound one: {}",
        server.base
    );
    assert_healthy(&server).await;
    stop(&mut server);
}

/// A client that trickles its request headers is cut off (the header-read timeout), while
/// the server goes on answering others: a thousand such clients cannot hold it.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_warehouse, _project, mut server) = serve_one_dataset().await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("the first header lines");
    // Well past the server's 10 s limit: a server without one keeps the connection open
    // and this read times out instead.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(40), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 40 s");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "an unfinished request was answered"
    );
    assert_healthy(&server).await;
    stop(&mut server);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_an_invalid_project_with_its_problems_and_exit_code_2() {
    let project = Project::builder()
        .config("version: 1\nwarehouses:\n  main:\n    url: \"sqlite://w.db\"\nchecks: [checks/]\n")
        .dataset("bad", "dataset: events\nwarehouse: main\nschedule: \"every minute\"\nchecks:\n  - row_count: { min: 1 }\n")
        .build();
    let out = run_tidemark(project.path(), &["serve", ".", "--listen", "127.0.0.1:0"]);
    out.assert_code(2);
    assert!(!out.stdout.contains("listening"), "{}", out.both());
    assert!(
        out.stderr.contains("bad.yml:3:") && out.stderr.contains("cron"),
        "the problem is reported at its line: {}",
        out.both()
    );
}

// ---------------------------------------------------------------------------------------
// Scheduling: catch-up, run now, reload

#[tokio::test(flavor = "multi_thread")]
async fn a_due_slot_runs_at_start_only_the_latest_missed_one_and_unscheduled_datasets_wait() {
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("minutely", &dataset("minutely", Some("* * * * *"), ""))
        .dataset("unscheduled", &dataset("unscheduled", None, ""))
        .build();

    // The dataset last ran half an hour ago: thirty slots were missed since.
    let store = open_store(None, &project).await;
    let old_slot = this_minute() - chrono::Duration::minutes(30);
    let old_run = Uuid::new_v4();
    store
        .start_run(&NewRun {
            id: old_run,
            batch_id: Uuid::new_v4(),
            dataset: "minutely".into(),
            warehouse: "main".into(),
            trigger: Trigger::Schedule,
            slot: Some(old_slot),
            replica: "earlier".into(),
            started_at: old_slot,
            lease_until: old_slot + chrono::Duration::minutes(1),
        })
        .await
        .expect("record an old run");
    store
        .finish_run(&FinishedRun {
            id: old_run,
            status: RunStatus::Completed,
            finished_at: old_slot,
            error: None,
            results: Vec::new(),
            snapshot: None,
            profiles: Vec::new(),
            bucket_points: Vec::new(),
            cost: Default::default(),
        })
        .await
        .expect("finish the old run");

    let latest_at_start = this_minute();
    let mut server = ServeProcess::start(project.path(), &[]);
    let caught_up = wait_for_run(&store, "minutely", "the catch-up run", |r| {
        r.slot > Some(old_slot) && r.status == RunStatus::Completed
    })
    .await;
    assert_eq!(caught_up.trigger, Trigger::Schedule);
    assert_eq!(caught_up.summary.pass, 1, "{caught_up:#?}");
    stop(&mut server);

    let runs = runs_of(&store, "minutely").await;
    let by_slot = one_run_per_slot(&runs);
    for slot in by_slot.keys().filter(|s| **s != old_slot) {
        assert!(
            *slot >= latest_at_start,
            "only the latest missed slot runs, not {slot}: {runs:#?}"
        );
    }
    assert!(
        runs_of(&store, "unscheduled").await.is_empty(),
        "a dataset without a schedule only runs when asked"
    );
}

/// The one test that waits for a minute boundary (up to a minute): the clock itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_dataset_runs_at_its_next_slot_on_time() {
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("minutely", &dataset("minutely", Some("* * * * *"), ""))
        .build();
    let mut server = ServeProcess::start(project.path(), &[]);
    let store = open_store(None, &project).await;
    let first = wait_for_run(&store, "minutely", "the catch-up run", |r| {
        r.trigger == Trigger::Schedule
    })
    .await;
    let next = eventually(
        "the run of the next slot",
        Duration::from_secs(120),
        || async {
            runs_of(&store, "minutely")
                .await
                .into_iter()
                .find(|r| r.slot > first.slot)
        },
    )
    .await;
    stop(&mut server);
    let slot = next.slot.expect("a slot");
    let expected = first.slot.expect("a slot") + chrono::Duration::minutes(1);
    // A slot that comes while the dataset's previous run is still going is skipped (the
    // overlap rule): on a busy machine the catch-up run, started just before a minute
    // boundary, may still be going at it.
    let first = store.run(first.id).await.expect("the first run");
    let overlapped = first.finished_at.is_none_or(|end| end > expected);
    assert!(
        slot == expected || (overlapped && slot == expected + chrono::Duration::minutes(1)),
        "the next slot after {first:#?} was {slot}"
    );
    // Never before its time; how soon after is measured by the benchmark, not asserted.
    assert!(
        next.started_at >= slot,
        "the slot started before its time: {next:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_now_through_the_api_records_a_manual_run() {
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("events", &dataset("events", None, ""))
        .build();
    let token = api_token(project.path());
    let mut server = ServeProcess::start(project.path(), &[]);

    let response = http()
        .post(server.url("/api/v1/datasets/events/run"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST run");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}\n{}", server.stderr());
    let run_id: Uuid = body["run_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a run id: {body}"));

    let store = open_store(None, &project).await;
    let run = eventually("the manual run to complete", DEADLINE, || async {
        store
            .run(run_id)
            .await
            .ok()
            .filter(|r| r.status == RunStatus::Completed)
    })
    .await;
    assert_eq!((run.trigger, run.slot), (Trigger::Manual, None));
    let results = store
        .results(
            &ResultFilter {
                run_id: Some(run_id),
                ..ResultFilter::default()
            },
            Page {
                limit: 10,
                before: None,
            },
        )
        .await
        .expect("the run's results");
    assert_eq!(results.items.len(), 1);
    assert_eq!(results.items[0].result.outcome, Outcome::Pass);
    stop(&mut server);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_new_datasets_and_a_broken_reload_keeps_the_running_configuration() {
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("first", &dataset("first", None, ""))
        .build();
    let token = api_token(project.path());
    let mut server = ServeProcess::start(project.path(), &[]);
    let store = open_store(None, &project).await;

    std::fs::write(
        project.path().join("checks/added.yml"),
        dataset("added", Some("* * * * *"), ""),
    )
    .expect("write a new dataset file");
    server.signal("HUP");
    let run = wait_for_run(&store, "added", "the new dataset's first run", |r| {
        r.status == RunStatus::Completed
    })
    .await;
    assert_eq!(run.trigger, Trigger::Schedule);

    std::fs::write(
        project.path().join("checks/broken.yml"),
        "dataset: broken\nwarehouse: nowhere\nchecks: []\n",
    )
    .expect("write a broken dataset file");
    let http = http();
    let response = http
        .post(server.url("/api/v1/reload"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST reload");
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        server.stderr()
    );
    let datasets: Value = http
        .get(server.url("/api/v1/datasets"))
        .send()
        .await
        .expect("GET datasets")
        .json()
        .await
        .expect("a JSON body");
    let names = datasets.to_string();
    assert!(
        names.contains("\"added\"") && !names.contains("\"broken\""),
        "the configuration in force is the last valid one: {datasets}"
    );
    stop(&mut server);
}

// ---------------------------------------------------------------------------------------
// Draining, retries

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_run_in_flight_finish_and_record_before_exiting() {
    let warehouse = PgDb::new().await;
    warehouse.exec(&seed()).await;
    let slow = "  - sql_metric: { name: slow, query: 'select 1 from pg_sleep(3)', equals: 1 }\n";
    let project = Project::builder()
        .config(&config(&warehouse.url, None))
        .dataset("slow", &dataset("slow", Some("0 0 * * *"), slow))
        .build();
    let mut server = ServeProcess::start(project.path(), &[]);
    let store = open_store(None, &project).await;
    let running = wait_for_run(&store, "slow", "the run to start", |r| {
        r.status == RunStatus::Running
    })
    .await;

    stop(&mut server);
    let run = store.run(running.id).await.expect("the run");
    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
    assert_eq!(run.summary.pass, 2, "{run:#?}");
    assert!(
        server.stderr().contains("waiting for the runs in flight"),
        "{}",
        server.stderr()
    );
}

/// A Postgres database that does not exist yet: the warehouse is down until [`create`].
struct LateDb {
    name: String,
    url: String,
}

impl LateDb {
    fn new() -> LateDb {
        let name = unique_name("tm_late");
        let url = with_database(&pg_server_url(), &name);
        LateDb { name, url }
    }

    /// Creates the database and seeds it: the warehouse is up.
    async fn create(&self, admin: &PgDb) {
        admin.exec(&format!("CREATE DATABASE {}", self.name)).await;
        let pool = sqlx::PgPool::connect(&self.url)
            .await
            .expect("connect to the new database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(seed()))
            .execute(&pool)
            .await
            .expect("seed");
        pool.close().await;
    }
}

impl Drop for LateDb {
    fn drop(&mut self) {
        let (server, name) = (pg_server_url(), self.name.clone());
        crate::support::block_on_side("dropping a test database", move || async move {
            if let Ok(pool) = sqlx::PgPool::connect(&server).await {
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warehouse_outage_is_retried_with_backoff_until_the_warehouse_is_back() {
    let admin = PgDb::new().await;
    let late = LateDb::new();
    let project = Project::builder()
        .config(&config(&late.url, None))
        .dataset("events", &dataset("events", Some("0 0 * * *"), ""))
        .build();
    let mut server = ServeProcess::start(project.path(), &[("TIDEMARK_RETRY_SECS", "1")]);
    let store = open_store(None, &project).await;

    let failed = wait_for_run(&store, "events", "the slot's run, failing", |r| {
        r.status == RunStatus::Completed && r.trigger == Trigger::Schedule
    })
    .await;
    assert_eq!(failed.summary.error, 1, "{failed:#?}");
    let retry = wait_for_run(&store, "events", "a first retry", |r| {
        r.trigger == Trigger::Retry && r.status == RunStatus::Completed
    })
    .await;
    assert_eq!(
        (retry.batch_id, retry.slot, retry.summary.error),
        (failed.batch_id, failed.slot, 1),
        "a retry belongs to its slot and its batch: {retry:#?}"
    );

    late.create(&admin).await;
    let recovered = wait_for_run(&store, "events", "a retry that gets through", |r| {
        r.trigger == Trigger::Retry && r.summary.pass == 1
    })
    .await;
    assert_eq!(recovered.batch_id, failed.batch_id);
    stop(&mut server);
    let runs = runs_of(&store, "events").await;
    let after = runs.iter().filter(|r| r.started_at > recovered.started_at);
    assert_eq!(
        after.count(),
        0,
        "no retry after one got through: {runs:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Replicas on one Postgres store

/// A dataset of a project on a SQLite warehouse, loaded as the server loads it.
fn load(project: &Project) -> spec::Project {
    spec::load(project.path()).unwrap_or_else(|d| panic!("load the project: {d:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_racing_for_many_slots_run_each_exactly_once() {
    const SLOTS: i64 = 40;
    let db = PgDb::new().await;
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, Some(&db.url)))
        .dataset("events", &dataset("events", Some("* * * * *"), ""))
        .build();
    let spec = load(&project);
    let dataset = &spec.datasets[0];
    // Two replicas: each its own store pool and warehouse connections.
    let replicas = [
        (
            open_store(Some(&db.url), &project).await,
            Warehouses::connect(&spec, &[dataset]).await,
        ),
        (
            open_store(Some(&db.url), &project).await,
            Warehouses::connect(&spec, &[dataset]).await,
        ),
    ];
    let first = this_minute() - chrono::Duration::minutes(SLOTS);
    let slots: Vec<DateTime<Utc>> = (0..SLOTS)
        .map(|i| first + chrono::Duration::minutes(i))
        .collect();

    let cx = tidemark::runner::RunContext::default();
    let races = slots.iter().map(|slot| {
        let (replicas, cx) = (&replicas, &cx);
        async move {
            let (a, b) = tokio::join!(
                run_slot(cx, &replicas[0].0, &replicas[0].1, dataset, *slot),
                run_slot(cx, &replicas[1].0, &replicas[1].1, dataset, *slot),
            );
            let done = [a, b]
                .into_iter()
                .map(|r| match r {
                    Ok(Recorded::Done { .. }) => true,
                    Ok(Recorded::AlreadyClaimed) => false,
                    Err(e) => panic!("slot {slot}: {e:?}"),
                })
                .filter(|done| *done)
                .count();
            (*slot, done)
        }
    });
    for (slot, done) in futures_util::future::join_all(races).await {
        assert_eq!(done, 1, "slot {slot}: {done} replicas ran it");
    }

    let store = &replicas[0].0;
    let runs = runs_of(store, "events").await;
    let by_slot = one_run_per_slot(&runs);
    assert_eq!(by_slot.keys().copied().collect::<Vec<_>>(), slots);
    assert!(
        runs.iter()
            .all(|r| r.status == RunStatus::Completed && r.summary.pass == 1),
        "{runs:#?}"
    );
}

/// What a server's log says it did about `dataset`'s due slot: ran it, lost the claim to
/// the other replica, or found it claimed already.
fn slot_decision(stderr: &str) -> Option<&'static str> {
    [
        ("run recorded", "ran"),
        ("slot claimed by another replica", "lost the race"),
        ("the latest slot is claimed", "found it claimed"),
    ]
    .into_iter()
    .find(|(needle, _)| stderr.contains(needle))
    .map(|(_, decision)| decision)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgres_store_catch_up_a_slot_once() {
    let db = PgDb::new().await;
    let warehouse = sqlite_warehouse().await;
    let project = Project::builder()
        .config(&config(&warehouse.url, Some(&db.url)))
        .dataset("events", &dataset("events", Some("* * * * *"), ""))
        .build();
    // Migrate first, so the two servers do not race to create the schema.
    let store = open_store(Some(&db.url), &project).await;
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking({
            let dir = project.path().to_owned();
            move || ServeProcess::start(&dir, &[])
        }),
        tokio::task::spawn_blocking({
            let dir = project.path().to_owned();
            move || ServeProcess::start(&dir, &[])
        }),
    );
    let (mut a, mut b) = (a.expect("start replica a"), b.expect("start replica b"));
    let decisions = eventually(
        "both replicas to decide about the slot",
        DEADLINE,
        || async { Some((slot_decision(&a.stderr())?, slot_decision(&b.stderr())?)) },
    )
    .await;
    eprintln!("replica decisions: {decisions:?}");
    stop(&mut a);
    stop(&mut b);

    let runs = runs_of(&store, "events").await;
    assert!(!runs.is_empty(), "one replica ran the slot: {decisions:?}");
    one_run_per_slot(&runs);
    assert!(
        decisions.0 != "ran" || decisions.1 != "ran" || runs.len() > 1,
        "both replicas say they ran the same slot: {runs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_run_has_its_slot_retried_once_by_another() {
    let store_db = PgDb::new().await;
    let warehouse = PgDb::new().await;
    warehouse.exec(&seed()).await;
    let slow = "  - sql_metric: { name: slow, query: 'select 1 from pg_sleep(30)', equals: 1 }\n";
    let project = Project::builder()
        .config(&config(&warehouse.url, Some(&store_db.url)))
        .dataset("slow", &dataset("slow", Some("0 0 * * *"), slow))
        .build();
    let lease = [("TIDEMARK_LEASE_SECS", "2")];
    let mut doomed = ServeProcess::start(project.path(), &lease);
    let store = open_store(Some(&store_db.url), &project).await;
    let running = wait_for_run(&store, "slow", "the run to start", |r| {
        r.status == RunStatus::Running
    })
    .await;
    assert!(running.replica.ends_with(&format!(":{}", doomed.pid)));

    doomed.signal("KILL");
    assert!(doomed.wait_exit(DEADLINE).is_some(), "the replica died");
    // The survivor has the same project: the slot is claimed, so it does not claim it again,
    // but once it has found the run abandoned it retries the slot, once.
    let mut survivor = ServeProcess::start(project.path(), &lease);
    let abandoned = eventually("the run to be marked abandoned", DEADLINE, || async {
        store
            .run(running.id)
            .await
            .ok()
            .filter(|r| r.status == RunStatus::Abandoned)
    })
    .await;
    assert_eq!(abandoned.error.as_deref(), Some(LEASE_EXPIRED));
    assert!(abandoned.finished_at.is_some(), "{abandoned:#?}");
    eventually("the survivor to log it", DEADLINE, || async {
        survivor.stderr().contains("run abandoned").then_some(())
    })
    .await;
    let retried = eventually("the slot's retry to complete", DEADLINE, || async {
        runs_of(&store, "slow")
            .await
            .into_iter()
            .find(|r| r.id != running.id && r.status == RunStatus::Completed)
    })
    .await;
    stop(&mut survivor);
    assert_eq!(
        (retried.trigger, retried.slot, retried.batch_id),
        (Trigger::Retry, running.slot, running.batch_id),
        "{retried:#?}"
    );
    assert!(retried.replica.ends_with(&format!(":{}", survivor.pid)));
    assert_eq!(
        runs_of(&store, "slow").await.len(),
        2,
        "the abandoned slot is retried once, and not claimed again"
    );
}
