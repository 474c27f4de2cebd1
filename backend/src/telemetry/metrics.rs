//! The instruments Tidemark records, and where they go: a Prometheus registry served by
//! [`metrics_router`] (`GET /metrics`, text exposition) and, when an OTLP endpoint is set, a
//! periodic OTLP/HTTP export (every 60 s, `OTEL_METRIC_EXPORT_INTERVAL` in ms, and once more
//! at shutdown).
//!
//! | instrument               | Prometheus name                  | attributes            |
//! |--------------------------|----------------------------------|-----------------------|
//! | `tidemark.runs`          | `tidemark_runs_total`            | `trigger`, `status`   |
//! | `tidemark.check_results` | `tidemark_check_results_total`   | `outcome`             |
//! | `tidemark.run.duration`  | `tidemark_run_duration_seconds`  | `trigger`             |
//! | `tidemark.scheduler.lag` | `tidemark_scheduler_lag_seconds` | —                     |
//! | `tidemark.queue.depth`   | `tidemark_queue_depth`           | `waiting_for`         |
//! | `tidemark.lineage.events`| `tidemark_lineage_events_total`  | `status`              |
//! | `tidemark.slots.skipped` | `tidemark_slots_skipped_total`   | `reason`              |

use std::sync::{LazyLock, RwLock};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    Counter, Histogram, Meter, MeterProvider as _, NoopMeterProvider, UpDownCounter,
};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::env_set;

/// The instruments. Get them with [`metrics()`]; record with the OpenTelemetry API, e.g.
/// `metrics().scheduler_lag.record(lag.as_secs_f64(), &[])`.
pub struct Metrics {
    /// Dataset runs this process ran, by `trigger` (`cli`, `schedule`, `manual`, `retry`) and
    /// `status`: `completed` (checks ran, results recorded or `--no-store`), `not_stored`
    /// (checks ran, the store failed to keep them), `not_started` (the store failed first).
    pub runs: Counter<u64>,
    /// Check results by `outcome` (`pass`, `warn`, `fail`, `error`).
    pub check_results: Counter<u64>,
    /// Seconds from a run's start to its results, by `trigger`.
    pub run_duration: Histogram<f64>,
    /// Seconds between a cron slot's time and its run starting (being claimed).
    pub scheduler_lag: Histogram<f64>,
    /// Runs waiting, by `waiting_for`: `warehouse` (a connection slot of their warehouse)
    /// or `start` (scheduled, not started yet). Use [`Metrics::queued`].
    pub queue_depth: UpDownCounter<i64>,
    /// OpenLineage events of runs posted to `lineage.emit`, by `status`: `sent` or
    /// `failed` (refused, unreachable, timed out).
    pub lineage_events: Counter<u64>,
    /// Cron slots this replica let pass without a run, by `reason`: `overlap` (the
    /// dataset's previous run was still going), `store_unavailable` (the claim could not be
    /// made before the next slot; the sweep runs the latest missed slot once the store is
    /// back).
    pub slots_skipped: Counter<u64>,
}

/// Histogram bounds in seconds: from a fast SQLite check to a long warehouse scan.
const DURATION_BOUNDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// The scheduler aims at well under a second; catch-up after downtime lands at the top.
const LAG_BOUNDS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

impl Metrics {
    fn new(meter: &Meter) -> Metrics {
        Metrics {
            runs: meter
                .u64_counter("tidemark.runs")
                .with_description("Dataset runs, by trigger and status")
                .build(),
            check_results: meter
                .u64_counter("tidemark.check_results")
                .with_description("Check results, by outcome")
                .build(),
            run_duration: meter
                .f64_histogram("tidemark.run.duration")
                .with_description("How long a dataset's run took")
                .with_unit("s")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            scheduler_lag: meter
                .f64_histogram("tidemark.scheduler.lag")
                .with_description("Time between a cron slot and its run starting")
                .with_unit("s")
                .with_boundaries(LAG_BOUNDS.to_vec())
                .build(),
            queue_depth: meter
                .i64_up_down_counter("tidemark.queue.depth")
                .with_description("Runs waiting for a warehouse connection or to start")
                .build(),
            lineage_events: meter
                .u64_counter("tidemark.lineage.events")
                .with_description("OpenLineage events of runs posted, by status")
                .build(),
            slots_skipped: meter
                .u64_counter("tidemark.slots.skipped")
                .with_description("Cron slots let pass without a run, by reason")
                .build(),
        }
    }

    /// Counts one run waiting for `waiting_for` (`"warehouse"` or `"start"`) in
    /// [`Metrics::queue_depth`] until the returned guard is dropped.
    pub fn queued(&'static self, waiting_for: &'static str) -> Queued {
        let attributes = [KeyValue::new("waiting_for", waiting_for)];
        self.queue_depth.add(1, &attributes);
        Queued {
            counter: &self.queue_depth,
            attributes,
        }
    }
}

/// One run in [`Metrics::queue_depth`]; leaves it when dropped (also when the waiting future
/// is cancelled).
#[must_use = "the run leaves the queue when this is dropped"]
pub struct Queued {
    counter: &'static UpDownCounter<i64>,
    attributes: [KeyValue; 1],
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.counter.add(-1, &self.attributes);
    }
}

/// Instruments that record nothing: in force until [`install`].
static NOOP: LazyLock<Metrics> = LazyLock::new(|| {
    // Without the SDK's debug note that a no-op meter records nothing: that is the point.
    tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
        Metrics::new(&NoopMeterProvider::new().meter("tidemark"))
    })
});
/// The instruments of the installed provider. Replaced (not set once) so that code that
/// records before telemetry is set up, in a test binary, never pins the no-ops.
static CURRENT: RwLock<Option<&'static Metrics>> = RwLock::new(None);
/// What `GET /metrics` shows; `None` without Prometheus.
static REGISTRY: RwLock<Option<prometheus::Registry>> = RwLock::new(None);

/// The instruments: cheap no-ops until telemetry is initialised with Prometheus or OTLP.
pub fn metrics() -> &'static Metrics {
    CURRENT
        .read()
        .ok()
        .and_then(|current| *current)
        .unwrap_or(&NOOP)
}

/// Whether an OTLP endpoint for metrics is configured.
pub(super) fn otlp_configured() -> bool {
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
}

/// The meter provider behind [`metrics()`], until [`Installed::shutdown`].
pub(super) struct Installed {
    provider: SdkMeterProvider,
    metrics: &'static Metrics,
}

impl Installed {
    /// Restores the no-ops and flushes (the OTLP reader exports a last time).
    pub(super) fn shutdown(self) {
        if let Ok(mut current) = CURRENT.write()
            && current.is_some_and(|m| std::ptr::eq(m, self.metrics))
        {
            *current = None;
        }
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("telemetry: flushing metrics failed: {e}");
        }
    }
}

/// Builds the meter provider with the readers asked for and makes its instruments current.
pub(super) fn install(
    prometheus: bool,
    otlp: bool,
    resource: Resource,
) -> Result<Installed, String> {
    let mut builder = SdkMeterProvider::builder().with_resource(resource);
    let mut registry = None;
    if prometheus {
        let fresh = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(fresh.clone())
            .scope_info_enabled(false)
            .build()
            .map_err(|e| e.to_string())?;
        builder = builder.with_reader(exporter);
        registry = Some(fresh);
    }
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|e| e.to_string())?;
        builder = builder.with_periodic_exporter(exporter);
    }
    let provider = builder.build();
    // One small leak per installation (once per process outside tests): instruments that
    // live as long as the code recording into them.
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new(&provider.meter("tidemark"))));
    if let Ok(mut current) = CURRENT.write() {
        *current = Some(metrics);
    }
    if let Some(registry) = registry
        && let Ok(mut slot) = REGISTRY.write()
    {
        *slot = Some(registry);
    }
    Ok(Installed { provider, metrics })
}

/// `GET /metrics`: the Prometheus text exposition of [`metrics()`] (empty when telemetry
/// was initialised without Prometheus). For the server to merge into its router.
pub fn metrics_router() -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(exposition))
}

async fn exposition() -> axum::response::Response {
    let registry = REGISTRY.read().ok().and_then(|r| r.clone());
    let families = registry.map(|r| r.gather()).unwrap_or_default();
    let mut body = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&families, &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(e) => {
            tracing::error!("encoding metrics failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uninitialised_metrics_are_no_ops() {
        let metrics = metrics();
        metrics.runs.add(1, &[KeyValue::new("trigger", "cli")]);
        drop(metrics.queued("warehouse"));
    }
}
