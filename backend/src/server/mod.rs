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

mod http;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

use crate::alerts;
use crate::lineage::emit::Emitter;
use crate::runner::RunContext;
use crate::scheduler::ServerCommand;
use crate::scheduler::{Connections, Parts, Scheduler, Settings};
use crate::spec::Project;
use crate::store::Store;
use crate::web::{self, AppState, TrustedProxies};

/// Exit code for an invalid configuration or a server that cannot start.
const EXIT_ERROR: u8 = 2;

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

/// Runs the server for a loaded project, listening on `listen` (`host:port`), until it is
/// stopped; returns the process exit code. Reloads read the project again from its root.
pub async fn serve(project: Project, listen: String, options: Options) -> u8 {
    let listener = match TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return EXIT_ERROR;
        }
    };
    serve_on(project, listener, options, |address| {
        format!("listening on http://{address}")
    })
    .await
}

/// [`serve`] on a bound listener, printing `announce(address)` once ready (`tidemark demo`
/// announces its dashboard).
pub async fn serve_on(
    project: Project,
    listener: TcpListener,
    options: Options,
    announce: fn(SocketAddr) -> String,
) -> u8 {
    let dir = project.root.clone();
    let project = Arc::new(project);
    let url = project.store.as_ref().map(|url| url.expose());
    let store = match Store::open(url, &project.root).await {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let connections = Arc::new(Connections::connect(Arc::clone(&project)).await);
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("error: cannot read the listening address: {e}");
            return EXIT_ERROR;
        }
    };
    let signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot listen for signals: {e}");
            return EXIT_ERROR;
        }
    };

    let (project_tx, project_rx) = watch::channel(Arc::clone(&project));
    let alerting = match alerts::Alerting::new(project_rx.clone(), options.alerts) {
        Ok(alerting) => alerting,
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}"));
            return EXIT_ERROR;
        }
    };
    let emitter = Emitter::new(project_rx.clone());
    let run = RunContext {
        alerting: Some(Arc::clone(&alerting)),
        emitter: emitter.clone(),
        ..options.run
    };
    // Stopped after the scheduler drained, so the alerts of the last runs go out too.
    let (alerts_stop, alerts_stopped) = watch::channel(false);
    let alerts = tokio::spawn(alerts::run(
        Arc::clone(&alerting),
        Arc::clone(&store),
        alerts_stopped,
    ));
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let parts = Parts {
        dir,
        store: Arc::clone(&store),
        project,
        connections,
        project_tx,
        settings: Settings::new(options.first_retry, run),
    };
    let scheduler = match Scheduler::start(parts).await {
        Ok(scheduler) => scheduler,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let scheduler = tokio::spawn(scheduler.run(commands_rx, shutdown_rx.clone()));
    tokio::spawn(signals.handle(commands_tx.clone(), shutdown_tx));
    let state = AppState {
        store,
        project: project_rx,
        commands: commands_tx,
        read_needs_token: options.read_needs_token,
        latest: Default::default(),
        trusted_proxies: Arc::new(options.trusted_proxies),
        impacts: alerting.impacts(),
        alerting: Some(Arc::clone(&alerting)),
    };
    let dashboard = match crate::dashboard::router(state.clone()) {
        Ok(dashboard) => dashboard,
        Err(e) => {
            eprintln!("error: a dashboard template is invalid: {e}");
            return EXIT_ERROR;
        }
    };
    let app = web::router(state)
        .merge(dashboard)
        // `GET /metrics` for Prometheus: counts and timings only, no names or secrets.
        .merge(crate::telemetry::metrics_router());

    println!("{}", announce(address));
    // Nothing useful can be done if stdout is gone; the server runs on.
    let _ = std::io::stdout().flush();

    let mut stopped = shutdown_rx.clone();
    http::serve(listener, app, async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    })
    .await;
    let mut code = 0;
    // The HTTP side stops first (or failed); the scheduler drains on the same signal.
    if let Err(e) = scheduler.await {
        tracing::error!("the scheduler failed: {e}");
        code = 1;
    }
    alerts_stop.send_replace(true);
    if let Err(e) = alerts.await {
        tracing::error!("alerting failed: {e}");
        code = 1;
    }
    if let Some(emitter) = &emitter {
        emitter.flush(crate::lineage::emit::TIMEOUT).await;
    }
    tracing::info!("stopped");
    code
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
    async fn handle(
        mut self,
        commands: mpsc::Sender<ServerCommand>,
        shutdown: watch::Sender<bool>,
    ) {
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
                Some(()) = self.terminate.recv() => {
                    if stop(&shutdown) { break; }
                }
                Some(()) = self.interrupt.recv() => {
                    if stop(&shutdown) { break; }
                }
                else => break,
            }
        }
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

/// Starts the graceful stop; `true` when it was started now (not already stopping).
fn stop(shutdown: &watch::Sender<bool>) -> bool {
    tracing::info!("stopping: no new runs; waiting for those in flight");
    !shutdown.send_replace(true)
}
