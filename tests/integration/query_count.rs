//! "All aggregate metrics of one dataset (with the same filter) come from one SELECT"
//! (DESIGN.md): ten aggregate checks and a schema check cost exactly one aggregate query
//! over the table and one schema lookup, counted by the server itself.
//!
//! Postgres: pg_stat_statements (must be preloaded; `tests/run` does that). Nothing is reset
//! globally: the table name is unique, and the schema lookup is counted within the fresh
//! test database (its `dbid`).
//! MariaDB: the general query log, written to the `mysql.general_log` table.

use crate::support::{
    Backend, MyDb, PgDb, Project, SqlTypes, block_on_side, json_run_async, result_lines, summary,
    unique_name,
};

/// Ten aggregate checks (all passing) and a schema check on `table`.
fn dataset_yaml(table: &str) -> String {
    format!(
        r#"
dataset: {table}
checks:
  - row_count: {{ equals: 4 }}
  - missing_count: {{ column: customer_id, max: 1 }}
  - missing_percent: {{ column: customer_id, max: 25 }}
  - duplicate_count: {{ columns: [id], max: 0 }}
  - duplicate_count: {{ columns: [id, customer_id], max: 0 }}
  - invalid_count: {{ column: status, valid_values: [placed, shipped], max: 0 }}
  - min: {{ column: amount, min: 0 }}
  - max: {{ column: amount, max: 100 }}
  - avg: {{ column: amount, between: [1, 100] }}
  - sum: {{ column: amount, equals: 100 }}
  - schema: {{ columns: {{ id: integer, status: text }} }}
"#
    )
}

const AGGREGATE_CHECKS: u64 = 10;

fn seed_sql(table: &str, backend: Backend) -> String {
    let SqlTypes {
        int, text, decimal, ..
    } = backend.types();
    format!(
        "CREATE TABLE {table} (id {int}, customer_id {int}, status {text}, amount {decimal});
         INSERT INTO {table} VALUES (1, 10, 'placed', 10), (2, NULL, 'shipped', 20), \
             (3, 11, 'placed', 30), (4, 12, 'shipped', 40);"
    )
}

async fn run_and_check_results(url: &str, table: &str) {
    let project = Project::with_datasets(url, &[(table, &dataset_yaml(table))]);
    let (code, doc) = json_run_async(project.path(), &[]).await;
    assert!(
        code == 0 && summary(&doc) == [AGGREGATE_CHECKS + 1, 0, 0, 0],
        "every check should pass (exit code {code}):\n{}",
        result_lines(&doc)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_one_aggregate_select_and_one_schema_lookup() {
    let db = PgDb::new().await;
    let preloaded: String = sqlx::query_scalar("SHOW shared_preload_libraries")
        .fetch_one(&db.pool)
        .await
        .expect("SHOW shared_preload_libraries");
    assert!(
        preloaded.contains("pg_stat_statements"),
        "pg_stat_statements is not preloaded on the test Postgres (shared_preload_libraries = \
         {preloaded:?}); run tests/run, which configures it"
    );
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&db.pool)
        .await
        .expect("CREATE EXTENSION pg_stat_statements (run tests/run)");
    let table = unique_name("qc");
    db.exec(&seed_sql(&table, Backend::Postgres)).await;

    run_and_check_results(&db.url, &table).await;

    let dbid: i64 = sqlx::query_scalar(
        "SELECT oid::bigint FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(&db.pool)
    .await
    .expect("the test database's oid");
    // Every statement recorded in the test database, except this test's own bookkeeping.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT query, calls::bigint FROM pg_stat_statements
         WHERE dbid = $1::oid AND query NOT ILIKE '%pg_stat_statements%'",
    )
    .bind(dbid)
    .fetch_all(&db.pool)
    .await
    .expect("read pg_stat_statements");
    let listing = rows
        .iter()
        .map(|(q, c)| format!("  {c} × {q}"))
        .collect::<Vec<_>>()
        .join("\n");

    let is_select = |q: &str| {
        let q = q.trim_start().to_lowercase();
        q.starts_with("select") || q.starts_with("with")
    };
    // Over the table: everything but this test's CREATE TABLE / INSERT.
    let over_table: i64 = rows
        .iter()
        .filter(|(q, _)| q.contains(&table) && is_select(q))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(
        over_table, 1,
        "expected exactly one aggregate SELECT over {table}; statements in the test database:\n{listing}"
    );
    let other_over_table: Vec<&String> = rows
        .iter()
        .map(|(q, _)| q)
        .filter(|q| q.contains(&table) && !is_select(q))
        .filter(|q| {
            let q = q.trim_start().to_lowercase();
            !(q.starts_with("create table") || q.starts_with("insert into"))
        })
        .collect();
    assert!(
        other_over_table.is_empty(),
        "unexpected statements over {table}:\n{listing}"
    );

    // The run's cost: what the aggregate's transaction scanned, read once, in it.
    let is_cost_read = |q: &str| q.contains("pg_stat_xact_user_tables");
    let cost_reads: i64 = rows
        .iter()
        .filter(|(q, _)| is_cost_read(q))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(cost_reads, 1, "{listing}");

    // The schema lookup binds the table name, so it is found by the catalogs it reads.
    let catalog_calls: i64 = rows
        .iter()
        .filter(|(q, _)| !is_cost_read(q))
        .filter(|(q, _)| {
            let q = q.to_lowercase();
            [
                "information_schema",
                "pg_catalog",
                "pg_attribute",
                "pg_class",
                "pg_namespace",
            ]
            .iter()
            .any(|c| q.contains(c))
        })
        .map(|(_, c)| c)
        .sum();
    assert_eq!(
        catalog_calls, 1,
        "expected exactly one schema lookup; statements in the test database:\n{listing}"
    );
}

/// Restores the general log settings even if the test fails.
struct GeneralLog {
    pool: sqlx::MySqlPool,
    was_on: String,
    output: String,
}

impl Drop for GeneralLog {
    fn drop(&mut self) {
        let (pool, was_on, output) = (self.pool.clone(), self.was_on.clone(), self.output.clone());
        block_on_side("restoring the general log settings", move || async move {
            let sql = format!("SET GLOBAL general_log = {was_on}, log_output = '{output}'");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_one_aggregate_select_and_one_schema_lookup() {
    let db = MyDb::new().await;
    let table = unique_name("qc");
    db.exec(&seed_sql(&table, Backend::MariaDb)).await;

    let (was_on, output): (i64, String) =
        sqlx::query_as("SELECT @@GLOBAL.general_log + 0, @@GLOBAL.log_output")
            .fetch_one(&db.pool)
            .await
            .expect("read the general log settings");
    let _restore = GeneralLog {
        pool: db.pool.clone(),
        was_on: was_on.to_string(),
        output,
    };
    sqlx::query("SET GLOBAL general_log = 'ON', log_output = 'TABLE'")
        .execute(&db.pool)
        .await
        .expect("turn the general log on");

    run_and_check_results(&db.url, &table).await;

    // The engine uses prepared statements: each lands in the log as a `Prepare` (the SQL
    // with placeholders) and an `Execute` (the SQL with the parameters filled in, so the
    // schema lookup shows the bound table name too), then a `Close stmt`. One execution is
    // one `Execute` row; statements sent as plain text land as one `Query` row. So counting
    // `Execute` + `Query` rows counts executions. This test's own CREATE/INSERT are Query
    // rows that are not SELECTs.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(command_type AS CHAR), CONVERT(argument USING utf8mb4) FROM mysql.general_log
         WHERE command_type IN ('Query', 'Execute') AND INSTR(CONVERT(argument USING utf8mb4), ?) > 0",
    )
    .bind(&table)
    .fetch_all(&db.pool)
    .await
    .expect("read mysql.general_log");
    // This very query mentions the table only as a bound parameter of a prepared
    // statement... whose Execute row does mention it: leave it out.
    let rows: Vec<&(String, String)> = rows
        .iter()
        .filter(|(_, q)| !q.contains("general_log"))
        .collect();
    let listing = rows
        .iter()
        .map(|(c, q)| format!("  {c}: {q}"))
        .collect::<Vec<_>>()
        .join("\n");

    let lower = |q: &str| q.trim_start().to_lowercase();
    let is_schema = |q: &str| {
        let q = lower(q);
        q.contains("information_schema") || q.starts_with("show") || q.starts_with("describe")
    };
    let aggregates = rows
        .iter()
        .filter(|(_, q)| lower(q).starts_with("select") && !is_schema(q))
        .count();
    let schema = rows.iter().filter(|(_, q)| is_schema(q)).count();
    let others: Vec<_> = rows
        .iter()
        .filter(|(_, q)| {
            let q = lower(q);
            !q.starts_with("select")
                && !is_schema(&q)
                && !q.starts_with("create table")
                && !q.starts_with("insert into")
        })
        .collect();
    assert!(
        aggregates == 1 && schema == 1 && others.is_empty(),
        "expected one aggregate SELECT over {table} and one schema lookup; {aggregates} and \
         {schema} executed; logged statements mentioning it:\n{listing}"
    );
}
