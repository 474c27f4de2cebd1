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
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Database, Executor, Pool};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";
pub const DEFAULT_SPARK_URL: &str = "sc://127.0.0.1:15002";

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
    warehouses: Vec<Warehouse>,
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

/// One entry of `warehouses:` in `tidemark.yml`.
struct Warehouse {
    name: String,
    url: String,
    /// `(key, YAML value)` settings besides the URL.
    settings: Vec<(String, String)>,
}

impl ProjectBuilder {
    /// Adds a warehouse to `tidemark.yml`.
    pub fn warehouse(self, name: &str, url: &str) -> Self {
        self.warehouse_with(name, url, &[])
    }

    /// Adds a warehouse with settings besides its URL, e.g. `[("query_timeout", "1s")]`.
    pub fn warehouse_with(mut self, name: &str, url: &str, settings: &[(&str, &str)]) -> Self {
        self.warehouses.push(Warehouse {
            name: name.to_owned(),
            url: url.to_owned(),
            settings: settings
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        });
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
            for Warehouse {
                name,
                url,
                settings,
            } in &self.warehouses
            {
                // A JSON string is a valid YAML double-quoted scalar.
                let url = serde_json::to_string(url).expect("string to JSON");
                writeln!(yaml, "  {name}:\n    url: {url}").expect("write to a String");
                for (key, value) in settings {
                    writeln!(yaml, "    {key}: {value}").expect("write to a String");
                }
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

    /// Asserts the exit code, showing everything printed if it differs.
    #[track_caller]
    pub fn assert_code(&self, want: i32) {
        assert_eq!(self.code, want, "{}", self.both());
    }

    /// Stdout parsed as one JSON document (panics, showing the output, if it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.both()))
    }
}

/// Runs the `tidemark` binary with `args`, in `dir`, with a clean environment for it (no
/// inherited store URL, no colours).
/// An open failure incident of `dataset`'s `check` (an SLA breach), first seen at `at`:
/// tests adjust it with struct update syntax.
pub fn incident(
    dataset: &str,
    check: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> tidemark::store::Incident {
    use tidemark::store::{Incident, IncidentKind, IncidentStatus};
    Incident {
        id: 0,
        dataset: dataset.to_owned(),
        check: check.to_owned(),
        kind: IncidentKind::Failure,
        sla: true,
        severity: tidemark::spec::Severity::High,
        status: IncidentStatus::Open,
        opened_at: at,
        last_seen_at: at,
        resolved_at: None,
        resolved_by: None,
        acknowledged_at: None,
        muted_until: None,
        count: 1,
        flaps: 0,
        value: Some(0.5),
        expected: Some(serde_json::json!({"max": 0})),
        message: "0.5 is too much".to_owned(),
        cause: None,
        version: 1,
        announced: None,
        last_notified_at: None,
    }
}

/// A `row_count` result of a past run of `dataset` on warehouse `main`, passing with
/// Writes `incident` as a new one at `now`; its id in the store.
pub async fn store_incident(
    store: &tidemark::store::Store,
    incident: tidemark::store::Incident,
    now: chrono::DateTime<chrono::Utc>,
) -> i64 {
    let (dataset, check) = (incident.dataset.clone(), incident.check.clone());
    let event = tidemark::store::NewEvent {
        kind: tidemark::store::EventKind::Opened,
        actor: tidemark::store::ACTOR_CHECK.to_owned(),
        detail: Some(incident.message.clone()),
    };
    let change = tidemark::store::IncidentChange {
        incident,
        base: None,
        notifications: Vec::new(),
        event: Some(event),
    };
    store
        .write_incidents(&[change], now)
        .await
        .expect("write an incident");
    let latest = store
        .latest_incidents(&[dataset])
        .await
        .expect("read the incident back");
    latest
        .iter()
        .find(|i| i.check == check)
        .map(|i| i.id)
        .expect("the incident just written")
}

/// `value`: tests adjust it with struct update syntax.
pub fn past_result(dataset: &str, check: &str, value: f64) -> tidemark::results::CheckResult {
    tidemark::results::CheckResult {
        dataset: dataset.into(),
        warehouse: "main".into(),
        check: check.into(),
        kind: "row_count".into(),
        column: None,
        columns: None,
        outcome: tidemark::results::Outcome::Pass,
        value: Some(value),
        expected: None,
        message: format!("{value} rows"),
        severity: None,
        band: None,
    }
}

/// Records a completed CLI run of `dataset` that finished at `at` with `results`: history,
/// as if earlier runs had stored it.
pub async fn record_past_run(
    store: &tidemark::store::Store,
    dataset: &str,
    at: chrono::DateTime<chrono::Utc>,
    results: Vec<tidemark::results::CheckResult>,
) {
    record_past_run_with_snapshot(store, dataset, at, results, None).await;
}

/// [`record_past_run`] that also saw the table's columns (a schema snapshot).
pub async fn record_past_run_with_snapshot(
    store: &tidemark::store::Store,
    dataset: &str,
    at: chrono::DateTime<chrono::Utc>,
    results: Vec<tidemark::results::CheckResult>,
    snapshot: Option<Vec<tidemark::results::SnapshotColumn>>,
) {
    use tidemark::store::{Claim, FinishedRun, NewRun, RunStatus, Trigger};
    let run = NewRun {
        id: uuid::Uuid::new_v4(),
        batch_id: uuid::Uuid::new_v4(),
        dataset: dataset.into(),
        warehouse: "main".into(),
        trigger: Trigger::Cli,
        slot: None,
        replica: "history".into(),
        started_at: at,
        lease_until: at + chrono::TimeDelta::minutes(1),
    };
    assert_eq!(store.start_run(&run).await.ok(), Some(Claim::Started));
    let finished = FinishedRun {
        id: run.id,
        status: RunStatus::Completed,
        finished_at: at,
        error: None,
        results: results.into_iter().map(|r| (r, "h".to_owned())).collect(),
        snapshot,
        profiles: Vec::new(),
        bucket_points: Vec::new(),
        cost: Default::default(),
    };
    store.finish_run(&finished).await.expect("store a past run");
}

/// An HTTP client. reqwest is built without a TLS crypto provider of its own (telemetry
/// installs ring): without one installed, building a client panics, even for plain HTTP.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A new API token for the store of the project in `dir`.
pub fn api_token(dir: &Path) -> String {
    let out = run_tidemark(dir, &["token", "create", "."]);
    out.assert_code(0);
    out.stdout.trim().to_owned()
}

pub fn run_tidemark(dir: &Path, args: &[&str]) -> Output {
    run_tidemark_with_env(dir, args, &[])
}

/// Variables of the developer's shell that would change what the binary prints or where it
/// sends telemetry; tests set the ones they need.
const TELEMETRY_VARS: [&str; 5] = [
    "TIDEMARK_LOG",
    "TIDEMARK_LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];

/// [`run_tidemark`] with `env` added to its clean environment.
pub fn run_tidemark_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidemark"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("TIDEMARK_STORE_URL")
        .env_remove("WAREHOUSE_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    for name in TELEMETRY_VARS {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("spawn the tidemark binary");
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
    (out.code, out.json())
}

/// Asserts a run's exit code; `why` says what the code means here, and a failure lists
/// every result of the run.
#[track_caller]
pub fn assert_exit_code(code: i32, want: i32, doc: &Value, why: &str) {
    assert!(
        code == want,
        "exit code {code}, expected {want} ({why}); results:\n{}",
        result_lines(doc)
    );
}

/// Fails if anything was found wrong, listing all of it and then every result of the run.
/// Tests that compare many results collect their problems instead of stopping at the first,
/// so that one failing run shows everything that is off.
#[track_caller]
pub fn assert_no_problems(backend: Backend, problems: &[String], doc: &Value) {
    assert!(
        problems.is_empty(),
        "{backend:?}:\n{}\n\nresults:\n{}",
        problems.join("\n"),
        result_lines(doc)
    );
}

/// A JSON string's text; "" for anything else (a missing field, null), so that assertions on
/// the text fail with the document in their message rather than panic here.
pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
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

/// The warehouses every cross-database test runs on (DuckDB in builds that have it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MariaDb,
    Sqlite,
    #[cfg(feature = "warehouse-duckdb")]
    DuckDb,
    #[cfg(feature = "warehouse-spark")]
    Spark,
}

/// Column type names in a warehouse's own dialect, for seeding the same table everywhere.
pub struct SqlTypes {
    pub int: &'static str,
    pub text: &'static str,
    pub decimal: &'static str,
    pub float: &'static str,
    pub timestamp: &'static str,
}

impl Backend {
    /// Whether the warehouse has accounts (a server), as opposed to a file.
    pub fn has_accounts(self) -> bool {
        matches!(self, Backend::Postgres | Backend::MariaDb)
    }

    pub fn types(self) -> SqlTypes {
        match self {
            Backend::Postgres => SqlTypes {
                int: "integer",
                text: "text",
                decimal: "numeric(10,2)",
                float: "double precision",
                timestamp: "timestamptz",
            },
            Backend::MariaDb => SqlTypes {
                int: "int",
                text: "varchar(50)",
                decimal: "decimal(10,2)",
                float: "double",
                timestamp: "datetime",
            },
            Backend::Sqlite => SqlTypes {
                int: "INTEGER",
                text: "TEXT",
                decimal: "DECIMAL(10,2)",
                float: "REAL",
                timestamp: "DATETIME",
            },
            #[cfg(feature = "warehouse-duckdb")]
            Backend::DuckDb => SqlTypes {
                int: "INTEGER",
                text: "VARCHAR",
                decimal: "DECIMAL(10,2)",
                float: "DOUBLE",
                timestamp: "TIMESTAMP",
            },
            #[cfg(feature = "warehouse-spark")]
            Backend::Spark => SqlTypes {
                int: "INT",
                text: "STRING",
                decimal: "DECIMAL(10,2)",
                float: "DOUBLE",
                timestamp: "TIMESTAMP",
            },
        }
    }
}

/// Declares one `#[tokio::test]` per warehouse, each running `scenario(backend)`. The test
/// names are written out in full (labelled with their warehouse) so that a failing test's
/// name can be found with grep.
macro_rules! on_each_backend {
    (
        $scenario:ident,
        postgres: $postgres:ident,
        mariadb: $mariadb:ident,
        sqlite: $sqlite:ident,
        duckdb: $duckdb:ident,
        spark: $spark:ident $(,)?
    ) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $postgres() {
            $scenario($crate::support::Backend::Postgres).await;
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $mariadb() {
            $scenario($crate::support::Backend::MariaDb).await;
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $sqlite() {
            $scenario($crate::support::Backend::Sqlite).await;
        }

        #[cfg(feature = "warehouse-duckdb")]
        #[tokio::test(flavor = "multi_thread")]
        async fn $duckdb() {
            $scenario($crate::support::Backend::DuckDb).await;
        }

        #[cfg(feature = "warehouse-spark")]
        #[tokio::test(flavor = "multi_thread")]
        async fn $spark() {
            $scenario($crate::support::Backend::Spark).await;
        }
    };
}
pub(crate) use on_each_backend;

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

/// `<prefix>_<uuid>`: a database or table name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Runs the future that `work` makes to completion, on a runtime of its own in another
/// thread: usable from `Drop` whether or not the caller is inside a Tokio runtime (a runtime
/// cannot block inside another). A failure only warns, naming `what`: it is cleanup, after
/// the test has already passed or failed.
pub fn block_on_side<W, F>(what: &str, work: W)
where
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()>,
{
    let joined = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a cleanup runtime")
            .block_on(work());
    })
    .join();
    if joined.is_err() {
        eprintln!("warning: {what} failed");
    }
}

/// Runs several `;`-separated statements on `pool`; `backend` names the warehouse if they fail.
async fn exec_on<DB>(pool: &Pool<DB>, backend: &str, sql: &str)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{backend} seeding failed: {e}\n{sql}"));
}

/// What differs between the database servers that [`ServerDb`] creates databases on.
pub trait Server: Database {
    /// The server's name in messages.
    const LABEL: &'static str;
    /// The server to create test databases on.
    fn server_url() -> String;
    fn create_database_sql(name: &str) -> String;
    fn drop_database_sql(name: &str) -> String;
}

impl Server for sqlx::Postgres {
    const LABEL: &'static str = "Postgres";
    fn server_url() -> String {
        pg_server_url()
    }
    fn create_database_sql(name: &str) -> String {
        format!("CREATE DATABASE {name}")
    }
    // FORCE: a connection the binary left open must not keep the database alive.
    fn drop_database_sql(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    }
}

impl Server for sqlx::MySql {
    const LABEL: &'static str = "MariaDB";
    fn server_url() -> String {
        mysql_server_url()
    }
    // The server's default character set may be latin1, which cannot hold every test string.
    fn create_database_sql(name: &str) -> String {
        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")
    }
    fn drop_database_sql(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS {name}")
    }
}

/// A fresh database `tm_<uuid>` on a database server, dropped when the value is dropped.
///
/// The `for<'c> &'c mut DB::Connection: Executor` bound (here and on the helpers) only says
/// "a pool of this database can run SQL"; sqlx wants it written out wherever code is generic
/// over the database.
pub struct ServerDb<DB: Server>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub name: String,
    /// The warehouse URL for tidemark.yml.
    pub url: String,
    /// A pool on the test database, for seeding and inspecting.
    pub pool: Pool<DB>,
    server_url: String,
}

/// A fresh Postgres database.
pub type PgDb = ServerDb<sqlx::Postgres>;
/// A fresh MariaDB database.
pub type MyDb = ServerDb<sqlx::MySql>;

/// One connection to the server itself (not to a test database), to create and drop them.
async fn admin_pool<DB: Database>(server_url: &str) -> Result<Pool<DB>, sqlx::Error> {
    PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(server_url)
        .await
}

/// Runs one statement on the server, for creating and dropping databases.
async fn admin_exec<DB>(admin: &Pool<DB>, sql: String) -> Result<DB::QueryResult, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(admin).await
}

impl<DB: Server> ServerDb<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub async fn new() -> Self {
        let server_url = DB::server_url();
        let name = unique_name("tm");
        let admin = admin_pool::<DB>(&server_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to {} at {server_url} ({e}); run tests/run, which starts it",
                DB::LABEL
            )
        });
        admin_exec(&admin, DB::create_database_sql(&name))
            .await
            .expect("CREATE DATABASE");
        admin.close().await;
        let url = with_database(&server_url, &name);
        let pool = PoolOptions::<DB>::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect to the test database");
        ServerDb {
            name,
            url,
            pool,
            server_url,
        }
    }

    /// Runs several `;`-separated statements.
    pub async fn exec(&self, sql: &str) {
        exec_on(&self.pool, DB::LABEL, sql).await;
    }
}

impl<DB: Server> Drop for ServerDb<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn drop(&mut self) {
        let (server_url, name, pool) = (
            self.server_url.clone(),
            self.name.clone(),
            self.pool.clone(),
        );
        block_on_side("dropping a test database", move || async move {
            // Our own connections first, or the DROP would wait for (or fail on) them.
            pool.close().await;
            if let Ok(admin) = admin_pool::<DB>(&server_url).await {
                let _ = admin_exec(&admin, DB::drop_database_sql(&name)).await;
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
        exec_on(&self.pool, "SQLite", sql).await;
    }
}

/// A fresh DuckDB database file in a temporary directory (removed on drop). The test opens
/// it only for a moment each time (seeding read-write, reading back read-only), so the
/// engine under test can open it read-only in between.
#[cfg(feature = "warehouse-duckdb")]
pub struct DuckDb {
    pub path: PathBuf,
    /// `duckdb:///absolute/path.duckdb`
    pub url: String,
    _dir: tempfile::TempDir,
}

#[cfg(feature = "warehouse-duckdb")]
impl DuckDb {
    pub fn new() -> DuckDb {
        let dir = tempfile::Builder::new()
            .prefix("tidemark-duckdb-")
            .tempdir()
            .expect("create a temporary directory");
        let path = dir.path().join("warehouse.duckdb");
        let url = format!("duckdb://{}", path.display());
        let db = DuckDb {
            path,
            url,
            _dir: dir,
        };
        db.exec("SELECT 1");
        db
    }

    pub fn exec(&self, sql: &str) {
        let connection = duckdb::Connection::open(&self.path).expect("open the DuckDB file");
        connection
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("DuckDB setup SQL failed: {e}\n{sql}"));
    }

    pub fn scalar_i64(&self, sql: &str) -> duckdb::Result<i64> {
        let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly)?;
        let connection = duckdb::Connection::open_with_flags(&self.path, config)?;
        connection.query_row(sql, [], |row| row.get(0))
    }
}

/// The Spark Connect server the Spark tests create databases on.
#[cfg(feature = "warehouse-spark")]
pub fn spark_server_url() -> String {
    std::env::var("TIDEMARK_TEST_SPARK_URL").unwrap_or_else(|_| DEFAULT_SPARK_URL.to_owned())
}

/// A fresh database `tm_<uuid>` on the Spark Connect server, dropped (with its tables) when
/// the value is dropped. Its URL names it with `;database=`, so unqualified dataset names
/// resolve in it. The client is synchronous: every call runs on a thread of its own.
#[cfg(feature = "warehouse-spark")]
pub struct SparkDb {
    pub name: String,
    /// `sc://host:port/;database=tm_…`
    pub url: String,
    session: spark_connect::SparkSession,
}

#[cfg(feature = "warehouse-spark")]
impl SparkDb {
    pub async fn new() -> SparkDb {
        let server = spark_server_url();
        let name = unique_name("tm");
        let (remote, database) = (server.clone(), name.clone());
        let session = tokio::task::spawn_blocking(move || {
            let text = |e: spark_connect::SparkError| e.to_string();
            let session = spark_connect::SparkSession::builder()
                .remote(&remote)
                .get_or_create()
                .map_err(text)?;
            let utc = session.conf().set("spark.sql.session.timeZone", "UTC");
            utc.map_err(text)?;
            for statement in [format!("CREATE DATABASE {database}"), format!("USE {database}")] {
                spark_sql(&session, &statement)?;
            }
            Ok::<_, String>(session)
        })
        .await
        .expect("join the Spark setup")
        .unwrap_or_else(|e| {
            panic!("cannot set up a database on Spark at {server} ({e}); run tests/run, which starts it")
        });
        let url = format!("{}/;database={name}", server.trim_end_matches('/'));
        SparkDb { name, url, session }
    }

    /// Runs several `;`-separated statements, each a Spark job.
    pub async fn exec(&self, sql: &str) {
        let (session, sql) = (self.session.clone(), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            for statement in statements(&sql) {
                if let Err(e) = spark_sql(&session, statement) {
                    panic!("Spark seeding failed: {e}\n{statement}");
                }
            }
        })
        .await
        .expect("join the Spark seeding");
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let (session, sql) = (self.session.clone(), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            let batches = spark_sql(&session, &sql)
                .unwrap_or_else(|e| panic!("Spark query failed: {e}\n{sql}"));
            let column = arrow_cast::cast(batches[0].column(0), &arrow_schema::DataType::Int64)
                .expect("an integer");
            let column = column
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("an Int64 array");
            column.value(0)
        })
        .await
        .expect("join the Spark query")
    }
}

#[cfg(feature = "warehouse-spark")]
impl Drop for SparkDb {
    fn drop(&mut self) {
        let (session, name) = (self.session.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            spark_sql(&session, &format!("DROP DATABASE IF EXISTS {name} CASCADE"))
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("warning: dropping a Spark test database failed");
        }
    }
}

/// Runs one statement to its end, with the client's error as text.
#[cfg(feature = "warehouse-spark")]
fn spark_sql(
    session: &spark_connect::SparkSession,
    statement: &str,
) -> Result<Vec<arrow_array::RecordBatch>, String> {
    let frame = session.sql(statement).map_err(|e| e.to_string())?;
    frame.collect_record_batches().map_err(|e| e.to_string())
}

/// The statements of `sql`, split at semicolons outside quotes.
#[cfg(feature = "warehouse-spark")]
fn statements(sql: &str) -> Vec<&str> {
    let (mut out, mut start, mut quote) = (Vec::new(), 0, None);
    for (i, c) in sql.char_indices() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, ';') => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&sql[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A fresh database on any of the backends, seeded with plain SQL.
pub enum TestDb {
    Postgres(PgDb),
    MariaDb(MyDb),
    Sqlite(SqliteDb),
    #[cfg(feature = "warehouse-duckdb")]
    DuckDb(DuckDb),
    #[cfg(feature = "warehouse-spark")]
    Spark(SparkDb),
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => TestDb::Postgres(PgDb::new().await),
            Backend::MariaDb => TestDb::MariaDb(MyDb::new().await),
            Backend::Sqlite => TestDb::Sqlite(SqliteDb::new().await),
            #[cfg(feature = "warehouse-duckdb")]
            Backend::DuckDb => TestDb::DuckDb(DuckDb::new()),
            #[cfg(feature = "warehouse-spark")]
            Backend::Spark => TestDb::Spark(SparkDb::new().await),
        }
    }

    /// A fresh database on `backend` with `sql` already run in it.
    pub async fn seeded(backend: Backend, sql: &str) -> TestDb {
        let db = TestDb::new(backend).await;
        db.exec(sql).await;
        db
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Postgres(_) => Backend::Postgres,
            TestDb::MariaDb(_) => Backend::MariaDb,
            TestDb::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "warehouse-duckdb")]
            TestDb::DuckDb(_) => Backend::DuckDb,
            #[cfg(feature = "warehouse-spark")]
            TestDb::Spark(_) => Backend::Spark,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Postgres(db) => &db.url,
            TestDb::MariaDb(db) => &db.url,
            TestDb::Sqlite(db) => &db.url,
            #[cfg(feature = "warehouse-duckdb")]
            TestDb::DuckDb(db) => &db.url,
            #[cfg(feature = "warehouse-spark")]
            TestDb::Spark(db) => &db.url,
        }
    }

    pub async fn exec(&self, sql: &str) {
        match self {
            TestDb::Postgres(db) => db.exec(sql).await,
            TestDb::MariaDb(db) => db.exec(sql).await,
            TestDb::Sqlite(db) => db.exec(sql).await,
            #[cfg(feature = "warehouse-duckdb")]
            TestDb::DuckDb(db) => db.exec(sql),
            #[cfg(feature = "warehouse-spark")]
            TestDb::Spark(db) => db.exec(sql).await,
        }
    }

    /// A single integer (e.g. a count) from `sql`.
    pub async fn scalar_i64(&self, text: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(text.to_owned());
        let got = match self {
            TestDb::Postgres(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
            TestDb::MariaDb(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
            TestDb::Sqlite(db) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await,
            #[cfg(feature = "warehouse-duckdb")]
            TestDb::DuckDb(db) => {
                let got = db.scalar_i64(text);
                return got.unwrap_or_else(|e| panic!("DuckDB query failed: {e}"));
            }
            #[cfg(feature = "warehouse-spark")]
            TestDb::Spark(db) => return db.scalar_i64(text).await,
        };
        got.unwrap_or_else(|e| panic!("{:?} query failed: {e}", self.backend()))
    }
}

/// Runs `tidemark run --format json` over `datasets` on a fresh database on `backend` that
/// `seed_sql` has filled. Returns the database too, for looking at it afterwards.
pub async fn run_on_seeded(
    backend: Backend,
    seed_sql: &str,
    datasets: &[(&str, &str)],
) -> (TestDb, i32, Value) {
    let db = TestDb::seeded(backend, seed_sql).await;
    let project = Project::with_datasets(db.url(), datasets);
    let (code, doc) = json_run_async(project.path(), &[]).await;
    (db, code, doc)
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

// ---------------------------------------------------------------------------------------
// `tidemark serve` as a black box

/// A server under test, wherever it runs: in this process or as a child process.
pub trait Served {
    /// `http://127.0.0.1:PORT`.
    fn base(&self) -> &str;

    /// `base` + `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}

/// `tidemark serve` inside the test process (`Server::build`, then `run_until_stopped` on a
/// free port), with the default options: for API and dashboard tests that need no signals,
/// environment or exit code (those spawn the binary, [`ServeProcess`]). It stops, draining,
/// when dropped.
pub struct InProcessServer {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl InProcessServer {
    pub async fn start(dir: &Path) -> InProcessServer {
        let project = tidemark::spec::load(dir).unwrap_or_else(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!("the project does not load:\n{}", problems.join("\n"))
        });
        let options = tidemark::server::Options {
            read_needs_token: false,
            trusted_proxies: Default::default(),
            run: Default::default(),
            alerts: Default::default(),
            first_retry: std::time::Duration::from_secs(10),
        };
        let server = tidemark::server::Server::build(project, options)
            .await
            .unwrap_or_else(|e| panic!("build the server: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let base = format!(
            "http://{}",
            listener.local_addr().expect("the bound address")
        );
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(server.run_until_stopped(listener, async {
            let _ = stopped.await;
        }));
        InProcessServer {
            base,
            stop: Some(stop),
        }
    }
}

impl Served for InProcessServer {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How long a server may take to print `listening on http://…`.
pub const SERVER_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A running `tidemark serve DIR --listen 127.0.0.1:0`. It is killed (SIGKILL) when dropped
/// if it has not exited by then.
pub struct ServeProcess {
    pub pid: u32,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
    exited: std::sync::mpsc::Receiver<std::process::ExitStatus>,
    status: Option<std::process::ExitStatus>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// What it printed on stdout before its ready line.
    before_ready: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    /// Starts the server on `dir` with `env` added to a clean environment, and waits for its
    /// `listening on http://ADDR` line (panicking, with its stderr, if it does not come).
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> ServeProcess {
        let args = [
            "serve",
            &dir.display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ];
        ServeProcess::start_with(dir, &args, "listening on ", env)
    }

    /// Starts `tidemark ARGS` in `dir` as [`ServeProcess::start`] does, waiting for the line
    /// of stdout that starts with `ready_line` (what follows it is [`ServeProcess::base`]).
    pub fn start_with(
        dir: &Path,
        args: &[&str],
        ready_line: &'static str,
        env: &[(&str, &str)],
    ) -> ServeProcess {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;

        let mut command = Command::new(env!("CARGO_BIN_EXE_tidemark"));
        command
            .args(args)
            .current_dir(dir)
            .env_remove("TIDEMARK_STORE_URL")
            .env_remove("WAREHOUSE_URL")
            .env_remove("RUST_LOG")
            .env_remove("TIDEMARK_LEASE_SECS")
            .env_remove("TIDEMARK_RETRY_SECS")
            .env_remove("TIDEMARK_LOG_FORMAT")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .env("TIDEMARK_LOG", "warn,tidemark=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn tidemark serve");
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");

        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = collected.lock() {
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        });
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let before_ready = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let printed = std::sync::Arc::clone(&before_ready);
        std::thread::spawn(move || {
            // Reads on to the end, so the server never blocks on a full pipe.
            let mut ready = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix(ready_line) {
                    ready = true;
                    let _ = ready_tx.send(address.trim().to_owned());
                } else if !ready && let Ok(mut text) = printed.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let (exited_tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exited_tx.send(status);
            }
        });

        let mut server = ServeProcess {
            pid,
            base: String::new(),
            exited,
            status: None,
            stderr,
            before_ready,
        };
        match ready.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(base) => server.base = base,
            Err(_) => panic!(
                "tidemark {args:?} did not print `{ready_line}…` within {SERVER_START_TIMEOUT:?}; \
                 exit status {:?}; stderr:\n{}",
                server.wait_exit(std::time::Duration::from_secs(1)),
                server.stderr()
            ),
        }
        server
    }

    /// Sends a signal by name (`TERM`, `HUP`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid);
    }

    /// Waits up to `timeout` for the process to exit; its exit status, if it did.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        if self.status.is_none() {
            self.status = self.exited.recv_timeout(timeout).ok();
        }
        self.status
    }

    /// What the server printed on stdout before its ready line.
    pub fn printed_before_ready(&self) -> String {
        self.before_ready
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Everything the server wrote on stderr so far (its logs).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Served for ServeProcess {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if self.wait_exit(std::time::Duration::ZERO).is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
            let _ = self.wait_exit(std::time::Duration::from_secs(10));
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `timeout`; panics with
/// `what` (and the last state `describe` gives) if it never does.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A private Postgres cluster

/// A throw-away Postgres cluster of the test's own (`initdb` into a temporary directory),
/// for tests that stop and start the server itself: the machine's shared Postgres, which
/// other tests use at the same time, is never touched. It listens on 127.0.0.1 on a free
/// port with trust authentication, keeps the same port across [`stop`](Self::stop) and
/// [`start`](Self::start), and is stopped (fast) and deleted when dropped.
///
/// The binaries come from `TIDEMARK_TEST_PG_BIN`, or else the newest
/// `/usr/lib/postgresql/<version>/bin` (what `tests/run` installs). Postgres refuses to run
/// as root: when the tests run as root, the cluster belongs to the `postgres` OS user and its
/// commands run through `runuser`.
pub struct PgCluster {
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub url: String,
    bin: PathBuf,
    /// Whether the commands run as the `postgres` OS user (we are root).
    as_postgres: bool,
    running: bool,
    /// Holds `data/` (the cluster), `log` (the server's log) and the Unix socket.
    dir: tempfile::TempDir,
}

impl PgCluster {
    /// Creates the cluster and starts it (a second or two).
    pub fn new() -> PgCluster {
        use std::os::unix::fs::MetadataExt;

        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("tidemark-pg-")
            .tempdir()
            .expect("create a directory for a Postgres cluster");
        let as_postgres = std::fs::metadata(dir.path())
            .expect("stat the cluster directory")
            .uid()
            == 0;
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:".as_ref(), dir.path().as_os_str()])
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres: {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free port")
            .port();
        let mut cluster = PgCluster {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            as_postgres,
            running: false,
            dir,
        };
        let data = cluster.data_dir();
        cluster.command(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                // Throw-away: no need to wait for the disk.
                "--no-sync".as_ref(),
            ],
        );
        cluster.start();
        cluster
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(!self.running, "the cluster is already running");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let (data, log) = (self.data_dir(), self.log_path());
        self.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
        self.running = true;
    }

    /// Stops the cluster (fast: sessions are ended at once, as in a restart or a failover)
    /// and waits until it is down.
    pub fn stop(&mut self) {
        assert!(self.running, "the cluster is not running");
        let out = self.try_stop();
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}{}\n--- server log\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        self.running = false;
    }

    /// What the server wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn try_stop(&self) -> std::process::Output {
        let data = self.data_dir();
        self.output(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    /// Runs one of the cluster's programs, panicking with its output if it fails.
    fn command(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let out = self.output(program, args);
        assert!(
            out.status.success(),
            "{program} failed ({}):\n{}{}\n--- server log\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn output(&self, program: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            // A directory the `postgres` user can enter: the programs look up their own path.
            .current_dir(self.dir.path())
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST")
            .env_remove("PGOPTIONS")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let out = self.try_stop();
            if !out.status.success() {
                eprintln!(
                    "warning: stopping the test's Postgres cluster failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// Where `initdb` and `pg_ctl` are: `TIDEMARK_TEST_PG_BIN`, or the newest
/// `/usr/lib/postgresql/<version>/bin` that has them.
fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TIDEMARK_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<f64>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no Postgres server binaries under {}/<version>/bin (set TIDEMARK_TEST_PG_BIN); \
             run tests/run, which installs them",
            root.display()
        ),
    }
}

/// Every run of `dataset` in a store, newest first.
pub async fn runs_of(store: &tidemark::store::Store, dataset: &str) -> Vec<tidemark::store::Run> {
    use tidemark::store::{Page, RunFilter};
    let filter = RunFilter {
        dataset: Some(dataset.to_owned()),
        ..RunFilter::default()
    };
    let page = Page {
        limit: Page::MAX_LIMIT,
        before: None,
    };
    store
        .runs(&filter, page)
        .await
        .unwrap_or_else(|e| panic!("list runs: {e}"))
        .items
}
