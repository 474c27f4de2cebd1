//! Names are quoted, never pasted (DESIGN.md): tables and columns with spaces, mixed case,
//! reserved words, a double quote and a backtick work on every warehouse, and a column or
//! dataset name written to break out of the quoting only ever yields an `error` result.

use serde_json::Value;

use crate::support::{
    Backend, assert_no_problems, on_each_backend, result, run_on_seeded, summary, text,
};

/// A quoted identifier in the warehouse's own dialect (for seeding only).
fn q(backend: Backend, name: &str) -> String {
    match backend {
        Backend::MariaDb => format!("`{}`", name.replace('`', "``")),
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A table's name as the warehouse can hold it: Spark's catalog takes letters, digits and
/// `_` only in table names (columns may be anything), so there the odd characters of the
/// table names become `_`.
fn table(backend: Backend, name: &str) -> String {
    match backend {
        #[cfg(feature = "warehouse-spark")]
        Backend::Spark => name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect(),
        _ => name.to_owned(),
    }
}

/// A dataset file naming its table as [`table`] does.
fn dataset_yaml(backend: Backend, yaml: &str) -> String {
    let mut yaml = yaml.to_owned();
    for (written, name) in [("Order Items", ITEMS), ("'we\"ird`table'", ODD_TABLE)] {
        let held = table(backend, name);
        if held != name {
            let line = |name: &str| format!("dataset: {name}\n");
            yaml = yaml.replace(&line(written), &line(&held));
        }
    }
    yaml
}

const ITEMS: &str = "Order Items";
const SELECT: &str = "select";
const ODD_TABLE: &str = "we\"ird`table";
const VICTIM: &str = "victim";

fn seed_sql(backend: Backend) -> String {
    let q = |name: &str| q(backend, name);
    let t = backend.types();
    let named = |name: &str| q(&table(backend, name));
    format!(
        "CREATE TABLE {items} ({item_id} {int}, {unit_price} {decimal}, {order} {int}, \
             {group} {text}, {weird} {text}, {tick} {int});
         INSERT INTO {items} VALUES (1, 10.00, 1, 'a', 'x', 5), (2, 20.00, 2, 'b', NULL, 6), \
             (2, NULL, 3, NULL, 'y', 7);
         CREATE TABLE {select} ({group} {text}, {from} {int});
         INSERT INTO {select} VALUES ('a', 1), ('b', 2);
         CREATE TABLE {odd} ({order} {int});
         INSERT INTO {odd} VALUES (5), (7);
         CREATE TABLE {victim} (id {int});
         INSERT INTO {victim} VALUES (1), (2), (3);",
        items = named(ITEMS),
        select = named(SELECT),
        odd = named(ODD_TABLE),
        victim = named(VICTIM),
        item_id = q("Item ID"),
        unit_price = q("Unit Price"),
        order = q("order"),
        group = q("group"),
        from = q("from"),
        weird = q("we\"ird"),
        tick = q("back`tick"),
        int = t.int,
        text = t.text,
        decimal = t.decimal,
    )
}

const ITEMS_YAML: &str = r#"
dataset: Order Items
checks:
  - row_count: { equals: 3 }
  - duplicate_count: { columns: [Item ID], max: 1 }
  - missing_count: { column: Unit Price, max: 1 }
  - sum: { column: Unit Price, equals: 30 }
  - max: { column: order, equals: 3 }
  - duplicate_count: { columns: [order, group], max: 0 }
  - invalid_count: { column: group, valid_values: [a, b], max: 0 }
  - missing_count: { column: 'we"ird', max: 1 }
  - sum: { column: 'back`tick', equals: 18 }
  - schema:
      columns:
        Item ID: integer
        Unit Price: decimal
        order: integer
        group: text
        'we"ird': text
        'back`tick': integer
"#;

const SELECT_YAML: &str = r#"
dataset: select
checks:
  - row_count: { equals: 2 }
  - min: { column: from, equals: 1 }
  - missing_count: { column: group, max: 0 }
"#;

const ODD_YAML: &str = r#"
dataset: 'we"ird`table'
checks:
  - row_count: { equals: 2 }
  - max: { column: order, equals: 7 }
"#;

/// (dataset, check, value)
const PASSING: &[(&str, &str, f64)] = &[
    (ITEMS, "row_count", 3.0),
    (ITEMS, "duplicate_count(Item ID)", 1.0),
    (ITEMS, "missing_count(Unit Price)", 1.0),
    (ITEMS, "sum(Unit Price)", 30.0),
    (ITEMS, "max(order)", 3.0),
    (ITEMS, "duplicate_count(order, group)", 0.0),
    (ITEMS, "invalid_count(group)", 0.0),
    (ITEMS, "missing_count(we\"ird)", 1.0),
    (ITEMS, "sum(back`tick)", 18.0),
    (SELECT, "row_count", 2.0),
    (SELECT, "min(from)", 1.0),
    (SELECT, "missing_count(group)", 0.0),
    (ODD_TABLE, "row_count", 2.0),
    (ODD_TABLE, "max(order)", 7.0),
];

async fn odd_identifiers(backend: Backend) {
    let (items, odd) = (
        dataset_yaml(backend, ITEMS_YAML),
        dataset_yaml(backend, ODD_YAML),
    );
    let datasets = [("items", &*items), ("select", SELECT_YAML), ("odd", &*odd)];
    let (_db, code, doc) = run_on_seeded(backend, &seed_sql(backend), &datasets).await;
    let mut problems = Vec::new();
    for (dataset, check, value) in PASSING {
        let r = result(&doc, Some(&table(backend, dataset)), check);
        if r["outcome"] != "pass" || r["value"].as_f64() != Some(*value) {
            problems.push(format!(
                "{dataset} / {check}: {} with value {}, expected pass with {value} ({})",
                r["outcome"], r["value"], r["message"]
            ));
        }
    }
    let schema = result(&doc, Some(&table(backend, ITEMS)), "schema");
    if schema["outcome"] != "pass" {
        problems.push(format!(
            "{ITEMS} / schema: {} ({})",
            schema["outcome"], schema["message"]
        ));
    }
    if summary(&doc) != [PASSING.len() as u64 + 1, 0, 0, 0] || code != 0 {
        problems.push(format!("exit code {code}, summary {:?}", summary(&doc)));
    }
    assert_no_problems(backend, &problems, &doc);
}

const VICTIM_YAML: &str = r#"
dataset: victim
checks:
  - row_count: { equals: 3 }
  - missing_count: { name: inject_double_quote, column: 'x"; DROP TABLE victim; --', max: 0 }
  - missing_count: { name: inject_backtick, column: 'x`; DROP TABLE victim; --', max: 0 }
  - missing_count: { name: inject_quote, column: "x'); DROP TABLE victim; --", max: 0 }
  - missing_count: { name: inject_bracket, column: 'x]; DROP TABLE victim; --', max: 0 }
"#;

const VICTIM_DQ_YAML: &str = r#"
dataset: 'victim"; DROP TABLE victim; --'
checks:
  - row_count: { min: 0 }
"#;

const VICTIM_BT_YAML: &str = r#"
dataset: 'victim`; DROP TABLE victim; --'
checks:
  - row_count: { min: 0 }
"#;

fn says_not_found(message: &Value) -> bool {
    let m = text(message).to_lowercase();
    [
        "not found",
        "missing",
        "no such",
        "does not exist",
        "doesn't exist",
        "unknown",
        "no column",
    ]
    .iter()
    .any(|w| m.contains(w))
}

async fn injection(backend: Backend) {
    let items = dataset_yaml(backend, ITEMS_YAML);
    let datasets = [
        ("victim", VICTIM_YAML),
        ("victim_dq", VICTIM_DQ_YAML),
        ("victim_bt", VICTIM_BT_YAML),
        ("items", &*items),
    ];
    let (db, code, doc) = run_on_seeded(backend, &seed_sql(backend), &datasets).await;
    let mut problems = Vec::new();
    for check in [
        "inject_double_quote",
        "inject_backtick",
        "inject_quote",
        "inject_bracket",
    ] {
        let r = result(&doc, Some(VICTIM), check);
        if r["outcome"] != "error" || !says_not_found(&r["message"]) {
            problems.push(format!(
                "{check}: {} ({}), expected error: column not found",
                r["outcome"], r["message"]
            ));
        }
    }
    for dataset in [
        "victim\"; DROP TABLE victim; --",
        "victim`; DROP TABLE victim; --",
    ] {
        let r = result(&doc, Some(dataset), "row_count");
        if r["outcome"] != "error" {
            problems.push(format!(
                "{dataset}: {} ({}), expected error",
                r["outcome"], r["message"]
            ));
        }
    }
    // The other checks of the same dataset still run.
    let r = result(&doc, Some(VICTIM), "row_count");
    if r["outcome"] != "pass" || r["value"].as_f64() != Some(3.0) {
        problems.push(format!(
            "victim / row_count: {} {} ({})",
            r["outcome"], r["value"], r["message"]
        ));
    }
    if code != 2 {
        problems.push(format!("exit code {code}, expected 2"));
    }
    // Every table is still there with all its rows.
    for (name, rows) in [(VICTIM, 3), (ITEMS, 3), (SELECT, 2), (ODD_TABLE, 2)] {
        let name = table(backend, name);
        let count = db
            .scalar_i64(&format!("SELECT count(*) FROM {}", q(backend, &name)))
            .await;
        if count != rows {
            problems.push(format!("table {name} has {count} rows, expected {rows}"));
        }
    }
    assert_no_problems(backend, &problems, &doc);
}

on_each_backend! {
    odd_identifiers,
    postgres: odd_identifiers_on_postgres,
    mariadb: odd_identifiers_on_mariadb,
    sqlite: odd_identifiers_on_sqlite,
    duckdb: odd_identifiers_on_duckdb,
    spark: odd_identifiers_on_spark,
}

on_each_backend! {
    injection,
    postgres: injection_through_names_only_errors_on_postgres,
    mariadb: injection_through_names_only_errors_on_mariadb,
    sqlite: injection_through_names_only_errors_on_sqlite,
    duckdb: injection_through_names_only_errors_on_duckdb,
    spark: injection_through_names_only_errors_on_spark,
}
