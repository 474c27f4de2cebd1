//! Run history: one run per dataset execution, newest first.

use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::error::ApiError;
use super::params::{ApiPath, Params};
use super::{AppState, PageBody};
use crate::spec::Redactor;
use crate::store::{Run, RunFilter, RunStatus, StoreError, Trigger};

/// `GET /runs?dataset=&status=&trigger=&limit=&before=`
pub async fn list(
    State(state): State<AppState>,
    mut params: Params,
) -> Result<Json<PageBody<Run>>, ApiError> {
    let filter = RunFilter {
        dataset: params.text("dataset")?,
        status: params.parsed(
            "status",
            "one of running, completed, failed, abandoned",
            RunStatus::parse,
        )?,
        trigger: params.parsed(
            "trigger",
            "one of cli, schedule, manual, retry",
            Trigger::parse,
        )?,
    };
    let page = params.page()?;
    params.finish()?;
    let paged = state.store.runs(&filter, page).await?;
    Ok(PageBody::redacted(paged, &state, redacted))
}

/// `GET /runs/{id}`
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> Result<Json<Run>, ApiError> {
    params.finish()?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::bad_parameter("id", "expected a run id (a UUID)"))?;
    match state.store.run(id).await {
        Ok(run) => Ok(Json(redacted(run, &Redactor::new(&state.project())))),
        Err(StoreError::NotFound) => Err(ApiError::NotFound(format!("no run with id {id}"))),
        Err(error) => Err(error.into()),
    }
}

fn redacted(mut run: Run, redactor: &Redactor) -> Run {
    run.error = redactor.option(run.error.as_deref());
    run
}
