//! The floor's projections (schema 9): what every station is doing and has done, kept up to
//! date by ingest in its transaction so that no page scans raw events.
//!
//! - `floor_state`: one row per `(edge, station)` that ever reported a state, a count or an
//!   operator: the state it is in and since when, the reason, the event that put it there,
//!   and the operator signed in.
//! - `floor_spans`: every state a station has left, `[from_at, to_at)`, keyed by the seq of
//!   the event that started it. A span is written when the next state change closes it; the
//!   open one is `floor_state`.
//! - `floor_counts`: good and scrap reported per station, minute (UTC, the minute the report
//!   was made in), work order and operation (empty and 0 when the report named none), and
//!   `floor_counts_hour` the same by the hour: OEE over a month reads hours, and minutes only
//!   in the hours where a shift, a break or a planned stop begins or ends. The partial index
//!   `floor_counts_scrap` holds the minutes with scrap alone: a month's list of scrap reads
//!   those, not every minute (made on open, like every table here).
//!
//! - `floor_run_figures`: the OEE figures of shift runs that have ended, per station, worked
//!   out once and kept ([`KeptRun`]) so that a report after a restart, or at another instance,
//!   does not read a month of history again; `floor_run_guard` per edge says up to when runs
//!   are kept (or are being worked out) and counts the late batches that reached them
//!   ([`forget_late`]). Both are a cache: dropping them loses nothing.
//!
//! [`FloorBatch`] works a batch's events out in seq order in memory and writes them in a few
//! multi-row statements; [`rebuild`] replays every stored event through the same code, and a
//! test holds that both give the same rows.
//!
//! Time on the floor is the edge's clock. A state change dated before the state it ends (the
//! edge's clock stepped back) starts when the previous state started: spans never overlap and
//! never run backwards. Quarantined and duplicate events change nothing here, as elsewhere.

use super::db::{Connection, OptionalExtension, Transaction, Value, params};
use super::{StoreError, to_i64};
use crate::store::floor::{
    FloorStation, KeptRun, StationHistory, StopReason, StoredCount, StoredSpan,
};
use chrono::{DateTime, Utc};
use protocol::{EventKind, MachineState};
use std::collections::{BTreeMap, BTreeSet};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plant_shifts (
    plant      TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stop_reasons (
    plant    TEXT NOT NULL,
    code     TEXT NOT NULL,
    name     TEXT NOT NULL,
    name_zh  TEXT NOT NULL,
    category TEXT NOT NULL,
    planned  INTEGER NOT NULL,
    PRIMARY KEY (plant, code)
);
CREATE TABLE IF NOT EXISTS floor_state (
    edge_id     TEXT NOT NULL,
    station     TEXT NOT NULL,
    state       TEXT,
    reason      TEXT,
    since       TEXT,
    seq         INTEGER,
    operator    TEXT,
    operator_at TEXT,
    PRIMARY KEY (edge_id, station)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS floor_spans (
    edge_id TEXT NOT NULL,
    station TEXT NOT NULL,
    from_at TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    to_at   TEXT NOT NULL,
    state   TEXT NOT NULL,
    reason  TEXT,
    PRIMARY KEY (edge_id, station, from_at, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS floor_counts (
    edge_id    TEXT NOT NULL,
    station    TEXT NOT NULL,
    minute     TEXT NOT NULL,
    work_order TEXT NOT NULL,
    operation  INTEGER NOT NULL,
    good       INTEGER NOT NULL,
    scrap      INTEGER NOT NULL,
    reports    INTEGER NOT NULL,
    PRIMARY KEY (edge_id, station, minute, work_order, operation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS floor_counts_hour (
    edge_id    TEXT NOT NULL,
    station    TEXT NOT NULL,
    hour       TEXT NOT NULL,
    work_order TEXT NOT NULL,
    operation  INTEGER NOT NULL,
    good       INTEGER NOT NULL,
    scrap      INTEGER NOT NULL,
    reports    INTEGER NOT NULL,
    PRIMARY KEY (edge_id, station, hour, work_order, operation)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS floor_counts_scrap ON floor_counts (edge_id, station, minute)
    WHERE scrap > 0;
CREATE TABLE IF NOT EXISTS floor_run_figures (
    edge_id   TEXT NOT NULL,
    station   TEXT NOT NULL,
    context   TEXT NOT NULL,
    run_start TEXT NOT NULL,
    run_end   TEXT NOT NULL,
    figures   TEXT NOT NULL,
    PRIMARY KEY (edge_id, station, context, run_start, run_end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS floor_run_guard (
    edge_id  TEXT PRIMARY KEY,
    kept_end TEXT NOT NULL,
    late_gen INTEGER NOT NULL
);
";

/// Columns added to tables older versions made: routings' and work orders' ideal cycle time
/// (ISO 22400's planned run time per item), in milliseconds.
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    let integer = match conn.dialect() {
        super::db::Dialect::Sqlite => "INTEGER",
        super::db::Dialect::Postgres => "BIGINT",
    };
    for table in ["mes_routing_ops", "wo_operations"] {
        if !super::stock::has_column(conn, table, "ideal_cycle_ms")? {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN ideal_cycle_ms {integer}"
            ))?;
        }
    }
    Ok(())
}

/// Whether ingest keeps the projections: always, but for `mes bench oee`'s baseline (the same
/// ingest without them, in the same run). Not a setting: pages and OEE read the projections.
static PROJECTIONS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[doc(hidden)]
pub fn set_projections_for_bench(on: bool) {
    PROJECTIONS.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(super) fn projections_on() -> bool {
    PROJECTIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts saturate here, as the unassigned sums do.
const MAX_SUM: i64 = i64::MAX;

/// What one event tells the floor's projections.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FloorFact {
    State {
        station: String,
        state: MachineState,
        reason: Option<String>,
    },
    Count {
        station: String,
        work_order: String,
        operation: i64,
        good: u64,
        scrap: u64,
    },
    Operator {
        station: String,
        operator: Option<String>,
    },
    /// The operator gave the reason of the stop that began at `since` (as `ts` writes it).
    Reason {
        station: String,
        since: String,
        reason: String,
    },
}

impl FloorFact {
    /// `None` for events the floor's projections do not use.
    pub(super) fn of(event: &protocol::Event) -> Option<FloorFact> {
        let station = || {
            event
                .source
                .station
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default()
        };
        match &event.kind {
            EventKind::MachineStateChanged { state, reason } => Some(FloorFact::State {
                station: station(),
                state: *state,
                reason: reason.clone(),
            }),
            EventKind::ProductionReported {
                work_order,
                operation,
                good,
                scrap,
            } => Some(FloorFact::Count {
                station: station(),
                work_order: work_order
                    .as_ref()
                    .map(|w| w.as_str().to_owned())
                    .unwrap_or_default(),
                operation: operation.map_or(0, i64::from),
                good: *good,
                scrap: *scrap,
            }),
            EventKind::OperatorSignedIn { operator } => Some(FloorFact::Operator {
                station: station(),
                operator: Some(operator.as_str().to_owned()),
            }),
            EventKind::OperatorSignedOut { .. } => Some(FloorFact::Operator {
                station: station(),
                operator: None,
            }),
            EventKind::StopReasonGiven { reason, since } => Some(FloorFact::Reason {
                station: station(),
                since: super::ts(*since),
                reason: reason.clone(),
            }),
            _ => None,
        }
    }
}

/// A machine state as the projections store it (and the pages and gauges name it).
pub fn state_name(state: MachineState) -> &'static str {
    match state {
        MachineState::Running => "running",
        MachineState::Idle => "idle",
        MachineState::Down => "down",
        MachineState::Setup => "setup",
        MachineState::Off => "off",
    }
}

pub(super) fn parse_state(text: &str) -> Result<MachineState, StoreError> {
    Ok(match text {
        "running" => MachineState::Running,
        "idle" => MachineState::Idle,
        "down" => MachineState::Down,
        "setup" => MachineState::Setup,
        "off" => MachineState::Off,
        other => return Err(StoreError::Corrupt(format!("machine state {other:?}"))),
    })
}

/// A station's row of `floor_state` as a batch sees it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Now {
    state: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    seq: Option<i64>,
    operator: Option<String>,
    operator_at: Option<String>,
}

/// A closed span, for `floor_spans`.
struct Span {
    station: String,
    seq: i64,
    from: String,
    to: String,
    state: String,
    reason: Option<String>,
}

/// `(station, time prefix, work order, operation)`.
type CountKey<'a> = (&'a str, &'a str, &'a str, i64);

/// `(good, scrap, reports)`.
type Sums = (i64, i64, i64);

/// One batch's (or one rebuild's) effect on the floor's projections of one edge, worked out
/// in memory in seq order and written with [`FloorBatch::write`]. Counts are keyed by the
/// batch's own strings: nothing is allocated per production report while the writer lock is
/// held.
#[derive(Default)]
pub(super) struct FloorBatch<'a> {
    /// The edge's `floor_state` rows, read on the first fact of the batch.
    now: Option<BTreeMap<String, Now>>,
    changed: BTreeSet<String>,
    spans: Vec<Span>,
    /// `(station, minute prefix of the time, work_order, operation)` →
    /// `(good, scrap, reports)`.
    counts: BTreeMap<CountKey<'a>, Sums>,
    /// The earliest moment whose figures the batch changes (as stored, or a minute prefix).
    since: Option<String>,
}

/// The minute of `at` (as `ts` writes it: `2026-12-06T08:31:12.345678Z`) as its prefix
/// `2026-12-06T08:31:`; [`minute_text`] makes the stored minute of it.
fn minute_prefix(at: &str) -> &str {
    at.get(..17).unwrap_or(at)
}

fn hour_text(prefix: &str) -> String {
    if prefix.len() == 14 {
        format!("{prefix}00:00.000000Z")
    } else {
        prefix.to_owned()
    }
}

fn minute_text(prefix: &str) -> String {
    if prefix.len() == 17 {
        format!("{prefix}00.000000Z")
    } else {
        prefix.to_owned()
    }
}

impl<'a> FloorBatch<'a> {
    fn now(
        &mut self,
        conn: &Connection,
        edge_id: &str,
    ) -> Result<&mut BTreeMap<String, Now>, StoreError> {
        if self.now.is_none() {
            let mut stmt = conn.prepare_cached(
                "SELECT station, state, reason, since, seq, operator, operator_at
                 FROM floor_state WHERE edge_id = ?1",
            )?;
            let rows = stmt
                .query_map(params![edge_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Now {
                            state: r.get(1)?,
                            reason: r.get(2)?,
                            since: r.get(3)?,
                            seq: r.get(4)?,
                            operator: r.get(5)?,
                            operator_at: r.get(6)?,
                        },
                    ))
                })?
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            self.now = Some(rows);
        }
        Ok(self.now.get_or_insert_with(BTreeMap::new))
    }

    /// What the event with `seq`, made at `at`, tells the projections.
    pub(super) fn apply(
        &mut self,
        conn: &Connection,
        edge_id: &str,
        seq: i64,
        at: &'a str,
        fact: &'a FloorFact,
    ) -> Result<(), StoreError> {
        match fact {
            FloorFact::Count {
                station,
                work_order,
                operation,
                good,
                scrap,
            } => {
                let (good, scrap) = (to_i64(*good)?, to_i64(*scrap)?);
                self.touch(minute_prefix(at));
                let sum = self
                    .counts
                    .entry((station, minute_prefix(at), work_order, *operation))
                    .or_insert((0, 0, 0));
                sum.0 = sum.0.saturating_add(good);
                sum.1 = sum.1.saturating_add(scrap);
                sum.2 = sum.2.saturating_add(1);
                // Every station that ever counted has its `floor_state` row, so the board
                // lists stations from that table alone.
                let known = self.now(conn, edge_id)?;
                if !known.contains_key(station.as_str()) {
                    known.insert(station.clone(), Now::default());
                    self.changed.insert(station.clone());
                }
            }
            FloorFact::State {
                station,
                state,
                reason,
            } => {
                let now = self.now(conn, edge_id)?.entry(station.clone()).or_default();
                // Spans never run backwards: a change dated before the state it ends starts
                // when that state started.
                let mut from = at.to_owned();
                let mut closed = None;
                if let (Some(prev), Some(since), Some(prev_seq)) = (&now.state, &now.since, now.seq)
                {
                    if from.as_str() < since.as_str() {
                        from.clone_from(since);
                    }
                    if from.as_str() > since.as_str() {
                        closed = Some(Span {
                            station: station.clone(),
                            seq: prev_seq,
                            from: since.clone(),
                            to: from.clone(),
                            state: prev.clone(),
                            reason: now.reason.clone(),
                        });
                    }
                }
                now.state = Some(state_name(*state).to_owned());
                now.reason.clone_from(reason);
                let changed_from = from.clone();
                now.since = Some(from);
                now.seq = Some(seq);
                self.changed.insert(station.clone());
                self.spans.extend(closed);
                self.touch(&changed_from);
            }
            FloorFact::Reason {
                station,
                since,
                reason,
            } => {
                self.touch(since);
                // The stop it names: the station's current one, a span this batch closed, or
                // a stored span; only a `down` without a reason takes one (the edge allows the
                // station's last stop only, so this changes at most one span).
                let now = self.now(conn, edge_id)?.entry(station.clone()).or_default();
                if now.state.as_deref() == Some("down")
                    && now.since.as_deref() == Some(since.as_str())
                    && now.reason.is_none()
                {
                    now.reason = Some(reason.clone());
                    self.changed.insert(station.clone());
                } else if let Some(span) = self.spans.iter_mut().find(|s| {
                    s.station == *station
                        && s.from == *since
                        && s.state == "down"
                        && s.reason.is_none()
                }) {
                    span.reason = Some(reason.clone());
                } else {
                    conn.prepare_cached(
                        "UPDATE floor_spans SET reason = ?4
                         WHERE edge_id = ?1 AND station = ?2 AND from_at = ?3
                           AND state = 'down' AND reason IS NULL",
                    )?
                    .execute(params![
                        edge_id,
                        station.as_str(),
                        since.as_str(),
                        reason.as_str()
                    ])?;
                }
            }
            FloorFact::Operator { station, operator } => {
                // No figure depends on who is signed in; noted all the same, so that a batch
                // that changed the floor always says from when (the runs before stand).
                self.touch(at);
                let now = self.now(conn, edge_id)?.entry(station.clone()).or_default();
                now.operator.clone_from(operator);
                now.operator_at = Some(at.to_owned());
                self.changed.insert(station.clone());
            }
        }
        Ok(())
    }

    /// Notes that figures from `at` (a stored time or a prefix of one) on change.
    fn touch(&mut self, at: &str) {
        if self.since.as_deref().is_none_or(|s| at < s) {
            self.since = Some(at.to_owned());
        }
    }

    /// The earliest moment whose figures the batch changes; `None` when it changed nothing
    /// or that time cannot be read (then take any to have changed).
    pub(super) fn since(&self) -> Option<DateTime<Utc>> {
        let at = self.since.as_deref()?;
        let full = if at.len() == 17 {
            minute_text(at)
        } else {
            at.to_owned()
        };
        super::parse_own_ts(&full)
    }

    /// Whether [`FloorBatch::write`] would write anything.
    pub(super) fn changes_anything(&self) -> bool {
        // `since` too: a reason given for a stop already stored is written at once.
        !self.counts.is_empty()
            || !self.spans.is_empty()
            || !self.changed.is_empty()
            || self.since.is_some()
    }

    /// Writes what the batch changed, in its transaction.
    pub(super) fn write(self, tx: &Transaction<'_>, edge_id: &str) -> Result<(), StoreError> {
        // The same sums by the hour (`2026-12-06T08:` of the minute's prefix).
        let mut hours: BTreeMap<CountKey<'_>, Sums> = BTreeMap::new();
        for ((station, minute, work_order, operation), (good, scrap, reports)) in &self.counts {
            let hour = minute.get(..14).unwrap_or(minute);
            let sum = hours
                .entry((station, hour, work_order, *operation))
                .or_insert((0, 0, 0));
            sum.0 = sum.0.saturating_add(*good);
            sum.1 = sum.1.saturating_add(*scrap);
            sum.2 = sum.2.saturating_add(*reports);
        }
        for (table, column, sums, text) in [
            (
                "floor_counts",
                "minute",
                &self.counts,
                minute_text as fn(&str) -> String,
            ),
            ("floor_counts_hour", "hour", &hours, hour_text),
        ] {
            let mut values: Vec<Value<'_>> = Vec::with_capacity(sums.len() * 8);
            for ((station, at, work_order, operation), (good, scrap, reports)) in sums {
                values.extend([
                    Value::from(edge_id),
                    Value::from(*station),
                    Value::from(text(at)),
                    Value::from(*work_order),
                    Value::from(*operation),
                    Value::from(*good),
                    Value::from(*scrap),
                    Value::from(*reports),
                ]);
            }
            tx.execute_rows(&values, 8, |rows| {
                format!(
                    "INSERT INTO {table} AS c
                         (edge_id, station, {column}, work_order, operation, good, scrap, reports)
                     VALUES {rows}
                     ON CONFLICT (edge_id, station, {column}, work_order, operation) DO UPDATE SET
                         good = CASE WHEN c.good > {MAX_SUM} - excluded.good THEN {MAX_SUM}
                                     ELSE c.good + excluded.good END,
                         scrap = CASE WHEN c.scrap > {MAX_SUM} - excluded.scrap THEN {MAX_SUM}
                                      ELSE c.scrap + excluded.scrap END,
                         reports = CASE WHEN c.reports > {MAX_SUM} - excluded.reports
                                        THEN {MAX_SUM} ELSE c.reports + excluded.reports END"
                )
            })?;
        }
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.spans.len() * 7);
        for span in &self.spans {
            values.extend([
                Value::from(edge_id),
                Value::from(span.station.as_str()),
                Value::from(span.seq),
                Value::from(span.from.as_str()),
                Value::from(span.to.as_str()),
                Value::from(span.state.as_str()),
                Value::from(span.reason.as_deref()),
            ]);
        }
        // A span is closed once: its starting event is stored once. `DO NOTHING` keeps a
        // replay (the rebuild over rows an upgrade already made) harmless.
        tx.execute_rows(&values, 7, |rows| {
            format!(
                "INSERT INTO floor_spans (edge_id, station, seq, from_at, to_at, state, reason)
                 VALUES {rows}
                 ON CONFLICT (edge_id, station, from_at, seq) DO NOTHING"
            )
        })?;
        let now = self.now.unwrap_or_default();
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.changed.len() * 8);
        for station in &self.changed {
            let Some(row) = now.get(station) else {
                continue;
            };
            values.extend([
                Value::from(edge_id),
                Value::from(station.as_str()),
                Value::from(row.state.as_deref()),
                Value::from(row.reason.as_deref()),
                Value::from(row.since.as_deref()),
                Value::from(row.seq),
                Value::from(row.operator.as_deref()),
                Value::from(row.operator_at.as_deref()),
            ]);
        }
        tx.execute_rows(&values, 8, |rows| {
            format!(
                "INSERT INTO floor_state AS s
                     (edge_id, station, state, reason, since, seq, operator, operator_at)
                 VALUES {rows}
                 ON CONFLICT (edge_id, station) DO UPDATE SET
                     state = excluded.state, reason = excluded.reason, since = excluded.since,
                     seq = excluded.seq, operator = excluded.operator,
                     operator_at = excluded.operator_at"
            )
        })?;
        Ok(())
    }
}

/// A batch of `edge_id` changed its floor from `since` on (`None`: from any time), in the
/// batch's transaction, after the edge's row was touched (which on PostgreSQL holds the row
/// a report's [`claim_runs`] locks): when that reaches runs that are kept or being worked
/// out, those runs are dropped and the edge's late count goes up, so that a report that read
/// the history before this batch keeps nothing ([`keep_runs`]). A batch of the present,
/// later than every kept run, costs one read of the guard's row.
pub(super) fn forget_late(
    tx: &Transaction<'_>,
    edge_id: &str,
    since: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let lock = match tx.dialect() {
        super::db::Dialect::Sqlite => "",
        super::db::Dialect::Postgres => " FOR UPDATE",
    };
    let kept: Option<String> = tx
        .prepare_cached(&format!(
            "SELECT kept_end FROM floor_run_guard WHERE edge_id = ?1{lock}"
        ))?
        .query_row(params![edge_id], |r| r.get(0))
        .optional()?;
    let Some(kept) = kept else {
        return Ok(());
    };
    let since = since.map(super::ts);
    if since.as_deref().is_some_and(|s| s >= kept.as_str()) {
        return Ok(());
    }
    tx.prepare_cached("UPDATE floor_run_guard SET late_gen = late_gen + 1 WHERE edge_id = ?1")?
        .execute(params![edge_id])?;
    tx.prepare_cached("DELETE FROM floor_run_figures WHERE edge_id = ?1 AND run_end > ?2")?
        .execute(params![edge_id, since.unwrap_or_default()])?;
    Ok(())
}

/// Drops every kept run, and makes every report under way keep nothing: a rebuild, or an
/// ideal cycle time changed (it is in the figures of the runs the operation made).
pub(super) fn forget_all(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM floor_run_figures; UPDATE floor_run_guard SET late_gen = late_gen + 1;",
    )?;
    Ok(())
}

/// The figures of ended runs kept at most per station and context: a station with three
/// shifts a day for the longest period a report covers, twice.
const MAX_KEPT_RUNS_READ: i64 = 4 * 400 * 3;

fn kept_runs(
    conn: &Connection,
    edge_id: &str,
    station: &str,
    context: &str,
    from: &str,
    to: &str,
) -> Result<Vec<KeptRun>, StoreError> {
    let rows: Vec<(String, String, String)> = conn
        .prepare_cached(
            "SELECT run_start, run_end, figures FROM floor_run_figures
             WHERE edge_id = ?1 AND station = ?2 AND context = ?3
               AND run_start >= ?4 AND run_start < ?5 AND run_end <= ?5
             ORDER BY run_start LIMIT ?6",
        )?
        .query_map(
            params![edge_id, station, context, from, to, MAX_KEPT_RUNS_READ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut runs = Vec::with_capacity(rows.len());
    for (start, end, figures) in rows {
        // A row that does not read (written by another version) is worked out again.
        let Ok(figures) = serde_json::from_str(&figures) else {
            continue;
        };
        runs.push(KeptRun {
            station: station.to_owned(),
            start: utc(&start)?,
            end: utc(&end)?,
            figures,
        });
    }
    Ok(runs)
}

/// Before reading the histories of `edges` to keep runs that end by `end`: each edge's guard
/// row says runs up to `end` are kept, so that a batch reaching them from now on counts as
/// late. Returns each edge's late count, to hand back to [`keep_runs`].
fn claim_runs(
    conn: &mut Connection,
    edges: &[String],
    end: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
    let mut tickets = Vec::with_capacity(edges.len());
    for edge_id in edges {
        if tx.dialect() == super::db::Dialect::Postgres {
            // A batch of the edge being applied holds this row until it commits: the history
            // read after this claim holds it, and a batch after it sees the claim.
            tx.prepare_cached("SELECT 1 FROM edges WHERE edge_id = ?1 FOR UPDATE")?
                .query_map(params![edge_id], |_| Ok(()))?
                .collect::<Result<Vec<()>, _>>()?;
        }
        tx.prepare_cached(
            "INSERT INTO floor_run_guard AS g (edge_id, kept_end, late_gen) VALUES (?1, ?2, 0)
             ON CONFLICT (edge_id) DO UPDATE SET kept_end =
                 CASE WHEN g.kept_end < excluded.kept_end THEN excluded.kept_end
                      ELSE g.kept_end END",
        )?
        .execute(params![edge_id, end])?;
        let late: i64 = tx
            .prepare_cached("SELECT late_gen FROM floor_run_guard WHERE edge_id = ?1")?
            .query_row(params![edge_id], |r| r.get(0))?;
        tickets.push((edge_id.clone(), late));
    }
    tx.commit()?;
    Ok(tickets)
}

/// Keeps the runs worked out for each edge whose late count is still its ticket's; returns
/// how many were kept.
fn keep_runs(
    conn: &mut Connection,
    runs: Vec<(String, i64, String, Vec<KeptRun>)>,
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
    let share = match tx.dialect() {
        super::db::Dialect::Sqlite => "",
        super::db::Dialect::Postgres => " FOR SHARE",
    };
    let mut kept = 0;
    for (edge_id, ticket, context, runs) in &runs {
        let late: Option<i64> = tx
            .prepare_cached(&format!(
                "SELECT late_gen FROM floor_run_guard WHERE edge_id = ?1{share}"
            ))?
            .query_row(params![edge_id], |r| r.get(0))
            .optional()?;
        if late != Some(*ticket) {
            continue;
        }
        let texts: Vec<(String, String, String)> = runs
            .iter()
            .map(|r| {
                Ok((
                    super::ts(r.start),
                    super::ts(r.end),
                    serde_json::to_string(&r.figures)
                        .map_err(|e| StoreError::Corrupt(format!("figures: {e}")))?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut values: Vec<Value<'_>> = Vec::with_capacity(runs.len() * 6);
        for (run, (start, end, figures)) in runs.iter().zip(&texts) {
            values.extend([
                Value::from(edge_id.as_str()),
                Value::from(run.station.as_str()),
                Value::from(context.as_str()),
                Value::from(start.as_str()),
                Value::from(end.as_str()),
                Value::from(figures.as_str()),
            ]);
        }
        kept += tx.execute_rows(&values, 6, |rows| {
            format!(
                "INSERT INTO floor_run_figures
                     (edge_id, station, context, run_start, run_end, figures)
                 VALUES {rows}
                 ON CONFLICT (edge_id, station, context, run_start, run_end)
                 DO UPDATE SET figures = excluded.figures"
            )
        })?;
    }
    tx.commit()?;
    Ok(kept)
}

/// How many events a rebuild reads at a time.
const REBUILD_CHUNK: i64 = 5_000;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    pub events: u64,
    pub stations: u64,
    pub spans: u64,
    pub count_rows: u64,
}

/// Empties the floor's projections and replays every stored event that is not in quarantine
/// through [`FloorBatch`], edge by edge in seq order, in one transaction: what ingest would
/// have made had the projections always been there.
pub(super) fn rebuild(conn: &mut Connection) -> Result<Rebuilt, StoreError> {
    let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
    let done = rebuild_in(&tx)?;
    tx.commit()?;
    Ok(done)
}

/// [`rebuild`] inside a transaction of the caller's (PostgreSQL's migration).
pub(super) fn rebuild_in(tx: &Transaction<'_>) -> Result<Rebuilt, StoreError> {
    tx.execute_batch(
        "DELETE FROM floor_state; DELETE FROM floor_spans; DELETE FROM floor_counts;
         DELETE FROM floor_counts_hour;",
    )?;
    forget_all(tx)?;
    let edges: Vec<String> = {
        let mut stmt = tx.prepare("SELECT edge_id FROM edges ORDER BY edge_id")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut done = Rebuilt::default();
    for edge in edges {
        let mut after = 0_i64;
        loop {
            // Written a chunk at a time, so memory holds one chunk's counts, not an edge's.
            let mut batch = FloorBatch::default();
            let rows: Vec<(i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT e.seq, e.body FROM events e
                     WHERE e.edge_id = ?1 AND e.seq > ?2
                       AND e.kind IN ('machine_state_changed', 'production_reported',
                                      'operator_signed_in', 'operator_signed_out',
                                      'stop_reason_given')
                       AND NOT EXISTS (SELECT 1 FROM quarantine q
                                       WHERE q.edge_id = e.edge_id AND q.seq = e.seq)
                     ORDER BY e.seq LIMIT ?3",
                )?;
                stmt.query_map(params![edge.as_str(), after, REBUILD_CHUNK], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?
            };
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            after = last;
            // Stored events were read at ingest; one that no longer reads would have been
            // quarantined, and is left out here as there.
            let facts: Vec<(i64, String, FloorFact)> = rows
                .into_iter()
                .filter_map(|(seq, body)| {
                    let event = serde_json::from_str::<protocol::Event>(&body).ok()?;
                    Some((seq, super::ts(event.at), FloorFact::of(&event)?))
                })
                .collect();
            for (seq, at, fact) in &facts {
                batch.apply(tx, &edge, *seq, at, fact)?;
                done.events += 1;
            }
            batch.write(tx, &edge)?;
        }
    }
    let count = |sql: &str| -> Result<u64, StoreError> {
        let n: i64 = tx.query_row(sql, [], |r| r.get(0))?;
        Ok(super::to_u64(n))
    };
    done.stations = count("SELECT COUNT(*) FROM floor_state")?;
    done.spans = count("SELECT COUNT(*) FROM floor_spans")?;
    done.count_rows = count("SELECT COUNT(*) FROM floor_counts")?;
    Ok(done)
}

fn utc(text: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    super::parse_ts(text)
}

fn count_u64(n: i64) -> u64 {
    super::to_u64(n)
}

/// Every station known, placed on its plant and line, with what runs there and its edge's
/// health.
fn floor_stations(conn: &Connection) -> Result<Vec<FloorStation>, StoreError> {
    use crate::people::plants::DEFAULT_PLANT;
    // (edge, station) → (work center, line, plant) of a work center on a line of the edge.
    let mut placed: BTreeMap<(String, String), (String, String, String)> = BTreeMap::new();
    // edge → (first line, its plant).
    let mut edge_line: BTreeMap<String, (String, String)> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT l.edge_id, l.line, l.plant, w.work_center, w.station
             FROM mes_lines l LEFT JOIN mes_work_centers w ON w.line = l.line
             WHERE l.edge_id IS NOT NULL ORDER BY l.line, w.work_center",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (edge, line, plant, work_center, station) = row?;
            edge_line
                .entry(edge.clone())
                .or_insert_with(|| (line.clone(), plant.clone()));
            if let (Some(wc), Some(station)) = (work_center, station) {
                placed.entry((edge, station)).or_insert((wc, line, plant));
            }
        }
    }
    let mut stations: BTreeMap<(String, String), FloorStation> = BTreeMap::new();
    let blank = |edge: &str, station: &str| FloorStation {
        plant: DEFAULT_PLANT.to_owned(),
        line: None,
        work_center: None,
        edge_id: edge.to_owned(),
        station: station.to_owned(),
        state: None,
        reason: None,
        since: None,
        operator: None,
        work_order: None,
        operation: None,
        good: 0,
        scrap: 0,
        order_qty: None,
        item: None,
        last_contact: None,
        backlog: None,
        plan_version_applied: 0,
    };
    for (edge, station) in placed.keys() {
        stations.insert((edge.clone(), station.clone()), blank(edge, station));
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT edge_id, station, state, reason, since, operator FROM floor_state",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        for row in rows {
            let (edge, station, state, reason, since, operator) = row?;
            let s = stations
                .entry((edge.clone(), station.clone()))
                .or_insert_with(|| blank(&edge, &station));
            s.state = state.as_deref().map(parse_state).transpose()?;
            s.reason = reason;
            s.since = since.as_deref().map(utc).transpose()?;
            s.operator = operator;
        }
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT s.edge_id, s.station, s.work_order, s.operation, s.good, s.scrap, o.qty, o.item
             FROM edge_stations s LEFT JOIN wo_orders o ON o.work_order = s.work_order",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        for row in rows {
            let (edge, station, wo, op, good, scrap, qty, item) = row?;
            if let Some(s) = stations.get_mut(&(edge, station)) {
                s.work_order = wo;
                s.operation = op.and_then(|n| u32::try_from(n).ok());
                s.good = count_u64(good);
                s.scrap = count_u64(scrap);
                s.order_qty = qty;
                s.item = item;
            }
        }
    }
    let mut health: BTreeMap<String, (Option<String>, Option<i64>, i64)> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT edge_id, last_contact, reported_backlog, plan_version_applied FROM edges",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        for row in rows {
            let (edge, h) = row?;
            health.insert(edge, h);
        }
    }
    let mut out = Vec::with_capacity(stations.len());
    for ((edge, station), mut s) in stations {
        if let Some((wc, line, plant)) = placed.get(&(edge.clone(), station.clone())) {
            s.work_center = Some(wc.clone());
            s.line = Some(line.clone());
            s.plant.clone_from(plant);
        } else if let Some((line, plant)) = edge_line.get(&edge) {
            s.line = Some(line.clone());
            s.plant.clone_from(plant);
        }
        if let Some((contact, backlog, plan)) = health.get(&edge) {
            s.last_contact = contact.as_deref().map(utc).transpose()?;
            s.backlog = backlog.map(count_u64);
            s.plan_version_applied = count_u64(*plan);
        }
        out.push(s);
    }
    Ok(out)
}

/// A station's spans that overlap `[from, to)`, the state it is in now last; `down_only`:
/// its stops alone.
fn station_spans(
    conn: &Connection,
    edge_id: &str,
    station: &str,
    (from, to): (&str, &str),
    down_only: bool,
) -> Result<Vec<StoredSpan>, StoreError> {
    let mut spans = Vec::new();
    {
        // Spans do not overlap: from the last one that starts at or before `from` (it may
        // reach into the period) to the last one that starts before `to`, all along the
        // primary key; one b-tree a span, nothing else to keep up at ingest.
        let mut stmt = conn.prepare_cached(if down_only {
            "SELECT from_at, to_at, state, reason, seq FROM floor_spans
             WHERE edge_id = ?1 AND station = ?2 AND from_at < ?4
               AND from_at >= COALESCE((SELECT MAX(from_at) FROM floor_spans
                                        WHERE edge_id = ?1 AND station = ?2 AND from_at <= ?3),
                                       ?3)
               AND to_at > ?3 AND state = 'down'
             ORDER BY from_at, seq"
        } else {
            "SELECT from_at, to_at, state, reason, seq FROM floor_spans
             WHERE edge_id = ?1 AND station = ?2 AND from_at < ?4
               AND from_at >= COALESCE((SELECT MAX(from_at) FROM floor_spans
                                        WHERE edge_id = ?1 AND station = ?2 AND from_at <= ?3),
                                       ?3)
               AND to_at > ?3
             ORDER BY from_at, seq"
        })?;
        let rows = stmt.query_map(params![edge_id, station, from, to], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (f, t, state, reason, seq) = row?;
            spans.push(StoredSpan {
                from: utc(&f)?,
                to: Some(utc(&t)?),
                state: parse_state(&state)?,
                reason,
                seq: count_u64(seq),
            });
        }
    }
    type Open = (Option<String>, Option<String>, Option<String>, Option<i64>);
    let open: Option<Open> = conn
        .prepare_cached(
            "SELECT state, reason, since, seq FROM floor_state WHERE edge_id = ?1 AND station = ?2",
        )?
        .query_row(params![edge_id, station], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((Some(state), reason, Some(since), seq)) = open
        && since.as_str() < to
        && (!down_only || state == "down")
    {
        spans.push(StoredSpan {
            from: utc(&since)?,
            to: None,
            state: parse_state(&state)?,
            reason,
            seq: count_u64(seq.unwrap_or_default()),
        });
    }
    Ok(spans)
}

/// Which counts [`read_counts`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grain {
    /// `floor_counts_hour`.
    Hour,
    /// `floor_counts`.
    Minute,
    /// `floor_counts`, the minutes with scrap only.
    ScrapMinutes,
}

/// Counts of a station over `[from, to)` from `floor_counts` (`Grain::Hour`:
/// `floor_counts_hour`, each row at the start of its hour), appended to `out`. A plain range
/// of the primary key; the ideal cycle times of the few operations it names are looked up
/// once each (`ideal`).
fn read_counts(
    conn: &Connection,
    grain: Grain,
    key: (&str, &str),
    from: &str,
    to: &str,
    ideal: &mut BTreeMap<(String, i64), Option<u64>>,
    out: &mut Vec<StoredCount>,
) -> Result<(), StoreError> {
    let (edge_id, station) = key;
    let mut stmt = conn.prepare_cached(match grain {
        Grain::Hour => {
            "SELECT hour, work_order, operation, good, scrap FROM floor_counts_hour
             WHERE edge_id = ?1 AND station = ?2 AND hour >= ?3 AND hour < ?4
             ORDER BY hour, work_order, operation"
        }
        Grain::Minute => {
            "SELECT minute, work_order, operation, good, scrap FROM floor_counts
             WHERE edge_id = ?1 AND station = ?2 AND minute >= ?3 AND minute < ?4
             ORDER BY minute, work_order, operation"
        }
        Grain::ScrapMinutes => {
            "SELECT minute, work_order, operation, good, scrap FROM floor_counts
             WHERE edge_id = ?1 AND station = ?2 AND minute >= ?3 AND minute < ?4 AND scrap > 0
             ORDER BY minute, work_order, operation"
        }
    })?;
    let rows = stmt.query_map(params![edge_id, station, from, to], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut ideal_of = conn.prepare_cached(
        "SELECT COALESCE(o.ideal_cycle_ms, r.ideal_cycle_ms)
         FROM wo_operations o JOIN wo_orders w ON w.work_order = o.work_order
         LEFT JOIN mes_routing_ops r ON r.item = w.item AND r.operation = o.operation
         WHERE o.work_order = ?1 AND o.operation = ?2",
    )?;
    for row in rows {
        let (minute, wo, op, good, scrap) = row?;
        let ideal_cycle_ms = match ideal.get(&(wo.clone(), op)) {
            Some(known) => *known,
            None => {
                let found: Option<Option<i64>> = ideal_of
                    .query_row(params![wo.as_str(), op], |r| r.get(0))
                    .optional()?;
                let ms = found.flatten().map(count_u64);
                ideal.insert((wo.clone(), op), ms);
                ms
            }
        };
        out.push(StoredCount {
            minute: utc(&minute)?,
            work_order: (!wo.is_empty()).then_some(wo),
            operation: u32::try_from(op).ok().filter(|n| *n > 0),
            good: count_u64(good),
            scrap: count_u64(scrap),
            ideal_cycle_ms,
        });
    }
    Ok(())
}

fn station_history(
    conn: &Connection,
    edge_id: &str,
    station: &str,
    from: &str,
    to: &str,
) -> Result<StationHistory, StoreError> {
    let spans = station_spans(conn, edge_id, station, (from, to), false)?;
    let mut counts = Vec::new();
    read_counts(
        conn,
        Grain::Minute,
        (edge_id, station),
        from,
        to,
        &mut BTreeMap::new(),
        &mut counts,
    )?;
    Ok(StationHistory { spans, counts })
}

/// The counts of `[from, to)` by the hour, but by the minute within `fine` (whole hours, in
/// order, not overlapping): where a shift, a break or a planned stop begins or ends inside an
/// hour, the minutes say which side each count is on; elsewhere the hour's sum is the same.
fn station_counts(
    conn: &Connection,
    key: (&str, &str),
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fine: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<StoredCount>, StoreError> {
    // Fine ranges a few hours apart are read as one (their gap by the minute too): a few
    // queries a day instead of two for each range, for a few more rows.
    const GAP: chrono::TimeDelta = chrono::TimeDelta::hours(3);
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &(f0, f1) in fine {
        let (f0, f1) = (f0.clamp(from, to), f1.clamp(from, to));
        if f0 >= f1 {
            continue;
        }
        match merged.last_mut() {
            Some(last) if f0 - last.1 <= GAP => last.1 = last.1.max(f1),
            _ => merged.push((f0, f1)),
        }
    }
    let mut ideal = BTreeMap::new();
    let mut hours = Vec::new();
    let (start, end) = (super::ts(from), super::ts(to));
    read_counts(conn, Grain::Hour, key, &start, &end, &mut ideal, &mut hours)?;
    // An hour inside a fine range is read by the minute instead.
    let mut out: Vec<StoredCount> = hours
        .into_iter()
        .filter(|c| {
            let i = merged.partition_point(|r| r.1 <= c.minute);
            merged.get(i).is_none_or(|r| c.minute < r.0)
        })
        .collect();
    for (f0, f1) in merged {
        let (f0, f1) = (super::ts(f0), super::ts(f1));
        read_counts(conn, Grain::Minute, key, &f0, &f1, &mut ideal, &mut out)?;
    }
    out.sort_by_key(|c| c.minute);
    Ok(out)
}

/// A plant's reasons as every plan of its lines carries them to the terminals.
pub(super) fn plan_reasons(
    conn: &Connection,
    plant: &str,
) -> Result<Vec<protocol::PlanStopReason>, StoreError> {
    Ok(stop_reasons(conn, plant)?
        .into_iter()
        .map(|r| protocol::PlanStopReason {
            code: r.code,
            name: r.name,
            name_zh: r.name_zh,
            category: r.category,
            planned: r.planned,
        })
        .collect())
}

fn stop_reasons(conn: &Connection, plant: &str) -> Result<Vec<StopReason>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT code, name, name_zh, category, planned FROM stop_reasons WHERE plant = ?1
         ORDER BY code",
    )?;
    let rows = stmt.query_map(params![plant], |r| {
        Ok(StopReason {
            code: r.get(0)?,
            name: r.get(1)?,
            name_zh: r.get(2)?,
            category: r.get(3)?,
            planned: r.get::<_, i64>(4)? != 0,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every row of the projections as text, in key order.
fn fingerprint(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for sql in [
        "SELECT edge_id || '|' || station || '|' || COALESCE(state, '-') || '|'
                || COALESCE(reason, '-') || '|' || COALESCE(since, '-') || '|'
                || COALESCE(CAST(seq AS TEXT), '-') || '|' || COALESCE(operator, '-')
         FROM floor_state ORDER BY edge_id, station",
        "SELECT edge_id || '|' || station || '|' || CAST(seq AS TEXT) || '|' || from_at || '|'
                || to_at || '|' || state || '|' || COALESCE(reason, '-')
         FROM floor_spans ORDER BY edge_id, station, from_at, seq",
        "SELECT edge_id || '|' || station || '|' || minute || '|' || work_order || '|'
                || CAST(operation AS TEXT) || '|' || CAST(good AS TEXT) || '|'
                || CAST(scrap AS TEXT) || '|' || CAST(reports AS TEXT)
         FROM floor_counts ORDER BY edge_id, station, minute, work_order, operation",
        "SELECT edge_id || '|' || station || '|' || hour || '|' || work_order || '|'
                || CAST(operation AS TEXT) || '|' || CAST(good AS TEXT) || '|'
                || CAST(scrap AS TEXT) || '|' || CAST(reports AS TEXT)
         FROM floor_counts_hour ORDER BY edge_id, station, hour, work_order, operation",
    ] {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl crate::store::floor::FloorStore for super::SqlStore {
    async fn shift_calendar(&self, plant: String) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(move |conn| {
            let spec: Option<String> = conn
                .prepare_cached("SELECT spec FROM plant_shifts WHERE plant = ?1")?
                .query_row(params![plant], |r| r.get(0))
                .optional()?;
            Ok(spec.map(|s| serde_json::from_str(&s)).transpose()?)
        })
        .await
    }

    async fn put_shift_calendar(
        &self,
        plant: String,
        spec: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO plant_shifts (plant, spec, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (plant) DO UPDATE SET spec = excluded.spec,
                     updated_at = excluded.updated_at",
                params![plant, spec.to_string(), super::ts(chrono::Utc::now())],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn stop_reasons(&self, plant: String) -> Result<Vec<StopReason>, StoreError> {
        self.read(move |conn| stop_reasons(conn, &plant)).await
    }

    async fn put_stop_reasons(
        &self,
        plant: String,
        reasons: Vec<StopReason>,
    ) -> Result<crate::store::work_orders::Changed<Vec<StopReason>>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM stop_reasons WHERE plant = ?1", params![plant])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO stop_reasons (plant, code, name, name_zh, category, planned)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in &reasons {
                insert.execute(params![
                    plant,
                    r.code,
                    r.name,
                    r.name_zh,
                    r.category,
                    i64::from(r.planned)
                ])?;
            }
            drop(insert);
            let stored = stop_reasons(&tx, &plant)?;
            // The list goes down with every plan: the terminals show it.
            let plans = super::operators::republish(&tx)?;
            tx.commit()?;
            Ok(crate::store::work_orders::Changed {
                value: stored,
                plans,
            })
        })
        .await
    }

    async fn floor_stations(&self) -> Result<Vec<FloorStation>, StoreError> {
        self.read(|conn| floor_stations(conn)).await
    }

    async fn station_history(
        &self,
        edge_id: String,
        station: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<StationHistory, StoreError> {
        self.read(move |conn| {
            station_history(conn, &edge_id, &station, &super::ts(from), &super::ts(to))
        })
        .await
    }

    async fn station_first_state(
        &self,
        edge_id: String,
        station: String,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.read(move |conn| {
            // The primary key's order: the first row is the first span.
            let first: Option<String> = conn
                .prepare_cached(
                    "SELECT from_at FROM floor_spans WHERE edge_id = ?1 AND station = ?2
                     ORDER BY from_at LIMIT 1",
                )?
                .query_row(params![edge_id, station], |r| r.get(0))
                .optional()?;
            let first = match first {
                Some(at) => Some(at),
                None => conn
                    .prepare_cached(
                        "SELECT since FROM floor_state WHERE edge_id = ?1 AND station = ?2",
                    )?
                    .query_row(params![edge_id, station], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten(),
            };
            first.as_deref().map(utc).transpose()
        })
        .await
    }

    async fn station_spans(
        &self,
        edge_id: String,
        station: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredSpan>, StoreError> {
        self.read(move |conn| {
            let period = (super::ts(from), super::ts(to));
            station_spans(conn, &edge_id, &station, (&period.0, &period.1), false)
        })
        .await
    }

    async fn station_stops(
        &self,
        edge_id: String,
        station: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredSpan>, StoreError> {
        self.read(move |conn| {
            let period = (super::ts(from), super::ts(to));
            station_spans(conn, &edge_id, &station, (&period.0, &period.1), true)
        })
        .await
    }

    async fn station_counts(
        &self,
        edge_id: String,
        station: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        fine: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<Vec<StoredCount>, StoreError> {
        self.read(move |conn| station_counts(conn, (&edge_id, &station), from, to, &fine))
            .await
    }

    async fn station_scrap(
        &self,
        edge_id: String,
        station: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredCount>, StoreError> {
        self.read(move |conn| {
            let mut out = Vec::new();
            read_counts(
                conn,
                Grain::ScrapMinutes,
                (&edge_id, &station),
                &super::ts(from),
                &super::ts(to),
                &mut BTreeMap::new(),
                &mut out,
            )?;
            Ok(out)
        })
        .await
    }

    async fn rebuild_floor(&self) -> Result<Rebuilt, StoreError> {
        self.write(rebuild).await
    }

    async fn kept_runs(
        &self,
        edge_id: String,
        station: String,
        context: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<KeptRun>, StoreError> {
        self.read(move |conn| {
            kept_runs(
                conn,
                &edge_id,
                &station,
                &context,
                &super::ts(from),
                &super::ts(to),
            )
        })
        .await
    }

    async fn claim_runs(
        &self,
        edges: Vec<String>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.write_cache(move |conn| claim_runs(conn, &edges, &super::ts(end)))
            .await
    }

    async fn keep_runs(
        &self,
        runs: Vec<(String, i64, String, Vec<KeptRun>)>,
    ) -> Result<usize, StoreError> {
        if runs.iter().all(|(_, _, _, r)| r.is_empty()) {
            return Ok(0);
        }
        self.write_cache(move |conn| keep_runs(conn, runs)).await
    }

    async fn forget_kept_runs(&self) -> Result<(), StoreError> {
        self.write_cache(|conn| forget_all(conn)).await
    }

    async fn floor_fingerprint(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| fingerprint(conn)).await
    }
}
