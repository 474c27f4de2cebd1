//! The `tidemark` command line. Exit codes are a contract (CHECKS.md): `run` exits 0 when
//! nothing failed or errored, 1 when a check failed, 2 when a check errored or the
//! configuration is invalid; `validate` exits 0 or 2.

mod anomaly;
mod backtest;
mod explain;
mod lineage;
mod progress;
mod token;
mod tunables;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::alerts;
use crate::demo;
use crate::engine::{Selection, Warehouses};
use crate::lineage::emit::Emitter;
use crate::report::{self, HumanStyle};
use crate::runner;
use crate::spec::{self, Dataset, Diagnostic, Project};
use crate::store::{Store, Trigger};
use crate::telemetry;

/// Exit code for an invalid configuration or a check that errored.
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Data quality checks that run inside your warehouse"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr: `text`, or `json` (one object per line). `TIDEMARK_LOG` filters.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "TIDEMARK_LOG_FORMAT",
        default_value_t = telemetry::LogFormat::Text
    )]
    log_format: telemetry::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the project's YAML and report every problem as path:line:col.
    Validate {
        /// The project directory (tidemark.yml is looked up here and in its parents).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Output format (`json` also prints problems as JSON on stdout).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run the checks against the warehouses and report the results.
    Run {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        selection: SelectionArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Do not record the run in the project's store (no history, no drift).
        #[arg(long)]
        no_store: bool,
        /// Open and resolve incidents and send their alerts (Slack, email) before exiting.
        #[arg(long, conflicts_with = "no_store")]
        alert: bool,
        #[command(flatten)]
        tunables: tunables::Tunables,
    },
    /// Create or upgrade the project's results store.
    Migrate {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Delete history older than the project's `retention` (the server does this hourly).
    Prune {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print the SQL each dataset would run, without running it.
    Explain {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Print the JSON Schema of dataset files, for editors (yaml-language-server).
    Schema,
    /// Run the checks on their schedules and serve the API (prints `listening on http://ADDR`
    /// once ready).
    Serve {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8321")]
        listen: String,
        /// Reading the API needs a bearer token too (writing always does); the dashboard then
        /// needs signing in.
        #[arg(long, env = "TIDEMARK_READ_NEEDS_TOKEN")]
        read_needs_token: bool,
        /// A reverse proxy in front (an address or a network, 10.0.0.0/8; repeat it, or
        /// separate with commas): only its X-Forwarded-Host and X-Forwarded-Proto headers
        /// are believed.
        #[arg(
            long = "trusted-proxy",
            value_name = "IP[/BITS]",
            env = "TIDEMARK_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<crate::web::ProxyNet>,
        #[command(flatten)]
        tunables: tunables::Tunables,
    },
    /// Replay a dataset's stored history through anomaly detection and show which points
    /// would have alerted (each judged only from the points before it).
    Backtest {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The dataset to replay.
        #[arg(long)]
        dataset: String,
        /// Only this check (default: the checks with an `anomaly` threshold, else all).
        #[arg(long)]
        check: Option<String>,
        /// low, medium, high, or a number of robust standard deviations (lower flags more);
        /// overrides the checks' own.
        #[arg(long, value_parser = parse_sensitivity)]
        sensitivity: Option<crate::anomaly::Sensitivity>,
        /// Output format (`json` for scripts).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Manage the API tokens of `tidemark serve`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The whole product with no setup: a demo warehouse with placed problems, 60 days of
    /// history, the scheduler and the dashboard (prints `dashboard: http://ADDR/` once ready).
    Demo {
        /// Where to write the demo project and warehouse [default: <temp dir>/tidemark-demo].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Only run the example suite once, print its report and exit.
        #[arg(long)]
        once: bool,
        /// Address for the dashboard; port 0 picks a free port [default: 127.0.0.1:8321, or a
        /// free port when that one is taken].
        #[arg(long, value_name = "ADDR", conflicts_with = "once")]
        listen: Option<String>,
        #[command(flatten)]
        tunables: tunables::Tunables,
    },
    /// Anomaly detection on a metric series, outside any project.
    Anomaly {
        #[command(subcommand)]
        command: anomaly::AnomalyCommand,
    },
    /// Print the dataset graph (declared, OpenLineage, warehouse views, dbt) and its cycles.
    Lineage {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = lineage::LineageFormat::Text)]
        format: lineage::LineageFormat,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token, print it once on stdout and store only its hash.
    Create {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// A label for the token (who or what uses it).
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Debug, clap::Args)]
struct SelectionArgs {
    /// Only this dataset (repeatable).
    #[arg(long = "dataset", value_name = "NAME")]
    datasets: Vec<String>,
    /// Only datasets with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

impl From<SelectionArgs> for Selection {
    fn from(args: SelectionArgs) -> Self {
        Selection {
            datasets: args.datasets,
            tags: args.tags,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kept to the end: dropping it flushes the last spans and metrics.
    let _telemetry = telemetry::init(telemetry::Options {
        log_format: cli.log_format,
        prometheus: matches!(
            cli.command,
            Command::Serve { .. } | Command::Demo { once: false, .. }
        ),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    ExitCode::from(runtime.block_on(execute(cli.command)))
}

async fn execute(command: Command) -> u8 {
    match command {
        Command::Validate { dir, format } => validate(&dir, format),
        Command::Run {
            dir,
            selection,
            format,
            no_store,
            alert,
            tunables,
        } => match load(&dir, format) {
            Ok(project) => {
                let record = match (no_store, alert) {
                    (true, _) => Record::Not,
                    (false, false) => Record::Results,
                    (false, true) => Record::AndAlert,
                };
                run(project, selection.into(), format, record, &tunables).await
            }
            Err(code) => code,
        },
        Command::Migrate { dir } => match load(&dir, Format::Human) {
            Ok(project) => migrate(&project).await,
            Err(code) => code,
        },
        Command::Prune { dir } => match load(&dir, Format::Human) {
            Ok(project) => prune(&project).await,
            Err(code) => code,
        },
        Command::Explain { dir, selection } => match load(&dir, Format::Human) {
            Ok(project) => explain::print(&project, &selected(&project, &selection.into())),
            Err(code) => code,
        },
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&spec::dataset_json_schema()).unwrap_or_default()
            );
            0
        }
        Command::Token {
            command: TokenCommand::Create { dir, name },
        } => token::create(&dir, &name).await,
        Command::Serve {
            dir,
            listen,
            read_needs_token,
            trusted_proxies,
            tunables,
        } => match load(&dir, Format::Human) {
            Ok(project) => {
                let options = crate::server::Options {
                    read_needs_token,
                    trusted_proxies: crate::web::TrustedProxies(trusted_proxies),
                    ..server_options(&tunables)
                };
                crate::server::serve(project, listen, options).await
            }
            Err(code) => code,
        },
        Command::Demo {
            dir,
            once,
            listen,
            tunables,
        } => {
            let dir = dir.unwrap_or_else(demo::default_dir);
            if once {
                demo_once(dir, &tunables).await
            } else {
                match demo::serve(&dir, listen, server_options(&tunables)).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        EXIT_ERROR
                    }
                }
            }
        }
        Command::Anomaly { command } => anomaly::run(command),
        Command::Lineage { dir, format } => match load(&dir, Format::Human) {
            Ok(project) => lineage::run(&project, format).await,
            Err(code) => code,
        },
        Command::Backtest {
            dir,
            dataset,
            check,
            sensitivity,
            format,
        } => match load(&dir, format) {
            Ok(project) => {
                let request = backtest::Request {
                    dataset,
                    check,
                    sensitivity,
                    format,
                };
                backtest::run(&project, &request).await
            }
            Err(code) => code,
        },
    }
}

fn parse_sensitivity(text: &str) -> Result<crate::anomaly::Sensitivity, String> {
    text.parse()
}

fn validate(dir: &Path, format: Format) -> u8 {
    let project = match load(dir, format) {
        Ok(project) => project,
        Err(code) => return code,
    };
    // Alert template overrides are files of the project too.
    let problems = alerts::template_problems(&project);
    if !problems.is_empty() {
        return report_problems(&problems, format);
    }
    let checks: usize = project.datasets.iter().map(|d| d.checks.len()).sum();
    let datasets = project.datasets.len();
    if format == Format::Json {
        let doc =
            json!({ "valid": true, "datasets": datasets, "checks": checks, "diagnostics": [] });
        println!("{doc:#}");
    } else {
        println!(
            "ok: {datasets} datasets, {checks} checks in {}",
            project.file.display()
        );
    }
    0
}

/// Loads the project. Problems go to stderr, one `path:line:col: message` per line; with
/// `--format json` they are also printed on stdout as a JSON document for scripts.
fn load(dir: &Path, format: Format) -> Result<Project, u8> {
    spec::load(dir).map_err(|diagnostics| report_problems(&diagnostics, format))
}

/// Prints problems as [`load`] does; the exit code for them.
fn report_problems(diagnostics: &[Diagnostic], format: Format) -> u8 {
    for diagnostic in diagnostics {
        eprintln!("{diagnostic}");
    }
    let n = diagnostics.len();
    eprintln!("{n} {} found", if n == 1 { "problem" } else { "problems" });
    if format == Format::Json {
        println!("{:#}", diagnostics_json(diagnostics));
    }
    EXIT_ERROR
}

fn diagnostics_json(diagnostics: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let location = d.location.as_ref();
            json!({
                "file": location.map(|l| l.file.display().to_string()),
                "line": location.map(|l| l.line),
                "column": location.map(|l| l.column),
                "message": d.message,
            })
        })
        .collect();
    json!({ "valid": false, "diagnostics": items })
}

fn selected<'p>(project: &'p Project, selection: &Selection) -> Vec<&'p Dataset> {
    project
        .datasets
        .iter()
        .filter(|d| selection.includes(d))
        .collect()
}

/// Opens (and migrates) the project's store, explaining a failure on stderr.
async fn open_store(project: &Project) -> Result<Store, u8> {
    let url = project.store.as_ref().map(|url| url.expose());
    Store::open(url, &project.root).await.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_ERROR
    })
}

async fn migrate(project: &Project) -> u8 {
    match open_store(project).await {
        Ok(store) => {
            println!("the {} store is up to date", store.kind());
            0
        }
        Err(code) => code,
    }
}

async fn prune(project: &Project) -> u8 {
    let store = match open_store(project).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.prune(chrono::Utc::now(), project.retention).await {
        Ok(pruned) => {
            println!(
                "pruned {} runs, {} results, {} metric points, {} schema snapshots, \
                 {} resolved incidents, {} lineage edges",
                pruned.runs,
                pruned.results,
                pruned.metric_points,
                pruned.snapshots,
                pruned.incidents,
                pruned.lineage_edges
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

/// What `tidemark run` records besides printing the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Record {
    /// `--no-store`
    Not,
    Results,
    /// `--alert`: incidents too, and their notifications are sent.
    AndAlert,
}

/// How long `tidemark run --alert` keeps retrying notifications before it exits.
const ALERT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// How `serve` and `demo` run, from the tunables.
fn server_options(tunables: &tunables::Tunables) -> crate::server::Options {
    crate::server::Options {
        read_needs_token: false,
        trusted_proxies: Default::default(),
        run: tunables.run_context(),
        alerts: tunables.alerts(),
        first_retry: tunables.first_retry(),
    }
}

async fn run(
    project: Project,
    selection: Selection,
    format: Format,
    record: Record,
    tunables: &tunables::Tunables,
) -> u8 {
    // The report's time counts connecting too: a store or warehouse that hangs for 10 s
    // before answering is 10 s of the run.
    let started_at = chrono::Utc::now();
    let project = Arc::new(project);
    let datasets = selected(&project, &selection);
    if datasets.is_empty() {
        eprintln!("error: no dataset matches the selection");
        return EXIT_ERROR;
    }
    let (_, watched) = tokio::sync::watch::channel(Arc::clone(&project));
    let alerting = match record {
        Record::AndAlert => match alerts::Alerting::new(watched.clone(), tunables.alerts()) {
            Ok(alerting) => Some(alerting),
            Err(diagnostics) => {
                diagnostics.iter().for_each(|d| eprintln!("{d}"));
                return EXIT_ERROR;
            }
        },
        _ => None,
    };
    let cx = runner::RunContext {
        alerting: alerting.clone(),
        // The runs' OpenLineage events, when `lineage.emit` is configured.
        emitter: Emitter::new(watched),
        ..tunables.run_context()
    };
    let store = if record != Record::Not {
        match open_store(&project).await {
            Ok(store) => Some(store),
            Err(code) => {
                eprintln!("(use --no-store to run the checks without recording them)");
                return code;
            }
        }
    } else {
        None
    };
    let progress = progress::ProgressLine::start(datasets.len());
    let warehouses = Warehouses::connect(&project, &datasets).await;
    let (mut report, unrecorded) = runner::run_batch(
        &cx,
        store.as_ref(),
        &warehouses,
        &datasets,
        Trigger::Cli,
        &progress,
    )
    .await;
    report.started_at = started_at;
    warehouses.close().await;
    progress.finish();
    for error in &unrecorded {
        eprintln!("error: results not recorded: {error}");
    }
    if let (Some(alerting), Some(store)) = (&alerting, &store) {
        send_alerts(alerting, store).await;
    }
    // At most one post's timeout: a START went out when its run started.
    if let Some(emitter) = &cx.emitter {
        emitter.flush(crate::lineage::emit::TIMEOUT).await;
    }
    let output = match format {
        Format::Human => report::render_human(&report, human_style()),
        Format::Json => report::render_json(&report),
        Format::Junit => report::render_junit(&report),
    };
    print!("{output}");
    if format == Format::Json {
        println!();
    }
    if unrecorded.is_empty() {
        report.summary.exit_code()
    } else {
        EXIT_ERROR
    }
}

/// Re-notifies what is due, then delivers what this run enqueued before exiting; what
/// cannot be delivered in time is left to the outbox (a server delivers it).
async fn send_alerts(alerting: &alerts::Alerting, store: &Store) {
    if let Err(e) = alerts::remind(alerting, store, chrono::Utc::now()).await {
        eprintln!("error: reminders not sent: {e}");
    }
    match alerting.deliver_enqueued(store, ALERT_PATIENCE).await {
        Ok(0) => {}
        Ok(pending) => eprintln!(
            "warning: {pending} alert(s) not delivered yet; they stay in the store's outbox"
        ),
        Err(e) => eprintln!("error: alerts not delivered: {e}"),
    }
}

fn human_style() -> HumanStyle {
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        HumanStyle::Colour
    } else {
        HumanStyle::Plain
    }
}

/// `tidemark demo --once`: runs the example suite once and prints its report.
async fn demo_once(dir: PathBuf, tunables: &tunables::Tunables) -> u8 {
    eprintln!("Generating the demo warehouse in {} …", dir.display());
    if let Err(e) = demo::prepare(&dir, false).await {
        eprintln!("error: cannot prepare the demo in {}: {e:#}", dir.display());
        return EXIT_ERROR;
    }
    let project = match load(&dir, Format::Human) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let code = run(
        project,
        Selection::default(),
        Format::Human,
        Record::Results,
        tunables,
    )
    .await;
    println!("\nThe demo data has these problems placed on purpose:");
    for problem in demo::PLACED_PROBLEMS {
        println!("  - {problem}");
    }
    println!(
        "\nThe project is in {dir}; try `tidemark explain {dir}` or `tidemark run {dir} --format json`.",
        dir = dir.display()
    );
    // The demo found what it was built to find: that is success, unless a check errored.
    if code == EXIT_ERROR { EXIT_ERROR } else { 0 }
}
