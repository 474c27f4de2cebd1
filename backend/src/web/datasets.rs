//! Datasets as the current project declares them, with what the store knows about them:
//! current health (the worst outcome among the latest result of each of its checks), the
//! latest result per check, metric series and schema history.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::error::ApiError;
use super::params::{ApiPath, Params};
use super::results::redacted;
use super::{AppState, PageBody};
use crate::results::MetricPoint;
use crate::results::Outcome;
use crate::spec::Redactor;
use crate::spec::{Check, Dataset, Project, Severity};
use crate::store::{SchemaSnapshot, StoreError, StoredResult};

/// A dataset's health: the worst outcome among the latest results of its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Pass,
    Warn,
    Fail,
    Error,
    /// No check of the dataset has a result yet.
    Unknown,
}

impl Health {
    pub const ALL: [&'static str; 5] = ["pass", "warn", "fail", "error", "unknown"];

    /// The spelling in JSON, in URLs and on the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Pass => "pass",
            Health::Warn => "warn",
            Health::Fail => "fail",
            Health::Error => "error",
            Health::Unknown => "unknown",
        }
    }

    pub(crate) fn of(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        match outcomes.into_iter().max() {
            None => Health::Unknown,
            Some(Outcome::Pass) => Health::Pass,
            Some(Outcome::Warn) => Health::Warn,
            Some(Outcome::Fail) => Health::Fail,
            Some(Outcome::Error) => Health::Error,
        }
    }
}

/// What the project declares about a dataset, as the API and the dashboard show it.
#[derive(Debug, Serialize)]
pub struct Declared {
    name: String,
    /// The warehouse's name; its URL is a secret and never shown.
    warehouse: String,
    owner: Option<String>,
    tags: Vec<String>,
    upstream: Vec<String>,
    /// The effective cron schedule (the dataset's or the project default); null when the
    /// server does not schedule it.
    schedule: Option<String>,
    timezone: &'static str,
}

impl Declared {
    pub fn of(project: &Project, dataset: &Dataset) -> Declared {
        Declared {
            name: dataset.name.clone(),
            warehouse: dataset.warehouse.clone(),
            owner: dataset.owner.clone(),
            tags: dataset.tags.clone(),
            upstream: dataset.upstream.clone(),
            schedule: dataset
                .schedule
                .clone()
                .or_else(|| project.defaults.schedule.clone()),
            timezone: dataset.timezone.unwrap_or(project.defaults.timezone).name(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DatasetSummary {
    #[serde(flatten)]
    declared: Declared,
    check_count: usize,
    health: Health,
    /// The run that produced the newest of the latest results.
    last_run_id: Option<Uuid>,
    last_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct DatasetDetail {
    #[serde(flatten)]
    summary: DatasetSummary,
    checks: Vec<CheckView>,
}

#[derive(Debug, Serialize)]
struct CheckView {
    name: String,
    kind: &'static str,
    column: Option<String>,
    /// Every column the check reads (several for a multi-column duplicate_count).
    columns: Vec<String>,
    severity: Option<Severity>,
    description: Option<String>,
    latest: Option<StoredResult>,
}

/// The dataset of the current project named `name` (the first, should two warehouses
/// hold datasets of the same name).
pub fn find_dataset<'p>(project: &'p Project, name: &str) -> Result<&'p Dataset, ApiError> {
    project
        .datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset named {name:?}")))
}

fn find_check<'d>(dataset: &'d Dataset, name: &str) -> Result<&'d Check, ApiError> {
    dataset
        .checks
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "dataset {:?} has no check named {name:?}",
                dataset.name
            ))
        })
}

/// The latest result of each check, by dataset and warehouse.
pub(crate) struct Latest {
    by_dataset: HashMap<(String, String), Vec<StoredResult>>,
}

/// [`Latest`] as last read, with the store's [`crate::store::History::latest_results_version`] then.
/// Reading and decoding every check's latest result costs tens of milliseconds at 10,000
/// checks; asking whether anything changed costs one index lookup. Requests that find it
/// stale wait for one of them to read it again, instead of all reading it at once.
#[derive(Default)]
pub struct LatestCache(tokio::sync::Mutex<Option<Cached>>);

struct Cached {
    version: i64,
    read_at: Instant,
    latest: Arc<Latest>,
    /// `GET /datasets` as last answered from `latest`, and the configuration it listed:
    /// dashboards poll it, and serializing a thousand datasets costs more than sending them.
    listing: Option<(Arc<Project>, Bytes)>,
}

/// How long a read is used at most: the version misses results deleted by pruning.
const LATEST_MAX_AGE: Duration = Duration::from_secs(10);

impl Latest {
    /// The current latest results: cached while no newer result was stored.
    pub(crate) async fn current(state: &AppState) -> Result<Arc<Latest>, ApiError> {
        let version = state.store.latest_results_version().await?;
        let mut cached = state.latest.0.lock().await;
        if let Some(c) = &*cached
            && c.version >= version
            && c.read_at.elapsed() < LATEST_MAX_AGE
        {
            return Ok(Arc::clone(&c.latest));
        }
        let latest = Arc::new(Latest::load(state).await?);
        *cached = Some(Cached {
            version,
            read_at: Instant::now(),
            latest: Arc::clone(&latest),
            listing: None,
        });
        Ok(latest)
    }

    /// The body of `GET /datasets` for `project`: serialized once per read of the latest
    /// results and configuration.
    async fn listing(state: &AppState, project: &Arc<Project>) -> Result<Bytes, ApiError> {
        let latest = Latest::current(state).await?;
        let mut cached = state.latest.0.lock().await;
        let current = cached.as_mut().filter(|c| Arc::ptr_eq(&c.latest, &latest));
        if let Some((listed, body)) = current.as_ref().and_then(|c| c.listing.as_ref())
            && Arc::ptr_eq(listed, project)
        {
            return Ok(body.clone());
        }
        let items = project
            .datasets
            .iter()
            .map(|dataset| latest.summary(project, dataset))
            .collect();
        let body = Bytes::from(serde_json::to_vec(&PageBody { items, next: None }).map_err(
            |e| ApiError::Internal(StoreError::Query(format!("listing datasets: {e}"))),
        )?);
        // (A newer read replaced the cache meanwhile: answer, but do not keep it.)
        if let Some(current) = current {
            current.listing = Some((Arc::clone(project), body.clone()));
        }
        Ok(body)
    }

    async fn load(state: &AppState) -> Result<Latest, ApiError> {
        let mut by_dataset: HashMap<_, Vec<_>> = HashMap::new();
        for result in state.store.latest_results().await? {
            let key = (
                result.result.dataset.clone(),
                result.result.warehouse.clone(),
            );
            by_dataset.entry(key).or_default().push(result);
        }
        Ok(Latest { by_dataset })
    }

    /// The dataset's latest results for checks it still declares.
    pub(crate) fn of<'l>(&'l self, dataset: &'l Dataset) -> impl Iterator<Item = &'l StoredResult> {
        self.by_dataset
            .get(&(dataset.name.clone(), dataset.warehouse.clone()))
            .into_iter()
            .flatten()
            .filter(|r| dataset.checks.iter().any(|c| c.name == r.result.check))
    }

    fn summary(&self, project: &Project, dataset: &Dataset) -> DatasetSummary {
        let newest = self.of(dataset).max_by_key(|r| (r.observed_at, r.id));
        DatasetSummary {
            declared: Declared::of(project, dataset),
            check_count: dataset.checks.len(),
            health: Health::of(self.of(dataset).map(|r| r.result.outcome)),
            last_run_id: newest.map(|r| r.run_id),
            last_run_at: newest.map(|r| r.observed_at),
        }
    }
}

/// `GET /datasets`: every dataset of the project, in the order the project lists them.
pub async fn list(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    params.finish()?;
    let project = state.project();
    let body = Latest::listing(&state, &project).await?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /datasets/{name}`: the dataset with each check and its latest result.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    params: Params,
) -> Result<Json<DatasetDetail>, ApiError> {
    params.finish()?;
    let project = state.project();
    let dataset = find_dataset(&project, &name)?;
    let latest = Latest::current(&state).await?;
    let redactor = Redactor::new(&project);
    let checks = dataset
        .checks
        .iter()
        .map(|check| CheckView {
            name: check.name.clone(),
            kind: check.kind.keyword(),
            column: check.kind.column().map(str::to_owned),
            columns: check
                .kind
                .columns()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            severity: check.severity,
            description: check.description.clone(),
            latest: latest
                .of(dataset)
                .find(|r| r.result.check == check.name)
                .map(|r| redacted(r.clone(), &redactor)),
        })
        .collect();
    Ok(Json(DatasetDetail {
        summary: latest.summary(&project, dataset),
        checks,
    }))
}

#[derive(Debug, Serialize)]
pub struct MetricSeries {
    dataset: String,
    check: String,
    /// Oldest first.
    points: Vec<MetricPoint>,
}

/// `GET /datasets/{name}/metrics/{check}?since=`: the check's values over time.
pub async fn metric_series(
    State(state): State<AppState>,
    ApiPath((name, check)): ApiPath<(String, String)>,
    mut params: Params,
) -> Result<Json<MetricSeries>, ApiError> {
    let since = params.time("since")?;
    params.finish()?;
    {
        let project = state.project();
        find_check(find_dataset(&project, &name)?, &check)?;
    }
    let points = state.store.metric_series(&name, &check, since).await?;
    Ok(Json(MetricSeries {
        dataset: name,
        check,
        points,
    }))
}

#[derive(Debug, Serialize)]
pub struct SchemaHistory {
    dataset: String,
    /// Each snapshot whose columns differ from the one before, newest first.
    snapshots: Vec<SchemaSnapshot>,
}

/// `GET /datasets/{name}/schema`: how the dataset's table changed shape.
pub async fn schema_history(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    params: Params,
) -> Result<Json<SchemaHistory>, ApiError> {
    params.finish()?;
    find_dataset(&state.project(), &name)?;
    let snapshots = state.store.schema_history(&name).await?;
    Ok(Json(SchemaHistory {
        dataset: name,
        snapshots,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_the_worst_outcome() {
        assert_eq!(Health::of([]), Health::Unknown);
        for (health, spelled) in [
            Health::Pass,
            Health::Warn,
            Health::Fail,
            Health::Error,
            Health::Unknown,
        ]
        .into_iter()
        .zip(Health::ALL)
        {
            assert_eq!(health.as_str(), spelled);
            assert_eq!(serde_json::json!(health), spelled);
        }
        assert_eq!(Health::of([Outcome::Pass, Outcome::Warn]), Health::Warn);
        assert_eq!(
            Health::of([Outcome::Fail, Outcome::Error, Outcome::Pass]),
            Health::Error
        );
    }
}
