//! Alerts: SLAs, incidents, routing, templates, and delivery to Slack and email through an
//! outbox in the store.
//!
//! | module      | owns                                                                |
//! |-------------|---------------------------------------------------------------------|
//! | `sla`       | judging a freshness SLA's `fresh_by` on the measured age (pure)      |
//! | `incidents` | the incident state machine: result, action or time → change (pure)  |
//! | `routing`   | which channels hear of an incident, one notification each           |
//! | `templates` | the message and its handlebars templates, built in or overridden    |
//! | `slack`     | Block Kit payloads POSTed to incoming webhooks                      |
//! | `email`     | multipart emails over SMTP (lettre)                                 |
//! | `outbox`    | the delivery worker: claims, retries with backoff, dead letters     |
//!
//! **Flow.** Once a run's results are stored ([`after_run`], called by the runner), each
//! result moves its check's incident along; the changes and their notifications are written
//! in one transaction, and the outbox worker delivers them. A reminder sweep
//! ([`remind`]) re-notifies open incidents nobody acknowledged and announces what muted,
//! folded or flapping incidents kept quiet.
//!
//! **Who alerts.** Alerting is on where the run context carries an [`Alerting`]: `tidemark
//! serve` always, `tidemark run` only with `--alert` (it then delivers before exiting). The
//! engine does not know whether it is on; the runner calls [`after_run`] only when it is.
//!
//! **Run errors.** When every check of a run errored with the same message (the warehouse
//! is down), that is one incident for the dataset's check [`ALL_CHECKS`], not one per check.

mod email;
mod impact;
pub mod inbox;
mod incidents;
mod outbox;
mod routing;
mod slack;
mod templates;

pub use impact::{Impact, ImpactCache};
pub use incidents::{Action, Refused};
pub use templates::{AtRisk, check_link, dataset_link, expectation};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{Notify, watch};

use crate::results::{CheckResult, Outcome};
use crate::spec::{self, Dataset, Diagnostic, Project, Severity};
use crate::store::{Due, Incident, IncidentChange, Store, StoreError};
use incidents::{Observation, Timing};
use templates::Templates;

/// The check name of a dataset-wide error incident (every check errored alike).
pub const ALL_CHECKS: &str = "all checks";

/// How often a write that lost a race with another replica is judged again.
const CONFLICT_RETRIES: usize = 3;

/// Tunables from the environment (tests shorten them).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// First retry delay (`--alert-retry-ms`, 5000).
    pub retry: Duration,
    /// Longest a delivery attempt may take (`--alert-timeout-secs`, 10).
    pub timeout: Duration,
    /// How often the reminder sweep runs (`--alert-sweep-secs`, 60).
    pub sweep_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry: Duration::from_millis(5_000),
            timeout: Duration::from_secs(10),
            sweep_every: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// How long a claimed notification is a worker's: its attempt's timeout, twice, and a
    /// margin for recording it.
    fn lease(&self) -> TimeDelta {
        TimeDelta::from_std(self.timeout * 2 + Duration::from_secs(5)).unwrap_or(TimeDelta::MAX)
    }
}

/// Alerting for one process: the configuration in force, the compiled templates and the
/// channels' clients.
pub struct Alerting {
    project: watch::Receiver<Arc<Project>>,
    templates: Templates,
    http: reqwest::Client,
    mailer: email::Mailer,
    settings: Settings,
    /// Who this process is when it claims notifications.
    claimer: String,
    /// Wakes the worker when notifications are enqueued.
    wake: Notify,
    /// Notifications this process enqueued: the CLI delivers them before it exits.
    enqueued: Mutex<Vec<i64>>,
    /// The lineage graph built last (shared with the server's dashboard).
    impacts: Arc<ImpactCache>,
}

impl Alerting {
    /// Compiles the templates (the project's overrides included); their problems are
    /// diagnostics at the template file's line and column.
    pub fn new(
        project: watch::Receiver<Arc<Project>>,
        settings: Settings,
    ) -> Result<Arc<Alerting>, Vec<Diagnostic>> {
        let overrides = project.borrow().alerts.templates.clone();
        let templates = Templates::load(overrides.as_deref())?;
        // Installed by telemetry already in the binary; tests and benches may come here first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| {
                vec![Diagnostic {
                    location: None,
                    message: format!("cannot set up the Slack client: {e}"),
                }]
            })?;
        Ok(Arc::new(Alerting {
            project,
            templates,
            http,
            mailer: email::Mailer::default(),
            settings,
            claimer: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
            enqueued: Mutex::new(Vec::new()),
            impacts: Arc::default(),
        }))
    }

    fn project(&self) -> Arc<Project> {
        Arc::clone(&self.project.borrow())
    }

    /// Delivers what this process enqueued, retrying for up to `patience`; the number of
    /// notifications still pending then (the server's outbox, if any, retries them later).
    pub async fn deliver_enqueued(
        &self,
        store: &Store,
        patience: Duration,
    ) -> Result<usize, StoreError> {
        let ids = self
            .enqueued
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default();
        let deadline = Utc::now() + TimeDelta::from_std(patience).unwrap_or(TimeDelta::MAX);
        loop {
            outbox::deliver_due(self, store).await?;
            let Some(next) = store.next_attempt(&ids).await? else {
                return Ok(0);
            };
            if next > deadline {
                return pending_among(store, &ids).await;
            }
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
        }
    }

    /// The lineage graph cache this alerting keeps, for the server's dashboard to share.
    pub fn impacts(&self) -> Arc<ImpactCache> {
        Arc::clone(&self.impacts)
    }

    fn enqueued(&self, ids: &[i64]) {
        if let Ok(mut enqueued) = self.enqueued.lock() {
            enqueued.extend_from_slice(ids);
        }
        self.wake.notify_one();
    }
}

/// How many of `ids` are still pending.
async fn pending_among(store: &Store, ids: &[i64]) -> Result<usize, StoreError> {
    let mut pending = 0;
    for id in ids {
        if store
            .next_attempt(std::slice::from_ref(id))
            .await?
            .is_some()
        {
            pending += 1;
        }
    }
    Ok(pending)
}

/// Problems of the project's template overrides, as `file:line:col` diagnostics (for
/// `tidemark validate`; alerting itself refuses to start with them).
pub fn template_problems(project: &Project) -> Vec<Diagnostic> {
    Templates::load(project.alerts.templates.as_deref())
        .err()
        .unwrap_or_default()
}

/// Moves the incidents of a dataset's checks along with a run's stored results. Failures
/// are logged: the run is recorded either way.
pub async fn after_run(
    alerting: &Alerting,
    store: &Store,
    dataset: &Dataset,
    results: &[CheckResult],
) {
    let project = alerting.project();
    let now = Utc::now();
    let impact = alerting.impacts.current(store, &project).await;
    match observe(store, &project, &impact, dataset, results, now, Send::All).await {
        Ok(ids) => alerting.enqueued(&ids),
        Err(e) => tracing::error!(dataset = %dataset.name, "incidents not updated: {e}"),
    }
}

/// A run that finished in the past, as [`after_past_runs`] replays it.
pub struct PastRun<'a> {
    pub dataset: &'a Dataset,
    pub at: DateTime<Utc>,
    pub results: Vec<CheckResult>,
}

/// Moves incidents along with runs that finished in the past, oldest first, as if each had
/// just finished then: the demo back-fills its history through here, so its incidents open
/// and resolve when its results say. Unlike [`after_run`] it works whether alerting is on
/// or not; the notifications wait in the outbox for a worker. Only inbox channels hear of
/// these past changes: Slack and email would get weeks of stale alerts at once.
pub async fn after_past_runs(
    store: &Store,
    project: &Project,
    runs: &[PastRun<'_>],
) -> Result<(), StoreError> {
    let impact = Impact::load(store, project, Utc::now(), &Default::default()).await;
    for run in runs {
        let (dataset, results) = (run.dataset, &run.results);
        observe(
            store,
            project,
            &impact,
            dataset,
            results,
            run.at,
            Send::InboxOnly,
        )
        .await?;
    }
    Ok(())
}

/// Which channels an observation notifies.
#[derive(Clone, Copy, PartialEq)]
enum Send {
    /// Every channel routing names.
    All,
    /// Only `inbox` channels (changes replayed from the past).
    InboxOnly,
}

/// Judges `results` against the dataset's incidents and writes the changes; the ids of
/// the notifications enqueued. An incident whose dataset has an active incident anywhere
/// upstream in `impact` is folded under it. Lost races with another replica are judged
/// again.
async fn observe(
    store: &Store,
    project: &Project,
    impact: &Impact,
    dataset: &Dataset,
    results: &[CheckResult],
    now: DateTime<Utc>,
    send: Send,
) -> Result<Vec<i64>, StoreError> {
    let upstream = impact.upstream(dataset);
    let mut datasets = vec![dataset.name.clone()];
    datasets.extend(upstream.keys().cloned());
    let at_risk = impact.downstream(&dataset.name, project);
    let timing = Timing::of(&project.alerts);
    let results = grouped(dataset, results);
    let mut attempt = 0;
    loop {
        let latest = store.latest_incidents(&datasets).await?;
        let cause = impact::likely_cause(&latest, &upstream);
        let changes: Vec<IncidentChange> = results
            .iter()
            .flat_map(|result| {
                let previous = latest
                    .iter()
                    .find(|i| i.dataset == dataset.name && i.check == result.check);
                let observation = observation(dataset, result, now, cause);
                incidents::observe(previous, &observation, timing)
            })
            .map(|step| routing::change(step, Some(dataset), project, &at_risk))
            .map(|mut change| {
                if send == Send::InboxOnly {
                    let inbox = |name: &str| {
                        matches!(project.channels.get(name), Some(spec::Channel::Inbox))
                    };
                    change.notifications.retain(|n| inbox(&n.channel));
                }
                change
            })
            .collect();
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        attempt += 1;
        match store.write_incidents(&changes, now).await {
            Err(StoreError::Conflict(_)) if attempt < CONFLICT_RETRIES => continue,
            Ok(enqueued) => {
                // Nothing downstream, nothing to adopt: no read (the common case).
                if !at_risk.is_empty() && changes.iter().any(opens_a_root) {
                    adopt_downstream(store, project, dataset, &at_risk, now).await;
                }
                return Ok(enqueued);
            }
            failed => return failed,
        }
    }
}

/// Whether a change opens an incident that is not folded under another.
fn opens_a_root(change: &IncidentChange) -> bool {
    change.base.is_none() && change.incident.cause.is_none()
}

/// Links the downstream incidents that opened shortly before `dataset`'s new root incident
/// to it ([`impact::adopted`]). Best effort: the link helps the reader, and a failure to
/// write it loses no result or notification, so it is logged rather than returned.
async fn adopt_downstream(
    store: &Store,
    project: &Project,
    dataset: &Dataset,
    at_risk: &[AtRisk],
    now: DateTime<Utc>,
) {
    let mut datasets = vec![dataset.name.clone()];
    datasets.extend(at_risk.iter().map(|a| a.dataset.clone()));
    for _ in 0..CONFLICT_RETRIES {
        let latest = match store.latest_incidents(&datasets).await {
            Ok(latest) => latest,
            Err(e) => return tracing::warn!("downstream incidents not linked to their cause: {e}"),
        };
        let root = latest
            .iter()
            .filter(|i| i.dataset == dataset.name && i.status.is_active() && i.cause.is_none())
            .max_by_key(|i| i.id);
        let Some(root) = root else { return };
        let changes: Vec<IncidentChange> = impact::adopted(root, &latest)
            .map(|incident| incidents::adopt(incident, root.id))
            .map(|step| routing::change(step, None, project, &[]))
            .collect();
        if changes.is_empty() {
            return;
        }
        match store.write_incidents(&changes, now).await {
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return tracing::warn!("downstream incidents not linked to their cause: {e}"),
            Ok(_) => return,
        }
    }
}

/// The results incidents judge: as they are, except that a run whose checks all errored
/// alike is one dataset-wide error; any other run also reports [`ALL_CHECKS`] passing, so
/// such an incident resolves once the dataset runs again.
fn grouped(dataset: &Dataset, results: &[CheckResult]) -> Vec<CheckResult> {
    let first = results.first();
    let alike = results.len() > 1
        && results
            .iter()
            .all(|r| r.outcome == Outcome::Error && Some(&r.message) == first.map(|f| &f.message));
    let whole = |outcome, message: String| CheckResult {
        dataset: dataset.name.clone(),
        warehouse: dataset.warehouse.clone(),
        check: ALL_CHECKS.to_owned(),
        kind: "run".to_owned(),
        column: None,
        columns: None,
        outcome,
        value: None,
        expected: None,
        message,
        severity: None,
        band: None,
    };
    match first {
        Some(first) if alike => vec![whole(Outcome::Error, first.message.clone())],
        _ => {
            let mut judged = results.to_vec();
            judged.push(whole(Outcome::Pass, String::new()));
            judged
        }
    }
}

/// How incidents see a result: SLA checks carry the SLA's severity; others their own, or
/// `medium`.
fn observation<'a>(
    dataset: &Dataset,
    result: &'a CheckResult,
    at: DateTime<Utc>,
    cause: Option<i64>,
) -> Observation<'a> {
    let sla = dataset.sla.as_ref().filter(|sla| sla.covers(&result.check));
    Observation {
        result,
        sla: sla.is_some(),
        severity: sla
            .map(|sla| sla.severity)
            .or(result.severity)
            .unwrap_or(Severity::Medium),
        at,
        cause,
    }
}

/// Why an API action on an incident did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("no incident with id {0}")]
    NotFound(i64),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Acknowledges, resolves or mutes an incident (the API's actions) as `actor`, an API
/// token's name; the incident after it. The process's `alerting`, when it has one, is woken
/// to send what the change enqueued.
pub async fn act(
    alerting: Option<&Alerting>,
    store: &Store,
    project: &Project,
    id: i64,
    action: Action,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<Incident, ActError> {
    let mut attempt = 0;
    loop {
        let incident = match store.incident(id).await {
            Err(StoreError::NotFound) => return Err(ActError::NotFound(id)),
            other => other?,
        };
        let Some(step) = incidents::act(&incident, action, now, actor)? else {
            return Ok(incident);
        };
        let dataset = project.datasets.iter().find(|d| d.name == incident.dataset);
        // Acknowledging or resolving by hand puts nothing new at risk.
        let change = routing::change(step, dataset, project, &[]);
        attempt += 1;
        match store
            .write_incidents(std::slice::from_ref(&change), now)
            .await
        {
            Err(StoreError::Conflict(_)) if attempt < CONFLICT_RETRIES => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {
                if let Some(alerting) = alerting {
                    alerting.wake.notify_one();
                }
                return Ok(change.incident);
            }
        }
    }
}

/// The reminder sweep: re-notifies open incidents nobody acknowledged and announces what
/// was kept quiet; how many incidents it moved. Another replica's sweep at the same time
/// loses nothing: one of two writes of an incident wins, the other is skipped.
pub async fn remind(
    alerting: &Alerting,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let project = alerting.project();
    let timing = Timing::of(&project.alerts);
    let due = Due {
        now,
        notified_before: now.checked_sub_signed(timing.renotify_after).unwrap_or(now),
        resolved_before: now.checked_sub_signed(timing.flap_window).unwrap_or(now),
    };
    let mut moved = 0;
    // Built at the first incident that has something to tell: most sweeps find none.
    let mut impact = None;
    for incident in store.incidents_due(due).await? {
        let Some(step) = incidents::review(&incident, now, timing) else {
            continue;
        };
        if impact.is_none() {
            impact = Some(alerting.impacts.current(store, &project).await);
        }
        let at_risk = impact
            .as_ref()
            .map(|impact| impact.downstream(&incident.dataset, &project))
            .unwrap_or_default();
        let dataset = project.datasets.iter().find(|d| d.name == incident.dataset);
        let change = routing::change(step, dataset, &project, &at_risk);
        match store
            .write_incidents(std::slice::from_ref(&change), now)
            .await
        {
            Ok(ids) => {
                alerting.enqueued(&ids);
                moved += 1;
            }
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

/// The server's alerting: the delivery worker and the reminder sweep, until `stop`; the
/// worker then delivers what is due one last time.
pub async fn run(alerting: Arc<Alerting>, store: Arc<Store>, stop: watch::Receiver<bool>) {
    let worker = tokio::spawn(outbox::work(
        Arc::clone(&alerting),
        Arc::clone(&store),
        stop.clone(),
    ));
    sweep(&alerting, &store, stop).await;
    if let Err(e) = worker.await {
        tracing::error!("the alert delivery worker failed: {e}");
    }
}

async fn sweep(alerting: &Alerting, store: &Store, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(alerting.settings.sweep_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(e) = remind(alerting, store, Utc::now()).await {
                    tracing::warn!("the reminder sweep failed: {e}");
                }
            }
            // (Dropping the borrow at once: the future must stay `Send`.)
            _ = async { stop.wait_for(|stop| *stop).await.is_ok() } => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures;

    fn result(check: &str, outcome: Outcome, message: &str) -> CheckResult {
        crate::results::fixtures::result(check, outcome, message)
    }

    #[test]
    fn a_run_whose_checks_all_errored_alike_is_one_dataset_wide_error() {
        let dataset = fixtures::dataset(vec![]);
        let down = "warehouse main: connection refused";
        let grouped_down = grouped(
            &dataset,
            &[
                result("a", Outcome::Error, down),
                result("b", Outcome::Error, down),
            ],
        );
        assert_eq!(grouped_down.len(), 1);
        assert_eq!(
            (grouped_down[0].check.as_str(), grouped_down[0].outcome),
            (ALL_CHECKS, Outcome::Error)
        );
        let mixed = grouped(
            &dataset,
            &[
                result("a", Outcome::Error, down),
                result("b", Outcome::Fail, "3 rows"),
            ],
        );
        let checks: Vec<(&str, Outcome)> = mixed
            .iter()
            .map(|r| (r.check.as_str(), r.outcome))
            .collect();
        assert_eq!(
            checks,
            [
                ("a", Outcome::Error),
                ("b", Outcome::Fail),
                (ALL_CHECKS, Outcome::Pass)
            ]
        );
    }

    #[test]
    fn sla_checks_carry_the_slas_severity() {
        let mut dataset = fixtures::dataset(vec![]);
        dataset.sla = Some(crate::spec::Sla {
            freshness: None,
            checks: vec!["a".into()],
            severity: Severity::Critical,
        });
        let sla = result("a", Outcome::Fail, "");
        let plain = CheckResult {
            severity: Some(Severity::Low),
            ..result("b", Outcome::Fail, "")
        };
        let other = result("c", Outcome::Fail, "");
        let at = Utc::now();
        let seen = observation(&dataset, &sla, at, None);
        assert_eq!((seen.sla, seen.severity), (true, Severity::Critical));
        assert_eq!(
            observation(&dataset, &plain, at, None).severity,
            Severity::Low
        );
        assert_eq!(
            observation(&dataset, &other, at, None).severity,
            Severity::Medium
        );
    }
}
