//! Check result history, filtered and paged, newest first.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::error::ApiError;
use super::params::{ApiPath, Params};
use super::{AppState, PageBody};
use crate::results::Feedback;
use crate::results::Outcome;
use crate::spec::Redactor;
use crate::store::{ResultFilter, StoredResult};

/// `GET /results?dataset=&check=&outcome=&run_id=&since=&until=&limit=&before=`
pub async fn list(
    State(state): State<AppState>,
    mut params: Params,
) -> Result<Json<PageBody<StoredResult>>, ApiError> {
    let filter = ResultFilter {
        dataset: params.text("dataset")?,
        check: params.text("check")?,
        outcome: params.parsed("outcome", "one of pass, warn, fail, error", Outcome::parse)?,
        run_id: params.uuid("run_id")?,
        since: params.time("since")?,
        until: params.time("until")?,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until < since
    {
        return Err(ApiError::bad_parameter("until", "must not be before since"));
    }
    let page = params.page()?;
    params.finish()?;
    let paged = state.store.results(&filter, page).await?;
    Ok(PageBody::redacted(paged, &state, redacted))
}

#[derive(Debug, Serialize)]
pub struct ResultMark {
    result_id: i64,
    feedback: Option<Feedback>,
}

/// `POST /results/{id}/feedback?mark=expected|incident|none`: what anomaly detection learns
/// from the result from the check's next run on.
pub async fn mark(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    mut params: Params,
) -> Result<Json<ResultMark>, ApiError> {
    let Some(result_id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return Err(ApiError::NotFound(format!("no result with id {id:?}")));
    };
    let mark = params
        .parsed("mark", "one of expected, incident, none", parse_mark)?
        .ok_or_else(|| ApiError::bad_parameter("mark", "required: expected, incident or none"))?;
    params.finish()?;
    mark_result(&state, result_id, mark).await?;
    Ok(Json(ResultMark {
        result_id,
        feedback: mark,
    }))
}

/// A mark as the API and the dashboard's forms spell it: `expected`, `incident`, or `none`
/// (which clears the mark).
pub(crate) fn parse_mark(text: &str) -> Option<Option<Feedback>> {
    match text {
        "none" => Some(None),
        other => Feedback::parse(other).map(Some),
    }
}

/// Marks a result's metric point, or clears its mark: what the API endpoint and the
/// dashboard's feedback forms both do.
pub(crate) async fn mark_result(
    state: &AppState,
    result_id: i64,
    mark: Option<Feedback>,
) -> Result<(), ApiError> {
    Ok(state.store.mark_result(result_id, mark).await?)
}

/// The result with the project's secrets masked in its message.
pub fn redacted(mut result: StoredResult, redactor: &Redactor) -> StoredResult {
    result.result.message = redactor.text(&result.result.message);
    result
}
