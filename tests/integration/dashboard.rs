//! The dashboard pages of the real `tidemark serve`: the overview with health and filters,
//! a dataset page with its chart (band, anomalies, thresholds), runs and incidents, and
//! text from YAML and from the store escaped everywhere. The store is seeded directly, so
//! no warehouse query runs (the datasets have no schedule).

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;

use tidemark::results::{Band, CheckResult, Outcome};
use tidemark::store::{Incident, Store};

use crate::support::{
    InProcessServer, Project, Served, SqliteDb, http, incident, past_result, record_past_run,
    store_incident,
};

/// A dataset name, an owner, a description and a message written to break out of HTML.
pub(crate) const HOSTILE: &str = "<script>alert(1)</script>";
pub(crate) const OWNER: &str = "\"><img src=x onerror=alert(2)>";
const DESCRIPTION: &str = "<iframe src=javascript:alert(3)>";
const MESSAGE: &str = "<svg onload=alert(4)>";
const INCIDENT: &str = "<img src=y onerror=alert(5)>";

fn project(warehouse: &SqliteDb) -> Project {
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    let config = format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\nowners:\n  team-a: {{}}\n  {}: {{}}\n\
         checks: [checks/]\n",
        quote(&warehouse.url),
        quote(OWNER)
    );
    Project::builder()
        .config(&config)
        .dataset(
            "orders",
            "dataset: orders\nowner: team-a\ntags: [sales]\nchecks:\n  \
             - row_count: { anomaly: {} }\n  \
             - row_count: { name: volume, warn: { min: 2 }, fail: { min: 1 } }\n",
        )
        .dataset(
            "hostile",
            &format!(
                "dataset: {}\nowner: {}\ntags: [web]\nchecks:\n  \
                 - row_count: {{ min: 1, description: {} }}\n",
                quote(HOSTILE),
                quote(OWNER),
                quote(DESCRIPTION)
            ),
        )
        .build()
}

/// One result of a past run of `dataset`.
struct Past<'a> {
    dataset: &'a str,
    check: &'a str,
    outcome: Outcome,
    value: f64,
    band: Option<Band>,
    message: &'a str,
}

/// Records a finished run at `at` holding `results`.
async fn remember(store: &Store, at: DateTime<Utc>, results: &[Past<'_>]) {
    let dataset = results[0].dataset;
    let results = results
        .iter()
        .map(|past| CheckResult {
            outcome: past.outcome,
            message: past.message.into(),
            band: past.band,
            ..past_result(past.dataset, past.check, past.value)
        })
        .collect();
    record_past_run(store, dataset, at, results).await;
}

/// Five days of `orders` (the last an anomaly that failed, with its open incident) and one
/// run of the hostile dataset, which passed.
async fn seed(project: &Project) {
    let store = Store::open(None, project.path()).await.expect("the store");
    let now = Utc::now();
    for day in 0..5 {
        let last = day == 4;
        let value = if last { 9_000.0 } else { 1_000.0 + day as f64 };
        let band = Band {
            lower: 900.0,
            upper: 1_100.0,
            anomalous: last,
        };
        let outcome = if last { Outcome::Fail } else { Outcome::Pass };
        let results = [
            Past {
                dataset: "orders",
                check: "row_count",
                outcome,
                value,
                band: (day > 0).then_some(band),
                message: "rows",
            },
            Past {
                dataset: "orders",
                check: "volume",
                outcome: Outcome::Pass,
                value,
                band: None,
                message: "rows",
            },
        ];
        remember(&store, now - TimeDelta::days(5 - day), &results).await;
    }
    let hostile = Past {
        dataset: HOSTILE,
        check: "row_count",
        outcome: Outcome::Pass,
        value: 3.0,
        band: None,
        message: MESSAGE,
    };
    remember(&store, now - TimeDelta::hours(1), &[hostile]).await;
    open_incident(&store, now).await;
}

/// An open incident of `orders`' anomaly check.
async fn open_incident(store: &Store, now: DateTime<Utc>) {
    let incident = Incident {
        sla: false,
        value: Some(9_000.0),
        expected: None,
        message: INCIDENT.into(),
        ..incident("orders", "row_count", now)
    };
    store_incident(store, incident, now).await;
}

/// `GET path`: the status, the content type and the body.
pub(crate) async fn get(server: &impl Served, path: &str) -> (StatusCode, String, String) {
    let reply = http()
        .get(server.url(path))
        .send()
        .await
        .expect("the server answers");
    let status = reply.status();
    let content_type = reply
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, reply.text().await.expect("a body"))
}

/// A page that must be HTML with no hostile text left raw.
pub(crate) async fn page(server: &impl Served, path: &str) -> String {
    let (status, content_type, body) = get(server, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
    for raw in ["<script", "<img", "<iframe", "<svg onload"] {
        assert!(!body.contains(raw), "{path} holds raw {raw}:\n{body}");
    }
    body
}

/// Which of the two datasets a listing shows.
fn listed(body: &str) -> (bool, bool) {
    (
        body.contains(r#"href="/datasets/orders""#),
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
    )
}

#[tokio::test]
async fn pages_show_health_history_and_escape_hostile_text() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project).await;
    let server = InProcessServer::start(project.path()).await;

    let overview = page(&server, "/").await;
    assert_eq!(listed(&overview), (true, true), "{overview}");
    assert!(overview.contains("2 of 2 datasets"), "{overview}");
    assert!(overview.contains(r#"<span class="health health-fail">fail</span>"#));
    assert!(overview.contains(r#"<span class="health health-pass">pass</span>"#));
    assert_eq!(
        overview
            .matches(r#"<span class="incidents">1</span>"#)
            .count(),
        1
    );
    assert!(overview.contains("&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt;"));
    // The hostile name links to its page as one percent-encoded segment.
    let link = "/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E";
    assert!(
        overview.contains(&format!(r#"href="{link}""#)),
        "{overview}"
    );

    for (query, want) in [
        ("?health=fail", (true, false)),
        ("?health=pass", (false, true)),
        ("?owner=team-a", (true, false)),
        ("?tag=web", (false, true)),
        ("?warehouse=main&health=", (true, true)),
        ("?q=ORD", (true, false)),
        ("?q=nothing", (false, false)),
    ] {
        let body = page(&server, &format!("/{query}")).await;
        assert_eq!(listed(&body), want, "{query}");
    }
    let filtered = page(&server, "/?tag=web").await;
    assert!(filtered.contains(r#"<option value="web" selected>web</option>"#));

    let orders = page(&server, "/datasets/orders").await;
    assert_eq!(
        orders.matches(r#"<svg class="chart""#).count(),
        2,
        "{orders}"
    );
    assert_eq!(orders.matches(r#"<polygon class="band""#).count(), 1);
    assert_eq!(orders.matches(r#"class="point anomalous""#).count(), 1);
    assert!(orders.contains(r#"<g class="threshold warn">"#), "{orders}");
    assert!(orders.contains("<title>fail min 1</title>"));
    assert_eq!(
        orders.matches(r#"<tr class="run run-completed">"#).count(),
        5
    );
    assert!(orders.contains("<td>high</td><td>open</td>"), "{orders}");
    assert!(orders.contains("&lt;img src&#x3D;y onerror&#x3D;alert(5)&gt;"));

    let hostile = page(&server, link).await;
    assert!(
        hostile.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt; "),
        "{hostile}"
    );
    assert!(hostile.contains("&lt;iframe src&#x3D;javascript:alert(3)&gt;"));
    assert!(hostile.contains("&lt;svg onload&#x3D;alert(4)&gt;"));
    // Its lineage link carries the name percent-encoded, as its own address does.
    assert!(
        hostile.contains(r#"href="/lineage?dataset&#x3D;%3Cscript%3Ealert%281%29%3C%2Fscript%3E""#),
        "{hostile}"
    );

    let (status, content_type, body) = get(&server, "/datasets/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        body.contains("There is no dataset named &quot;nowhere&quot;."),
        "{body}"
    );
    let (status, _, body) = get(&server, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("There is no page at this address."));
    // The API keeps its own JSON answers.
    let (status, content_type, _) = get(&server, "/api/v1/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");

    let (status, content_type, css) = get(&server, "/static/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/css; charset=utf-8");
    assert!(css.contains("svg.chart .band"));
    assert!(
        css.contains(".health, .status {"),
        "the status badge looks like health"
    );
}

#[tokio::test]
async fn the_overview_pages_through_many_datasets_keeping_its_filters() {
    let warehouse = SqliteDb::new().await;
    let names: Vec<String> = (0..=500).map(|i| format!("d{i:03}")).collect();
    let files: Vec<(String, String)> = names
        .iter()
        .map(|name| {
            let yaml = format!("dataset: {name}\nchecks:\n  - row_count: {{ min: 1 }}\n");
            (name.clone(), yaml)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let project = Project::with_datasets(&warehouse.url, &files);
    let server = InProcessServer::start(project.path()).await;
    let rows = |body: &str| body.matches(r#"<tr class="dataset">"#).count();

    let first = page(&server, "/").await;
    assert_eq!(rows(&first), 500);
    assert!(
        first.contains("501 of 501 datasets · 1–500 on this page"),
        "{first}"
    );
    assert!(
        first.contains(r#"<a href="/?page&#x3D;2" rel="next">"#),
        "{first}"
    );
    assert!(!first.contains(r#"rel="prev""#));

    let last = page(&server, "/?page=2").await;
    assert_eq!(rows(&last), 1);
    assert!(last.contains(r#"href="/datasets/d500""#), "{last}");
    assert!(
        last.contains(r#"<a href="/?page&#x3D;1" rel="prev">"#),
        "{last}"
    );

    // A search narrows to one page: no page links, whatever page was asked for.
    let searched = page(&server, "/?q=d4&page=2").await;
    assert_eq!(rows(&searched), 100);
    assert!(!searched.contains(r#"class="pages""#), "{searched}");

    let (status, _, _) = get(&server, "/?page=first").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
