//! Datasets over files (`files:`) on DuckDB: Parquet in hive-partitioned folders, CSV and
//! JSON, read in place from an in-memory database or beside a database file, with exact
//! values; and the diagnostics for files a warehouse cannot read.

use std::path::Path;

use serde_json::Value;

use crate::support::{Project, assert_exit_code, json_run_async, result, text};

/// 30 orders over three days: ids 1..=30, `dt` = day (1 + id % 3), amount = id (ids
/// divisible by 10 have none), status `placed` except every fifth `void`.
const ORDERS: &str = "SELECT i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE i END::DECIMAL(10,2) \
     AS amount, CASE WHEN i % 5 = 0 THEN 'void' ELSE 'placed' END AS status, \
     TIMESTAMP '2026-12-01 00:00:00' + to_hours(i) AS updated_at, \
     '2026-12-0' || (1 + i % 3) AS dt FROM range(1, 31) t(i)";

/// Writes the orders under `dir` in `format` with DuckDB itself: Parquet partitioned by
/// `dt` (hive folders), CSV and JSON as one file each.
fn write_orders(dir: &Path, format: &str) {
    std::fs::create_dir_all(dir).expect("create the data folder");
    let connection = duckdb::Connection::open_in_memory().expect("an in-memory DuckDB");
    let target = dir.display().to_string().replace('\'', "''");
    let sql = match format {
        "parquet" => format!(
            "COPY ({ORDERS}) TO '{target}' (FORMAT parquet, PARTITION_BY (dt), OVERWRITE_OR_IGNORE)"
        ),
        "csv" => format!("COPY ({ORDERS}) TO '{target}/orders.csv' (FORMAT csv, HEADER)"),
        _ => format!("COPY ({ORDERS}) TO '{target}/orders.json' (FORMAT json)"),
    };
    connection
        .execute_batch(&sql)
        .unwrap_or_else(|e| panic!("write the {format} files: {e}"));
}

const CHECKS: &str = "\
checks:
  - row_count: { equals: 30 }
  - missing_count: { column: amount, max: 0 }
  - invalid_count: { column: status, valid_values: [placed], max: 0 }
  - sum: { column: amount, min: 0 }
  - duplicate_count: { column: id, max: 0 }
  - freshness: { column: updated_at, fail_after: 1h }
";

/// A project on `duckdb://:memory:` whose one dataset reads `files`.
fn files_project(files: &str, extra_checks: &str) -> Project {
    Project::builder()
        .warehouse("lake", "duckdb://:memory:")
        .dataset(
            "orders",
            &format!("dataset: orders\nfiles: {files}\n{CHECKS}{extra_checks}"),
        )
        .build()
}

fn value(doc: &Value, check: &str) -> f64 {
    let found = result(doc, Some("orders"), check);
    found["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{check} has no value: {found}"))
}

/// The same exact values whatever the format; the failures are the placed defects.
fn assert_orders(doc: &Value) {
    assert_eq!(value(doc, "row_count"), 30.0);
    assert_eq!(value(doc, "missing_count(amount)"), 3.0);
    assert_eq!(value(doc, "invalid_count(status)"), 6.0);
    // 1 + … + 30 without 10, 20, 30.
    assert_eq!(value(doc, "sum(amount)"), 405.0);
    assert_eq!(value(doc, "duplicate_count(id)"), 0.0);
    // The newest row is 2026-12-02 06:00 UTC: days old, so a failure with a real age.
    let freshness = result(doc, Some("orders"), "freshness(updated_at)");
    assert_eq!(freshness["outcome"], "fail", "{freshness}");
    assert!(
        value(doc, "freshness(updated_at)") > 86_400.0,
        "{freshness}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hive_partitioned_parquet_is_read_in_place_with_its_partition_column() {
    let schema = "  - schema: { columns: { id: integer, amount: decimal, dt: date } }\n";
    let project = files_project("data/orders/*/*.parquet", schema);
    write_orders(&project.path().join("data/orders"), "parquet");
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 1, &doc, "the placed defects fail");
    assert_orders(&doc);
    let schema = result(&doc, Some("orders"), "schema");
    assert_eq!(
        schema["outcome"], "pass",
        "the dt folder is a column, typed by DuckDB: {schema}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_and_json_files_give_the_same_values() {
    for (format, files) in [("csv", "data/*.csv"), ("json", "data/orders.json")] {
        let project = files_project(files, "");
        write_orders(&project.path().join("data"), format);
        let (code, doc) = json_run_async(project.path(), &[]).await;
        assert_exit_code(code, 1, &doc, format);
        assert_orders(&doc);
    }
}

/// A database file's tables and a folder of files, side by side in one project; the
/// absolute path form of `files:` too.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_file_and_files_beside_it() {
    let data = tempfile::tempdir().expect("a data folder");
    write_orders(data.path(), "csv");
    let db = crate::support::DuckDb::new();
    db.exec(&format!("CREATE TABLE orders AS {ORDERS}"));
    let csv = data.path().join("orders.csv");
    let project = Project::builder()
        .warehouse("db", &db.url)
        .dataset("table", &format!("dataset: orders\nwarehouse: db\n{CHECKS}"))
        .dataset(
            "files",
            &format!(
                "dataset: orders_csv\nwarehouse: db\nfiles: {}\nchecks:\n  - row_count: {{ equals: 30 }}\n",
                csv.display()
            ),
        )
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 1, &doc, "the placed defects fail");
    assert_orders(&doc);
    assert_eq!(
        result(&doc, Some("orders_csv"), "row_count")["value"],
        30,
        "{doc}"
    );
}

/// A glob that matches nothing is an error of each check, naming the pattern, not a pass
/// over no rows.
#[tokio::test(flavor = "multi_thread")]
async fn files_that_are_not_there_are_an_error() {
    let project = files_project("data/missing/*.parquet", "");
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "nothing to read");
    let row_count = result(&doc, Some("orders"), "row_count");
    assert_eq!(row_count["outcome"], "error", "{row_count}");
    let message = text(&row_count["message"]);
    assert!(message.contains("data/missing/*.parquet"), "{message}");
}

/// `files:` needs an engine that reads files and a format it can tell; both are
/// validation errors at the value's place.
#[test]
fn files_a_warehouse_cannot_read_are_refused_at_their_place() {
    let project = Project::builder()
        .warehouse("lake", "duckdb://:memory:")
        .warehouse("app", "sqlite://app.db")
        .dataset(
            "a",
            "dataset: a\nwarehouse: app\nfiles: data/a.parquet\nchecks:\n  - row_count: { min: 0 }\n",
        )
        .dataset(
            "b",
            "dataset: b\nwarehouse: lake\nfiles: data/b.xlsx\nchecks:\n  - row_count: { min: 0 }\n",
        )
        .build();
    let doc = project.run(&["validate", "--format", "json"]).json();
    assert_eq!(doc["valid"], false, "{doc}");
    let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
    let messages: Vec<(String, u64, u64)> = diagnostics
        .iter()
        .map(|d| {
            let file = text(&d["file"]).rsplit('/').next().unwrap_or("").to_owned();
            let message = text(&d["message"]).to_owned();
            let line = d["line"].as_u64().unwrap_or(0);
            let column = d["column"].as_u64().unwrap_or(0);
            (format!("{file}: {message}"), line, column)
        })
        .collect();
    assert_eq!(messages.len(), 2, "{doc}");
    assert!(
        messages[0]
            .0
            .starts_with("a.yml: dataset a: 'files' needs a warehouse that reads files"),
        "{messages:?}"
    );
    assert!(
        messages[1]
            .0
            .contains("cannot tell the format of 'data/b.xlsx'"),
        "{messages:?}"
    );
    for (_, line, column) in &messages {
        assert_eq!((*line, *column), (3, 8), "{messages:?}");
    }
}

/// A day-partitioned Parquet folder (`dt=…/`) as a partitioned dataset: the per-day counts
/// come from the partition column DuckDB reads from the folder names.
#[tokio::test(flavor = "multi_thread")]
async fn day_partitioned_parquet_runs_per_day() {
    let project = Project::builder()
        .warehouse("lake", "duckdb://:memory:")
        .dataset(
            "events",
            "dataset: events\nfiles: data/events/*/*.parquet\n\
             partition: { column: dt, grain: day, history: 3 }\n\
             checks:\n  - row_count: { min: 1 }\n",
        )
        .build();
    let dir = project.path().join("data/events");
    std::fs::create_dir_all(&dir).expect("create the data folder");
    let target = dir.display().to_string().replace('\'', "''");
    // 10, 20 and 30 rows on the three days before today (UTC).
    let sql = format!(
        "SET TimeZone = 'UTC'; COPY (SELECT i AS id, (current_date - CAST(1 + (i % 6 > 0)::INT \
         + (i % 6 > 2)::INT AS INTEGER)) AS dt FROM range(60) t(i)) TO '{target}' \
         (FORMAT parquet, PARTITION_BY (dt))"
    );
    let connection = duckdb::Connection::open_in_memory().expect("an in-memory DuckDB");
    connection
        .execute_batch(&sql)
        .unwrap_or_else(|e| panic!("write the files: {e}"));
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "every day has rows");
    let store = tidemark::store::Store::open(None, project.path())
        .await
        .expect("the project's store");
    let series: Vec<f64> = store
        .metric_series("events", "row_count", None)
        .await
        .expect("the series")
        .iter()
        .map(|point| point.value)
        .collect();
    assert_eq!(series, [30.0, 20.0, 10.0], "{doc}");
    assert_eq!(
        result(&doc, Some("events"), "row_count")["value"],
        10,
        "{doc}"
    );
}

/// The same hive-partitioned Parquet folder read by Spark through a path table: the same
/// exact values, and `dt` from the folder names.
#[cfg(feature = "warehouse-spark")]
#[tokio::test(flavor = "multi_thread")]
async fn spark_reads_the_same_hive_partitioned_parquet() {
    let spark = crate::support::spark_server_url();
    let schema = "  - schema: { columns: { id: integer, amount: decimal, dt: date } }\n";
    let project = Project::builder()
        .warehouse("lake", &spark)
        .dataset(
            "orders",
            &format!("dataset: orders\nfiles: data/orders/*/*.parquet\n{CHECKS}{schema}"),
        )
        .build();
    write_orders(&project.path().join("data/orders"), "parquet");
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 1, &doc, "the placed defects fail");
    assert_orders(&doc);
    let schema = result(&doc, Some("orders"), "schema");
    assert_eq!(schema["outcome"], "pass", "{schema}");
    // Spark's scan metrics: the one aggregate read the 30 rows, from files of some size.
    let cost = &doc["cost"];
    assert_eq!(cost["rows_scanned"], 30, "{cost}");
    assert!(
        cost["bytes_scanned"].as_u64().is_some_and(|b| b > 0),
        "{cost}"
    );
}
