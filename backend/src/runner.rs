//! Executing datasets and recording what they found: the one path shared by `tidemark run`
//! and the scheduler. A recorded run is claimed in the store first (exactly once per
//! scheduled slot), keeps its lease alive while the warehouse works, and is finished with
//! its results, metric points, schema snapshot and distribution profiles in one
//! transaction.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use opentelemetry::KeyValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::alerts::{self, Alerting};
use crate::engine::{
    AnomalyContext, Baselines, DatasetRun, DriftBase, History, Judged, MAX_HISTORY, Warehouses,
    check_dataset, judge,
};
use crate::lineage::emit::{self, Emitter};
use crate::results::{
    BucketPoint, CheckResult, DatasetCost, MetricPoint, Outcome, RunCost, RunReport,
    SnapshotColumn, Summary,
};
use crate::spec::{Check, Dataset};
use crate::store::{Claim, FinishedRun, NewRun, RunStatus, Store, StoreError, Trigger};
use crate::telemetry::metrics;
use crate::warehouse::cost::costed;

/// How long a run stays "alive" without a heartbeat; heartbeats come every third of it.
/// A replica that dies is noticed this long after its last heartbeat.
pub const LEASE: Duration = Duration::from_secs(60);

/// What a run is given by whoever runs it (the CLI or the scheduler), besides the store and
/// the warehouses: nothing on the run path reads the process's state or environment.
#[derive(Clone)]
pub struct RunContext {
    /// Incidents and their alerts follow each recorded run (`tidemark run --alert`,
    /// `tidemark serve`); `None`: results are recorded only.
    pub alerting: Option<Arc<Alerting>>,
    /// OpenLineage events of each run, while the project configures `lineage.emit`.
    pub emitter: Option<Arc<Emitter>>,
    /// How long a run stays alive without a heartbeat ([`LEASE`] unless tuned).
    pub lease: Duration,
    /// How long finished results are held while the store is unavailable.
    pub store_patience: Duration,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            alerting: None,
            emitter: None,
            lease: LEASE,
            store_patience: STORE_PATIENCE,
        }
    }
}

/// What to record a dataset's run as.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub batch_id: Uuid,
    pub trigger: Trigger,
    /// The cron slot of a scheduled run (claimed once across replicas) or of a retry (it
    /// claims nothing).
    pub slot: Option<DateTime<Utc>>,
}

/// Why a run was not (fully) recorded.
#[derive(Debug)]
pub enum RecordError {
    /// The store could not start the run: the checks did not run.
    NotStarted(StoreError),
    /// The checks ran but their results could not be stored; here they are.
    NotStored(Vec<CheckResult>, StoreError),
}

/// How a dataset's run ended.
#[derive(Debug)]
pub enum Recorded {
    Done {
        run_id: Uuid,
        results: Vec<CheckResult>,
    },
    /// Another replica claimed this slot first.
    AlreadyClaimed,
}

/// Progress of a batch, reported as each dataset finishes.
pub trait Progress: Sync {
    /// `done` datasets of the batch have finished.
    fn dataset_done(&self, done: usize);
}

/// Runs datasets concurrently (each warehouse bounds its own concurrency), recording them
/// when a store is given. Store failures do not stop the checks: they are returned beside
/// the report, so the caller can say what was not recorded.
#[tracing::instrument(
    name = "tidemark.batch",
    skip_all,
    fields(trigger = trigger.as_str(), datasets = datasets.len(), run_id = tracing::field::Empty)
)]
pub async fn run_batch(
    cx: &RunContext,
    store: Option<&Store>,
    warehouses: &Warehouses,
    datasets: &[&Dataset],
    trigger: Trigger,
    progress: &dyn Progress,
) -> (RunReport, Vec<StoreError>) {
    let batch_id = Uuid::new_v4();
    tracing::Span::current().record("run_id", tracing::field::display(batch_id));
    let started_at = Utc::now();
    let mut failures = Vec::new();
    if let Some(store) = store {
        // Runs whose process died (a killed CI job) are marked abandoned, not left running.
        if let Err(e) = store.expire_leases(started_at).await {
            failures.push(e);
        }
    }
    let request = RunRequest {
        batch_id,
        trigger,
        slot: None,
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let runs = datasets.iter().map(|dataset| {
        let (request, done) = (&request, &done);
        async move {
            let (outcome, cost) = costed(async {
                match store {
                    Some(store) => {
                        match record(cx, store, warehouses, dataset, request, |_| {}).await {
                            // The CLI still checks the data when it cannot record: the results
                            // matter more than their history.
                            Err(RecordError::NotStarted(error)) => {
                                let started = Instant::now();
                                let results = run_unrecorded(cx, warehouses, dataset).await;
                                count_run(trigger, RunState::NotStored, started, &results);
                                Err(RecordError::NotStored(results, error))
                            }
                            other => other,
                        }
                    }
                    None => {
                        let started = Instant::now();
                        let results = run_unrecorded(cx, warehouses, dataset).await;
                        count_run(trigger, RunState::Completed, started, &results);
                        Ok(Recorded::Done {
                            run_id: Uuid::new_v4(),
                            results,
                        })
                    }
                }
            })
            .await;
            progress.dataset_done(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            let cost = DatasetCost {
                dataset: dataset.name.clone(),
                warehouse: dataset.warehouse.clone(),
                cost,
            };
            (outcome, cost)
        }
    });
    let mut results = Vec::new();
    let mut costs = Vec::new();
    for (outcome, cost) in join_all(runs).await {
        if !matches!(outcome, Ok(Recorded::AlreadyClaimed)) {
            costs.push(cost);
        }
        match outcome {
            Ok(Recorded::Done { results: r, .. }) => results.extend(r),
            Ok(Recorded::AlreadyClaimed) => {}
            Err(RecordError::NotStored(r, error)) => {
                results.extend(r);
                failures.push(error);
            }
            Err(RecordError::NotStarted(error)) => failures.push(error),
        }
    }
    let report = RunReport {
        run_id: batch_id.to_string(),
        started_at,
        finished_at: Utc::now(),
        summary: Summary::of(results.iter().map(|r| r.outcome)),
        results,
        cost: RunCost::of(costs),
    };
    let Summary {
        pass,
        warn,
        fail,
        error,
    } = report.summary;
    tracing::info!(
        datasets = datasets.len(),
        pass,
        warn,
        fail,
        error,
        store_errors = failures.len(),
        "batch finished"
    );
    (report, failures)
}

/// A dataset's checks measured now with nothing read from a store: no drift base and no
/// anomaly history, so schema drift and anomaly thresholds are left for the caller.
pub async fn measure_without_store(warehouses: &Warehouses, dataset: &Dataset) -> Vec<CheckResult> {
    check_dataset(
        dataset,
        warehouses.get(&dataset.warehouse),
        DriftBase::NoStore,
        &Baselines::none(),
        None,
    )
    .await
    .results
}

async fn run_unrecorded(
    cx: &RunContext,
    warehouses: &Warehouses,
    dataset: &Dataset,
) -> Vec<CheckResult> {
    let emission = emit::start(cx.emitter.as_ref(), dataset, Uuid::new_v4());
    let measured = measure_without_store(warehouses, dataset).await;
    let results = judge(
        dataset,
        measured,
        None,
        &anomaly_context(warehouses, dataset),
    )
    .results;
    emission.finish(dataset, &results);
    results
}

/// Claims, runs and records one dataset. On a store failure after the checks ran, their
/// results come back with the error, so nothing the warehouse said is lost to the caller.
pub async fn run_recorded(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    request: &RunRequest,
) -> Result<Recorded, RecordError> {
    run_recorded_with(cx, store, warehouses, dataset, request, |_| {}).await
}

/// [`run_recorded`], calling `started` with the run's id once the run is recorded as
/// running and before its checks run: the server answers "run this dataset now" with it.
/// `started` is not called when the run was not started (a store error, or another
/// replica claimed the slot).
pub async fn run_recorded_with(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    request: &RunRequest,
    started: impl FnOnce(Uuid) + Send,
) -> Result<Recorded, RecordError> {
    let outcome = record(cx, store, warehouses, dataset, request, started).await;
    counted_if_not_started(request.trigger, outcome)
}

/// Runs and records a run the caller already started in the store (the scheduler claims
/// the slots due at a tick together, with [`crate::store::Runs::start_runs`]).
pub async fn run_started(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    run: &NewRun,
) -> Result<Recorded, RecordError> {
    let outcome = record_started(cx, store, warehouses, dataset, run, |_| {}).await;
    counted_if_not_started(run.trigger, outcome)
}

/// Counts a run that could not start in `tidemark_runs_total`, and passes its outcome on.
fn counted_if_not_started(
    trigger: Trigger,
    outcome: Result<Recorded, RecordError>,
) -> Result<Recorded, RecordError> {
    if let Err(RecordError::NotStarted(_)) = &outcome {
        count(trigger, RunState::NotStarted);
    }
    outcome
}

/// What the store is told when a run of `dataset` starts now.
pub fn new_run(dataset: &Dataset, request: &RunRequest, lease: Duration) -> NewRun {
    let now = Utc::now();
    NewRun {
        id: Uuid::new_v4(),
        batch_id: request.batch_id,
        dataset: dataset.name.clone(),
        warehouse: dataset.warehouse.clone(),
        trigger: request.trigger,
        slot: request.slot,
        replica: replica_name(),
        started_at: now,
        lease_until: now + lease,
    }
}

/// Records the scheduler's lag for a run that just claimed its slot: how long after the
/// slot it started. A retry's delay is its backoff, not lag.
pub fn slot_claimed(run: &NewRun) {
    if let Some(slot) = run.slot.filter(|_| run.trigger == Trigger::Schedule) {
        let lag = (run.started_at - slot).to_std().unwrap_or_default();
        metrics().scheduler_lag.record(lag.as_secs_f64(), &[]);
    }
}

/// [`run_recorded_with`] without counting runs that did not start: `run_batch` runs those
/// unrecorded and counts them itself.
async fn record(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    request: &RunRequest,
    started: impl FnOnce(Uuid) + Send,
) -> Result<Recorded, RecordError> {
    let run = new_run(dataset, request, cx.lease);
    let claim = store
        .start_run(&run)
        .await
        .map_err(RecordError::NotStarted)?;
    if claim == Claim::AlreadyClaimed {
        return Ok(Recorded::AlreadyClaimed);
    }
    slot_claimed(&run);
    record_started(cx, store, warehouses, dataset, &run, started).await
}

/// Runs the checks of a started run, keeping its lease alive, and stores what they found.
#[tracing::instrument(
    name = "tidemark.run",
    skip_all,
    fields(
        dataset = %dataset.name,
        trigger = run.trigger.as_str(),
        run_id = %run.id,
        slot = run.slot.map(|s| tracing::field::display(s.to_rfc3339())),
    )
)]
async fn record_started(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    run: &NewRun,
    started: impl FnOnce(Uuid) + Send,
) -> Result<Recorded, RecordError> {
    let (run_id, trigger) = (run.id, run.trigger);
    let started_at = Instant::now();
    started(run_id);
    // Everything judging reads, before the run adds its own.
    let history = load_history(store, dataset)
        .await
        .map_err(RecordError::NotStarted)?;
    let base = match &history.snapshot {
        Some(columns) => DriftBase::Previous(columns),
        None => DriftBase::FirstSnapshot,
    };
    let emission = emit::start(cx.emitter.as_ref(), dataset, run_id);
    // Boxed: the checks' and the store's futures are large (tens of KB); inline, every run
    // waiting for a warehouse slot would reserve their space, and the nesting overflows the
    // compiler's layout depth in release builds.
    let checks = Box::pin(check_dataset(
        dataset,
        warehouses.get(&dataset.warehouse),
        base,
        &history.baselines,
        history.watermark,
    ));
    let (
        DatasetRun {
            results,
            schema,
            profiles,
            points,
        },
        cost,
    ) = costed(with_heartbeat(store, run_id, cx.lease, checks)).await;
    let context = anomaly_context(warehouses, dataset);
    let mut history = history;
    learn_measured(&mut history, dataset, &points);
    let Judged { results, shifts } = judge(dataset, results, Some(&history), &context);
    accept_shifts(store, dataset, shifts).await;
    emission.finish(dataset, &results);
    let finished = FinishedRun {
        id: run_id,
        status: RunStatus::Completed,
        finished_at: Utc::now(),
        error: None,
        results: results
            .iter()
            .zip(&dataset.checks)
            .map(|(result, check)| (result.clone(), check_hash(dataset, check)))
            .collect(),
        snapshot: schema.as_ref().map(SnapshotColumn::from_schema),
        profiles,
        bucket_points: points,
        cost,
    };
    match Box::pin(finish_patiently(store, &finished, cx.store_patience)).await {
        Ok(()) => {
            count_run(trigger, RunState::Completed, started_at, &results);
            if let Some(alerting) = &cx.alerting {
                Box::pin(alerts::after_run(alerting, store, dataset, &results)).await;
            }
            Ok(Recorded::Done { run_id, results })
        }
        Err(error) => {
            count_run(trigger, RunState::NotStored, started_at, &results);
            Err(RecordError::NotStored(results, error))
        }
    }
}

/// What the dataset's anomaly thresholds judge against: now, in the dataset's zone, with
/// the project's holidays.
fn anomaly_context<'a>(warehouses: &'a Warehouses, dataset: &Dataset) -> AnomalyContext<'a> {
    let calendar = warehouses.calendar();
    AnomalyContext {
        at: Utc::now(),
        timezone: dataset.timezone.unwrap_or(calendar.timezone),
        holidays: calendar.holidays.as_ref(),
    }
}

/// Reads what the dataset's run is judged against, once: the previous snapshot, the
/// distribution checks' references and the anomaly checks' series. A series the store
/// cannot give makes only its check `error`; the rest is needed to run at all.
async fn load_history(store: &Store, dataset: &Dataset) -> Result<History, StoreError> {
    let snapshot = store
        .latest_snapshot(&dataset.name, &dataset.warehouse)
        .await?
        .map(|s| s.columns);
    let baselines = load_baselines(store, dataset).await?;
    let mut series = HashMap::new();
    for check in dataset
        .checks
        .iter()
        .filter(|c| c.thresholds.anomaly.is_some())
    {
        let mut points = store
            .metric_history(&dataset.name, &check.name, MAX_HISTORY as u32)
            .await
            .map_err(|e| e.to_string());
        // A per-bucket check judges the newest complete bucket, which an earlier run of the
        // same bucket may have stored: it is judged against the buckets before it only.
        if let (Some(partition), Ok(points)) = (&dataset.partition, points.as_mut())
            && check.kind.per_bucket()
        {
            let judged = partition.newest_complete(Utc::now());
            points.retain(|point| point.at < judged);
        }
        series.insert(check.name.clone(), points);
    }
    Ok(History {
        snapshot,
        baselines,
        series,
        watermark: watermark(store, dataset).await?,
    })
}

/// A partitioned run's own buckets before the one it judges join the series it is judged
/// against (replacing what an earlier run stored for them): a first run judges its newest
/// bucket against the ones it back-filled.
fn learn_measured(history: &mut History, dataset: &Dataset, points: &[BucketPoint]) {
    let Some(partition) = &dataset.partition else {
        return;
    };
    let judged = partition.newest_complete(Utc::now());
    for point in points.iter().filter(|point| point.at < judged) {
        let Some(Ok(series)) = history.series.get_mut(&point.check) else {
            continue;
        };
        match series.iter_mut().find(|stored| stored.at == point.at) {
            Some(stored) => stored.value = point.value,
            None => series.push(MetricPoint {
                at: point.at,
                value: point.value,
                lower: None,
                upper: None,
                anomalous: false,
                shift: false,
                feedback: None,
            }),
        }
    }
    for series in history.series.values_mut().flatten() {
        series.sort_by_key(|point| point.at);
    }
}

/// Where a partitioned dataset's bucket query starts: the oldest of its per-bucket checks'
/// newest stored buckets, so that each check gets every bucket it lacks from the one query;
/// none (a first run's back-fill of `history` buckets) while a check has no bucket stored,
/// as a check added since the last run has not.
async fn watermark(store: &Store, dataset: &Dataset) -> Result<Option<DateTime<Utc>>, StoreError> {
    if dataset.partition.is_none() {
        return Ok(None);
    }
    let mut newest = Vec::new();
    for check in dataset.checks.iter().filter(|c| c.kind.per_bucket()) {
        let last = store.metric_history(&dataset.name, &check.name, 1).await?;
        newest.push(last.last().map(|point| point.at));
    }
    // `None` orders first: one check without a bucket makes the minimum none.
    Ok(newest.into_iter().min().flatten())
}

/// Marks the level shifts the detector accepted, so that later runs learn from them.
async fn accept_shifts(store: &Store, dataset: &Dataset, shifts: Vec<(String, DateTime<Utc>)>) {
    for (check, since) in shifts {
        if let Err(e) = store.accept_shift(&dataset.name, &check, since).await {
            // Not fatal: the next run decides about the shift again.
            tracing::warn!(dataset = %dataset.name, %check, "cannot mark the level shift: {e}");
        }
    }
}

/// A run's `status` in [`metrics()`]`.runs`.
#[derive(Clone, Copy)]
enum RunState {
    Completed,
    NotStored,
    NotStarted,
}

impl RunState {
    fn as_str(self) -> &'static str {
        match self {
            RunState::Completed => "completed",
            RunState::NotStored => "not_stored",
            RunState::NotStarted => "not_started",
        }
    }
}

/// Records a run whose checks ran: its count, duration and results.
/// Counts a run in `tidemark_runs_total`.
fn count(trigger: Trigger, state: RunState) {
    let labels = [
        KeyValue::new("trigger", trigger.as_str()),
        KeyValue::new("status", state.as_str()),
    ];
    metrics().runs.add(1, &labels);
}

fn count_run(trigger: Trigger, state: RunState, started: Instant, results: &[CheckResult]) {
    count(trigger, state);
    let metrics = metrics();
    metrics.run_duration.record(
        started.elapsed().as_secs_f64(),
        &[KeyValue::new("trigger", trigger.as_str())],
    );
    for outcome in [Outcome::Pass, Outcome::Warn, Outcome::Fail, Outcome::Error] {
        let n = results.iter().filter(|r| r.outcome == outcome).count() as u64;
        if n > 0 {
            metrics
                .check_results
                .add(n, &[KeyValue::new("outcome", outcome.as_str())]);
        }
    }
}

/// How long a finished run's results wait in memory for a store that stopped answering (a
/// restart, a failover) before they are reported as not stored.
pub const STORE_PATIENCE: Duration = Duration::from_secs(120);

/// Stores a finished run, retrying with backoff while the store is unavailable: the checks
/// already ran, and their results must not be lost to a store restart. The run's lease may
/// lapse meanwhile; the store still accepts the results of a run marked abandoned.
async fn finish_patiently(
    store: &Store,
    finished: &FinishedRun,
    patience: Duration,
) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(250);
    loop {
        match store.finish_run(finished).await {
            Err(StoreError::Unavailable(reason))
                if tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::warn!(run_id = %finished.id, %reason, "store unavailable; holding the run's results and retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Drives `work` to completion while renewing the run's lease, so that a long scan is not
/// mistaken for a dead replica. The heartbeats run beside the work, not inside its loop: a
/// store that takes seconds to answer (or to fail) delays the next heartbeat, never the
/// checks. A failed heartbeat is not fatal: the work goes on, and the worst case is the run
/// being marked abandoned and its results stored after all.
async fn with_heartbeat<T>(
    store: &Store,
    run_id: Uuid,
    lease: Duration,
    work: impl Future<Output = T>,
) -> T {
    let beats = async {
        let mut beat = tokio::time::interval(lease / 3);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await; // the first tick is immediate; the lease was just taken
        loop {
            beat.tick().await;
            if let Err(e) = store.heartbeat(run_id, Utc::now() + lease).await {
                tracing::warn!(%run_id, error = %e, "could not renew the run's lease");
            }
        }
    };
    match futures_util::future::select(pin!(work), pin!(beats)).await {
        futures_util::future::Either::Left((output, _)) => output,
        // The heartbeats never end; were they to, the work would still be finished.
        futures_util::future::Either::Right(((), work)) => work.await,
    }
}

/// Identifies a check's definition (with its dataset's filter, which changes what it
/// measures): history from before an edit can be told apart from after it.
pub fn check_hash(dataset: &Dataset, check: &Check) -> String {
    let definition = format!(
        "{:?}|{:?}|{:?}|{:?}",
        dataset.filter, check.kind, check.thresholds, check.filter
    );
    let digest = Sha256::digest(definition.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// `host:pid`, so an operator can tell which replica holds a run.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// The stored profiles the dataset's distribution checks are judged against.
async fn load_baselines(store: &Store, dataset: &Dataset) -> Result<Baselines, StoreError> {
    let mut stored = HashMap::new();
    for query in Baselines::wanted(dataset, Utc::now()) {
        let profiles = store.distribution_profiles(&query).await?;
        stored.insert(query.check.to_owned(), profiles);
    }
    Ok(Baselines::stored(stored))
}
