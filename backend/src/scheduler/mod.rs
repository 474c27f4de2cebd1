//! The scheduler of `tidemark serve`: runs each scheduled dataset at its cron slots, runs
//! datasets on request, reloads the configuration, and marks the runs of dead replicas
//! abandoned.
//!
//! | module        | owns                                                              |
//! |---------------|-------------------------------------------------------------------|
//! | `slots`       | a dataset's cron slots in its timezone (croner 4; pure)           |
//! | `agenda`      | which datasets are due at a tick, for which slot (pure)           |
//! | `ticker`      | the minute tick, fired by tokio-cron-scheduler                    |
//! | `retry`       | backoff and which errors are worth a retry (pure)                 |
//! | `connections` | warehouse connections for the server's lifetime, reconnecting     |
//!
//! **Exactly once across replicas.** Every replica computes the same slots and races for
//! them through [`runner::run_recorded`], which claims (dataset, slot) in the store first;
//! the store's unique index lets exactly one replica start the run, the others get
//! [`Recorded::AlreadyClaimed`]. Nothing is locked while a run works: its lease is renewed by
//! heartbeats.
//!
//! **Overlap.** When a slot comes while the dataset's previous run is still going (on this
//! replica, or on another one according to the store), the slot is *skipped* with a warning,
//! not queued: a check measures the table as it is when it runs, so a queued slot would only
//! repeat the next one's work, and a dataset slower than its schedule would build an
//! ever-growing backlog. Skipped slots are never claimed, so they leave no run behind.
//!
//! **Catch-up.** At start and after a reload, each dataset whose latest slot at or before
//! now is newer than its last claimed slot in the store runs that slot, and only that one.
//!
//! **Dead replicas.** A reaper expires lapsed leases every half lease
//! ([`runner::lease`], 60 s; `TIDEMARK_LEASE_SECS` overrides it). A run whose replica died
//! is marked `abandoned` and not re-run: its slot was claimed, and the dataset runs again at
//! its next slot (or when someone asks for it).
//!
//! **Retries.** See [`retry`]: warehouse outages are retried with backoff, before the next
//! slot, as new runs (trigger `manual`, no slot) in the batch of the slot they retry.
//! `TIDEMARK_RETRY_SECS` sets the first delay (10 s).

mod agenda;
mod connections;
mod retry;
mod slots;
mod ticker;

/// An RFC 3339 instant for unit tests of the scheduler's modules.
#[cfg(test)]
fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

pub use agenda::Agenda;
pub use connections::Connections;
pub use retry::{Backoff, warehouse_unavailable};
pub use slots::Schedule;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use uuid::Uuid;

use crate::engine::{Summary, Warehouses};
use crate::runner::{self, RecordError, Recorded, RunRequest};
use crate::spec::{self, Dataset, Diagnostic, Project};
use crate::store::{Page, RunFilter, RunStatus, Store, StoreApi, Trigger};
use crate::web::ServerCommand;
use ticker::Ticker;

/// Runs one cron slot of a dataset: claims (dataset, slot) in the store and, if this caller
/// got it, runs and records the checks. Replicas race for a slot through this; exactly one
/// gets [`Recorded::Done`].
pub async fn run_slot(
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    slot: DateTime<Utc>,
) -> Result<Recorded, RecordError> {
    runner::run_recorded(
        store,
        warehouses,
        dataset,
        &slot_request(slot, Uuid::new_v4()),
    )
    .await
}

fn slot_request(slot: DateTime<Utc>, batch_id: Uuid) -> RunRequest {
    RunRequest {
        batch_id,
        trigger: Trigger::Schedule,
        slot: Some(slot),
    }
}

/// Tunables, from the environment.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub backoff: Backoff,
    /// How often lapsed leases are expired: half the lease.
    pub reap_every: Duration,
}

impl Settings {
    /// `TIDEMARK_RETRY_SECS` (first retry delay) and `TIDEMARK_LEASE_SECS` (via
    /// [`runner::lease`]) shorten the waits, for tests.
    pub fn from_env() -> Settings {
        let mut backoff = Backoff::default();
        if let Ok(value) = std::env::var("TIDEMARK_RETRY_SECS") {
            match value.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => backoff.first = Duration::from_secs(secs),
                _ => tracing::warn!("TIDEMARK_RETRY_SECS is not a positive number of seconds"),
            }
        }
        Settings {
            backoff,
            reap_every: runner::lease() / 2,
        }
    }
}

/// What the scheduler starts from.
pub struct Parts {
    /// Where the project was loaded from; reloads read it again.
    pub dir: PathBuf,
    pub store: Arc<Store>,
    pub project: Arc<Project>,
    pub connections: Arc<Connections>,
    /// Where the configuration in force is published (the API reads it).
    pub project_tx: watch::Sender<Arc<Project>>,
    pub settings: Settings,
}

/// A configuration in force: what a reload replaces as a whole.
struct Config {
    generation: u64,
    project: Arc<Project>,
    connections: Arc<Connections>,
    agenda: Agenda,
    /// Dataset name → its index in `project.datasets`.
    by_name: HashMap<String, usize>,
}

impl Config {
    fn new(
        generation: u64,
        project: Arc<Project>,
        connections: Arc<Connections>,
        now: DateTime<Utc>,
    ) -> Config {
        let mut schedules = Vec::new();
        for dataset in &project.datasets {
            match Schedule::of(dataset, &project.defaults) {
                None => {}
                Some(Ok(schedule)) => {
                    if schedule.next_after(now).is_none() {
                        tracing::warn!(
                            dataset = %dataset.name,
                            cron = schedule.expression(),
                            "the schedule never fires"
                        );
                    }
                    schedules.push((dataset.name.clone(), schedule));
                }
                Some(Err(e)) => tracing::error!(dataset = %dataset.name, "not scheduled: {e}"),
            }
        }
        // Names are the store's key for a dataset; the first of a repeated name wins.
        let mut by_name = HashMap::new();
        for (i, dataset) in project.datasets.iter().enumerate() {
            by_name.entry(dataset.name.clone()).or_insert(i);
        }
        Config {
            generation,
            agenda: Agenda::new(schedules, now),
            project,
            connections,
            by_name,
        }
    }

    fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.project.datasets.get(*self.by_name.get(name)?)
    }
}

enum Event {
    /// A slot that was missed while the server was down, found at start or reload of the
    /// configuration `generation`.
    CatchUp {
        generation: u64,
        dataset: String,
        slot: DateTime<Utc>,
    },
    /// Time to retry a scheduled run.
    Retry { dataset: String, work: Work },
}

/// What a run is for.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// A cron slot (`attempt` 0) or a retry of it (`attempt` 1, 2, …).
    Slot {
        slot: DateTime<Utc>,
        batch_id: Uuid,
        attempt: u32,
        /// Whether the run claims the slot: the first attempt does, and so does a retry of
        /// an attempt that could not reach the store; retries of a claimed slot do not.
        claim: bool,
    },
    /// "Run this dataset now": trigger `manual`.
    Manual,
}

/// How a run task ended.
struct Finished {
    dataset: String,
    work: Work,
    ending: Ending,
}

enum Ending {
    /// Not run: another run of the dataset was still going.
    Skipped(String),
    Ran(Result<Recorded, RecordError>),
}

type RunReply = oneshot::Sender<Result<Uuid, String>>;

/// How many run tasks exist at once. Warehouses bound how many queries run; this bounds the
/// tasks waiting for them, so 10,000 datasets due in one minute cost a queue, not 10,000
/// suspended runs.
const MAX_IN_FLIGHT: usize = 256;

/// A run waiting for room in [`MAX_IN_FLIGHT`].
struct Pending {
    dataset: Dataset,
    work: Work,
    reply: Option<RunReply>,
    /// Keeps it counted in the queue-depth metric until it starts.
    _queued: crate::telemetry::Queued,
}

pub struct Scheduler {
    dir: PathBuf,
    store: Arc<Store>,
    config: Config,
    project_tx: watch::Sender<Arc<Project>>,
    settings: Settings,
    ticker: Option<Ticker>,
    ticks: mpsc::UnboundedReceiver<()>,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    reaper: JoinHandle<()>,
    /// Runs in flight, and which dataset each task runs.
    runs: JoinSet<Finished>,
    tasks: HashMap<tokio::task::Id, String>,
    /// Runs in flight per dataset (scheduled, retried or manual).
    running: HashMap<String, usize>,
    /// Runs due but not started, beyond [`MAX_IN_FLIGHT`]: a few hundred bytes each, where a
    /// started run's task holds its whole (large) future while it waits for a warehouse.
    pending: VecDeque<Pending>,
    /// Connections of replaced configurations, closed once no run uses them.
    retired: Vec<Arc<Connections>>,
    stopping: bool,
}

impl Scheduler {
    /// Starts the clock and the reaper, and looks for missed slots. Runs happen once
    /// [`Scheduler::run`] drives the scheduler.
    pub async fn start(parts: Parts) -> Result<Scheduler, String> {
        let (ticks_tx, ticks) = mpsc::unbounded_channel();
        let ticker = Ticker::start(ticks_tx)
            .await
            .map_err(|e| format!("cannot start the scheduler's clock: {e}"))?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let config = Config::new(0, parts.project, parts.connections, Utc::now());
        tracing::info!(
            datasets = config.project.datasets.len(),
            scheduled = config.agenda.len(),
            "scheduler started"
        );
        let reaper = tokio::spawn(reap(Arc::clone(&parts.store), parts.settings.reap_every));
        let scheduler = Scheduler {
            dir: parts.dir,
            store: parts.store,
            config,
            project_tx: parts.project_tx,
            settings: parts.settings,
            ticker: Some(ticker),
            ticks,
            events_tx,
            events,
            reaper,
            runs: JoinSet::new(),
            tasks: HashMap::new(),
            running: HashMap::new(),
            pending: VecDeque::new(),
            retired: Vec::new(),
            stopping: false,
        };
        scheduler.catch_up();
        Ok(scheduler)
    }

    /// Runs until `shutdown` turns true, then takes no new work, waits for the runs in
    /// flight to finish and closes the warehouse connections.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<ServerCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                // (Dropping the borrow at once: the future must stay `Send`.)
                _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => break,
                Some(()) = self.ticks.recv() => self.tick(),
                Some(event) = self.events.recv() => self.event(event),
                Some(command) = commands.recv() => self.command(command).await,
                Some(joined) = self.runs.join_next_with_id() => self.finished(joined),
            }
        }
        self.drain(&mut commands).await;
    }

    fn tick(&mut self) {
        let now = Utc::now();
        for (dataset, slot) in self.config.agenda.due(now) {
            let lag = (now - slot).num_milliseconds();
            tracing::debug!(%dataset, %slot, lag_ms = lag, "slot due");
            self.fire(&dataset, slot);
        }
    }

    /// Starts a dataset's slot, unless its previous run is still going here.
    fn fire(&mut self, name: &str, slot: DateTime<Utc>) {
        let Some(dataset) = self.config.dataset(name).cloned() else {
            return;
        };
        if self.running.get(name).is_some_and(|n| *n > 0) {
            tracing::warn!(
                dataset = name,
                %slot,
                "slot skipped: the dataset's previous run is still going"
            );
            return;
        }
        let work = Work::Slot {
            slot,
            batch_id: Uuid::new_v4(),
            attempt: 0,
            claim: true,
        };
        self.spawn_run(dataset, work, None);
    }

    fn event(&mut self, event: Event) {
        if self.stopping {
            return;
        }
        match event {
            Event::CatchUp {
                generation,
                dataset,
                slot,
            } => {
                // A reload replaced the configuration, or the clock already fired a newer
                // slot: this one is no longer the latest.
                let latest = self
                    .config
                    .agenda
                    .schedule(&dataset)
                    .and_then(|s| s.latest_at_or_before(Utc::now()));
                if generation == self.config.generation && latest == Some(slot) {
                    tracing::info!(%dataset, %slot, "catching up a missed slot");
                    self.fire(&dataset, slot);
                }
            }
            Event::Retry { dataset, work } => self.retry(&dataset, work),
        }
    }

    fn retry(&mut self, name: &str, work: Work) {
        let Work::Slot { slot, .. } = work else {
            return;
        };
        let Some(dataset) = self.config.dataset(name).cloned() else {
            return;
        };
        let next_slot = self
            .config
            .agenda
            .schedule(name)
            .and_then(|s| s.next_after(slot));
        if next_slot.is_some_and(|next| Utc::now() >= next) {
            tracing::info!(dataset = name, %slot, "retry dropped: the next slot has come");
        } else if self.running.get(name).is_some_and(|n| *n > 0) {
            tracing::info!(dataset = name, %slot, "retry dropped: another run is going");
        } else {
            self.spawn_run(dataset, work, None);
        }
    }

    async fn command(&mut self, command: ServerCommand) {
        match command {
            ServerCommand::RunNow { dataset, reply } => match self.config.dataset(&dataset) {
                Some(found) => {
                    let found = found.clone();
                    self.spawn_run(found, Work::Manual, Some(reply));
                }
                None => {
                    let _ = reply.send(Err(format!("no dataset named {dataset}")));
                }
            },
            ServerCommand::Reload { reply } => {
                let _ = reply.send(self.reload().await);
            }
        }
    }

    /// Reads the project again. On problems the configuration in force stays; otherwise
    /// the new one replaces it whole: schedules, warehouse connections, what the API shows.
    /// Runs in flight finish with the configuration they started with.
    async fn reload(&mut self) -> Result<(), Vec<Diagnostic>> {
        let dir = self.dir.clone();
        let project = match tokio::task::spawn_blocking(move || spec::load(&dir)).await {
            Ok(Ok(project)) => project,
            Ok(Err(diagnostics)) => {
                tracing::error!(
                    problems = diagnostics.len(),
                    "reload refused; the running configuration stays"
                );
                for diagnostic in &diagnostics {
                    tracing::error!("{diagnostic}");
                }
                return Err(diagnostics);
            }
            Err(e) => {
                return Err(vec![Diagnostic {
                    location: None,
                    message: format!("reading the project failed: {e}"),
                }]);
            }
        };
        if project.store != self.config.project.store {
            tracing::warn!(
                "the store changed in tidemark.yml; it takes effect at the next restart"
            );
        }
        let project = Arc::new(project);
        let connections = Arc::new(Connections::connect(Arc::clone(&project)).await);
        let generation = self.config.generation + 1;
        let replaced = std::mem::replace(
            &mut self.config,
            Config::new(generation, Arc::clone(&project), connections, Utc::now()),
        );
        self.retired.push(replaced.connections);
        self.project_tx.send_replace(project);
        tracing::info!(
            datasets = self.config.project.datasets.len(),
            scheduled = self.config.agenda.len(),
            "configuration reloaded"
        );
        self.catch_up();
        self.close_retired();
        Ok(())
    }

    /// Looks up, off the scheduler's loop, which datasets' latest slot has not been claimed,
    /// and sends those slots back as [`Event::CatchUp`].
    fn catch_up(&self) {
        let now = Utc::now();
        let due: Vec<(String, DateTime<Utc>)> = self
            .config
            .agenda
            .schedules()
            .filter_map(|(name, s)| Some((name.to_owned(), s.latest_at_or_before(now)?)))
            .collect();
        let (store, events, generation) = (
            Arc::clone(&self.store),
            self.events_tx.clone(),
            self.config.generation,
        );
        tokio::spawn(async move {
            for (dataset, slot) in due {
                match store.last_slot(&dataset).await {
                    Ok(Some(last)) if last >= slot => {
                        tracing::debug!(%dataset, %slot, "catch-up: the latest slot is claimed");
                    }
                    Ok(_) => {
                        let event = Event::CatchUp {
                            generation,
                            dataset,
                            slot,
                        };
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(%dataset, "catch-up: cannot read the last slot: {e}"),
                }
            }
        });
    }

    fn spawn_run(&mut self, dataset: Dataset, work: Work, reply: Option<RunReply>) {
        if self.stopping {
            if let Some(reply) = reply {
                let _ = reply.send(Err("the server is shutting down".into()));
            }
            return;
        }
        // Queued runs count as running: a slot firing while one waits is an overlap too.
        *self.running.entry(dataset.name.clone()).or_default() += 1;
        if self.runs.len() >= MAX_IN_FLIGHT {
            let _queued = crate::telemetry::metrics().queued("start");
            self.pending.push_back(Pending {
                dataset,
                work,
                reply,
                _queued,
            });
            return;
        }
        self.launch(dataset, work, reply);
    }

    fn launch(&mut self, dataset: Dataset, work: Work, reply: Option<RunReply>) {
        let name = dataset.name.clone();
        let task = perform(
            Arc::clone(&self.store),
            Arc::clone(&self.config.connections),
            dataset,
            work,
            reply,
        );
        let handle = self.runs.spawn(task);
        self.tasks.insert(handle.id(), name);
    }

    fn finished(&mut self, joined: Result<(tokio::task::Id, Finished), JoinError>) {
        let finished = match joined {
            Ok((id, finished)) => {
                self.tasks.remove(&id);
                finished
            }
            Err(e) => {
                let dataset = self.tasks.remove(&e.id()).unwrap_or_default();
                tracing::error!(%dataset, "a run stopped unexpectedly: {e}");
                self.release(&dataset);
                self.start_pending();
                return;
            }
        };
        self.release(&finished.dataset);
        self.report(finished);
        self.start_pending();
        self.close_retired();
    }

    /// Starts queued runs while there is room.
    fn start_pending(&mut self) {
        while self.runs.len() < MAX_IN_FLIGHT {
            let Some(Pending {
                dataset,
                work,
                reply,
                ..
            }) = self.pending.pop_front()
            else {
                break;
            };
            self.launch(dataset, work, reply);
        }
    }

    fn release(&mut self, dataset: &str) {
        if let Some(n) = self.running.get_mut(dataset) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(dataset);
            }
        }
    }

    /// Logs how a run ended and schedules a retry when the warehouse let it down.
    fn report(&mut self, finished: Finished) {
        let Finished {
            dataset,
            work,
            ending,
        } = finished;
        // As recorded: retries of a claimed slot are `manual` runs (see `retry`).
        let (trigger, slot) = match work {
            Work::Slot {
                claim: true, slot, ..
            } => ("schedule", Some(slot)),
            Work::Slot {
                claim: false, slot, ..
            } => ("retry (manual)", Some(slot)),
            Work::Manual => ("manual", None),
        };
        match ending {
            Ending::Skipped(reason) => {
                tracing::warn!(%dataset, slot = ?slot, "slot skipped: {reason}");
            }
            Ending::Ran(Ok(Recorded::Done { run_id, results })) => {
                let Summary {
                    pass,
                    warn,
                    fail,
                    error,
                } = Summary::of(results.iter().map(|r| r.outcome));
                tracing::info!(
                    %dataset, %run_id, trigger, slot = ?slot, pass, warn, fail, error,
                    "run recorded"
                );
                if warehouse_unavailable(&results) {
                    self.schedule_retry(&dataset, work, false, "the warehouse was unavailable");
                }
            }
            Ending::Ran(Ok(Recorded::AlreadyClaimed)) => {
                tracing::debug!(%dataset, slot = ?slot, "slot claimed by another replica");
            }
            Ending::Ran(Err(RecordError::NotStarted(e))) => {
                tracing::error!(%dataset, trigger, slot = ?slot, "the run could not start: {e}");
                self.schedule_retry(&dataset, work, true, "the store was unavailable");
            }
            Ending::Ran(Err(RecordError::NotStored(_, e))) => {
                // The run stays `running` until its lease lapses and the reaper marks it
                // abandoned; its results are in this log line's neighbourhood only.
                tracing::error!(%dataset, trigger, slot = ?slot, "the run's results could not be stored: {e}");
            }
        }
    }

    /// Retries a scheduled run after the backoff, unless the dataset's next slot comes
    /// first. `claim` says whether the retry must claim the slot (the failed attempt never
    /// reached the store) or runs as an unclaimed retry of the batch.
    fn schedule_retry(&mut self, dataset: &str, work: Work, claim: bool, why: &str) {
        let Work::Slot {
            slot,
            batch_id,
            attempt,
            claim: claimed_before,
        } = work
        else {
            return;
        };
        if self.stopping {
            return;
        }
        let Some(schedule) = self.config.agenda.schedule(dataset) else {
            return;
        };
        let next_slot = schedule.next_after(slot);
        let attempt = attempt + 1;
        let now = Utc::now();
        let Some(at) = self.settings.backoff.retry_at(now, attempt, next_slot) else {
            tracing::warn!(%dataset, %slot, "{why}; not retried: the next slot comes first");
            return;
        };
        tracing::warn!(%dataset, %slot, retry = attempt, at = %at, "{why}; retrying");
        let work = Work::Slot {
            slot,
            batch_id,
            attempt,
            claim: claim && claimed_before,
        };
        let (events, dataset) = (self.events_tx.clone(), dataset.to_owned());
        let delay = (at - now).to_std().unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::Retry { dataset, work });
        });
    }

    /// Closes the connections of replaced configurations that no run holds any more.
    fn close_retired(&mut self) {
        let (idle, busy): (Vec<_>, Vec<_>) = self
            .retired
            .drain(..)
            .partition(|c| Arc::strong_count(c) == 1);
        self.retired = busy;
        for connections in idle {
            tokio::spawn(async move { connections.close().await });
        }
    }

    /// Stops taking work, lets the runs in flight finish (their leases renewed as usual),
    /// then closes every connection.
    async fn drain(&mut self, commands: &mut mpsc::Receiver<ServerCommand>) {
        self.stopping = true;
        if let Some(ticker) = self.ticker.take() {
            ticker.stop().await;
        }
        self.reaper.abort();
        // Runs not started yet are not started now; "run now" callers hear why.
        for pending in self.pending.drain(..) {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err("the server is shutting down".into()));
            }
        }
        if !self.runs.is_empty() {
            tracing::info!(
                runs = self.runs.len(),
                "stopping: waiting for the runs in flight"
            );
        }
        while !self.runs.is_empty() {
            tokio::select! {
                Some(joined) = self.runs.join_next_with_id() => self.finished(joined),
                Some(command) = commands.recv() => refuse(command),
                else => break,
            }
        }
        self.config.connections.close().await;
        for connections in self.retired.drain(..) {
            connections.close().await;
        }
        tracing::info!("scheduler stopped");
    }
}

fn refuse(command: ServerCommand) {
    const STOPPING: &str = "the server is shutting down";
    match command {
        ServerCommand::RunNow { reply, .. } => {
            let _ = reply.send(Err(STOPPING.into()));
        }
        ServerCommand::Reload { reply } => {
            let _ = reply.send(Err(vec![Diagnostic {
                location: None,
                message: STOPPING.into(),
            }]));
        }
    }
}

/// One run task: checks for an overlapping run elsewhere (first attempts of a slot), then
/// claims, runs and records.
async fn perform(
    store: Arc<Store>,
    connections: Arc<Connections>,
    dataset: Dataset,
    work: Work,
    reply: Option<RunReply>,
) -> Finished {
    let ending = match work {
        Work::Slot {
            slot, attempt: 0, ..
        } => {
            // Scheduled, not started: counted in the queue depth until it is.
            let waiting = crate::telemetry::metrics().queued("start");
            match running_elsewhere(&store, &dataset.name, slot).await {
                Some(reason) => Ending::Skipped(reason),
                None => {
                    drop(waiting);
                    Ending::Ran(execute(&store, &connections, &dataset, work, reply).await)
                }
            }
        }
        _ => Ending::Ran(execute(&store, &connections, &dataset, work, reply).await),
    };
    Finished {
        dataset: dataset.name,
        work,
        ending,
    }
}

async fn execute(
    store: &Store,
    connections: &Connections,
    dataset: &Dataset,
    work: Work,
    reply: Option<RunReply>,
) -> Result<Recorded, RecordError> {
    let warehouses = {
        let _waiting = crate::telemetry::metrics().queued("start");
        connections.for_dataset(dataset).await
    };
    let request = match work {
        Work::Slot {
            slot,
            batch_id,
            claim: true,
            ..
        } => slot_request(slot, batch_id),
        // A retry of a claimed slot: see `retry` for why it is recorded as `manual`.
        Work::Slot {
            batch_id,
            claim: false,
            ..
        } => RunRequest {
            batch_id,
            trigger: Trigger::Manual,
            slot: None,
        },
        Work::Manual => RunRequest {
            batch_id: Uuid::new_v4(),
            trigger: Trigger::Manual,
            slot: None,
        },
    };
    // The reply goes out as soon as the run is recorded as running, or with the reason it
    // could not start.
    let reply = std::sync::Mutex::new(reply);
    let take_reply = || reply.lock().ok().and_then(|mut r| r.take());
    let started = |run_id| {
        if let Some(reply) = take_reply() {
            let _ = reply.send(Ok(run_id));
        }
    };
    let result = runner::run_recorded_with(store, &warehouses, dataset, &request, started).await;
    if let Some(reply) = take_reply() {
        let reason = match &result {
            Err(RecordError::NotStarted(e)) => format!("the run could not start: {e}"),
            _ => "the run did not start".to_owned(),
        };
        let _ = reply.send(Err(reason));
    }
    result
}

/// Another run of the dataset, for an earlier slot or on request, that is still going
/// (according to the store, so on any replica): the reason to skip `slot`.
async fn running_elsewhere(store: &Store, dataset: &str, slot: DateTime<Utc>) -> Option<String> {
    let filter = RunFilter {
        dataset: Some(dataset.to_owned()),
        status: Some(RunStatus::Running),
        trigger: None,
    };
    let page = Page {
        limit: 10,
        before: None,
    };
    match store.runs(&filter, page).await {
        Ok(runs) => {
            let now = Utc::now();
            runs.items
                .into_iter()
                .find(|run| run.lease_until > now && run.slot != Some(slot))
                .map(|run| {
                    format!(
                        "the dataset's previous run {} is still going on {}",
                        run.id, run.replica
                    )
                })
        }
        Err(e) => {
            tracing::warn!(dataset, "cannot check for a run still going: {e}");
            None
        }
    }
}

/// Marks runs whose replica stopped renewing their lease as abandoned, every `every`.
async fn reap(store: Arc<Store>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match store.expire_leases(Utc::now()).await {
            Ok(abandoned) => {
                for run in abandoned {
                    tracing::warn!(
                        run_id = %run.id,
                        dataset = %run.dataset,
                        replica = %run.replica,
                        slot = ?run.slot,
                        "run abandoned: its replica stopped renewing the lease; \
                         the dataset runs again at its next slot"
                    );
                }
            }
            Err(e) => tracing::warn!("cannot expire lapsed leases: {e}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::spec::{Dataset, Location, TableRef};

    /// A dataset with no checks and no schedule, for tests of scheduling.
    pub(crate) fn dataset(name: &str) -> Dataset {
        Dataset {
            name: name.to_owned(),
            table: TableRef {
                schema: None,
                table: name.to_owned(),
            },
            warehouse: "main".into(),
            owner: None,
            schedule: None,
            timezone: None,
            tags: Vec::new(),
            upstream: Vec::new(),
            filter: None,
            sla: None,
            checks: Vec::new(),
            location: Location {
                file: Arc::new(PathBuf::from("checks/test.yml")),
                line: 1,
                column: 1,
            },
        }
    }
}
