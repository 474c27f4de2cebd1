//! Telemetry, end to end: JSON logs line by line, spans and metrics arriving at a real
//! OTLP/HTTP endpoint (a small collector in the test, on port 0), the Prometheus `/metrics`
//! exposition after a run, and no password anywhere in any of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use tidemark::engine::Warehouses;
use tidemark::runner::{self, Recorded, RunRequest};
use tidemark::store::{Store, Trigger};
use tidemark::telemetry::{self, LogFormat, Options};

use crate::support::{
    Output, PgDb, Project, ServeProcess, Served, SqliteDb, eventually, pg_server_url,
    run_tidemark_with_env, with_database,
};

/// How long an exporter may take to deliver (it flushes at exit, so normally at once).
const DELIVERY: Duration = Duration::from_secs(30);

const ORDERS: &str = "dataset: orders
checks:
  - row_count: { min: 1 }
  - missing_count: { column: name, max: 1 }
  - sql_metric: { name: big_orders, query: 'select count(*) from orders where amount > 15', max: 5 }
";

async fn sqlite_warehouse() -> SqliteDb {
    let db = SqliteDb::new().await;
    db.exec(
        "CREATE TABLE orders (id INTEGER, name TEXT, amount INTEGER);
         INSERT INTO orders VALUES (1, 'a', 10), (2, 'b', 20), (3, NULL, 30);",
    )
    .await;
    db
}

/// Runs the binary off the async worker threads (the test's collector runs on them).
async fn run_async(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = project.path().to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_tidemark_with_env(&dir, &args, &env)
    })
    .await
    .expect("join the tidemark run")
}

// ---------------------------------------------------------------------------------------
// A minimal OTLP/HTTP collector: records every request, answers 200.

#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    /// Starts a collector on `127.0.0.1:0`; returns it and its base URL.
    async fn start() -> (Collector, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let address = listener.local_addr().expect("collector address");
        let collector = Collector::default();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(collector.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the collector");
        });
        (collector, format!("http://{address}"))
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().expect("collector lock").clone()
    }

    /// Waits for a request to `path`; all of them once one has come.
    async fn wait_for(&self, path: &str) -> Vec<Received> {
        eventually(&format!("a request to {path}"), DELIVERY, || async {
            let found: Vec<Received> = self.all().into_iter().filter(|r| r.path == path).collect();
            (!found.is_empty()).then_some(found)
        })
        .await
    }
}

async fn record(
    State(collector): State<Collector>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    collector
        .received
        .lock()
        .expect("collector lock")
        .push(Received {
            method,
            path: uri.path().to_owned(),
            content_type,
            body: body.to_vec(),
        });
    // An empty protobuf message: a full success.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
    )
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------
// Logs

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let warehouse = sqlite_warehouse().await;
    let project = Project::with_datasets(&warehouse.url, &[("orders", ORDERS)]);
    // The flag is global: after the subcommand as well as before it.
    let out = run_async(
        &project,
        &["run", "--format", "json", "--log-format", "json"],
        &[("TIDEMARK_LOG", "info")],
    )
    .await;
    out.assert_code(0);
    // Logs never mix into the report on stdout.
    let doc = out.json();
    assert_eq!(doc["summary"]["pass"], 3, "{doc}");

    let lines: Vec<Value> = out
        .stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}\n{}", out.both()))
        })
        .collect();
    assert!(
        !lines.is_empty(),
        "nothing was logged at info:\n{}",
        out.both()
    );
    for line in &lines {
        for key in ["timestamp", "level", "target"] {
            assert!(line[key].is_string(), "no {key} in {line}");
        }
    }
    let batch = lines
        .iter()
        .find(|l| l["message"] == "batch finished")
        .unwrap_or_else(|| panic!("no `batch finished` line:\n{}", out.stderr));
    assert_eq!(batch["level"], "INFO", "{batch}");
    assert_eq!(batch["pass"], 3, "{batch}");
    assert_eq!(batch["span"]["name"], "tidemark.batch", "{batch}");
    assert_eq!(batch["span"]["trigger"], "cli", "{batch}");

    // The default stays human-readable text.
    let text = run_async(&project, &["run"], &[("TIDEMARK_LOG", "info")]).await;
    text.assert_code(0);
    let line = text
        .stderr
        .lines()
        .find(|l| l.contains("batch finished"))
        .unwrap_or_else(|| panic!("no `batch finished` line:\n{}", text.both()));
    assert!(line.contains(" INFO "), "{line}");
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
}

// ---------------------------------------------------------------------------------------
// OTLP

#[tokio::test(flavor = "multi_thread")]
async fn spans_and_metrics_arrive_over_otlp_http() {
    let (collector, endpoint) = Collector::start().await;
    let warehouse = sqlite_warehouse().await;
    let project = Project::with_datasets(&warehouse.url, &[("orders", ORDERS)]);
    let out = run_async(
        &project,
        &["run"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    )
    .await;
    out.assert_code(0);
    assert!(!out.stderr.contains("telemetry"), "{}", out.both());

    let traces = collector.wait_for("/v1/traces").await;
    let body: Vec<u8> = traces.iter().flat_map(|r| r.body.clone()).collect();
    for request in &traces {
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.content_type, "application/x-protobuf");
        assert!(!request.body.is_empty(), "an empty export");
    }
    // Protobuf keeps strings as they are: span names, attribute keys and values.
    for expected in [
        "tidemark.batch",
        "tidemark.run",
        "tidemark.dataset",
        "tidemark.warehouse_query",
        "service.name",
        "tidemark",
        "orders",
        "sql_metric",
        "run_id",
    ] {
        assert!(
            contains(&body, expected),
            "the exported spans lack {expected:?}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // The periodic metric reader exports once more at exit.
    let metrics = collector.wait_for("/v1/metrics").await;
    let body: Vec<u8> = metrics.iter().flat_map(|r| r.body.clone()).collect();
    assert_eq!(metrics[0].content_type, "application/x-protobuf");
    for expected in [
        "tidemark.runs",
        "tidemark.check_results",
        "tidemark.run.duration",
        "tidemark.queue.depth",
        "completed",
    ] {
        assert!(
            contains(&body, expected),
            "the exported metrics lack {expected:?}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_endpoint_nothing_is_exported() {
    let (collector, endpoint) = Collector::start().await;
    let warehouse = sqlite_warehouse().await;
    let project = Project::with_datasets(&warehouse.url, &[("orders", ORDERS)]);
    // The collector's address is in the environment, but not as an OTLP endpoint.
    let out = run_async(&project, &["run"], &[("COLLECTOR", endpoint.as_str())]).await;
    out.assert_code(0);
    assert!(collector.all().is_empty(), "{:?}", collector.all());
}

// ---------------------------------------------------------------------------------------
// Prometheus

/// The exposition's sample lines of `name` (with labels), e.g. `name{a="b"} 1`.
fn samples<'a>(exposition: &'a str, name: &str) -> Vec<&'a str> {
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of a sample line.
fn value(sample: &str) -> f64 {
    sample
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {sample}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_endpoint_shows_the_instruments_after_a_run() {
    // In this process, as `tidemark serve` does it.
    let _telemetry = telemetry::init(Options {
        log_format: LogFormat::Text,
        prometheus: true,
    });
    let warehouse = sqlite_warehouse().await;
    let project = Project::with_datasets(&warehouse.url, &[("orders", ORDERS)]);
    let spec =
        tidemark::spec::load(project.path()).unwrap_or_else(|d| panic!("load the project: {d:?}"));
    let dataset = &spec.datasets[0];
    let store = Store::open(None, project.path())
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));
    let warehouses = Warehouses::connect(&spec, &[dataset]).await;
    // A scheduled slot two seconds late: the scheduler's lag.
    let request = RunRequest {
        batch_id: Uuid::new_v4(),
        trigger: Trigger::Schedule,
        slot: Some(Utc::now() - chrono::Duration::seconds(2)),
    };
    let recorded = runner::run_recorded(
        &runner::RunContext::default(),
        &store,
        &warehouses,
        dataset,
        &request,
    )
    .await
    .unwrap_or_else(|e| panic!("the run failed: {e:?}"));
    assert!(matches!(recorded, Recorded::Done { .. }), "{recorded:?}");
    warehouses.close().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, telemetry::metrics_router())
            .await
            .expect("serve /metrics");
    });
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let exposition = response.text().await.expect("the exposition");

    for name in [
        "tidemark_runs_total",
        "tidemark_check_results_total",
        "tidemark_run_duration_seconds",
        "tidemark_scheduler_lag_seconds",
        "tidemark_queue_depth",
    ] {
        assert!(
            exposition.contains(&format!("# TYPE {name} ")),
            "no {name} in:\n{exposition}"
        );
    }
    // Other tests of this binary may run datasets in this process too: at least ours.
    let runs = samples(&exposition, "tidemark_runs_total");
    assert!(
        runs.iter().any(|s| s.contains("trigger=\"schedule\"")
            && s.contains("status=\"completed\"")
            && value(s) >= 1.0),
        "{exposition}"
    );
    let passes = samples(&exposition, "tidemark_check_results_total");
    assert!(
        passes
            .iter()
            .any(|s| s.contains("outcome=\"pass\"") && value(s) >= 3.0),
        "{exposition}"
    );
    let lag = samples(&exposition, "tidemark_scheduler_lag_seconds_sum");
    assert!(
        lag.iter().any(|s| value(s) >= 2.0),
        "the lag is at least the two seconds: {exposition}"
    );
    let waiting = samples(&exposition, "tidemark_queue_depth");
    assert!(
        waiting
            .iter()
            .any(|s| s.contains("waiting_for=\"warehouse\"")),
        "{exposition}"
    );
}

/// `tidemark serve`: `/metrics` beside the API shows the scheduled run that catch-up starts
/// at once, and a graceful stop flushes the server's spans to the OTLP endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_metrics_and_flushes_spans_when_stopped() {
    let (collector, endpoint) = Collector::start().await;
    let warehouse = sqlite_warehouse().await;
    let scheduled = ORDERS.replacen(
        "dataset: orders\n",
        "dataset: orders\nschedule: \"* * * * *\"\n",
        1,
    );
    let project = Project::with_datasets(&warehouse.url, &[("orders", &scheduled)]);
    // (Blocking waits in place: the collector keeps answering on the other workers.)
    let mut server = tokio::task::block_in_place(|| {
        ServeProcess::start(
            project.path(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
        )
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = server.url("/metrics");
    let exposition = eventually("a scheduled run in /metrics", DELIVERY, || async {
        let text = http.get(&url).send().await.ok()?.text().await.ok()?;
        samples(&text, "tidemark_runs_total")
            .iter()
            .any(|s| s.contains("trigger=\"schedule\"") && s.contains("status=\"completed\""))
            .then_some(text)
    })
    .await;
    for name in [
        "tidemark_check_results_total",
        "tidemark_run_duration_seconds_count",
        "tidemark_scheduler_lag_seconds_count",
        "tidemark_queue_depth",
    ] {
        assert!(exposition.contains(name), "no {name} in:\n{exposition}");
    }

    server.signal("TERM");
    let status = tokio::task::block_in_place(|| server.wait_exit(DELIVERY));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        server.stderr()
    );
    let traces = collector.wait_for("/v1/traces").await;
    let body: Vec<u8> = traces.iter().flat_map(|r| r.body.clone()).collect();
    for expected in [
        "tidemark.run",
        "tidemark.warehouse_query",
        "schedule",
        "slot",
    ] {
        assert!(
            contains(&body, expected),
            "the server's spans lack {expected:?}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Secrets

const SECRET: &str = "Tele-S3cret-pw";

/// A warehouse and a store on Postgres with a password in their URLs (trust auth accepts
/// any), and an unreachable warehouse with one: debug logs as JSON, spans and metrics over
/// OTLP, and the report never show it.
#[tokio::test(flavor = "multi_thread")]
async fn passwords_appear_in_no_log_span_or_metric() {
    let (collector, endpoint) = Collector::start().await;
    let warehouse = PgDb::new().await;
    warehouse
        .exec(
            "CREATE TABLE orders (id integer, name text, amount integer);
             INSERT INTO orders VALUES (1, 'a', 10), (2, 'b', 20), (3, NULL, 30);",
        )
        .await;
    let store = PgDb::new().await;
    let with_secret = |database: &str| {
        let url = with_database(&pg_server_url(), database).replacen(
            "://postgres@",
            &format!("://postgres:{SECRET}@"),
            1,
        );
        assert!(
            url.contains(SECRET),
            "TIDEMARK_TEST_PG_URL should be postgres://postgres@…: {url}"
        );
        url
    };
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    let config = format!(
        "version: 1\nstore: {}\nwarehouses:\n  main:\n    url: {}\n  down:\n    url: {}\nchecks: [checks/]\n",
        quote(&with_secret(&store.name)),
        quote(&with_secret(&warehouse.name)),
        quote(&format!("postgres://postgres:{SECRET}@127.0.0.1:1/x")),
    );
    let project = Project::builder()
        .config(&config)
        .dataset(
            "orders",
            &ORDERS.replacen("dataset: orders\n", "dataset: orders\nwarehouse: main\n", 1),
        )
        .dataset(
            "gone",
            "dataset: gone\nwarehouse: down\nchecks:\n  - row_count: { min: 1 }\n",
        )
        .build();

    let out = run_async(
        &project,
        &["--log-format", "json", "run", "--format", "json"],
        &[
            ("TIDEMARK_LOG", "debug"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ],
    )
    .await;
    // The unreachable warehouse's check errored; the others ran and were recorded.
    out.assert_code(2);
    let doc = out.json();
    assert_eq!(doc["summary"]["pass"], 3, "{doc}");
    assert_eq!(doc["summary"]["error"], 1, "{doc}");
    assert!(
        out.stderr.lines().count() > 10,
        "debug logging was on:\n{}",
        out.stderr
    );
    assert!(
        !out.both().contains(SECRET),
        "the password was printed:\n{}",
        out.both()
    );

    collector.wait_for("/v1/traces").await;
    collector.wait_for("/v1/metrics").await;
    for request in collector.all() {
        assert!(
            !contains(&request.body, SECRET),
            "the password was exported to {}: {}",
            request.path,
            String::from_utf8_lossy(&request.body)
        );
    }
}
