//! `GET /runs`: paged and filtered as stored.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use tidemark::store::{RunStatus, Trigger};

use super::fixtures::{RunWanted, seed};
use super::{DAILY_NAME, ORDERS_NAME, Options, start};

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
