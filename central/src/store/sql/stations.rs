//! What runs on each edge's stations, as the edge's last status said ([`protocol::StationRun`]):
//! one row per station in `edge_stations`, and when that status came in
//! (`edge_stations_reported`). Each status replaces the edge's rows in the transaction that
//! records it ([`replace`]), so central shows the latest fact the edge reported, never a mix.

use super::db::{Connection, OptionalExtension, Transaction, Value, params};
use super::{StoreError, parse_ts, to_i64, to_u64, ts};
use crate::store::{OrderStation, ReportedStations, Unassigned};
use chrono::{DateTime, Utc};
use protocol::{EdgeId, RunBy, StationRun};
use std::collections::BTreeMap;

/// Columns added to tables older versions made (issue 15): when the oldest event an edge has
/// not had acknowledged was committed, on central's clock, as its last status said
/// ([`crate::store::oldest_unsent_at`]); NULL when nothing is unsent or the agent is older.
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "edges", "oldest_unsent_at")? {
        conn.execute_batch(&format!(
            "ALTER TABLE edges ADD COLUMN oldest_unsent_at {}",
            super::stock::text_type(conn)
        ))?;
    }
    Ok(())
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS edge_stations_reported (
    edge_id     TEXT PRIMARY KEY,
    reported_at TEXT NOT NULL,
    edge_clock  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS edge_stations (
    edge_id          TEXT NOT NULL,
    station          TEXT NOT NULL,
    work_order       TEXT,
    operation        INTEGER,
    run_by           TEXT,
    good             INTEGER NOT NULL,
    scrap            INTEGER NOT NULL,
    over_production  INTEGER NOT NULL,
    counting         INTEGER NOT NULL,
    unassigned_good  INTEGER NOT NULL,
    unassigned_scrap INTEGER NOT NULL,
    PRIMARY KEY (edge_id, station)
);
CREATE INDEX IF NOT EXISTS edge_stations_work_order ON edge_stations (work_order);
CREATE TABLE IF NOT EXISTS unassigned_counts (
    edge_id TEXT NOT NULL,
    station TEXT NOT NULL,
    good    INTEGER NOT NULL,
    scrap   INTEGER NOT NULL,
    reports INTEGER NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (edge_id, station)
);
";

/// The most a sum of counts holds; sums saturate there (a billion parts a report would need
/// nine billion reports to get near it).
const MAX_SUM: i64 = i64::MAX;

/// The production reports of a batch that name no work order, summed per station
/// (`station` empty: the report named no station): `(good, scrap, reports, latest at)`.
/// Sums saturate at [`MAX_SUM`] (`i64::MAX`) here and again when added to the stored
/// ones, which is what adding each report in turn would give.
#[derive(Default)]
pub(super) struct UnassignedSums(BTreeMap<String, (i64, i64, i64, String)>);

impl UnassignedSums {
    pub(super) fn add(
        &mut self,
        station: &str,
        good: u64,
        scrap: u64,
        at: &str,
    ) -> Result<(), StoreError> {
        let (good, scrap) = (to_i64(good)?, to_i64(scrap)?);
        let sum = self
            .0
            .entry(station.to_owned())
            .or_insert_with(|| (0, 0, 0, at.to_owned()));
        sum.0 = sum.0.saturating_add(good);
        sum.1 = sum.1.saturating_add(scrap);
        sum.2 += 1;
        if at > sum.3.as_str() {
            at.clone_into(&mut sum.3);
        }
        Ok(())
    }

    /// Books the sums to the stations' unassigned counts, in ingest's transaction.
    pub(super) fn write(self, tx: &Transaction<'_>, edge_id: &str) -> Result<(), StoreError> {
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.0.len() * 6);
        for (station, (good, scrap, reports, at)) in self.0 {
            values.extend([
                Value::from(edge_id),
                Value::from(station),
                Value::from(good),
                Value::from(scrap),
                Value::from(reports),
                Value::from(at),
            ]);
        }
        tx.execute_rows(&values, 6, |rows| {
            format!(
                "INSERT INTO unassigned_counts AS u (edge_id, station, good, scrap, reports, last_at)
                 VALUES {rows}
                 ON CONFLICT (edge_id, station) DO UPDATE SET
                     good = CASE WHEN u.good > {MAX_SUM} - excluded.good THEN {MAX_SUM}
                                 ELSE u.good + excluded.good END,
                     scrap = CASE WHEN u.scrap > {MAX_SUM} - excluded.scrap THEN {MAX_SUM}
                                  ELSE u.scrap + excluded.scrap END,
                     reports = u.reports + excluded.reports,
                     last_at = CASE WHEN excluded.last_at > u.last_at THEN excluded.last_at
                                    ELSE u.last_at END"
            )
        })?;
        Ok(())
    }
}

/// The upgrade to schema 6: unassigned counts summed from the production reports already
/// stored that name no work order (quarantined events left out, as ingest leaves them).
/// `TOTAL` and the cast saturate where `SUM` would fail the open with an overflow; sums of
/// counts below 2^53 (each at most a billion) are exact.
pub(super) fn backfill_unassigned(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "DELETE FROM unassigned_counts;
         INSERT INTO unassigned_counts (edge_id, station, good, scrap, reports, last_at)
         SELECT e.edge_id, COALESCE(json_extract(e.body, '$.source.station'), ''),
                CAST(TOTAL(json_extract(e.body, '$.kind.good')) AS INTEGER),
                CAST(TOTAL(json_extract(e.body, '$.kind.scrap')) AS INTEGER),
                COUNT(*), MAX(e.at)
         FROM events e
         WHERE e.kind = 'production_reported'
           AND json_extract(e.body, '$.kind.work_order') IS NULL
           AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.edge_id = e.edge_id AND q.seq = e.seq)
         GROUP BY 1, 2;",
    )?;
    tx.commit()?;
    Ok(())
}

/// Unassigned counts per edge and station, of one edge or all, at most `limit` rows.
pub(super) fn unassigned(
    conn: &Connection,
    edge_id: Option<&EdgeId>,
    limit: usize,
) -> Result<Vec<Unassigned>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT edge_id, station, good, scrap, reports, last_at FROM unassigned_counts
         WHERE CAST(?1 AS TEXT) IS NULL OR edge_id = ?1 ORDER BY edge_id, station LIMIT ?2",
    )?;
    let limit = to_i64(limit as u64)?;
    stmt.query_map(params![edge_id.map(EdgeId::as_str), limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?
    .map(|row| {
        let (edge_id, station, good, scrap, reports, last_at) = row?;
        Ok(Unassigned {
            edge_id,
            station: (!station.is_empty()).then_some(station),
            good: to_u64(good),
            scrap: to_u64(scrap),
            reports: to_u64(reports),
            last_at: parse_ts(&last_at)?,
        })
    })
    .collect()
}

fn run_by_name(by: RunBy) -> &'static str {
    match by {
        RunBy::Scan => "scan",
        RunBy::Plan => "plan",
    }
}

fn run_by(name: Option<String>) -> Result<Option<RunBy>, StoreError> {
    match name.as_deref() {
        None => Ok(None),
        Some("scan") => Ok(Some(RunBy::Scan)),
        Some("plan") => Ok(Some(RunBy::Plan)),
        Some(other) => Err(StoreError::Corrupt(format!(
            "edge_stations.run_by {other:?}: expected scan or plan"
        ))),
    }
}

/// Replaces what the edge's stations run with `stations` (station ids unique: the API checks).
pub(super) fn replace(
    tx: &Transaction<'_>,
    edge_id: &str,
    stations: &[StationRun],
    reported_at: DateTime<Utc>,
    edge_clock: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO edge_stations_reported (edge_id, reported_at, edge_clock) VALUES (?1, ?2, ?3)
         ON CONFLICT (edge_id) DO UPDATE SET reported_at = excluded.reported_at,
             edge_clock = excluded.edge_clock",
    )?
    .execute(params![edge_id, ts(reported_at), ts(edge_clock)])?;
    tx.prepare_cached("DELETE FROM edge_stations WHERE edge_id = ?1")?
        .execute(params![edge_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO edge_stations (edge_id, station, work_order, operation, run_by, good, scrap,
             over_production, counting, unassigned_good, unassigned_scrap)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for s in stations {
        insert.execute(params![
            edge_id,
            s.station.as_str(),
            s.work_order.as_ref().map(|w| w.as_str()),
            s.operation,
            s.by.map(run_by_name),
            to_i64(s.good)?,
            to_i64(s.scrap)?,
            s.over_production,
            s.counting,
            to_i64(s.unassigned_good)?,
            to_i64(s.unassigned_scrap)?,
        ])?;
    }
    Ok(())
}

const COLUMNS: &str = "s.edge_id, s.station, s.work_order, s.operation, s.run_by, s.good, s.scrap,
    s.over_production, s.counting, s.unassigned_good, s.unassigned_scrap, r.reported_at,
    r.edge_clock";

/// One row of `edge_stations` joined with its status's times.
struct Row {
    edge_id: String,
    run: StationRun,
    reported_at: String,
    edge_clock: String,
}

/// Reads a row selected with [`COLUMNS`]; `run_by` is checked by [`to_row`].
fn read_row(r: &super::db::Row<'_>) -> super::db::Result<(Row, Option<String>)> {
    Ok((
        Row {
            edge_id: r.get(0)?,
            run: StationRun {
                station: r.get::<_, String>(1)?.into(),
                work_order: r.get::<_, Option<String>>(2)?.map(Into::into),
                operation: r.get(3)?,
                by: None,
                good: to_u64(r.get(5)?),
                scrap: to_u64(r.get(6)?),
                over_production: r.get(7)?,
                counting: r.get(8)?,
                unassigned_good: to_u64(r.get(9)?),
                unassigned_scrap: to_u64(r.get(10)?),
            },
            reported_at: r.get(11)?,
            edge_clock: r.get(12)?,
        },
        r.get(4)?,
    ))
}

fn to_row((mut row, by): (Row, Option<String>)) -> Result<Row, StoreError> {
    row.run.by = run_by(by)?;
    Ok(row)
}

/// Every edge's stations, by edge, as their last status said.
pub(super) fn all(conn: &Connection) -> Result<BTreeMap<String, ReportedStations>, StoreError> {
    let mut by_edge = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT edge_id, reported_at, edge_clock FROM edge_stations_reported",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (edge_id, reported_at, edge_clock) = row?;
            by_edge.insert(
                edge_id,
                ReportedStations {
                    reported_at: parse_ts(&reported_at)?,
                    edge_clock: parse_ts(&edge_clock)?,
                    stations: Vec::new(),
                },
            );
        }
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM edge_stations s
         JOIN edge_stations_reported r ON r.edge_id = s.edge_id
         ORDER BY s.edge_id, s.station"
    ))?;
    let rows = stmt.query_map([], read_row)?;
    for row in rows {
        let row = to_row(row?)?;
        if let Some(reported) = by_edge.get_mut(&row.edge_id) {
            reported.stations.push(row.run);
        }
    }
    Ok(by_edge)
}

/// One edge's stations as its last status said; `None` if it sent none since central kept
/// them.
pub(super) fn of_edge(
    conn: &Connection,
    edge_id: &EdgeId,
) -> Result<Option<ReportedStations>, StoreError> {
    let reported: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT reported_at, edge_clock FROM edge_stations_reported WHERE edge_id = ?1",
        )?
        .query_row(params![edge_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((reported_at, edge_clock)) = reported else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM edge_stations s
         JOIN edge_stations_reported r ON r.edge_id = s.edge_id
         WHERE s.edge_id = ?1 ORDER BY s.station"
    ))?;
    let stations = stmt
        .query_map(params![edge_id.as_str()], read_row)?
        .map(|row| Ok(to_row(row?)?.run))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ReportedStations {
        reported_at: parse_ts(&reported_at)?,
        edge_clock: parse_ts(&edge_clock)?,
        stations,
    }))
}

/// The stations that run `work_order` right now, per their edges' last status.
pub(super) fn of_order(
    conn: &Connection,
    work_order: &str,
) -> Result<Vec<OrderStation>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM edge_stations s
         JOIN edge_stations_reported r ON r.edge_id = s.edge_id
         WHERE s.work_order = ?1 ORDER BY s.edge_id, s.station"
    ))?;
    stmt.query_map(params![work_order], read_row)?
        .map(|row| {
            let Row {
                edge_id,
                run,
                reported_at,
                edge_clock,
            } = to_row(row?)?;
            Ok(OrderStation {
                edge_id,
                station: run.station.as_str().to_owned(),
                operation: run.operation,
                by: run.by,
                good: run.good,
                scrap: run.scrap,
                over_production: run.over_production,
                counting: run.counting,
                reported_at: parse_ts(&reported_at)?,
                edge_clock: parse_ts(&edge_clock)?,
            })
        })
        .collect()
}
