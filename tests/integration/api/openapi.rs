//! The OpenAPI document against the router: every route it serves is documented.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use tidemark::store::Store;
use tidemark::web::{API_PREFIX, ROUTES, Verb};

use super::fixtures::seed;
use super::{As, ORDERS_NAME, Options, enc, rfc3339, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let api = start(Options::default()).await;
    let history = seed(&api.store).await;
    let doc = api
        .get("/openapi.json", "/openapi.json")
        .await
        .expect(StatusCode::OK)
        .clone();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], API_PREFIX);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, operation) in item.as_object().expect("a path item") {
            documented.insert((verb.clone(), path.clone()));
            assert!(operation["operationId"].is_string(), "{verb} {path}");
            assert!(operation["responses"].is_object(), "{verb} {path}");
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.verb.name().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table, "the document and the route table differ");

    // Every route is served: none falls through to the router's 404 or 405.
    let run_id = history.runs[0].id.to_string();
    let incident_id = seed_incident(&api.store).await.to_string();
    let mute_until = enc(&rfc3339(Utc::now() + Duration::hours(1)));
    let all = tidemark::store::Page {
        limit: 100,
        before: None,
    };
    let result_id = api
        .store
        .results(&tidemark::store::ResultFilter::default(), all)
        .await
        .expect("the seeded results")
        .items
        .into_iter()
        .find(|r| r.result.value.is_some())
        .map(|r| r.id.to_string())
        .expect("a result with a value");
    for route in ROUTES {
        let id = if route.path.starts_with("/incidents/") {
            &incident_id
        } else if route.path.starts_with("/results/") {
            &result_id
        } else {
            &run_id
        };
        let mut path = route
            .path
            .replace("{name}", ORDERS_NAME)
            .replace("{check}", "row_count")
            .replace("{id}", id);
        if route.path.ends_with("/mute") {
            path.push_str(&format!("?until={mute_until}"));
        }
        if route.path.ends_with("/feedback") {
            path.push_str("?mark=incident");
        }
        let reply = api
            .call(route.verb, route.path, &path, As::Token(&api.token))
            .await;
        // POST /lineage takes an OpenLineage event: without one it answers its documented
        // 400, which shows it is served as well.
        let bodyless = route.verb == Verb::Post && route.path == "/lineage";
        assert!(
            reply.status.is_success() || (bodyless && reply.status == StatusCode::BAD_REQUEST),
            "{} {path} -> {}: {:#}",
            route.verb.name(),
            reply.status,
            reply.body
        );
    }
}

/// An open incident of `analytics.orders`, with a pending notification; its id.
async fn seed_incident(store: &Store) -> i64 {
    use tidemark::spec::Severity;
    use tidemark::store::{Incident, IncidentChange, IncidentStatus, NewNotification, Transition};
    let now = Utc::now();
    let incident = Incident {
        sla: false,
        severity: Severity::Medium,
        value: Some(0.0),
        expected: Some(json!({"min": 1})),
        message: "0 rows (expected at least 1)".into(),
        announced: Some(IncidentStatus::Open),
        last_notified_at: Some(now),
        ..crate::support::incident(ORDERS_NAME, "row_count", now)
    };
    let change = IncidentChange {
        incident,
        base: None,
        notifications: vec![NewNotification {
            transition: Transition::Opened,
            channel: "nowhere".into(),
            payload: json!({}),
        }],
        event: None,
    };
    store
        .write_incidents(&[change], now)
        .await
        .expect("write an incident");
    let incidents = store
        .latest_incidents(&[ORDERS_NAME.to_owned()])
        .await
        .expect("read it back");
    incidents[0].id
}
