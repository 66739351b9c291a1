//! Everything that talks to central: the uplink (committed events up, acknowledgements back),
//! the downlink (plan versions down) and the status reporter.
//!
//! **Architecture Invariant:** only this module talks to central.
//!
//! **Architecture Invariant:** the journal's acknowledged seq is raised only from an answer of
//! central's; nothing here deletes events.

pub mod client;
pub mod state;

use crate::backoff::Backoff;
use crate::config::CentralLink;
use crate::journal::{JournalHandle, JournalStats};
use crate::live::Live;
use client::{CentralClient, SyncError};
use protocol::{EdgeId, EdgeStatus, PROTOCOL_VERSION, Seq};
use rand::Rng;
use state::{Effect, UplinkState};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Encodes committed events (already JSON) into an [`protocol::EventBatch`] body, without
/// decoding them again.
pub fn encode_batch(edge_id: &EdgeId, events: &[String]) -> String {
    let size: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut out = String::with_capacity(size + 64);
    out.push_str("{\"protocol\":");
    out.push_str(&PROTOCOL_VERSION.to_string());
    out.push_str(",\"edge_id\":");
    out.push_str(&serde_json::to_string(edge_id.as_str()).unwrap_or_default());
    out.push_str(",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e);
    }
    out.push_str("]}");
    out
}

fn jitter() -> f64 {
    rand::rng().random::<f64>()
}

/// Waits `d` or until shutdown; returns true when shutting down.
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let stopping = tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.wait_for(|s| *s) => true,
    };
    stopping || *shutdown.borrow()
}

/// Oldest seq the journal still holds (the one after the last pruned).
async fn oldest_held(
    journal: &JournalHandle,
    stats: &JournalStats,
) -> Result<Seq, crate::journal::JournalError> {
    let first = journal.read_after(Seq::ZERO, 1).await?;
    Ok(first
        .first()
        .map(|e| e.seq)
        .unwrap_or(stats.last_seq.next()))
}

/// Ships committed events to central in order and records its acknowledgements.
pub async fn run_uplink(
    journal: JournalHandle,
    client: CentralClient,
    live: Arc<Live>,
    link: CentralLink,
    edge_id: EdgeId,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(link.backoff_min, link.backoff_max);
    // Start from what the journal says central has acknowledged.
    let mut state = loop {
        let start = async {
            let stats = journal.stats().await?;
            let oldest = oldest_held(&journal, &stats).await?;
            Ok::<_, crate::journal::JournalError>(UplinkState::new(
                stats.acked_seq,
                stats.last_seq,
                oldest,
            ))
        };
        match start.await {
            Ok(s) => break s,
            Err(e) => {
                tracing::error!(error = %e, "uplink cannot read the journal");
                if pause(backoff.fail(jitter()), &mut shutdown).await {
                    return;
                }
            }
        }
    };
    live.set_acked(state.acked());
    // The byte budget of a batch: below central's body limit. Halved when central still says
    // a batch is too large (413), down to one event, which always fits ([`protocol::bounds`]
    // keeps every event far below any body limit central accepts): a committed fact never
    // stops the uplink.
    let mut max_bytes = link.batch_max_bytes;
    let mut committed = journal.committed();
    // The batch read ahead while others were in flight: the seq it follows and its events.
    let mut prefetched: Option<(Seq, Vec<crate::journal::CommittedEvent>)> = None;
    // Batches sent and not answered yet, oldest first, each following the one before it;
    // at most `link.batches_in_flight`. Dropping one cancels its request.
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    'send: loop {
        if *shutdown.borrow() {
            return;
        }
        state.on_committed(*committed.borrow_and_update());
        // Fill the window: each batch follows the last one sent, or central's ack.
        while in_flight.len() < link.batches_in_flight.max(1) {
            let sent = in_flight.back().map_or(state.cursor(), |b| b.last);
            let Some(after) = state.next_batch_after_seq(sent) else {
                break;
            };
            let events = match prefetched.take() {
                Some((from, events)) if from == after => Ok(events),
                _ => {
                    journal
                        .read_batch(after, link.batch_max_events, max_bytes)
                        .await
                }
            };
            let events = match events {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "uplink cannot read the journal");
                    if !in_flight.is_empty() {
                        // Answers first; the read is tried again after them.
                        break;
                    }
                    if pause(backoff.fail(jitter()), &mut shutdown).await {
                        return;
                    }
                    continue 'send;
                }
            };
            if events.first().map(|e| e.seq) != Some(after.next()) {
                let message = format!(
                    "the journal does not hold seq {} that central still needs (oldest held: {:?})",
                    after.next(),
                    events.first().map(|e| e.seq.0)
                );
                tracing::error!("{message}");
                live.set_inconsistency(Some(message));
                in_flight.clear();
                if pause(link.backoff_max, &mut shutdown).await {
                    return;
                }
                continue 'send;
            }
            let n = events.len();
            let last = events.last().map(|e| e.seq).unwrap_or(after);
            // What the journal returned is committed, even if its watch has not told us yet.
            state.on_committed(last);
            let body = encode_batch(
                &edge_id,
                &events.into_iter().map(|e| e.json).collect::<Vec<_>>(),
            );
            let body_len = body.len();
            let client = client.clone();
            in_flight.push_back(InFlight {
                last,
                n,
                body_len,
                reply: AbortOnDrop(tokio::spawn(async move { client.post_events(body).await })),
            });
        }
        // Read the batch after the newest one in flight while central works on them.
        let newest = in_flight.back().map_or(state.cursor(), |b| b.last);
        let Some(oldest) = in_flight.front_mut() else {
            tokio::select! {
                changed = committed.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => return,
            }
            continue;
        };
        let ahead_after = (prefetched.is_none() && newest < *committed.borrow()).then_some(newest);
        let wait_and_read_ahead = async {
            let read_ahead = async {
                match ahead_after {
                    Some(after) => journal
                        .read_batch(after, link.batch_max_events, max_bytes)
                        .await
                        .ok()
                        .map(|events| (after, events)),
                    None => None,
                }
            };
            tokio::join!(&mut oldest.reply.0, read_ahead)
        };
        let (reply, ahead) = tokio::select! {
            r = wait_and_read_ahead => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if ahead.is_some() {
            prefetched = ahead;
        }
        let Some(batch) = in_flight.pop_front() else {
            continue;
        };
        let reply = reply
            .unwrap_or_else(|e| Err(SyncError::Transport(format!("the request task ended: {e}"))));
        match reply {
            Ok(reply) => {
                backoff.succeed();
                live.sync_ok();
                live.metrics.batches_sent.inc();
                let acked_before = state.acked();
                if let state::Reply::Gap { .. } = reply
                    && let Ok(stats) = journal.stats().await
                    && let Ok(oldest) = oldest_held(&journal, &stats).await
                {
                    state.on_pruned(oldest);
                }
                match state.on_reply(reply) {
                    Effect::PersistAck(through) => {
                        if through > acked_before {
                            match journal.ack(through).await {
                                Ok(()) => live.set_acked(through),
                                Err(e) => {
                                    tracing::error!(error = %e, "cannot record central's acknowledgement")
                                }
                            }
                            live.metrics.events_acked.inc_by(through.0 - acked_before.0);
                        }
                        live.set_inconsistency(None);
                        tracing::debug!(n = batch.n, acked = %through, "batch acknowledged");
                        if through < batch.last {
                            // Central took less than this batch: what follows it cannot be
                            // stored either; send again from its answer.
                            in_flight.clear();
                        }
                    }
                    Effect::Resend { from } => {
                        if from < acked_before {
                            tracing::warn!(
                                from = %from,
                                "central is missing events it had acknowledged before; sending them again"
                            );
                        } else {
                            // This batch reached central before the one it follows was stored
                            // (another connection, another instance): sent again in order.
                            tracing::debug!(from = %from, "batch arrived ahead of its predecessor; sending again");
                        }
                        in_flight.clear();
                    }
                    Effect::Inconsistent(message) => {
                        tracing::error!("{message}");
                        live.set_inconsistency(Some(message));
                        in_flight.clear();
                        if pause(link.backoff_max, &mut shutdown).await {
                            return;
                        }
                    }
                }
            }
            Err(SyncError::Refused { status: 413, .. }) if batch.n > 1 => {
                // Central takes less than this edge thought: smaller batches from now on.
                max_bytes = (batch.body_len / 2).max(1);
                prefetched = None;
                in_flight.clear();
                tracing::warn!(
                    n = batch.n,
                    bytes = batch.body_len,
                    max_bytes,
                    "central refused a batch as too large; sending smaller batches"
                );
            }
            Err(e) => {
                in_flight.clear();
                let wait = backoff.fail(jitter());
                log_sync_error(&e, wait, backoff.failures());
                live.sync_failed(e.kind(), e.to_string());
                if pause(wait, &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

/// A batch sent to central and not answered yet.
struct InFlight {
    /// Its last seq.
    last: Seq,
    /// Its events.
    n: usize,
    body_len: usize,
    reply: AbortOnDrop<Result<state::Reply, SyncError>>,
}

/// A request task that is cancelled when the uplink lets go of it (central's answer to a
/// batch the uplink will send again is of no use).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn log_sync_error(e: &SyncError, wait: Duration, failures: u32) {
    // The first failure and every 10th are warnings; the rest would only flood the log.
    if failures <= 1 || failures.is_multiple_of(10) {
        tracing::warn!(error = %e, retry_in = ?wait, failures, "sync with central failed");
    } else {
        tracing::debug!(error = %e, retry_in = ?wait, failures, "sync with central failed");
    }
}

/// Long-polls central for plan versions; stores each in the journal, then applies it.
pub async fn run_downlink(
    journal: JournalHandle,
    client: CentralClient,
    live: Arc<Live>,
    link: CentralLink,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(link.backoff_min, link.backoff_max);
    loop {
        let in_force = live.plan();
        let have = in_force.as_ref().map(|p| p.version).unwrap_or_default();
        let epoch = in_force.as_ref().and_then(|p| p.epoch.clone());
        let answer = tokio::select! {
            a = client.poll_plan(have, epoch.as_deref(), link.plan_wait) => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match answer {
            // Newer, or of another epoch: central was restored from a backup and no longer
            // knows the versions it handed out after it; its plan is the one to run.
            Ok(Some(plan))
                if plan.version > have || (plan.epoch.is_some() && plan.epoch != epoch) =>
            {
                if plan.epoch != epoch && epoch.is_some() {
                    tracing::warn!(got = %plan.version, %have, "central's plan epoch changed (restored from a backup?); taking its plan");
                }
                backoff.succeed();
                let version = plan.version;
                // A plan is outside input too: one that breaks the bounds is not applied (the
                // line keeps the plan in force) and says why.
                if let Err(violations) = protocol::bounds::check_plan(&plan.content()) {
                    let list: Vec<String> =
                        violations.iter().take(5).map(|v| v.to_string()).collect();
                    let message = format!(
                        "plan version {version} from central is refused: {}{}",
                        list.join("; "),
                        if violations.len() > 5 { "; …" } else { "" }
                    );
                    tracing::error!("{message}");
                    live.sync_failed("refused", message);
                    if pause(link.backoff_max, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                match journal.save_plan(&plan).await {
                    Ok(()) => {
                        live.apply_plan(plan);
                        tracing::info!(%version, "plan applied");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, %version, "cannot store the plan; keeping the one in force");
                        if pause(backoff.fail(jitter()), &mut shutdown).await {
                            return;
                        }
                    }
                }
            }
            Ok(Some(plan)) => {
                tracing::warn!(got = %plan.version, %have, "central sent a plan no newer than the one in force; ignored");
                if pause(link.backoff_min, &mut shutdown).await {
                    return;
                }
            }
            Ok(None) => backoff.succeed(),
            Err(e) => {
                let wait = backoff.fail(jitter());
                log_sync_error(&e, wait, backoff.failures());
                live.sync_failed(e.kind(), e.to_string());
                if pause(wait, &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Builds this edge's status report from the journal and the live state.
pub fn edge_status(edge_id: &EdgeId, stats: &JournalStats, live: &Live) -> EdgeStatus {
    let clock = chrono::Utc::now();
    EdgeStatus {
        protocol: PROTOCOL_VERSION,
        edge_id: edge_id.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        clock,
        last_seq: stats.last_seq,
        acked_seq: stats.acked_seq,
        backlog: stats.backlog,
        oldest_unsent_at: oldest_unsent(stats, clock),
        plan_version: live.plan_version(),
        stations: reportable(live.floor().station_runs(live.plan().as_deref(), [])),
    }
}

/// The commit time of the oldest event central has not acknowledged (the journal finds it by
/// its seq, the first above the acked one), when there is one and central would take it:
/// central refuses a whole status whose time is before [`protocol::bounds::earliest`] or more
/// than a day after the status's clock (a clock that was wrong when the event was committed),
/// so such a time is left out rather than hide the rest of the status.
fn oldest_unsent(
    stats: &JournalStats,
    clock: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let window = protocol::bounds::TimeWindow::around(clock, chrono::TimeDelta::days(1));
    stats
        .oldest_unacked_at
        .filter(|_| stats.backlog > 0)
        .filter(|at| window.check("oldest_unsent_at", *at).is_ok())
}

/// The station runs central takes: ids within `protocol::bounds` and at most
/// [`MAX_STATIONS`](protocol::bounds::MAX_STATIONS), stations running a work order first.
/// Central refuses a whole status over its bounds, so one odd station must not hide the rest.
fn reportable(mut runs: Vec<protocol::StationRun>) -> Vec<protocol::StationRun> {
    runs.retain(|r| protocol::bounds::check_id("station", r.station.as_str()).is_ok());
    if runs.len() > protocol::bounds::MAX_STATIONS {
        // Stable: within each group the stations keep their order.
        runs.sort_by_key(|r| r.work_order.is_none());
        runs.truncate(protocol::bounds::MAX_STATIONS);
    }
    runs
}

/// Tells central, every `status_interval`, how this edge is doing.
pub async fn run_status_reporter(
    journal: JournalHandle,
    client: CentralClient,
    live: Arc<Live>,
    link: CentralLink,
    edge_id: EdgeId,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Ok(stats) = journal.stats().await {
            let status = edge_status(&edge_id, &stats, &live);
            match client.post_status(&status).await {
                Ok(reply) => live.set_clock_skew(reply.clock_skew_ms),
                Err(e) => tracing::debug!(error = %e, "status report failed"),
            }
        }
        if pause(link.status_interval, &mut shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_status_reports_stations_within_central_s_bounds_running_ones_first() {
        let run = |station: &str, wo: Option<&str>| protocol::StationRun {
            station: station.into(),
            work_order: wo.map(Into::into),
            operation: None,
            by: None,
            good: 0,
            scrap: 0,
            over_production: false,
            counting: true,
            unassigned_good: 0,
            unassigned_scrap: 0,
        };
        let mut runs: Vec<_> = (0..protocol::bounds::MAX_STATIONS + 5)
            .map(|i| run(&format!("st-{i:05}"), None))
            .collect();
        runs.push(run("st-running", Some("WO-1")));
        runs.push(run("st-\u{202e}", Some("WO-2")));
        let reported = super::reportable(runs);
        assert_eq!(reported.len(), protocol::bounds::MAX_STATIONS);
        assert_eq!(reported[0].station.as_str(), "st-running");
        assert!(reported.iter().all(|r| r.station.as_str() != "st-\u{202e}"));
        assert_eq!(reported[1].station.as_str(), "st-00000");
    }

    use super::*;

    fn production(good: u64) -> protocol::EventBody {
        protocol::EventBody {
            id: protocol::EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: Default::default(),
            kind: protocol::EventKind::ProductionReported {
                work_order: None,
                operation: None,
                good,
                scrap: 0,
            },
        }
    }

    #[tokio::test]
    async fn issue_15_the_status_names_when_the_oldest_unsent_event_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = crate::journal::open(crate::journal::JournalConfig::new(
            dir.path().join("journal.db"),
            "line-1".into(),
        ))
        .unwrap();
        let live = Live::new(None);
        let edge: EdgeId = "line-1".into();
        let status = edge_status(&edge, &journal.stats().await.unwrap(), &live);
        assert_eq!(
            status.oldest_unsent_at, None,
            "nothing committed, nothing unsent"
        );

        journal.append(vec![production(1)]).await.unwrap();
        let before_second = chrono::Utc::now();
        journal
            .append(vec![production(2), production(3)])
            .await
            .unwrap();
        let after_second = chrono::Utc::now();
        // Central acknowledged the first commit: the oldest unsent event is seq 2.
        journal.ack(Seq(1)).await.unwrap();
        let status = edge_status(&edge, &journal.stats().await.unwrap(), &live);
        assert_eq!(status.backlog, 2);
        let oldest = status.oldest_unsent_at.expect("two events are unsent");
        // The journal keeps commit times in milliseconds.
        let ms = chrono::TimeDelta::milliseconds(1);
        assert!(
            before_second - ms <= oldest && oldest <= after_second,
            "{before_second} <= {oldest} <= {after_second}"
        );

        journal.ack(Seq(3)).await.unwrap();
        let status = edge_status(&edge, &journal.stats().await.unwrap(), &live);
        assert_eq!(status.backlog, 0);
        assert_eq!(status.oldest_unsent_at, None, "everything is acknowledged");
        journal.shutdown().await.unwrap();
    }

    #[test]
    fn a_commit_time_central_would_refuse_is_left_out_of_the_status() {
        let clock = chrono::Utc::now();
        let stats = |at: chrono::DateTime<chrono::Utc>| JournalStats {
            last_seq: Seq(2),
            acked_seq: Seq(1),
            backlog: 1,
            oldest_unacked_at: Some(at),
            bytes_used: 0,
            quota_bytes: 1,
            disk_free_bytes: None,
            quota_alarm: false,
            disk_full: false,
            appended_total: 2,
            commits_total: 2,
            pruned_total: 0,
        };
        let hour_ago = clock - chrono::TimeDelta::hours(1);
        assert_eq!(oldest_unsent(&stats(hour_ago), clock), Some(hour_ago));
        // A clock stepped back by a little: still believed (central shows it as age 0).
        let soon = clock + chrono::TimeDelta::minutes(5);
        assert_eq!(oldest_unsent(&stats(soon), clock), Some(soon));
        // Committed while the gateway's clock said 1970, or a year ahead: not a time.
        let epoch = chrono::DateTime::UNIX_EPOCH;
        assert_eq!(oldest_unsent(&stats(epoch), clock), None);
        let next_year = clock + chrono::TimeDelta::days(365);
        assert_eq!(oldest_unsent(&stats(next_year), clock), None);
    }

    #[test]
    fn encoded_batch_is_an_event_batch() {
        let events: Vec<protocol::Event> = (1..=3)
            .map(|seq| protocol::Event {
                edge_id: "line-1".into(),
                seq: Seq(seq),
                id: protocol::EventId(uuid::Uuid::now_v7()),
                at: chrono::Utc::now(),
                source: Default::default(),
                kind: protocol::EventKind::ProductionReported {
                    work_order: None,
                    operation: None,
                    good: seq,
                    scrap: 0,
                },
            })
            .collect();
        let json: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let batch: protocol::EventBatch =
            serde_json::from_str(&encode_batch(&"line-1".into(), &json)).unwrap();
        assert_eq!(batch.protocol, PROTOCOL_VERSION);
        assert_eq!(batch.events, events);
        assert_eq!(batch.check(), Ok(()));
    }
}
