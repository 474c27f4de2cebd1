//! Running a dataset's checks: one schema query, one aggregate query and one query per
//! `sql_metric` and per `distribution` profile, against warehouses connected once
//! ([`Warehouses`]). One dataset's failure
//! never stops another; a check that could not run is `error`, never `pass`. The engine
//! does not know who called it: the CLI and the scheduler both go through `runner`.

mod anomaly;
mod distribution;
mod evaluate;
mod judge;
mod plan;
pub mod sla;

pub use anomaly::{AnomalyContext, MAX_HISTORY, anomaly_settings, judge_anomaly};
pub use distribution::{Baselines, ProfilePlan};
pub use evaluate::DriftBase;
pub use judge::{History, Judged, judge};
pub use plan::{BucketQuery, CheckPlan, DatasetPlan, Derivation, plan_alone, plan_dataset};

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::future::join_all;

use crate::results::{BucketPoint, CheckResult, NewProfile};
use crate::spec::{Check, CheckKind, Dataset, Project};
use crate::warehouse::{Cell, TableSchema, Warehouse, WarehouseError};
use evaluate::{Verdict, expected, judge_metric, judge_schema};

/// Which datasets a run takes: all when both lists are empty.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub datasets: Vec<String>,
    pub tags: Vec<String>,
}

impl Selection {
    pub fn includes(&self, dataset: &Dataset) -> bool {
        (self.datasets.is_empty() || self.datasets.contains(&dataset.name))
            && (self.tags.is_empty() || dataset.tags.iter().any(|t| self.tags.contains(t)))
    }
}

/// The warehouses of a project, connected once and shared by every dataset run: the CLI
/// holds them for one invocation, the server for as long as its configuration lasts.
/// A project's warehouse connections, and the calendar its datasets are judged by: what a
/// run needs of the project besides the dataset itself.
pub struct Warehouses {
    connections: BTreeMap<String, Result<Arc<Warehouse>, String>>,
    calendar: Calendar,
}

/// The project-wide clock of anomaly thresholds: the zone of datasets that name none, and
/// the holidays judged like Sundays.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    pub timezone: chrono_tz::Tz,
    pub holidays: Option<crate::anomaly::HolidayCalendar>,
}

impl Warehouses {
    /// Connects every warehouse the datasets use, concurrently. A warehouse that cannot be
    /// reached is remembered with the reason, so its datasets error without retrying it.
    pub async fn connect(project: &Project, datasets: &[&Dataset]) -> Self {
        let mut names: Vec<&str> = datasets.iter().map(|d| d.warehouse.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let connections = names.iter().map(|name| async move {
            let connection = match project.warehouses.get(*name) {
                Some(config) => Warehouse::connect(config, &project.root)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err(format!("warehouse {name} is not configured")),
            };
            (name.to_string(), connection)
        });
        Self {
            connections: join_all(connections).await.into_iter().collect(),
            calendar: Calendar {
                timezone: project.defaults.timezone,
                holidays: project.holidays.clone(),
            },
        }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The warehouse, or why it cannot be used.
    pub fn get(&self, name: &str) -> Result<&Warehouse, String> {
        match self.connections.get(name) {
            Some(Ok(warehouse)) => Ok(warehouse),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err(format!("warehouse {name} is not connected")),
        }
    }

    pub async fn close(&self) {
        for warehouse in self.connections.values().flatten() {
            warehouse.close().await;
        }
    }
}

/// What running one dataset produced.
#[derive(Clone, Debug)]
pub struct DatasetRun {
    pub results: Vec<CheckResult>,
    /// The table's columns, when they could be read: the snapshot the store keeps.
    pub schema: Option<TableSchema>,
    /// The profiles distribution checks measured: the references the store keeps.
    pub profiles: Vec<NewProfile>,
    /// The complete buckets per-bucket checks measured (partitioned datasets).
    pub points: Vec<BucketPoint>,
}

/// Runs one dataset's checks: a schema query, one aggregate query, one query per
/// `sql_metric` and per `distribution` check. Never fails: what could not run comes back
/// as `error` results.
#[tracing::instrument(
    name = "tidemark.dataset",
    skip_all,
    fields(dataset = %dataset.name, warehouse = %dataset.warehouse, checks = dataset.checks.len())
)]
pub async fn check_dataset(
    dataset: &Dataset,
    warehouse: Result<&Warehouse, String>,
    drift: DriftBase<'_>,
    baselines: &Baselines,
    watermark: Option<DateTime<Utc>>,
) -> DatasetRun {
    let warehouse = match warehouse {
        Ok(warehouse) => warehouse,
        Err(reason) => {
            return DatasetRun {
                results: all_errors(dataset, &reason),
                schema: None,
                profiles: Vec::new(),
                points: Vec::new(),
            };
        }
    };
    let _slot = {
        let _queued = crate::telemetry::metrics().queued("warehouse");
        warehouse.slot().await
    };
    let schema = match warehouse.table_schema(&dataset.table).await {
        Ok(schema) => schema,
        Err(e) => {
            let results = all_errors(dataset, &query_error(warehouse, &e));
            return DatasetRun {
                results,
                schema: None,
                profiles: Vec::new(),
                points: Vec::new(),
            };
        }
    };
    let plan = plan_dataset(dataset, warehouse.dialect, Some(&schema));
    let metrics = match &plan.aggregate {
        Some(sql) => Some(warehouse.fetch_metrics(sql).await),
        None => None,
    };
    let buckets = match &plan.buckets {
        Some(query) => {
            Some(measure_buckets(dataset, query, warehouse, watermark, Utc::now()).await)
        }
        None => None,
    };
    let metric_checks = plan
        .checks
        .iter()
        .filter(|p| matches!(p, CheckPlan::Metric(_)))
        .count();
    // A rejected query (not a timeout or lost connection) may be one check's fault.
    let isolate = metric_checks > 1 && matches!(metrics, Some(Err(WarehouseError::Query(_))));
    let mut results = Vec::with_capacity(dataset.checks.len());
    let mut profiles = Vec::new();
    let mut points = Vec::new();
    for (check, check_plan) in dataset.checks.iter().zip(&plan.checks) {
        let verdict = match check_plan {
            CheckPlan::Metric(derivation) => match &metrics {
                Some(Ok(row)) => judge_metric(check, derivation.value(row)),
                Some(Err(_)) if isolate => measure_alone(dataset, check, warehouse).await,
                Some(Err(e)) => Verdict::error(query_error(warehouse, e)),
                None => Verdict::error("internal: metric planned without an aggregate query"),
            },
            CheckPlan::SqlMetric(sql) => match warehouse.fetch_number(sql).await {
                Ok(value) => judge_metric(check, value),
                Err(e) => Verdict::error(query_error(warehouse, &e)),
            },
            CheckPlan::Schema => judge_schema(check, &schema, warehouse.dialect, drift),
            CheckPlan::Distribution(profile_plan) => {
                let (verdict, profile) =
                    distribution::run(check, profile_plan, warehouse, baselines).await;
                profiles.extend(profile.map(|profile| NewProfile {
                    check: check.name.clone(),
                    column: check.kind.column().unwrap_or_default().to_owned(),
                    profile,
                }));
                verdict
            }
            CheckPlan::Bucketed(derivation) => match &buckets {
                Some(Ok(rows)) => {
                    let (verdict, measured) = judge_buckets(dataset, check, *derivation, rows);
                    points.extend(measured);
                    verdict
                }
                Some(Err(e)) => Verdict::error(e.clone()),
                None => Verdict::error("internal: bucketed check planned without a bucket query"),
            },
            CheckPlan::Unrunnable(reason) => Verdict::error(reason.clone()),
        };
        results.push(result(dataset, check, verdict));
    }
    DatasetRun {
        results,
        schema: (!schema.columns.is_empty()).then_some(schema),
        profiles,
        points,
    }
}

/// The complete buckets of a partitioned dataset from the watermark minus `backfill` on (a
/// first run: the last `history` buckets), oldest first, with a row for each, empty buckets
/// included (counts of zero: a day without rows is a point of the series too).
async fn measure_buckets(
    dataset: &Dataset,
    query: &BucketQuery,
    warehouse: &Warehouse,
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Vec<Option<f64>>)>, String> {
    let partition = &query.partition;
    let step = partition.grain.duration();
    let (since, current) = partition.window(watermark, now);
    let buckets = ((current - since).num_seconds() / step.num_seconds()).max(0) as usize;
    let sql = query.sql(dataset, warehouse.dialect, (since, current));
    let rows = warehouse
        .fetch_rows(&sql, buckets)
        .await
        .map_err(|e| query_error(warehouse, &e))?;
    let mut measured = BTreeMap::new();
    for row in rows {
        let Some((Cell::Text(start), values)) = row.split_first() else {
            continue;
        };
        let Ok(start) = NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M:%S") else {
            return Err(format!(
                "warehouse {}: unreadable bucket start {start}",
                warehouse.name
            ));
        };
        let values = values
            .iter()
            .map(|cell| match cell {
                Cell::Number(n) => Some(*n),
                _ => None,
            })
            .collect::<Vec<_>>();
        measured.insert(start.and_utc(), values);
    }
    Ok((0..buckets)
        .map(|i| {
            let at = since + step * i as i32;
            let row = measured.remove(&at).unwrap_or_else(|| query.empty_row());
            (at, row)
        })
        .collect())
}

/// A per-bucket check's points, and its verdict: the newest complete bucket judged by the
/// check's thresholds, the bucket named in the message.
fn judge_buckets(
    dataset: &Dataset,
    check: &Check,
    derivation: Derivation,
    rows: &[(DateTime<Utc>, Vec<Option<f64>>)],
) -> (Verdict, Vec<BucketPoint>) {
    let points = rows
        .iter()
        .filter_map(|(at, row)| {
            let value = derivation.value(row).filter(|v| v.is_finite())?;
            Some(BucketPoint {
                check: check.name.clone(),
                at: *at,
                value,
            })
        })
        .collect();
    let Some((at, row)) = rows.last() else {
        return (Verdict::error("no complete bucket to judge"), points);
    };
    let mut verdict = judge_metric(check, derivation.value(row));
    let grain = dataset
        .partition
        .as_ref()
        .map_or("bucket", |p| p.grain.keyword());
    verdict.message.push_str(&format!(
        " (the {grain} from {})",
        at.format("%Y-%m-%d %H:%M UTC")
    ));
    (verdict, points)
}

async fn measure_alone(dataset: &Dataset, check: &Check, warehouse: &Warehouse) -> Verdict {
    let (sql, derivation) = plan_alone(dataset, check, warehouse.dialect);
    match warehouse.fetch_metrics(&sql).await {
        Ok(row) => judge_metric(check, derivation.value(&row)),
        Err(e) => Verdict::error(query_error(warehouse, &e)),
    }
}

fn query_error(warehouse: &Warehouse, error: &WarehouseError) -> String {
    format!("warehouse {}: {error}", warehouse.name)
}

pub fn all_errors(dataset: &Dataset, reason: &str) -> Vec<CheckResult> {
    dataset
        .checks
        .iter()
        .map(|check| result(dataset, check, Verdict::error(reason)))
        .collect()
}

/// A check's result for a value measured elsewhere, judged against its fixed thresholds as
/// a run would: the demo back-fills its history with it.
pub fn judged(dataset: &Dataset, check: &Check, value: Option<f64>) -> CheckResult {
    result(dataset, check, judge_metric(check, value))
}

fn result(dataset: &Dataset, check: &Check, verdict: Verdict) -> CheckResult {
    let columns = match &check.kind {
        CheckKind::DuplicateCount { columns, .. } if columns.len() > 1 => Some(columns.clone()),
        _ => None,
    };
    CheckResult {
        dataset: dataset.name.clone(),
        warehouse: dataset.warehouse.clone(),
        check: check.name.clone(),
        kind: check.kind.keyword().to_string(),
        column: check.kind.column().map(str::to_string),
        columns,
        outcome: verdict.outcome,
        value: verdict.value,
        expected: expected(&check.thresholds),
        message: verdict.message,
        severity: check.severity,
        band: None,
    }
}
