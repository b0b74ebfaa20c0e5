//! OpenTelemetry export of the agent's spans (cargo feature `otel`).
//!
//! [`layer`] is a [`tracing_opentelemetry`] layer that turns the agent's `tracing` spans
//! (see [the span tree](super)) into OpenTelemetry spans of a tracer named
//! [`TRACER_NAME`](super::TRACER_NAME) from your tracer provider. Add it to your subscriber
//! next to your log output; choose the exporter (OTLP, stdout, in-memory) on the provider.
//!
//! ```
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let provider = SdkTracerProvider::builder().build(); // add an exporter here
//! let subscriber = tracing_subscriber::registry().with(clawops::telemetry::otel::layer(&provider));
//! let _guard = tracing::subscriber::set_default(subscriber);
//! // … run the agent; then `provider.shutdown()` flushes the spans.
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// A layer exporting the agent's spans through `provider` (tracer scope `clawops.agent`).
/// Span fields become attributes with the same names (`call.id`, `tool.name`, …).
pub fn layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, Tracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(super::TRACER_NAME))
}
