//! Telemetry: logs, traces and metrics, set up once per process by [`init`].
//!
//! | module    | owns                                                                    |
//! |-----------|-------------------------------------------------------------------------|
//! | `logs`    | the stderr log layer: text (default) or one JSON object per line         |
//! | `traces`  | OTLP/HTTP span export (batch, SDK thread) when an endpoint is configured |
//! | `metrics` | the instruments ([`metrics()`]), Prometheus `/metrics`, OTLP metrics     |
//!
//! **Spans.** `tidemark.batch` (a `tidemark run`), `tidemark.run` (one dataset's recorded
//! run), `tidemark.dataset` (its checks) and `tidemark.warehouse_query` (each query), put at
//! those seams with `#[tracing::instrument]`. They are exported when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, over
//! OTLP/HTTP with protobuf bodies; the other `OTEL_*` variables of the OTLP exporter apply
//! (headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_BSP_*`). Logs show them only when
//! `TIDEMARK_LOG` enables their level (`info`).
//!
//! **Metrics.** Recorded through [`metrics()`]: no-ops until [`init`] asks for Prometheus
//! (`tidemark serve`) or finds an OTLP endpoint, so unit tests and a plain `tidemark run`
//! pay nothing.
//!
//! **Secrets.** Nothing here records a warehouse URL, a store URL or a header: span fields
//! are dataset, warehouse *names*, query kinds and the SQL Tidemark plans (which never
//! holds a connection string). The endpoint's own userinfo is never echoed either.

mod logs;
mod metrics;
mod traces;

pub use logs::LogFormat;
pub use metrics::{Metrics, Queued, metrics, metrics_router};

use opentelemetry_sdk::Resource;

/// What [`init`] sets up.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub log_format: LogFormat,
    /// Keep metrics for Prometheus to scrape ([`metrics_router`]): the server does.
    pub prometheus: bool,
}

/// Keeps the exporters of [`init`] alive; dropping it flushes and shuts them down (the last
/// spans of a `tidemark run` are sent then). Keep it for the process lifetime.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Guard {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    metrics: Option<metrics::Installed>,
}

impl Drop for Guard {
    /// Flushes traces and metrics side by side: each waits at most 5 s for a collector that
    /// does not answer, so a command's exit is delayed by 5 s at worst, not 10.
    fn drop(&mut self) {
        let traces = self
            .traces
            .take()
            .map(|provider| std::thread::spawn(move || provider.shutdown()));
        if let Some(installed) = self.metrics.take() {
            installed.shutdown();
        }
        if let Some(Ok(Err(e))) = traces.map(std::thread::JoinHandle::join) {
            tracing::warn!("telemetry: flushing traces failed: {e}");
        }
    }
}

/// Sets up logging (on stderr, filtered by `TIDEMARK_LOG`, default
/// `warn,sqlx::query=error`), trace export and metrics. Call once, first thing; a second
/// call keeps the first logger (a process has one) but sets up exporters and metrics anew.
pub fn init(options: Options) -> Guard {
    // reqwest (the OTLP client) uses rustls without a built-in provider: ring is the one the
    // rest of Tidemark (sqlx) already uses. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut problems = Vec::new();
    let tracer = if traces::configured() {
        match traces::provider(resource()) {
            Ok(provider) => Some(provider),
            Err(e) => {
                problems.push(format!("traces are not exported: {e}"));
                None
            }
        }
    } else {
        None
    };
    logs::install(options.log_format, tracer.as_ref());

    let otlp_metrics = metrics::otlp_configured();
    let installed = if options.prometheus || otlp_metrics {
        match metrics::install(options.prometheus, otlp_metrics, resource()) {
            Ok(installed) => Some(installed),
            Err(e) => {
                problems.push(format!("metrics are not exported: {e}"));
                None
            }
        }
    } else {
        None
    };
    for problem in problems {
        tracing::warn!("telemetry: {}", traces::redact(&problem));
    }
    Guard {
        traces: tracer,
        metrics: installed,
    }
}

/// `service.name` = `tidemark` unless `OTEL_SERVICE_NAME` says otherwise (the resource
/// builder reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`).
fn resource() -> Resource {
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|name| !name.trim().is_empty());
    if named {
        builder.build()
    } else {
        builder.with_service_name("tidemark").build()
    }
}

/// True when the variable is set to something other than blanks.
fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !value.trim().is_empty())
}
