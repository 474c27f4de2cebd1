//! Partitioned runs on every engine: metric checks per day bucket from one `GROUP BY` scan
//! restricted to the new buckets, each bucket a point of the check's series; exact values
//! per bucket, a first run's back-fill, the watermark across runs and late data inside
//! `backfill` (and outside it, untouched).

use chrono::{DateTime, Days, TimeDelta, Utc};
use tidemark::spec::Grain;
use tidemark::store::Store;

use crate::support::{
    Backend, Project, TestDb, assert_exit_code, json_run_async, on_each_backend, result,
};

/// `days` days before today's UTC midnight, plus `hours`, as a literal of `backend`'s
/// timestamp column.
fn at(backend: Backend, today: DateTime<Utc>, days: u64, hours: i64) -> String {
    let at = (today - Days::new(days) + TimeDelta::hours(hours)).format("%Y-%m-%d %H:%M:%S");
    match backend {
        Backend::Postgres => format!("'{at}+00'"),
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => format!("TIMESTAMP'{at}'"),
        _ => format!("'{at}'"),
    }
}

fn insert(backend: Backend, today: DateTime<Utc>, rows: &[(i64, u64, i64, i64)]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|(id, days, hours, v)| format!("({id}, {}, {v})", at(backend, today, *days, *hours)))
        .collect();
    format!(
        "INSERT INTO events (id, occurred_at, v) VALUES {};",
        values.join(", ")
    )
}

const DATASET: &str = "\
dataset: events
partition: { column: occurred_at, grain: day, backfill: 2, history: 4 }
checks:
  - row_count: { min: 1 }
  - avg: { column: v, max: 100 }
  - duplicate_count: { column: id, max: 0 }
  - duplicate_count: { name: duplicates_per_day, column: v, per_partition: true, max: 10 }
";

/// `(day start, value)` of a check's stored series, oldest first.
async fn series(store: &Store, check: &str) -> Vec<(DateTime<Utc>, f64)> {
    store
        .metric_series("events", check, None)
        .await
        .expect("the series")
        .into_iter()
        .map(|point| (point.at, point.value))
        .collect()
}

async fn partitioned_runs_measure_only_new_buckets(backend: Backend) {
    let t = backend.types();
    let today = Grain::Day.floor(Utc::now());
    let create = format!(
        "CREATE TABLE events (id {int}, occurred_at {ts}, v {int});",
        int = t.int,
        ts = t.timestamp
    );
    // Nothing on day -4 (a bucket of zero rows), 2 rows on day -3, 3 on day -2, 1 on
    // day -1, 2 today (an incomplete bucket, not judged yet) and one dated tomorrow (not
    // read at all).
    let rows = [
        (1, 3, 1, 10),
        (2, 3, 23, 20),
        (3, 2, 0, 1),
        (4, 2, 12, 2),
        (5, 2, 18, 3),
        (6, 1, 6, 7),
        (7, 0, 0, 100),
        (8, 0, 0, 100),
        (9, 0, 30, 100),
    ];
    let db = TestDb::seeded(
        backend,
        &format!("{create} {}", insert(backend, today, &rows)),
    )
    .await;
    let project = Project::with_datasets(db.url(), &[("events", DATASET)]);

    let explained = project.run(&["explain"]);
    explained.assert_code(0);
    assert!(
        explained.stdout.contains("GROUP BY "),
        "{}",
        explained.stdout
    );
    assert!(
        explained.stdout.contains("occurred_at") && explained.stdout.contains(">="),
        "{}",
        explained.stdout
    );

    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "every bucket passes");
    let row_count = result(&doc, Some("events"), "row_count");
    assert_eq!(
        row_count["value"], 1,
        "the newest complete day: {row_count}"
    );
    assert_eq!(result(&doc, Some("events"), "avg(v)")["value"], 7, "{doc}");
    // Whole-table meaning: every row, today's included.
    assert_eq!(
        result(&doc, Some("events"), "duplicate_count(id)")["value"],
        0,
        "{doc}"
    );

    let store = Store::open(None, project.path())
        .await
        .expect("the project's store");
    let day = |days: u64| today - Days::new(days);
    assert_eq!(
        series(&store, "row_count").await,
        [(day(4), 0.0), (day(3), 2.0), (day(2), 3.0), (day(1), 1.0)],
        "{backend:?}: the first run back-fills `history` days"
    );
    // Day -3 holds v = 10 and 20, day -2 v = 1, 2, 3: no value twice within a day.
    assert_eq!(
        series(&store, "duplicates_per_day").await,
        [(day(4), 0.0), (day(3), 0.0), (day(2), 0.0), (day(1), 0.0)],
        "{backend:?}: per_partition counts within each day"
    );
    assert_eq!(
        series(&store, "avg(v)").await,
        [(day(3), 15.0), (day(2), 2.0), (day(1), 7.0)],
        "{backend:?}: no average for a day without rows"
    );

    // Late rows: one on day -2, inside backfill (the watermark, day -1, less 2 days), one
    // on day -3, outside it.
    db.exec(&insert(backend, today, &[(10, 2, 1, 4), (11, 3, 2, 30)]))
        .await;
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "the second run");
    assert_eq!(
        series(&store, "row_count").await,
        [(day(4), 0.0), (day(3), 2.0), (day(2), 4.0), (day(1), 1.0)],
        "{backend:?}: day -2 measured again, day -3 left as it was, no point twice"
    );
}

on_each_backend! {
    partitioned_runs_measure_only_new_buckets,
    postgres: postgres_partitioned_runs_measure_only_new_buckets,
    mariadb: mariadb_partitioned_runs_measure_only_new_buckets,
    sqlite: sqlite_partitioned_runs_measure_only_new_buckets,
    duckdb: duckdb_partitioned_runs_measure_only_new_buckets,
    spark: spark_partitioned_runs_measure_only_new_buckets,
}

/// An SQLite warehouse whose `events` table holds `rows` (see [`insert`]).
async fn sqlite_events(today: DateTime<Utc>, rows: &[(i64, u64, i64, i64)]) -> TestDb {
    let seed = format!(
        "CREATE TABLE events (id INTEGER, occurred_at DATETIME, v INTEGER); {}",
        insert(Backend::Sqlite, today, rows)
    );
    TestDb::seeded(Backend::Sqlite, &seed).await
}

/// Thirty days of about 100 rows a day, then a day of 10: the anomaly threshold judges that
/// day against the days before it, on the first run and again on a second run the same day
/// (when the day is already stored, it is not part of its own history).
#[tokio::test(flavor = "multi_thread")]
async fn an_anomalous_day_is_judged_against_the_days_before_it() {
    let today = Grain::Day.floor(Utc::now());
    let mut rows = Vec::new();
    for days in 2..=31u64 {
        // 95 to 105 rows a day, with a weekly-free wobble.
        for n in 0..(95 + (days * 7) % 11) {
            rows.push((rows.len() as i64, days, (n % 24) as i64, 1));
        }
    }
    for n in 0..10 {
        rows.push((rows.len() as i64, 1, n, 1));
    }
    let db = sqlite_events(today, &rows).await;
    let dataset = "dataset: events\n\
                   partition: { column: occurred_at, grain: day, history: 31 }\n\
                   checks:\n  - row_count: { anomaly: {} }\n";
    let project = Project::with_datasets(db.url(), &[("events", dataset)]);
    for run in ["first", "second"] {
        let (code, doc) = json_run_async(project.path(), &[]).await;
        assert_exit_code(code, 1, &doc, run);
        let row_count = result(&doc, Some("events"), "row_count");
        assert_eq!(row_count["outcome"], "fail", "{run} run: {row_count}");
        assert_eq!(row_count["value"], 10, "{run} run: {row_count}");
    }
}

/// `per_partition` means something only on a partitioned dataset: elsewhere it is an error
/// at the check, not a flag silently ignored.
#[test]
fn per_partition_needs_a_partition() {
    let project = Project::with_datasets(
        "sqlite://w.db",
        &[(
            "events",
            "dataset: events\nchecks:\n  - duplicate_count: { column: id, per_partition: true, max: 0 }\n",
        )],
    );
    let out = project.run(&["validate"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("events.yml:3:5: dataset events: check duplicate_count(id): 'per_partition' needs the dataset's 'partition'"),
        "{}",
        out.both()
    );
}

/// With `backfill: 0`, a second run in the same day has no new bucket: it measures the
/// newest complete one again (the one it judges) rather than having nothing to judge.
#[tokio::test(flavor = "multi_thread")]
async fn without_backfill_a_second_run_the_same_day_judges_the_same_bucket() {
    let today = Grain::Day.floor(Utc::now());
    let db = sqlite_events(today, &[(1, 1, 3, 1), (2, 1, 4, 1), (3, 2, 5, 1)]).await;
    let dataset = "dataset: events\n\
                   partition: { column: occurred_at, grain: day, backfill: 0, history: 2 }\n\
                   checks:\n  - row_count: { min: 1 }\n";
    let project = Project::with_datasets(db.url(), &[("events", dataset)]);
    for run in ["first", "second"] {
        let (code, doc) = json_run_async(project.path(), &[]).await;
        assert_exit_code(code, 0, &doc, run);
        assert_eq!(
            result(&doc, Some("events"), "row_count")["value"],
            2,
            "{run} run: {doc}"
        );
    }
}

/// A per-bucket check added to a partitioned dataset after its first run gets the
/// `history` buckets a first run would have given it, in the same one bucket query as the
/// others, which measure their buckets again.
#[tokio::test(flavor = "multi_thread")]
async fn a_check_added_later_is_back_filled() {
    let today = Grain::Day.floor(Utc::now());
    let db = sqlite_events(
        today,
        &[(1, 3, 1, 5), (2, 2, 1, 6), (3, 2, 2, 7), (4, 1, 1, 8)],
    )
    .await;
    let first = "dataset: events\n\
                 partition: { column: occurred_at, grain: day, backfill: 0, history: 3 }\n\
                 checks:\n  - row_count: { min: 1 }\n";
    let project = Project::with_datasets(db.url(), &[("events", first)]);
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "the first run");

    let added = format!("{first}  - sum: {{ column: v, min: 0 }}\n");
    std::fs::write(project.path().join("checks/events.yml"), added).expect("add a check");
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "the second run");
    let store = Store::open(None, project.path())
        .await
        .expect("the project's store");
    let day = |days: u64| today - Days::new(days);
    assert_eq!(
        series(&store, "sum(v)").await,
        [(day(3), 5.0), (day(2), 13.0), (day(1), 8.0)],
        "the new check's days"
    );
    assert_eq!(
        series(&store, "row_count").await,
        [(day(3), 1.0), (day(2), 2.0), (day(1), 1.0)],
        "measured again, no point twice"
    );
}
