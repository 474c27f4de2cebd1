//! The check page and the dataset page's context, on the real `tidemark serve`: a check's
//! definition as written, its history chart (points read back to the stored values) and
//! paged results table, the feedback forms of a signed-in viewer; a dataset's freshness
//! timeline with SLA breaches, schema changes and lineage neighbours. The store is seeded
//! directly, as in `dashboard.rs`; hostile names are escaped everywhere.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

use tidemark::results::{Band, CheckResult, Outcome};
use tidemark::results::{Feedback, SnapshotColumn};
use tidemark::store::Store;

use crate::dashboard::{HOSTILE, OWNER, get, page};
use crate::support::{
    InProcessServer, Project, ServeProcess, Served, SqliteDb, api_token, eventually, past_result,
    record_past_run, record_past_run_with_snapshot,
};

/// A check name written to break out of HTML.
const HOSTILE_CHECK: &str = "<img src=x onerror=alert(6)>";
/// How many runs of `orders` are seeded: more than a page of results (50).
const RUNS: usize = 60;
/// The run whose row count was an anomaly.
const ANOMALY: usize = 55;
/// The runs whose data was older than the 2h freshness SLA.
const LATE: [usize; 2] = [20, 40];

/// How long a reload may take to show.
const RELOAD: std::time::Duration = std::time::Duration::from_secs(10);

/// The anomaly check's entry, exactly as `orders.yml` writes it (line 7).
const ENTRY: &str = "  - row_count:\n      anomaly: {}\n      description: Rows arrive hourly";

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string to JSON")
}

fn project(warehouse: &SqliteDb) -> Project {
    let config = format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\nowners:\n  team-a: {{}}\n  \
         team-raw: {{}}\n  {}: {{}}\nchecks: [checks/]\n",
        quote(&warehouse.url),
        quote(OWNER)
    );
    let orders = format!(
        "dataset: orders\nowner: team-a\nupstream: [raw]\nsla:\n  freshness: {{ column: \
         updated_at, within: 2h }}\nchecks:\n{ENTRY}\n  - row_count: {{ name: volume, min: 1 }}\n"
    );
    let hostile = format!(
        "dataset: {}\nowner: {}\nupstream: [orders]\nchecks:\n  - row_count: {{ name: {}, min: 1 }}\n",
        quote(HOSTILE),
        quote(OWNER),
        quote(HOSTILE_CHECK)
    );
    Project::builder()
        .config(&config)
        .dataset("orders", &orders)
        .dataset(
            "raw",
            "dataset: raw\nowner: team-raw\nchecks:\n  - row_count: { min: 1 }\n",
        )
        .dataset("hostile", &hostile)
        .build()
}

/// The row count of run `i`: a weekly-ish wobble, and one anomaly.
fn row_count(i: usize) -> f64 {
    if i == ANOMALY {
        5_000.0
    } else {
        1_000.0 + (i % 7) as f64 * 10.0
    }
}

/// The columns the table had at run `i`, when that run took a snapshot: `note` and a
/// hostile column added and `status` removed at run 30, `id` widened at run 45.
fn columns(i: usize) -> Option<Vec<SnapshotColumn>> {
    let columns: &[(&str, &str)] = match i {
        0 => &[("id", "integer"), ("status", "text")],
        30 => &[("id", "integer"), ("note", "text"), (HOSTILE, "text")],
        45 => &[("id", "bigint"), ("note", "text"), (HOSTILE, "text")],
        _ => return None,
    };
    let column = |(name, data_type): &(&str, &str)| SnapshotColumn {
        name: (*name).into(),
        data_type: (*data_type).into(),
    };
    Some(columns.iter().map(column).collect())
}

/// The results of `orders`' run `i`: its row count (with the band the anomaly threshold
/// expected, from the second run on) and its freshness in seconds.
fn orders_results(i: usize) -> Vec<CheckResult> {
    let anomalous = i == ANOMALY;
    let count = CheckResult {
        outcome: if anomalous {
            Outcome::Fail
        } else {
            Outcome::Pass
        },
        band: (i > 0).then_some(Band {
            lower: 900.0,
            upper: 1_100.0,
            anomalous,
        }),
        ..past_result("orders", "row_count", row_count(i))
    };
    let late = LATE.contains(&i);
    let freshness = CheckResult {
        kind: "freshness".into(),
        outcome: if late { Outcome::Fail } else { Outcome::Pass },
        ..past_result(
            "orders",
            "sla:freshness",
            if late { 10_800.0 } else { 1_800.0 },
        )
    };
    vec![count, freshness]
}

/// `RUNS` hourly runs of `orders` up to an hour ago; one passing run of `raw` and one
/// failing run of the hostile dataset. Returns when each `orders` run finished.
async fn seed(project: &Project) -> Vec<DateTime<Utc>> {
    let store = Store::open(None, project.path()).await.expect("the store");
    let now = Utc::now();
    let mut times = Vec::new();
    for i in 0..RUNS {
        let at = now - TimeDelta::hours((RUNS - i) as i64);
        record_past_run_with_snapshot(&store, "orders", at, orders_results(i), columns(i)).await;
        times.push(at);
    }
    let raw = past_result("raw", "row_count", 7.0);
    record_past_run(&store, "raw", now, vec![raw]).await;
    let hostile = CheckResult {
        outcome: Outcome::Fail,
        ..past_result(HOSTILE, HOSTILE_CHECK, 0.0)
    };
    record_past_run(&store, HOSTILE, now, vec![hostile]).await;
    times
}

/// The text between `start` and the next `end` after it.
fn between<'s>(text: &'s str, start: &str, end: &str) -> &'s str {
    let from = text.find(start).map(|i| i + start.len());
    let from = from.unwrap_or_else(|| panic!("{start:?} not found in:\n{text}"));
    let rest = &text[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The rows of the results table: each result's id and the text of its cells.
fn result_rows(body: &str) -> Vec<(i64, Vec<&str>)> {
    body.split(r#"<tr class="result-row"#)
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").expect("a closed row")];
            let id = between(row, r#"id="result-"#, "\"");
            let cells = row
                .split("<td>")
                .skip(1)
                .map(|cell| cell.split("</td>").next().unwrap_or_default().trim())
                .collect();
            (id.parse().expect("a result id"), cells)
        })
        .collect()
}

/// The value attribute `name` holds in an element's start tag `tag`.
fn attribute(tag: &str, name: &str) -> f64 {
    between(tag, &format!(" {name}=\""), "\"")
        .parse()
        .expect("a number")
}

/// What the chart draws, read back from positions through the y axis' labelled grid
/// lines: the values its line goes through and those its dots stand for (with each dot's
/// class), left to right; and how far off the rounding may put them.
fn charted_values(body: &str) -> Charted {
    let svg = between(body, r#"<svg class="chart""#, "</svg>");
    let ticks: Vec<(f64, f64)> = svg
        .split(r#"<line class="grid""#)
        .skip(1)
        .map(|tick| {
            let label = between(tick, r#"text-anchor="end">"#, "<");
            (attribute(tick, "y1"), label.parse().expect("a tick value"))
        })
        .collect();
    let [(y0, v0), .., (y1, v1)] = ticks[..] else {
        panic!("the chart has fewer than two ticks:\n{svg}");
    };
    let per_pixel = (v1 - v0) / (y1 - y0);
    let value = |y: f64| v0 + (y - y0) * per_pixel;
    let vertices: Vec<(f64, f64)> = between(svg, r#"<polyline class="series" points=""#, "\"")
        .split(' ')
        .map(|xy| {
            let (x, y) = xy.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect();
    assert!(vertices.windows(2).all(|w| w[0].0 < w[1].0), "{svg}");
    let dots: Vec<(f64, f64, String)> = svg
        .split("<circle ")
        .skip(1)
        .map(|dot| {
            let class = between(dot, "class=\"", "\"").to_owned();
            (attribute(dot, "cx"), value(attribute(dot, "cy")), class)
        })
        .collect();
    assert!(dots.windows(2).all(|w| w[0].0 < w[1].0), "{svg}");
    Charted {
        line: vertices.into_iter().map(|(_, y)| value(y)).collect(),
        dots: dots.into_iter().map(|(_, v, class)| (v, class)).collect(),
        // Every coordinate is rounded to a tenth of a pixel: the point's and the ticks'.
        tolerance: per_pixel.abs() * 0.2,
    }
}

/// A chart read back by [`charted_values`].
struct Charted {
    /// The values the line goes through, left to right.
    line: Vec<f64>,
    /// The values of the dots, left to right, with their classes.
    dots: Vec<(f64, String)>,
    tolerance: f64,
}

/// An HTTP client that leaves redirects to the test.
fn client() -> reqwest::Client {
    // reqwest has no TLS provider of its own here (see `support::http`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Percent-encodes a form value.
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST path` with a form body (and the session cookie): the status and `Location`.
async fn post(
    server: &impl Served,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> (StatusCode, String) {
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = client()
        .post(server.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let reply = request.send().await.expect("the server answers");
    let location = reply
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (reply.status(), location)
}

/// Signs in with a new API token; returns the session cookie (`name=value`).
async fn sign_in(server: &impl Served, project: &Project) -> String {
    let token = api_token(project.path());
    let reply = client()
        .post(server.url("/signin"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}&next=%2F", form_value(&token)))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let cookie = reply
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// `GET path` as the signed-in viewer holding `cookie`.
async fn page_as(server: &impl Served, path: &str, cookie: &str) -> String {
    let reply = client()
        .get(server.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(reply.status(), StatusCode::OK, "{path}");
    reply.text().await.expect("a body")
}

const CHECK_PAGE: &str = "/datasets/orders/checks/row_count";

#[tokio::test]
async fn the_check_page_shows_definition_chart_and_paged_history() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    let times = seed(&project).await;
    let server = ServeProcess::start(project.path(), &[]);

    let dataset = page(&server, "/datasets/orders").await;
    assert!(
        dataset.contains(&format!(r#"<h3><a href="{CHECK_PAGE}">row_count</a>"#)),
        "{dataset}"
    );

    let first = page(&server, CHECK_PAGE).await;
    assert!(first.contains(&format!("<code>{ENTRY}</code>")), "{first}");
    assert!(
        first.contains("From <code>checks/orders.yml</code>, line 7"),
        "{first}"
    );
    assert!(!first.contains(r#"class="notice""#), "{first}");
    assert!(first.contains("Rows arrive hourly"));

    // The line goes through every stored value (a short series is not thinned) where the
    // axis says it is; dots mark the anomaly and the latest value.
    let charted = charted_values(&first);
    assert_eq!(charted.line.len(), RUNS);
    for (i, value) in charted.line.iter().enumerate() {
        let stored = row_count(i);
        assert!(
            (value - stored).abs() <= charted.tolerance,
            "run {i}: {value} drawn for {stored}"
        );
    }
    let dots: Vec<&str> = charted.dots.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(dots, ["point anomalous", "point latest"]);
    for ((value, class), i) in charted.dots.iter().zip([ANOMALY, RUNS - 1]) {
        let stored = row_count(i);
        assert!(
            (value - stored).abs() <= charted.tolerance,
            "{class} dot: {value} drawn for {stored}"
        );
    }
    assert_eq!(first.matches(r#"class="point anomalous""#).count(), 1);
    assert_eq!(first.matches(r#"<polygon class="band""#).count(), 1);

    // Newest first, 50 a page, then the rest through the cursor.
    let rows = result_rows(&first);
    assert_eq!(rows.len(), 50);
    assert!(rows.windows(2).all(|w| w[0].0 > w[1].0));
    let values: Vec<&str> = rows.iter().map(|(_, cells)| cells[2]).collect();
    let newest: Vec<String> = (RUNS - 50..RUNS)
        .rev()
        .map(|i| row_count(i).to_string())
        .collect();
    assert_eq!(values, newest);
    let (_, anomaly) = &rows[RUNS - 1 - ANOMALY];
    assert_eq!(
        anomaly[1],
        r#"<span class="health health-fail">fail</span>"#
    );
    assert_eq!(
        anomaly[3],
        r#"900 – 1100 <span class="anomaly">anomaly</span>"#
    );
    let observed = times[RUNS - 1].format("%Y-%m-%d %H:%M UTC").to_string();
    assert_eq!(rows[0].1[0], observed);
    let last_id = rows[49].0;
    let older = format!("{CHECK_PAGE}?before={last_id}");
    let link = format!(r#"<a href="{CHECK_PAGE}?before&#x3D;{last_id}" rel="next">Older</a>"#);
    assert!(first.contains(&link), "{first}");
    assert!(!first.contains(">Newest</a>"));

    let second = page(&server, &older).await;
    let rows = result_rows(&second);
    let values: Vec<&str> = rows.iter().map(|(_, cells)| cells[2]).collect();
    let oldest: Vec<String> = (0..RUNS - 50)
        .rev()
        .map(|i| row_count(i).to_string())
        .collect();
    assert_eq!(values, oldest);
    assert!(rows.iter().all(|(id, _)| *id < last_id));
    assert!(second.contains(&format!(r#"<a href="{CHECK_PAGE}">Newest</a>"#)));
    assert!(!second.contains(">Older</a>"), "{second}");

    // Edited since the server loaded it: the page shows the file as it is, and says so.
    let file = project.path().join("checks/orders.yml");
    let text = std::fs::read_to_string(&file).expect("the dataset file");
    let edited = ENTRY.replace("hourly", "daily");
    std::fs::write(&file, text.replace(ENTRY, &edited)).expect("edit the dataset file");
    let body = page(&server, CHECK_PAGE).await;
    assert!(body.contains(&format!("<code>{edited}</code>")), "{body}");
    assert!(
        body.contains("The file has changed since the configuration was loaded"),
        "{body}"
    );

    // Reloaded: the edited entry is what runs now, so there is nothing to say.
    server.signal("HUP");
    let reloaded = eventually("the reload to reach the check page", RELOAD, || async {
        let body = page(&server, CHECK_PAGE).await;
        (!body.contains(r#"class="notice""#)).then_some(body)
    })
    .await;
    assert!(
        reloaded.contains(&format!("<code>{edited}</code>")),
        "{reloaded}"
    );

    let (status, _, body) = get(&server, &format!("{CHECK_PAGE}?before=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = get(&server, "/datasets/orders/checks/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("has no check named &quot;nothing&quot;"),
        "{body}"
    );
    let (status, _, _) = get(&server, "/datasets/nowhere/checks/row_count").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signed_in_viewers_mark_points_through_the_forms() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    let times = seed(&project).await;
    let server = InProcessServer::start(project.path()).await;

    // Signed out: no forms, and posting one is refused.
    let body = page(&server, CHECK_PAGE).await;
    assert!(!body.contains(r#"<form class="feedback""#));
    let rows = result_rows(&body);
    let (id, _) = rows[RUNS - 1 - ANOMALY];
    let action = format!("/results/{id}/feedback");
    let mark = |mark| [("mark", mark), ("csrf", "")];
    let (status, _) = post(&server, &action, &mark("incident"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let cookie = sign_in(&server, &project).await;
    let body = page_as(&server, CHECK_PAGE, &cookie).await;
    let form = format!(r#"<form class="feedback" method="post" action="{action}">"#);
    assert!(body.contains(&form), "{body}");
    let csrf = between(&body, r#"name="csrf" value=""#, "\"").to_owned();
    assert!(!csrf.is_empty());

    let with = |mark| [("mark", mark), ("csrf", csrf.as_str())];
    let (status, _) = post(&server, &action, &mark("incident"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&server, &action, &with("maybe"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &server,
        "/results/999999/feedback",
        &with("incident"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, location) = post(&server, &action, &with("incident"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{CHECK_PAGE}#result-{id}"));
    let store = Store::open(None, project.path()).await.expect("the store");
    let feedback_at = |at: DateTime<Utc>| {
        let store = &store;
        async move {
            let series = store.metric_series("orders", "row_count", None).await;
            let series = series.expect("the series");
            series.iter().find(|p| p.at == at).and_then(|p| p.feedback)
        }
    };
    let at = times[ANOMALY];
    // Stored times keep microseconds.
    let at = DateTime::from_timestamp_micros(at.timestamp_micros()).expect("a time");
    assert_eq!(feedback_at(at).await, Some(Feedback::Incident));
    let body = page_as(&server, CHECK_PAGE, &cookie).await;
    let row = between(&body, &format!(r#"id="result-{id}">"#), "</tr>");
    assert!(
        row.contains(r#"<span class="mark mark-incident">incident</span>"#),
        "{row}"
    );
    assert!(row.contains(r#"value="none">Clear</button>"#), "{row}");

    let (status, _) = post(&server, &action, &with("none"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(feedback_at(at).await, None);
}

#[tokio::test]
async fn the_dataset_page_shows_freshness_schema_changes_and_neighbours() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project).await;
    let server = InProcessServer::start(project.path()).await;

    let body = page(&server, "/datasets/orders").await;
    let freshness = between(&body, r#"<figure class="chart freshness">"#, "</figure>");
    let line = between(freshness, r#"<polyline class="series" points=""#, "\"");
    assert_eq!(line.split(' ').count(), RUNS, "{freshness}");
    // Dots for the breaches and the latest run only.
    assert_eq!(freshness.matches("<circle ").count(), LATE.len() + 1);
    assert_eq!(
        freshness.matches(r#"class="point breach""#).count(),
        LATE.len()
    );
    assert_eq!(freshness.matches(r#"class="point latest""#).count(), 1);
    assert!(
        freshness.contains("<title>fail max 2</title>"),
        "{freshness}"
    );
    assert!(body.contains("SLA breaches: 2"), "{body}");

    let schema = between(&body, "<h2>Schema changes</h2>", "</table>");
    assert_eq!(
        schema.matches(r#"<tr class="schema-change">"#).count(),
        3,
        "{schema}"
    );
    assert!(schema.contains(r#"<span class="column added">+ note <code>text</code></span>"#));
    assert!(schema.contains(r#"<span class="column removed">− status <code>text</code></span>"#));
    assert!(schema.contains(
        r#"<span class="column retyped">id <code>integer</code> → <code>bigint</code></span>"#
    ));
    assert!(schema.contains("First snapshot (columns: 2)"));
    assert!(schema.contains("+ &lt;script&gt;alert(1)&lt;/script&gt; <code>text</code>"));

    let lineage = between(&body, "<h2>Lineage</h2>", "<h2>Schema changes</h2>");
    assert!(
        // (`=` escaped as in every attribute handlebars writes.)
        lineage.contains(r#"<a href="/lineage?dataset&#x3D;orders">"#),
        "{lineage}"
    );
    let upstream = between(lineage, "<h3>Upstream</h3>", "<h3>Downstream</h3>");
    assert!(
        upstream.contains(
            r#"<td><a href="/datasets/raw">raw</a></td><td><span class="health health-pass">pass</span></td><td>team-raw</td>"#
        ),
        "{upstream}"
    );
    let downstream = between(lineage, "<h3>Downstream</h3>", "</table>");
    assert!(
        downstream.contains(
            r#"<a href="/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E">&lt;script&gt;alert(1)&lt;/script&gt;</a></td><td><span class="health health-fail">fail</span></td><td>&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt;</td>"#
        ),
        "{downstream}"
    );

    // The hostile dataset's page, its neighbour and its check's page: all text escaped
    // (`page` refuses raw tags).
    let hostile = page(&server, "/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E").await;
    let check = "/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E/checks/\
                 %3Cimg%20src%3Dx%20onerror%3Dalert%286%29%3E";
    assert!(
        hostile.contains(&format!(r#"<a href="{check}">"#)),
        "{hostile}"
    );
    assert!(hostile.contains(r#"<a href="/datasets/orders">orders</a>"#));
    let body = page(&server, check).await;
    assert!(
        body.contains("<h1>&lt;img src&#x3D;x onerror&#x3D;alert(6)&gt; "),
        "{body}"
    );
    assert!(body.contains(
        "name: &quot;&lt;img src&#x3D;x onerror&#x3D;alert(6)&gt;&quot;, min: 1 }</code>"
    ));
    assert!(body.contains(">&lt;script&gt;alert(1)&lt;/script&gt;</a> /</p>"));
}
