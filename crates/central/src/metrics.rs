//! Prometheus metrics of an ingest node (`GET /metrics`), with the
//! official client library's text encoder.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabel {
    pub code: String,
}

/// The node's counters and histograms.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub batches: Counter,
    pub records: Family<OutcomeLabel, Counter>,
    pub bytes_in: Counter,
    pub problems: Family<ProblemLabel, Counter>,
    pub batch_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("doorstep");
        let batches = Counter::default();
        let records = Family::<OutcomeLabel, Counter>::default();
        let bytes_in = Counter::default();
        let problems = Family::<ProblemLabel, Counter>::default();
        let batch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register("batches", "Batches applied", batches.clone());
        registry.register("records", "Records answered, by outcome", records.clone());
        registry.register(
            "request_bytes",
            "Batch request bytes received (as sent)",
            bytes_in.clone(),
        );
        registry.register(
            "problems",
            "Requests answered with an error, by problem code",
            problems.clone(),
        );
        registry.register(
            "batch_duration_seconds",
            "Time to read, check and apply one batch",
            batch_seconds.clone(),
        );
        Metrics {
            registry,
            batches,
            records,
            bytes_in,
            problems,
            batch_seconds,
        }
    }

    pub fn count_outcome(&self, outcome: &str, n: u64) {
        self.records
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }

    pub fn count_problem(&self, code: &str) {
        self.problems
            .get_or_create(&ProblemLabel {
                code: code.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
