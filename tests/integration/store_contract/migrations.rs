//! Opening stores and migrating them: migrations are idempotent, errors never show the
//! URL, the SQLite store makes its folder, and old SQLite stores keep their runs.

use std::path::Path;

use tidemark::store::{Claim, DEFAULT_SQLITE_PATH, Store, StoreError, Trigger};

use super::{Fixture, at, cli_run, new_run, running, t0};

// ---------------------------------------------------------------------------------------
// Migrations

async fn migrate_is_idempotent(f: &Fixture) {
    let store = &*f.store;
    ok!(store.migrate());
    let run = cli_run("orders", t0());
    assert_eq!(ok!(store.start_run(&run)), Claim::Started);
    ok!(store.migrate());
    // Opening migrates again, as each replica and each `tidemark run` does.
    let again = f.reopen().await;
    assert_eq!(ok!(again.run(run.id)), running(&run));
}

on_each_store!(
    migrate_is_idempotent,
    postgres: postgres_migrate_is_idempotent,
    sqlite: sqlite_migrate_is_idempotent,
);

// ---------------------------------------------------------------------------------------
// Opening stores

#[tokio::test]
async fn store_errors_never_show_the_url() {
    // Nothing listens on port 1.
    let url = "postgres://tidemark:hunter2-secret@127.0.0.1:1/tidemark";
    match Store::open(Some(url), Path::new(".")).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(!message.contains("hunter2"), "{message}");
            assert!(!message.contains(url), "{message}");
        }
        Err(other) => panic!("expected unavailable, got {other:?}"),
        Ok(_) => panic!("connected to port 1"),
    }
    let bad_port = "postgres://tidemark:hunter2-secret@127.0.0.1:notaport/tidemark";
    match Store::open(Some(bad_port), Path::new(".")).await {
        Err(error) => assert!(!error.to_string().contains("hunter2"), "{error}"),
        Ok(_) => panic!("a URL with a bad port opened"),
    }
    assert!(matches!(
        Store::open(Some("mysql://root@127.0.0.1/x"), Path::new(".")).await,
        Err(StoreError::UnsupportedUrl)
    ));
}

#[tokio::test]
async fn the_sqlite_store_creates_its_folder_and_uses_wal() {
    let dir = tempfile::Builder::new()
        .prefix("tidemark-store-")
        .tempdir()
        .expect("create a temporary directory");
    let store = Store::open(None, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.kind(), "sqlite");
    let path = dir.path().join(DEFAULT_SQLITE_PATH);
    assert!(path.is_file(), "{} is missing", path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("open the store file");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("read the journal mode");
    assert_eq!(mode, "wal");
    // Foreign keys are declared (and the store enables them on its connections).
    let references: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_list('check_results')")
            .fetch_one(&pool)
            .await
            .expect("list foreign keys");
    assert_eq!(references, 1);

    let nested = Store::open(Some("sqlite:nested/deeper/history.db"), dir.path()).await;
    nested.unwrap_or_else(|e| panic!("{e}"));
    assert!(dir.path().join("nested/deeper/history.db").is_file());
}

/// Schema 0009 rebuilds SQLite's `runs` table (a CHECK constraint cannot change in place):
/// a store written before it keeps every run and result, its foreign keys, and the
/// AUTOINCREMENT high-water mark that keeps pruned runs' cursors from being handed out again.
#[tokio::test]
async fn sqlite_stores_from_before_the_retry_trigger_keep_their_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(DEFAULT_SQLITE_PATH);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the folder");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("create the store file");
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut before = sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("read the migrations");
    let kept: Vec<_> = before.iter().filter(|m| m.version < 9).cloned().collect();
    before.migrations = kept.into();
    before.run(&pool).await.expect("migrate to schema 0008");
    let slot = "2026-03-10T12:00:00.000000Z";
    let seed = format!(
        "INSERT INTO runs (id, batch_id, dataset, warehouse, trigger, slot, status, replica, \
         started_at, lease_until) VALUES \
         ('kept', 'b', 'orders', 'main', 'schedule', '{slot}', 'completed', 'r', '{slot}', '{slot}'), \
         ('pruned', 'b', 'orders', 'main', 'manual', NULL, 'completed', 'r', '{slot}', '{slot}'); \
         INSERT INTO check_results (run_id, dataset, warehouse, check_name, check_hash, kind, \
         outcome, message, observed_at) \
         VALUES ('kept', 'orders', 'main', 'row_count', 'h', 'row_count', 'pass', '', '{slot}'); \
         DELETE FROM runs WHERE id = 'pruned';"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed))
        .execute(&pool)
        .await
        .expect("seed runs and a result, then prune one run");
    pool.close().await;

    let store = Store::open(None, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let retry = new_run("orders", Trigger::Retry, Some(at(slot)), t0());
    assert_eq!(ok!(store.start_run(&retry)), Claim::Started);
    drop(store);
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .expect("open the store file");
    let scalar = |query: &'static str| sqlx::query_scalar::<_, i64>(query).fetch_one(&pool);
    assert_eq!(scalar("SELECT count(*) FROM runs").await.ok(), Some(2));
    assert_eq!(
        scalar("SELECT seq FROM runs WHERE trigger = 'retry'")
            .await
            .ok(),
        Some(3),
        "the pruned run's seq (2) is not reused"
    );
    let results = "SELECT count(*) FROM check_results WHERE run_id = 'kept'";
    assert_eq!(scalar(results).await.ok(), Some(1));
    let references = "SELECT count(*) FROM pragma_foreign_key_list('check_results') \
                      WHERE \"table\" = 'runs'";
    assert_eq!(scalar(references).await.ok(), Some(1));
    let indexes = "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' \
                   AND name LIKE 'runs_%'";
    assert_eq!(scalar(indexes).await.ok(), Some(4));
}
