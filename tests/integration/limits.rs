//! A warehouse's `max_connections` and `query_timeout` hold, measured from the warehouse's
//! own view of its sessions and from the outcome of a query that outlives its timeout.

use crate::support::{Backend, Project, TestDb, json_run_async, result, result_lines};

/// How many of Tidemark's sessions the server sees while this very query runs; pg_sleep
/// holds each dataset's connection long enough for concurrent datasets to overlap.
const CONCURRENT_SESSIONS: &str = "select count(*) from pg_stat_activity cross join pg_sleep(0.3) \
    where application_name = 'tidemark' and datname = current_database()";

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_bounds_concurrent_datasets() {
    let db = TestDb::new(Backend::Postgres).await;
    db.exec("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);")
        .await;
    let dataset = |table: &str| {
        format!(
            "dataset: {table}\nchecks:\n  - sql_metric: {{ name: sessions, query: \"{CONCURRENT_SESSIONS}\", max: 1 }}\n"
        )
    };
    let project = Project::builder()
        .config(&format!(
            "version: 1\nwarehouses:\n  main: {{ url: \"{}\", max_connections: 1 }}\nchecks: [checks/]\n",
            db.url()
        ))
        .dataset("a", &dataset("a"))
        .dataset("b", &dataset("b"))
        .dataset("c", &dataset("c"))
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_eq!(
        code,
        0,
        "more than one session at a time:\n{}",
        result_lines(&doc)
    );
    for table in ["a", "b", "c"] {
        assert_eq!(result(&doc, Some(table), "sessions")["value"], 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_over_its_timeout_is_an_error() {
    let db = TestDb::new(Backend::Postgres).await;
    db.exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
        .await;
    let project = Project::builder()
        .config(&format!(
            "version: 1\nwarehouses:\n  main: {{ url: \"{}\", query_timeout: 1s }}\nchecks: [checks/]\n",
            db.url()
        ))
        .dataset(
            "t",
            "dataset: t\nchecks:\n  - row_count: { min: 1 }\n  - sql_metric: { name: slow, query: 'select count(*) from pg_sleep(30)', max: 5 }\n",
        )
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_eq!(code, 2, "{}", result_lines(&doc));
    let slow = result(&doc, None, "slow");
    assert_eq!(slow["outcome"], "error", "{slow}");
    let message = slow["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("timed out") || message.contains("statement timeout"),
        "{slow}"
    );
    // The other check of the dataset still ran.
    assert_eq!(result(&doc, None, "row_count")["outcome"], "pass");
}
