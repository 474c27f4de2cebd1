//! The HTTP side of `tidemark serve`: the JSON API under `/api/v1` (the dashboard pages,
//! in [`crate::dashboard`], read the same state). Handlers read the store and the current
//! project; actions (run a dataset now, reload the configuration) are sent to the scheduler
//! as [`ServerCommand`]s, so the web layer never runs checks itself.
//!
//! | module     | owns                                                                 |
//! |------------|----------------------------------------------------------------------|
//! | `router`   | the route table ([`ROUTES`]): paths, methods, access                 |
//! | `error`    | [`ApiError`] and the JSON error body                                 |
//! | `params`   | query and path parameters, each problem a 400 naming it              |
//! | `auth`     | API tokens and the bearer-token middleware                           |
//! | `health`   | liveness and readiness probes                                        |
//! | `datasets` | datasets with their health and checks, metric series, schema history |
//! | `runs`     | run history                                                          |
//! | `results`  | check result history                                                 |
//! | `commands` | actions sent to the scheduler: run now, reload                       |
//! | `incidents`| incidents (list, acknowledge, resolve, mute) and notifications       |
//! | `lineage`  | OpenLineage events in, the dataset graph and impact out              |
//! | `openapi`  | the OpenAPI 3.1 document                                             |
//! | `redact`   | masking the project's secrets in free text                           |

mod commands;
mod datasets;
mod error;
mod health;
mod incidents;
mod lineage;
mod openapi;
mod params;
mod proxies;
mod results;
mod router;
mod runs;

pub mod auth;

pub(crate) use crate::spec::Redactor;
pub(crate) use datasets::Latest;
pub use datasets::{Declared, Health, LatestCache};
pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use proxies::{ProxyNet, TrustedProxies};
pub(crate) use results::{mark_result, parse_mark};
pub use router::{API_PREFIX, Access, Operation, ROUTES, Route, Verb, router};

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::alerts::{Alerting, ImpactCache};
use crate::scheduler::ServerCommand;
use crate::spec::Project;
use crate::store::Store;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// The configuration in force; replaced as a whole on reload.
    pub project: watch::Receiver<Arc<Project>>,
    pub commands: mpsc::Sender<ServerCommand>,
    /// When set, reading the API also needs a bearer token (writing always does).
    pub read_needs_token: bool,
    /// The latest results as last read from the store (current health).
    pub latest: Arc<LatestCache>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The server's alerting, woken when an action enqueues notifications.
    pub alerting: Option<Arc<Alerting>>,
    /// The lineage graph built last (the alerting's, in a server).
    pub impacts: Arc<ImpactCache>,
}

impl AppState {
    /// The configuration in force now (a cheap clone; never hold the borrow across `await`).
    pub(crate) fn project(&self) -> Arc<Project> {
        Arc::clone(&self.project.borrow())
    }
}

/// A page of a listing: `{"items": [...], "next": <cursor or null>}`; `next` is passed as
/// `before` to get the following page.
#[derive(Debug, Serialize)]
pub struct PageBody<T> {
    items: Vec<T>,
    next: Option<i64>,
}

impl<T> PageBody<T> {
    /// A page from the store, with the project's secrets masked in each item by `redact`.
    fn redacted(
        paged: crate::store::Paged<T>,
        state: &AppState,
        redact: impl Fn(T, &Redactor) -> T,
    ) -> axum::Json<PageBody<T>> {
        let redactor = Redactor::new(&state.project());
        axum::Json(PageBody {
            items: paged
                .items
                .into_iter()
                .map(|item| redact(item, &redactor))
                .collect(),
            next: paged.next,
        })
    }
}
