//! Edge routes: event ingest, plan long poll, status. All need the edge's bearer token.

use super::AppState;
use super::error::{AppError, ErrorCode};
use super::extract::{ApiJson, ApiQuery};
use super::policy::{EDGE, EdgeAuth, Routes};
use crate::ingest;
use crate::store::{EncodedEvent, IngestOutcome};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use protocol::bounds::{self, TimeWindow};
use protocol::{
    Ack, EdgeId, EdgeStatus, MIN_PROTOCOL_VERSION, PROTOCOL_HEADER, PROTOCOL_VERSION, PlanPoll,
    StationRun, StatusReply,
};
use serde_json::value::RawValue;
use std::time::Duration;

pub fn routes() -> Routes {
    Routes::new()
        .post("/api/v1/sync/events", EDGE, post_events)
        .get("/api/v1/sync/plan", EDGE, get_plan)
        .post("/api/v1/sync/status", EDGE, post_status)
}

/// Counts every sync request by route and outcome (`ok`, `no_content` or the error code);
/// other requests pass untouched.
pub(super) async fn count_requests(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = match req.uri().path() {
        "/api/v1/sync/events" => "events",
        "/api/v1/sync/plan" => "plan",
        "/api/v1/sync/status" => "status",
        _ => return next.run(req).await,
    };
    let response = next.run(req).await;
    let outcome = match response.extensions().get::<ErrorCode>() {
        Some(ErrorCode(code)) => code,
        None if response.status() == StatusCode::NO_CONTENT => "no_content",
        None if response.status().is_success() => "ok",
        None => "error",
    };
    state.metrics().sync_request(route, outcome);
    response
}

fn check_protocol(version: u16) -> Result<(), AppError> {
    if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(AppError::unsupported_protocol(version))
    }
}

fn check_edge(token_edge: &EdgeId, body_edge: &EdgeId, what: &str) -> Result<(), AppError> {
    if token_edge == body_edge {
        Ok(())
    } else {
        Err(AppError::edge_mismatch(format!(
            "{what} is for edge {:?} but the token belongs to edge {:?}; expected the same edge",
            body_edge.as_str(),
            token_edge.as_str()
        )))
    }
}

/// An [`protocol::EventBatch`] whose events are kept as JSON text until [`parse_events`]
/// reads each ([`ingest::classify`]): the text the edge sent is what central stores, so no
/// event is encoded again.
#[derive(serde::Deserialize)]
struct RawBatch {
    protocol: u16,
    edge_id: EdgeId,
    events: Vec<Box<RawValue>>,
}

/// Batches at least this long are parsed on several threads.
const PARALLEL_PARSE_MIN: usize = 2048;

/// Most quarantined events of one batch logged one by one; the rest are summed up in one line.
const MAX_LOGGED_QUARANTINES: usize = 20;

fn parse_events(
    edge_id: &EdgeId,
    raw: Vec<Box<RawValue>>,
    received_at: DateTime<Utc>,
) -> Result<Vec<EncodedEvent>, AppError> {
    let window: TimeWindow = ingest::window(received_at);
    let parse = |offset: usize, part: &[Box<RawValue>]| -> Result<Vec<EncodedEvent>, AppError> {
        part.iter()
            .enumerate()
            .map(|(i, text)| {
                ingest::classify(edge_id, offset + i, text.get(), &window)
                    .map_err(|e| AppError::bad_batch(e.to_string()))
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let events = if raw.len() < PARALLEL_PARSE_MIN || threads == 1 {
        parse(0, &raw)?
    } else {
        let chunk = raw.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parsers: Vec<_> = raw
                .chunks(chunk)
                .enumerate()
                .map(|(n, part)| scope.spawn(move || parse(n * chunk, part)))
                .collect();
            let mut events = Vec::with_capacity(raw.len());
            for parser in parsers {
                let part = parser
                    .join()
                    .map_err(|_| AppError::internal("event parser thread panicked".to_owned()))??;
                events.extend(part);
            }
            Ok::<_, AppError>(events)
        })?
    };
    ingest::check_sequence(&events).map_err(|e| AppError::bad_batch(e.to_string()))?;
    Ok(events)
}

async fn post_events(
    State(state): State<AppState>,
    EdgeAuth(edge_id): EdgeAuth,
    ApiJson(batch): ApiJson<RawBatch>,
) -> Result<axum::Json<Ack>, AppError> {
    check_protocol(batch.protocol)?;
    check_edge(&edge_id, &batch.edge_id, "batch")?;
    let received_at = Utc::now();
    // Its place among this edge's batches at this instance, taken before it is read in full.
    let turn = first_seq_of(&batch.events).map(|seq| state.ingest_order().arrive(&edge_id, seq));
    let events = if batch.events.len() < 64 {
        parse_events(&edge_id, batch.events, received_at)?
    } else {
        let edge = edge_id.clone();
        tokio::task::spawn_blocking(move || parse_events(&edge, batch.events, received_at))
            .await
            .map_err(|e| AppError::internal(format!("event parser task failed: {e}")))??
    };
    let first_seq = events.first().map(|e| e.seq);
    if let Some(turn) = &turn
        && turn.wait(crate::ingest_order::MAX_WAIT).await
    {
        tracing::warn!(%edge_id, ?first_seq, "a batch of this edge before this one took too long; storing this one anyway");
    }
    let ingested = state
        .store()
        .ingest_encoded(&edge_id, events, received_at)
        .await?;
    // A completed order left its lines' plans: wake those edges now the batch is committed.
    for plan in &ingested.plans {
        state.notify_plan(&plan.edge_id, plan.version);
    }
    if ingested.floor {
        state
            .oee_runs()
            .changed(edge_id.as_str(), ingested.floor_since);
        state.floor_changed();
    } else if ingested.work_orders {
        state.work_orders_changed();
    }
    let metrics = state.metrics();
    if !ingested.quarantined.is_empty() {
        metrics.events_quarantined(edge_id.as_str(), ingested.quarantined.len() as u64);
        for (seq, reason) in ingested.quarantined.iter().take(MAX_LOGGED_QUARANTINES) {
            tracing::error!(%edge_id, %seq, reason, "quarantined an event central cannot apply; it is stored and acknowledged, see get /api/v1/quarantine");
        }
        if let Some(more) = ingested
            .quarantined
            .len()
            .checked_sub(MAX_LOGGED_QUARANTINES)
            .filter(|n| *n > 0)
        {
            tracing::error!(%edge_id, more, "quarantined more events of the same batch");
        }
    }
    match ingested.outcome {
        IngestOutcome::Acked {
            acked_through,
            n_new,
            n_duplicate,
        } => {
            metrics.events_ingested.inc_by(n_new);
            metrics.events_duplicate.inc_by(n_duplicate);
            metrics.set_acked_seq(edge_id.as_str(), acked_through.0);
            if n_duplicate > 0 {
                tracing::debug!(%edge_id, n_duplicate, "skipped events already acknowledged");
            }
            Ok(axum::Json(Ack { acked_through }))
        }
        IngestOutcome::Gap {
            expected,
            acked_through,
        } => {
            metrics.seq_gaps.inc();
            let first_seq = first_seq.unwrap_or(expected);
            tracing::info!(%edge_id, %first_seq, %expected, "refused batch that would leave a gap");
            Err(AppError::seq_gap(first_seq, acked_through, expected))
        }
        IngestOutcome::Conflict { seq, stored, sent } => {
            metrics.seq_conflicts.inc();
            tracing::error!(%edge_id, %seq, stored = %stored, sent = %sent, "refused batch that repeats a seq with another event");
            Err(AppError::seq_conflict(seq, &stored, &sent))
        }
    }
}

/// The seq of a batch's first event, read from that event alone (`None` when it does not
/// read: the batch is refused when read in full).
fn first_seq_of(events: &[Box<RawValue>]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    serde_json::from_str::<SeqOnly>(events.first()?.get())
        .ok()
        .map(|e| e.seq)
}

/// A number from an edge that central stores as a signed 64-bit integer.
fn check_number(what: &str, n: u64) -> Result<(), AppError> {
    bounds::check_seq(what, n).map_err(|v| AppError::bad_request(v.to_string()))
}

/// What a status says runs on the edge's stations: at most [`bounds::MAX_STATIONS`], each
/// station once, ids within bounds, counts that a database integer holds.
fn check_stations(stations: &[StationRun]) -> Result<(), AppError> {
    if stations.len() > bounds::MAX_STATIONS {
        return Err(AppError::bad_request(format!(
            "stations: {} reported; at most {} are accepted",
            stations.len(),
            bounds::MAX_STATIONS
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(stations.len());
    for (i, s) in stations.iter().enumerate() {
        let field = |name: &str| format!("stations[{i}].{name}");
        bounds::check_id(&field("station"), s.station.as_str())
            .and_then(|()| match &s.work_order {
                Some(wo) => bounds::check_id(&field("work_order"), wo.as_str()),
                None => Ok(()),
            })
            .and_then(|()| {
                [
                    ("good", s.good),
                    ("scrap", s.scrap),
                    ("unassigned_good", s.unassigned_good),
                    ("unassigned_scrap", s.unassigned_scrap),
                ]
                .into_iter()
                .try_for_each(|(name, n)| bounds::check_seq(&field(name), n))
            })
            .map_err(|v| AppError::bad_request(v.to_string()))?;
        if !seen.insert(s.station.as_str()) {
            return Err(AppError::bad_request(format!(
                "{}: station {:?} is reported twice",
                field("station"),
                s.station.as_str()
            )));
        }
    }
    Ok(())
}

/// `GET /api/v1/sync/plan?have=V&wait_ms=N`: 200 with the latest plan as soon as it is newer
/// than `have`, else 204 after `min(wait_ms, max_plan_wait)`.
async fn get_plan(
    State(state): State<AppState>,
    EdgeAuth(edge_id): EdgeAuth,
    headers: HeaderMap,
    ApiQuery(poll): ApiQuery<PlanPoll>,
) -> Result<Response, AppError> {
    if let Some(value) = headers.get(PROTOCOL_HEADER) {
        let version = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u16>().ok())
            .ok_or_else(|| {
                AppError::bad_request(format!(
                    "header {PROTOCOL_HEADER} must be a protocol version number like {PROTOCOL_VERSION}"
                ))
            })?;
        check_protocol(version)?;
    }
    check_number("have", poll.have.0)?;
    if let Some(epoch) = &poll.epoch
        && (epoch.len() > 64
            || !epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(AppError::bad_request(
            "epoch: expected the epoch of a plan central sent (up to 64 letters, digits and dashes)",
        ));
    }
    // Subscribe before reading the store: a publish after the read still wakes us.
    let mut published = state.subscribe_plan(&edge_id);
    state
        .store()
        .record_plan_poll(&edge_id, poll.have, Utc::now())
        .await?;
    let wait = Duration::from_millis(poll.wait_ms).min(state.max_plan_wait());
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(plan) = state.store().latest_plan(&edge_id).await?
            && (plan.version > poll.have
                // An edge that runs a plan of another epoch (central was restored from a
                // backup since) takes this one whatever its version.
                || poll.epoch.as_ref().is_some_and(|e| plan.epoch.as_ref() != Some(e)))
        {
            return Ok(axum::Json(plan).into_response());
        }
        let _waiting = state.poll_waiting();
        tokio::select! {
            changed = published.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
            () = state.shutting_down() => break,
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn post_status(
    State(state): State<AppState>,
    EdgeAuth(edge_id): EdgeAuth,
    ApiJson(status): ApiJson<EdgeStatus>,
) -> Result<axum::Json<StatusReply>, AppError> {
    check_protocol(status.protocol)?;
    check_edge(&edge_id, &status.edge_id, "status")?;
    check_number("backlog", status.backlog)?;
    check_number("plan_version", status.plan_version.0)?;
    bounds::check_text("agent_version", &status.agent_version)
        .and_then(|()| {
            if status.agent_version.len() > 64 {
                Err(bounds::Violation {
                    field: "agent_version".into(),
                    problem: format!(
                        "is {} bytes long; at most 64 are kept",
                        status.agent_version.len()
                    ),
                })
            } else {
                Ok(())
            }
        })
        .map_err(|v| AppError::bad_request(v.to_string()))?;
    check_stations(&status.stations)?;
    if let Some(oldest) = status.oldest_unsent_at {
        // On the edge's own clock: from 2000 to a day after the status's clock (a clock
        // stepped back a little is believed; central counts such an event as just now).
        bounds::TimeWindow::around(status.clock, chrono::TimeDelta::days(1))
            .check("oldest_unsent_at", oldest)
            .map_err(|v| {
                AppError::bad_request(format!(
                    "{v} (the status's clock is {}); an agent leaves out a time it cannot vouch for",
                    status.clock.to_rfc3339()
                ))
            })?;
    }
    let received_at = Utc::now();
    let clock_skew_ms = (status.clock - received_at).num_milliseconds();
    state
        .store()
        .record_status(&status, received_at, clock_skew_ms)
        .await?;
    Ok(axum::Json(StatusReply {
        received_at,
        clock_skew_ms,
    }))
}
