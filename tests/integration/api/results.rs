//! `GET /results`: paged and filtered as stored.

use std::collections::BTreeSet;

use chrono::Duration;
use serde_json::Value;

use tidemark::results::Outcome;

use super::fixtures::{ResultWanted, seed, t0};
use super::{DAILY_NAME, ORDERS_NAME, Options, enc, rfc3339, start};

#[tokio::test(flavor = "multi_thread")]
async fn results_are_paged_and_filtered_as_stored() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;
    let total = history.results().count();

    // Every page, newest first, each result once.
    for limit in [7, 1000] {
        let items = api.walk("/results", "/results", limit).await;
        assert_eq!(items.len(), total, "limit {limit}");
        let ids: Vec<i64> = items
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] > w[1]),
            "not newest first: {ids:?}"
        );
    }
    let seeded: BTreeSet<(String, String)> = history
        .results()
        .map(|(run, r)| (run.id.to_string(), r.0.to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = api
        .walk("/results", "/results", 1000)
        .await
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap_or_default().to_owned(),
                r["check"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(served, seeded);

    // Filters, each compared with the seeded history and walked in small pages.
    let failed_or_first = &history.runs[0];
    let window = (t0() + Duration::minutes(60), t0() + Duration::minutes(200));
    let cases: Vec<(String, Box<ResultWanted<'_>>)> = vec![
        (
            format!("dataset={}", enc(DAILY_NAME)),
            Box::new(|run, _| run.dataset == DAILY_NAME),
        ),
        (
            format!("check={}", enc("missing_count(email)")),
            Box::new(|_, r| r.0 == "missing_count(email)"),
        ),
        ("outcome=warn".into(), Box::new(|_, r| r.1 == Outcome::Warn)),
        (
            format!("run_id={}", failed_or_first.id),
            Box::new(|run, _| run.id == failed_or_first.id),
        ),
        (
            format!("since={}&until={}", rfc3339(window.0), rfc3339(window.1)),
            Box::new(|run, _| run.finished_at >= window.0 && run.finished_at < window.1),
        ),
        (
            format!("dataset={ORDERS_NAME}&outcome=pass&check=row_count"),
            Box::new(|run, r| {
                run.dataset == ORDERS_NAME && r.1 == Outcome::Pass && r.0 == "row_count"
            }),
        ),
    ];
    for (query, wanted) in &cases {
        let items = api.walk("/results", &format!("/results?{query}"), 3).await;
        let want = history.results().filter(|(run, r)| wanted(run, r)).count();
        assert!(want > 0, "{query}: the seed should match something");
        assert_eq!(items.len(), want, "{query}");
        for item in &items {
            let run = history
                .runs
                .iter()
                .find(|run| item["run_id"] == run.id.to_string())
                .expect("a seeded run");
            let seed = run
                .results
                .iter()
                .find(|r| item["check"] == r.0)
                .expect("a seeded result");
            assert!(wanted(run, seed), "{query}: {item}");
        }
    }

    // The error message carried the secret URL; it is masked.
    let errors = api.walk("/results", "/results?outcome=error", 10).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["message"], "connection to *** refused");
    assert_eq!(errors[0]["value"], Value::Null);
}
