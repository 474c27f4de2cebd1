//! Bad requests: invalid parameters are 400s naming the parameter, unknown things are
//! JSON 404s.

use reqwest::StatusCode;
use uuid::Uuid;

use tidemark::web::Verb;

use super::fixtures::seed;
use super::{As, Options, start, text};

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let api = start(Options::default()).await;
    let cases = [
        ("/results", "/results?limit=0", "limit"),
        ("/results", "/results?limit=1001", "limit"),
        ("/results", "/results?limit=many", "limit"),
        ("/results", "/results?limit=", "limit"),
        ("/results", "/results?before=soon", "before"),
        ("/results", "/results?outcome=bad", "outcome"),
        ("/results", "/results?run_id=42", "run_id"),
        ("/results", "/results?since=yesterday", "since"),
        ("/results", "/results?until=2026-13-01T00:00:00Z", "until"),
        (
            "/results",
            "/results?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z",
            "until",
        ),
        ("/results", "/results?datset=analytics.orders", "datset"),
        ("/results", "/results?check=a&check=b", "check"),
        ("/runs", "/runs?status=done", "status"),
        ("/runs", "/runs?trigger=cron", "trigger"),
        ("/runs", "/runs?limit=-5", "limit"),
        ("/runs/{id}", "/runs/not-a-uuid", "id"),
        ("/datasets", "/datasets?limit=5", "limit"),
        (
            "/datasets/{name}/metrics/{check}",
            "/datasets/analytics.orders/metrics/row_count?since=now",
            "since",
        ),
    ];
    for (template, path, parameter) in cases {
        let reply = api.get(template, path).await;
        let error = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_parameter");
        assert_eq!(error["parameter"], parameter, "{path}: {error:#}");
        assert!(
            text(&error["message"]).contains(parameter),
            "{path}: the message names the parameter: {error:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_things_are_json_404s() {
    let api = start(Options::default()).await;
    seed(&api.store).await;
    let token = As::Token(&api.token);
    let cases = [
        (
            Verb::Get,
            "/datasets/{name}",
            "/datasets/analytics.nope".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}",
            "/datasets/sales.Daily%20Order".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/schema",
            "/datasets/nope/schema".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/metrics/{check}",
            "/datasets/nope/metrics/row_count".to_owned(),
        ),
        (
            Verb::Get,
            "/datasets/{name}/metrics/{check}",
            "/datasets/analytics.orders/metrics/retired_check".to_owned(),
        ),
        (Verb::Get, "/runs/{id}", format!("/runs/{}", Uuid::new_v4())),
        (
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/nope/run".to_owned(),
        ),
    ];
    for (verb, template, path) in cases {
        let reply = api.call(verb, template, &path, token).await;
        reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(
        api.asked_to_run.lock().expect("lock").is_empty(),
        "an unknown dataset never reaches the scheduler"
    );

    // Outside the route table: still JSON.
    let reply = api.raw(reqwest::Method::GET, "/nope", As::Anonymous).await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    let reply = api
        .raw(reqwest::Method::DELETE, "/datasets", As::Anonymous)
        .await;
    reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
