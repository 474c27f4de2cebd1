//! The lineage page of the real `tidemark serve`: a graph from declared `upstream:` lists,
//! drawn as SVG with each declared dataset linking to its page and coloured by the health
//! the seeded results give it, narrowed by depth around one dataset, with hostile names
//! escaped; and (ignored, run by hand) how long a 2,000-dataset graph takes to render.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;

use tidemark::results::{CheckResult, Outcome};
use tidemark::store::Store;

use crate::support::{
    InProcessServer, Project, Served, SqliteDb, http, past_result, record_past_run,
};

const HOSTILE: &str = "<script>alert(1)</script>";

/// `ext.feed` (not declared) → `raw.events` → `stg.orders` → `mart.revenue` →
/// `report.daily`, and `stg.orders` → the hostile dataset.
fn project(warehouse: &SqliteDb) -> Project {
    let quote = |s: &str| serde_json::to_string(s).expect("a string to JSON");
    let checks = "checks:\n  - row_count: { min: 1 }\n";
    Project::builder()
        .warehouse("main", &warehouse.url)
        .dataset(
            "raw",
            &format!("dataset: raw.events\nupstream: [ext.feed]\n{checks}"),
        )
        .dataset(
            "stg",
            &format!("dataset: stg.orders\nupstream: [raw.events]\n{checks}"),
        )
        .dataset(
            "mart",
            &format!("dataset: mart.revenue\nupstream: [stg.orders]\n{checks}"),
        )
        .dataset(
            "report",
            &format!("dataset: report.daily\nupstream: [mart.revenue]\n{checks}"),
        )
        .dataset(
            "hostile",
            &format!(
                "dataset: {}\nupstream: [stg.orders]\n{checks}",
                quote(HOSTILE)
            ),
        )
        .build()
}

/// `raw.events` warns, `stg.orders` fails, `mart.revenue` passes; the rest never ran.
async fn seed(project: &Project) {
    let store = Store::open(None, project.path()).await.expect("the store");
    let at = Utc::now() - TimeDelta::hours(1);
    for (dataset, outcome) in [
        ("raw.events", Outcome::Warn),
        ("stg.orders", Outcome::Fail),
        ("mart.revenue", Outcome::Pass),
    ] {
        let result = CheckResult {
            outcome,
            ..past_result(dataset, "row_count", 1.0)
        };
        record_past_run(&store, dataset, at, vec![result]).await;
    }
}

/// `GET path`: the status and the body.
async fn get(server: &impl Served, path: &str) -> (StatusCode, String) {
    let reply = http()
        .get(server.url(path))
        .send()
        .await
        .expect("the server answers");
    (reply.status(), reply.text().await.expect("a body"))
}

/// A page that must answer 200 with no hostile text left raw.
async fn page(server: &impl Served, path: &str) -> String {
    let (status, body) = get(server, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert!(
        !body.contains("<script"),
        "{path} holds raw <script:\n{body}"
    );
    body
}

/// The box drawn for `name`: `<g class="node health-…">` with its tooltip.
fn node(health: &str, name: &str) -> String {
    format!(r#"<g class="node health-{health}"><title>{name}: {health}</title>"#)
}

#[tokio::test]
async fn the_lineage_page_draws_links_health_and_narrows_by_depth() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project).await;
    let server = InProcessServer::start(project.path()).await;

    let whole = page(&server, "/lineage").await;
    assert!(
        whole.contains(r#"<a href="/lineage">Lineage</a>"#),
        "{whole}"
    );
    assert!(whole.contains("6 datasets, 5 edges"), "{whole}");
    assert_eq!(whole.matches(r#"<path class="edge""#).count(), 5);
    for (health, name) in [
        ("warn", "raw.events"),
        ("fail", "stg.orders"),
        ("pass", "mart.revenue"),
        ("unknown", "report.daily"),
    ] {
        let linked = format!(r#"<a href="/datasets/{name}">{}"#, node(health, name));
        assert!(whole.contains(&linked), "{name} is not {health}:\n{whole}");
    }
    // Reported by lineage only: drawn, not linked, health unknown.
    let feed = node("unknown", "ext.feed");
    assert!(whole.contains(&format!("</a>{feed}")), "{whole}");
    assert!(whole.contains("<td>ext.feed</td>"), "{whole}");
    // The hostile name, escaped in the drawing and the table, linked percent-encoded.
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let link = "/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E";
    assert!(whole.contains(&format!(r#"<a href="{link}">{}"#, node("unknown", escaped))));
    assert!(whole.contains(&format!(r#"<td><a href="{link}">{escaped}</a></td>"#)));

    let near = page(&server, "/lineage?dataset=raw.events&depth=1").await;
    assert!(near.contains("3 datasets, 2 edges"), "{near}");
    assert!(
        near.contains(r#"<g class="node health-warn focus">"#),
        "{near}"
    );
    assert!(near.contains(r#"href="/datasets/stg.orders""#));
    assert!(!near.contains("/datasets/mart.revenue"), "{near}");
    let further = page(&server, "/lineage?dataset=raw.events&depth=3").await;
    assert!(further.contains("6 datasets, 5 edges"), "{further}");

    let grouped = page(&server, "/lineage?collapse=schema").await;
    assert!(grouped.contains("drawn as 6 schemas"), "{grouped}");
    let by_warehouse = page(&server, "/lineage?collapse=warehouse").await;
    assert!(by_warehouse.contains("<title>main: 5 datasets, worst health fail</title>"));

    for (path, status, text) in [
        (
            "/lineage?dataset=nowhere",
            StatusCode::NOT_FOUND,
            "There is no dataset named &quot;nowhere&quot; in the lineage graph.",
        ),
        (
            "/lineage?depth=0",
            StatusCode::BAD_REQUEST,
            "The depth must be a whole number from 1 to 50",
        ),
        (
            "/lineage?collapse=%3Cscript%3E",
            StatusCode::BAD_REQUEST,
            "not &quot;&lt;script&gt;&quot;",
        ),
    ] {
        let (got, body) = get(&server, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
        assert!(!body.contains("<script"), "{path}: {body}");
    }
}

/// Run by hand, in release for production numbers:
/// `cargo test --release -p tidemark --test integration -- --ignored --nocapture
/// lineage_page_timings`. Prints p50/p99 of whole requests for a 2,000-dataset graph.
#[tokio::test]
#[ignore = "a benchmark: prints timings, asserts none"]
async fn lineage_page_timings() {
    let warehouse = SqliteDb::new().await;
    let mut builder = Project::builder().warehouse("main", &warehouse.url);
    for i in 0..2_000 {
        builder = builder.dataset(&format!("d{i}"), &benchmark_dataset(i));
    }
    let project = builder.build();
    let server = InProcessServer::start(project.path()).await;
    // The overview lists as many datasets: a baseline.
    for path in [
        "/",
        "/lineage",
        "/lineage?collapse=none",
        "/lineage?dataset=s5_0.t1000&depth=2",
        "/lineage?dataset=s5_0.t1000&depth=6&collapse=none",
    ] {
        let body = page(&server, path).await;
        let mut took: Vec<Duration> = Vec::new();
        for _ in 0..50 {
            let start = Instant::now();
            page(&server, path).await;
            took.push(start.elapsed());
        }
        took.sort();
        let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
        println!(
            "{path}: p50 {:?}, p99 {:?} ({} KB)",
            at(0.5),
            at(0.99),
            body.len() / 1024
        );
    }
}

/// Dataset `i` of the benchmark: ten stages of 200 (raw to report, as warehouses layer
/// them), four schemas a stage. Each reads one to three datasets of the stage before, every
/// fifth also one two stages back, every hundredth one of the stage after (a cycle), and
/// every fiftieth an undeclared source.
fn benchmark_dataset(i: usize) -> String {
    const STAGE: usize = 200;
    let name = |i: usize| format!("s{}_{}.t{i}", i / STAGE, i % 4);
    // A fixed pseudo-random choice among a stage's datasets.
    let pick = |seed: usize, stage: usize| stage * STAGE + seed * 7_919 % STAGE;
    let stage = i / STAGE;
    let mut upstream = Vec::new();
    if stage > 0 {
        for k in 0..=i % 3 {
            upstream.push(name(pick(i + k, stage - 1)));
        }
    }
    if stage > 1 && i.is_multiple_of(5) {
        upstream.push(name(pick(i, stage - 2)));
    }
    if stage < 9 && i % 100 == 50 {
        upstream.push(name(pick(i, stage + 1)));
    }
    if i.is_multiple_of(50) {
        upstream.push(format!("ext.feed{i}"));
    }
    format!(
        "dataset: {}\nupstream: [{}]\nchecks: []\n",
        name(i),
        upstream.join(", ")
    )
}
