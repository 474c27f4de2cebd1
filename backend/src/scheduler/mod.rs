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
//! them in the store: at each tick it claims every due (dataset, slot) in one batch
//! ([`crate::store::Runs::start_runs`]), and the store's unique index gives each slot to exactly one
//! replica. Claimed runs then wait for one of [`MAX_IN_FLIGHT`] workers; the claim is what
//! makes a slot on time, and a queue of 10,000 claimed runs costs a few MB where 10,000
//! suspended runs cost gigabytes. Nothing is locked while a run works or waits: its lease is
//! renewed by heartbeats (in one statement for all the runs waiting).
//!
//! **Overlap.** When a slot comes while the dataset's previous run is still going (on this
//! replica, or on another one according to the store), the slot is *skipped* with a warning,
//! not queued: a check measures the table as it is when it runs, so a queued slot would only
//! repeat the next one's work, and a dataset slower than its schedule would build an
//! ever-growing backlog. Skipped slots are never claimed, so they leave no run behind. One
//! query per tick ([`crate::store::Runs::running`]) tells which datasets are busy elsewhere.
//!
//! **Catch-up.** At start and after a reload, each dataset whose latest slot at or before
//! now is newer than its last claimed slot in the store runs that slot, and only that one.
//!
//! **Dead replicas.** A reaper expires lapsed leases every half lease
//! ([`runner::LEASE`], 60 s; `--lease-secs` / `TIDEMARK_LEASE_SECS` tune it). A run whose replica died
//! is marked `abandoned` and not re-run: its slot was claimed, and the dataset runs again at
//! its next slot (or when someone asks for it).
//!
//! **Retries.** See [`retry`]: warehouse outages are retried with backoff, before the next
//! slot, as new runs (trigger `retry`, with the slot) in the batch of the slot they retry.
//! `TIDEMARK_RETRY_SECS` sets the first delay (10 s).

mod agenda;
mod connections;
mod retry;
mod slots;
mod ticker;
mod work;

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

use crate::engine::Warehouses;
use crate::results::Summary;
use crate::runner::{self, RecordError, Recorded, RunContext, RunRequest};
use crate::spec::{self, Dataset, Diagnostic, Project};
use crate::store::{NewRun, Run, Store, StoreError, Trigger};
use ticker::Ticker;
use work::{claim_slots, hand_back, perform, reap};

/// What the API asks of the scheduler.
#[derive(Debug)]
pub enum ServerCommand {
    /// Run one dataset now (trigger `manual`); replies with the new run's id once it started.
    RunNow {
        dataset: String,
        reply: oneshot::Sender<Result<Uuid, String>>,
    },
    /// Re-read the project files; replies with the problems if they are invalid (the
    /// running configuration then stays as it was).
    Reload {
        reply: oneshot::Sender<Result<(), Vec<Diagnostic>>>,
    },
}

/// Runs one cron slot of a dataset: claims (dataset, slot) in the store and, if this caller
/// got it, runs and records the checks. Replicas race for a slot through this; exactly one
/// gets [`Recorded::Done`].
pub async fn run_slot(
    cx: &RunContext,
    store: &Store,
    warehouses: &Warehouses,
    dataset: &Dataset,
    slot: DateTime<Utc>,
) -> Result<Recorded, RecordError> {
    runner::run_recorded(
        cx,
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

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot start the scheduler's clock: {0}")]
    Clock(String),
}

/// How the scheduler runs, as `tidemark serve` was told (its flags and environment).
#[derive(Clone)]
pub struct Settings {
    pub backoff: Backoff,
    /// How often lapsed leases are expired: half the lease.
    pub reap_every: Duration,
    /// What each run is given: alerting, OpenLineage emission, the lease.
    pub run: RunContext,
}

impl Settings {
    /// Retries starting `first_retry` after a failure, for runs given `run`.
    pub fn new(first_retry: Duration, run: RunContext) -> Settings {
        Settings {
            backoff: Backoff {
                first: first_retry,
                ..Backoff::default()
            },
            reap_every: run.lease / 2,
            run,
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
    /// Slots that were missed while the server was down, found at start or reload of the
    /// configuration `generation`.
    CatchUp {
        generation: u64,
        slots: Vec<(String, DateTime<Utc>)>,
    },
    /// Time to retry a scheduled run.
    Retry { dataset: String, work: Work },
    /// Runs the reaper marked abandoned (their replica died): each scheduled one is retried
    /// once here.
    Abandoned(Vec<Run>),
}

/// What a run is for.
#[derive(Clone, Debug)]
enum Work {
    /// A cron slot, claimed at its tick: the run is started in the store already.
    Claimed(Box<NewRun>),
    /// A retry of a cron slot.
    Retry(SlotRetry),
    /// "Run this dataset now": trigger `manual`.
    Manual,
}

/// A retry of a cron slot.
#[derive(Clone, Copy, Debug)]
struct SlotRetry {
    slot: DateTime<Utc>,
    batch_id: Uuid,
    /// 1, 2, …
    attempt: u32,
    /// Whether the retry claims the slot: it does when the slot's claim itself failed (the
    /// store was unreachable); retries of a claimed slot do not (see [`retry`]).
    claim: bool,
}

impl Work {
    /// The slot this work is for, as a retry would see it (attempt 0: the claimed run).
    fn slot(&self) -> Option<SlotRetry> {
        match self {
            Work::Claimed(run) => Some(SlotRetry {
                slot: run.slot?,
                batch_id: run.batch_id,
                attempt: 0,
                claim: true,
            }),
            Work::Retry(retry) => Some(*retry),
            Work::Manual => None,
        }
    }
}

/// How a run task ended.
struct Finished {
    dataset: String,
    work: Work,
    ending: Result<Recorded, RecordError>,
}

/// What became of a slot claimed with the others due at the same tick.
enum SlotClaim {
    Started,
    /// Another replica claimed it first.
    Taken,
    /// Not claimed: the dataset's previous run is still going elsewhere (the reason).
    Busy(String),
    /// The store could not be asked.
    Failed(StoreError),
}

/// Slots claimed together, each with its dataset (as configured when claimed: a run
/// claimed before a reload still runs what was due) and what became of it.
type Claims = Vec<(Dataset, NewRun, SlotClaim)>;

type RunReply = oneshot::Sender<Result<Uuid, String>>;

/// How old a slot must be before the sweep takes it as missed: the clock claims each slot
/// as it comes, and the sweep must not race it.
const SWEEP_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

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
    /// Claims of due slots being made in the store.
    claims: JoinSet<Claims>,
    /// The datasets of each claim in progress, to release should its task fail.
    claiming: HashMap<tokio::task::Id, Vec<String>>,
    /// Renews the leases of claimed runs still waiting for a worker.
    renew: tokio::time::Interval,
    /// Runs in flight, and which dataset each task runs.
    runs: JoinSet<Finished>,
    tasks: HashMap<tokio::task::Id, String>,
    /// Runs in flight per dataset (scheduled, retried or manual).
    running: HashMap<String, usize>,
    /// Runs due but not started, beyond [`MAX_IN_FLIGHT`]: a few hundred bytes each, where a
    /// started run's task holds its whole (large) future while it waits for a warehouse.
    /// Scheduled ones are claimed in the store already.
    pending: VecDeque<Pending>,
    /// Connections of replaced configurations, closed once no run uses them.
    retired: Vec<Arc<Connections>>,
    stopping: bool,
}

impl Scheduler {
    /// Starts the clock and the reaper, and looks for missed slots. Runs happen once
    /// [`Scheduler::run`] drives the scheduler.
    pub async fn start(parts: Parts) -> Result<Scheduler, SchedulerError> {
        let (ticks_tx, ticks) = mpsc::unbounded_channel();
        let ticker = Ticker::start(ticks_tx)
            .await
            .map_err(|e| SchedulerError::Clock(e.to_string()))?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let config = Config::new(0, parts.project, parts.connections, Utc::now());
        tracing::info!(
            datasets = config.project.datasets.len(),
            scheduled = config.agenda.len(),
            "scheduler started"
        );
        let reaper = tokio::spawn(reap(
            Arc::clone(&parts.store),
            parts.settings.reap_every,
            events_tx.clone(),
        ));
        let mut renew = tokio::time::interval(parts.settings.run.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            claims: JoinSet::new(),
            claiming: HashMap::new(),
            renew,
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
                Some(joined) = self.claims.join_next_with_id() => self.claimed(joined),
                Some(joined) = self.runs.join_next_with_id() => self.finished(joined),
                _ = self.renew.tick() => {
                    self.renew_waiting();
                    self.sweep();
                }
            }
        }
        self.drain(&mut commands).await;
    }

    fn tick(&mut self) {
        let due = self.config.agenda.due(Utc::now());
        tracing::debug!(slots = due.len(), "tick");
        self.claim(due);
    }

    /// Claims due slots in the store, all in one batch and off the loop, except those of
    /// datasets whose previous run is still going here. Their runs start as the claims
    /// come back ([`Scheduler::claimed`]).
    fn claim(&mut self, slots: Vec<(String, DateTime<Utc>)>) {
        let mut claims = Vec::new();
        for (name, slot) in slots {
            let Some(dataset) = self.config.dataset(&name) else {
                continue;
            };
            if self.running.get(&name).is_some_and(|n| *n > 0) {
                tracing::warn!(
                    dataset = name,
                    %slot,
                    "slot skipped: the dataset's previous run is still going"
                );
                skipped("overlap");
                continue;
            }
            // Counted as running from now: a slot coming while this one is claimed or
            // waits for a worker is an overlap too.
            *self.running.entry(name).or_default() += 1;
            let run = runner::new_run(
                dataset,
                &slot_request(slot, Uuid::new_v4()),
                self.settings.run.lease,
            );
            claims.push((dataset.clone(), run));
        }
        if !claims.is_empty() {
            let names = claims.iter().map(|(d, _)| d.name.clone()).collect();
            let task = self.claims.spawn(claim_slots(
                Arc::clone(&self.store),
                claims,
                self.settings.run.lease,
            ));
            self.claiming.insert(task.id(), names);
        }
    }

    /// Queues the runs whose slots this replica claimed; retries claims the store failed.
    fn claimed(&mut self, joined: Result<(tokio::task::Id, Claims), JoinError>) {
        let claims = match joined {
            Ok((id, claims)) => {
                self.claiming.remove(&id);
                claims
            }
            Err(e) => {
                // Runs it may have started are left to lapse and be marked abandoned.
                tracing::error!("claiming due slots stopped unexpectedly: {e}");
                for dataset in self.claiming.remove(&e.id()).unwrap_or_default() {
                    self.release(&dataset);
                }
                return;
            }
        };
        for (dataset, run, claim) in claims {
            let slot = run.slot;
            match claim {
                SlotClaim::Started => {
                    runner::slot_claimed(&run);
                    self.enqueue(dataset, Work::Claimed(Box::new(run)), None);
                }
                SlotClaim::Taken => {
                    tracing::debug!(dataset = %dataset.name, ?slot, "slot claimed by another replica");
                    self.release(&dataset.name);
                }
                SlotClaim::Busy(reason) => {
                    tracing::warn!(dataset = %dataset.name, ?slot, "slot skipped: {reason}");
                    skipped("overlap");
                    self.release(&dataset.name);
                }
                SlotClaim::Failed(e) => {
                    tracing::error!(dataset = %dataset.name, ?slot, "the slot could not be claimed: {e}");
                    self.release(&dataset.name);
                    let work = Work::Claimed(Box::new(run));
                    self.schedule_retry(&dataset.name, &work, true, "the store was unavailable");
                }
            }
        }
    }

    /// Renews, in one statement, the leases of claimed runs waiting for a worker (running
    /// ones renew their own).
    fn renew_waiting(&self) {
        let waiting: Vec<Uuid> = self
            .pending
            .iter()
            .filter_map(|p| match &p.work {
                Work::Claimed(run) => Some(run.id),
                _ => None,
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let store = Arc::clone(&self.store);
        let lease = self.settings.run.lease;
        tokio::spawn(async move {
            if let Err(e) = store.renew_leases(&waiting, Utc::now() + lease).await {
                tracing::warn!(
                    runs = waiting.len(),
                    "could not renew the leases of waiting runs: {e}"
                );
            }
        });
    }

    fn event(&mut self, event: Event) {
        if self.stopping {
            return;
        }
        match event {
            Event::CatchUp { generation, slots } => {
                if generation != self.config.generation {
                    return; // a reload replaced the configuration, and looks again
                }
                let now = Utc::now();
                // Slots the clock has fired meanwhile are no longer the latest.
                let missed: Vec<_> = slots
                    .into_iter()
                    .filter(|(dataset, slot)| {
                        let latest = self
                            .config
                            .agenda
                            .schedule(dataset)
                            .and_then(|s| s.latest_at_or_before(now));
                        latest == Some(*slot)
                    })
                    .collect();
                for (dataset, slot) in &missed {
                    tracing::info!(%dataset, %slot, "catching up a missed slot");
                }
                self.claim(missed);
            }
            Event::Retry { dataset, work } => self.retry(&dataset, work),
            Event::Abandoned(runs) => {
                for run in runs {
                    self.retry_abandoned(run);
                }
            }
        }
    }

    /// Retries, once and unclaimed, the slot of a scheduled run whose replica died: a
    /// `retry` run is never retried again, so a run that kills its replica cannot go round
    /// the fleet.
    fn retry_abandoned(&mut self, run: Run) {
        let (Trigger::Schedule, Some(slot)) = (run.trigger, run.slot) else {
            return;
        };
        tracing::info!(dataset = %run.dataset, %slot, "retrying the slot of an abandoned run");
        let work = Work::Retry(SlotRetry {
            slot,
            batch_id: run.batch_id,
            attempt: 1,
            claim: false,
        });
        self.retry(&run.dataset, work);
    }

    fn retry(&mut self, name: &str, work: Work) {
        let Some(SlotRetry { slot, .. }) = work.slot() else {
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
            if let Work::Retry(SlotRetry { claim: true, .. }) = work {
                skipped("store_unavailable");
            }
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
    /// and sends those slots back as [`Event::CatchUp`]: at start and reload.
    fn catch_up(&self) {
        self.look_for_missed(Utc::now());
    }

    /// [`Scheduler::catch_up`] every third of a lease, for the slots at least
    /// [`SWEEP_GRACE`] old (younger ones are the clock's to claim) of the datasets not
    /// running here: a dataset's latest slot is run once the store answers again after an
    /// outage, once a stopping replica handed it back, or once a dead replica's overlapping
    /// run was reaped. One query for all datasets.
    fn sweep(&self) {
        if !self.stopping {
            self.look_for_missed(Utc::now() - SWEEP_GRACE);
        }
    }

    /// Sends the latest slots at or before `at` that no run claimed as [`Event::CatchUp`].
    fn look_for_missed(&self, at: DateTime<Utc>) {
        let latest: Vec<(String, DateTime<Utc>)> = self
            .config
            .agenda
            .schedules()
            .filter(|(name, _)| !self.running.contains_key(*name))
            .filter_map(|(name, s)| Some((name.to_owned(), s.latest_at_or_before(at)?)))
            .collect();
        if latest.is_empty() {
            return;
        }
        let (store, events, generation) = (
            Arc::clone(&self.store),
            self.events_tx.clone(),
            self.config.generation,
        );
        tokio::spawn(async move {
            match store.unclaimed_slots(&latest).await {
                Ok(slots) => {
                    let _ = events.send(Event::CatchUp { generation, slots });
                }
                Err(e) => tracing::warn!("cannot look for missed slots: {e}"),
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
        self.enqueue(dataset, work, reply);
    }

    /// Starts a run counted in `running`, or queues it while [`MAX_IN_FLIGHT`] are going.
    fn enqueue(&mut self, dataset: Dataset, work: Work, reply: Option<RunReply>) {
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
            self.settings.run.clone(),
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
        // As recorded: retries of a claimed slot are `retry` runs (see `retry`).
        let slot = work.slot().map(|s| s.slot);
        let trigger = match work.slot() {
            Some(SlotRetry { claim: true, .. }) => "schedule",
            Some(SlotRetry { claim: false, .. }) => "retry",
            None => "manual",
        };
        match ending {
            Ok(Recorded::Done { run_id, results }) => {
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
                    self.schedule_retry(&dataset, &work, false, "the warehouse was unavailable");
                }
            }
            Ok(Recorded::AlreadyClaimed) => {
                tracing::debug!(%dataset, slot = ?slot, "slot claimed by another replica");
            }
            Err(RecordError::NotStarted(e)) => {
                tracing::error!(%dataset, trigger, slot = ?slot, "the run could not start: {e}");
                // A claimed run that could not read its drift base is retried unclaimed.
                let claim = !matches!(work, Work::Claimed(_));
                self.schedule_retry(&dataset, &work, claim, "the store was unavailable");
            }
            Err(RecordError::NotStored(_, e)) => {
                // The run stays `running` until its lease lapses and the reaper marks it
                // abandoned; its results are in this log line's neighbourhood only.
                tracing::error!(%dataset, trigger, slot = ?slot, "the run's results could not be stored: {e}");
            }
        }
    }

    /// Retries a scheduled run after the backoff, unless the dataset's next slot comes
    /// first. `claim` says whether the retry must claim the slot (the failed attempt never
    /// reached the store) or runs as an unclaimed retry of the batch.
    fn schedule_retry(&mut self, dataset: &str, work: &Work, claim: bool, why: &str) {
        let Some(SlotRetry {
            slot,
            batch_id,
            attempt,
            claim: claimed_before,
        }) = work.slot()
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
            if claim && claimed_before {
                skipped("store_unavailable");
            }
            return;
        };
        tracing::warn!(%dataset, %slot, retry = attempt, at = %at, "{why}; retrying");
        let work = Work::Retry(SlotRetry {
            slot,
            batch_id,
            attempt,
            claim: claim && claimed_before,
        });
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
        // Runs not started yet are not started now: "run now" callers hear why, and the
        // slots claimed for the others are handed back for another replica (or the next
        // start) to run.
        let mut not_run = Vec::new();
        while let Some(joined) = self.claims.join_next().await {
            for (_, run, claim) in joined.unwrap_or_default() {
                if let SlotClaim::Started = claim {
                    not_run.push(run.id);
                }
            }
        }
        for pending in self.pending.drain(..) {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err("the server is shutting down".into()));
            }
            if let Work::Claimed(run) = pending.work {
                not_run.push(run.id);
            }
        }
        hand_back(&self.store, not_run).await;
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

/// Counts a slot let pass (see [`crate::telemetry::Metrics::slots_skipped`]).
fn skipped(reason: &'static str) {
    let reason = opentelemetry::KeyValue::new("reason", reason);
    crate::telemetry::metrics().slots_skipped.add(1, &[reason]);
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
                files: None,
            },
            warehouse: "main".into(),
            owner: None,
            schedule: None,
            timezone: None,
            tags: Vec::new(),
            upstream: Vec::new(),
            filter: None,
            sla: None,
            partition: None,
            checks: Vec::new(),
            location: Location {
                file: Arc::new(PathBuf::from("checks/test.yml")),
                line: 1,
                column: 1,
            },
        }
    }
}
