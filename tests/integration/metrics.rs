//! Every non-anomaly check kind of CHECKS.md, with exact values, on Postgres, MariaDB and
//! SQLite. One dataset file and one table of expectations serve all three warehouses; only
//! the DDL and the clock expressions differ per warehouse.
//!
//! The `orders` table has placed defects (rows listed in `ORDERS`):
//! - `customer_id`: NULL twice, 13 twice (one duplicate among non-null keys);
//! - `email`: '' and 'n/a' (counted as missing through `missing_values`) and one NULL;
//! - `status`: two values outside the allowed list, one NULL;
//! - `code`: two values not matching `^AB-[0-9]{3}$`;
//! - `amount`: one negative, one above 100, a 0 on the boundary of `valid_min`, one NULL;
//! - `(store_id, sku)`: (1,'a') three times; rows with a NULL in the key that would be
//!   duplicates if NULLs counted;
//! - `discount`: NULL everywhere (min/avg have no values: `fail` with value null);
//! - `updated_at`: newest 1 hour before the warehouse's now();
//! - a `region = 'test'` row that the dataset filter removes, with values that would change
//!   every metric (a newer timestamp, a large amount, a new duplicate).
//!
//! `empty_orders` has no rows.

use serde_json::{Value, json};

use crate::support::{
    Backend, Project, TestDb, json_eq, json_run_async, result, result_lines, summary,
};

const ORDERS_YAML: &str = r#"
dataset: orders
filter: "region <> 'test'"
tags: [metrics]
checks:
  - row_count: { equals: 7 }
  - row_count: { name: eu_rows, filter: "region = 'eu'", min: 5 }
  - missing_count: { column: customer_id, warn: { max: 1 }, fail: { max: 10 } }
  - missing_count: { column: email, missing_values: ['', 'n/a'], max: 0 }
  - missing_count: { name: us_missing_customers, column: customer_id, filter: "region = 'us'", max: 0 }
  - missing_percent: { column: customer_id, max: 50 }
  - duplicate_count: { columns: [id], max: 0 }
  - duplicate_count: { columns: [customer_id], max: 0 }
  - duplicate_count: { columns: [store_id, sku], max: 0 }
  - invalid_count: { column: status, valid_values: [placed, shipped, delivered, cancelled], max: 0 }
  - invalid_count: { column: code, valid_regex: '^AB-[0-9]{3}$', max: 0 }
  - invalid_count: { column: amount, valid_min: 0, valid_max: 100, max: 2 }
  - min: { column: amount, min: 0 }
  - max: { column: amount, max: 1000 }
  - avg: { column: amount, between: [10, 500] }
  - sum: { column: amount, min: 0 }
  - stddev: { column: qty, max: 3 }
  - min: { column: discount, min: 0 }
  - avg: { column: discount, max: 100 }
  - freshness: { column: updated_at, warn_after: 2h, fail_after: 6h }
  - freshness: { name: stale_after_30m, column: updated_at, fail_after: 30m }
  - schema:
      columns:
        id: integer
        customer_id: integer
        email: text
        status: text
        amount: decimal
        score: float
        updated_at: timestamp
  - schema: { name: schema_mismatch, columns: { status: integer } }
  - sql_metric: { name: negative_amounts, query: "select count(*) from orders where amount < 0", max: 0 }
"#;

const EMPTY_YAML: &str = r#"
dataset: empty_orders
checks:
  - row_count: { min: 1 }
  - missing_count: { column: customer_id, max: 0 }
  - missing_percent: { column: customer_id, max: 0 }
  - duplicate_count: { columns: [id], max: 0 }
  - sum: { column: amount, min: 0 }
  - max: { column: amount, max: 10 }
"#;

/// The value a result must carry.
#[derive(Clone, Copy, Debug)]
enum V {
    /// A count: an integral JSON number, exactly this.
    Count(i64),
    /// Exactly this number (decimal sums and extremes).
    Exact(f64),
    /// Within 1e-9 relative (averages, percentages, standard deviations).
    Approx(f64),
    /// Within [lo, hi] (freshness, which depends on the clock).
    Within(f64, f64),
    Null,
    /// `schema`: CHECKS.md gives it no value; null, or the number of problems found.
    NullOr(i64),
}

/// One expected result: (dataset, check name, kind, column, columns, outcome, value, expected).
struct Expect {
    dataset: &'static str,
    check: &'static str,
    kind: &'static str,
    column: Option<&'static str>,
    columns: Option<&'static [&'static str]>,
    outcome: &'static str,
    value: V,
    /// `None`: `expected` must be JSON null.
    expected: Option<Value>,
}

#[allow(clippy::too_many_arguments)]
fn e(
    dataset: &'static str,
    check: &'static str,
    kind: &'static str,
    column: Option<&'static str>,
    outcome: &'static str,
    value: V,
    expected: Option<Value>,
) -> Expect {
    Expect {
        dataset,
        check,
        kind,
        column,
        columns: None,
        outcome,
        value,
        expected,
    }
}

/// Rows kept by the dataset filter: 7. Non-null amounts: 10.50, 120, 30.25, -5, 0, 44.25
/// (sum 200, avg 200/6). Non-null qty: 1, 2, 3, 4, 5, 8 (sample stddev 2.48327740429189;
/// the population one would be 2.2669...).
fn expectations() -> Vec<Expect> {
    const O: &str = "orders";
    const EMPTY: &str = "empty_orders";
    let mut multi = e(
        O,
        "duplicate_count(store_id, sku)",
        "duplicate_count",
        None,
        "fail",
        V::Count(2),
        Some(json!({"max": 0})),
    );
    multi.columns = Some(&["store_id", "sku"]);
    vec![
        e(
            O,
            "row_count",
            "row_count",
            None,
            "pass",
            V::Count(7),
            Some(json!({"equals": 7})),
        ),
        e(
            O,
            "eu_rows",
            "row_count",
            None,
            "fail",
            V::Count(4),
            Some(json!({"min": 5})),
        ),
        e(
            O,
            "missing_count(customer_id)",
            "missing_count",
            Some("customer_id"),
            "warn",
            V::Count(2),
            Some(json!({"warn": {"max": 1}, "fail": {"max": 10}})),
        ),
        e(
            O,
            "missing_count(email)",
            "missing_count",
            Some("email"),
            "fail",
            V::Count(3),
            Some(json!({"max": 0})),
        ),
        e(
            O,
            "us_missing_customers",
            "missing_count",
            Some("customer_id"),
            "fail",
            V::Count(2),
            Some(json!({"max": 0})),
        ),
        e(
            O,
            "missing_percent(customer_id)",
            "missing_percent",
            Some("customer_id"),
            "pass",
            V::Approx(200.0 / 7.0),
            Some(json!({"max": 50})),
        ),
        e(
            O,
            "duplicate_count(id)",
            "duplicate_count",
            Some("id"),
            "pass",
            V::Count(0),
            Some(json!({"max": 0})),
        ),
        e(
            O,
            "duplicate_count(customer_id)",
            "duplicate_count",
            Some("customer_id"),
            "fail",
            V::Count(1),
            Some(json!({"max": 0})),
        ),
        multi,
        e(
            O,
            "invalid_count(status)",
            "invalid_count",
            Some("status"),
            "fail",
            V::Count(2),
            Some(json!({"max": 0})),
        ),
        e(
            O,
            "invalid_count(code)",
            "invalid_count",
            Some("code"),
            "fail",
            V::Count(2),
            Some(json!({"max": 0})),
        ),
        e(
            O,
            "invalid_count(amount)",
            "invalid_count",
            Some("amount"),
            "pass",
            V::Count(2),
            Some(json!({"max": 2})),
        ),
        e(
            O,
            "min(amount)",
            "min",
            Some("amount"),
            "fail",
            V::Exact(-5.0),
            Some(json!({"min": 0})),
        ),
        e(
            O,
            "max(amount)",
            "max",
            Some("amount"),
            "pass",
            V::Exact(120.0),
            Some(json!({"max": 1000})),
        ),
        e(
            O,
            "avg(amount)",
            "avg",
            Some("amount"),
            "pass",
            V::Approx(200.0 / 6.0),
            Some(json!({"between": [10, 500]})),
        ),
        e(
            O,
            "sum(amount)",
            "sum",
            Some("amount"),
            "pass",
            V::Exact(200.0),
            Some(json!({"min": 0})),
        ),
        e(
            O,
            "stddev(qty)",
            "stddev",
            Some("qty"),
            "pass",
            V::Approx(2.48327740429189),
            Some(json!({"max": 3})),
        ),
        e(
            O,
            "min(discount)",
            "min",
            Some("discount"),
            "fail",
            V::Null,
            Some(json!({"min": 0})),
        ),
        e(
            O,
            "avg(discount)",
            "avg",
            Some("discount"),
            "fail",
            V::Null,
            Some(json!({"max": 100})),
        ),
        // Freshness thresholds are durations, reported in seconds.
        e(
            O,
            "freshness(updated_at)",
            "freshness",
            Some("updated_at"),
            "pass",
            V::Within(3600.0, 3660.0),
            Some(json!({"warn": {"max": 7200}, "fail": {"max": 21600}})),
        ),
        e(
            O,
            "stale_after_30m",
            "freshness",
            Some("updated_at"),
            "fail",
            V::Within(3600.0, 3660.0),
            Some(json!({"max": 1800})),
        ),
        e(O, "schema", "schema", None, "pass", V::NullOr(0), None),
        e(
            O,
            "schema_mismatch",
            "schema",
            None,
            "fail",
            V::NullOr(1),
            None,
        ),
        e(
            O,
            "negative_amounts",
            "sql_metric",
            None,
            "fail",
            V::Count(1),
            Some(json!({"max": 0})),
        ),
        // The empty table.
        e(
            EMPTY,
            "row_count",
            "row_count",
            None,
            "fail",
            V::Count(0),
            Some(json!({"min": 1})),
        ),
        e(
            EMPTY,
            "missing_count(customer_id)",
            "missing_count",
            Some("customer_id"),
            "pass",
            V::Count(0),
            Some(json!({"max": 0})),
        ),
        e(
            EMPTY,
            "missing_percent(customer_id)",
            "missing_percent",
            Some("customer_id"),
            "pass",
            V::Exact(0.0),
            Some(json!({"max": 0})),
        ),
        e(
            EMPTY,
            "duplicate_count(id)",
            "duplicate_count",
            Some("id"),
            "pass",
            V::Count(0),
            Some(json!({"max": 0})),
        ),
        e(
            EMPTY,
            "sum(amount)",
            "sum",
            Some("amount"),
            "fail",
            V::Null,
            Some(json!({"min": 0})),
        ),
        e(
            EMPTY,
            "max(amount)",
            "max",
            Some("amount"),
            "fail",
            V::Null,
            Some(json!({"max": 10})),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Seeding: the same rows everywhere; DDL and clock expressions per warehouse.

/// Column values as SQL literals (NULL written as NULL); `updated_at` is seconds before the
/// warehouse's now() (None = NULL).
struct Row {
    id: i64,
    customer_id: &'static str,
    email: &'static str,
    status: &'static str,
    code: &'static str,
    amount: &'static str,
    qty: &'static str,
    score: &'static str,
    region: &'static str,
    store_id: &'static str,
    sku: &'static str,
    updated_ago: Option<i64>,
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

#[rustfmt::skip]
const ORDERS: &[Row] = &[
    Row { id: 1, customer_id: "10",   email: "'a@x.io'", status: "'placed'",    code: "'AB-001'", amount: "10.50",  qty: "1",    score: "0.5",  region: "'eu'",   store_id: "1",    sku: "'a'",  updated_ago: Some(HOUR) },
    Row { id: 2, customer_id: "11",   email: "''",       status: "'shipped'",   code: "'AB-002'", amount: "120.00", qty: "2",    score: "1.5",  region: "'eu'",   store_id: "1",    sku: "'b'",  updated_ago: Some(2 * DAY) },
    Row { id: 3, customer_id: "NULL", email: "'n/a'",    status: "'placed'",    code: "'AB-003'", amount: "30.25",  qty: "3",    score: "2.5",  region: "'us'",   store_id: "1",    sku: "'a'",  updated_ago: Some(3 * DAY) },
    Row { id: 4, customer_id: "12",   email: "NULL",     status: "'unknown'",   code: "'bad'",    amount: "-5.00",  qty: "4",    score: "NULL", region: "'us'",   store_id: "2",    sku: "NULL", updated_ago: Some(DAY) },
    Row { id: 5, customer_id: "NULL", email: "'b@x.io'", status: "'returned'",  code: "'AB-12'",  amount: "0.00",   qty: "5",    score: "3.5",  region: "'us'",   store_id: "2",    sku: "NULL", updated_ago: Some(DAY) },
    Row { id: 6, customer_id: "13",   email: "'c@x.io'", status: "NULL",        code: "NULL",     amount: "NULL",   qty: "NULL", score: "4.5",  region: "'eu'",   store_id: "NULL", sku: "'a'",  updated_ago: None },
    Row { id: 7, customer_id: "13",   email: "'c@x.io'", status: "'delivered'", code: "'AB-007'", amount: "44.25",  qty: "8",    score: "5.5",  region: "'eu'",   store_id: "1",    sku: "'a'",  updated_ago: Some(DAY) },
    // Removed by the dataset filter; would change every metric if it were not.
    Row { id: 8, customer_id: "13",   email: "''",       status: "'bogus'",     code: "'zz'",     amount: "1000",   qty: "100",  score: "9.5",  region: "'test'", store_id: "1",    sku: "'a'",  updated_ago: Some(60) },
];

/// Type names for the columns of `orders`, per warehouse.
struct Types {
    int: &'static str,
    text: &'static str,
    decimal: &'static str,
    float: &'static str,
    timestamp: &'static str,
}

fn types(backend: Backend) -> Types {
    match backend {
        Backend::Postgres => Types {
            int: "integer",
            text: "text",
            decimal: "numeric(10,2)",
            float: "double precision",
            timestamp: "timestamptz",
        },
        Backend::MariaDb => Types {
            int: "int",
            text: "varchar(50)",
            decimal: "decimal(10,2)",
            float: "double",
            timestamp: "datetime",
        },
        Backend::Sqlite => Types {
            int: "INTEGER",
            text: "TEXT",
            decimal: "DECIMAL(10,2)",
            float: "REAL",
            timestamp: "DATETIME",
        },
    }
}

/// The warehouse's own now() minus `seconds`, as a value for the timestamp column.
fn ago(backend: Backend, seconds: i64) -> String {
    match backend {
        Backend::Postgres => format!("now() - interval '{seconds} seconds'"),
        Backend::MariaDb => format!("now() - interval {seconds} second"),
        // ISO-8601 text, UTC: with a zone suffix for the recent rows, SQLite's own
        // zone-less form for the older ones (both are timestamps per CHECKS.md).
        Backend::Sqlite if seconds < DAY => {
            format!("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{seconds} seconds')")
        }
        Backend::Sqlite => format!("datetime('now', '-{seconds} seconds')"),
    }
}

fn seed_sql(backend: Backend) -> String {
    let t = types(backend);
    let columns = format!(
        "id {int} NOT NULL, customer_id {int}, email {text}, status {text}, code {text}, \
         amount {decimal}, qty {int}, score {float}, region {text}, store_id {int}, sku {text}, \
         discount {decimal}, updated_at {ts}",
        int = t.int,
        text = t.text,
        decimal = t.decimal,
        float = t.float,
        ts = t.timestamp,
    );
    let mut sql =
        format!("CREATE TABLE orders ({columns});\nCREATE TABLE empty_orders ({columns});\n");
    for r in ORDERS {
        let updated_at = r.updated_ago.map_or("NULL".to_owned(), |s| ago(backend, s));
        sql.push_str(&format!(
            "INSERT INTO orders (id, customer_id, email, status, code, amount, qty, score, region, \
             store_id, sku, discount, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {});\n",
            r.id,
            r.customer_id,
            r.email,
            r.status,
            r.code,
            r.amount,
            r.qty,
            r.score,
            r.region,
            r.store_id,
            r.sku,
            updated_at,
        ));
    }
    sql
}

// ---------------------------------------------------------------------------------------

fn check_value(backend: Backend, exp: &Expect, got: &Value, problems: &mut Vec<String>) {
    let here = format!("{backend:?} {} / {}", exp.dataset, exp.check);
    let ok = match exp.value {
        V::Null => got.is_null(),
        V::NullOr(n) => got.is_null() || got.as_i64() == Some(n),
        V::Count(n) => got.as_i64() == Some(n),
        V::Exact(x) => got.as_f64() == Some(x),
        V::Approx(x) => got
            .as_f64()
            .is_some_and(|g| (g - x).abs() <= 1e-9 * x.abs().max(1e-300)),
        V::Within(lo, hi) => got.as_f64().is_some_and(|g| (lo..=hi).contains(&g)),
    };
    if !ok {
        problems.push(format!("{here}: value {got}, expected {:?}", exp.value));
    }
}

async fn check_metrics(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec(&seed_sql(backend)).await;
    let project = Project::with_datasets(
        db.url(),
        &[("orders", ORDERS_YAML), ("empty_orders", EMPTY_YAML)],
    );

    let (code, doc) = json_run_async(project.path(), &[]).await;
    let listing = result_lines(&doc);

    let expectations = expectations();
    let mut problems = Vec::new();
    for exp in &expectations {
        let r = result(&doc, Some(exp.dataset), exp.check);
        let here = format!("{backend:?} {} / {}", exp.dataset, exp.check);
        if r["outcome"] != exp.outcome {
            problems.push(format!(
                "{here}: outcome {} (message {}), expected {}",
                r["outcome"], r["message"], exp.outcome
            ));
        }
        if r["kind"] != exp.kind {
            problems.push(format!("{here}: kind {}, expected {}", r["kind"], exp.kind));
        }
        if r["warehouse"] != "main" {
            problems.push(format!(
                "{here}: warehouse {}, expected \"main\"",
                r["warehouse"]
            ));
        }
        match exp.columns {
            Some(cols) => {
                if !json_eq(&r["columns"], &json!(cols)) {
                    problems.push(format!(
                        "{here}: columns {}, expected {cols:?}",
                        r["columns"]
                    ));
                }
            }
            None => {
                if r["column"] != json!(exp.column) {
                    problems.push(format!(
                        "{here}: column {}, expected {:?}",
                        r["column"], exp.column
                    ));
                }
            }
        }
        check_value(backend, exp, &r["value"], &mut problems);
        let expected = exp.expected.clone().unwrap_or(Value::Null);
        if !json_eq(&r["expected"], &expected) {
            problems.push(format!(
                "{here}: expected {}, should be {expected}",
                r["expected"]
            ));
        }
        if r["message"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{here}: empty message"));
        }
    }
    // "no values in COLUMN" for aggregates over no values.
    let msg = result(&doc, Some("orders"), "avg(discount)")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !msg.contains("no values") || !msg.contains("discount") {
        problems.push(format!(
            "{backend:?} avg(discount): message {msg:?} should say \"no values in discount\""
        ));
    }

    let n = |o: &str| expectations.iter().filter(|x| x.outcome == o).count() as u64;
    let want_summary = [n("pass"), n("warn"), n("fail"), n("error")];
    if summary(&doc) != want_summary {
        problems.push(format!(
            "{backend:?}: summary {:?}, expected {want_summary:?}",
            summary(&doc)
        ));
    }
    let total = doc["results"].as_array().map_or(0, Vec::len);
    if total != expectations.len() {
        problems.push(format!(
            "{backend:?}: {total} results, expected {}",
            expectations.len()
        ));
    }
    if code != 1 {
        problems.push(format!(
            "{backend:?}: exit code {code}, expected 1 (failures, no errors)"
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n\nresults:\n{listing}",
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_on_postgres() {
    check_metrics(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_on_mariadb() {
    check_metrics(Backend::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_on_sqlite() {
    check_metrics(Backend::Sqlite).await;
}
