//! Alerts end to end: `tidemark run --alert` and `tidemark serve` against a real SMTP server
//! and a real HTTP server standing in for a Slack webhook (see `receivers`), on a SQLite
//! warehouse. What arrives is compared exactly; failing receivers, a server killed while it
//! delivers, flapping checks and upstream incidents must still make one delivery per change.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tidemark::store::{
    Incident, Notification, NotificationFilter, NotificationStatus, Page, Store,
};

use crate::receivers::{Answer, Mail, SlackHook, SmtpSink};
use crate::support::{
    Output, Project, ServeProcess, Served, SqliteDb, eventually, http, run_tidemark_with_env,
};

/// Retries quickly and gives up on a silent receiver after two seconds.
const FAST: [(&str, &str); 3] = [
    ("TIDEMARK_ALERT_RETRY_MS", "100"),
    ("TIDEMARK_ALERT_TIMEOUT_SECS", "2"),
    ("TIDEMARK_ALERT_SWEEP_SECS", "1"),
];

const DASHBOARD: &str = "https://tidemark.example.com";

/// `tidemark.yml` for a SQLite warehouse, the sink and the hook; `extra` is appended.
fn config(warehouse: &str, smtp: &SmtpSink, hook: &SlackHook, extra: &str) -> String {
    format!(
        "version: 1
warehouses:
  main: {{ url: \"{warehouse}\" }}
dashboard_url: {DASHBOARD}
smtp: {{ url: \"{smtp}\", from: tidemark@example.com }}
channels:
  team-slack: {{ slack: {{ webhook_url: \"{hook}\" }} }}
  team-email: {{ email: {{ to: [data@example.com, oncall@example.com] }} }}
owners:
  shop: {{ channels: [team-slack, team-email] }}
checks: [checks/]
{extra}",
        smtp = smtp.url(),
        hook = hook.url,
    )
}

const ORDERS: &str = "dataset: orders\nowner: shop\nchecks:\n  - row_count: { min: 1 }\n";

/// Receivers, a warehouse with an empty `orders` table, and a project alerting them.
struct Setup {
    smtp: SmtpSink,
    hook: SlackHook,
    warehouse: SqliteDb,
    project: Project,
}

impl Setup {
    async fn new(script: &[Answer], datasets: &[(&str, &str)], extra: &str) -> Setup {
        let smtp = SmtpSink::start();
        let hook = SlackHook::start(script).await;
        let warehouse = SqliteDb::new().await;
        warehouse
            .exec("CREATE TABLE orders (id INTEGER); CREATE TABLE raw_orders (id INTEGER);")
            .await;
        let mut builder = Project::builder().config(&config(&warehouse.url, &smtp, &hook, extra));
        for (stem, yaml) in datasets {
            builder = builder.dataset(stem, yaml);
        }
        Setup {
            smtp,
            hook,
            warehouse,
            project: builder.build(),
        }
    }

    /// `tidemark run --alert ARGS` (JSON output), off the async threads.
    async fn alert_run(&self, args: &[&str]) -> (Output, Value) {
        let mut all = vec!["run", "--alert", "--format", "json"];
        all.extend_from_slice(args);
        let output = run_blocking(self.project.path(), &all, &FAST).await;
        assert!(!output.stderr.contains("panicked"), "{}", output.both());
        let doc = serde_json::from_str(&output.stdout).unwrap_or(Value::Null);
        (output, doc)
    }

    async fn store(&self) -> Store {
        Store::open(None, self.project.path())
            .await
            .expect("open the project's store")
    }
}

async fn run_blocking(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_tidemark_with_env(&dir, &args, &env)
    })
    .await
    .expect("join the tidemark run")
}

async fn latest(store: &Store, dataset: &str) -> Incident {
    let incidents = store
        .latest_incidents(&[dataset.to_owned()])
        .await
        .expect("read incidents");
    incidents
        .into_iter()
        .find(|i| i.check != tidemark::alerts::ALL_CHECKS)
        .unwrap_or_else(|| panic!("no incident for {dataset}"))
}

async fn notifications(store: &Store) -> Vec<Notification> {
    let page = Page {
        limit: Page::MAX_LIMIT,
        before: None,
    };
    store
        .notifications(&NotificationFilter::default(), page)
        .await
        .expect("list notifications")
        .items
}

fn message_of(doc: &Value, check: &str) -> String {
    crate::support::text(&crate::support::result(doc, None, check)["message"]).to_owned()
}

fn since(incident: &Incident) -> String {
    incident.opened_at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn mrkdwn(post: &crate::receivers::Post) -> String {
    post.body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_transition_reaches_slack_and_email_once_and_exactly() {
    let setup = Setup::new(&[], &[("orders", ORDERS)], "").await;
    let (out, doc) = setup.alert_run(&[]).await;
    out.assert_code(1);
    let message = message_of(&doc, "row_count");
    let store = setup.store().await;
    let incident = latest(&store, "orders").await;
    let since = since(&incident);

    let [mail]: [Mail; 1] = setup.smtp.wait_for(1).await.try_into().expect("one email");
    assert_eq!(mail.rcpt_tos, ["data@example.com", "oncall@example.com"]);
    assert_eq!(
        (mail.mail_from.as_str(), mail.from.as_str()),
        ("tidemark@example.com", "tidemark@example.com")
    );
    assert_eq!(mail.to, "data@example.com, oncall@example.com");
    assert_eq!(mail.subject, "Check failed: orders · row_count");
    assert_eq!(
        mail.text.as_deref(),
        Some(
            format!(
                "What broke: {message}
Value:     0
Expected:  min 1

Dataset:   orders
Check:     row_count
Severity:  medium
Since:     {since}
Owner:     shop
Seen:      1 failing result(s)

{DASHBOARD}/datasets/orders
Acknowledge, resolve or mute it: {DASHBOARD}/incidents/{id}
",
                id = incident.id
            )
            .as_str()
        )
    );
    assert_eq!(
        mail.html.as_deref(),
        Some(
            format!(
                "<!DOCTYPE html>
<html>
<body style=\"font-family: sans-serif; color: #1f2328;\">
<h2>Check failed: orders · row_count</h2>
<p>{message}</p>
<table cellpadding=\"4\">
<tr><th align=\"left\">Value</th><td>0</td></tr>
<tr><th align=\"left\">Expected</th><td>min 1</td></tr>
<tr><th align=\"left\">Dataset</th><td>orders</td></tr>
<tr><th align=\"left\">Check</th><td>row_count</td></tr>
<tr><th align=\"left\">Severity</th><td>medium</td></tr>
<tr><th align=\"left\">Since</th><td>{since}</td></tr>
<tr><th align=\"left\">Owner</th><td>shop</td></tr>
<tr><th align=\"left\">Seen</th><td>1 failing result(s)</td></tr>
</table>
<p><a href=\"{DASHBOARD}/datasets/orders\">Open orders in Tidemark</a> · \
<a href=\"{DASHBOARD}/incidents/{id}\">Acknowledge, resolve or mute the incident</a></p>
</body>
</html>
",
                id = incident.id
            )
            .as_str()
        )
    );

    let [post] = setup
        .hook
        .wait_for(1)
        .await
        .try_into()
        .expect("one Slack message");
    assert_eq!(post.body["text"], "Check failed: orders · row_count");
    assert_eq!(
        mrkdwn(&post),
        format!(
            "*Check failed: orders · row_count*
{message}
*Value:* 0    *Expected:* min 1
*Severity:* medium    *Since:* {since}    *Owner:* shop    *Seen:* 1×
<{DASHBOARD}/datasets/orders|Open orders in Tidemark> · \
<{DASHBOARD}/incidents/{id}|Acknowledge, resolve or mute>",
            id = incident.id
        )
    );
    assert_eq!(
        post.body["blocks"][1]["elements"][0]["url"],
        format!("{DASHBOARD}/datasets/orders")
    );
    let sent = notifications(&store).await;
    let slack = sent
        .iter()
        .find(|n| n.channel == "team-slack")
        .expect("the Slack notification");
    assert_eq!(
        post.idempotency_key.as_deref(),
        Some(slack.idempotency_key.as_str())
    );

    // A repeat updates the incident and tells no one.
    setup.alert_run(&[]).await.0.assert_code(1);
    assert_eq!(latest(&store, "orders").await.count, 2);
    assert_eq!(
        (setup.smtp.mails().len(), setup.hook.delivered().len()),
        (1, 1)
    );

    // The recovery is told once.
    setup.warehouse.exec("INSERT INTO orders VALUES (1)").await;
    setup.alert_run(&[]).await.0.assert_code(0);
    let mails = setup.smtp.wait_for(2).await;
    assert_eq!(mails[1].subject, "Resolved: orders · row_count");
    assert!(
        mails[1]
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("The check passes again.")
    );
    assert_eq!(
        setup.hook.wait_for(2).await[1].body["text"],
        "Resolved: orders · row_count"
    );
    setup.alert_run(&[]).await.0.assert_code(0);
    assert_eq!(
        (setup.smtp.mails().len(), setup.hook.delivered().len()),
        (2, 2)
    );
    let ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_ne!(ids[0], ids[1], "each change is its own message");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_the_cli_never_alerts() {
    let setup = Setup::new(&[], &[("orders", ORDERS)], "").await;
    let out = run_blocking(setup.project.path(), &["run"], &FAST).await;
    out.assert_code(1);
    let store = setup.store().await;
    assert!(
        store
            .latest_incidents(&["orders".into()])
            .await
            .expect("read")
            .is_empty()
    );
    assert!(setup.hook.requests().is_empty() && setup.smtp.mails().is_empty());
    let refused = run_blocking(
        setup.project.path(),
        &["run", "--alert", "--no-store"],
        &FAST,
    )
    .await;
    refused.assert_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_projects_sla_breach_alerts_once_and_its_recovery_once() {
    let smtp = SmtpSink::start();
    let hook = SlackHook::start(&[]).await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let demo = dir.path().join("demo");
    let demo_arg = demo.display().to_string();
    run_blocking(dir.path(), &["demo", "--once", "--dir", &demo_arg], &[])
        .await
        .assert_code(0);
    let env = [
        FAST[0],
        FAST[1],
        ("TIDEMARK_DEMO_SLACK_URL", hook.url.as_str()),
        ("TIDEMARK_DEMO_SMTP_URL", &smtp.url()),
        ("TIDEMARK_DEMO_SLACK_CHANNEL", "data-slack"),
        ("TIDEMARK_DEMO_EMAIL_CHANNEL", "data-email"),
    ];
    let run = ["run", &demo_arg, "--alert", "--dataset", "events"];
    run_blocking(dir.path(), &run, &env).await.assert_code(1);
    let mails = smtp.wait_for(1).await;
    let posts = hook.wait_for(1).await;
    let breach = "SLA breached: events · freshness(occurred_at)";
    assert_eq!(mails[0].subject, breach);
    assert_eq!(posts[0].body["text"], breach);
    assert!(
        mrkdwn(&posts[0]).contains("*Severity:* high (SLA)"),
        "{}",
        mrkdwn(&posts[0])
    );

    let warehouse =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", demo.join("warehouse.db").display()))
            .await
            .expect("open the demo warehouse");
    sqlx::query(
        "INSERT INTO events VALUES (100001, 1, 'page_view', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
    )
    .execute(&warehouse)
    .await
    .expect("a fresh event");
    warehouse.close().await;
    run_blocking(dir.path(), &run, &env).await.assert_code(0);
    assert_eq!(
        smtp.wait_for(2).await[1].subject,
        "Resolved: events · freshness(occurred_at)"
    );
    assert_eq!(
        hook.wait_for(2).await[1].body["text"],
        "Resolved: events · freshness(occurred_at)"
    );
    assert_eq!((smtp.mails().len(), hook.delivered().len()), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_receivers_still_get_exactly_one_delivery() {
    let script = [Answer::Status(500), Answer::RetryAfter(1), Answer::Hang];
    let setup = Setup::new(&script, &[("orders", ORDERS)], "").await;
    setup.alert_run(&[]).await.0.assert_code(1);
    let requests = setup.hook.requests();
    assert_eq!(requests.len(), 4, "500, 429, a timeout, then delivered");
    assert_eq!(setup.hook.delivered().len(), 1);
    let waited = requests[2].at - requests[1].at;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After not honoured: {waited:?}"
    );
    let keys: Vec<_> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "one key for every attempt: {keys:?}"
    );
    assert_eq!(setup.smtp.wait_for(1).await.len(), 1);

    let store = setup.store().await;
    let slack = notifications(&store)
        .await
        .into_iter()
        .find(|n| n.channel == "team-slack")
        .expect("the Slack notification");
    assert_eq!(
        (slack.status, slack.attempts),
        (NotificationStatus::Delivered, 4)
    );
    // Nothing is sent again later.
    setup.alert_run(&[]).await;
    assert_eq!(setup.hook.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flapping_check_does_not_spam() {
    let setup = Setup::new(&[], &[("orders", ORDERS)], "").await;
    for round in 0..6 {
        if round % 2 == 0 {
            setup.warehouse.exec("DELETE FROM orders").await;
        } else {
            setup.warehouse.exec("INSERT INTO orders VALUES (1)").await;
        }
        setup.alert_run(&[]).await;
    }
    assert_eq!(
        setup.hook.texts(),
        [
            "Check failed: orders · row_count",
            "Resolved: orders · row_count",
            "Failing again: orders · row_count",
        ]
    );
    let flapping = mrkdwn(&setup.hook.delivered()[2]);
    assert!(flapping.contains("This check flaps"), "{flapping}");
    assert_eq!(setup.smtp.mails().len(), 3);
    let store = setup.store().await;
    let incident = latest(&store, "orders").await;
    assert_eq!((incident.flaps, incident.count), (2, 3));
}

/// `raw_orders` feeding `orders` (declared), both empty: both checks fail.
async fn raw_feeding_orders() -> Setup {
    let raw = "dataset: raw_orders\nowner: shop\nchecks:\n  - row_count: { min: 1 }\n";
    let daily = "dataset: orders\nowner: shop\nupstream: [raw_orders]\nchecks:\n  - row_count: { min: 1 }\n";
    Setup::new(&[], &[("raw", raw), ("orders", daily)], "").await
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_caused_upstream_are_folded_into_the_upstreams_notifications() {
    let setup = raw_feeding_orders().await;
    setup.alert_run(&["--dataset", "raw_orders"]).await;
    setup.alert_run(&["--dataset", "orders"]).await;
    assert_eq!(setup.hook.texts(), ["Check failed: raw_orders · row_count"]);
    let store = setup.store().await;
    let cause = latest(&store, "raw_orders").await;
    assert_eq!(latest(&store, "orders").await.cause, Some(cause.id));

    // The upstream resolves: its message lists what was folded into it, and the downstream
    // incident, still failing without its cause, is told on its own.
    setup
        .warehouse
        .exec("INSERT INTO raw_orders VALUES (1)")
        .await;
    setup.alert_run(&["--dataset", "raw_orders"]).await;
    let posts = setup.hook.wait_for(3).await;
    let resolved = posts
        .iter()
        .find(|p| p.body["text"] == "Resolved: raw_orders · row_count")
        .expect("the upstream's resolution");
    let text = mrkdwn(resolved);
    assert!(
        text.contains("*Likely also caused:* orders · row_count"),
        "{text}"
    );
    assert!(
        posts
            .iter()
            .any(|p| p.body["text"] == "Check failed: orders · row_count")
    );
    let mails = setup.smtp.wait_for(3).await;
    let resolved = mails
        .iter()
        .find(|m| m.subject == "Resolved: raw_orders · row_count")
        .expect("the upstream's resolution by email");
    assert!(
        resolved
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("  - orders · row_count")
    );
    setup.alert_run(&["--dataset", "orders"]).await;
    assert_eq!(setup.hook.delivered().len(), 3, "told once");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_incident_found_second_adopts_the_downstream_one() {
    let setup = raw_feeding_orders().await;
    // The downstream check runs first: nothing upstream is known to be broken yet.
    setup.alert_run(&["--dataset", "orders"]).await;
    setup.alert_run(&["--dataset", "raw_orders"]).await;
    assert_eq!(
        setup.hook.texts(),
        [
            "Check failed: orders · row_count",
            "Check failed: raw_orders · row_count"
        ]
    );
    let store = setup.store().await;
    let cause = latest(&store, "raw_orders").await;
    assert_eq!(cause.cause, None);
    assert_eq!(latest(&store, "orders").await.cause, Some(cause.id));
    let opened = mrkdwn(&setup.hook.delivered()[1]);
    assert!(
        opened.contains("*Likely also caused:* orders · row_count"),
        "{opened}"
    );
}

/// Stores an OpenLineage run event of `job` reading `input` and writing `output`, as
/// `POST /api/v1/lineage` does.
async fn job_edges(store: &Store, job: &str, input: &str, output: &str) {
    let event = serde_json::json!({
        "eventType": "COMPLETE",
        "eventTime": "2026-11-26T10:00:00Z",
        "run": { "runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f" },
        "job": { "namespace": "airflow", "name": job },
        "inputs": [{ "namespace": "postgres://warehouse", "name": input }],
        "outputs": [{ "namespace": "postgres://warehouse", "name": output }],
        "producer": "https://example.com/airflow",
    });
    let event = tidemark::lineage::RunEvent::parse(event.to_string().as_bytes())
        .expect("a valid run event");
    store
        .upsert_edges(&event.edges())
        .await
        .expect("store edges");
}

/// A server keeps the graph alerts judge against between runs: an edge reported after it
/// was built is in the next one all the same.
#[tokio::test(flavor = "multi_thread")]
async fn the_graph_alerts_judge_against_follows_edges_reported_since() {
    let raw = "dataset: raw_orders\nowner: shop\nchecks:\n  - row_count: { min: 1 }\n";
    let setup = Setup::new(&[], &[("raw", raw), ("orders", ORDERS)], "").await;
    let store = setup.store().await;
    let project =
        std::sync::Arc::new(tidemark::spec::load(setup.project.path()).expect("the project loads"));
    let downstream = |impact: &tidemark::alerts::Impact| -> Vec<String> {
        let at_risk = impact.downstream("raw_orders", &project);
        at_risk.into_iter().map(|d| d.dataset).collect()
    };
    let impacts = tidemark::alerts::ImpactCache::default();
    let before = impacts.current(&store, &project).await;
    assert!(downstream(&before).is_empty());
    job_edges(&store, "load", "shop.main.raw_orders", "shop.main.orders").await;
    let after = impacts.current(&store, &project).await;
    assert_eq!(downstream(&after), ["orders"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_from_openlineage_alone_folds_and_names_what_is_at_risk() {
    // No `upstream:` anywhere: raw_orders feeds orders only through two jobs and a table
    // Tidemark does not check, as an orchestrator reported them.
    let raw = "dataset: raw_orders\nowner: shop\nchecks:\n  - row_count: { min: 1 }\n";
    let setup = Setup::new(&[], &[("raw", raw), ("orders", ORDERS)], "").await;
    let store = setup.store().await;
    job_edges(
        &store,
        "clean",
        "shop.main.raw_orders",
        "staging.orders_clean",
    )
    .await;
    job_edges(
        &store,
        "publish",
        "staging.orders_clean",
        "shop.main.orders",
    )
    .await;

    setup.alert_run(&["--dataset", "raw_orders"]).await;
    let [post] = setup.hook.wait_for(1).await.try_into().expect("one post");
    let text = mrkdwn(&post);
    assert!(
        text.contains(
            "*At risk downstream:* staging.orders_clean, orders (shop)\n*Owners to tell:* shop\n"
        ),
        "{text}"
    );
    let [mail]: [Mail; 1] = setup.smtp.wait_for(1).await.try_into().expect("one email");
    let body = mail.text.as_deref().unwrap_or_default();
    assert!(
        body.contains(
            "\nAt risk downstream:\n  - staging.orders_clean\n  - orders (owner: shop)\n\
             Owners to tell: shop\n"
        ),
        "{body}"
    );
    let html = mail.html.as_deref().unwrap_or_default();
    assert!(html.contains("<li>orders (owner: shop)</li>"), "{html}");

    // orders fails two hops below: folded under raw_orders, not alerted on its own.
    setup.alert_run(&["--dataset", "orders"]).await;
    let cause = latest(&store, "raw_orders").await;
    assert_eq!(latest(&store, "orders").await.cause, Some(cause.id));
    assert_eq!(setup.hook.texts(), ["Check failed: raw_orders · row_count"]);
    assert_eq!(setup.smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_and_messages_are_escaped() {
    let hostile = "dataset: orders\nowner: shop\nchecks:\n  - sql_metric:\n      \
                   name: \"<!channel> & <script>alert(1)</script>\"\n      \
                   query: select 1\n      max: 0\n";
    let setup = Setup::new(&[], &[("orders", hostile)], "").await;
    setup.alert_run(&[]).await.0.assert_code(1);
    let post = &setup.hook.wait_for(1).await[0];
    let text = mrkdwn(post);
    assert!(
        text.contains("&lt;!channel&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    let whole = post.body.to_string();
    assert!(
        !whole.contains("<!channel>") && !whole.contains("<script>"),
        "{whole}"
    );
    let mail = &setup.smtp.wait_for(1).await[0];
    let html = mail.html.as_deref().unwrap_or_default();
    assert!(
        html.contains("&lt;!channel&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("<!channel>"),
        "{html}"
    );
    assert!(!mail.subject.contains('\n'));
}

/// `tidemark serve` for a setup, with a token for the write endpoints.
async fn serve(setup: &Setup) -> (ServeProcess, String) {
    let args = ["token", "create", ".", "--name", "oncall"];
    let token = run_blocking(setup.project.path(), &args, &[]).await;
    token.assert_code(0);
    let server = ServeProcess::start(setup.project.path(), &FAST);
    (server, token.stdout.trim().to_owned())
}

async fn post(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_are_acknowledged_muted_and_resolved_through_the_api() {
    let always_failing = [Answer::Status(500); 10];
    let setup = Setup::new(
        &always_failing,
        &[("orders", ORDERS)],
        "alerts: { max_attempts: 2 }\n",
    )
    .await;
    let (server, token) = serve(&setup).await;
    let http = http();
    let (status, _) = post(&http, &server.url("/api/v1/datasets/orders/run"), &token).await;
    assert_eq!(status, 202);
    let incident = eventually("an open incident", Duration::from_secs(60), || async {
        let page = get(&http, &server.url("/api/v1/incidents?status=open")).await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(
        (incident["dataset"].as_str(), incident["kind"].as_str()),
        (Some("orders"), Some("failure"))
    );
    let id = incident["id"].as_i64().expect("an id");

    // The webhook keeps failing: dead after two attempts, and listed as such.
    let dead = eventually("a dead letter", Duration::from_secs(60), || async {
        let page = get(&http, &server.url("/api/v1/notifications?status=dead")).await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(
        (dead["channel"].as_str(), dead["attempts"].as_i64()),
        (Some("team-slack"), Some(2))
    );
    let error = dead["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("500") && !error.contains(&setup.hook.url),
        "{error}"
    );
    // The receiver echoed the webhook's path: none of its tokens is kept or shown.
    for token in crate::receivers::HOOK_PATH.split('/') {
        assert!(!error.contains(token), "{error}");
    }
    assert_eq!(
        setup.smtp.wait_for(1).await.len(),
        1,
        "the email went out regardless"
    );

    let url = |action: &str| server.url(&format!("/api/v1/incidents/{id}/{action}"));
    let anonymous = http.post(url("acknowledge")).send().await.expect("POST");
    assert_eq!(anonymous.status().as_u16(), 401);
    let (status, acknowledged) = post(&http, &url("acknowledge"), &token).await;
    assert_eq!(
        (status, acknowledged["status"].as_str()),
        (200, Some("acknowledged"))
    );
    let (status, refused) = post(&http, &url("mute?until=2000-01-01T00:00:00Z"), &token).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, resolved) = post(&http, &url("resolve"), &token).await;
    assert_eq!(
        (status, resolved["resolved_by"].as_str()),
        (200, Some("api"))
    );
    let resolved = &setup.smtp.wait_for(2).await[1];
    assert_eq!(resolved.subject, "Resolved: orders · row_count");
    let text = resolved.text.as_deref().unwrap_or_default();
    assert!(text.contains("(resolved by hand by oncall)"), "{text}");
    let (status, again) = post(&http, &url("resolve"), &token).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    // The timeline says who did what: the check opened it, the token's owner did the rest.
    let events = get(&http, &url("events")).await;
    let timeline: Vec<(&str, &str)> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| Some((e["kind"].as_str()?, e["actor"].as_str()?)))
        .collect();
    assert_eq!(
        timeline,
        [
            ("opened", "check"),
            ("acknowledged", "oncall"),
            ("resolved", "oncall")
        ]
    );
    let (status, missing) = post(
        &http,
        &server.url("/api/v1/incidents/999999/resolve"),
        &token,
    )
    .await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_delivery_delivers_once_after_its_restart() {
    let setup = Setup::new(&[Answer::Hang], &[("orders", ORDERS)], "").await;
    let (mut first, token) = serve(&setup).await;
    let http = http();
    let (status, _) = post(&http, &first.url("/api/v1/datasets/orders/run"), &token).await;
    assert_eq!(status, 202);
    // The webhook holds the first attempt open; the server dies while it waits (once the
    // email, sent beside it, is delivered and recorded: this test is about the webhook).
    setup.hook.wait_for_requests(1).await;
    setup.smtp.wait_for(1).await;
    let store = setup.store().await;
    eventually(
        "the email to be recorded",
        Duration::from_secs(30),
        || async {
            let sent = notifications(&store).await;
            sent.iter()
                .any(|n| n.channel == "team-email" && n.status == NotificationStatus::Delivered)
                .then_some(())
        },
    )
    .await;
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    assert!(setup.hook.delivered().is_empty());

    let _second = ServeProcess::start(setup.project.path(), &FAST);
    let delivered = setup.hook.wait_for(1).await;
    assert_eq!(delivered.len(), 1);
    eventually(
        "the delivery to be recorded",
        Duration::from_secs(30),
        || async {
            let sent = notifications(&store).await;
            sent.iter()
                .all(|n| n.status == NotificationStatus::Delivered)
                .then_some(())
        },
    )
    .await;
    assert_eq!(setup.hook.delivered().len(), 1, "no second delivery");
    assert_eq!(setup.smtp.mails().len(), 1);
}

#[test]
fn broken_template_overrides_are_located_by_validate() {
    let project = Project::builder()
        .config(
            "version: 1\nwarehouses: { main: { url: 'sqlite://w.db' } }\n\
             alerts: { templates: alerts/ }\n",
        )
        .dataset(
            "orders",
            "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n",
        )
        .file("alerts/slack.hbs", "fine\n{{#if opened}}never closed\n")
        .build();
    let out = project.run(&["validate"]);
    out.assert_code(2);
    // An unclosed block is found where the file ends.
    assert!(
        out.stderr
            .contains("alerts/slack.hbs:3:1: template slack.hbs: "),
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("1 problem found"), "{}", out.both());
}
