//! Check result history, filtered and paged, newest first.

use axum::Json;
use axum::extract::State;

use super::error::ApiError;
use super::params::Params;
use super::redact::Redactor;
use super::{AppState, PageBody};
use crate::engine::Outcome;
use crate::store::{ResultFilter, StoreApi, StoredResult};

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
    let redactor = Redactor::new(&state.project());
    Ok(Json(PageBody {
        items: paged
            .items
            .into_iter()
            .map(|result| redacted(result, &redactor))
            .collect(),
        next: paged.next,
    }))
}

/// The result with the project's secrets masked in its message.
pub fn redacted(mut result: StoredResult, redactor: &Redactor) -> StoredResult {
    result.result.message = redactor.text(&result.result.message);
    result
}
