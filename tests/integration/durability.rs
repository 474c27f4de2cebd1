//! Durability: a results store that goes away while `tidemark serve` runs (a restart, a
//! failover) loses no result. The server is the real binary; the store is a real Postgres
//! cluster of the test's own ([`PgCluster`]), so that stopping it disturbs no other test.
//! The test waits on conditions (the store's rows, the server's log), never on the clock.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::Value;

use tidemark::results::Outcome;
use tidemark::store::{Page, ResultFilter, RunStatus, Store, Trigger};

use crate::support::{
    PgCluster, Project, ServeProcess, Served, SqliteDb, eventually, http, runs_of,
};

/// Generous: two cores are shared with other tests.
const DEADLINE: Duration = Duration::from_secs(60);

/// What the slow check counts to: about 4 s of SQLite work in a debug build, long enough to
/// stop the store while the checks run.
const SLOW_COUNT: i64 = 35_000_000;

/// What the runner logs (at `warn`) when it keeps a finished run's results for later.
const HOLDING: &str = "store unavailable; holding the run's results and retrying";

/// The dataset: a fast `row_count` and a slow `sql_metric`. Scheduled daily, so that the
/// server catches up today's slot at once and no other slot falls due during the test (a
/// minutely schedule could start a second run at a minute boundary, mid-outage).
fn dataset() -> String {
    format!(
        "dataset: events\nwarehouse: main\nschedule: \"0 0 * * *\"\nchecks:\n  \
         - row_count: {{ min: 1 }}\n  \
         - sql_metric:\n      name: slow_count\n      \
         query: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
         WHERE x < {SLOW_COUNT}) SELECT count(*) FROM c'\n      \
         equals: {SLOW_COUNT}\n"
    )
}

fn config(warehouse_url: &str, store_url: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\n    query_timeout: 5m\n\
         store: {}\nchecks: [checks/]\n",
        quote(warehouse_url),
        quote(store_url)
    )
}

/// Whether the runner has made its last store call before the warehouse queries (reading the
/// previous schema snapshot): from then on the checks run without the store, and stopping
/// it can only get in the way of storing their results. An idle session's `query` is the
/// last statement it ran.
async fn checks_under_way(url: &str) -> bool {
    let Ok(pool) = sqlx::PgPool::connect(url).await else {
        return false;
    };
    let found = sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
         AND state = 'idle' AND query LIKE '%FROM schema_snapshots WHERE dataset = $1%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(false);
    pool.close().await;
    found
}

/// [`eventually`] within [`DEADLINE`], panicking with `context()` (the server's log, the
/// last state seen) if `check` never succeeds.
async fn within<T, F, Fut>(what: &str, check: F, context: impl Fn() -> String) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match tokio::time::timeout(DEADLINE, eventually(what, DEADLINE * 2, check)).await {
        Ok(found) => found,
        Err(_) => panic!(
            "timed out after {DEADLINE:?} waiting for {what}\n{}",
            context()
        ),
    }
}

async fn get_json(server: &ServeProcess, path: &str) -> (StatusCode, Value) {
    let response = http()
        .get(server.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let body = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_stopped_and_restarted_while_the_server_runs_loses_no_result() {
    let began = Instant::now();
    let mut cluster = tokio::task::spawn_blocking(PgCluster::new)
        .await
        .expect("create the store's Postgres cluster");
    let warehouse = SqliteDb::new().await;
    warehouse
        .exec("CREATE TABLE events (id INTEGER NOT NULL); INSERT INTO events VALUES (1), (2), (3);")
        .await;
    let project = Project::builder()
        .config(&config(&warehouse.url, &cluster.url))
        .dataset("events", &dataset())
        .build();
    // Migrated here, so the server finds the schema ready; also the test's view of the store.
    let store = Store::open(Some(&cluster.url), project.path())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let setup = began.elapsed();

    // `warn` is the server's default level: an operator sees the warning without asking.
    let mut server = ServeProcess::start(project.path(), &[("TIDEMARK_LOG", "warn")]);
    let server_log = || format!("--- server stderr\n{}", server.stderr());
    let running = within(
        "the caught-up run to be running",
        || async {
            runs_of(&store, "events")
                .await
                .into_iter()
                .find(|r| r.status == RunStatus::Running)
        },
        server_log,
    )
    .await;
    assert_eq!(running.trigger, Trigger::Schedule, "{running:#?}");
    within(
        "the run's checks to be under way",
        || async { checks_under_way(&cluster.url).await.then_some(()) },
        server_log,
    )
    .await;
    let running_after = began.elapsed();

    // The store goes away while the warehouse is still counting.
    let stopped_at = Utc::now();
    tokio::task::block_in_place(|| cluster.stop());
    let stopped = began.elapsed();
    let id = running.id.to_string();
    let warning = within(
        "the server to hold the run's results while the store is down",
        || async {
            let stderr = server.stderr();
            stderr
                .lines()
                .find(|line| line.contains(HOLDING) && line.contains(&id))
                .map(str::to_owned)
        },
        server_log,
    )
    .await;
    let warned = began.elapsed();

    tokio::task::block_in_place(|| cluster.start());
    let restarted = began.elapsed();
    // Running, or abandoned (its lease lapsed meanwhile), until the held results land.
    let last_seen = std::sync::Mutex::new(String::new());
    let run = within(
        "the run to be finished in the store",
        || async {
            let run = store.run(running.id).await;
            *last_seen.lock().expect("not poisoned") = format!("{run:#?}");
            run.ok()
                .filter(|r| !matches!(r.status, RunStatus::Running | RunStatus::Abandoned))
        },
        || {
            format!(
                "--- the run as last read\n{}\n--- server stderr\n{}\n--- store log\n{}",
                last_seen.lock().expect("not poisoned"),
                server.stderr(),
                cluster.log()
            )
        },
    )
    .await;
    let completed = began.elapsed();

    let stderr = server.stderr();
    assert_eq!(
        run.status,
        RunStatus::Completed,
        "{run:#?}\n--- server stderr\n{stderr}"
    );
    assert_eq!(run.error, None, "{run:#?}");
    assert_eq!(run.summary.pass, 2, "{run:#?}");
    let finished_at = run.finished_at.expect("a finished run has its end time");
    assert!(
        finished_at > stopped_at,
        "the checks finished ({finished_at}) after the store stopped ({stopped_at}): their \
         results can only have been stored once it was back"
    );

    // Every result, with its value, and the metric points that come with them.
    let results = store
        .results(
            &ResultFilter {
                run_id: Some(running.id),
                ..ResultFilter::default()
            },
            Page {
                limit: 10,
                before: None,
            },
        )
        .await
        .expect("the run's results");
    let mut got: Vec<(String, Outcome, Option<f64>)> = results
        .items
        .iter()
        .map(|r| (r.result.check.clone(), r.result.outcome, r.result.value))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("row_count".to_owned(), Outcome::Pass, Some(3.0)),
            (
                "slow_count".to_owned(),
                Outcome::Pass,
                Some(SLOW_COUNT as f64)
            ),
        ],
        "{results:#?}"
    );
    for (check, value) in [("row_count", 3.0), ("slow_count", SLOW_COUNT as f64)] {
        let series = store
            .metric_series("events", check, None)
            .await
            .expect("a metric series");
        assert_eq!(
            series.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![value],
            "the metric series of {check}"
        );
    }
    let all = runs_of(&store, "events").await;
    assert_eq!(all.len(), 1, "the slot ran once: {all:#?}");

    // The server came through it: alive, its store reachable again, and it serves the run.
    let (status, body) = get_json(&server, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = get_json(&server, "/api/v1/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", server.stderr());
    let (status, body) = get_json(&server, &format!("/api/v1/runs/{id}")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("completed")),
        "{body}"
    );
    let (status, body) = get_json(&server, &format!("/api/v1/results?run_id={id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["items"].as_array().map(Vec::len),
        Some(2),
        "the API serves both results: {body}"
    );

    server.signal("TERM");
    let exit = server.wait_exit(DEADLINE);
    let stderr = server.stderr();
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(0),
        "exit status {exit:?} after SIGTERM; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!(
        "setup {setup:?}, run under way {running_after:?}, store stopped {stopped:?}, \
         warning {warned:?}, store restarted {restarted:?}, run completed {completed:?}, \
         total {:?}\nwarning line: {warning}",
        began.elapsed()
    );
}
