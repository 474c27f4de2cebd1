//! `tidemark demo`: the whole product from one command, with no setup, checked through HTTP
//! as someone opening the dashboard for the first time would see it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::forms::{Visitor, csrf_of};
use crate::support::{ServeProcess, Served, eventually, http};

/// Waits long enough for the outbox to deliver the back-filled alerts on a busy machine.
const DELIVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[tokio::test]
async fn the_demo_serves_history_incidents_and_an_inbox_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let project = dir.path().join("demo");
    let project = project.to_str().expect("a UTF-8 path");
    let args = ["demo", "--dir", project, "--listen", "127.0.0.1:0"];
    // Slack configured too (at a closed port): the back-filled past must not be sent there.
    let slack = [
        ("TIDEMARK_DEMO_SLACK_CHANNEL", "data-slack"),
        ("TIDEMARK_DEMO_SLACK_URL", "http://127.0.0.1:9/slack"),
    ];
    let mut demo = ServeProcess::start_with(dir.path(), &args, "dashboard: ", &slack);
    assert!(demo.base.ends_with('/'), "{}", demo.base);
    demo.base = demo.base.trim_end_matches('/').to_owned();
    let client = http();
    let get = |path: &str| {
        let request = client.get(demo.url(path));
        async move {
            let response = request.send().await.expect("the demo answers");
            assert!(response.status().is_success(), "{}", response.status());
            response.text().await.expect("a body")
        }
    };

    let overview = get("/").await;
    assert!(overview.contains("health-pass"), "{overview}");
    assert!(overview.contains("health-fail"), "{overview}");

    let orders = get("/datasets/orders").await;
    assert!(orders.contains(r#"<polygon class="band""#), "{orders}");

    let series: Value =
        serde_json::from_str(&get("/api/v1/datasets/orders/metrics/volume").await).expect("JSON");
    let times: Vec<DateTime<Utc>> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["at"].as_str()?.parse().ok())
        .collect();
    let span = times
        .last()
        .zip(times.first())
        .map(|(last, first)| *last - *first);
    assert!(
        span.is_some_and(|span| span.num_days() >= 59),
        "{span:?} of history"
    );

    let open: Value =
        serde_json::from_str(&get("/api/v1/incidents?status=open").await).expect("JSON");
    let open = open["items"].as_array().expect("items");
    let stalled = open
        .iter()
        .find(|i| i["dataset"] == "events" && i["check"] == "freshness(occurred_at)")
        .expect("the stalled events loader has an open incident");
    let downstream = open
        .iter()
        .find(|i| i["dataset"] == "sessions" && i["check"] == "freshness(ended_at)")
        .expect("sessions, built from events, have an open incident");
    assert_eq!(downstream["cause"], stalled["id"], "{downstream}");
    // Its page names the cause upstream and what it puts at risk downstream, with owners.
    let page = get(&format!("/incidents/{}", downstream["id"])).await;
    let impact = page
        .split_once("Impact downstream")
        .map(|(_, after)| after)
        .unwrap_or_default();
    assert!(impact.contains("engagement"), "{page}");
    assert!(impact.contains("marketing-team"), "{page}");

    let inbox = eventually("a delivered alert in the inbox", DELIVERY, || async {
        let page = get("/inbox").await;
        page.contains("inbox-message").then_some(page)
    })
    .await;
    assert!(inbox.contains("events"), "{inbox}");
    assert!(!inbox.contains("<script"), "{inbox}");

    // Past openings and resolutions went to the inbox only; Slack hears at most reminders
    // of what is open now.
    let sent: Value =
        serde_json::from_str(&get("/api/v1/notifications?limit=1000").await).expect("JSON");
    let sent = sent["items"].as_array().expect("items");
    assert!(sent.iter().any(|n| n["channel"] == "inbox"), "{sent:?}");
    let past_to_slack: Vec<&Value> = sent
        .iter()
        .filter(|n| n["channel"] == "data-slack" && n["transition"] != "reminder")
        .collect();
    assert!(past_to_slack.is_empty(), "{past_to_slack:?}");

    // A newcomer signs in with the token the demo printed and acknowledges the incident.
    let printed = demo.printed_before_ready();
    let token = printed
        .split_whitespace()
        .find(|word| word.starts_with("tm_"))
        .unwrap_or_else(|| panic!("no sign-in token printed:\n{printed}"))
        .to_owned();
    let incident = format!("/incidents/{}", downstream["id"]);
    let mut visitor = Visitor::new(demo);
    visitor.sign_in(&token, &incident).await;
    let page = visitor.get(&incident).await;
    let csrf = csrf_of(&page.body);
    let acknowledge = format!("{incident}/acknowledge");
    let reply = visitor.post(&acknowledge, &[("csrf", &csrf)], &[]).await;
    assert_eq!(
        reply.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        reply.body
    );
    let id = downstream["id"].as_i64().expect("an incident id");
    let acknowledged = visitor.api_incident(id).await;
    assert_eq!(acknowledged["status"], "acknowledged", "{acknowledged}");

    let demo = &mut visitor.server;
    demo.signal("TERM");
    let status = demo.wait_exit(std::time::Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}; stderr:\n{}",
        demo.stderr()
    );
}

/// The demo's history is drawn relative to the moment it starts, and the datasets run on
/// different cadences: whatever the hour, the stale sessions are linked to the events
/// stall that caused them.
#[tokio::test]
async fn at_any_hour_the_stale_sessions_are_caused_by_the_events_stall() {
    use tidemark::store::Store;
    let dir = tempfile::tempdir().expect("a temporary folder");
    tidemark::demo::prepare(dir.path(), true)
        .await
        .expect("prepare the demo");
    let project = tidemark::spec::load(dir.path()).expect("the demo project loads");
    let names = ["events".to_owned(), "sessions".to_owned()];
    // 5- and 7-hour cadences line up again after 35 hours; 7 starts spread over them.
    for hour in (0..35).step_by(5) {
        let now = Utc::now() + chrono::TimeDelta::hours(hour) + chrono::TimeDelta::minutes(hour);
        let root = dir.path().join(format!("store-{hour}"));
        let store = Store::open(None, &root).await.expect("a fresh store");
        tidemark::demo::backfill(&store, &project, now)
            .await
            .expect("the history is recorded");
        let latest = store.latest_incidents(&names).await.expect("incidents");
        let open = |dataset: &str, check: &str| {
            latest
                .iter()
                .find(|i| i.dataset == dataset && i.check == check && i.status.is_active())
                .unwrap_or_else(|| panic!("{hour}h: no open {dataset} incident: {latest:?}"))
        };
        let stalled = open("events", "freshness(occurred_at)");
        let stale = open("sessions", "freshness(ended_at)");
        assert_eq!(stale.cause, Some(stalled.id), "{hour}h: {latest:?}");
    }
}
