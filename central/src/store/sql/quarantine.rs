//! The quarantine on SQLite: one row per stored event central could not apply, written by
//! ingest in its transaction ([`put`]); the event itself stays in `events` as the edge sent it.

use super::db::{Connection, Transaction, Value, params};
use super::{StoreError, parse_ts, to_i64, to_u64};
use crate::store::QuarantinedEvent;
use protocol::{EdgeId, EventId, Seq, bounds};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY,
    edge_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    reason      TEXT NOT NULL,
    UNIQUE (edge_id, seq)
);
";

/// Longest excerpt of a quarantined body an answer quotes.
pub const BODY_EXCERPT: usize = bounds::MAX_TEXT_LEN;

/// The quarantine rows of a batch's newly stored events, `(seq, reason)`, in multi-row
/// statements.
pub(super) fn put(
    tx: &Transaction<'_>,
    edge_id: &str,
    received_at: &str,
    events: &[(Seq, String)],
) -> Result<(), StoreError> {
    let mut values: Vec<Value<'_>> = Vec::with_capacity(events.len() * 4);
    for (seq, reason) in events {
        values.extend([
            Value::from(edge_id),
            Value::from(to_i64(seq.0)?),
            Value::from(received_at),
            Value::from(reason.as_str()),
        ]);
    }
    tx.execute_rows(&values, 4, |rows| {
        format!("INSERT INTO quarantine (edge_id, seq, received_at, reason) VALUES {rows}")
    })?;
    Ok(())
}

/// Newest first, of one edge or all, at most `limit`.
pub(super) fn list(
    conn: &Connection,
    edge_id: Option<&EdgeId>,
    limit: usize,
) -> Result<Vec<QuarantinedEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.edge_id, q.seq, e.event_id, e.kind, e.at, q.received_at, q.reason,
                substr(e.body, 1, ?3), octet_length(e.body)
         FROM quarantine q JOIN events e ON e.edge_id = q.edge_id AND e.seq = q.seq
         WHERE CAST(?1 AS TEXT) IS NULL OR q.edge_id = ?1
         ORDER BY q.id DESC LIMIT ?2",
    )?;
    let limit = to_i64(limit as u64)?;
    // substr counts characters; a character is at most 4 bytes, and the excerpt is cut to
    // bytes below.
    let chars = to_i64(BODY_EXCERPT as u64)?;
    let rows = stmt.query_map(params![edge_id.map(EdgeId::as_str), limit, chars], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, i64>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (edge, seq, event_id, kind, at, received_at, reason, body, body_bytes) = row?;
        out.push(QuarantinedEvent {
            edge_id: EdgeId(edge),
            seq: Seq(to_u64(seq)),
            event_id: uuid::Uuid::parse_str(&event_id).ok().map(EventId),
            kind,
            // Empty when the body did not read; a time far out of bounds (year 262142) may
            // not read back as RFC 3339, and is then left out rather than failing the list.
            at: parse_ts(&at).ok(),
            received_at: parse_ts(&received_at)?,
            reason,
            body: bounds::sanitize(&body, BODY_EXCERPT, false),
            body_bytes: to_u64(body_bytes),
        });
    }
    Ok(out)
}
