//! Running a project's checks: connect each warehouse once, then per dataset one schema
//! query, one aggregate query and one query per `sql_metric`, datasets running
//! concurrently up to each warehouse's `max_connections`. One dataset's failure never stops
//! another; a check that could not run is `error`, never `pass`.

mod evaluate;
mod plan;
mod result;

pub use evaluate::format_number;
pub use plan::{CheckPlan, DatasetPlan, Derivation, plan_alone, plan_dataset};
pub use result::{CheckResult, Outcome, RunReport, Summary};

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures_util::future::join_all;

use crate::spec::{Check, CheckKind, Dataset, Project};
use crate::warehouse::{Warehouse, WarehouseError};
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

/// Progress of a run, reported as each dataset finishes.
pub trait Progress: Sync {
    /// `done` datasets of the run have finished.
    fn dataset_done(&self, done: usize);
}

pub async fn run(project: &Project, datasets: &[&Dataset], progress: &dyn Progress) -> RunReport {
    let started_at = Utc::now();
    let warehouses = connect_all(project, datasets).await;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let per_dataset = datasets.iter().map(|dataset| {
        let warehouse = &warehouses[&dataset.warehouse];
        let done = &done;
        async move {
            let results = match warehouse {
                Ok(warehouse) => run_dataset(dataset, warehouse).await,
                Err(reason) => all_errors(dataset, reason),
            };
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress.dataset_done(finished);
            results
        }
    });
    let results: Vec<CheckResult> = join_all(per_dataset).await.into_iter().flatten().collect();
    for warehouse in warehouses.values().flatten() {
        warehouse.close().await;
    }
    RunReport {
        run_id: uuid::Uuid::new_v4().to_string(),
        started_at,
        finished_at: Utc::now(),
        summary: Summary::of(results.iter().map(|r| r.outcome)),
        results,
    }
}

/// Connects every warehouse the selected datasets use, concurrently.
async fn connect_all(
    project: &Project,
    datasets: &[&Dataset],
) -> BTreeMap<String, Result<Arc<Warehouse>, String>> {
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
    join_all(connections).await.into_iter().collect()
}

async fn run_dataset(dataset: &Dataset, warehouse: &Warehouse) -> Vec<CheckResult> {
    let _slot = warehouse.slot().await;
    let schema = match warehouse.table_schema(&dataset.table).await {
        Ok(schema) => schema,
        Err(e) => return all_errors(dataset, &query_error(warehouse, &e)),
    };
    let plan = plan_dataset(dataset, warehouse.dialect, Some(&schema));
    let metrics = match &plan.aggregate {
        Some(sql) => Some(warehouse.fetch_metrics(sql).await),
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
            CheckPlan::Schema => judge_schema(check, &schema, warehouse.dialect),
            CheckPlan::Unrunnable(reason) => Verdict::error(reason.clone()),
        };
        results.push(result(dataset, check, verdict));
    }
    results
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

fn all_errors(dataset: &Dataset, reason: &str) -> Vec<CheckResult> {
    dataset
        .checks
        .iter()
        .map(|check| result(dataset, check, Verdict::error(reason)))
        .collect()
}

fn result(dataset: &Dataset, check: &Check, verdict: Verdict) -> CheckResult {
    let columns = match &check.kind {
        CheckKind::DuplicateCount { columns } if columns.len() > 1 => Some(columns.clone()),
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
    }
}
