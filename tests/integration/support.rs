//! Shared helpers for the end-to-end tests: temporary projects, running the binary, and one
//! fresh, isolated database per test on Postgres, MariaDB and SQLite.
//!
//! Database servers come from `TIDEMARK_TEST_PG_URL` / `TIDEMARK_TEST_MYSQL_URL` (defaults:
//! the local servers that `tests/run` installs and starts). A test never skips because a
//! server is missing: it fails and says to run `tests/run`.

#![allow(dead_code)] // not every test module uses every helper

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

// ---------------------------------------------------------------------------------------
// Projects and the binary

/// A temporary Tidemark project: `tidemark.yml` plus dataset files under `checks/`.
/// The directory is removed when the value is dropped.
pub struct Project {
    dir: tempfile::TempDir,
}

/// Builds a [`Project`]: warehouses, dataset files and any other files.
#[derive(Default)]
pub struct ProjectBuilder {
    warehouses: Vec<(String, String)>,
    files: Vec<(PathBuf, String)>,
    config: Option<String>,
}

impl Project {
    pub fn builder() -> ProjectBuilder {
        ProjectBuilder::default()
    }

    /// A project with the single warehouse `main` at `url` and one dataset file per
    /// `(file stem, yaml)`.
    pub fn with_datasets(url: &str, datasets: &[(&str, &str)]) -> Project {
        let mut builder = Project::builder().warehouse("main", url);
        for (stem, yaml) in datasets {
            builder = builder.dataset(stem, yaml);
        }
        builder.build()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `tidemark ARGS` in the project directory.
    pub fn run(&self, args: &[&str]) -> Output {
        run_tidemark(self.path(), args)
    }

    /// Runs `tidemark run --format json ARGS` and parses the document.
    pub fn json_run(&self, extra_args: &[&str]) -> (i32, Value) {
        json_run(self.path(), extra_args)
    }
}

impl ProjectBuilder {
    /// Adds a warehouse to `tidemark.yml`.
    pub fn warehouse(mut self, name: &str, url: &str) -> Self {
        self.warehouses.push((name.to_owned(), url.to_owned()));
        self
    }

    /// Writes `checks/<stem>.yml`.
    pub fn dataset(self, stem: &str, yaml: &str) -> Self {
        self.file(&format!("checks/{stem}.yml"), yaml)
    }

    /// Writes any file, relative to the project directory.
    pub fn file(mut self, relative: &str, contents: &str) -> Self {
        self.files
            .push((PathBuf::from(relative), contents.to_owned()));
        self
    }

    /// Uses this text as `tidemark.yml` instead of the generated one.
    pub fn config(mut self, yaml: &str) -> Self {
        self.config = Some(yaml.to_owned());
        self
    }

    pub fn build(self) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("tidemark-test-")
            .tempdir()
            .expect("create a temporary project directory");
        let config = self.config.unwrap_or_else(|| {
            let mut yaml = String::from("version: 1\nwarehouses:\n");
            for (name, url) in &self.warehouses {
                // A JSON string is a valid YAML double-quoted scalar.
                let url = serde_json::to_string(url).expect("string to JSON");
                writeln!(yaml, "  {name}:\n    url: {url}").expect("write to a String");
            }
            yaml.push_str("checks: [checks/]\n");
            yaml
        });
        write_file(&dir.path().join("tidemark.yml"), &config);
        std::fs::create_dir_all(dir.path().join("checks")).expect("create checks/");
        for (relative, contents) in &self.files {
            write_file(&dir.path().join(relative), contents);
        }
        Project { dir }
    }
}

fn write_file(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    /// The exit code; -1 if the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything the process printed, for assertion messages.
    pub fn both(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the `tidemark` binary with `args`, in `dir`, with a clean environment for it (no
/// inherited store URL, no colours).
pub fn run_tidemark(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(args)
        .current_dir(dir)
        .env_remove("TIDEMARK_STORE_URL")
        .env_remove("WAREHOUSE_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn the tidemark binary");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `tidemark run --format json EXTRA_ARGS` in `dir`; returns the exit code and the
/// parsed document (panics, showing the output, if stdout is not JSON or it panicked).
pub fn json_run(dir: &Path, extra_args: &[&str]) -> (i32, Value) {
    let mut args = vec!["run", "--format", "json"];
    args.extend_from_slice(extra_args);
    let out = run_tidemark(dir, &args);
    assert!(
        !out.stderr.contains("panicked"),
        "tidemark panicked:\n{}",
        out.both()
    );
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.both()));
    (out.code, doc)
}

/// The result named `check` (of `dataset`, if given) in a JSON run document.
pub fn result<'a>(doc: &'a Value, dataset: Option<&str>, check: &str) -> &'a Value {
    let results = doc["results"].as_array().expect("results is an array");
    let found: Vec<&Value> = results
        .iter()
        .filter(|r| r["check"] == check && dataset.is_none_or(|d| r["dataset"] == d))
        .collect();
    match found.as_slice() {
        [one] => one,
        [] => panic!(
            "no result for check {check:?}{}; results are:\n{}",
            dataset.map(|d| format!(" of {d}")).unwrap_or_default(),
            result_lines(doc)
        ),
        _ => panic!(
            "several results for check {check:?}:\n{}",
            result_lines(doc)
        ),
    }
}

/// One line per result (dataset, check, outcome, value, message), for assertion messages.
pub fn result_lines(doc: &Value) -> String {
    let mut lines = String::new();
    for r in doc["results"].as_array().into_iter().flatten() {
        writeln!(
            lines,
            "  {} | {} | {} | value {} | {}",
            r["dataset"], r["check"], r["outcome"], r["value"], r["message"]
        )
        .expect("write to a String");
    }
    lines
}

/// The summary counts `[pass, warn, fail, error]`.
pub fn summary(doc: &Value) -> [u64; 4] {
    let s = &doc["summary"];
    ["pass", "warn", "fail", "error"].map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("summary.{k} is not a count: {doc}"))
    })
}

/// Numbers compare as numbers (`50` equals `50.0`); everything else structurally.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Counts of each outcome computed from the results themselves: `[pass, warn, fail, error]`.
pub fn outcome_counts(doc: &Value) -> [u64; 4] {
    let results = doc["results"].as_array().expect("results is an array");
    ["pass", "warn", "fail", "error"]
        .map(|k| results.iter().filter(|r| r["outcome"] == k).count() as u64)
}

// ---------------------------------------------------------------------------------------
// Databases

/// The three warehouses every cross-database test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MariaDb,
    Sqlite,
}

pub fn pg_server_url() -> String {
    std::env::var("TIDEMARK_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub fn mysql_server_url() -> String {
    std::env::var("TIDEMARK_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_owned())
}

/// `url` with its database (the path) replaced by `database`; the query string is kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_start..]
        .find('/')
        .map(|i| authority_start + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn unique_db_name() -> String {
    format!("tm_{}", uuid::Uuid::new_v4().simple())
}

/// Runs `work` to completion on a runtime of its own in another thread: usable from `Drop`
/// whether or not the caller is inside a Tokio runtime.
fn block_on_side<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let joined = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a cleanup runtime")
            .block_on(work);
    })
    .join();
    if joined.is_err() {
        eprintln!("warning: dropping a test database failed");
    }
}

/// A fresh Postgres database `tm_<uuid>`, dropped (WITH (FORCE)) when the value is dropped.
pub struct PgDb {
    pub name: String,
    /// The warehouse URL for tidemark.yml.
    pub url: String,
    /// A pool on the test database, for seeding and inspecting.
    pub pool: PgPool,
    server_url: String,
}

impl PgDb {
    pub async fn new() -> PgDb {
        let server_url = pg_server_url();
        let name = unique_db_name();
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&server_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot connect to Postgres at {server_url} ({e}); run tests/run, which starts it")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await;
        let url = with_database(&server_url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect to the test database");
        PgDb {
            name,
            url,
            pool,
            server_url,
        }
    }

    /// Runs several `;`-separated statements.
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("Postgres seeding failed: {e}\n{sql}"));
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (server_url, name, pool) = (
            self.server_url.clone(),
            self.name.clone(),
            self.pool.clone(),
        );
        block_on_side(async move {
            pool.close().await;
            if let Ok(admin) = PgPoolOptions::new()
                .max_connections(1)
                .connect(&server_url)
                .await
            {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            }
        });
    }
}

/// A fresh MariaDB database `tm_<uuid>`, dropped when the value is dropped.
pub struct MyDb {
    pub name: String,
    pub url: String,
    pub pool: MySqlPool,
    server_url: String,
}

impl MyDb {
    pub async fn new() -> MyDb {
        let server_url = mysql_server_url();
        let name = unique_db_name();
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&server_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot connect to MariaDB at {server_url} ({e}); run tests/run, which starts it")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4"
        )))
        .execute(&admin)
        .await
        .expect("CREATE DATABASE");
        admin.close().await;
        let url = with_database(&server_url, &name);
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect to the test database");
        MyDb {
            name,
            url,
            pool,
            server_url,
        }
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("MariaDB seeding failed: {e}\n{sql}"));
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let (server_url, name, pool) = (
            self.server_url.clone(),
            self.name.clone(),
            self.pool.clone(),
        );
        block_on_side(async move {
            pool.close().await;
            if let Ok(admin) = MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&server_url)
                .await
            {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            }
        });
    }
}

/// A fresh SQLite database file in a temporary directory (removed on drop).
pub struct SqliteDb {
    pub path: PathBuf,
    /// `sqlite:///absolute/path.db`
    pub url: String,
    pub pool: SqlitePool,
    _dir: tempfile::TempDir,
}

impl SqliteDb {
    pub async fn new() -> SqliteDb {
        let dir = tempfile::Builder::new()
            .prefix("tidemark-sqlite-")
            .tempdir()
            .expect("create a temporary directory");
        let path = dir.path().join("warehouse.db");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .expect("create the SQLite database");
        let url = format!("sqlite://{}", path.display());
        SqliteDb {
            path,
            url,
            pool,
            _dir: dir,
        }
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("SQLite seeding failed: {e}\n{sql}"));
    }
}

/// A fresh database on any of the three backends, seeded with plain SQL.
pub enum TestDb {
    Postgres(PgDb),
    MariaDb(MyDb),
    Sqlite(SqliteDb),
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => TestDb::Postgres(PgDb::new().await),
            Backend::MariaDb => TestDb::MariaDb(MyDb::new().await),
            Backend::Sqlite => TestDb::Sqlite(SqliteDb::new().await),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Postgres(_) => Backend::Postgres,
            TestDb::MariaDb(_) => Backend::MariaDb,
            TestDb::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Postgres(db) => &db.url,
            TestDb::MariaDb(db) => &db.url,
            TestDb::Sqlite(db) => &db.url,
        }
    }

    pub async fn exec(&self, sql: &str) {
        match self {
            TestDb::Postgres(db) => db.exec(sql).await,
            TestDb::MariaDb(db) => db.exec(sql).await,
            TestDb::Sqlite(db) => db.exec(sql).await,
        }
    }

    /// A single integer (e.g. a count) from `sql`.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let got = match self {
            TestDb::Postgres(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
            TestDb::MariaDb(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
            TestDb::Sqlite(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
        };
        got.unwrap_or_else(|e| panic!("{:?} query failed: {e}", self.backend()))
    }
}

/// Runs `project.json_run` off the async worker threads (the binary takes a while).
pub async fn json_run_async(dir: &Path, extra_args: &[&str]) -> (i32, Value) {
    let dir = dir.to_owned();
    let args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json_run(&dir, &args)
    })
    .await
    .expect("join the tidemark run")
}
