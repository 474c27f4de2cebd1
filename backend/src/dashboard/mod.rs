//! The dashboard: HTML pages rendered on the server from the templates in `frontend/`,
//! beside the JSON API and reading the same state ([`AppState`]). Server-rendered so that
//! it works without JavaScript, from the binary alone (no CDN, no node build step), and so
//! that every page has a stable URL an alert can link to (`/datasets/<name>`).
//!
//! | module   | owns                                                        |
//! |----------|-------------------------------------------------------------|
//! | `render` | the embedded templates and static files; escaping           |
//! | `views`  | what each page shows, formatted, with secrets masked        |
//! | `chart`  | metric history as an SVG line chart with band and thresholds |
//! | `lineage`| the lineage page: the graph around a dataset, grouped when large |
//! | `graph`  | a directed graph laid out in layers and drawn as SVG         |
//! | `session`| signing in with an API token, the [`Viewer`], csrf checks of forms |
//! | `check`  | a check's page (history, definition) and its feedback forms  |
//! | `context`| the dataset page's freshness, schema changes and neighbours  |
//! | `source` | a check's definition as written in its file                 |
//! | `incidents` | the incident list and pages, with cause, impact and actions |
//!
//! Reading is open, or, when the server requires a token for reading, open to signed-in
//! viewers: others are sent to `/signin` (browsers send no bearer tokens). Actions (forms
//! that POST) always need a signed-in viewer and the form's csrf value.

mod chart;
mod check;
mod context;
mod graph;
mod inbox;
mod incidents;
mod lineage;
mod render;
mod session;
mod source;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{TimeDelta, Utc};
use serde::Serialize;

use crate::spec::{Dataset, Project};
use crate::store::{Page, RunFilter, StoreError};
use crate::web::{ApiError, AppState, Latest};
use render::Pages;
use session::Viewer;
use source::LoadedSources;
use views::{DatasetPage, Filters, History, Overview};

/// How far back the dataset page charts each check.
const CHART_DAYS: i64 = 90;
/// How many of a dataset's runs its page lists.
const RECENT_RUNS: u32 = 20;

/// No scripts, styles only from this server, no framing: a value that slipped past the
/// escaping still could not run.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct Dashboard {
    state: AppState,
    pages: Arc<Pages>,
    /// The dataset files as the configuration in force was loaded from them.
    sources: LoadedSources,
}

/// The dashboard's routes, to merge beside the API; unknown paths outside the API get the
/// dashboard's 404 page. Fails only if a built-in template does not compile.
pub fn router(state: AppState) -> Result<Router, handlebars::TemplateError> {
    let dashboard = Dashboard {
        sources: LoadedSources::watch(state.project.clone()),
        state,
        pages: Arc::new(Pages::new()?),
    };
    Ok(Router::new()
        .route("/", get(overview))
        .route("/datasets/{name}", get(dataset))
        .route("/datasets/{dataset}/checks/{check}", get(check::page))
        .route("/lineage", get(lineage::page))
        .route("/inbox", get(inbox::page))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::page))
        .route_layer(from_fn_with_state(dashboard.clone(), open_reading))
        .route("/signin", get(session::sign_in_form).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/incidents/{id}/{action}", post(incidents::act))
        .route("/results/{id}/feedback", post(check::feedback))
        .route("/static/{file}", get(asset))
        .fallback(not_found)
        .with_state(dashboard))
}

/// Why a page could not be shown.
#[derive(Debug)]
enum PageError {
    NotFound(String),
    BadRequest(String),
    /// An action by a viewer who is not signed in (401).
    SignIn,
    /// An action refused: a wrong csrf value, another site's form (403).
    Forbidden(String),
    /// Logged where it happened; the page says only that it failed.
    Failed(StatusCode),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        tracing::error!(cause, "dashboard: {error}");
        PageError::Failed(error.status())
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        ApiError::from(error).into()
    }
}

/// The text of a message page.
#[derive(Serialize)]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    /// Offer the sign-in link.
    sign_in: bool,
}

impl Dashboard {
    /// The page `name` with `data` (and the `viewer`), or the error page the failure calls
    /// for.
    fn respond(
        &self,
        viewer: &Viewer,
        page: Result<(&str, impl Serialize), PageError>,
    ) -> Response {
        match page.and_then(|(name, data)| self.render(viewer, name, &data)) {
            Ok(body) => html(StatusCode::OK, body),
            Err(error) => self.fail(viewer, error),
        }
    }

    /// The page `name`: `data`'s fields and `viewer`, for the layout and action forms.
    fn render(
        &self,
        viewer: &Viewer,
        name: &str,
        data: &impl Serialize,
    ) -> Result<String, PageError> {
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!("dashboard: rendering {name} failed: {e}");
            PageError::Failed(StatusCode::INTERNAL_SERVER_ERROR)
        };
        let mut value = serde_json::to_value(data).map_err(|e| failed(&e))?;
        let viewer = serde_json::to_value(viewer).map_err(|e| failed(&e))?;
        let serde_json::Value::Object(fields) = &mut value else {
            return Err(failed(&"the page data is not an object"));
        };
        fields.insert("viewer".into(), viewer);
        self.pages.render(name, &value).map_err(|e| failed(&e))
    }

    /// The error page for `error`.
    fn fail(&self, viewer: &Viewer, error: PageError) -> Response {
        match error {
            PageError::NotFound(text) => self.message(viewer, StatusCode::NOT_FOUND, &text),
            PageError::BadRequest(text) => self.message(viewer, StatusCode::BAD_REQUEST, &text),
            PageError::SignIn => self.message(
                viewer,
                StatusCode::UNAUTHORIZED,
                "Sign in with an API token to do this.",
            ),
            PageError::Forbidden(text) => self.message(viewer, StatusCode::FORBIDDEN, &text),
            PageError::Failed(status) => self.message(
                viewer,
                status,
                "The page could not be read from the store. Try again in a moment.",
            ),
        }
    }

    fn message(&self, viewer: &Viewer, status: StatusCode, text: &str) -> Response {
        let title = status.canonical_reason().unwrap_or("Error");
        let sign_in = status == StatusCode::UNAUTHORIZED && !viewer.signed_in;
        let message = Message {
            title,
            text,
            sign_in,
        };
        match self.render(viewer, "message", &message) {
            Ok(body) => html(status, body),
            // Logged by render.
            Err(_) => (status, title.to_owned()).into_response(),
        }
    }
}

/// An HTML response with the headers every page carries.
fn html(status: StatusCode, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    (status, headers, body).into_response()
}

/// Lets page requests through unless the server requires a token for reading; then only
/// signed-in viewers read, and others are sent to sign in first (and then back here).
async fn open_reading(
    State(dashboard): State<Dashboard>,
    request: Request,
    next: Next,
) -> Response {
    if !dashboard.state.read_needs_token {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match session::viewer_of(&mut parts, &dashboard).await {
        Ok(viewer) if viewer.signed_in => next.run(Request::from_parts(parts, body)).await,
        Ok(_) => {
            let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            session::sign_in_first(here)
        }
        Err(response) => response,
    }
}

/// `GET /?owner=&tag=&warehouse=&health=&q=`
async fn overview(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    filters: Result<Query<Filters>, QueryRejection>,
) -> Response {
    dashboard.respond(&viewer, overview_page(&dashboard.state, filters).await)
}

async fn overview_page(
    state: &AppState,
    filters: Result<Query<Filters>, QueryRejection>,
) -> Result<(&'static str, Overview), PageError> {
    let Query(filters) = filters.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let project = state.project();
    let latest = Latest::current(state).await?;
    let names: Vec<String> = project.datasets.iter().map(|d| d.name.clone()).collect();
    let incidents = state.store.latest_incidents(&names).await?;
    Ok((
        "overview",
        Overview::new(&project, &latest, &incidents, &filters),
    ))
}

/// `GET /datasets/{name}`
async fn dataset(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    dashboard.respond(&viewer, dataset_page(&dashboard.state, name).await)
}

/// The project's dataset `name`, or the 404 page saying there is none.
fn find_dataset<'p>(project: &'p Project, name: &str) -> Result<&'p Dataset, PageError> {
    project
        .datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| PageError::NotFound(format!("There is no dataset named {name:?}.")))
}

async fn dataset_page(
    state: &AppState,
    name: Result<Path<String>, PathRejection>,
) -> Result<(&'static str, DatasetPage), PageError> {
    let Path(name) = name.map_err(|_| PageError::NotFound("No such page.".into()))?;
    let project = state.project();
    let dataset = find_dataset(&project, &name)?;
    let latest = Latest::current(state).await?;
    let since = Utc::now() - TimeDelta::days(CHART_DAYS);
    let filter = RunFilter {
        dataset: Some(name.clone()),
        ..RunFilter::default()
    };
    let page = Page {
        limit: RECENT_RUNS,
        before: None,
    };
    // The reads are independent: sent together, the page waits on the store about once
    // rather than once per check (2-6 ms per 90-day hourly series on Postgres; see
    // docs/benchmarks.md, "Dashboard: render times").
    let series = futures_util::future::try_join_all(
        dataset
            .checks
            .iter()
            .map(|check| state.store.metric_series(&name, &check.name, Some(since))),
    );
    let names = [name.clone()];
    let (series, runs, schema, incidents) = tokio::try_join!(
        series,
        state.store.runs(&filter, page),
        state.store.schema_history(&name),
        state.store.latest_incidents(&names),
    )?;
    let history = History {
        series,
        runs: runs.items,
        schema,
        lineage: state.lineage_graph().await?.0,
        incidents,
    };
    Ok((
        "dataset",
        DatasetPage::new(&project, dataset, &latest, &history),
    ))
}

/// `GET /static/{file}`: cached briefly, since a file's URL does not change with it.
async fn asset(
    State(dashboard): State<Dashboard>,
    file: Result<Path<String>, PathRejection>,
) -> Response {
    let Some((body, kind)) = file.ok().and_then(|Path(name)| render::asset(&name)) else {
        // Static files are open even when reading is not: no session lookup for them.
        return dashboard.fail(
            &Viewer::default(),
            PageError::NotFound("There is no such file.".into()),
        );
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

async fn not_found(State(dashboard): State<Dashboard>, viewer: Viewer) -> Response {
    let error = PageError::NotFound("There is no page at this address.".into());
    dashboard.fail(&viewer, error)
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::body::{Body, to_bytes};
    use tokio::sync::{mpsc, watch};
    use tower::ServiceExt;

    use super::*;
    use crate::store::Store;

    /// Writes a project of one dataset, `orders` with one check, into `dir` and loads it.
    pub(super) fn one_dataset_project(dir: &std::path::Path) -> crate::spec::Project {
        std::fs::create_dir_all(dir.join("checks")).expect("create checks/");
        let config =
            "version: 1\nwarehouses:\n  main:\n    url: sqlite://w.db\nchecks: [checks/]\n";
        std::fs::write(dir.join("tidemark.yml"), config).expect("write tidemark.yml");
        let dataset = "dataset: orders\nchecks:\n  - row_count: { min: 1 }\n";
        std::fs::write(dir.join("checks/orders.yml"), dataset).expect("write a dataset");
        crate::spec::load_with_env(dir, &|_| None).expect("a valid project")
    }

    /// The dashboard over a real SQLite store and a one-dataset project in `dir`.
    async fn app(dir: &std::path::Path, read_needs_token: bool) -> Router {
        let project = one_dataset_project(dir);
        let url = format!("sqlite:{}", dir.join("store.db").display());
        let store = Store::open(Some(&url), dir).await.expect("open the store");
        let (_, project) = watch::channel(Arc::new(project));
        let (commands, _) = mpsc::channel(1);
        let state = AppState {
            store: Arc::new(store),
            project,
            commands,
            read_needs_token,
            latest: Default::default(),
            trusted_proxies: Default::default(),
            alerting: None,
            impacts: Default::default(),
        };
        router(state).expect("the templates compile")
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, Response) {
        let request = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("a request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        (response.status(), response)
    }

    async fn text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("the body");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn closed_reading_sends_to_sign_in_but_serves_the_stylesheet() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let app = app(dir.path(), true).await;
        for (uri, next) in [
            ("/", "/"),
            ("/datasets/orders?x=1", "/datasets/orders%3Fx%3D1"),
        ] {
            let (status, response) = get(&app, uri).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
            let location = response.headers().get(header::LOCATION);
            let expected = format!("/signin?next={next}");
            assert_eq!(
                location.and_then(|v| v.to_str().ok()),
                Some(expected.as_str())
            );
        }
        let (status, _) = get(&app, "/static/style.css").await;
        assert_eq!(status, StatusCode::OK);
        let (status, response) = get(&app, "/signin?next=/datasets/orders").await;
        assert_eq!(status, StatusCode::OK);
        let page = text(response).await;
        assert!(
            page.contains(r#"name="next" value="/datasets/orders""#),
            "{page}"
        );
    }

    #[tokio::test]
    async fn bad_requests_get_pages_not_panics() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let app = app(dir.path(), false).await;
        let (status, response) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        let csp = response.headers().get(header::CONTENT_SECURITY_POLICY);
        assert_eq!(csp.and_then(|v| v.to_str().ok()), Some(CSP));
        assert!(text(response).await.contains("health-unknown"));

        let (status, response) = get(&app, "/?owner=a&owner=b").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text(response).await.contains("duplicate field"));
        let (status, _) = get(&app, "/datasets/%FF").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, response) = get(&app, "/datasets/orders").await;
        assert_eq!(status, StatusCode::OK);
        assert!(text(response).await.contains("No runs yet."));
    }
}
