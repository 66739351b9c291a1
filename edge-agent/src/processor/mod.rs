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
pub mod readings;

use self::readings::{Interpreted, Interpreter, Meanings};
use crate::journal::{JournalError, JournalHandle};
use crate::live::Live;
use crate::sources::SourceMessage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

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
    let mut batch = Interpreted::default();
    while let Some(first) = from_sources.recv().await {
        let plan = live.plan();
        push(&mut batch, &mut interpreter, plan.as_deref(), first);
        while batch.events.len() < MAX_BATCH {
            match from_sources.try_recv() {
                Ok(m) => push(&mut batch, &mut interpreter, plan.as_deref(), m),
                Err(_) => break,
            }
        }
        commit(&journal, &live, std::mem::take(&mut batch)).await;
    }
}

fn push(
    batch: &mut Interpreted,
    interpreter: &mut Interpreter,
    plan: Option<&protocol::Plan>,
    message: SourceMessage,
) {
    match message {
        SourceMessage::Event(body) => batch.events.push(*body),
        SourceMessage::Readings(readings) => interpreter.interpret(&readings, plan, batch),
    }
}

/// Commits a batch and the state derived with it, in one transaction, waiting while the
/// journal is full: the sources back up behind the bounded channel, so nothing is dropped, and
/// the quota alarm tells people why.
async fn commit(journal: &JournalHandle, live: &Live, batch: Interpreted) {
    if batch.events.is_empty() && batch.state.is_empty() {
        return;
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
                .append_with_state(batch.events.clone(), state.clone())
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => {
                live.metrics.events_appended.inc_by(n);
                return;
            }
            Err(JournalError::Closed) => {
                tracing::error!(n, "journal closed; {n} events were not committed");
                return;
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
