//! The processor: the one place where what sources read becomes production facts, and the one
//! writer into the journal.
//!
//! In this first version sources already speak in events (the simulated machines), so the
//! processor batches them into the journal. Counter deltas, state mapping and scan checking
//! against the plan land here with the Modbus, MQTT and scanner sources.

use crate::journal::{JournalError, JournalHandle};
use crate::live::Live;
use crate::sources::SourceMessage;
use protocol::EventBody;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most events appended in one call (the journal commits everything queued together anyway).
const MAX_BATCH: usize = 4096;

/// Runs until every source has hung up and everything received is committed.
pub async fn run(
    mut from_sources: mpsc::Receiver<SourceMessage>,
    journal: JournalHandle,
    live: Arc<Live>,
) {
    let mut batch: Vec<EventBody> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = from_sources.recv().await {
        push(&mut batch, first);
        while batch.len() < MAX_BATCH {
            match from_sources.try_recv() {
                Ok(m) => push(&mut batch, m),
                Err(_) => break,
            }
        }
        commit(&journal, &live, std::mem::take(&mut batch)).await;
    }
}

fn push(batch: &mut Vec<EventBody>, message: SourceMessage) {
    match message {
        SourceMessage::Event(body) => batch.push(*body),
    }
}

/// Commits a batch, waiting while the journal is full: the sources back up behind the bounded
/// channel, so nothing is dropped, and the quota alarm tells people why.
async fn commit(journal: &JournalHandle, live: &Live, batch: Vec<EventBody>) {
    let n = batch.len() as u64;
    let mut warned = false;
    loop {
        match journal.append(batch.clone()).await {
            Ok(_) => {
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
