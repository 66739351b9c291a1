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
use crate::live::Live;
use crate::sources::SourceMessage;
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
    let mut mqtt = mqtt::MqttInterpreter::default();
    let mut batch = Interpreted::default();
    // Sources waiting to hear that what they handed over is committed (MQTT acks after it).
    let mut receipts: Vec<oneshot::Sender<bool>> = Vec::new();
    while let Some(first) = from_sources.recv().await {
        let plan = live.plan();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            // Events the processor itself derives (from readings and MQTT values) count as
            // generated here; simulated machines count their own.
            let derived_from = batch.events.len();
            let derived = !matches!(message, SourceMessage::Event(_));
            match message {
                SourceMessage::Event(body) => batch.events.push(*body),
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
                    mqtt.interpret_delivery(
                        &delivery.messages,
                        delivery.redelivered,
                        plan.as_deref(),
                        &mut batch,
                    );
                    receipts.push(delivery.committed);
                }
                SourceMessage::Scan(_) => {}
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
        let committed = commit(&journal, &live, std::mem::take(&mut batch)).await;
        for receipt in receipts.drain(..) {
            let _ = receipt.send(committed);
        }
    }
}

/// Commits a batch and the state derived with it, in one transaction, waiting while the
/// journal is full: the sources back up behind the bounded channel, so nothing is dropped, and
/// the quota alarm tells people why.
/// Returns whether the batch is committed.
async fn commit(journal: &JournalHandle, live: &Live, batch: Interpreted) -> bool {
    if batch.events.is_empty() && batch.state.is_empty() {
        return true;
    }
    let n = batch.events.len() as u64;
    let state: Vec<(String, String)> = batch.state.into_iter().collect();
    let mut warned = false;
    loop {
        let result = if batch.events.is_empty() {
            // Only state (a counter's first baseline): no event to carry it.
            let mut r = Ok(());
            for (key, value) in &state {
                r = journal.put_state(key, value).await;
                if r.is_err() {
                    break;
                }
            }
            r
        } else {
            journal
                .append_with_state(&batch.events, state.clone())
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => {
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
                return true;
            }
            Err(JournalError::Closed) => {
                tracing::error!(n, "journal closed; {n} events were not committed");
                return false;
            }
            Err(e) => {
                if !warned {
                    tracing::error!(error = %e, n, "cannot commit events; sources wait until the journal accepts them");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
