//! Probes: liveness (`/health`, the process answers) and readiness (`/ready`, the store
//! answers too). Both are public so that load balancers need no token.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::store::{Page, RunFilter, StoreError};

/// A store that takes longer than this to answer counts as unavailable: probes must answer
/// quickly whatever the store does.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // The cheapest read the store contract offers: one run.
    let page = Page {
        limit: 1,
        before: None,
    };
    let filter = RunFilter::default();
    let probe = state.store.runs(&filter, page);
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => Err(ApiError::StoreUnavailable(error)),
        Err(_) => Err(ApiError::StoreUnavailable(StoreError::Unavailable(
            format!("no answer within {READY_TIMEOUT:?}"),
        ))),
    }
}
