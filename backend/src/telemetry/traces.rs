//! Span export over OTLP/HTTP (protobuf), from the SDK's batch processor thread with the
//! blocking reqwest client (the combination the SDK documents; no async runtime involved).
//! The exporter reads the standard variables itself: `OTEL_EXPORTER_OTLP_ENDPOINT` (spans go
//! to `{endpoint}/v1/traces`), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, and the batch processor its
//! `OTEL_BSP_*` ones.

use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::env_set;

/// Whether an OTLP endpoint for traces is configured.
pub(super) fn configured() -> bool {
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
}

pub(super) fn provider(resource: Resource) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Removes the userinfo (`user:password@`) of any OTLP endpoint variable from `message`:
/// the exporter's errors quote the endpoint they could not use.
pub(super) fn redact(message: &str) -> String {
    let mut message = message.to_owned();
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ] {
        if let Ok(endpoint) = std::env::var(name)
            && let Some(userinfo) = userinfo(&endpoint)
        {
            message = message.replace(userinfo, "***");
        }
    }
    message
}

fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    (!userinfo.is_empty()).then_some(userinfo)
}

#[cfg(test)]
mod tests {
    use super::userinfo;

    #[test]
    fn userinfo_is_found_only_in_the_authority() {
        assert_eq!(userinfo("https://u:p@collector:4318"), Some("u:p"));
        assert_eq!(userinfo("http://collector:4318/a@b"), None);
        assert_eq!(userinfo("http://127.0.0.1:4318"), None);
    }
}
