//! A check's own page, `GET /datasets/{dataset}/checks/{check}` (the address alerts and
//! the dataset page link to): its current result, its history as a chart and as a paged
//! table, its definition as written in its file, and the forms that tell anomaly
//! detection what a point was (`POST /results/{id}/feedback`, the API's feedback action).

use std::collections::HashMap;

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::session::see_other;
use super::source::Definition;
use super::views::{CheckRow, moment};
use super::{CHART_DAYS, Dashboard, PageError, Viewer, find_dataset};
use crate::alerts::{check_link, dataset_link};
use crate::results::MetricPoint;
use crate::results::format_number;
use crate::store::{Page, Paged, ResultFilter, StoredResult};
use crate::web::{ApiError, AppState, Latest, Redactor, mark_result, parse_mark};

/// Results per page of the history table.
const PER_PAGE: u32 = 50;

/// `?before=<result id>`: the page of results older than that one, as the API pages.
#[derive(Debug, Deserialize)]
pub(super) struct CheckQuery {
    before: Option<i64>,
}

/// `GET /datasets/{dataset}/checks/{check}?before=`
pub(super) async fn page(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<CheckQuery>, QueryRejection>,
) -> Response {
    dashboard.respond(&viewer, check_page(&dashboard, path, query).await)
}

async fn check_page(
    dashboard: &Dashboard,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<CheckQuery>, QueryRejection>,
) -> Result<(&'static str, CheckPage), PageError> {
    let Path((name, check_name)) = path.map_err(|_| PageError::NotFound("No such page.".into()))?;
    let Query(query) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let state = &dashboard.state;
    let project = state.project();
    let dataset = find_dataset(&project, &name)?;
    let check = dataset
        .checks
        .iter()
        .find(|c| c.name == check_name)
        .ok_or_else(|| {
            PageError::NotFound(format!(
                "The dataset {name:?} has no check named {check_name:?}."
            ))
        })?;
    let latest = Latest::current(state).await?;
    let chart_since = Utc::now() - TimeDelta::days(CHART_DAYS);
    let (results, series) = history(state, &name, &check_name, query.before, chart_since).await?;
    let charted: Vec<MetricPoint> = series
        .iter()
        .filter(|p| p.at >= chart_since)
        .copied()
        .collect();
    let redactor = Redactor::new(&project);
    let current = latest.of(dataset).find(|r| r.result.check == check.name);
    let row = CheckRow::new(&name, check, current, &charted, &redactor);
    let link = check_link("", &name, &check_name);
    let page = CheckPage {
        title: format!("{check_name} · {name}"),
        dataset_link: dataset_link("", &name),
        dataset: name,
        definition: dashboard.sources.definition(&project, check).await,
        results: ResultRow::all(&results.items, &series, &redactor),
        older: results.next.map(|id| format!("{link}?before={id}")),
        newest: query.before.is_some().then(|| link.clone()),
        check: row,
    };
    Ok(("check", page))
}

/// A page of the check's results (newest first, older than `before`), and its series
/// from the older of `chart_since` and the page's oldest result: one read serves the
/// chart and the marks of the page's results, however old.
async fn history(
    state: &AppState,
    dataset: &str,
    check: &str,
    before: Option<i64>,
    chart_since: DateTime<Utc>,
) -> Result<(Paged<StoredResult>, Vec<MetricPoint>), PageError> {
    let filter = ResultFilter {
        dataset: Some(dataset.to_owned()),
        check: Some(check.to_owned()),
        ..ResultFilter::default()
    };
    let page = Page {
        limit: PER_PAGE,
        before,
    };
    let results = state.store.results(&filter, page).await?;
    let since = results
        .items
        .iter()
        .map(|r| r.observed_at)
        .fold(chart_since, DateTime::min);
    let series = state
        .store
        .metric_series(dataset, check, Some(since))
        .await?;
    Ok((results, series))
}

/// `GET /datasets/{dataset}/checks/{check}`.
#[derive(Debug, Serialize)]
pub(super) struct CheckPage {
    title: String,
    dataset: String,
    dataset_link: String,
    #[serde(flatten)]
    check: CheckRow,
    definition: Definition,
    /// Newest first.
    results: Vec<ResultRow>,
    /// The next page, of older results, when there is one.
    older: Option<String>,
    /// The first page, when this is not it.
    newest: Option<String>,
}

/// One result in the history table.
#[derive(Debug, Serialize)]
struct ResultRow {
    id: i64,
    observed_at: String,
    outcome: &'static str,
    value: Option<String>,
    /// `lower – upper`: where an anomaly threshold expected the value.
    band: Option<String>,
    anomalous: bool,
    message: String,
    /// `expected` or `incident`: what a user said about it.
    mark: Option<&'static str>,
    /// Whether it has a metric point to mark (a result without a value has none).
    markable: bool,
    /// Where its feedback form posts.
    action: String,
}

impl ResultRow {
    /// `results` with the marks of their points in `series` (a result's point is the one
    /// stored for its check at the time it was observed).
    fn all(results: &[StoredResult], series: &[MetricPoint], redactor: &Redactor) -> Vec<Self> {
        let points: HashMap<DateTime<Utc>, &MetricPoint> =
            series.iter().map(|p| (p.at, p)).collect();
        results
            .iter()
            .map(|stored| {
                let point = points.get(&stored.observed_at);
                let result = &stored.result;
                ResultRow {
                    id: stored.id,
                    observed_at: moment(stored.observed_at),
                    outcome: result.outcome.as_str(),
                    value: result.value.map(format_number),
                    band: result.band.map(|b| {
                        format!("{} – {}", format_number(b.lower), format_number(b.upper))
                    }),
                    anomalous: result.band.is_some_and(|b| b.anomalous),
                    message: redactor.text(&result.message),
                    mark: point.and_then(|p| p.feedback).map(|f| f.as_str()),
                    markable: point.is_some(),
                    action: format!("/results/{}/feedback", stored.id),
                }
            })
            .collect()
    }
}

/// The feedback form: `mark` is `expected`, `incident` or `none`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FeedbackForm {
    #[serde(default)]
    mark: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /results/{id}/feedback` (form: `mark`, `csrf`): marks the result as the API's
/// `POST /api/v1/results/{id}/feedback?mark=` does, then back to its check's page.
pub(super) async fn feedback(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<FeedbackForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(error) = viewer.check(&form.csrf) {
        return dashboard.fail(&viewer, error);
    }
    match mark(&dashboard.state, id, &form.mark).await {
        Ok(back) => see_other(&back),
        Err(error) => dashboard.fail(&viewer, error),
    }
}

/// Marks the result; returns where its row is shown.
async fn mark(
    state: &AppState,
    id: Result<Path<String>, PathRejection>,
    mark: &str,
) -> Result<String, PageError> {
    let no_result = || PageError::NotFound("There is no such result.".into());
    let id = id
        .ok()
        .and_then(|Path(id)| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(no_result)?;
    let mark = parse_mark(mark).ok_or_else(|| {
        PageError::BadRequest("A result is marked expected, incident or none.".into())
    })?;
    let stored = stored_result(state, id).await?.ok_or_else(no_result)?;
    mark_result(state, id, mark).await.map_err(|e| match e {
        ApiError::NotFound(_) => {
            PageError::NotFound("This result has no value, so there is nothing to mark.".into())
        }
        other => other.into(),
    })?;
    let result = &stored.result;
    Ok(format!(
        "{}#result-{id}",
        check_link("", &result.dataset, &result.check)
    ))
}

/// The stored result `id`: the newest one before `id + 1`, when that is it.
async fn stored_result(state: &AppState, id: i64) -> Result<Option<StoredResult>, PageError> {
    let Some(after) = id.checked_add(1) else {
        return Ok(None);
    };
    let page = Page {
        limit: 1,
        before: Some(after),
    };
    let found = state.store.results(&ResultFilter::default(), page).await?;
    Ok(found.items.into_iter().find(|r| r.id == id))
}
