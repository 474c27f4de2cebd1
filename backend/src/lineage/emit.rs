//! OpenLineage events of Tidemark's own runs, posted to `lineage.emit.url` in `tidemark.yml`
//! (Marquez, another catalog, or a Tidemark's own `POST /api/v1/lineage`).
//!
//! Each dataset run is one OpenLineage run of the job `tidemark.<dataset>` (in the
//! configured namespace) that reads the dataset: a START event when its checks start, and a
//! COMPLETE event (FAIL when a check could not run) with the `dataQualityAssertions` (one
//! assertion per judged check) and `dataQualityMetrics` (the row count and column metrics
//! the checks measured) input facets.
//!
//! **Never in the way.** Events are posted from background tasks with a timeout; a failed
//! post is logged (without the URL or key) and counted in `tidemark_lineage_events_total`
//! with `status="failed"`, and the run goes on. A run's COMPLETE waits for its START, so the
//! receiver sees them in order. `tidemark run` waits for what is still being sent, at most
//! the timeout, before it exits ([`Emitter::flush`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::join_all;
use opentelemetry::KeyValue;
use serde_json::{Map, Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::results::{CheckResult, Outcome};
use crate::spec::{Aggregate, CheckKind, Dataset, EmitConfig, Project};
use crate::telemetry::metrics;

/// The longest one post may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Who made the events (`producer`, `_producer`): this Tidemark, by version.
const PRODUCER: &str = concat!(
    "https://github.com/tidemark/tidemark/tree/v",
    env!("CARGO_PKG_VERSION")
);
const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const ASSERTIONS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet";
const METRICS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet";
const ERROR_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";

/// Emission for one process: the configuration in force and the posts under way. Made by
/// the CLI or the server and handed to each run (`runner::RunContext`).
pub struct Emitter {
    project: watch::Receiver<Arc<Project>>,
    http: reqwest::Client,
    pending: Mutex<Vec<JoinHandle<()>>>,
}

impl Emitter {
    /// Emission of runs' events while the project in force configures `lineage.emit`;
    /// `None` (logged) when the HTTP client cannot be set up.
    pub fn new(project: watch::Receiver<Arc<Project>>) -> Option<Arc<Emitter>> {
        // Installed by telemetry already in the binary; tests may come here first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match reqwest::Client::builder().timeout(TIMEOUT).build() {
            Ok(http) => Some(Arc::new(Emitter {
                project,
                http,
                pending: Mutex::new(Vec::new()),
            })),
            Err(e) => {
                tracing::error!("OpenLineage events are off: cannot set up the client: {e}");
                None
            }
        }
    }

    /// Waits for the posts under way, at most `patience`: the CLI's runtime ends when it
    /// exits.
    pub async fn flush(&self, patience: Duration) {
        let pending = self
            .pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default();
        if tokio::time::timeout(patience, join_all(pending))
            .await
            .is_err()
        {
            tracing::warn!("OpenLineage events still being sent were dropped at exit");
        }
    }
}

/// A dataset's run as OpenLineage sees it.
struct Run {
    config: EmitConfig,
    id: Uuid,
    dataset: String,
    /// The dataset's namespace: its warehouse, without credentials.
    dataset_namespace: String,
}

/// A run whose START is posted (or not: emission off); [`Emission::finish`] posts its end.
pub struct Emission {
    run: Option<(Arc<Emitter>, Run)>,
    /// Resolves once the START post ended, either way.
    started: Option<oneshot::Receiver<()>>,
}

/// Posts the START event of `dataset`'s run `run_id`, in the background, when there is an
/// emitter and the project configures emission.
pub fn start(emitter: Option<&Arc<Emitter>>, dataset: &Dataset, run_id: Uuid) -> Emission {
    let Some((emitter, run)) = emitter.and_then(|emitter| run_of(emitter, dataset, run_id)) else {
        return Emission {
            run: None,
            started: None,
        };
    };
    let event = event("START", Utc::now(), &run, input(&run, None), None);
    let (done, started) = oneshot::channel();
    emitter.spawn(&run, event, None, Some(done));
    Emission {
        run: Some((emitter, run)),
        started: Some(started),
    }
}

impl Emission {
    /// Posts the run's COMPLETE (or FAIL) event with its results, in the background, after
    /// its START.
    pub fn finish(self, dataset: &Dataset, results: &[CheckResult]) {
        let Some((emitter, run)) = self.run else {
            return;
        };
        let error = results.iter().find(|r| r.outcome == Outcome::Error);
        let event_type = if error.is_some() { "FAIL" } else { "COMPLETE" };
        let facets = input_facets(dataset, results);
        let event = event(
            event_type,
            Utc::now(),
            &run,
            input(&run, Some(facets)),
            error.map(|e| error_facet(&e.message)),
        );
        emitter.spawn(&run, event, self.started, None);
    }
}

impl Emitter {
    /// Posts `event` once `after` resolved, then signals `done`.
    fn spawn(
        &self,
        run: &Run,
        event: Value,
        after: Option<oneshot::Receiver<()>>,
        done: Option<oneshot::Sender<()>>,
    ) {
        let (http, config) = (self.http.clone(), run.config.clone());
        let dataset = run.dataset.clone();
        let task = tokio::spawn(async move {
            if let Some(after) = after {
                // An error only means the START's task is gone: its post ended anyway.
                let _ = after.await;
            }
            let status = match post(&http, &config, &event).await {
                Ok(()) => "sent",
                Err(error) => {
                    let event_type = event["eventType"].as_str().unwrap_or_default();
                    tracing::warn!(%dataset, event_type, "OpenLineage event not sent: {error}");
                    "failed"
                }
            };
            metrics()
                .lineage_events
                .add(1, &[KeyValue::new("status", status)]);
            if let Some(done) = done {
                let _ = done.send(());
            }
        });
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|task| !task.is_finished());
            pending.push(task);
        }
    }
}

/// The emitter and the run, when the project in force configures emission.
fn run_of(emitter: &Arc<Emitter>, dataset: &Dataset, run_id: Uuid) -> Option<(Arc<Emitter>, Run)> {
    let project = Arc::clone(&emitter.project.borrow());
    let config = project.lineage.emit.clone()?;
    Some((
        Arc::clone(emitter),
        Run {
            config,
            id: run_id,
            dataset: dataset.name.clone(),
            dataset_namespace: warehouse_namespace(
                project
                    .warehouses
                    .get(&dataset.warehouse)
                    .map(|w| w.url.expose()),
                &dataset.warehouse,
            ),
        },
    ))
}

/// POSTs one event; what went wrong, never naming the URL or the key.
async fn post(http: &reqwest::Client, config: &EmitConfig, event: &Value) -> Result<(), String> {
    let mut request = http.post(config.url.expose()).json(event);
    if let Some(key) = &config.api_key {
        request = request.bearer_auth(key.expose());
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the endpoint answered {}", response.status())),
        Err(e) => Err(e.without_url().to_string()),
    }
}

/// A warehouse's OpenLineage namespace: `scheme://host[:port]` of its URL (no credentials,
/// database or options), `scheme:<warehouse name>` for a file (SQLite), or
/// `tidemark:<warehouse name>` when the URL does not parse.
fn warehouse_namespace(url: Option<&str>, warehouse: &str) -> String {
    match url.and_then(|url| reqwest::Url::parse(url).ok()) {
        Some(url) if url.scheme() != "sqlite" && url.host_str().is_some() => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Some(url) => format!("{}:{warehouse}", url.scheme()),
        None => format!("tidemark:{warehouse}"),
    }
}

/// A RunEvent of the run's job reading its dataset.
fn event(
    event_type: &str,
    at: DateTime<Utc>,
    run: &Run,
    input: Value,
    error: Option<Value>,
) -> Value {
    let mut run_facets = Map::new();
    if let Some(error) = error {
        run_facets.insert("errorMessage".into(), error);
    }
    json!({
        "eventType": event_type,
        "eventTime": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "run": { "runId": run.id.to_string(), "facets": run_facets },
        "job": {
            "namespace": run.config.namespace,
            "name": format!("tidemark.{}", run.dataset),
            "facets": {},
        },
        "inputs": [input],
        "outputs": [],
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
    })
}

/// The run's dataset as an input, with `facets` as its input facets.
fn input(run: &Run, facets: Option<Map<String, Value>>) -> Value {
    let mut input = json!({ "namespace": run.dataset_namespace, "name": run.dataset });
    if let Some(facets) = facets {
        input["inputFacets"] = Value::Object(facets);
    }
    input
}

fn error_facet(message: &str) -> Value {
    json!({
        "_producer": PRODUCER,
        "_schemaURL": ERROR_SCHEMA,
        "message": message,
        "programmingLanguage": "Rust",
    })
}

/// `dataQualityAssertions`, and `dataQualityMetrics` when the checks measured any.
fn input_facets(dataset: &Dataset, results: &[CheckResult]) -> Map<String, Value> {
    let mut facets = Map::new();
    facets.insert("dataQualityAssertions".into(), assertions(results));
    if let Some(metrics) = quality_metrics(dataset, results) {
        facets.insert("dataQualityMetrics".into(), metrics);
    }
    facets
}

/// One assertion per judged check: `success` unless it failed (a warning passes the fail
/// level). A check that could not run judged nothing, so it is left out.
fn assertions(results: &[CheckResult]) -> Value {
    let assertions: Vec<Value> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Error)
        .map(|r| {
            let mut assertion =
                json!({ "assertion": r.check, "success": r.outcome != Outcome::Fail });
            if let Some(column) = &r.column {
                assertion["column"] = column.as_str().into();
            }
            assertion
        })
        .collect();
    json!({ "_producer": PRODUCER, "_schemaURL": ASSERTIONS_SCHEMA, "assertions": assertions })
}

/// The metrics of the whole dataset (after its filter) the results carry: `rowCount`, and
/// per column `nullCount`, `min`, `max`, `sum` and `distinctCount` (from a one-column
/// `duplicate_count` with the row and null counts). Checks with their own `filter` measure
/// part of the rows, so they are left out.
fn quality_metrics(dataset: &Dataset, results: &[CheckResult]) -> Option<Value> {
    let mut row_count = None;
    let mut columns: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut duplicates: Vec<(&str, f64)> = Vec::new();
    for (kind, value) in measured(dataset, results) {
        let mut put = |column, key: &str, value| put_metric(&mut columns, column, key, value);
        match kind {
            CheckKind::RowCount => row_count = Some(value),
            CheckKind::MissingCount {
                column,
                missing_values,
            } if missing_values.is_empty() => put(column, "nullCount", whole(value)),
            CheckKind::Aggregate { function, column } => match function {
                Aggregate::Min => put(column, "min", value.into()),
                Aggregate::Max => put(column, "max", value.into()),
                Aggregate::Sum => put(column, "sum", value.into()),
                Aggregate::Avg | Aggregate::Stddev => {}
            },
            CheckKind::DuplicateCount { columns, .. } if columns.len() == 1 => {
                duplicates.push((columns[0].as_str(), value));
            }
            _ => {}
        }
    }
    for (column, duplicate) in duplicates {
        let nulls = columns
            .get(column)
            .and_then(|m| m.get("nullCount"))
            .and_then(Value::as_f64);
        if let (Some(rows), Some(nulls)) = (row_count, nulls) {
            let distinct = whole(rows - nulls - duplicate);
            put_metric(&mut columns, column, "distinctCount", distinct);
        }
    }
    if row_count.is_none() && columns.is_empty() {
        return None;
    }
    let mut facet =
        json!({ "_producer": PRODUCER, "_schemaURL": METRICS_SCHEMA, "columnMetrics": columns });
    if let Some(rows) = row_count {
        facet["rowCount"] = whole(rows);
    }
    Some(facet)
}

fn put_metric<'d>(
    columns: &mut BTreeMap<&'d str, Map<String, Value>>,
    column: &'d str,
    key: &str,
    value: Value,
) {
    columns.entry(column).or_default().insert(key.into(), value);
}

/// The checks without a filter of their own that measured a value, with it.
fn measured<'d>(dataset: &'d Dataset, results: &[CheckResult]) -> Vec<(&'d CheckKind, f64)> {
    let mut measured = Vec::new();
    for result in results.iter().filter(|r| r.outcome != Outcome::Error) {
        let check = dataset.checks.iter().find(|c| c.name == result.check);
        if let (Some(check), Some(value)) = (check, result.value)
            && check.filter.is_none()
        {
            measured.push((&check.kind, value));
        }
    }
    measured
}

/// A count as a JSON integer (counts come back from warehouses as floats).
fn whole(value: f64) -> Value {
    // Counts are whole and far below 2^53: the conversion is exact.
    json!(value.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_namespaces_keep_no_credentials() {
        let namespace = |url: &str| warehouse_namespace(Some(url), "main");
        assert_eq!(
            namespace("postgres://app:s3cret@db.internal:5432/shop?sslmode=require"),
            "postgres://db.internal:5432"
        );
        assert_eq!(namespace("mysql://root@127.0.0.1/m"), "mysql://127.0.0.1");
        assert_eq!(namespace("sqlite:///var/lib/w.db"), "sqlite:main");
        assert_eq!(namespace("not a url"), "tidemark:main");
    }

    #[test]
    fn assertions_leave_out_checks_that_could_not_run() {
        let result = |check: &str, outcome| crate::results::fixtures::result(check, outcome, "");
        let judged = assertions(&[
            result("a", Outcome::Pass),
            result("b", Outcome::Warn),
            result("c", Outcome::Fail),
            result("d", Outcome::Error),
        ]);
        let pairs: Vec<(&str, bool)> = judged["assertions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a["assertion"].as_str()?, a["success"].as_bool()?)))
            .collect();
        assert_eq!(pairs, [("a", true), ("b", true), ("c", false)]);
    }
}
