//! The engine conformance suite: what every warehouse engine must hold to, run on each one
//! (Postgres, MariaDB, SQLite, and DuckDB and Spark in builds that have them). This module holds the user-SQL attack reproducers, the
//! engine-side defences behind the guard, the privileged-account warning and an
//! unreachable server; exact metric values with placed defects, NULLs and empty tables are
//! in `metrics.rs`, awkward identifiers and the injection corpus in `identifiers.rs`, and
//! query timeouts in `limits.rs`, each run on every engine the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tidemark::spec::{Location, Secret, WarehouseConfig};
use tidemark::warehouse::{Warehouse, WarehouseError};

use crate::support::{
    Backend, Project, TestDb, assert_exit_code, json_run_async, on_each_backend, result, text,
};

const SEED: &str = "CREATE TABLE victim (id int); INSERT INTO victim VALUES (1), (2), (3);";

/// SQL that an attack pass ran through `sql_metric` against real servers with the test
/// accounts, each of which wrote, escaped its timeout or reached the server's files or
/// programs. `{out}` is a file path the attack would write.
fn query_reproducers(backend: Backend) -> Vec<&'static str> {
    let mut sql = vec![
        "drop table victim",
        "select 1; drop table victim",
        "delete from victim",
        "update victim set id = 0",
        "alter table victim add column y int",
        "create table made (a int)",
        "begin; select 1",
        "with gone as (delete from victim returning 1) select count(*) from gone",
    ];
    sql.extend(match backend {
        Backend::MariaDb => vec![
            "truncate victim",
            "rename table victim to renamed",
            "create database evil",
            "create or replace view victim_view as select 1",
            "create user evil",
            "set global max_connections = 1",
            "select * from victim into outfile '{out}'",
            "select 1 into dumpfile '{out}'",
            "set statement max_statement_time=0 for select sleep(40)",
            "set session max_statement_time = 0",
        ],
        Backend::Postgres => vec![
            "copy (select 1) to program 'id > {out}'",
            "copy victim to '{out}'",
            "select pg_read_file('/etc/hostname')",
            "select set_config('statement_timeout', '0', false)",
            "select count(*) from victim for update",
        ],
        Backend::Sqlite => vec![
            "vacuum into '{out}'",
            "create temp view victim as select 1; select 1",
            "begin immediate; select count(*) from victim",
            "pragma query_only = 0",
            "attach '{out}' as x",
        ],
        #[cfg(feature = "warehouse-duckdb")]
        Backend::DuckDb => vec![
            "copy victim to '{out}'",
            "copy (select 1) to '{out}' (format csv)",
            "export database '{out}'",
            "attach '{out}' as x",
            "install httpfs",
            "load parquet",
            "set enable_external_access = true",
            "checkpoint",
            "create temp table made as select 1; select 1",
            "select length(content) from read_text('/etc/hostname')",
            "select count(*) from read_csv('/etc/passwd')",
            "select count(*) from glob('/*')",
            "select length(getenv('HOME'))",
            "select count(*) from duckdb_secrets()",
        ],
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => vec![
            "insert into victim values (4)",
            "insert overwrite table victim select 1",
            "insert overwrite directory '{out}' using parquet select 1",
            "create table made as select 1",
            "drop database default cascade",
            "cache table victim",
            "refresh table victim",
            "msck repair table victim",
            "set spark.sql.ansi.enabled = false",
            "add jar '{out}'",
            "select count(*) from csv.`/etc/passwd`",
            "select count(*) from text.`/etc/hostname`",
            "select length(reflect('java.lang.System', 'getenv', 'HOME'))",
            "select length(java_method('java.lang.System', 'getProperty', 'user.home'))",
            "select count(*) from read_files('/etc')",
            "select count(transform(id) using 'id' as x) from victim",
        ],
    });
    sql
}

/// Filters that try to end the expression and start a statement, or hide a write.
const FILTER_REPRODUCERS: [&str; 3] = [
    "1 = 1; drop table victim",
    "id in (select id from victim for update)",
    "(select count(*) from (delete from victim returning 1) d) = 0",
];

/// A dataset file with one check per reproducer, each query on a line of its own.
fn attack_dataset(backend: Backend, out: &Path) -> (String, usize) {
    let out = out.display().to_string();
    let mut yaml = String::from("dataset: victim\nchecks:\n");
    let queries = query_reproducers(backend);
    for (i, sql) in queries.iter().enumerate() {
        let sql = serde_json::to_string(&sql.replace("{out}", &out)).expect("a JSON string");
        yaml.push_str(&format!(
            "  - sql_metric: {{ name: attack_{i}, query: {sql}, max: 0 }}\n"
        ));
    }
    for (i, filter) in FILTER_REPRODUCERS.iter().enumerate() {
        let filter = serde_json::to_string(filter).expect("a JSON string");
        yaml.push_str(&format!(
            "  - row_count: {{ name: filtered_{i}, filter: {filter}, min: 0 }}\n"
        ));
    }
    (yaml, queries.len() + FILTER_REPRODUCERS.len())
}

async fn every_reproducer_is_refused_before_it_runs(backend: Backend) {
    let db = TestDb::seeded(backend, SEED).await;
    let out_dir = tempfile::tempdir().expect("a temporary folder");
    let out = out_dir.path().join("written");
    let (yaml, attacks) = attack_dataset(backend, &out);
    let project = Project::with_datasets(db.url(), &[("victim", &yaml)]);

    let doc = project.run(&["validate", "--format", "json"]).json();
    assert_eq!(doc["valid"], false, "{doc}");
    let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(
        diagnostics.len(),
        attacks,
        "{backend:?}: one per attack: {doc}"
    );
    for (i, diagnostic) in diagnostics.iter().enumerate() {
        // Each check is on line 3 + i of the file; the position is its query or filter.
        assert_eq!(
            diagnostic["line"].as_u64(),
            Some(3 + i as u64),
            "{diagnostic}"
        );
        assert!(diagnostic["column"].as_u64() > Some(20), "{diagnostic}");
        let message = text(&diagnostic["message"]);
        assert!(
            [
                "refused",
                "one statement",
                "one boolean expression",
                "cannot parse"
            ]
            .iter()
            .any(|why| message.contains(why)),
            "{backend:?}: {message}"
        );
    }

    // `run` refuses the project as a whole: nothing reached the warehouse.
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "an invalid project");
    assert_eq!(db.scalar_i64("SELECT count(*) FROM victim").await, 3);
    assert!(!out.exists(), "{backend:?}: {} was written", out.display());
}

on_each_backend! {
    every_reproducer_is_refused_before_it_runs,
    postgres: postgres_every_reproducer_is_refused_before_it_runs,
    mariadb: mariadb_every_reproducer_is_refused_before_it_runs,
    sqlite: sqlite_every_reproducer_is_refused_before_it_runs,
    duckdb: duckdb_every_reproducer_is_refused_before_it_runs,
    spark: spark_every_reproducer_is_refused_before_it_runs,
}

fn config(url: &str, query_timeout: Duration) -> WarehouseConfig {
    WarehouseConfig {
        name: "main".into(),
        url: Secret::new(url),
        max_connections: 1,
        query_timeout,
        location: Location {
            file: Arc::new(PathBuf::from("tidemark.yml")),
            line: 1,
            column: 1,
        },
    }
}

async fn connect(db: &TestDb, query_timeout: Duration) -> Arc<Warehouse> {
    let root = Path::new("/");
    Warehouse::connect(&config(db.url(), query_timeout), root)
        .await
        .expect("the test warehouse answers")
}

/// The guard runs where user SQL runs too, so nothing that skips validation (a project
/// built in code) reaches the warehouse with it.
async fn the_engine_refuses_what_validation_refuses(backend: Backend) {
    let db = TestDb::seeded(backend, SEED).await;
    let warehouse = connect(&db, Duration::from_secs(5)).await;
    for sql in query_reproducers(backend) {
        let sql = sql.replace("{out}", "/nonexistent/tidemark-out");
        match warehouse.fetch_number(&sql).await {
            Err(WarehouseError::Refused(_)) => {}
            other => panic!("{backend:?}: {sql} was not refused: {other:?}"),
        }
    }
    assert_eq!(
        warehouse
            .fetch_number("select count(*) from victim")
            .await
            .ok(),
        Some(Some(3.0))
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM victim").await, 3);
}

on_each_backend! {
    the_engine_refuses_what_validation_refuses,
    postgres: postgres_the_engine_refuses_what_validation_refuses,
    mariadb: mariadb_the_engine_refuses_what_validation_refuses,
    sqlite: sqlite_the_engine_refuses_what_validation_refuses,
    duckdb: duckdb_the_engine_refuses_what_validation_refuses,
    spark: spark_the_engine_refuses_what_validation_refuses,
}

/// MariaDB keeps session state (user variables here; `SET`s, temporary tables) on the
/// connection beyond a transaction: a connection that ran user SQL is never handed to the
/// next query, so one check cannot change what another reads.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_session_state_does_not_reach_the_next_query() {
    let db = TestDb::seeded(Backend::MariaDb, SEED).await;
    let warehouse = connect(&db, Duration::from_secs(5)).await;
    let set = warehouse.fetch_number("select @planted := 5").await;
    assert_eq!(set.ok(), Some(Some(5.0)));
    let read = warehouse
        .fetch_number("select cast(coalesce(@planted, 0) as signed)")
        .await;
    assert_eq!(
        read.as_ref().ok().copied(),
        Some(Some(0.0)),
        "the variable leaked to the next query: {read:?}"
    );
}

/// A query whose steps are few but slow (a megabyte of hex per row) is still stopped at
/// its timeout on SQLite, where the deadline is looked at between VM steps, and the
/// connection is free again for the next dataset.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_slow_steps_stop_at_the_timeout_and_the_run_goes_on() {
    let seed = format!("{SEED} CREATE TABLE other (id int); INSERT INTO other VALUES (1);");
    let db = TestDb::seeded(Backend::Sqlite, &seed).await;
    let slow = "with recursive r(i) as (select 1 union all select i + 1 from r where i < 100000) \
                select count(hex(zeroblob(1000000))) from r";
    let project = Project::builder()
        .warehouse_with(
            "main",
            db.url(),
            &[("query_timeout", "1s"), ("max_connections", "1")],
        )
        .dataset(
            "a_slow",
            &format!(
                "dataset: victim\nchecks:\n  - sql_metric: {{ name: slow, query: \"{slow}\", max: 5 }}\n"
            ),
        )
        .dataset(
            "b_next",
            "dataset: other\nchecks:\n  - row_count: { min: 1 }\n",
        )
        .build();
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "the slow query is an error");
    let slow = result(&doc, Some("victim"), "slow");
    assert_eq!(
        slow["message"], "warehouse main: query timed out after 1s",
        "{slow}"
    );
    assert_eq!(result(&doc, Some("other"), "row_count")["outcome"], "pass");
}

/// The guard is one layer; the account is the other. A run as a Postgres superuser or a
/// MariaDB account with FILE/ALL says so (the test accounts are both); SQLite and DuckDB
/// files have no accounts.
async fn a_privileged_account_is_warned_about(backend: Backend) {
    let db = TestDb::seeded(backend, SEED).await;
    let project = Project::with_datasets(
        db.url(),
        &[(
            "victim",
            "dataset: victim\nchecks:\n  - row_count: { min: 1 }\n",
        )],
    );
    let out = project.run(&["run"]);
    out.assert_code(0);
    let warned = out
        .stderr
        .contains("give Tidemark an account that may only read");
    assert_eq!(
        warned,
        backend.has_accounts(),
        "{backend:?}:\n{}",
        out.both()
    );
}

on_each_backend! {
    a_privileged_account_is_warned_about,
    postgres: postgres_a_privileged_account_is_warned_about,
    mariadb: mariadb_a_privileged_account_is_warned_about,
    sqlite: sqlite_a_privileged_account_is_warned_about,
    duckdb: duckdb_a_privileged_account_is_warned_about,
    spark: spark_a_privileged_account_is_warned_about,
}

/// A server that does not answer is an `error` for every check, named by warehouse, with
/// no credentials in the message.
async fn an_unreachable_server_is_an_error(backend: Backend) {
    let url = match backend {
        Backend::Postgres => "postgres://tm:s3cr3t-pass@127.0.0.1:1/x",
        Backend::MariaDb => "mysql://tm:s3cr3t-pass@127.0.0.1:1/x",
        Backend::Sqlite => "sqlite:///nonexistent/dir/w.db",
        #[cfg(feature = "warehouse-duckdb")]
        Backend::DuckDb => "duckdb:///nonexistent/dir/w.duckdb",
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => "sc://127.0.0.1:1/;token=s3cr3t-pass",
    };
    let project = Project::with_datasets(
        url,
        &[(
            "victim",
            "dataset: victim\nchecks:\n  - row_count: { min: 1 }\n",
        )],
    );
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 2, &doc, "an unreachable warehouse");
    let row_count: &Value = result(&doc, None, "row_count");
    assert_eq!(row_count["outcome"], "error", "{row_count}");
    let message = text(&row_count["message"]);
    assert!(
        message.contains("cannot connect to warehouse main"),
        "{message}"
    );
    assert!(!message.contains("s3cr3t-pass"), "{message}");
}

on_each_backend! {
    an_unreachable_server_is_an_error,
    postgres: postgres_an_unreachable_server_is_an_error,
    mariadb: mariadb_an_unreachable_server_is_an_error,
    sqlite: sqlite_an_unreachable_server_is_an_error,
    duckdb: duckdb_an_unreachable_server_is_an_error,
    spark: spark_an_unreachable_server_is_an_error,
}

/// Postgres tells what a query's scans read (its per-transaction table counts): the run's
/// cost says the aggregate read the table's rows once, whatever its number of checks.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_runs_say_how_many_rows_they_scanned() {
    let db = TestDb::seeded(Backend::Postgres, SEED).await;
    let project = Project::with_datasets(
        db.url(),
        &[(
            "victim",
            "dataset: victim\nchecks:\n  - row_count: { min: 1 }\n  - max: { column: id, max: 9 }\n",
        )],
    );
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert_exit_code(code, 0, &doc, "both pass");
    assert_eq!(doc["cost"]["rows_scanned"], 3, "{}", doc["cost"]);
    assert_eq!(
        doc["cost"]["datasets"][0]["rows_scanned"], 3,
        "{}",
        doc["cost"]
    );
}
