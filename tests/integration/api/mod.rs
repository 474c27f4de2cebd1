//! The JSON API as a black box: the real router over a real TCP listener, a real SQLite
//! store seeded through the store API, a real project loaded from files, and the test
//! playing the scheduler (it receives the `ServerCommand`s and replies).
//!
//! Every response is checked against the OpenAPI document the server itself serves (the
//! schema of that operation and status, with undocumented fields reported), and for the
//! project's secrets, which must never appear.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, LOCATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use tidemark::results::SnapshotColumn;
use tidemark::results::{CheckResult, Outcome};
use tidemark::scheduler::ServerCommand;
use tidemark::spec::{self, Project as Spec};
use tidemark::store::{Claim, FinishedRun, NewRun, RunStatus, Store, StoreApi, Trigger};
use tidemark::web::{self, API_PREFIX, AppState, ROUTES, Verb, auth};

use crate::support::{Project, run_tidemark};

/// The password in the `secure` warehouse's URL: no response may contain it.
const SECRET: &str = "s3cret-pw";
const SECURE_URL: &str = "postgres://tidemark:s3cret-pw@127.0.0.1:9/wh";

const CONFIG: &str = r#"version: 1
warehouses:
  main:
    url: "sqlite://warehouse.db"
  secure:
    url: "postgres://tidemark:s3cret-pw@127.0.0.1:9/wh"
defaults:
  schedule: "0 * * * *"
  timezone: UTC
owners:
  orders-team: {}
checks: [checks/]
"#;

const ORDERS: &str = "dataset: analytics.orders
warehouse: main
owner: orders-team
tags: [tier-1, sales]
checks:
  - row_count: { min: 1 }
  - missing_count: { column: email, warn: { max: 0 }, fail: { max: 10 } }
  - duplicate_count: { columns: [id], max: 0 }
";

/// A name with a space: path segments must be percent-decoded.
const DAILY: &str = "dataset: sales.Daily Orders
warehouse: secure
schedule: \"*/5 * * * *\"
timezone: Europe/Berlin
checks:
  - row_count: { min: 1 }
";

const EVENTS: &str = "dataset: ops.events
warehouse: main
checks:
  - row_count: { min: 1 }
";

const ORDERS_NAME: &str = "analytics.orders";
const DAILY_NAME: &str = "sales.Daily Orders";
const EVENTS_NAME: &str = "ops.events";
/// The fake scheduler refuses to run this dataset, with the secret URL in its reason.
const REFUSED: &str = DAILY_NAME;

// ---------------------------------------------------------------------------------------
// The server under test

struct Options {
    read_needs_token: bool,
    /// Whether a scheduler answers commands (otherwise its channel is closed).
    scheduler: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            read_needs_token: false,
            scheduler: true,
        }
    }
}

struct Api {
    project: Project,
    store: Arc<Store>,
    base: String,
    http: reqwest::Client,
    /// A valid token.
    token: String,
    /// The OpenAPI document as the server serves it.
    doc: Value,
    /// Datasets the scheduler was asked to run.
    asked_to_run: Arc<Mutex<Vec<String>>>,
}

async fn start(options: Options) -> Api {
    let project = Project::builder()
        .config(CONFIG)
        .dataset("orders", ORDERS)
        .dataset("daily", DAILY)
        .dataset("events", EVENTS)
        .build();
    let spec = load(project.path());
    let store = Arc::new(
        Store::open(None, project.path())
            .await
            .expect("open the project's SQLite store"),
    );
    let token = auth::new_token().expect("a token");
    store
        .create_token("test", &auth::token_hash(&token))
        .await
        .expect("store the token's hash");

    let (project_tx, project_rx) = watch::channel(Arc::new(spec));
    let (commands_tx, commands_rx) = mpsc::channel(8);
    let asked_to_run = Arc::new(Mutex::new(Vec::new()));
    if options.scheduler {
        tokio::spawn(scheduler(
            commands_rx,
            Arc::clone(&store),
            project.path().to_owned(),
            project_tx,
            Arc::clone(&asked_to_run),
        ));
    } else {
        drop(commands_rx);
    }
    let state = AppState {
        store: Arc::clone(&store),
        project: project_rx,
        commands: commands_tx,
        read_needs_token: options.read_needs_token,
        latest: Default::default(),
        trusted_proxies: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move { axum::serve(listener, web::router(state)).await });

    // reqwest has no TLS crypto provider of its own (telemetry installs ring): without one
    // installed, building a client panics, even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}{API_PREFIX}");
    let doc = http
        .get(format!("{base}/openapi.json"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /openapi.json")
        .json::<Value>()
        .await
        .expect("the OpenAPI document is JSON");
    Api {
        project,
        store,
        base,
        http,
        token,
        doc,
        asked_to_run,
    }
}

fn load(dir: &std::path::Path) -> Spec {
    spec::load_with_env(dir, &|_| None).unwrap_or_else(|problems| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        panic!("the test project is invalid:\n{}", problems.join("\n"))
    })
}

/// Plays the scheduler: records manual runs in the store, reloads the project from disk.
async fn scheduler(
    mut commands: mpsc::Receiver<ServerCommand>,
    store: Arc<Store>,
    dir: PathBuf,
    project: watch::Sender<Arc<Spec>>,
    asked_to_run: Arc<Mutex<Vec<String>>>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            ServerCommand::RunNow { dataset, reply } => {
                asked_to_run.lock().expect("lock").push(dataset.clone());
                if dataset == REFUSED {
                    let _ = reply.send(Err(format!(
                        "{dataset} is already running against {SECURE_URL}"
                    )));
                    continue;
                }
                let now = Utc::now();
                let run = NewRun {
                    id: Uuid::new_v4(),
                    batch_id: Uuid::new_v4(),
                    dataset,
                    warehouse: "main".into(),
                    trigger: Trigger::Manual,
                    slot: None,
                    replica: "test-scheduler".into(),
                    started_at: now,
                    lease_until: now + Duration::minutes(5),
                };
                let claimed = store.start_run(&run).await;
                let _ = reply.send(match claimed {
                    Ok(Claim::Started) => Ok(run.id),
                    other => Err(format!("not started: {other:?}")),
                });
            }
            ServerCommand::Reload { reply } => {
                let _ = reply.send(match spec::load_with_env(&dir, &|_| None) {
                    Ok(new) => {
                        project.send_replace(Arc::new(new));
                        Ok(())
                    }
                    Err(problems) => Err(problems),
                });
            }
        }
    }
}

/// A response: status, headers and the JSON body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {:#}", self.body);
        &self.body
    }

    /// Asserts a JSON error with this status and code.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, code: &str) -> &Value {
        let body = self.expect(status);
        assert_eq!(body["error"]["code"], code, "{body:#}");
        assert!(body["error"]["message"].is_string(), "{body:#}");
        &body["error"]
    }
}

/// Who the request claims to be.
#[derive(Clone, Copy)]
enum As<'t> {
    Anonymous,
    Token(&'t str),
    Header(&'t str),
}

impl Api {
    /// `verb template` as the route table writes it, with `path` (and query) filled in.
    /// The response is checked against the document and for secrets.
    async fn call(&self, verb: Verb, template: &str, path: &str, who: As<'_>) -> Reply {
        assert!(
            ROUTES.iter().any(|r| r.verb == verb && r.path == template),
            "{template} is not in the route table"
        );
        let reply = self.raw(verb_method(verb), path, who).await;
        let problems = conforms(&self.doc, verb, template, reply.status, &reply.body);
        assert!(
            problems.is_empty(),
            "{} {path} -> {}: the response does not match the OpenAPI document:\n{}\n{:#}",
            verb.name(),
            reply.status,
            problems.join("\n"),
            reply.body
        );
        reply
    }

    async fn get(&self, template: &str, path: &str) -> Reply {
        self.call(Verb::Get, template, path, As::Anonymous).await
    }

    /// Any request, unchecked against the document (for paths outside the route table).
    async fn raw(&self, method: reqwest::Method, path: &str, who: As<'_>) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        match who {
            As::Anonymous => {}
            As::Token(token) => request = request.bearer_auth(token),
            As::Header(value) => request = request.header(AUTHORIZATION, value),
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the body");
        assert!(
            !text.contains(SECRET),
            "{method} {path} returned a secret:\n{text}"
        );
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path} -> {status}: not JSON ({e}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Every item of a paged listing, following `next` until it is null; checks that
    /// each page holds at most `limit` items.
    async fn walk(&self, template: &str, path_and_query: &str, limit: usize) -> Vec<Value> {
        let separator = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut items = Vec::new();
        let mut before: Option<i64> = None;
        for _ in 0..10_000 {
            let mut path = format!("{path_and_query}{separator}limit={limit}");
            if let Some(before) = before {
                path.push_str(&format!("&before={before}"));
            }
            let reply = self.get(template, &path).await;
            let page = reply.expect(StatusCode::OK);
            let page_items = page["items"].as_array().expect("items").clone();
            assert!(
                page_items.len() <= limit,
                "{path}: a page longer than the limit"
            );
            items.extend(page_items);
            match page["next"].as_i64() {
                Some(next) => before = Some(next),
                None => {
                    assert!(page["next"].is_null(), "{path}: next is {}", page["next"]);
                    return items;
                }
            }
        }
        panic!("{path_and_query}: the walk did not end");
    }
}

fn verb_method(verb: Verb) -> reqwest::Method {
    match verb {
        Verb::Get => reqwest::Method::GET,
        Verb::Post => reqwest::Method::POST,
    }
}

/// A path segment or query value, percent-encoded (everything but unreserved characters).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------
// Checking responses against the OpenAPI document

/// What is wrong with `body` as the documented response of `verb template` with `status`.
fn conforms(
    doc: &Value,
    verb: Verb,
    template: &str,
    status: StatusCode,
    body: &Value,
) -> Vec<String> {
    let operation = &doc["paths"][template][verb.name()];
    let response = &operation["responses"][status.as_str()];
    if response.is_null() {
        return vec![format!("status {status} is not documented")];
    }
    let response = resolve(doc, response);
    let schema = &response["content"]["application/json"]["schema"];
    let mut problems = Vec::new();
    validate(doc, schema, body, "$", &mut problems);
    problems
}

fn resolve<'d>(doc: &'d Value, value: &'d Value) -> &'d Value {
    match value["$ref"].as_str() {
        Some(target) => {
            let target = doc
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {target}"));
            resolve(doc, target)
        }
        None => value,
    }
}

/// A small JSON Schema check for what the document uses: `$ref`, `anyOf`, `type` (one or
/// several), `enum`, `format` (uuid, date-time), `properties` (an undocumented property is
/// a problem), `required` and `items`.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(branches) = schema["anyOf"].as_array() {
        let fits = branches.iter().any(|branch| {
            let mut inner = Vec::new();
            validate(doc, branch, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            problems.push(format!("{at}: {value} fits no branch of {schema}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        problems.push(format!("{at}: {value} is not of type {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(text) = value.as_str() {
        let valid = match schema["format"].as_str() {
            Some("uuid") => Uuid::parse_str(text).is_ok(),
            Some("date-time") => DateTime::parse_from_rfc3339(text).is_ok(),
            _ => true,
        };
        if !valid {
            problems.push(format!("{at}: {text:?} is not a {}", schema["format"]));
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for (key, item) in object {
            match properties.get(key) {
                Some(property) => validate(doc, property, item, &format!("{at}.{key}"), problems),
                None => problems.push(format!("{at}.{key}: not in the document")),
            }
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                problems.push(format!("{at}.{key}: required but missing"));
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(doc, item_schema, item, &format!("{at}[{i}]"), problems);
        }
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Seeded history

/// One seeded result: `(check, outcome, value, message)`.
type Seed = (&'static str, Outcome, Option<f64>, String);

/// What was written to the store, to compute every expectation from.
struct SeededRun {
    id: Uuid,
    dataset: &'static str,
    trigger: Trigger,
    status: RunStatus,
    finished_at: DateTime<Utc>,
    results: Vec<Seed>,
}

/// Which seeded results (or runs) a filter should return.
type ResultWanted<'a> = dyn Fn(&SeededRun, &Seed) -> bool + 'a;
type RunWanted<'a> = dyn Fn(&SeededRun) -> bool + 'a;

struct History {
    runs: Vec<SeededRun>,
}

impl History {
    fn results(&self) -> impl Iterator<Item = (&SeededRun, &Seed)> {
        self.runs
            .iter()
            .flat_map(|run| run.results.iter().map(move |r| (run, r)))
    }
}

fn t0() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().expect("a time")
}

fn columns(spec: &[(&str, &str)]) -> Vec<SnapshotColumn> {
    spec.iter()
        .map(|(name, data_type)| SnapshotColumn {
            name: (*name).into(),
            data_type: (*data_type).into(),
        })
        .collect()
}

/// 30 runs of `analytics.orders` (one failed, with the secret URL in its error; the table
/// changing shape twice; a check since removed from the project), 5 of `sales.Daily Orders`
/// (the last one erroring with the secret URL in its message), none of `ops.events`.
async fn seed(store: &Store) -> History {
    let mut runs = Vec::new();
    for i in 0..30i64 {
        let started_at = t0() + Duration::minutes(10 * i);
        let failed = i == 7;
        let mut results: Vec<Seed> = Vec::new();
        if !failed {
            results.push((
                "row_count",
                Outcome::Pass,
                Some((100 + i) as f64),
                "ok".into(),
            ));
            let missing = i % 4;
            let outcome = if missing == 0 {
                Outcome::Pass
            } else {
                Outcome::Warn
            };
            results.push((
                "missing_count(email)",
                outcome,
                Some(missing as f64),
                format!("{missing} missing"),
            ));
        }
        if i == 0 {
            results.push(("retired_check", Outcome::Fail, Some(1.0), "gone".into()));
        }
        let snapshot = (!failed).then(|| match i {
            0..10 => columns(&[("id", "integer"), ("email", "text")]),
            10..20 => columns(&[("id", "integer"), ("email", "text"), ("amount", "decimal")]),
            _ => columns(&[("id", "integer"), ("email", "text"), ("amount", "float")]),
        });
        let trigger = if i % 3 == 0 {
            Trigger::Schedule
        } else {
            Trigger::Cli
        };
        let error = failed.then(|| format!("cannot connect to {SECURE_URL}: refused"));
        runs.push(
            record(
                store,
                ORDERS_NAME,
                "main",
                trigger,
                started_at,
                results,
                snapshot,
                error,
            )
            .await,
        );
    }
    for i in 0..5i64 {
        let started_at = t0() + Duration::hours(i) + Duration::minutes(5);
        let result: Seed = if i == 4 {
            (
                "row_count",
                Outcome::Error,
                None,
                format!("connection to {SECURE_URL} refused"),
            )
        } else {
            (
                "row_count",
                Outcome::Pass,
                Some(10.0 * i as f64),
                "ok".into(),
            )
        };
        runs.push(
            record(
                store,
                DAILY_NAME,
                "secure",
                Trigger::Schedule,
                started_at,
                vec![result],
                None,
                None,
            )
            .await,
        );
    }
    History { runs }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    store: &Store,
    dataset: &'static str,
    warehouse: &str,
    trigger: Trigger,
    started_at: DateTime<Utc>,
    results: Vec<Seed>,
    snapshot: Option<Vec<SnapshotColumn>>,
    error: Option<String>,
) -> SeededRun {
    let id = Uuid::new_v4();
    let claim = store
        .start_run(&NewRun {
            id,
            batch_id: Uuid::new_v4(),
            dataset: dataset.into(),
            warehouse: warehouse.into(),
            trigger,
            slot: (trigger == Trigger::Schedule).then_some(started_at),
            replica: "seed".into(),
            started_at,
            lease_until: started_at + Duration::minutes(5),
        })
        .await
        .expect("start a run");
    assert_eq!(claim, Claim::Started);
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let finished_at = started_at + Duration::minutes(1);
    let check_results = results
        .iter()
        .map(|(check, outcome, value, message)| {
            let result = CheckResult {
                dataset: dataset.into(),
                warehouse: warehouse.into(),
                check: (*check).into(),
                kind: check.split('(').next().unwrap_or(check).into(),
                column: check
                    .split_once('(')
                    .map(|(_, c)| c.trim_end_matches(')').to_owned()),
                columns: None,
                outcome: *outcome,
                value: *value,
                expected: Some(json!({ "fail": { "min": 1 } })),
                message: message.clone(),
                severity: None,
                band: None,
            };
            (result, format!("hash-{check}"))
        })
        .collect();
    store
        .finish_run(&FinishedRun {
            id,
            status,
            finished_at,
            error,
            results: check_results,
            snapshot,
            profiles: Vec::new(),
        })
        .await
        .expect("finish a run");
    SeededRun {
        id,
        dataset,
        trigger,
        status,
        finished_at,
        results,
    }
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread")]
async fn results_are_paged_and_filtered_as_stored() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;
    let total = history.results().count();

    // Every page, newest first, each result once.
    for limit in [7, 1000] {
        let items = api.walk("/results", "/results", limit).await;
        assert_eq!(items.len(), total, "limit {limit}");
        let ids: Vec<i64> = items
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] > w[1]),
            "not newest first: {ids:?}"
        );
    }
    let seeded: BTreeSet<(String, String)> = history
        .results()
        .map(|(run, r)| (run.id.to_string(), r.0.to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = api
        .walk("/results", "/results", 1000)
        .await
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap_or_default().to_owned(),
                r["check"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(served, seeded);

    // Filters, each compared with the seeded history and walked in small pages.
    let failed_or_first = &history.runs[0];
    let window = (t0() + Duration::minutes(60), t0() + Duration::minutes(200));
    let cases: Vec<(String, Box<ResultWanted<'_>>)> = vec![
        (
            format!("dataset={}", enc(DAILY_NAME)),
            Box::new(|run, _| run.dataset == DAILY_NAME),
        ),
        (
            format!("check={}", enc("missing_count(email)")),
            Box::new(|_, r| r.0 == "missing_count(email)"),
        ),
        ("outcome=warn".into(), Box::new(|_, r| r.1 == Outcome::Warn)),
        (
            format!("run_id={}", failed_or_first.id),
            Box::new(|run, _| run.id == failed_or_first.id),
        ),
        (
            format!("since={}&until={}", rfc3339(window.0), rfc3339(window.1)),
            Box::new(|run, _| run.finished_at >= window.0 && run.finished_at < window.1),
        ),
        (
            format!("dataset={ORDERS_NAME}&outcome=pass&check=row_count"),
            Box::new(|run, r| {
                run.dataset == ORDERS_NAME && r.1 == Outcome::Pass && r.0 == "row_count"
            }),
        ),
    ];
    for (query, wanted) in &cases {
        let items = api.walk("/results", &format!("/results?{query}"), 3).await;
        let want = history.results().filter(|(run, r)| wanted(run, r)).count();
        assert!(want > 0, "{query}: the seed should match something");
        assert_eq!(items.len(), want, "{query}");
        for item in &items {
            let run = history
                .runs
                .iter()
                .find(|run| item["run_id"] == run.id.to_string())
                .expect("a seeded run");
            let seed = run
                .results
                .iter()
                .find(|r| item["check"] == r.0)
                .expect("a seeded result");
            assert!(wanted(run, seed), "{query}: {item}");
        }
    }

    // The error message carried the secret URL; it is masked.
    let errors = api.walk("/results", "/results?outcome=error", 10).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["message"], "connection to *** refused");
    assert_eq!(errors[0]["value"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_are_paged_and_filtered_as_stored() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;

    let all = api.walk("/runs", "/runs", 4).await;
    assert_eq!(all.len(), history.runs.len());
    let served: BTreeSet<String> = all
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let seeded: BTreeSet<String> = history.runs.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(served, seeded);

    let cases: Vec<(&str, Box<RunWanted<'_>>)> = vec![
        ("status=failed", Box::new(|r| r.status == RunStatus::Failed)),
        (
            "status=completed",
            Box::new(|r| r.status == RunStatus::Completed),
        ),
        (
            "trigger=schedule",
            Box::new(|r| r.trigger == Trigger::Schedule),
        ),
        ("trigger=cli", Box::new(|r| r.trigger == Trigger::Cli)),
        (
            "dataset=sales.Daily%20Orders",
            Box::new(|r| r.dataset == DAILY_NAME),
        ),
        (
            "dataset=analytics.orders&trigger=schedule",
            Box::new(|r| r.dataset == ORDERS_NAME && r.trigger == Trigger::Schedule),
        ),
    ];
    for (query, wanted) in &cases {
        let items = api.walk("/runs", &format!("/runs?{query}"), 2).await;
        let want: BTreeSet<String> = history
            .runs
            .iter()
            .filter(|r| wanted(r))
            .map(|r| r.id.to_string())
            .collect();
        let got: BTreeSet<String> = items
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(got, want, "{query}");
    }

    // One run, with its error's secret masked.
    let failed = history
        .runs
        .iter()
        .find(|r| r.status == RunStatus::Failed)
        .expect("the failed run");
    let reply = api.get("/runs/{id}", &format!("/runs/{}", failed.id)).await;
    let run = reply.expect(StatusCode::OK);
    assert_eq!(run["status"], "failed");
    assert_eq!(run["dataset"], ORDERS_NAME);
    assert_eq!(run["error"], "cannot connect to ***: refused");
    assert_eq!(
        run["summary"],
        json!({ "pass": 0, "warn": 0, "fail": 0, "error": 0 })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn datasets_show_health_checks_series_and_schema() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;
    let last_of = |dataset: &str| {
        history
            .runs
            .iter()
            .filter(|r| r.dataset == dataset && !r.results.is_empty())
            .max_by_key(|r| r.finished_at)
            .expect("a run with results")
    };

    let list = api.get("/datasets", "/datasets").await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["next"], Value::Null);
    let items = list["items"].as_array().expect("items");
    let names: BTreeSet<&str> = items.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([ORDERS_NAME, DAILY_NAME, EVENTS_NAME])
    );
    let find = |name: &str| items.iter().find(|d| d["name"] == name).expect(name);

    let orders = find(ORDERS_NAME);
    // The retired check's failure no longer counts; the latest missing_count warns.
    assert_eq!(orders["health"], "warn", "{orders:#}");
    assert_eq!(orders["warehouse"], "main");
    assert_eq!(orders["owner"], "orders-team");
    assert_eq!(orders["tags"], json!(["tier-1", "sales"]));
    assert_eq!(orders["schedule"], "0 * * * *", "the project default");
    assert_eq!(orders["timezone"], "UTC");
    assert_eq!(orders["check_count"], 3);
    let last = last_of(ORDERS_NAME);
    assert_eq!(orders["last_run_id"], last.id.to_string());
    assert_eq!(
        orders["last_run_at"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
        Some(last.finished_at)
    );

    let daily = find(DAILY_NAME);
    assert_eq!(daily["health"], "error");
    assert_eq!(daily["warehouse"], "secure", "the name, never the URL");
    assert_eq!(daily["schedule"], "*/5 * * * *");
    assert_eq!(daily["timezone"], "Europe/Berlin");
    assert_eq!(daily["owner"], Value::Null);

    let events = find(EVENTS_NAME);
    assert_eq!(events["health"], "unknown");
    assert_eq!(events["last_run_id"], Value::Null);
    assert_eq!(events["last_run_at"], Value::Null);

    // One dataset: its checks with their latest results. The name holds a space.
    let reply = api
        .get(
            "/datasets/{name}",
            &format!("/datasets/{}", enc(DAILY_NAME)),
        )
        .await;
    let daily = reply.expect(StatusCode::OK);
    assert_eq!(daily["name"], DAILY_NAME);
    assert_eq!(daily["checks"][0]["name"], "row_count");
    assert_eq!(daily["checks"][0]["latest"]["outcome"], "error");
    assert_eq!(
        daily["checks"][0]["latest"]["message"],
        "connection to *** refused"
    );

    let reply = api
        .get("/datasets/{name}", "/datasets/analytics.orders")
        .await;
    let orders = reply.expect(StatusCode::OK);
    let checks = orders["checks"].as_array().expect("checks");
    let check_names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        check_names,
        ["row_count", "missing_count(email)", "duplicate_count(id)"]
    );
    assert_eq!(checks[0]["kind"], "row_count");
    assert_eq!(checks[0]["latest"]["value"], 129);
    assert_eq!(checks[0]["latest"]["run_id"], last.id.to_string());
    assert_eq!(checks[1]["column"], "email");
    assert_eq!(checks[1]["latest"]["outcome"], "warn");
    assert_eq!(checks[2]["columns"], json!(["id"]));
    assert_eq!(checks[2]["latest"], Value::Null, "never run");

    // A metric series, oldest first, and from a time on; the check name is encoded.
    let series = api
        .get(
            "/datasets/{name}/metrics/{check}",
            "/datasets/analytics.orders/metrics/row_count",
        )
        .await;
    let series = series.expect(StatusCode::OK);
    let values: Vec<f64> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .collect();
    let want: Vec<f64> = (0..30)
        .filter(|i| *i != 7)
        .map(|i| (100 + i) as f64)
        .collect();
    assert_eq!(values, want);
    let since = t0() + Duration::minutes(200);
    let path = format!(
        "/datasets/analytics.orders/metrics/{}?since={}",
        enc("missing_count(email)"),
        rfc3339(since)
    );
    let series = api.get("/datasets/{name}/metrics/{check}", &path).await;
    let points = series.expect(StatusCode::OK)["points"]
        .as_array()
        .expect("points")
        .clone();
    let want = history
        .results()
        .filter(|(run, r)| r.0 == "missing_count(email)" && run.finished_at >= since)
        .count();
    assert_eq!(points.len(), want);

    // The table changed shape twice: three snapshots, newest first.
    let reply = api
        .get(
            "/datasets/{name}/schema",
            "/datasets/analytics.orders/schema",
        )
        .await;
    let snapshots = reply.expect(StatusCode::OK)["snapshots"]
        .as_array()
        .expect("snapshots")
        .clone();
    let shapes: Vec<Vec<String>> = snapshots
        .iter()
        .map(|s| {
            s["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} {}", text(&c["name"]), text(&c["data_type"])))
                .collect()
        })
        .collect();
    assert_eq!(
        shapes,
        [
            vec!["id integer", "email text", "amount float"],
            vec!["id integer", "email text", "amount decimal"],
            vec!["id integer", "email text"],
        ]
    );
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let api = start(Options::default()).await;
    let cases = [
        ("/results", "/results?limit=0", "limit"),
        ("/results", "/results?limit=1001", "limit"),
        ("/results", "/results?limit=many", "limit"),
        ("/results", "/results?limit=", "limit"),
        ("/results", "/results?before=soon", "before"),
        ("/results", "/results?outcome=bad", "outcome"),
        ("/results", "/results?run_id=42", "run_id"),
        ("/results", "/results?since=yesterday", "since"),
        ("/results", "/results?until=2026-13-01T00:00:00Z", "until"),
        (
            "/results",
            "/results?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z",
            "until",
        ),
        ("/results", "/results?datset=analytics.orders", "datset"),
        ("/results", "/results?check=a&check=b", "check"),
        ("/runs", "/runs?status=done", "status"),
        ("/runs", "/runs?trigger=cron", "trigger"),
        ("/runs", "/runs?limit=-5", "limit"),
        ("/runs/{id}", "/runs/not-a-uuid", "id"),
        ("/datasets", "/datasets?limit=5", "limit"),
        (
            "/datasets/{name}/metrics/{check}",
            "/datasets/analytics.orders/metrics/row_count?since=now",
            "since",
        ),
    ];
    for (template, path, parameter) in cases {
        let reply = api.get(template, path).await;
        let error = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_parameter");
        assert_eq!(error["parameter"], parameter, "{path}: {error:#}");
        assert!(
            text(&error["message"]).contains(parameter),
            "{path}: the message names the parameter: {error:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_things_are_json_404s() {
    let api = start(Options::default()).await;
    seed(&api.store).await;
    let token = As::Token(&api.token);
    let cases = [
        (
            Verb::Get,
            "/datasets/{name}",
            "/datasets/analytics.nope".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}",
            "/datasets/sales.Daily%20Order".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/schema",
            "/datasets/nope/schema".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/metrics/{check}",
            "/datasets/nope/metrics/row_count".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/metrics/{check}",
            "/datasets/analytics.orders/metrics/retired_check".to_owned(),
        ),
        (Verb::Get, "/runs/{id}", format!("/runs/{}", Uuid::new_v4())),
        (
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/nope/run".to_owned(),
        ),
    ];
    for (verb, template, path) in cases {
        let reply = api.call(verb, template, &path, token).await;
        reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(
        api.asked_to_run.lock().expect("lock").is_empty(),
        "an unknown dataset never reaches the scheduler"
    );

    // Outside the route table: still JSON.
    let reply = api.raw(reqwest::Method::GET, "/nope", As::Anonymous).await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    let reply = api
        .raw(reqwest::Method::DELETE, "/datasets", As::Anonymous)
        .await;
    reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_a_valid_token() {
    let api = start(Options::default()).await;
    for (verb, template, path) in [
        (
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
        ),
        (Verb::Post, "/reload", "/reload"),
    ] {
        let reply = api.call(verb, template, path, As::Anonymous).await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
        let challenge = reply.headers[WWW_AUTHENTICATE].to_str().unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");

        for header in ["Bearer tm_0123", "Bearer", "Basic dXNlcjpwYXNz", "tm_0123"] {
            let reply = api.call(verb, template, path, As::Header(header)).await;
            reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(reply.headers.contains_key(WWW_AUTHENTICATE), "{header}");
        }
    }
    assert!(api.asked_to_run.lock().expect("lock").is_empty());

    // Reads are open by default.
    api.get("/datasets", "/datasets")
        .await
        .expect(StatusCode::OK);

    // A token made by the CLI works: only its hash is in the store both share.
    let out = tokio::task::spawn_blocking({
        let dir = api.project.path().to_owned();
        move || run_tidemark(&dir, &["token", "create", ".", "--name", "ci"])
    })
    .await
    .expect("join");
    out.assert_code(0);
    let token = out.stdout.trim().to_owned();
    assert!(
        token.starts_with("tm_") && token.len() == 67,
        "{}",
        out.both()
    );
    assert!(!out.stderr.contains(&token), "printed once, on stdout");
    let reply = api
        .call(Verb::Post, "/reload", "/reload", As::Token(&token))
        .await;
    assert_eq!(reply.expect(StatusCode::OK)["status"], "reloaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_need_a_token_when_the_server_says_so() {
    let api = start(Options {
        read_needs_token: true,
        ..Options::default()
    })
    .await;
    let token = As::Token(&api.token);
    for route in ROUTES.iter().filter(|r| r.verb == Verb::Get) {
        let path = route
            .path
            .replace("{name}", ORDERS_NAME)
            .replace("{check}", "row_count")
            .replace("{id}", &Uuid::new_v4().to_string());
        let anonymous = api.call(Verb::Get, route.path, &path, As::Anonymous).await;
        if matches!(route.path, "/health" | "/ready") {
            anonymous.expect(StatusCode::OK);
        } else {
            anonymous.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            let wrong = api
                .call(Verb::Get, route.path, &path, As::Token("tm_wrong"))
                .await;
            wrong.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            let with = api.call(Verb::Get, route.path, &path, token).await;
            assert_ne!(with.status, StatusCode::UNAUTHORIZED, "{path}");
        }
    }
    // The document says so too.
    let security = &api.doc["paths"]["/datasets"]["get"]["security"];
    assert_eq!(security, &json!([{ "bearer": [] }]));
    assert_eq!(api.doc["paths"]["/health"]["get"]["security"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_now_goes_through_the_scheduler() {
    let api = start(Options::default()).await;
    let token = As::Token(&api.token);
    let reply = api
        .call(
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
            token,
        )
        .await;
    let body = reply.expect(StatusCode::ACCEPTED);
    assert_eq!(body["dataset"], ORDERS_NAME);
    let run_id = text(&body["run_id"]).to_owned();
    let location = reply.headers[LOCATION].to_str().unwrap_or_default();
    assert_eq!(location, format!("{API_PREFIX}/runs/{run_id}"));

    let run = api.get("/runs/{id}", &format!("/runs/{run_id}")).await;
    let run = run.expect(StatusCode::OK);
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["status"], "running");

    // The scheduler declines: 409 with its reason, secrets masked.
    let path = format!("/datasets/{}/run", enc(REFUSED));
    let reply = api
        .call(Verb::Post, "/datasets/{name}/run", &path, token)
        .await;
    let error = reply.expect_error(StatusCode::CONFLICT, "run_refused");
    assert_eq!(
        error["message"],
        format!("{REFUSED} is already running against ***")
    );
    assert_eq!(
        *api.asked_to_run.lock().expect("lock"),
        [ORDERS_NAME, REFUSED]
    );

    // No scheduler: 503, not a hang.
    let alone = start(Options {
        scheduler: false,
        ..Options::default()
    })
    .await;
    let token = As::Token(&alone.token);
    let reply = alone
        .call(
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
            token,
        )
        .await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let reply = alone.call(Verb::Post, "/reload", "/reload", token).await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_applies_the_files_or_reports_their_problems() {
    let api = start(Options::default()).await;
    let token = As::Token(&api.token);
    let names = |reply: &Reply| -> BTreeSet<String> {
        reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect()
    };

    std::fs::write(
        api.project.path().join("checks/refunds.yml"),
        "dataset: analytics.refunds\nwarehouse: main\nchecks:\n  - row_count: { min: 0 }\n",
    )
    .expect("write a dataset file");
    let reply = api.call(Verb::Post, "/reload", "/reload", token).await;
    assert_eq!(reply.expect(StatusCode::OK)["status"], "reloaded");
    let list = api.get("/datasets", "/datasets").await;
    assert!(
        names(&list).contains("analytics.refunds"),
        "{:#}",
        list.body
    );
    api.get("/datasets/{name}", "/datasets/analytics.refunds")
        .await
        .expect(StatusCode::OK);

    std::fs::write(
        api.project.path().join("checks/broken.yml"),
        "dataset: analytics.broken\nwarehouse: main\nchecks:\n  - row_count: { min: 0 }\nownr: x\n",
    )
    .expect("write a broken dataset file");
    let reply = api.call(Verb::Post, "/reload", "/reload", token).await;
    let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration");
    let diagnostics = error["diagnostics"].as_array().expect("diagnostics");
    assert!(!diagnostics.is_empty(), "{error:#}");
    let root = api.project.path().display().to_string();
    for diagnostic in diagnostics {
        let line = text(diagnostic);
        let mut parts = line.splitn(4, ':');
        let (file, row, column) = (parts.next(), parts.next(), parts.next());
        assert_eq!(file, Some("checks/broken.yml"), "{line}");
        assert!(row.is_some_and(|r| r.parse::<u32>().is_ok()), "{line}");
        assert!(column.is_some_and(|c| c.parse::<u32>().is_ok()), "{line}");
        assert!(!line.contains(&root), "no server paths: {line}");
    }
    // The running configuration is unchanged.
    let list = api.get("/datasets", "/datasets").await;
    let names = names(&list);
    assert!(names.contains("analytics.refunds") && !names.contains("analytics.broken"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;
    let doc = api
        .get("/openapi.json", "/openapi.json")
        .await
        .expect(StatusCode::OK)
        .clone();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], API_PREFIX);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, operation) in item.as_object().expect("a path item") {
            documented.insert((verb.clone(), path.clone()));
            assert!(operation["operationId"].is_string(), "{verb} {path}");
            assert!(operation["responses"].is_object(), "{verb} {path}");
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.verb.name().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table, "the document and the route table differ");

    // Every route is served: none falls through to the router's 404 or 405.
    let run_id = history.runs[0].id.to_string();
    let incident_id = seed_incident(&api.store).await.to_string();
    let mute_until = enc(&rfc3339(Utc::now() + Duration::hours(1)));
    let all = tidemark::store::Page {
        limit: 100,
        before: None,
    };
    let result_id = api
        .store
        .results(&tidemark::store::ResultFilter::default(), all)
        .await
        .expect("the seeded results")
        .items
        .into_iter()
        .find(|r| r.result.value.is_some())
        .map(|r| r.id.to_string())
        .expect("a result with a value");
    for route in ROUTES {
        let id = if route.path.starts_with("/incidents/") {
            &incident_id
        } else if route.path.starts_with("/results/") {
            &result_id
        } else {
            &run_id
        };
        let mut path = route
            .path
            .replace("{name}", ORDERS_NAME)
            .replace("{check}", "row_count")
            .replace("{id}", id);
        if route.path.ends_with("/mute") {
            path.push_str(&format!("?until={mute_until}"));
        }
        if route.path.ends_with("/feedback") {
            path.push_str("?mark=incident");
        }
        let reply = api
            .call(route.verb, route.path, &path, As::Token(&api.token))
            .await;
        // POST /lineage takes an OpenLineage event: without one it answers its documented
        // 400, which shows it is served as well.
        let bodyless = route.verb == Verb::Post && route.path == "/lineage";
        assert!(
            reply.status.is_success() || (bodyless && reply.status == StatusCode::BAD_REQUEST),
            "{} {path} -> {}: {:#}",
            route.verb.name(),
            reply.status,
            reply.body
        );
    }
}

/// An open incident of `analytics.orders`, with a pending notification; its id.
async fn seed_incident(store: &Store) -> i64 {
    use tidemark::spec::Severity;
    use tidemark::store::{Incident, IncidentChange, IncidentStatus, NewNotification, Transition};
    let now = Utc::now();
    let incident = Incident {
        sla: false,
        severity: Severity::Medium,
        value: Some(0.0),
        expected: Some(json!({"min": 1})),
        message: "0 rows (expected at least 1)".into(),
        announced: Some(IncidentStatus::Open),
        last_notified_at: Some(now),
        ..crate::support::incident(ORDERS_NAME, "row_count", now)
    };
    let change = IncidentChange {
        incident,
        base: None,
        notifications: vec![NewNotification {
            transition: Transition::Opened,
            channel: "nowhere".into(),
            payload: json!({}),
        }],
        event: None,
    };
    store
        .write_incidents(&[change], now)
        .await
        .expect("write an incident");
    let incidents = store
        .latest_incidents(&[ORDERS_NAME.to_owned()])
        .await
        .expect("read it back");
    incidents[0].id
}
