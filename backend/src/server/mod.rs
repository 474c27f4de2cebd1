//! `tidemark serve`: the long-running server. It loads the project, opens (and migrates)
//! the store, connects the warehouses, binds the listener, starts the scheduler, and only
//! then prints `listening on http://ADDR` (the bound address: port 0 picks a free port), so
//! scripts and tests know it is ready.
//!
//! Signals: `SIGHUP` reloads the configuration like `POST /api/v1/reload`. `SIGTERM` and
//! Ctrl-C stop it gracefully: no new connections, slots or runs; requests and runs in flight
//! finish (runs are recorded); then it exits 0. A second `SIGTERM`/Ctrl-C while draining
//! exits at once with 1 (the runs left are marked abandoned by another replica's reaper, or
//! by this one's at its next start).
//!
//! Alerting runs beside the scheduler (the outbox worker and the reminder sweep, see
//! [`alerts`]); on a stop it is stopped after the runs drained, delivering their alerts.
//!
//! Tunables come in as [`Options`] (the CLI reads them from flags and the environment,
//! see `tidemark serve --help`); `TIDEMARK_LOG` sets the log filter.
//!
//! As a library: [`Server::build`] does everything that can fail (a typed [`ServerError`]),
//! and [`Server::run_until_stopped`] serves a listener until a shutdown future completes,
//! then drains. [`serve`] and [`serve_on`] add what the binary needs: binding, the ready
//! line, signals and an exit code. Tests run the app in-process through the first two.

mod http;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::alerts;
use crate::lineage::emit::Emitter;
use crate::runner::RunContext;
use crate::scheduler::ServerCommand;
use crate::scheduler::{Connections, Parts, Scheduler, SchedulerError, Settings};
use crate::spec::{Diagnostic, Project};
use crate::store::{Store, StoreError};
use crate::web::{self, AppState, TrustedProxies};

/// Exit code for an invalid configuration or a server that cannot start.
const EXIT_ERROR: u8 = 2;

/// Why the server could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// The alert templates or channels do not load; each diagnostic names its file.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Alerts(Vec<Diagnostic>),
    #[error("a dashboard template is invalid: {0}")]
    Dashboard(String),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    /// A background task (the scheduler, alerting) ended in a panic while draining.
    #[error("{task} failed: {source}")]
    Task {
        task: &'static str,
        source: tokio::task::JoinError,
    },
}

/// How the server runs and answers requests (from `tidemark serve`'s flags).
#[derive(Clone)]
pub struct Options {
    /// Reading the API needs a bearer token too (writing always does).
    pub read_needs_token: bool,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// What each run is given; the server adds its alerting and OpenLineage emitter.
    pub run: RunContext,
    pub alerts: alerts::Settings,
    /// First retry delay of a failed scheduled run.
    pub first_retry: Duration,
}

/// A server built and ready to serve: the store open, the warehouses connected, the
/// scheduler started (its missed slots found), the app routed. Nothing runs until
/// [`Server::run_until_stopped`].
pub struct Server {
    app: Router,
    store: Arc<Store>,
    scheduler: Scheduler,
    commands: mpsc::Sender<ServerCommand>,
    commands_rx: mpsc::Receiver<ServerCommand>,
    alerting: Arc<alerts::Alerting>,
    emitter: Option<Arc<Emitter>>,
}

impl Server {
    /// Opens the project's store and connects its warehouses. Reloads read the project
    /// again from its root.
    pub async fn build(project: Project, options: Options) -> Result<Server, ServerError> {
        let dir = project.root.clone();
        let project = Arc::new(project);
        let url = project.store.as_ref().map(|url| url.expose());
        let store = Arc::new(Store::open(url, &project.root).await?);
        let connections = Arc::new(Connections::connect(Arc::clone(&project)).await);
        let (project_tx, project_rx) = watch::channel(Arc::clone(&project));
        let alerting = alerts::Alerting::new(project_rx.clone(), options.alerts)
            .map_err(ServerError::Alerts)?;
        let emitter = Emitter::new(project_rx.clone());
        let run = RunContext {
            alerting: Some(Arc::clone(&alerting)),
            emitter: emitter.clone(),
            ..options.run
        };
        let parts = Parts {
            dir,
            store: Arc::clone(&store),
            project,
            connections,
            project_tx,
            settings: Settings::new(options.first_retry, run),
        };
        let scheduler = Scheduler::start(parts).await?;
        let (commands, commands_rx) = mpsc::channel(64);
        let state = AppState {
            store: Arc::clone(&store),
            project: project_rx,
            commands: commands.clone(),
            read_needs_token: options.read_needs_token,
            latest: Default::default(),
            trusted_proxies: Arc::new(options.trusted_proxies),
            impacts: alerting.impacts(),
            alerting: Some(Arc::clone(&alerting)),
        };
        let dashboard = crate::dashboard::router(state.clone())
            .map_err(|e| ServerError::Dashboard(e.to_string()))?;
        let app = web::router(state)
            .merge(dashboard)
            // `GET /metrics` for Prometheus: counts and timings only, no names or secrets.
            .merge(crate::telemetry::metrics_router());
        Ok(Server {
            app,
            store,
            scheduler,
            commands,
            commands_rx,
            alerting,
            emitter,
        })
    }

    /// Where to send what `POST /api/v1/reload` and `SIGHUP` send.
    pub fn commands(&self) -> mpsc::Sender<ServerCommand> {
        self.commands.clone()
    }

    /// Serves `listener` and runs the schedule until `shutdown` completes; then stops
    /// taking connections, slots and runs, lets requests and runs in flight finish
    /// (recorded, their alerts delivered) and returns.
    pub async fn run_until_stopped(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let scheduler = tokio::spawn(self.scheduler.run(self.commands_rx, stop_rx));
        // Stopped after the scheduler drained, so the alerts of the last runs go out too.
        let (alerts_stop, alerts_stopped) = watch::channel(false);
        let alerts = tokio::spawn(alerts::run(
            Arc::clone(&self.alerting),
            Arc::clone(&self.store),
            alerts_stopped,
        ));
        http::serve(listener, self.app, async move {
            shutdown.await;
            tracing::info!("stopping: no new runs; waiting for those in flight");
            stop_tx.send_replace(true);
        })
        .await;
        // The HTTP side stopped first; the scheduler drains on the same signal.
        let drained = joined("the scheduler", scheduler).await;
        alerts_stop.send_replace(true);
        let delivered = joined("alerting", alerts).await;
        if let Some(emitter) = &self.emitter {
            emitter.flush(crate::lineage::emit::TIMEOUT).await;
        }
        tracing::info!("stopped");
        drained.and(delivered)
    }
}

async fn joined(task: &'static str, handle: JoinHandle<()>) -> Result<(), ServerError> {
    handle
        .await
        .map_err(|source| ServerError::Task { task, source })
}

/// Runs the server for a loaded project, listening on `listen` (`host:port`), until it is
/// stopped; returns the process exit code.
pub async fn serve(project: Project, listen: String, options: Options) -> u8 {
    let listener = match TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(source) => {
            let error = ServerError::Listen {
                address: listen,
                source,
            };
            eprintln!("error: {error}");
            return EXIT_ERROR;
        }
    };
    serve_on(project, listener, options, |address| {
        format!("listening on http://{address}")
    })
    .await
}

/// [`serve`] on a bound listener, printing `announce(address)` once ready (`tidemark demo`
/// announces its dashboard), under the signals described above.
pub async fn serve_on(
    project: Project,
    listener: TcpListener,
    options: Options,
    announce: fn(SocketAddr) -> String,
) -> u8 {
    match serve_until_signalled(project, listener, options, announce).await {
        Ok(()) => 0,
        Err(error @ ServerError::Task { .. }) => {
            tracing::error!("{error}");
            1
        }
        // Each diagnostic reads `path:line:col: error: …` already.
        Err(ServerError::Alerts(diagnostics)) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}"));
            EXIT_ERROR
        }
        Err(error) => {
            eprintln!("error: {error}");
            EXIT_ERROR
        }
    }
}

async fn serve_until_signalled(
    project: Project,
    listener: TcpListener,
    options: Options,
    announce: fn(SocketAddr) -> String,
) -> Result<(), ServerError> {
    let address = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            address: "the bound socket".into(),
            source,
        })?;
    let signals = Signals::new().map_err(ServerError::Signals)?;
    let server = Server::build(project, options).await?;
    let (stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(signals.handle(server.commands(), stop_tx));
    println!("{}", announce(address));
    // Nothing useful can be done if stdout is gone; the server runs on.
    let _ = std::io::stdout().flush();
    server
        .run_until_stopped(listener, async move {
            let _ = stop_rx.await;
        })
        .await
}

/// The Unix signals the server answers.
struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// SIGHUP reloads; the first SIGTERM/SIGINT stops gracefully, a second one at once.
    async fn handle(mut self, commands: mpsc::Sender<ServerCommand>, stop: oneshot::Sender<()>) {
        loop {
            tokio::select! {
                Some(()) = self.hangup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    let (reply, answer) = oneshot::channel();
                    if commands.send(ServerCommand::Reload { reply }).await.is_err() {
                        continue;
                    }
                    // The scheduler logs the outcome; only wait so reloads do not pile up.
                    let _ = answer.await;
                }
                Some(()) = self.terminate.recv() => break,
                Some(()) = self.interrupt.recv() => break,
                else => break,
            }
        }
        let _ = stop.send(());
        // Keep listening: a second stop request while draining exits at once.
        tokio::select! {
            Some(()) = self.terminate.recv() => {}
            Some(()) = self.interrupt.recv() => {}
            else => return,
        }
        tracing::warn!("stopping now, without waiting for the runs in flight");
        std::process::exit(1);
    }
}
