//! Anomaly thresholds end to end: a history in the project's store, `tidemark run` judging
//! the warehouse's value against it (the band in its JSON and in the store), and users'
//! feedback through the API of `tidemark serve` changing what the next run learns from.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use tidemark::results::{Band, CheckResult};
use tidemark::store::{Page, ResultFilter, Store, StoredResult};

use crate::support::{
    Project, ServeProcess, Served, SqliteDb, api_token, http, past_result, record_past_run,
    run_tidemark,
};

const DATASET: &str = "orders";
const CHECK: &str = "row_count";

/// A warehouse whose `orders` table holds `rows` rows.
async fn warehouse(rows: u32) -> SqliteDb {
    let db = SqliteDb::new().await;
    db.exec(&format!(
        "CREATE TABLE orders (id INTEGER NOT NULL); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO orders (id) SELECT i FROM n;"
    ))
    .await;
    db
}

fn project(warehouse: &SqliteDb) -> Project {
    Project::builder()
        .warehouse("main", &warehouse.url)
        .dataset(
            DATASET,
            &format!("dataset: {DATASET}\nchecks:\n  - row_count: {{ anomaly: {{}} }}\n"),
        )
        .build()
}

/// Records a past run of the check at `at` with `value` (judged normal when `band` says so).
async fn remember(store: &Store, at: DateTime<Utc>, value: f64, band: Option<Band>) {
    let result = CheckResult {
        band,
        ..past_result(DATASET, CHECK, value)
    };
    record_past_run(store, DATASET, at, vec![result]).await;
}

/// Days of history: four weeks at about 1,000 rows, then [`SHIFTED`] days at about 5,000.
const DAYS: i64 = 38;
const SHIFTED: i64 = 10;

/// About `level` rows on `day`, give or take 2 % (irregularly, as real loads vary).
fn rows(level: f64, day: i64) -> f64 {
    level * (1.0 + ((day * 37) % 41 - 20) as f64 / 1_000.0)
}

/// Four weeks of about 1,000 rows a day, then ten days of about 5,000 that became the new
/// normal (a level shift), as runs judged them: the first days of the shift anomalies,
/// the later ones normal again.
async fn seed_history(store: &Store) {
    let now = Utc::now();
    let shift = DAYS - SHIFTED;
    for day in 0..DAYS {
        let at = now - TimeDelta::days(DAYS - day);
        let (value, band) = if day < shift {
            (rows(1_000.0, day), None)
        } else {
            let anomalous = day < shift + tidemark::anomaly::ACCEPT_AFTER as i64;
            let band = Band {
                lower: 4_000.0,
                upper: 6_000.0,
                anomalous,
            };
            (rows(5_000.0, day), Some(band))
        };
        remember(store, at, value, band).await;
    }
}

/// `tidemark run --format json`: the check's result as printed.
fn run(project: &Project) -> Value {
    let out = run_tidemark(project.path(), &["run", ".", "--format", "json"]);
    let doc = out.json();
    doc["results"][0].clone()
}

async fn results_above(store: &Store, value: f64) -> Vec<StoredResult> {
    let filter = ResultFilter {
        dataset: Some(DATASET.into()),
        ..ResultFilter::default()
    };
    let page = Page {
        limit: Page::MAX_LIMIT,
        before: None,
    };
    let results = store.results(&filter, page).await.expect("the results");
    results
        .items
        .into_iter()
        .filter(|r| r.result.value.is_some_and(|v| v > value))
        .collect()
}

/// `POST /api/v1/results/{id}/feedback?mark=…` with a token; the reply's JSON.
async fn mark(server: &ServeProcess, token: &str, result: i64, mark: &str) -> Value {
    let reply = http()
        .post(server.url(&format!("/api/v1/results/{result}/feedback?mark={mark}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("POST feedback");
    let status = reply.status();
    let body: Value = reply.json().await.expect("a JSON reply");
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn feedback_through_the_api_changes_what_the_next_run_learns() {
    let warehouse = warehouse(5_002).await;
    let project = project(&warehouse);
    let store = Store::open(None, project.path()).await.expect("the store");
    seed_history(&store).await;

    // The shift is the new normal: 5,002 rows pass, inside a band the JSON shows.
    let first = run(&project);
    assert_eq!(first["outcome"], "pass", "{first}");
    let (lower, upper) = (
        first["band"]["lower"].as_f64(),
        first["band"]["upper"].as_f64(),
    );
    assert!(
        lower
            .zip(upper)
            .is_some_and(|(l, u)| l < 5_002.0 && 5_002.0 < u),
        "{first}"
    );

    // The owner says the shift was an incident (a duplicated load): the next run learns
    // only from the four weeks before it, and 5,002 rows are an anomaly again.
    let token = api_token(project.path());
    let server = ServeProcess::start(project.path(), &[]);
    let shift = results_above(&store, 4_000.0).await;
    assert_eq!(
        shift.len(),
        SHIFTED as usize + 1,
        "the shift and the first run"
    );
    for result in &shift {
        let reply = mark(&server, &token, result.id, "incident").await;
        assert_eq!(reply["feedback"], "incident");
    }
    let second = run(&project);
    assert_eq!(second["outcome"], "fail", "{second}");
    assert!(
        second["band"]["upper"]
            .as_f64()
            .is_some_and(|u| u < 5_002.0),
        "{second}"
    );
    assert_eq!(second["band"]["anomalous"], true);
    let stored = results_above(&store, 4_000.0).await;
    assert_eq!(stored[0].result.band.map(|b| b.anomalous), Some(true));

    // Told it was expected after all, the detector learns from the shift again.
    for result in &stored {
        mark(&server, &token, result.id, "expected").await;
    }
    let third = run(&project);
    assert_eq!(third["outcome"], "pass", "{third}");

    // Unknown results and marks are refused, not ignored.
    let client = http();
    for (path, status) in [
        ("/api/v1/results/999999/feedback?mark=incident", 404),
        ("/api/v1/results/1/feedback?mark=maybe", 400),
        ("/api/v1/results/1/feedback", 400),
    ] {
        let reply = client
            .post(server.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("POST feedback");
        assert_eq!(reply.status().as_u16(), status, "{path}");
    }
    let unauthenticated = client
        .post(server.url("/api/v1/results/1/feedback?mark=incident"))
        .send()
        .await
        .expect("POST feedback");
    assert_eq!(unauthenticated.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn backtest_replays_the_history_and_shows_what_would_have_alerted() {
    let warehouse = warehouse(10).await;
    let project = project(&warehouse);
    let store = Store::open(None, project.path()).await.expect("the store");
    seed_history(&store).await;
    let shift_starts = results_above(&store, 4_000.0)
        .await
        .into_iter()
        .map(|r| r.observed_at)
        .min()
        .expect("the shift");

    let out = run_tidemark(
        project.path(),
        &["backtest", ".", "--dataset", DATASET, "--format", "json"],
    );
    out.assert_code(0);
    let doc = out.json();
    let replay = &doc["checks"][0];
    assert_eq!(replay["check"], CHECK);
    assert_eq!(replay["points"], DAYS);
    // The level shift alerts where it starts, then becomes the new normal.
    let alerts = replay["alerts"].as_array().cloned().unwrap_or_default();
    let at = |alert: &Value| {
        alert["at"]
            .as_str()
            .and_then(|at| at.parse::<DateTime<Utc>>().ok())
    };
    let in_shift: Vec<_> = alerts
        .iter()
        .filter_map(at)
        .filter(|at| *at >= shift_starts)
        .collect();
    assert_eq!(in_shift.first(), Some(&shift_starts), "{doc:#}");
    assert!(in_shift.len() <= tidemark::anomaly::ACCEPT_AFTER, "{doc:#}");

    // The human form says the same in a line per check.
    let out = run_tidemark(project.path(), &["backtest", ".", "--dataset", DATASET]);
    out.assert_code(0);
    assert!(
        out.stdout.starts_with(&format!(
            "orders · row_count: {DAYS} points, {} judged, {} would have alerted",
            replay["judged"],
            alerts.len()
        )),
        "{}",
        out.stdout
    );

    // Unknown datasets and sensitivities are errors that say so.
    let out = run_tidemark(project.path(), &["backtest", ".", "--dataset", "nope"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("no dataset named \"nope\""),
        "{}",
        out.stderr
    );
    let out = run_tidemark(
        project.path(),
        &[
            "backtest",
            ".",
            "--dataset",
            DATASET,
            "--sensitivity",
            "loud",
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("sensitivity must be low, medium, high"),
        "{}",
        out.stderr
    );
}
