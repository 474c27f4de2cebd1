//! `tidemark demo`: the example suite of `checks/` (compiled into the binary, so the demo
//! runs from any directory) and a SQLite warehouse of realistic shop data generated next to
//! it, with a few problems placed on purpose for the checks to find; [`history`] back-fills
//! the store with the past the dashboard shows.

mod history;
mod serve;

pub use history::{DAYS as HISTORY_DAYS, backfill};
pub use serve::serve;

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The example project, file by file, as shipped in `checks/`.
const SUITE: &[(&str, &str)] = &[
    ("tidemark.yml", include_str!("../../checks/tidemark.yml")),
    (
        "datasets/orders.yml",
        include_str!("../../checks/datasets/orders.yml"),
    ),
    (
        "datasets/customers.yml",
        include_str!("../../checks/datasets/customers.yml"),
    ),
    (
        "datasets/order_items.yml",
        include_str!("../../checks/datasets/order_items.yml"),
    ),
    (
        "datasets/payments.yml",
        include_str!("../../checks/datasets/payments.yml"),
    ),
    (
        "datasets/events.yml",
        include_str!("../../checks/datasets/events.yml"),
    ),
    (
        "datasets/sessions.yml",
        include_str!("../../checks/datasets/sessions.yml"),
    ),
    (
        "datasets/revenue.yml",
        include_str!("../../checks/datasets/revenue.yml"),
    ),
    (
        "datasets/engagement.yml",
        include_str!("../../checks/datasets/engagement.yml"),
    ),
];

/// The warehouse file, at the path `checks/tidemark.yml` names by default.
pub const WAREHOUSE_FILE: &str = "warehouse.db";

/// What the demo data gets wrong, so the output can be read against it.
pub const PLACED_PROBLEMS: &[&str] = &[
    "orders: 7 orders without a customer, 2 order ids loaded twice, one negative amount",
    "customers: 4 customers without an email (a warning), one malformed email",
    "payments: the declared `currency` column was never added",
    "events: the loader stalled 30 hours ago, so sessions (built from events) are stale too, \
     and engagement (built from sessions) is at risk",
];

/// What the back-filled history holds besides today's problems.
pub const PLACED_HISTORY: &[&str] = &[
    "orders: a volume drop four days ago, for nine hours",
    "events: a spike of events without a user nine days ago",
    "events: an earlier loader stall, seventeen days ago",
];

/// Default place for the demo: the system's temporary directory, never the user's tree.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("tidemark-demo")
}

/// Writes the example project into `dir` and (re)creates its warehouse; with
/// `fresh_store`, removes the project's embedded store too, so the history back-filled
/// next is the only one.
pub async fn prepare(dir: &Path, fresh_store: bool) -> anyhow::Result<()> {
    if fresh_store {
        remove_store(dir)?;
    }
    for (name, contents) in SUITE {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents)?;
    }
    let warehouse = dir.join(WAREHOUSE_FILE);
    if warehouse.exists() {
        std::fs::remove_file(&warehouse)?;
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&warehouse)
        .create_if_missing(true)
        .connect()
        .await?;
    sqlx::raw_sql(SEED).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Removes the embedded store (with SQLite's write-ahead log files) if there is one.
fn remove_store(dir: &Path) -> std::io::Result<()> {
    let store = dir.join(crate::store::DEFAULT_SQLITE_PATH);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = store.clone().into_os_string();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The shop: customers, orders (with lines and payments) and clickstream events. Values
/// come from arithmetic on the row number, so every demo shows the same data relative to
/// now; timestamps are ISO-8601 UTC text, as SQLite keeps them.
const SEED: &str = r#"
PRAGMA journal_mode = WAL;
BEGIN;
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, email TEXT, country TEXT, created_at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers
SELECT i, 'customer' || i || '@example.com',
       CASE i % 5 WHEN 0 THEN 'DE' WHEN 1 THEN 'FR' WHEN 2 THEN 'GB' WHEN 3 THEN 'NL' ELSE 'US' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || (i * 17 % 400) || ' days')
FROM n;
UPDATE customers SET email = NULL WHERE customer_id IN (17, 140, 288, 391);
UPDATE customers SET email = 'not-an-email' WHERE customer_id = 77;

CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, status TEXT, amount DECIMAL(10,2),
                     region TEXT, created_at DATETIME, updated_at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400)
INSERT INTO orders
SELECT i, 1 + (i * 7919) % 500,
       CASE (i * 31) % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'placed' WHEN 2 THEN 'placed'
            WHEN 3 THEN 'shipped' WHEN 4 THEN 'shipped' ELSE 'delivered' END,
       round(15 + ((i * 104729) % 40000) / 100.0, 2),
       CASE WHEN i % 400 = 0 THEN 'test' WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ((2400 - i) * 5) || ' minutes'),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ((2400 - i) * 2) || ' minutes')
FROM n;
UPDATE orders SET customer_id = NULL WHERE order_id IN (101, 433, 958, 1337, 1702, 2011, 2299);
INSERT INTO orders SELECT * FROM orders WHERE order_id IN (1201, 1733);
UPDATE orders SET amount = -12.5 WHERE order_id = 911;

CREATE TABLE order_items (order_id INTEGER, line_no INTEGER, sku TEXT, quantity INTEGER, unit_price REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400),
     l(j) AS (VALUES (1), (2), (3))
INSERT INTO order_items
SELECT i, j, 'SKU-' || ((i * j * 37) % 300), 1 + (i * j) % 4, round(5 + ((i * j * 7907) % 9000) / 100.0, 2)
FROM n, l WHERE j <= 1 + i % 3;

CREATE TABLE payments (payment_id INTEGER PRIMARY KEY, order_id INTEGER, amount DECIMAL(10,2), method TEXT);
INSERT INTO payments (order_id, amount, method)
SELECT order_id, amount, CASE order_id % 3 WHEN 0 THEN 'card' WHEN 1 THEN 'paypal' ELSE 'invoice' END
FROM orders WHERE status = 'delivered' AND amount > 0;

CREATE TABLE events (event_id INTEGER PRIMARY KEY, user_id INTEGER, event_type TEXT, occurred_at TIMESTAMP);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO events
SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + (i * 13) % 500 END,
       CASE i % 4 WHEN 0 THEN 'page_view' WHEN 1 THEN 'add_to_cart' WHEN 2 THEN 'search' ELSE 'checkout' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 hours', '-' || ((5000 - i) * 30) || ' seconds')
FROM n;

CREATE TABLE sessions (session_id INTEGER PRIMARY KEY, user_id INTEGER, event_count INTEGER,
                       started_at TIMESTAMP, ended_at TIMESTAMP);
INSERT INTO sessions (user_id, event_count, started_at, ended_at)
SELECT user_id, count(*), min(occurred_at), max(occurred_at)
FROM events WHERE user_id IS NOT NULL GROUP BY user_id, event_id / 2500;

CREATE TABLE revenue (day TEXT PRIMARY KEY, orders INTEGER, amount DECIMAL(12,2), updated_at DATETIME);
INSERT INTO revenue
SELECT substr(o.created_at, 1, 10), count(*), round(sum(p.amount), 2),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-20 minutes')
FROM orders o JOIN payments p ON p.order_id = o.order_id
GROUP BY substr(o.created_at, 1, 10);

CREATE TABLE engagement (day TEXT PRIMARY KEY, active_users INTEGER, sessions INTEGER, updated_at DATETIME);
INSERT INTO engagement
SELECT substr(started_at, 1, 10), count(DISTINCT user_id), count(*),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-35 minutes')
FROM sessions GROUP BY substr(started_at, 1, 10);
COMMIT;
"#;
