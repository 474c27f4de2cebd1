//! The route table: every endpoint of the API once, with its method, path and who may call
//! it. The router and the OpenAPI document are both built from [`ROUTES`], and each
//! [`Operation`] is matched exhaustively by both, so an endpoint cannot be served without
//! being documented or documented without being served.

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::error::ApiError;
use super::{
    AppState, auth, commands, datasets, health, incidents, lineage, openapi, results, runs,
};

/// Where the API is mounted; paths in [`ROUTES`] and in the OpenAPI document are relative
/// to it (the document's `servers` entry).
pub const API_PREFIX: &str = "/api/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// Lowercase, as OpenAPI path items name operations.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }
}

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: probes for load balancers and orchestrators.
    Public,
    /// Anyone, unless the server requires a token for reading.
    Read,
    /// Holders of an API token only.
    Write,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Health,
    Ready,
    OpenApi,
    ListDatasets,
    GetDataset,
    MetricSeries,
    SchemaHistory,
    RunDataset,
    ListRuns,
    GetRun,
    ListResults,
    MarkResult,
    Reload,
    ListIncidents,
    GetIncident,
    IncidentEvents,
    AcknowledgeIncident,
    ResolveIncident,
    MuteIncident,
    ListNotifications,
    RecordLineage,
    GetLineage,
}

#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub verb: Verb,
    /// axum 0.8 and OpenAPI write path parameters alike: `/datasets/{name}`.
    pub path: &'static str,
    pub access: Access,
    pub operation: Operation,
}

const fn route(verb: Verb, path: &'static str, access: Access, operation: Operation) -> Route {
    Route {
        verb,
        path,
        access,
        operation,
    }
}

pub const ROUTES: [Route; 22] = {
    use Access::*;
    use Operation::*;
    use Verb::*;
    [
        route(Get, "/health", Public, Health),
        route(Get, "/ready", Public, Ready),
        route(Get, "/openapi.json", Read, OpenApi),
        route(Get, "/datasets", Read, ListDatasets),
        route(Get, "/datasets/{name}", Read, GetDataset),
        route(Get, "/datasets/{name}/metrics/{check}", Read, MetricSeries),
        route(Get, "/datasets/{name}/schema", Read, SchemaHistory),
        route(Post, "/datasets/{name}/run", Write, RunDataset),
        route(Get, "/runs", Read, ListRuns),
        route(Get, "/runs/{id}", Read, GetRun),
        route(Get, "/results", Read, ListResults),
        route(Post, "/results/{id}/feedback", Write, MarkResult),
        route(Post, "/reload", Write, Reload),
        route(Get, "/incidents", Read, ListIncidents),
        route(Get, "/incidents/{id}", Read, GetIncident),
        route(Get, "/incidents/{id}/events", Read, IncidentEvents),
        route(
            Post,
            "/incidents/{id}/acknowledge",
            Write,
            AcknowledgeIncident,
        ),
        route(Post, "/incidents/{id}/mute", Write, MuteIncident),
        route(Post, "/incidents/{id}/resolve", Write, ResolveIncident),
        route(Get, "/notifications", Read, ListNotifications),
        route(Post, "/lineage", Write, RecordLineage),
        route(Get, "/lineage", Read, GetLineage),
    ]
};

/// The handler of each operation.
fn handler(operation: Operation, filter: MethodFilter) -> MethodRouter<AppState> {
    match operation {
        Operation::Health => on(filter, health::health),
        Operation::Ready => on(filter, health::ready),
        Operation::OpenApi => on(filter, openapi::serve),
        Operation::ListDatasets => on(filter, datasets::list),
        Operation::GetDataset => on(filter, datasets::get),
        Operation::MetricSeries => on(filter, datasets::metric_series),
        Operation::SchemaHistory => on(filter, datasets::schema_history),
        Operation::RunDataset => on(filter, commands::run_dataset),
        Operation::ListRuns => on(filter, runs::list),
        Operation::GetRun => on(filter, runs::get),
        Operation::ListResults => on(filter, results::list),
        Operation::MarkResult => on(filter, results::mark),
        Operation::Reload => on(filter, commands::reload),
        Operation::ListIncidents => on(filter, incidents::list),
        Operation::GetIncident => on(filter, incidents::get),
        Operation::IncidentEvents => on(filter, incidents::events),
        Operation::AcknowledgeIncident => on(filter, incidents::acknowledge),
        Operation::ResolveIncident => on(filter, incidents::resolve),
        Operation::MuteIncident => on(filter, incidents::mute),
        Operation::ListNotifications => on(filter, incidents::notifications),
        Operation::RecordLineage => on(filter, lineage::record),
        Operation::GetLineage => on(filter, lineage::graph),
    }
}

/// The JSON API, mounted under [`API_PREFIX`]. Unknown paths and methods under the prefix
/// answer with JSON errors too; paths outside it are left to whatever the caller merges in
/// (the dashboard).
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for route in ROUTES {
        let handler = handler(route.operation, route.verb.filter());
        let handler = match route.access {
            Access::Public => handler,
            Access::Read => {
                handler.route_layer(from_fn_with_state(state.clone(), auth::require_read_token))
            }
            Access::Write => {
                handler.route_layer(from_fn_with_state(state.clone(), auth::require_token))
            }
        };
        api = api.route(route.path, handler);
    }
    let api = api
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Router::new().nest(API_PREFIX, api)
}

async fn no_route() -> ApiError {
    ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use serde_json::Value;
    use tokio::sync::{mpsc, watch};
    use tower::ServiceExt;

    use super::*;
    use crate::store::Store;

    /// The router over a real SQLite store and a one-dataset project in a temporary folder.
    async fn app(dir: &std::path::Path) -> Router {
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap_or(dir)).expect("create a folder");
            std::fs::write(path, text).expect("write a file");
        };
        write(
            "tidemark.yml",
            "version: 1\nwarehouses:\n  main:\n    url: sqlite://w.db\nchecks: [checks/]\n",
        );
        write(
            "checks/orders.yml",
            "dataset: shop.Daily Orders\nchecks:\n  - row_count: { min: 1 }\n",
        );
        let project = crate::spec::load_with_env(dir, &|_| None).expect("a valid project");
        let url = format!("sqlite:{}", dir.join("store.db").display());
        let store = Store::open(Some(&url), dir).await.expect("open the store");
        let (_, project) = watch::channel(Arc::new(project));
        let (commands, _) = mpsc::channel(1);
        router(AppState {
            store: Arc::new(store),
            project,
            commands,
            read_needs_token: false,
            latest: Default::default(),
            trusted_proxies: Default::default(),
            alerting: None,
            impacts: Default::default(),
        })
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("a request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("the body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn routes_answer_in_json() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let app = app(dir.path()).await;

        let (status, body) = call(&app, "GET", "/api/v1/health").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        let (status, _) = call(&app, "GET", "/api/v1/ready").await;
        assert_eq!(status, StatusCode::OK);

        // Percent-decoded path segments: the space and the dot reach the lookup.
        let (status, body) = call(&app, "GET", "/api/v1/datasets/shop.Daily%20Orders").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "shop.Daily Orders");
        assert_eq!(body["health"], "unknown");
        let (status, body) = call(&app, "GET", "/api/v1/datasets/shop.Nightly%20Orders").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body["error"]["message"],
            "no dataset named \"shop.Nightly Orders\""
        );

        let (status, body) = call(&app, "POST", "/api/v1/reload").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, body) = call(&app, "GET", "/api/v1/nowhere").await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::NOT_FOUND, &Value::from("not_found"))
        );
        let (status, body) = call(&app, "PUT", "/api/v1/datasets").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}
