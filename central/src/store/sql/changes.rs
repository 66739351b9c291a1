//! The change feed between central instances on one PostgreSQL database: `NOTIFY` on the
//! channel [`CHANNEL`] inside the writing transaction (delivered when it commits), and one
//! listening connection per instance, on a thread of its own, that hands what it hears to
//! [`Store::changes`](crate::store::Store::changes) subscribers.
//!
//! Payloads are short text: `plan <version> <edge id>`, `credentials`, `floor <edge id>`,
//! `floor-since <micros> <edge id>`, `work-orders` or `resync`. The listener
//! reconnects when its connection drops (every 0.2 s to 5 s) and then says [`StoreChange::Resync`],
//! since what was sent meanwhile is lost.

use super::db::{Conn, params};
use super::pg::Pool;
use crate::store::{StoreChange, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use protocol::{EdgeId, PlanVersion};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// The notification channel.
pub const CHANNEL: &str = "mes_changes";

/// Changes a slow subscriber may fall behind by before it is told it lagged.
const CAPACITY: usize = 4096;

/// Sends `change` to every instance when the transaction of `conn` commits (at once outside
/// one). Nothing on SQLite.
pub fn notify(conn: &Conn, change: &StoreChange) -> Result<(), StoreError> {
    if conn.dialect() != super::db::Dialect::Postgres {
        return Ok(());
    }
    conn.prepare_cached("SELECT pg_notify(?1, ?2)")?
        .query_row(params![CHANNEL, payload(change)], |_| Ok(()))?;
    Ok(())
}

/// The text a change travels as; [`parse`] reads it back.
fn payload(change: &StoreChange) -> String {
    match change {
        StoreChange::Plan { edge_id, version } => {
            format!("plan {} {}", version.0, edge_id.as_str())
        }
        StoreChange::Credentials => "credentials".to_owned(),
        StoreChange::Floor {
            edge_id,
            since: None,
        } => format!("floor {}", edge_id.as_str()),
        StoreChange::Floor {
            edge_id,
            since: Some(since),
        } => format!(
            "floor-since {} {}",
            since.timestamp_micros(),
            edge_id.as_str()
        ),
        StoreChange::WorkOrders => "work-orders".to_owned(),
        StoreChange::Resync => "resync".to_owned(),
    }
}

fn parse(payload: &str) -> Option<StoreChange> {
    match payload.split_once(' ') {
        None if payload == "credentials" => Some(StoreChange::Credentials),
        None if payload == "resync" => Some(StoreChange::Resync),
        None if payload == "work-orders" => Some(StoreChange::WorkOrders),
        Some(("floor", edge)) => Some(StoreChange::Floor {
            edge_id: EdgeId(edge.to_owned()),
            since: None,
        }),
        Some(("floor-since", rest)) => {
            let (micros, edge) = rest.split_once(' ')?;
            Some(StoreChange::Floor {
                edge_id: EdgeId(edge.to_owned()),
                since: Some(chrono::DateTime::from_timestamp_micros(
                    micros.parse().ok()?,
                )?),
            })
        }
        Some(("plan", rest)) => {
            let (version, edge) = rest.split_once(' ')?;
            Some(StoreChange::Plan {
                edge_id: EdgeId(edge.to_owned()),
                version: PlanVersion(version.parse().ok()?),
            })
        }
        _ => None,
    }
}

/// The feed of one instance: the sender subscribers take receivers from, and the listening
/// thread, stopped when this is dropped.
pub struct Feed {
    sender: broadcast::Sender<StoreChange>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// Starts listening on a connection of its own (not one of the pool's).
    pub fn start(pool: &Arc<Pool>) -> Feed {
        let (sender, _) = broadcast::channel(CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_sender = sender.clone();
        let thread_stop = stop.clone();
        let pool = pool.clone();
        let spawned = std::thread::Builder::new()
            .name("mes-pg-listen".into())
            .spawn(move || listen(&pool, &thread_sender, &thread_stop));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the thread that listens for other instances' changes");
        }
        Feed { sender, stop }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.sender.subscribe()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn listen(pool: &Pool, sender: &broadcast::Sender<StoreChange>, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(200);
    let mut first = true;
    while !stop.load(Ordering::Acquire) {
        let conn = match pool.connect() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for other instances' changes");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = conn.execute_batch(&format!("LISTEN {CHANNEL}")) {
            tracing::warn!(error = %e, "cannot listen for other instances' changes");
            std::thread::sleep(backoff);
            continue;
        }
        backoff = Duration::from_millis(200);
        if !first {
            // What was sent while the connection was down is lost.
            let _ = sender.send(StoreChange::Resync);
        }
        first = false;
        let lost = conn
            .with_pg(|client| {
                let client = client.client();
                loop {
                    if stop.load(Ordering::Acquire) {
                        return None;
                    }
                    {
                        let mut notifications = client.notifications();
                        let mut batch = notifications.timeout_iter(Duration::from_millis(500));
                        loop {
                            match batch.next() {
                                Ok(Some(n)) => {
                                    if let Some(change) = parse(n.payload()) {
                                        // No subscriber yet is not an error.
                                        let _ = sender.send(change);
                                    } else {
                                        tracing::warn!(
                                            payload = n.payload(),
                                            "an unknown change notification, ignored"
                                        );
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => return Some(e),
                            }
                        }
                    }
                    if client.is_closed() {
                        return None;
                    }
                }
            })
            .flatten();
        if let Some(e) = lost {
            let e = super::db::DbError::from(e);
            tracing::warn!(error = %e, "lost the connection that listens for other instances' changes; reconnecting");
        }
        // The client is closed on this thread, which may block.
        drop(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        for change in [
            StoreChange::Plan {
                edge_id: EdgeId("line 1".into()),
                version: PlanVersion(42),
            },
            StoreChange::Credentials,
            StoreChange::Floor {
                edge_id: EdgeId("line 1".into()),
                since: None,
            },
            StoreChange::Floor {
                edge_id: EdgeId("line 1".into()),
                since: chrono::DateTime::from_timestamp_micros(1_764_979_200_123_456),
            },
            StoreChange::WorkOrders,
            StoreChange::Resync,
        ] {
            assert_eq!(parse(&payload(&change)), Some(change));
        }
        assert_eq!(parse("plan x e1"), None);
        assert_eq!(parse("floor-since x e1"), None);
        assert_eq!(parse("floor-since 99999999999999999999 e1"), None);
        assert_eq!(parse("something"), None);
    }
}
