//! Lineage end to end: view definitions read from real Postgres and MariaDB catalogs,
//! OpenLineage events from the specification posted to a real `tidemark serve`, a dbt
//! manifest written by dbt (tests/lineage/dbt/generate.sh), cycles, and impact queries on a
//! graph of 5,000 datasets.

use std::path::PathBuf;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::Value;
use tidemark::lineage::{Edge, Source};
use tidemark::store::Store;

use crate::receivers::{Answer, SlackHook};
use crate::support::{
    MyDb, PgDb, Project, ServeProcess, Served, SqliteDb, api_token, http, run_tidemark_with_env,
};

/// A file of tests/lineage/.
fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/lineage/{relative}"))
}

/// `(upstream, downstream, source)` of each edge of a lineage document.
fn edges(doc: &Value) -> Vec<(String, String, String)> {
    doc["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (text("upstream"), text("downstream"), text("source"))
        })
        .collect()
}

fn triples(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(u, d, s)| (u.to_string(), d.to_string(), s.to_string()))
        .collect()
}

/// `tidemark lineage --format json` in the project, which must succeed.
fn lineage_json(project: &Project) -> Value {
    let out = project.run(&["lineage", ".", "--format", "json"]);
    out.assert_code(0);
    out.json()
}

// ---------------------------------------------------------------------------------------
// Views

#[tokio::test(flavor = "multi_thread")]
async fn postgres_views_with_ctes_joins_and_subqueries_become_edges() {
    let db = PgDb::new().await;
    db.exec(
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (id int, customer_id int, amount numeric, region text);
         CREATE TABLE shop.customers (id int, name text);
         CREATE TABLE shop.refunds (order_id int);
         CREATE TABLE regions (code text);
         CREATE VIEW shop.big_orders AS
           WITH recent AS (SELECT * FROM shop.orders WHERE amount > 10)
           SELECT r.id, c.name FROM recent r JOIN shop.customers c ON c.id = r.customer_id
           WHERE r.id NOT IN (SELECT order_id FROM shop.refunds);
         CREATE VIEW \"Region Report\" AS
           SELECT o.region, count(*) AS n FROM shop.big_orders b
           JOIN (SELECT id, region FROM shop.orders) o ON o.id = b.id
           JOIN regions g ON g.code = o.region GROUP BY o.region
           UNION ALL SELECT 'none', 0;",
    )
    .await;
    let project = Project::with_datasets(
        &db.url,
        &[(
            "orders",
            "dataset: shop.orders\nchecks:\n  - row_count: { min: 0 }\n",
        )],
    );
    let doc = lineage_json(&project);
    assert_eq!(
        edges(&doc),
        triples(&[
            ("public.regions", "public.Region Report", "view"),
            ("shop.big_orders", "public.Region Report", "view"),
            ("shop.customers", "shop.big_orders", "view"),
            ("shop.orders", "public.Region Report", "view"),
            ("shop.orders", "shop.big_orders", "view"),
            ("shop.refunds", "shop.big_orders", "view"),
        ]),
        "{doc:#}"
    );
    let orders = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "shop.orders");
    assert_eq!(
        orders.map(|n| (&n["warehouse"], &n["dataset"])),
        Some((&Value::from("main"), &Value::from("shop.orders")))
    );
    assert_eq!(doc["cycles"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_views_with_ctes_joins_and_subqueries_become_edges() {
    let db = MyDb::new().await;
    db.exec(
        "CREATE TABLE orders (id int, customer_id int, amount decimal(10,2), region text);
         CREATE TABLE customers (id int, name text);
         CREATE TABLE refunds (order_id int);
         CREATE TABLE regions (code varchar(8));
         CREATE VIEW big_orders AS
           WITH recent AS (SELECT * FROM orders WHERE amount > 10)
           SELECT r.id, c.name FROM recent r JOIN customers c ON c.id = r.customer_id
           WHERE r.id NOT IN (SELECT order_id FROM refunds);
         CREATE VIEW `Region Report` AS
           SELECT o.region, count(*) AS n FROM big_orders b
           JOIN (SELECT id, region FROM orders) o ON o.id = b.id
           JOIN regions g ON g.code = o.region GROUP BY o.region;",
    )
    .await;
    // Declared unqualified, as users write MySQL tables: `<database>.orders` is it.
    let project = Project::with_datasets(
        &db.url,
        &[(
            "orders",
            "dataset: orders\nchecks:\n  - row_count: { min: 0 }\n",
        )],
    );
    let doc = lineage_json(&project);
    let n = &db.name;
    let qualified = |table: &str| format!("{n}.{table}");
    let expected = [
        (qualified("big_orders"), qualified("Region Report")),
        (qualified("customers"), qualified("big_orders")),
        (qualified("refunds"), qualified("big_orders")),
        (qualified("regions"), qualified("Region Report")),
        ("orders".to_owned(), qualified("Region Report")),
        ("orders".to_owned(), qualified("big_orders")),
    ];
    let mut expected: Vec<(String, String, String)> = expected
        .into_iter()
        .map(|(u, d)| (u, d, "view".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(edges(&doc), expected, "{doc:#}");
}

// ---------------------------------------------------------------------------------------
// dbt, cycles, configuration

#[test]
fn a_dbt_manifest_named_in_tidemark_yml_feeds_the_graph() {
    let manifest = std::fs::read_to_string(fixture("dbt/manifest.json")).unwrap_or_default();
    let project = Project::builder()
        .config(
            "version: 1\nwarehouses:\n  main:\n    url: sqlite://w.db\n\
             lineage:\n  dbt_manifest: target/manifest.json\nchecks: [checks/]\n",
        )
        .file("w.db", "")
        .file("target/manifest.json", &manifest)
        .dataset(
            "orders",
            "dataset: analytics.fct_orders\nchecks:\n  - row_count: { min: 0 }\n",
        )
        .build();
    let doc = lineage_json(&project);
    // `warehouse.analytics.fct_orders` is the declared `analytics.fct_orders`.
    assert_eq!(
        edges(&doc),
        triples(&[
            (
                "warehouse.analytics.regions",
                "warehouse.analytics_staging.stg_orders",
                "dbt"
            ),
            (
                "warehouse.analytics_staging.stg_customers",
                "analytics.fct_orders",
                "dbt"
            ),
            (
                "warehouse.analytics_staging.stg_orders",
                "analytics.fct_orders",
                "dbt"
            ),
            (
                "warehouse.raw.customers",
                "warehouse.analytics_staging.stg_customers",
                "dbt"
            ),
            (
                "warehouse.raw.order_events",
                "warehouse.analytics_staging.stg_orders",
                "dbt"
            ),
        ]),
        "{doc:#}"
    );
}

#[test]
fn a_missing_or_invalid_manifest_is_reported_where_it_is_named() {
    let project = |manifest: Option<&str>| {
        let mut builder = Project::builder().config(
            "version: 1\nwarehouses:\n  main:\n    url: sqlite://w.db\n\
             lineage:\n  dbt_manifest: target/manifest.json\n",
        );
        if let Some(text) = manifest {
            builder = builder.file("target/manifest.json", text);
        }
        builder.build()
    };
    let missing = project(None);
    let out = missing.run(&["validate", "."]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("tidemark.yml:6:17: cannot read the dbt manifest "),
        "{}",
        out.both()
    );
    let invalid = project(Some("{\"nodes\": ["));
    let out = invalid.run(&["validate", "."]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("manifest.json: not a dbt manifest: the file is not JSON: "),
        "{}",
        out.both()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cycles_are_reported_as_paths_and_sqlite_views_are_read() {
    let warehouse = SqliteDb::new().await;
    warehouse
        .exec(
            "CREATE TABLE t (x int); CREATE VIEW v AS WITH c AS (SELECT * FROM t) \
             SELECT * FROM c JOIN (SELECT x FROM \"Other T\") USING (x);
             CREATE TABLE \"Other T\" (x int)",
        )
        .await;
    let dataset = |name: &str, upstream: &str| {
        format!("dataset: {name}\nupstream: [{upstream}]\nchecks:\n  - row_count: {{ min: 0 }}\n")
    };
    let project = Project::with_datasets(
        &warehouse.url,
        &[
            ("a", &dataset("a", "c")),
            ("b", &dataset("b", "a")),
            ("c", &dataset("c", "b")),
            ("d", &dataset("d", "c")),
        ],
    );
    let doc = lineage_json(&project);
    assert_eq!(doc["cycles"], serde_json::json!([["a", "b", "c", "a"]]));
    assert_eq!(
        edges(&doc),
        triples(&[
            ("a", "b", "declared"),
            ("b", "c", "declared"),
            ("c", "a", "declared"),
            ("c", "d", "declared"),
            ("main.Other T", "main.v", "view"),
            ("main.t", "main.v", "view"),
        ])
    );
    let out = project.run(&["lineage", "."]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("cycles (1):\n  a -> b -> c -> a\n"),
        "{}",
        out.both()
    );
}

// ---------------------------------------------------------------------------------------
// The API

async fn get(server: &ServeProcess, path: &str) -> (StatusCode, Value) {
    let response = http()
        .get(server.url(path))
        .send()
        .await
        .expect("GET lineage");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(server: &ServeProcess, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut request = http()
        .post(server.url("/api/v1/lineage"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST lineage");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn openlineage_examples_posted_to_serve_join_the_declared_graph() {
    let warehouse = SqliteDb::new().await;
    let project = Project::with_datasets(
        &warehouse.url,
        &[
            (
                "unpaid",
                "dataset: public.unpaid_taxes\nchecks:\n  - row_count: { min: 0 }\n",
            ),
            (
                "report",
                "dataset: tax_report\nupstream: [public.unpaid_taxes]\n\
                 checks:\n  - row_count: { min: 0 }\n",
            ),
        ],
    );
    let token = api_token(project.path());
    let server = ServeProcess::start(project.path(), &[]);
    let example =
        |name: &str| std::fs::read(fixture(&format!("openlineage/{name}"))).unwrap_or_default();

    let (status, body) = post(&server, None, example("start-single-input.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    for name in [
        "start-single-input.json",
        "complete-single-output.json",
        "complete-dataset-facets.json",
    ] {
        let (status, body) = post(&server, Some(&token), example(name)).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(body["job"], "workshop/process_taxes");
    }
    let (status, body) = post(&server, Some(&token), b"{\"eventTime\": 1}".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_body");
    assert_eq!(
        body["error"]["message"],
        "invalid request body: not an OpenLineage run event: eventTime must be a non-empty \
         string"
    );

    let (status, doc) = get(
        &server,
        "/api/v1/lineage?dataset=tax_report&direction=upstream",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let nodes: Vec<(&str, &Value, &Value)> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default(),
                &n["dataset"],
                &n["distance"],
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            (
                "public.unpaid_taxes",
                &Value::from("public.unpaid_taxes"),
                &Value::from(1)
            ),
            ("tax_report", &Value::from("tax_report"), &Value::from(0)),
            ("workshop.public.taxes", &Value::Null, &Value::from(2)),
        ],
        "{doc:#}"
    );
    assert_eq!(
        edges(&doc),
        triples(&[
            ("public.unpaid_taxes", "tax_report", "declared"),
            (
                "workshop.public.taxes",
                "public.unpaid_taxes",
                "openlineage"
            ),
        ])
    );
    let openlineage = &doc["edges"][1];
    assert_eq!(openlineage["last_seen"], "2020-12-28T10:52:00.001Z");

    let (status, body) = get(&server, "/api/v1/lineage?dataset=nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = get(&server, "/api/v1/lineage?direction=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["parameter"], "direction");
}

/// n0 … n4999 as a binary tree (n(i) feeds n(2i+1) and n(2i+2)), plus n4999 → n0.
fn tree_edges() -> Vec<Edge> {
    let now = Utc::now();
    let mut edges: Vec<Edge> = (0..5_000)
        .flat_map(|i| [2 * i + 1, 2 * i + 2].map(move |child| (i, child)))
        .filter(|(_, child)| *child < 5_000)
        .map(|(i, child)| {
            Edge::seen(
                &format!("n{i}"),
                &format!("n{child}"),
                Source::OpenLineage,
                now,
            )
        })
        .collect();
    edges.push(Edge::seen("n4999", "n0", Source::OpenLineage, now));
    edges
}

#[tokio::test(flavor = "multi_thread")]
async fn impact_on_five_thousand_datasets_counts_exactly() {
    let warehouse = SqliteDb::new().await;
    let project = Project::with_datasets(
        &warehouse.url,
        &[("n2", "dataset: n2\nchecks:\n  - row_count: { min: 0 }\n")],
    );
    let store = Store::open(None, project.path())
        .await
        .expect("open the store");
    store
        .upsert_edges(&tree_edges())
        .await
        .expect("store the edges");
    let server = ServeProcess::start(project.path(), &[]);
    let count = |doc: &Value| doc["nodes"].as_array().map_or(0, Vec::len);
    let cases = [
        // Every node: n0 reaches the whole tree.
        ("dataset=n0&direction=downstream", 5_000),
        ("dataset=n0&direction=downstream&depth=2", 7),
        // n1's subtree holds n4999, whose edge leads back to n0 and so to everything.
        ("dataset=n1&direction=downstream", 5_000),
        ("dataset=n2&direction=downstream", 2_047),
        // n2 ← n0 ← n4999 ← its 11 other ancestors.
        ("dataset=n2&direction=upstream", 14),
        ("dataset=n2&direction=both&depth=1", 4),
    ];
    for (query, expected) in cases {
        let (status, doc) = get(&server, &format!("/api/v1/lineage?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {doc}");
        assert_eq!(count(&doc), expected, "{query}");
    }
    let (_, whole) = get(&server, "/api/v1/lineage").await;
    assert_eq!(count(&whole), 5_000);
    assert_eq!(whole["edges"].as_array().map_or(0, Vec::len), 5_000);
    let cycle: Vec<&str> = whole["cycles"][0]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        cycle,
        [
            "n0", "n1", "n3", "n8", "n18", "n38", "n77", "n155", "n311", "n624", "n1249", "n2499",
            "n4999", "n0"
        ]
    );
    assert_eq!(whole["cycles"].as_array().map(Vec::len), Some(1));
    let declared = whole["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["dataset"].is_string())
        .count();
    assert_eq!(declared, 1);
}

// ---------------------------------------------------------------------------------------
// Emitting OpenLineage events of Tidemark's own runs

/// The API key the emitting tests configure, to be sent and never printed.
const EMIT_KEY: &str = "ol-key-5ec12e7";

/// A warehouse with `orders` (4 rows: a duplicate id, a missing customer) and a project
/// that checks it (and `broken`, whose check cannot run), emitting to `url`.
async fn emitting_project(url: &str) -> (SqliteDb, Project) {
    let warehouse = SqliteDb::new().await;
    warehouse
        .exec(
            "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount REAL);
             INSERT INTO orders VALUES (1, 10, 5.0), (2, NULL, 7.5), (3, 11, 7.5), (3, 12, 2.0);",
        )
        .await;
    let orders = "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n  \
                  - missing_count: { column: customer_id, max: 0 }\n  \
                  - missing_count: { column: id, max: 0 }\n  \
                  - duplicate_count: { columns: [id], max: 0 }\n  \
                  - min: { column: amount, min: 0 }\n  \
                  - max: { column: amount, max: 100 }\n  \
                  - max: { column: id, max: 2, filter: \"amount > 5\" }\n";
    let broken = "dataset: broken\nchecks:\n  - sql_metric: { name: gone, query: select count(*) from nowhere, max: 0 }\n";
    let project = Project::builder()
        .config(&format!(
            "version: 1\nwarehouses:\n  main: {{ url: \"{}\" }}\n\
             lineage:\n  emit:\n    url: {url}\n    namespace: quality\n    \
             api_key: ${{LINEAGE_KEY}}\nchecks: [checks/]\n",
            warehouse.url
        ))
        .dataset("orders", orders)
        .dataset("broken", broken)
        .build();
    (warehouse, project)
}

/// The events received for `dataset`'s job, in order.
fn events_of(hook: &SlackHook, dataset: &str) -> Vec<Value> {
    let job = format!("tidemark.{dataset}");
    hook.delivered()
        .into_iter()
        .filter(|post| post.body["job"]["name"] == job.as_str())
        .map(|post| post.body)
        .collect()
}

/// Checks the START and COMPLETE events of a run of `orders` against its results, and
/// that Tidemark's own `POST /api/v1/lineage` parser reads them.
fn assert_orders_events(events: &[Value]) {
    let [start, complete] = events else {
        panic!("expected START and COMPLETE: {events:#?}");
    };
    assert_eq!(start["eventType"], "START");
    assert_eq!(complete["eventType"], "COMPLETE");
    assert_eq!(start["run"]["runId"], complete["run"]["runId"]);
    for event in [start, complete] {
        assert_eq!(event["job"]["namespace"], "quality", "{event:#}");
        assert_eq!(event["inputs"][0]["namespace"], "sqlite:main");
        assert_eq!(event["inputs"][0]["name"], "orders");
        assert_eq!(
            event["schemaURL"],
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        );
        assert!(
            event["producer"]
                .as_str()
                .is_some_and(|p| p.starts_with("https://"))
        );
        let parsed = tidemark::lineage::RunEvent::parse(event.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {event:#}"));
        assert_eq!(
            (parsed.job.as_str(), parsed.inputs.as_slice()),
            ("quality/tidemark.orders", ["orders".to_owned()].as_slice())
        );
    }
    let facets = &complete["inputs"][0]["inputFacets"];
    let assertions = &facets["dataQualityAssertions"];
    assert_eq!(
        assertions["_schemaURL"],
        "https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
    );
    assert_eq!(assertions["_producer"], complete["producer"]);
    assert_eq!(
        assertions["assertions"],
        serde_json::json!([
            { "assertion": "row_count", "success": true },
            { "assertion": "missing_count(customer_id)", "success": false, "column": "customer_id" },
            { "assertion": "missing_count(id)", "success": true, "column": "id" },
            { "assertion": "duplicate_count(id)", "success": false, "column": "id" },
            { "assertion": "min(amount)", "success": true, "column": "amount" },
            { "assertion": "max(amount)", "success": true, "column": "amount" },
            { "assertion": "max(id)", "success": false, "column": "id" },
        ])
    );
    let metrics = &facets["dataQualityMetrics"];
    assert_eq!(
        metrics["_schemaURL"],
        "https://openlineage.io/spec/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet"
    );
    // `max(id)` has its own filter: it measured part of the rows and is left out.
    assert_eq!(metrics["rowCount"], 4);
    assert_eq!(
        metrics["columnMetrics"],
        serde_json::json!({
            "amount": { "min": 2.0, "max": 7.5 },
            "customer_id": { "nullCount": 1 },
            "id": { "nullCount": 0, "distinctCount": 3 },
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tidemark_run_emits_start_and_complete_with_quality_facets() {
    let hook = SlackHook::start(&[]).await;
    let (_warehouse, project) = emitting_project(&hook.url).await;
    let dir = project.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run_tidemark_with_env(&dir, &["run"], &[("LINEAGE_KEY", EMIT_KEY)])
    })
    .await
    .expect("join the run");
    out.assert_code(2);
    assert!(!out.both().contains(EMIT_KEY), "{}", out.both());
    // `tidemark run` waits for its events before it exits: they are all here.
    assert_eq!(hook.delivered().len(), 4, "{:#?}", hook.delivered());
    assert_orders_events(&events_of(&hook, "orders"));
    assert!(
        hook.delivered()
            .iter()
            .all(|post| post.authorization.as_deref() == Some(&format!("Bearer {EMIT_KEY}")))
    );

    let broken = events_of(&hook, "broken");
    assert_eq!(broken.len(), 2, "{broken:#?}");
    assert_eq!(broken[1]["eventType"], "FAIL");
    let error = &broken[1]["run"]["facets"]["errorMessage"];
    assert_eq!(error["programmingLanguage"], "Rust");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere")),
        "{error:#}"
    );
    // Nothing was judged: no assertion passes or fails for a check that could not run.
    assert_eq!(
        broken[1]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tidemark_serve_emits_its_runs_and_its_own_api_reads_them() {
    let hook = SlackHook::start(&[]).await;
    let (_warehouse, project) = emitting_project(&hook.url).await;
    let env = [("LINEAGE_KEY", EMIT_KEY)];
    let created = run_tidemark_with_env(project.path(), &["token", "create", "."], &env);
    created.assert_code(0);
    let token = created.stdout.trim().to_owned();
    let server = ServeProcess::start(project.path(), &env);
    let run = http()
        .post(server.url("/api/v1/datasets/orders/run"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST run");
    assert_eq!(run.status(), StatusCode::ACCEPTED);
    let events = crate::support::eventually(
        "the run's START and COMPLETE",
        std::time::Duration::from_secs(60),
        || async {
            let events = events_of(&hook, "orders");
            (events.len() >= 2).then_some(events)
        },
    )
    .await;
    assert_orders_events(&events);
    for event in &events {
        let (status, recorded) = post(&server, Some(&token), event.to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::CREATED, "{recorded}");
        assert_eq!(recorded["job"], "quality/tidemark.orders");
        assert_eq!(recorded["inputs"], serde_json::json!(["orders"]));
    }
    assert!(!server.stderr().contains(EMIT_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_endpoint_changes_nothing_about_the_run_and_is_logged_without_secrets() {
    let hook = SlackHook::start(&[Answer::Status(500); 4]).await;
    let url = hook.url.replace("http://", "http://user:tok3n@");
    let (_warehouse, project) = emitting_project(&url).await;
    let dir = project.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run_tidemark_with_env(
            &dir,
            &["run", "--format", "json"],
            &[("LINEAGE_KEY", EMIT_KEY)],
        )
    })
    .await
    .expect("join the run");
    out.assert_code(2);
    assert_eq!(crate::support::summary(&out.json()), [4, 0, 3, 1]);
    assert_eq!(hook.requests().len(), 4);
    assert!(
        out.stderr
            .contains("OpenLineage event not sent: the endpoint answered 500"),
        "{}",
        out.both()
    );
    for secret in ["tok3n", EMIT_KEY] {
        assert!(!out.both().contains(secret), "{}", out.both());
    }
}

#[test]
fn an_invalid_emit_url_is_located_in_tidemark_yml() {
    let project = Project::builder()
        .config(
            "version: 1\nwarehouses: { main: { url: 'sqlite://w.db' } }\n\
             lineage:\n  emit:\n    url: marquez:5000/api/v1/lineage\n    api_key: k\n",
        )
        .dataset(
            "orders",
            "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n",
        )
        .build();
    let out = project.run(&["validate"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("tidemark.yml:5:10: 'url' must be an http:// or https:// URL"),
        "{}",
        out.both()
    );
    assert!(!out.stderr.contains("marquez:5000"), "{}", out.both());
}
