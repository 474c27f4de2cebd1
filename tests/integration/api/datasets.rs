//! `GET /datasets` and a dataset's health, checks, metric series and schema.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::fixtures::{seed, t0};
use super::{DAILY_NAME, EVENTS_NAME, ORDERS_NAME, Options, enc, rfc3339, start, text};

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
