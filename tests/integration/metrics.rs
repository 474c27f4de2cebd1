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
    Backend, assert_no_problems, json_eq, on_each_backend, result, run_on_seeded, summary, text,
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

impl V {
    fn matches(self, got: &Value) -> bool {
        match self {
            V::Null => got.is_null(),
            V::NullOr(n) => got.is_null() || got.as_i64() == Some(n),
            V::Count(n) => got.as_i64() == Some(n),
            V::Exact(x) => got.as_f64() == Some(x),
            V::Approx(x) => got
                .as_f64()
                .is_some_and(|g| (g - x).abs() <= 1e-9 * x.abs().max(1e-300)),
            V::Within(lo, hi) => got.as_f64().is_some_and(|g| (lo..=hi).contains(&g)),
        }
    }
}

/// What a result is about: its `column` (null for a check on the whole table), or its
/// `columns` for a check over several.
#[derive(Clone, Copy, Debug)]
enum On {
    Table,
    Column(&'static str),
    Columns(&'static [&'static str]),
}

/// One expected result: dataset, check name, kind, what it is about, outcome, value, and the
/// thresholds as the result reports them (null for checks without any: `schema`).
type Expect = (
    &'static str,
    &'static str,
    &'static str,
    On,
    &'static str,
    V,
    Value,
);

/// Rows kept by the dataset filter: 7. Non-null amounts: 10.50, 120, 30.25, -5, 0, 44.25
/// (sum 200, avg 200/6). Non-null qty: 1, 2, 3, 4, 5, 8 (sample stddev 2.48327740429189;
/// the population one would be 2.2669...).
#[rustfmt::skip] // one result per line, aligned: read as a table
fn expectations() -> Vec<Expect> {
    use On::{Column, Columns, Table};
    const O: &str = "orders";
    const EMPTY: &str = "empty_orders";
    vec![
        // dataset check                             kind               on                             outcome value                        expected
        (O,        "row_count",                      "row_count",       Table,                         "pass", V::Count(7),                 json!({"equals": 7})),
        (O,        "eu_rows",                        "row_count",       Table,                         "fail", V::Count(4),                 json!({"min": 5})),
        (O,        "missing_count(customer_id)",     "missing_count",   Column("customer_id"),         "warn", V::Count(2),                 json!({"warn": {"max": 1}, "fail": {"max": 10}})),
        (O,        "missing_count(email)",           "missing_count",   Column("email"),               "fail", V::Count(3),                 json!({"max": 0})),
        (O,        "us_missing_customers",           "missing_count",   Column("customer_id"),         "fail", V::Count(2),                 json!({"max": 0})),
        (O,        "missing_percent(customer_id)",   "missing_percent", Column("customer_id"),         "pass", V::Approx(200.0 / 7.0),      json!({"max": 50})),
        (O,        "duplicate_count(id)",            "duplicate_count", Column("id"),                  "pass", V::Count(0),                 json!({"max": 0})),
        (O,        "duplicate_count(customer_id)",   "duplicate_count", Column("customer_id"),         "fail", V::Count(1),                 json!({"max": 0})),
        (O,        "duplicate_count(store_id, sku)", "duplicate_count", Columns(&["store_id", "sku"]), "fail", V::Count(2),                 json!({"max": 0})),
        (O,        "invalid_count(status)",          "invalid_count",   Column("status"),              "fail", V::Count(2),                 json!({"max": 0})),
        (O,        "invalid_count(code)",            "invalid_count",   Column("code"),                "fail", V::Count(2),                 json!({"max": 0})),
        (O,        "invalid_count(amount)",          "invalid_count",   Column("amount"),              "pass", V::Count(2),                 json!({"max": 2})),
        (O,        "min(amount)",                    "min",             Column("amount"),              "fail", V::Exact(-5.0),              json!({"min": 0})),
        (O,        "max(amount)",                    "max",             Column("amount"),              "pass", V::Exact(120.0),             json!({"max": 1000})),
        (O,        "avg(amount)",                    "avg",             Column("amount"),              "pass", V::Approx(200.0 / 6.0),      json!({"between": [10, 500]})),
        (O,        "sum(amount)",                    "sum",             Column("amount"),              "pass", V::Exact(200.0),             json!({"min": 0})),
        (O,        "stddev(qty)",                    "stddev",          Column("qty"),                 "pass", V::Approx(2.48327740429189), json!({"max": 3})),
        (O,        "min(discount)",                  "min",             Column("discount"),            "fail", V::Null,                     json!({"min": 0})),
        (O,        "avg(discount)",                  "avg",             Column("discount"),            "fail", V::Null,                     json!({"max": 100})),
        // Freshness thresholds are durations, reported in seconds.
        (O,        "freshness(updated_at)",          "freshness",       Column("updated_at"),          "pass", V::Within(3600.0, 3660.0),   json!({"warn": {"max": 7200}, "fail": {"max": 21600}})),
        (O,        "stale_after_30m",                "freshness",       Column("updated_at"),          "fail", V::Within(3600.0, 3660.0),   json!({"max": 1800})),
        (O,        "schema",                         "schema",          Table,                         "pass", V::NullOr(0),                Value::Null),
        (O,        "schema_mismatch",                "schema",          Table,                         "fail", V::NullOr(1),                Value::Null),
        (O,        "negative_amounts",               "sql_metric",      Table,                         "fail", V::Count(1),                 json!({"max": 0})),
        // The empty table.
        (EMPTY,    "row_count",                      "row_count",       Table,                         "fail", V::Count(0),                 json!({"min": 1})),
        (EMPTY,    "missing_count(customer_id)",     "missing_count",   Column("customer_id"),         "pass", V::Count(0),                 json!({"max": 0})),
        (EMPTY,    "missing_percent(customer_id)",   "missing_percent", Column("customer_id"),         "pass", V::Exact(0.0),               json!({"max": 0})),
        (EMPTY,    "duplicate_count(id)",            "duplicate_count", Column("id"),                  "pass", V::Count(0),                 json!({"max": 0})),
        (EMPTY,    "sum(amount)",                    "sum",             Column("amount"),              "fail", V::Null,                     json!({"min": 0})),
        (EMPTY,    "max(amount)",                    "max",             Column("amount"),              "fail", V::Null,                     json!({"max": 10})),
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
        // A zone-less TIMESTAMP in UTC, whatever the session's time zone.
        #[cfg(feature = "warehouse-duckdb")]
        Backend::DuckDb => format!("make_timestamp(epoch_us(now()) - {seconds}::BIGINT * 1000000)"),
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => format!(
            "timestamp_micros(unix_micros(current_timestamp()) - CAST({seconds} AS BIGINT) * 1000000)"
        ),
    }
}

fn seed_sql(backend: Backend) -> String {
    let t = backend.types();
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

async fn check_metrics(backend: Backend) {
    let datasets = [("orders", ORDERS_YAML), ("empty_orders", EMPTY_YAML)];
    let (_db, code, doc) = run_on_seeded(backend, &seed_sql(backend), &datasets).await;

    let expectations = expectations();
    let mut problems = Vec::new();
    for (dataset, check, kind, on, outcome, value, expected) in &expectations {
        let r = result(&doc, Some(dataset), check);
        let here = format!("{dataset} / {check}");
        // A check over several columns reports `columns`; any other its `column` (maybe null).
        let (on_field, on) = match *on {
            On::Table => ("column", Value::Null),
            On::Column(column) => ("column", json!(column)),
            On::Columns(columns) => ("columns", json!(columns)),
        };
        let fields = [
            ("outcome", json!(outcome)),
            ("kind", json!(kind)),
            ("warehouse", json!("main")),
            (on_field, on),
            ("expected", expected.clone()),
        ];
        for (field, want) in fields {
            if !json_eq(&r[field], &want) {
                problems.push(format!("{here}: {field} {}, expected {want}", r[field]));
            }
        }
        if !value.matches(&r["value"]) {
            problems.push(format!(
                "{here}: value {}, expected {:?}",
                r["value"], value
            ));
        }
        if text(&r["message"]).is_empty() {
            problems.push(format!("{here}: empty message"));
        }
    }
    // "no values in COLUMN" for aggregates over no values.
    let msg = text(&result(&doc, Some("orders"), "avg(discount)")["message"]);
    if !msg.contains("no values") || !msg.contains("discount") {
        problems.push(format!(
            "avg(discount): message {msg:?} should say \"no values in discount\""
        ));
    }

    let outcomes: Vec<&str> = expectations
        .iter()
        .map(|(.., outcome, _, _)| *outcome)
        .collect();
    let n = |o: &str| outcomes.iter().filter(|x| **x == o).count() as u64;
    let want_summary = [n("pass"), n("warn"), n("fail"), n("error")];
    if summary(&doc) != want_summary {
        problems.push(format!(
            "summary {:?}, expected {want_summary:?}",
            summary(&doc)
        ));
    }
    let total = doc["results"].as_array().map_or(0, Vec::len);
    if total != expectations.len() {
        problems.push(format!("{total} results, expected {}", expectations.len()));
    }
    if code != 1 {
        problems.push(format!(
            "exit code {code}, expected 1 (failures, no errors)"
        ));
    }
    assert_no_problems(backend, &problems, &doc);
}

on_each_backend! {
    check_metrics,
    postgres: every_metric_on_postgres,
    mariadb: every_metric_on_mariadb,
    sqlite: every_metric_on_sqlite,
    duckdb: every_metric_on_duckdb,
    spark: every_metric_on_spark,
}
