//! The tracing subscriber: log lines on stderr (human or JSON), plus an
//! OpenTelemetry layer exporting traces over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set; and the Prometheus recorder behind
//! `GET /metrics`.
//!
//! Spans are named by the matched route and carry the method, route,
//! status and request id: never the raw URI, headers, bodies or tokens.

use std::sync::OnceLock;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// The variable holding the log filter.
pub const LOG_FILTER_VAR: &str = "DATACOOP_LOG";
/// The standard variable that turns trace export on.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the trace exporter alive; `shutdown` flushes it.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes spans not yet exported. Call once, before exit.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "trace exporter did not shut down cleanly");
        }
    }
}

/// Installs the global subscriber. Fails when `DATACOOP_LOG` is not a
/// valid filter or the OTLP exporter cannot be built.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let filter = match std::env::var(LOG_FILTER_VAR) {
        Ok(directives) => EnvFilter::try_new(&directives).with_context(|| {
            format!("{LOG_FILTER_VAR} is not a valid log filter: `{directives}`")
        })?,
        Err(_) => EnvFilter::new("info"),
    };
    let fmt_layer = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let tracer_provider = match std::env::var(OTLP_ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Some(otlp_tracer_provider()?),
        _ => None,
    };
    let otel_layer = tracer_provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("datacoop")));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .context("a tracing subscriber is already installed")?;
    Ok(Telemetry { tracer_provider })
}

fn otlp_tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .with_context(|| format!("cannot build the OTLP exporter for {OTLP_ENDPOINT_VAR}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("datacoop").build())
        .build())
}

/// Name of the request counter.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// Name of the request latency histogram.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new();
            let builder = match builder
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &buckets)
            {
                Ok(with_buckets) => with_buckets,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding
            // program); then this handle renders only what it records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
