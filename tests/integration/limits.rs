//! A warehouse's `max_connections` and `query_timeout` hold, measured from the warehouse's
//! own view of its sessions and from the outcome of a query that outlives its timeout.

use crate::support::{
    Backend, Project, TestDb, assert_exit_code, json_run_async, on_each_backend, result,
};

/// How many of Tidemark's sessions the server sees while this very query runs; pg_sleep
/// holds each dataset's connection long enough for concurrent datasets to overlap.
const CONCURRENT_SESSIONS: &str = "select count(*) from pg_stat_activity cross join pg_sleep(0.3) \
    where application_name = 'tidemark' and datname = current_database()";

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_bounds_concurrent_datasets() {
    let db = TestDb::seeded(
        Backend::Postgres,
        "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);",
    )
    .await;
    let dataset = |table: &str| {
        format!(
            "dataset: {table}\nchecks:\n  - sql_metric: {{ name: sessions, query: \"{CONCURRENT_SESSIONS}\", max: 1 }}\n"
        )
    };
    let project = Project::builder()
        .warehouse_with("main", db.url(), &[("max_connections", "1")])
        .dataset("a", &dataset("a"))
        .dataset("b", &dataset("b"))
        .dataset("c", &dataset("c"))
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "more than one session at a time");
    for table in ["a", "b", "c"] {
        assert_eq!(result(&doc, Some(table), "sessions")["value"], 1);
    }
}

/// A statement that runs far longer than the one-second timeout on each warehouse.
fn slow_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "select count(*) from pg_sleep(30)",
        // SLEEP() interrupted returns 1 instead of failing; a large join is cancelled.
        Backend::MariaDb => {
            "select count(*) from information_schema.columns a, information_schema.columns b, information_schema.columns c"
        }
        Backend::Sqlite => {
            "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) select count(*) from c"
        }
        #[cfg(feature = "warehouse-duckdb")]
        Backend::DuckDb => "select sum(a.range * b.range) from range(1000000) a, range(1000000) b",
        #[cfg(feature = "warehouse-spark")]
        // A trillion pairs and none kept: a sum would overflow (an ANSI error) before 1s.
        Backend::Spark => {
            "select count(*) from range(1000000) a cross join range(1000000) b where a.id + b.id < 0"
        }
    }
}

async fn query_over_its_timeout_is_an_error(backend: Backend) {
    let db = TestDb::seeded(
        backend,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    )
    .await;
    let project = Project::builder()
        .warehouse_with("main", db.url(), &[("query_timeout", "1s")])
        .dataset(
            "t",
            &format!(
                "dataset: t\nchecks:\n  - row_count: {{ min: 1 }}\n  - sql_metric: {{ name: slow, query: \"{}\", max: 5 }}\n",
                slow_query(backend)
            ),
        )
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "the slow query is an error");
    let slow = result(&doc, None, "slow");
    assert_eq!(slow["outcome"], "error", "{backend:?}: {slow}");
    assert_eq!(
        slow["message"], "warehouse main: query timed out after 1s",
        "{backend:?}: {slow}"
    );
    // The other check of the dataset still ran.
    assert_eq!(result(&doc, None, "row_count")["outcome"], "pass");
}

on_each_backend! {
    query_over_its_timeout_is_an_error,
    postgres: a_query_over_its_timeout_is_an_error_on_postgres,
    mariadb: a_query_over_its_timeout_is_an_error_on_mariadb,
    sqlite: a_query_over_its_timeout_is_an_error_on_sqlite,
    duckdb: a_query_over_its_timeout_is_an_error_on_duckdb,
    spark: a_query_over_its_timeout_is_an_error_on_spark,
}
