//! The process's tracing subscriber: a log layer on stderr, filtered by `TIDEMARK_LOG`, and
//! (when traces are exported) the OpenTelemetry layer beside it with a filter of its own,
//! so that a quiet log (`warn`, the default) still exports every span.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// How log lines are written on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal without `NO_COLOR`).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, the event's
    /// fields, and the spans it happened in (`span`, `spans`).
    Json,
}

/// The filter when `TIDEMARK_LOG` is unset or invalid. sqlx warns about every statement
/// over a second; long scans are the job here.
const DEFAULT_FILTER: &str = "warn,sqlx::query=error";

/// Installs the global subscriber. A process has one: when one is already set (a test
/// binary calling [`super::init`] twice), the first stays.
pub(super) fn install(format: LogFormat, tracer: Option<&SdkTracerProvider>) {
    let filter =
        EnvFilter::try_from_env("TIDEMARK_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let log = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colours())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    // Tidemark's own spans and events, whatever the log filter says; never the exporter's
    // own logs (they would feed back into the export).
    let otel = tracer.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("tidemark"))
            .with_filter(Targets::new().with_target("tidemark", LevelFilter::INFO))
    });
    let subscriber = Registry::default().with(log).with(otel);
    // Already set: keep the first (see above).
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
