//! Prometheus metrics of the sync API, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `events`, `plan` or `status`.
    pub route: String,
    /// `ok`, `no_content`, or the error code (`seq_gap`, `unauthorized`, …).
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EdgeLabels {
    pub edge_id: String,
}

/// Cheap to clone: every metric is an `Arc` inside.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub events_ingested: Counter,
    pub events_duplicate: Counter,
    pub seq_gaps: Counter,
    pub seq_conflicts: Counter,
    pub sync_requests: Family<RequestLabels, Counter>,
    pub edge_acked_seq: Family<EdgeLabels, Gauge>,
    pub edge_events_quarantined: Family<EdgeLabels, Counter>,
    pub denied: Counter,
    pub sign_ins: Family<OutcomeLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mes_central");
        let events_ingested = Counter::default();
        let events_duplicate = Counter::default();
        let seq_gaps = Counter::default();
        let seq_conflicts = Counter::default();
        let sync_requests = Family::<RequestLabels, Counter>::default();
        let edge_acked_seq = Family::<EdgeLabels, Gauge>::default();
        let edge_events_quarantined = Family::<EdgeLabels, Counter>::default();
        registry.register(
            "events_ingested",
            "Events newly stored from edges",
            events_ingested.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events received again at or below the acknowledged seq and skipped",
            events_duplicate.clone(),
        );
        registry.register(
            "seq_gaps",
            "Batches refused because they would leave a gap",
            seq_gaps.clone(),
        );
        registry.register(
            "seq_conflicts",
            "Batches refused because they repeat a stored seq with another event (the edge's journal is not the one central took the seq from)",
            seq_conflicts.clone(),
        );
        registry.register(
            "sync_requests",
            "Edge sync requests by route and outcome",
            sync_requests.clone(),
        );
        registry.register(
            "edge_acked_seq",
            "Highest contiguous seq central has stored, per edge",
            edge_acked_seq.clone(),
        );
        registry.register(
            "events_quarantined",
            "Events stored and acknowledged but not applied, because their body does not read or is out of bounds (GET /api/v1/quarantine), per edge",
            edge_events_quarantined.clone(),
        );
        let denied = Counter::default();
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "requests_denied",
            "Requests refused with 403 because the caller lacks the route's permission",
            denied.clone(),
        );
        registry.register(
            "sign_ins",
            "Sign-ins by outcome (ok, failed, locked); never which login",
            sign_ins.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            denied,
            sign_ins,
            events_ingested,
            events_duplicate,
            seq_gaps,
            seq_conflicts,
            sync_requests,
            edge_acked_seq,
            edge_events_quarantined,
        }
    }

    pub fn events_quarantined(&self, edge_id: &str, n: u64) {
        self.edge_events_quarantined
            .get_or_create(&EdgeLabels {
                edge_id: edge_id.to_owned(),
            })
            .inc_by(n);
    }

    pub fn denied(&self) {
        self.denied.inc();
    }

    pub fn sign_in(&self, outcome: &str) {
        self.sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn sync_request(&self, route: &str, outcome: &str) {
        self.sync_requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn set_acked_seq(&self, edge_id: &str, seq: u64) {
        self.edge_acked_seq
            .get_or_create(&EdgeLabels {
                edge_id: edge_id.to_owned(),
            })
            .set(i64::try_from(seq).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let metrics = Metrics::new();
        metrics.events_ingested.inc_by(3);
        metrics.sync_request("events", "ok");
        metrics.set_acked_seq("line-1", 42);
        metrics.events_quarantined("line-1", 2);
        let text = metrics.encode();
        assert!(
            text.contains("mes_central_events_ingested_total 3"),
            "{text}"
        );
        assert!(
            text.contains("mes_central_events_duplicate_total 0"),
            "{text}"
        );
        assert!(text.contains("mes_central_seq_gaps_total 0"), "{text}");
        assert!(
            text.contains(r#"mes_central_sync_requests_total{route="events",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mes_central_edge_acked_seq{edge_id="line-1"} 42"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mes_central_events_quarantined_total{edge_id="line-1"} 2"#),
            "{text}"
        );
    }
}
