//! Commands to the scheduler: run now and reload.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use tidemark::web::{API_PREFIX, Verb};

use super::{As, ORDERS_NAME, Options, REFUSED, Reply, enc, start, text};

#[tokio::test(flavor = "multi_thread")]
async fn run_now_goes_through_the_scheduler() {
    let api = start(Options::default()).await;
    let token = As::Token(&api.token);
    let reply = api
        .call(
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
            token,
        )
        .await;
    let body = reply.expect(StatusCode::ACCEPTED);
    assert_eq!(body["dataset"], ORDERS_NAME);
    let run_id = text(&body["run_id"]).to_owned();
    let location = reply.headers[LOCATION].to_str().unwrap_or_default();
    assert_eq!(location, format!("{API_PREFIX}/runs/{run_id}"));

    let run = api.get("/runs/{id}", &format!("/runs/{run_id}")).await;
    let run = run.expect(StatusCode::OK);
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["status"], "running");

    // The scheduler declines: 409 with its reason, secrets masked.
    let path = format!("/datasets/{}/run", enc(REFUSED));
    let reply = api
        .call(Verb::Post, "/datasets/{name}/run", &path, token)
        .await;
    let error = reply.expect_error(StatusCode::CONFLICT, "run_refused");
    assert_eq!(
        error["message"],
        format!("{REFUSED} is already running against ***")
    );
    assert_eq!(
        *api.asked_to_run.lock().expect("lock"),
        [ORDERS_NAME, REFUSED]
    );

    // No scheduler: 503, not a hang.
    let alone = start(Options {
        scheduler: false,
        ..Options::default()
    })
    .await;
    let token = As::Token(&alone.token);
    let reply = alone
        .call(
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
            token,
        )
        .await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let reply = alone.call(Verb::Post, "/reload", "/reload", token).await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_applies_the_files_or_reports_their_problems() {
    let api = start(Options::default()).await;
    let token = As::Token(&api.token);
    let names = |reply: &Reply| -> BTreeSet<String> {
        reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect()
    };

    std::fs::write(
        api.project.path().join("checks/refunds.yml"),
        "dataset: analytics.refunds\nwarehouse: main\nchecks:\n  - row_count: { min: 0 }\n",
    )
    .expect("write a dataset file");
    let reply = api.call(Verb::Post, "/reload", "/reload", token).await;
    assert_eq!(reply.expect(StatusCode::OK)["status"], "reloaded");
    let list = api.get("/datasets", "/datasets").await;
    assert!(
        names(&list).contains("analytics.refunds"),
        "{:#}",
        list.body
    );
    api.get("/datasets/{name}", "/datasets/analytics.refunds")
        .await
        .expect(StatusCode::OK);

    std::fs::write(
        api.project.path().join("checks/broken.yml"),
        "dataset: analytics.broken\nwarehouse: main\nchecks:\n  - row_count: { min: 0 }\nownr: x\n",
    )
    .expect("write a broken dataset file");
    let reply = api.call(Verb::Post, "/reload", "/reload", token).await;
    let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration");
    let diagnostics = error["diagnostics"].as_array().expect("diagnostics");
    assert!(!diagnostics.is_empty(), "{error:#}");
    let root = api.project.path().display().to_string();
    for diagnostic in diagnostics {
        let line = text(diagnostic);
        let mut parts = line.splitn(4, ':');
        let (file, row, column) = (parts.next(), parts.next(), parts.next());
        assert_eq!(file, Some("checks/broken.yml"), "{line}");
        assert!(row.is_some_and(|r| r.parse::<u32>().is_ok()), "{line}");
        assert!(column.is_some_and(|c| c.parse::<u32>().is_ok()), "{line}");
        assert!(!line.contains(&root), "no server paths: {line}");
    }
    // The running configuration is unchanged.
    let list = api.get("/datasets", "/datasets").await;
    let names = names(&list);
    assert!(names.contains("analytics.refunds") && !names.contains("analytics.broken"));
}
