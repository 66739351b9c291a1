//! The processor: the one place where what sources read becomes production facts, and the one
//! writer into the journal.
//!
//! Simulated machines already speak in events; the processor batches them into the journal.
//! Raw readings (Modbus) get their meaning in `readings.rs`: counters become production for the
//! station's work order (`counter.rs`: rollover, resets, restarts), state codes machine states,
//! analog values measurements. The counters' last values are committed in the same journal
//! transaction as the events derived from them, and loaded at start, so an edge restart neither
//! counts a part twice nor loses one.

pub mod counter;
pub mod mqtt;
pub mod readings;
pub mod scan;
pub mod writeback;

use self::readings::{Interpreted, Interpreter, Meanings};
use crate::journal::{JournalError, JournalHandle};
use crate::live::{FloorView, Live, RECENT_SCANS, ScanRecord};
use crate::sources::{ScanRequest, SourceMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most events appended in one call (the journal commits everything queued together anyway).
const MAX_BATCH: usize = 4096;

/// Runs until every source has hung up and everything received is committed. `meanings`
/// says what the sources' raw readings are (from the configuration).
pub async fn run(
    mut from_sources: mpsc::Receiver<SourceMessage>,
    journal: JournalHandle,
    live: Arc<Live>,
    meanings: Meanings,
) {
    let mut interpreter = Interpreter::new(meanings);
    for key in interpreter.state_keys() {
        match journal.get_state(&key).await {
            Ok(Some(value)) => interpreter.restore(&key, &value),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, key, "cannot load a persisted counter or state"),
        }
    }
    // Restored by topology::start before any task runs (`restore_floor`), so the terminal
    // never shows a station without its saved state.
    let mut view = (*live.floor()).clone();
    let mut floor = view.floor.clone();
    interpreter.started = floor.started();
    let mut mqtt = mqtt::MqttInterpreter::default();
    mqtt.started = floor.started();
    // The MQTT deliveries remembered for deduplication, as last committed.
    match journal.state_with_prefix(mqtt::SEEN_PREFIX).await {
        Ok(rows) => mqtt.restore_seen(&rows),
        Err(e) => tracing::error!(error = %e, "cannot load the MQTT deliveries already seen"),
    }
    let mut batch = Interpreted::default();
    // When the floor last forgot what it no longer needs.
    let mut last_prune: Option<std::time::Instant> = None;
    // Sources waiting to hear that what they handed over is committed (MQTT acks after it).
    let mut receipts: Vec<oneshot::Sender<bool>> = Vec::new();
    // Scans waiting for their outcome: the outcome, the index of its event in the batch.
    let mut answers: Vec<PendingAnswer> = Vec::new();
    while let Some(first) = from_sources.recv().await {
        let plan = live.plan();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            // Events the processor itself derives (from readings and MQTT values) count as
            // generated here; simulated machines count their own.
            let derived_from = batch.events.len();
            let derived = !matches!(message, SourceMessage::Event(_));
            // Scans (MQTT deliveries may carry some) can start a work order at a station.
            let may_start = matches!(
                message,
                SourceMessage::Scan(_) | SourceMessage::Station(_) | SourceMessage::Mqtt(_)
            );
            match message {
                SourceMessage::Event(mut body) => {
                    // Simulated machines name a station; what runs there is decided here,
                    // by the same rule as every other count.
                    attribute(&mut body, plan.as_deref(), &interpreter.started);
                    batch.events.push(*body)
                }
                SourceMessage::Readings(readings) => {
                    interpreter.interpret(&readings, plan.as_deref(), &mut batch)
                }
                SourceMessage::Mqtt(delivery) => {
                    let delivery = *delivery;
                    for key in mqtt.unknown_keys(&delivery.messages) {
                        let value = journal.get_state(&key).await.unwrap_or_else(|e| {
                            tracing::error!(error = %e, key, "cannot load a persisted counter");
                            None
                        });
                        mqtt.restore(key, value.as_deref());
                    }
                    let scans_from = batch.scans.len();
                    mqtt.interpret_delivery(
                        &delivery.messages,
                        delivery.redelivered,
                        delivery.key,
                        plan.as_deref(),
                        &mut batch,
                    );
                    // Scans that arrived over MQTT go through the scan processor too.
                    for scan in batch.scans.split_off(scans_from) {
                        let request = ScanRequest {
                            raw: scan.raw,
                            at: scan.at,
                            station: scan.station,
                            device: Some(scan.device),
                            reply: None,
                        };
                        let decision = floor.scan(&request, plan.as_deref());
                        answers.push(take_decision(&mut batch, &request, decision));
                    }
                    receipts.push(delivery.committed);
                }
                SourceMessage::Scan(request) => {
                    let mut request = *request;
                    let decision = floor.scan(&request, plan.as_deref());
                    let mut answer = take_decision(&mut batch, &request, decision);
                    answer.reply = request.reply.take();
                    answers.push(answer);
                }
                SourceMessage::Station(command) => {
                    let mut command = *command;
                    let decision = floor.command(&command, plan.as_deref());
                    let as_request = command.as_request();
                    let mut answer = take_decision(&mut batch, &as_request, decision);
                    answer.reply = command.reply.take();
                    answers.push(answer);
                }
            }
            if may_start {
                // A work order started by this scan counts the parts reported after it, even
                // in the same batch.
                interpreter.started = floor.started();
                mqtt.started = interpreter.started.clone();
            }
            if derived {
                live.metrics
                    .events_generated
                    .inc_by((batch.events.len() - derived_from) as u64);
            }
            if batch.events.len() < MAX_BATCH {
                next = from_sources.try_recv().ok();
            }
        }
        // Now and then, forget what no longer matters (orders long out of the plan, lots long
        // left alone), in the same commit as the batch.
        let mut pruned_floor = false;
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            let pruned = floor.prune(
                plan.as_deref(),
                chrono::Utc::now(),
                view.progress.keys().cloned().collect::<Vec<_>>(),
            );
            if !pruned.state.is_empty() || !pruned.orders.is_empty() {
                tracing::info!(
                    orders = pruned.orders.len(),
                    lots = pruned.lots,
                    "forgot what the floor no longer needs"
                );
                for wo in &pruned.orders {
                    view.progress.remove(wo);
                    batch
                        .state
                        .insert(format!("{PROGRESS_PREFIX}{wo}"), String::new());
                }
                batch.state.extend(pruned.state);
                pruned_floor = true;
            }
        }
        // Production counts per work order, for the terminal's target against good and scrap,
        // and per station for what is booked to no order.
        let booked = book_production(&mut view, plan.as_deref(), &mut batch.events);
        for wo in &booked.orders {
            if let Some(count) = view.progress.get(wo) {
                batch.state.insert(
                    format!("{PROGRESS_PREFIX}{wo}"),
                    format!("{} {}", count.good, count.scrap),
                );
            }
        }
        for station in &booked.stations {
            if let Some(count) = view.unassigned.get(station) {
                batch.state.insert(
                    format!("{UNASSIGNED_PREFIX}{station}"),
                    format!("{} {}", count.good, count.scrap),
                );
            }
        }
        let progressed = booked.orders;
        fit(&mut batch.events, chrono::Utc::now());
        // Stops the machines reported without a reason, for the terminal to ask one: followed
        // from the events as they will be committed (after `fit`, so a stop's `since` is its
        // event's committed time), and saved with them.
        let stops = floor.track_stops(&batch.events);
        let stopped = !stops.is_empty();
        batch.state.extend(stops);
        let committed = commit(&journal, &live, std::mem::take(&mut batch)).await;
        for receipt in receipts.drain(..) {
            let _ = receipt.send(committed.is_ok());
        }
        // Scans and machine stops change the stations; production changes the counts.
        let scanned = !answers.is_empty();
        let changed_floor = scanned
            || stopped
            || !progressed.is_empty()
            || !booked.stations.is_empty()
            || pruned_floor;
        let mut rescanned: Vec<protocol::StationId> = Vec::new();
        // Answered once the floor that holds them is published, so what a person does next
        // (the lot's label, the station's view) already sees what they were answered.
        let mut replies = Vec::with_capacity(answers.len());
        for answer in answers.drain(..) {
            let mut outcome = answer.outcome;
            match (&committed, answer.event_index) {
                (Ok(Some(first)), Some(i)) => outcome.seq = Some(protocol::Seq(first.0 + i as u64)),
                (Ok(_), _) => {}
                (Err(()), _) => {
                    outcome.result = scan::ScanResult::NotStored;
                    outcome.message = format!("not stored, scan again: {}", outcome.message);
                    outcome.seq = None;
                    outcome.event_id = None;
                }
            }
            if committed.is_ok() {
                if !rescanned.contains(&answer.station) {
                    rescanned.push(answer.station.clone());
                }
                let scans = view.scans.entry(answer.station).or_default();
                scans.push_front(ScanRecord {
                    at: answer.at,
                    raw: protocol::bounds::sanitize(
                        &answer.raw,
                        protocol::bounds::MAX_CODE_LEN,
                        true,
                    ),
                    outcome: outcome.clone(),
                });
                scans.truncate(RECENT_SCANS);
            }
            if let Some(reply) = answer.reply {
                replies.push((reply, outcome));
            }
        }
        if changed_floor {
            if scanned || stopped || pruned_floor {
                view.floor = floor.clone();
            }
            live.set_floor(view.clone());
        }
        for (reply, outcome) in replies {
            let _ = reply.send(outcome);
        }
        // The last scans are kept with the stations' state, so the terminal shows what was
        // just done after a restart too. Written after the commit: they repeat what the
        // journal's events already hold, so a crash in between loses nothing but the list.
        for station in rescanned {
            if let Some(scans) = view.scans.get(&station) {
                let key = format!("{}{station}", crate::live::RECENT_PREFIX);
                if let Err(e) = journal
                    .put_state(&key, &crate::live::save_scans(scans))
                    .await
                {
                    tracing::warn!(error = %e, %station, "cannot save the station's last scans");
                }
            }
        }
    }
}

/// How far ahead of the edge's clock an event time is believed (a device's own clock may run
/// a little ahead).
const FUTURE_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The last check before a commit: every event the edge commits is within
/// [`protocol::bounds`], so no committed fact is one central cannot store. Sources and the scan
/// processor bound what they take where it enters; an event still out of bounds (a device's
/// text too long, a time from a broken clock, a bug) is committed as a device fault that says
/// what was wrong, never dropped silently and never committed as it was.
pub fn fit(events: &mut [protocol::EventBody], now: chrono::DateTime<chrono::Utc>) {
    use protocol::EventKind;
    use protocol::bounds::{self, TimeWindow};
    let window = TimeWindow::around(now, FUTURE_TOLERANCE);
    for event in events.iter_mut() {
        let Err(violation) = bounds::check_event(event, &window) else {
            continue;
        };
        // Text quoting a device or a scan is made printable and short, and kept.
        match &mut event.kind {
            EventKind::DeviceFault { device, message } => {
                *device = fit_id(device.as_str()).into();
                *message = bounds::sanitize_text(message);
            }
            EventKind::ScanRejected { raw, reason } => {
                *raw = bounds::sanitize(raw, bounds::MAX_CODE_LEN, true);
                *reason = bounds::sanitize_text(reason);
            }
            EventKind::MachineStateChanged {
                reason: Some(reason),
                ..
            } => *reason = bounds::sanitize_text(reason),
            _ => {}
        }
        if let Some(device) = &event.source.device
            && bounds::check_id("source.device", device.as_str()).is_err()
        {
            event.source.device = Some(fit_id(device.as_str()).into());
        }
        if let Some(station) = &event.source.station
            && bounds::check_id("source.station", station.as_str()).is_err()
        {
            event.source.station = Some(fit_id(station.as_str()).into());
        }
        if window.check("at", event.at).is_err() {
            event.at = now;
        }
        if bounds::check_event(event, &window).is_ok() {
            continue;
        }
        tracing::error!(kind = event.kind.name(), %violation, "an event out of bounds is recorded as a fault instead");
        let device = event
            .source
            .device
            .as_ref()
            .map(|d| d.as_str())
            .unwrap_or("edge");
        event.kind = EventKind::DeviceFault {
            device: fit_id(device).into(),
            message: bounds::sanitize_text(&format!(
                "{} not recorded, out of bounds: {violation}",
                event.kind.name()
            )),
        };
    }
}

/// An id made to fit: printable, trimmed, at most [`protocol::bounds::MAX_ID_LEN`] bytes.
fn fit_id(id: &str) -> String {
    let clean = protocol::bounds::sanitize(id.trim(), protocol::bounds::MAX_ID_LEN, false);
    let clean = clean.trim();
    if clean.is_empty() {
        "unknown".to_owned()
    } else {
        clean.to_owned()
    }
}

/// How often the floor forgets what it no longer needs ([`scan::Floor::prune`]).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Journal state key prefix of a work order's good and scrap (`"{good} {scrap}"`).
pub const PROGRESS_PREFIX: &str = "progress/";

/// A decided scan waiting for its batch to be committed.
struct PendingAnswer {
    station: protocol::StationId,
    at: chrono::DateTime<chrono::Utc>,
    raw: String,
    reply: Option<oneshot::Sender<scan::ScanOutcome>>,
    outcome: scan::ScanOutcome,
    /// The index in the batch of the scan's own event (its last), if it made one.
    event_index: Option<usize>,
}

/// Puts a decided scan's events and state into the batch; its answer waits for the commit.
fn take_decision(
    batch: &mut Interpreted,
    request: &ScanRequest,
    decision: scan::Decision,
) -> PendingAnswer {
    let n = decision.events.len();
    batch.events.extend(decision.events);
    batch.state.extend(decision.state);
    PendingAnswer {
        station: request.station.clone(),
        at: request.at,
        raw: request.raw.clone(),
        reply: None,
        outcome: decision.outcome,
        event_index: (n > 0).then(|| batch.events.len() - 1),
    }
}

/// Journal state key prefix of a station's parts booked to no work order (`"{good} {scrap}"`).
pub const UNASSIGNED_PREFIX: &str = "unassigned/";

/// Gives a ready-made event (a simulated machine's) the work order that runs on its station
/// ([`readings::running_at`]), as counts read from devices get it.
fn attribute(
    body: &mut protocol::EventBody,
    plan: Option<&protocol::Plan>,
    started: &readings::Started,
) {
    let station = body.source.station.as_ref().map(|s| s.as_str());
    match &mut body.kind {
        protocol::EventKind::ProductionReported {
            work_order,
            operation,
            ..
        } => (*work_order, *operation) = readings::work_order_at(plan, started, station),
        protocol::EventKind::Measurement { work_order, .. } => {
            *work_order = readings::work_order_at(plan, started, station).0
        }
        _ => {}
    }
}

/// What [`book_production`] changed.
#[derive(Debug, Default, PartialEq)]
pub struct Booked {
    pub orders: Vec<protocol::WorkOrderId>,
    pub stations: Vec<protocol::StationId>,
}

/// Adds the batch's production reports to the work orders' counts, and those booked to no
/// order to their station's unassigned count. Where the plant stops counting complete orders
/// (`stop_counting_when_complete`), good parts beyond an order's quantity plus the tolerance
/// are not booked to it: a report that crosses the line is split, the parts beyond it (a new
/// event at the end of the batch, so the scans' event indices stay right) kept unassigned.
pub fn book_production(
    view: &mut FloorView,
    plan: Option<&protocol::Plan>,
    events: &mut Vec<protocol::EventBody>,
) -> Booked {
    use protocol::EventKind;
    let mut booked = Booked::default();
    let rules = plan.map(|p| p.rules()).unwrap_or_default();
    let mut split_off = Vec::new();
    for e in events.iter_mut() {
        let EventKind::ProductionReported {
            work_order,
            operation,
            good,
            ..
        } = &mut e.kind
        else {
            continue;
        };
        if let Some(wo) = work_order.clone() {
            let counted = view.progress.get(&wo).map(|c| c.good).unwrap_or(0);
            let limit = rules
                .stop_counting_when_complete
                .then(|| plan.and_then(|p| p.work_order(wo.as_str())))
                .flatten()
                .and_then(|order| rules.with_tolerance(order.qty))
                .map(|q| {
                    use rust_decimal::prelude::ToPrimitive;
                    q.floor().to_u64().unwrap_or(u64::MAX)
                });
            let room = limit.map(|l| l.saturating_sub(counted));
            match room {
                Some(0) => {
                    // Complete: nothing more is booked to it.
                    *work_order = None;
                    *operation = None;
                }
                Some(room) if room < *good => {
                    let beyond = *good - room;
                    *good = room;
                    let mut rest = e.clone();
                    rest.id = protocol::EventId(uuid::Uuid::now_v7());
                    rest.kind = EventKind::ProductionReported {
                        work_order: None,
                        operation: None,
                        good: beyond,
                        scrap: 0,
                    };
                    split_off.push(rest);
                }
                _ => {}
            }
            if let EventKind::ProductionReported {
                work_order: Some(wo),
                good,
                scrap,
                ..
            } = &e.kind
            {
                let count = view.progress.entry(wo.clone()).or_default();
                count.good = count.good.saturating_add(*good);
                count.scrap = count.scrap.saturating_add(*scrap);
                if !booked.orders.contains(wo) {
                    booked.orders.push(wo.clone());
                }
                continue;
            }
        }
        unassigned(view, &mut booked, e);
    }
    for e in &split_off {
        unassigned(view, &mut booked, e);
    }
    events.extend(split_off);
    booked
}

/// Adds a report booked to no order to its station's unassigned count (`""`: no station).
fn unassigned(view: &mut FloorView, booked: &mut Booked, e: &protocol::EventBody) {
    let protocol::EventKind::ProductionReported {
        work_order: None,
        good,
        scrap,
        ..
    } = &e.kind
    else {
        return;
    };
    let station = e.source.station.clone().unwrap_or_else(|| "".into());
    let count = view.unassigned.entry(station.clone()).or_default();
    count.good = count.good.saturating_add(*good);
    count.scrap = count.scrap.saturating_add(*scrap);
    if !booked.stations.contains(&station) {
        booked.stations.push(station);
    }
}

/// The stations' state and the work orders' counts as last committed.
pub async fn restore_floor(journal: &JournalHandle) -> FloorView {
    let mut view = FloorView::default();
    match journal.state_with_prefix("scan/").await {
        Ok(pairs) => {
            for (key, value) in &pairs {
                if let Some(station) = key.strip_prefix(crate::live::RECENT_PREFIX) {
                    view.scans
                        .insert(station.into(), crate::live::restore_scans(value));
                }
            }
            view.floor = scan::Floor::restore(pairs);
        }
        Err(e) => tracing::error!(error = %e, "cannot load the stations' saved state"),
    }
    match journal.state_with_prefix(PROGRESS_PREFIX).await {
        Ok(pairs) => {
            for (key, value) in pairs {
                let wo = key.trim_start_matches(PROGRESS_PREFIX);
                let mut parts = value.split(' ').map(str::parse::<u64>);
                if let (Some(Ok(good)), Some(Ok(scrap))) = (parts.next(), parts.next()) {
                    view.progress
                        .insert(wo.into(), crate::live::StationCount { good, scrap });
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load the work orders' counts"),
    }
    match journal.state_with_prefix(UNASSIGNED_PREFIX).await {
        Ok(pairs) => {
            for (key, value) in pairs {
                let station = key.trim_start_matches(UNASSIGNED_PREFIX);
                let mut parts = value.split(' ').map(str::parse::<u64>);
                if let (Some(Ok(good)), Some(Ok(scrap))) = (parts.next(), parts.next()) {
                    view.unassigned
                        .insert(station.into(), crate::live::StationCount { good, scrap });
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot load the stations' unassigned counts"),
    }
    view
}

/// Commits a batch and the state derived with it, in one transaction, waiting while the
/// journal is full: the sources back up behind the bounded channel, so nothing is dropped, and
/// the quota alarm tells people why.
/// Returns the seq of the batch's first event once committed (`None` if it held no event), or
/// `Err` if it could not be committed.
async fn commit(
    journal: &JournalHandle,
    live: &Live,
    batch: Interpreted,
) -> Result<Option<protocol::Seq>, ()> {
    if batch.events.is_empty() && batch.state.is_empty() {
        return Ok(None);
    }
    let n = batch.events.len() as u64;
    let state: Vec<(String, String)> = batch.state.into_iter().collect();
    let mut warned = false;
    loop {
        let result = if batch.events.is_empty() {
            // Only state (a counter's first baseline): no event to carry it.
            let mut r = Ok(None);
            for (key, value) in &state {
                r = journal.put_state(key, value).await.map(|()| None);
                if r.is_err() {
                    break;
                }
            }
            r
        } else {
            journal
                .append_with_state(&batch.events, state.clone())
                .await
                .map(|range| Some(range.first))
        };
        match result {
            Ok(first) => {
                if warned {
                    live.set_journal_refusing(None);
                    tracing::info!("the journal takes events again");
                }
                live.metrics.events_appended.inc_by(n);
                for e in &batch.events {
                    if let protocol::EventKind::ProductionReported { good, scrap, .. } = e.kind {
                        live.add_production(
                            e.source.station.as_ref().map(|s| s.as_str()),
                            good,
                            scrap,
                        );
                    }
                }
                return Ok(first);
            }
            Err(JournalError::Closed) => {
                tracing::error!(n, "journal closed; {n} events were not committed");
                return Err(());
            }
            Err(e) => {
                if !warned {
                    tracing::error!(error = %e, n, "cannot commit events; sources wait until the journal accepts them");
                    live.set_journal_refusing(Some(crate::exchange::Refusal {
                        reason: e.refusal_reason(),
                        message: e.to_string(),
                    }));
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{EventBody, EventKind, Plan, PlanRules, WorkOrderId};
    use rust_decimal::Decimal;

    fn plan(rules: PlanRules) -> Plan {
        let json = serde_json::json!({
            "edge_id": "line-1", "version": 3, "published_at": "2026-11-27T06:00:00Z",
            "work_orders": [{
                "work_order": "WO-1", "item": "BRACKET", "qty": "30", "uom": "pcs",
                "due": "2026-11-30",
                "operations": [{"operation": 10, "description": "stamp", "station": "st-10"}]
            }]
        });
        let mut plan: Plan = serde_json::from_value(json).unwrap();
        plan.rules = Some(rules);
        plan
    }

    fn report(station: &str, wo: Option<&str>, good: u64, scrap: u64) -> EventBody {
        EventBody {
            id: protocol::EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: protocol::Source {
                device: Some("press".into()),
                station: Some(station.into()),
            },
            kind: EventKind::ProductionReported {
                work_order: wo.map(WorkOrderId::from),
                operation: wo.map(|_| 10),
                good,
                scrap,
            },
        }
    }

    fn booked(events: &[EventBody]) -> Vec<(Option<String>, u64, u64)> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ProductionReported {
                    work_order,
                    good,
                    scrap,
                    ..
                } => Some((work_order.as_ref().map(|w| w.to_string()), *good, *scrap)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_complete_order_books_no_more_parts_where_the_plant_stops_counting() {
        // 30 pieces + 10 %: 33 booked, what crosses the line is split, the rest unassigned.
        let plan = plan(PlanRules {
            over_tolerance_pct: Decimal::new(10, 0),
            stop_counting_when_complete: true,
            ..PlanRules::default()
        });
        let mut view = FloorView::default();
        let mut events = vec![report("st-10", Some("WO-1"), 30, 2)];
        book_production(&mut view, Some(&plan), &mut events);
        let mut events = vec![
            report("st-10", Some("WO-1"), 5, 1),
            report("st-10", Some("WO-1"), 4, 0),
        ];
        let b = book_production(&mut view, Some(&plan), &mut events);
        assert_eq!(
            booked(&events),
            vec![(Some("WO-1".into()), 3, 1), (None, 4, 0), (None, 2, 0)]
        );
        assert_eq!(b.orders, vec![WorkOrderId::from("WO-1")]);
        assert_eq!(b.stations, vec![protocol::StationId::from("st-10")]);
        let wo = &view.progress[&WorkOrderId::from("WO-1")];
        assert_eq!((wo.good, wo.scrap), (33, 3));
        let kept = &view.unassigned[&protocol::StationId::from("st-10")];
        assert_eq!((kept.good, kept.scrap), (6, 0));
        let run = view.station_run(Some(&plan), &"st-10".into());
        assert_eq!(
            (
                run.work_order.as_ref().map(|w| w.as_str()),
                run.counting,
                run.over_production
            ),
            (Some("WO-1"), false, false)
        );
        assert_eq!(run.unassigned_good, 6);
    }

    #[test]
    fn without_the_rule_an_order_counts_on_and_is_flagged_over_produced() {
        let plan = plan(PlanRules {
            over_tolerance_pct: Decimal::new(10, 0),
            ..PlanRules::default()
        });
        let mut view = FloorView::default();
        let mut events = vec![
            report("st-10", Some("WO-1"), 33, 0),
            report("st-30", None, 7, 1),
        ];
        book_production(&mut view, Some(&plan), &mut events);
        let run = view.station_run(Some(&plan), &"st-10".into());
        assert!(run.counting && !run.over_production, "{run:?}");
        let mut events = vec![report("st-10", Some("WO-1"), 1, 0)];
        book_production(&mut view, Some(&plan), &mut events);
        assert_eq!(booked(&events), vec![(Some("WO-1".into()), 1, 0)]);
        let run = view.station_run(Some(&plan), &"st-10".into());
        assert!(run.counting && run.over_production, "{run:?}");
        // A station no routing names runs nothing, and shows what it counted.
        let run = view.station_run(Some(&plan), &"st-30".into());
        assert_eq!(run.work_order, None);
        assert_eq!((run.unassigned_good, run.unassigned_scrap), (7, 1));
    }

    #[test]
    fn a_simulated_machine_s_counts_go_to_what_runs_on_its_station() {
        let plan = plan(PlanRules::default());
        let mut at_10 = report("st-10", Some("WO-OTHER"), 1, 0);
        attribute(&mut at_10, Some(&plan), &Default::default());
        let mut at_20 = report("st-20", Some("WO-1"), 1, 0);
        attribute(&mut at_20, Some(&plan), &Default::default());
        assert_eq!(
            booked(&[at_10, at_20]),
            vec![(Some("WO-1".into()), 1, 0), (None, 1, 0)]
        );
    }
}
