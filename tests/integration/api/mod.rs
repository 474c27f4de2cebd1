//! The JSON API as a black box: the real router over a real TCP listener, a real SQLite
//! store seeded through the store API, a real project loaded from files, and the test
//! playing the scheduler (it receives the `ServerCommand`s and replies).
//!
//! Every response is checked against the OpenAPI document the server itself serves (the
//! schema of that operation and status, with undocumented fields reported), and for the
//! project's secrets, which must never appear.

mod commands;
mod conformance;
mod datasets;
mod errors;
mod fixtures;
mod openapi;
mod results;
mod runs;
mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use tidemark::scheduler::ServerCommand;
use tidemark::spec::{self, Project as Spec};
use tidemark::store::{Claim, NewRun, Store, Trigger};
use tidemark::web::{self, API_PREFIX, AppState, ROUTES, Verb, auth};

use crate::support::Project;

use conformance::conforms;

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
        alerting: None,
        impacts: Default::default(),
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

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}
