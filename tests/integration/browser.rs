//! The dashboard in a real headless Chromium (see `browser/driver.rs`), against the real
//! `tidemark serve` on a store seeded directly: every page loads with an empty console (no
//! failed load, no CSP violation), signed out and signed in; the overview's search and
//! filters work through the form; hostile names stay text and run nothing; a person signs
//! in with an API token and acknowledges an incident with its button, while the same form
//! posted from another origin is refused and changes nothing.
//!
//! With `TIDEMARK_SCREENSHOTS=DIR`, the ignored test `screenshots` writes a PNG of each
//! page of `tidemark demo` into DIR (the README's images are `docs/screenshots`):
//!
//! ```sh
//! TIDEMARK_SCREENSHOTS=docs/screenshots cargo test -p tidemark --test integration \
//!     browser::screenshots -- --ignored
//! ```

mod driver;
mod site;

use chrono::{DateTime, TimeDelta, Utc};
use fantoccini::Locator;
use serde_json::Value;

use tidemark::results::{Band, CheckResult, Outcome};
use tidemark::store::{Incident, Store};

use crate::support::{
    Project, ServeProcess, Served, SqliteDb, api_token, http, incident, past_result,
    record_past_run, store_incident,
};
use driver::{Browser, lines};
use site::{Reply, Site};

/// A dataset name that is a script: it must show as text and run nothing.
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
/// An owner whose markup, if it ever became markup, would set a probe variable.
const PROBE_OWNER: &str = "\"><img src=x onerror=\"window.tidemarkProbe=1;alert(2)\">";
const PROBE_DESCRIPTION: &str = "<svg onload=\"window.tidemarkProbe=3\"></svg>";

/// A JSON string, which is also a YAML double-quoted scalar.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string to JSON")
}

/// Datasets of three owners, two tags and all three healths, and the hostile one.
fn project(warehouse: &SqliteDb) -> Project {
    let config = format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\nowners:\n  team-a: {{}}\n  team-b: {{}}\n  \
         {}: {{}}\nchecks: [checks/]\n",
        quote(&warehouse.url),
        quote(PROBE_OWNER)
    );
    let anomaly = "checks:\n  - row_count: { anomaly: {} }\n  \
                   - row_count: { name: volume, warn: { min: 2 }, fail: { min: 1 } }\n";
    Project::builder()
        .config(&config)
        .dataset(
            "orders",
            &format!(
                "dataset: orders\nowner: team-a\ntags: [sales]\nupstream: [customers]\n{anomaly}"
            ),
        )
        .dataset(
            "order_items",
            &format!(
                "dataset: order_items\nowner: team-a\ntags: [sales]\nupstream: [orders]\n{anomaly}"
            ),
        )
        .dataset(
            "customers",
            &format!("dataset: customers\nowner: team-b\ntags: [crm]\n{anomaly}"),
        )
        .dataset(
            "hostile",
            &format!(
                "dataset: {}\nowner: {}\ntags: [web]\nchecks:\n  \
                 - row_count: {{ min: 1, description: {} }}\n",
                quote(SCRIPT_NAME),
                quote(PROBE_OWNER),
                quote(PROBE_DESCRIPTION)
            ),
        )
        .build()
}

/// `days` daily runs of `dataset`'s two checks ending at `now`, the last `outcome`d, with
/// a band from the second day (the anomaly detector's, as the chart draws it).
async fn history(store: &Store, dataset: &str, days: i64, now: DateTime<Utc>, last: Outcome) {
    for day in 0..days {
        let newest = day == days - 1;
        let wave = (day as f64 * 0.9).sin() * 40.0;
        let value = if newest && last == Outcome::Fail {
            9_000.0
        } else {
            1_000.0 + wave
        };
        let band = Band {
            lower: 900.0,
            upper: 1_100.0,
            anomalous: newest && last == Outcome::Fail,
        };
        let results: Vec<CheckResult> = vec![
            CheckResult {
                outcome: if newest { last } else { Outcome::Pass },
                band: (day > 0).then_some(band),
                ..past_result(dataset, "row_count", value)
            },
            past_result(dataset, "volume", value),
        ];
        record_past_run(store, dataset, now - TimeDelta::days(days - day), results).await;
    }
}

/// History for every dataset (orders fails, order_items warns, customers passes), one run
/// of the hostile dataset, and an open incident on orders. Returns the incident's id.
async fn seed(project: &Project, days: i64) -> i64 {
    let store = Store::open(None, project.path()).await.expect("the store");
    let now = Utc::now();
    history(&store, "orders", days, now, Outcome::Fail).await;
    history(&store, "order_items", days, now, Outcome::Warn).await;
    history(&store, "customers", days, now, Outcome::Pass).await;
    let hostile = CheckResult {
        message: PROBE_DESCRIPTION.into(),
        ..past_result(SCRIPT_NAME, "row_count", 3.0)
    };
    record_past_run(
        &store,
        SCRIPT_NAME,
        now - TimeDelta::hours(1),
        vec![hostile],
    )
    .await;
    let incident = Incident {
        sla: false,
        value: Some(9_000.0),
        expected: None,
        message: "9000 rows is outside the expected 900 to 1100".into(),
        ..incident("orders", "row_count", now - TimeDelta::hours(2))
    };
    store_incident(&store, incident, now).await
}

/// Every page of the dashboard, as paths, given the seeded incident's id.
fn pages(incident: i64) -> Vec<(&'static str, String)> {
    let hostile = "/datasets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E";
    vec![
        ("overview", "/".to_owned()),
        ("overview-filtered", "/?health=fail&q=ord".to_owned()),
        ("dataset", "/datasets/orders".to_owned()),
        ("dataset-hostile", hostile.to_owned()),
        ("check", "/datasets/orders/checks/row_count".to_owned()),
        ("check-hostile", format!("{hostile}/checks/row_count")),
        ("incidents", "/incidents".to_owned()),
        ("incident", format!("/incidents/{incident}")),
        ("lineage", "/lineage".to_owned()),
        (
            "lineage-focused",
            "/lineage?dataset=orders&depth=1".to_owned(),
        ),
        ("inbox", "/inbox".to_owned()),
        ("signin", "/signin".to_owned()),
    ]
}

/// Rows of the overview's table.
const ROWS: &str = "table.datasets tbody tr.dataset";

#[tokio::test]
async fn every_page_loads_without_console_errors() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    let incident = seed(&project, 10).await;
    let server = ServeProcess::start(project.path(), &[]);
    let browser = Browser::start().await;

    for (name, path) in pages(incident) {
        browser.open_cleanly(&server.url(&path)).await;
        // The stylesheet applied: a page that lost it would still load without errors
        // only if it never asked for it.
        let sheets = browser
            .client
            .execute("return document.styleSheets.length", Vec::new())
            .await
            .expect("count stylesheets");
        assert_eq!(sheets, Value::from(1), "{name} ({path}) has no stylesheet");
        // What a template shows when it prints an object where it expected text.
        let text = browser.text("body").await;
        assert!(
            !text.contains("[object"),
            "{name} ({path}) prints a structure as text:\n{text}"
        );
    }
    // A missing page: Chromium logs the document's own 404, and nothing else (its
    // stylesheet and icon load).
    let missing = server.url("/no/such/page");
    browser.open(&missing).await;
    let errors = browser.console_errors().await;
    let (own, other): (Vec<_>, Vec<_>) = errors
        .into_iter()
        .partition(|e| e.message.starts_with(&format!("{missing} ")) && e.message.contains("404"));
    assert!(
        own.len() == 1 && other.is_empty(),
        "{missing}: expected only its own 404, got:\n{}{}",
        lines(&own),
        lines(&other)
    );
    assert_eq!(
        browser.text("main p").await,
        "There is no page at this address."
    );
    // Anything logged late (Chromium asks for the icon after the load event).
    let late = browser.console_errors().await;
    assert!(late.is_empty(), "late console errors:\n{}", lines(&late));
    browser.close().await;
}

#[tokio::test]
async fn the_console_detector_sees_a_missing_stylesheet_and_a_csp_violation() {
    // The dashboard's own CSP, so the violation is the one a slip in a template would cause.
    let csp = "default-src 'none'; style-src 'self'; img-src 'self'";
    let site = Site::start(vec![
        (
            "/broken.html",
            Reply::html(
                "<!doctype html><html><head><title>broken</title>\
                 <link rel=\"stylesheet\" href=\"/missing.css\"></head>\
                 <body><p>broken</p><script>window.tidemarkProbe = 1;</script></body></html>",
            )
            .header("Content-Security-Policy", csp),
        ),
        (
            "/clean.html",
            Reply::html(
                "<!doctype html><html><head><title>clean</title></head><body>ok</body></html>",
            )
            .header("Content-Security-Policy", csp),
        ),
        ("/favicon.ico", Reply::empty()),
    ])
    .await;
    let browser = Browser::start().await;

    browser.open(&site.url("/clean.html")).await;
    let clean = browser.console_errors().await;
    assert!(clean.is_empty(), "a clean page logged:\n{}", lines(&clean));

    browser.open(&site.url("/broken.html")).await;
    let errors = browser.console_errors().await;
    let missing = errors.iter().any(|e| {
        e.source.as_deref() == Some("network")
            && e.message.contains("/missing.css")
            && e.message.contains("404")
    });
    let blocked = errors.iter().any(|e| {
        e.source.as_deref() == Some("security") && e.message.contains("Content Security Policy")
    });
    assert!(
        missing && blocked,
        "expected a 404 stylesheet and a CSP violation, got:\n{}",
        lines(&errors)
    );
    // The blocked script did not run.
    let probe = browser
        .client
        .execute("return typeof window.tidemarkProbe", Vec::new())
        .await
        .expect("read the probe");
    assert_eq!(probe, Value::from("undefined"));
    browser.close().await;
}

#[tokio::test]
async fn search_and_filters_narrow_the_overview() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project, 3).await;
    let server = ServeProcess::start(project.path(), &[]);
    let browser = Browser::start().await;

    browser.open_cleanly(&server.url("/")).await;
    assert_eq!(browser.count(ROWS).await, 4, "every dataset is listed");

    // Type into the search box and press the form's button, as a person would.
    let search = browser
        .client
        .find(Locator::Css("form.filters input[name=q]"))
        .await
        .expect("the search box");
    search.send_keys("ORDER").await.expect("type a search");
    submit_filters(&browser).await;
    assert_eq!(names(&browser).await, ["order_items", "orders"]);
    assert!(
        browser.url().await.contains("q=ORDER"),
        "the search is in the address: {}",
        browser.url().await
    );
    assert_eq!(browser.text("p.count").await, "2 of 4 datasets");

    // Narrow the search further by health; the search box kept its text.
    let health = browser
        .client
        .find(Locator::Css("form.filters select[name=health]"))
        .await
        .expect("the health filter");
    health.select_by_value("fail").await.expect("choose fail");
    submit_filters(&browser).await;
    assert_eq!(names(&browser).await, ["orders"]);

    // An owner alone; then a search that matches nothing.
    browser.open_cleanly(&server.url("/?owner=team-b")).await;
    assert_eq!(names(&browser).await, ["customers"]);
    browser
        .open_cleanly(&server.url("/?q=nothing-like-this"))
        .await;
    assert_eq!(browser.count(ROWS).await, 0);
    assert_eq!(browser.text("p.empty").await, "No dataset matches.");
    browser.close().await;
}

/// Clicks the filter form's button and waits for the page it leads to.
async fn submit_filters(browser: &Browser) {
    let before = browser.url().await;
    let form = browser
        .client
        .form(Locator::Css("form.filters"))
        .await
        .expect("the filter form");
    form.submit().await.expect("submit the filters");
    crate::support::eventually(
        "the filtered overview to load",
        std::time::Duration::from_secs(30),
        || async { (browser.url().await != before).then_some(()) },
    )
    .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors:\n{}", lines(&errors));
}

/// The dataset names the overview lists, sorted.
async fn names(browser: &Browser) -> Vec<String> {
    let links = browser
        .client
        .find_all(Locator::Css(&format!("{ROWS} td:first-child a")))
        .await
        .expect("the rows' links");
    let mut names = Vec::new();
    for link in links {
        names.push(link.text().await.expect("a link's text"));
    }
    names.sort();
    names
}

#[tokio::test]
async fn a_hostile_dataset_name_is_shown_as_text_and_runs_nothing() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project, 2).await;
    let server = ServeProcess::start(project.path(), &[]);
    let browser = Browser::start().await;

    browser.open_cleanly(&server.url("/?tag=web")).await;
    assert_eq!(names(&browser).await, [SCRIPT_NAME]);
    // Follow the link, as a person would: the name is one path segment, encoded.
    browser
        .client
        .find(Locator::Css(&format!("{ROWS} td:first-child a")))
        .await
        .expect("the hostile dataset's link")
        .click()
        .await
        .expect("follow the link");
    crate::support::eventually(
        "the hostile dataset's page",
        std::time::Duration::from_secs(30),
        || async { browser.url().await.contains("/datasets/").then_some(()) },
    )
    .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors:\n{}", lines(&errors));

    let heading = browser.text("h1").await;
    assert!(
        heading.starts_with(SCRIPT_NAME),
        "the heading shows the name as text: {heading:?}"
    );
    assert_eq!(
        browser.text("dl.facts dd:nth-of-type(2)").await,
        PROBE_OWNER,
        "the owner is text"
    );
    assert_eq!(browser.text("p.description").await, PROBE_DESCRIPTION);
    // Nothing of it became an element.
    for css in ["main script", "main img", "main iframe", "main svg[onload]"] {
        assert_eq!(browser.count(css).await, 0, "{css} in the page");
    }
    // No alert is open, and no injected handler ran.
    let alert = browser.client.get_alert_text().await;
    assert!(alert.is_err(), "an alert is open: {alert:?}");
    let probe = browser
        .client
        .execute("return typeof window.tidemarkProbe", Vec::new())
        .await
        .expect("read the probe");
    assert_eq!(probe, Value::from("undefined"), "an injected handler ran");
    browser.close().await;
}

/// Signs in at the dashboard at `base` through the form with `token`, and waits for the
/// page it leads to.
async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.open_cleanly(&format!("{base}/signin")).await;
    let form = browser
        .client
        .form(Locator::Css("form.signin"))
        .await
        .expect("the sign-in form");
    browser
        .client
        .find(Locator::Css("form.signin input[name=token]"))
        .await
        .expect("the token field")
        .send_keys(token)
        .await
        .expect("type the token");
    form.submit().await.expect("submit the sign-in form");
    eventually_url(browser, "the page after signing in", |url| {
        !url.contains("/signin")
    })
    .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors:\n{}", lines(&errors));
    assert_eq!(
        browser.count("form[action='/signout']").await,
        1,
        "signed in, the header offers to sign out"
    );
}

/// Waits until the address satisfies `wanted`.
async fn eventually_url(browser: &Browser, what: &str, wanted: impl Fn(&str) -> bool) {
    crate::support::eventually(what, std::time::Duration::from_secs(30), || async {
        wanted(&browser.url().await).then_some(())
    })
    .await;
}

/// The incident's status, as the JSON API reports it.
async fn api_status(server: &ServeProcess, id: i64) -> String {
    let url = server.url(&format!("/api/v1/incidents/{id}"));
    let reply = http().get(&url).send().await.expect("the API answers");
    assert!(reply.status().is_success(), "GET {url}: {}", reply.status());
    let body: Value = reply.json().await.expect("JSON");
    body["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status in {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_signed_in_person_acknowledges_an_incident_and_forged_forms_are_refused() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    let incident = seed(&project, 3).await;
    let token = api_token(project.path());
    let server = ServeProcess::start(project.path(), &[]);
    let page = server.url(&format!("/incidents/{incident}"));
    // Another origin on the same host (same site, so the browser sends the SameSite=Strict
    // cookie along): only the server's Origin and csrf checks stand in the way.
    let forged = format!(
        "<!doctype html><html><head><title>win a prize</title></head><body>\
         <form method=\"post\" action=\"{page}/acknowledge\">\
         <button type=\"submit\">Claim</button></form></body></html>"
    );
    let site = Site::start(vec![
        ("/prize.html", Reply::html(&forged)),
        ("/favicon.ico", Reply::empty()),
    ])
    .await;
    let browser = Browser::start().await;

    // Signed out, the incident page offers no actions.
    browser.open_cleanly(&page).await;
    assert_eq!(browser.count("section.actions form").await, 0);

    sign_in(&browser, &server.base, &token).await;
    // Signed in, every page still loads cleanly (the action forms among them).
    for (name, path) in pages(incident) {
        browser.open_cleanly(&server.url(&path)).await;
        assert!(
            !browser
                .client
                .title()
                .await
                .expect("a title")
                .starts_with("Not Found"),
            "{name}: {path} is missing"
        );
    }

    // The forged form, sent from the other origin by a signed-in person's click.
    browser.open(&site.url("/prize.html")).await;
    browser
        .client
        .find(Locator::Css("button"))
        .await
        .expect("the forged button")
        .click()
        .await
        .expect("click the forged button");
    eventually_url(
        &browser,
        "the dashboard's answer to the forged form",
        |url| url.starts_with(&server.base),
    )
    .await;
    let refusal = browser.text("main").await;
    assert!(
        refusal.contains("sent from another site"),
        "the forged form was not refused: {refusal}"
    );
    // (The refusal is a 403 page, which Chromium logs; that is the point here.)
    browser.console().await;
    assert_eq!(api_status(&server, incident).await, "open");

    // The real button, on the incident's own page.
    browser.open_cleanly(&page).await;
    let acknowledge = browser
        .client
        .find(Locator::XPath(
            "//section[@class='actions']//button[normalize-space()='Acknowledge']",
        ))
        .await
        .expect("the Acknowledge button");
    acknowledge.click().await.expect("click Acknowledge");
    // POST, then a 303 back to the same page: wait for what it shows, not for the URL.
    crate::support::eventually(
        "the incident page to show it acknowledged",
        std::time::Duration::from_secs(30),
        || async {
            let status = browser.client.find(Locator::Css("h1 .status")).await.ok()?;
            (status.text().await.ok()? == "acknowledged").then_some(())
        },
    )
    .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors:\n{}", lines(&errors));
    assert_eq!(api_status(&server, incident).await, "acknowledged");
    browser.close().await;
}

/// `tidemark demo` on a fresh folder: the product's own demo (60 days of history with placed
/// problems, incidents, alerts in the inbox), which is what the README shows. Killed when
/// dropped.
struct Demo {
    child: std::process::Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Demo {
    fn start() -> Demo {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::Builder::new()
            .prefix("tidemark-demo-")
            .tempdir()
            .expect("a folder for the demo");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .args(["demo", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path())
            .env_remove("TIDEMARK_STORE_URL")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tidemark demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads on to the end, so the demo never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("dashboard: ") {
                    let _ = ready_tx.send(url.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let base = ready
            .recv_timeout(std::time::Duration::from_secs(300))
            .expect("tidemark demo prints `dashboard: http://ADDR/` within 5 minutes");
        Demo { child, dir, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /api/v1/{path}` as JSON.
    async fn api(&self, path: &str) -> Value {
        let url = self.url(&format!("/api/v1/{path}"));
        let reply = http().get(&url).send().await.expect("the API answers");
        assert!(reply.status().is_success(), "GET {url}: {}", reply.status());
        reply.json().await.expect("JSON")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a PNG of each page of the demo into `$TIDEMARK_SCREENSHOTS` (run on purpose, see
/// the module comment), signed in as the people who act on incidents are.
#[tokio::test]
#[ignore = "writes screenshots: TIDEMARK_SCREENSHOTS=docs/screenshots ... -- --ignored"]
async fn screenshots() {
    let Some(dir) = std::env::var_os("TIDEMARK_SCREENSHOTS") else {
        panic!("set TIDEMARK_SCREENSHOTS to the folder the PNGs go to (docs/screenshots)");
    };
    // A relative folder is taken from the repository's root: tests run in the package's
    // folder (backend/), which is not where the command was typed.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join(dir);
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    let demo = Demo::start();
    let token = api_token(demo.dir.path());
    // The newest incident: its dataset and check are the pages worth showing.
    let incidents = demo.api("incidents").await;
    let incident = &incidents["items"][0];
    let (id, dataset, check) = (
        incident["id"].as_i64().expect("an incident id"),
        incident["dataset"]
            .as_str()
            .expect("its dataset")
            .to_owned(),
        incident["check"].as_str().expect("its check").to_owned(),
    );
    let browser = Browser::start().await;
    sign_in(&browser, &demo.base, &token).await;

    let shots = [
        ("overview", "/".to_owned()),
        ("dataset", format!("/datasets/{dataset}")),
        ("check", format!("/datasets/{dataset}/checks/{check}")),
        ("incidents", "/incidents".to_owned()),
        ("incident", format!("/incidents/{id}")),
        ("lineage", "/lineage".to_owned()),
        ("inbox", "/inbox".to_owned()),
    ];
    for (name, path) in shots {
        browser.open_cleanly(&demo.url(&path)).await;
        let png = browser.screenshot().await;
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        eprintln!("wrote {}", file.display());
    }
    browser.close().await;
}
