//! Tokens: writes always need a valid one, reads when the server says so.

use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::json;
use uuid::Uuid;

use tidemark::web::{ROUTES, Verb};

use crate::support::run_tidemark;

use super::{As, ORDERS_NAME, Options, start};

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_a_valid_token() {
    let api = start(Options::default()).await;
    for (verb, template, path) in [
        (
            Verb::Post,
            "/datasets/{name}/run",
            "/datasets/analytics.orders/run",
        ),
        (Verb::Post, "/reload", "/reload"),
    ] {
        let reply = api.call(verb, template, path, As::Anonymous).await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
        let challenge = reply.headers[WWW_AUTHENTICATE].to_str().unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");

        for header in ["Bearer tm_0123", "Bearer", "Basic dXNlcjpwYXNz", "tm_0123"] {
            let reply = api.call(verb, template, path, As::Header(header)).await;
            reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(reply.headers.contains_key(WWW_AUTHENTICATE), "{header}");
        }
    }
    assert!(api.asked_to_run.lock().expect("lock").is_empty());

    // Reads are open by default.
    api.get("/datasets", "/datasets")
        .await
        .expect(StatusCode::OK);

    // A token made by the CLI works: only its hash is in the store both share.
    let out = tokio::task::spawn_blocking({
        let dir = api.project.path().to_owned();
        move || run_tidemark(&dir, &["token", "create", ".", "--name", "ci"])
    })
    .await
    .expect("join");
    out.assert_code(0);
    let token = out.stdout.trim().to_owned();
    assert!(
        token.starts_with("tm_") && token.len() == 67,
        "{}",
        out.both()
    );
    assert!(!out.stderr.contains(&token), "printed once, on stdout");
    let reply = api
        .call(Verb::Post, "/reload", "/reload", As::Token(&token))
        .await;
    assert_eq!(reply.expect(StatusCode::OK)["status"], "reloaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_need_a_token_when_the_server_says_so() {
    let api = start(Options {
        read_needs_token: true,
        ..Options::default()
    })
    .await;
    let token = As::Token(&api.token);
    for route in ROUTES.iter().filter(|r| r.verb == Verb::Get) {
        let path = route
            .path
            .replace("{name}", ORDERS_NAME)
            .replace("{check}", "row_count")
            .replace("{id}", &Uuid::new_v4().to_string());
        let anonymous = api.call(Verb::Get, route.path, &path, As::Anonymous).await;
        if matches!(route.path, "/health" | "/ready") {
            anonymous.expect(StatusCode::OK);
        } else {
            anonymous.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            let wrong = api
                .call(Verb::Get, route.path, &path, As::Token("tm_wrong"))
                .await;
            wrong.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            let with = api.call(Verb::Get, route.path, &path, token).await;
            assert_ne!(with.status, StatusCode::UNAUTHORIZED, "{path}");
        }
    }
    // The document says so too.
    let security = &api.doc["paths"]["/datasets"]["get"]["security"];
    assert_eq!(security, &json!([{ "bearer": [] }]));
    assert_eq!(api.doc["paths"]["/health"]["get"]["security"], json!([]));
}
