//! The edge's HTTP face: `/healthz`, `/metrics` and `/api/v1/status` now; the operators' line
//! terminal joins them with the scanning issue.

use crate::journal::JournalHandle;
use crate::live::{DeviceStatus, Live, SyncHealth};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use protocol::{EdgeId, ErrorBody, PlanVersion, Seq};
use serde::Serialize;
use std::sync::Arc;

pub mod access;
pub mod page;
pub mod serve;
pub mod session;
pub mod stations;

#[derive(Clone)]
pub struct TerminalState {
    pub edge_id: EdgeId,
    pub journal: JournalHandle,
    pub live: Arc<Live>,
    /// Scans and station commands from HTTP to the processor.
    pub scans: stations::ScanGate,
    /// The stations the configuration names (scanners', PLCs'); the plan adds its own.
    pub stations: Vec<protocol::StationId>,
    /// Label printers by station (`[[stations]] printer`).
    pub printers: std::collections::BTreeMap<protocol::StationId, String>,
    /// The symbology of finished-lot labels by station (`[[stations]] label`); a station not
    /// named gets GS1-128, or GS1 QR for a code too long for it.
    pub label_symbologies:
        std::collections::BTreeMap<protocol::StationId, crate::labels::Symbology>,
    /// Who may act at which station: paired and configured terminals, PINs, the administrator.
    pub access: access::Access,
    /// Host names the edge answers to besides IP addresses and `localhost`.
    pub allowed_hosts: Arc<Vec<String>>,
    /// Live streams (server-sent events) open at once are bounded by these permits.
    pub streams: Arc<tokio::sync::Semaphore>,
    /// A live stream ends after this long; the terminal reconnects.
    pub stream_lifetime: std::time::Duration,
    /// `/healthz`'s view of the agent's parts.
    pub health: crate::live::HealthRules,
}

/// The edge's routes behind the host and origin guard; bodies over `max_body_bytes` get 413.
pub fn app(state: TerminalState, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(stations::routes())
        .merge(session::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .merge(page::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            serve::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

pub(crate) fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

/// A refusal on its way to becoming an [`error`] answer (small, so `Result`s stay cheap).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: String) -> Refusal {
        Refusal {
            status,
            code,
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.status, self.code, self.message)
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such route".into())
}

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 naming every problem: a part of the agent
/// stopped, the journal does not answer or refuses events, or events have waited for central
/// longer than `[health] uplink_stalled_after`.
async fn healthz(State(s): State<TerminalState>) -> Response {
    let mut problems = s.live.failures();
    match s.journal.stats().await {
        Ok(stats) => {
            if stats.disk_full {
                problems.push(format!(
                    "disk full: {} bytes free on the journal's filesystem; new events refused until space is freed",
                    stats.disk_free_bytes.unwrap_or(0)
                ));
            }
            if let Some(oldest) = stats.oldest_unacked_at {
                let waited = (chrono::Utc::now() - oldest).to_std().unwrap_or_default();
                if waited > s.health.uplink_stalled_after {
                    let last_error = s.live.sync_health().last_error;
                    problems.push(format!(
                        "uplink stalled: the oldest event not at central waited {}s (more than {}s){}",
                        waited.as_secs(),
                        s.health.uplink_stalled_after.as_secs(),
                        last_error
                            .map(|e| format!("; last error: {e}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        Err(e) => problems.push(format!("the journal does not answer: {e}")),
    }
    if let Some(why) = s.live.journal_refusing() {
        problems.push(format!("the journal refuses new events: {why}"));
    }
    if problems.is_empty() {
        return Json(serde_json::json!({"status": "ok"})).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "status": "unhealthy",
            "problems": problems,
            "error": {"code": "unhealthy", "message": problems.join("; ")},
        })),
    )
        .into_response()
}

async fn metrics(State(s): State<TerminalState>) -> Response {
    if let Ok(stats) = s.journal.stats().await {
        let m = &s.live.metrics;
        m.last_seq.set(stats.last_seq.0 as i64);
        m.acked_seq.set(stats.acked_seq.0 as i64);
        m.backlog.set(stats.backlog as i64);
        m.oldest_unacked_age_seconds.set(
            stats
                .oldest_unacked_at
                .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
        );
        m.journal_bytes.set(stats.bytes_used as i64);
        m.journal_quota_bytes.set(stats.quota_bytes as i64);
        m.journal_quota_alarm.set(stats.quota_alarm as i64);
        m.journal_disk_full.set(stats.disk_full as i64);
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &s.live.metrics.registry) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode metrics: {e}"),
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /api/v1/status`.
#[derive(Debug, Serialize)]
pub struct StatusView {
    pub edge_id: EdgeId,
    pub agent_version: &'static str,
    pub last_seq: Seq,
    pub acked_seq: Seq,
    pub backlog: u64,
    pub oldest_unacked_age_s: Option<f64>,
    pub plan_version: PlanVersion,
    pub journal: JournalView,
    pub central: SyncHealth,
    pub devices: Vec<DeviceStatus>,
    /// What runs on each station and the counts booked to no order there
    /// ([`crate::live::FloorView::station_run`], as the terminal shows it).
    pub stations: Vec<protocol::StationRun>,
}

#[derive(Debug, Serialize)]
pub struct JournalView {
    pub bytes_used: u64,
    pub quota_bytes: u64,
    pub disk_free_bytes: Option<u64>,
    pub quota_alarm: bool,
    /// The disk is full: new events are refused until space is freed.
    pub disk_full: bool,
    /// Why new events are refused at the door, while they are (a full disk, the quota).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusing: Option<String>,
}

async fn status(State(s): State<TerminalState>) -> Response {
    let stats = match s.journal.stats().await {
        Ok(stats) => stats,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_unavailable",
                format!("the journal does not answer: {e}"),
            );
        }
    };
    Json(StatusView {
        edge_id: s.edge_id.clone(),
        agent_version: env!("CARGO_PKG_VERSION"),
        last_seq: stats.last_seq,
        acked_seq: stats.acked_seq,
        backlog: stats.backlog,
        oldest_unacked_age_s: stats
            .oldest_unacked_at
            .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0),
        plan_version: s.live.plan_version(),
        journal: JournalView {
            bytes_used: stats.bytes_used,
            quota_bytes: stats.quota_bytes,
            disk_free_bytes: stats.disk_free_bytes,
            quota_alarm: stats.quota_alarm,
            disk_full: stats.disk_full,
            refusing: s.live.journal_refusing(),
        },
        central: s.live.sync_health(),
        devices: s.live.devices(),
        stations: s
            .live
            .floor()
            .station_runs(s.live.plan().as_deref(), &s.stations),
    })
    .into_response()
}

/// A terminal state over a journal in a fresh directory, nothing paired (unit tests).
#[cfg(test)]
pub(crate) async fn test_state() -> (TerminalState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = crate::journal::open(crate::journal::JournalConfig::new(
        dir.path().join("journal.db"),
        "line-1".into(),
    ))
    .expect("a journal");
    let (to_processor, _) = tokio::sync::mpsc::channel(1);
    let settings = crate::config::TerminalSettings::default();
    let state = TerminalState {
        edge_id: "line-1".into(),
        journal,
        live: Live::new(None),
        scans: stations::ScanGate::new(to_processor),
        stations: vec!["st-10".into()],
        printers: Default::default(),
        label_symbologies: Default::default(),
        access: access::Access::detached(&settings),
        allowed_hosts: Arc::new(Vec::new()),
        streams: Arc::new(tokio::sync::Semaphore::new(4)),
        stream_lifetime: std::time::Duration::from_secs(60),
        health: crate::live::HealthRules::default(),
    };
    (state, dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn healthz_of(state: TerminalState) -> (StatusCode, serde_json::Value) {
        let response = app(state, 1 << 16)
            .oneshot(
                Request::get("/healthz")
                    .header("host", "127.0.0.1:9101")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("an answer");
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("a body");
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test]
    async fn healthz_names_a_stopped_part_and_a_journal_refusing_events() {
        let (state, _dir) = test_state().await;
        assert_eq!(healthz_of(state.clone()).await.0, StatusCode::OK);
        state.live.part_failed("processor", "panicked: boom");
        state
            .live
            .set_journal_refusing(Some(crate::exchange::Refusal {
                reason: "journal_full",
                message: "journal full: 10 of 10 bytes".into(),
            }));
        let (status, body) = healthz_of(state.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "unhealthy");
        assert_eq!(
            body["problems"],
            serde_json::json!([
                "processor stopped: panicked: boom",
                "the journal refuses new events: journal full: 10 of 10 bytes"
            ])
        );
    }
}
