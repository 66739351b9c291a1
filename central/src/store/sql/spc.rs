//! SPC (schema 10): characteristics, their points and alarms, kept by ingest in its
//! transaction.
//!
//! - `spc_characteristics`: one row per `(plant, item, operation, name)` (`''` and `0` for
//!   every plant and any operation): the specification, the subgroup size and baseline, the
//!   frozen control limits (JSON of [`Limits`]) once `baseline` points were made after
//!   `base_from`, and the values of the subgroup being filled (`pending`, JSON).
//! - `spc_points`: each subgroup (or individual) in the order its last value arrived, with
//!   its values, the measurement events' seqs, where it was made and the rules it violated.
//! - `spc_alarms`: one per rule violated at a point, open until acknowledged.
//!
//! A measurement is charted by the characteristic its name and the item of its work order
//! name (the event's `work_order`, else what the station runs as its edge's last status
//! said), the plant's before an every-plant one, the operation's before an any-operation one;
//! one that matches none is left to the events. Only newly stored events come here, so a
//! replayed batch changes nothing. The projection is not rebuilt from the events: which order
//! a station ran when a measurement named none is the edge's status of that time, not kept.

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use super::{StoreError, parse_ts, to_i64, to_u64, ts};
use crate::mes::spc::{self, Limits};
use crate::store::spc::{CharacteristicSpec, SpcAlarm, SpcCharacteristic, SpcPoint};
use protocol::EventKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Columns added to tables older versions made (issue 15): when a characteristic was retired
/// and by whom ([`crate::store::SpcStore::retire_spc`]).
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    for column in ["retired_at", "retired_by"] {
        if !super::stock::has_column(conn, "spc_characteristics", column)? {
            conn.execute_batch(&format!(
                "ALTER TABLE spc_characteristics ADD COLUMN {column} {}",
                super::stock::text_type(conn)
            ))?;
        }
    }
    Ok(())
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spc_characteristics (
    id            INTEGER PRIMARY KEY,
    plant         TEXT NOT NULL,
    item          TEXT NOT NULL,
    operation     INTEGER NOT NULL,
    name          TEXT NOT NULL,
    unit          TEXT NOT NULL,
    target        REAL,
    lsl           REAL,
    usl           REAL,
    subgroup_size INTEGER NOT NULL,
    baseline      INTEGER NOT NULL,
    base_from     INTEGER NOT NULL,
    n_points      INTEGER NOT NULL,
    pending       TEXT NOT NULL,
    limits        TEXT,
    frozen_at     TEXT,
    updated_at    TEXT NOT NULL,
    UNIQUE (plant, item, operation, name)
);
CREATE INDEX IF NOT EXISTS spc_characteristics_name ON spc_characteristics (name);
CREATE TABLE IF NOT EXISTS spc_points (
    characteristic INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    at             TEXT NOT NULL,
    edge_id        TEXT NOT NULL,
    station        TEXT NOT NULL,
    work_order     TEXT,
    seqs           TEXT NOT NULL,
    vals           TEXT NOT NULL,
    value          REAL NOT NULL,
    spread         REAL,
    baseline       INTEGER NOT NULL,
    rules          TEXT NOT NULL,
    PRIMARY KEY (characteristic, n)
);
CREATE TABLE IF NOT EXISTS spc_alarms (
    id             INTEGER PRIMARY KEY,
    characteristic INTEGER NOT NULL,
    plant          TEXT NOT NULL,
    edge_id        TEXT NOT NULL,
    station        TEXT NOT NULL,
    point          INTEGER NOT NULL,
    rule           INTEGER NOT NULL,
    at             TEXT NOT NULL,
    raised_at      TEXT NOT NULL,
    acked_at       TEXT,
    acked_by       TEXT
);
CREATE INDEX IF NOT EXISTS spc_alarms_open ON spc_alarms (acked_at, id);
";

/// Rules 1-4 need at most the last 14 points; the tail kept per characteristic.
const TAIL: usize = 15;

/// A measurement, as SPC reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SpcFact {
    station: String,
    name: String,
    value: f64,
    work_order: Option<String>,
}

impl SpcFact {
    pub(super) fn of(event: &protocol::Event) -> Option<SpcFact> {
        match &event.kind {
            EventKind::Measurement {
                characteristic,
                value,
                work_order,
                ..
            } if value.is_finite() => Some(SpcFact {
                station: event
                    .source
                    .station
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                name: characteristic.clone(),
                value: *value,
                work_order: work_order.as_ref().map(|w| w.as_str().to_owned()),
            }),
            _ => None,
        }
    }
}

/// A value of the subgroup being filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    v: f64,
    seq: i64,
}

/// A characteristic as a batch works on it.
struct Chart {
    plant: String,
    subgroup: usize,
    baseline: i64,
    base_from: i64,
    n_points: i64,
    pending: Vec<Pending>,
    limits: Option<Limits>,
    frozen_at: Option<String>,
    /// `(n, value)` of the last points, oldest first.
    tail: VecDeque<(i64, f64)>,
}

/// `(item, operation or 0, work order)` of what a station measured.
type Run = (String, i64, Option<String>);

/// A candidate characteristic for a name: `(id, plant, item, operation)`.
type Candidate = (i64, String, String, i64);

/// One batch's effect on SPC, for one edge.
#[derive(Default)]
pub(super) struct SpcBatch {
    by_name: HashMap<String, Vec<Candidate>>,
    /// `(station, work order of the event)` → `(item, operation)` of what it measured.
    runs: HashMap<(String, Option<String>), Option<Run>>,
    charts: BTreeMap<i64, Chart>,
    edge_plant: Option<String>,
    changed: bool,
    alarmed: bool,
}

impl SpcBatch {
    fn candidates(&mut self, conn: &Connection, name: &str) -> Result<&[Candidate], StoreError> {
        if !self.by_name.contains_key(name) {
            let mut stmt = conn.prepare_cached(
                "SELECT id, plant, item, operation FROM spc_characteristics
                 WHERE name = ?1 AND retired_at IS NULL",
            )?;
            let rows = stmt
                .query_map(params![name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<Vec<Candidate>, _>>()?;
            self.by_name.insert(name.to_owned(), rows);
        }
        Ok(self.by_name.get(name).map_or(&[], Vec::as_slice))
    }

    fn edge_plant(&mut self, conn: &Connection, edge_id: &str) -> Result<String, StoreError> {
        if self.edge_plant.is_none() {
            self.edge_plant = Some(super::stock::plant_of_edge(conn, edge_id)?.plant);
        }
        Ok(self.edge_plant.clone().unwrap_or_default())
    }

    /// `(item, operation or 0, work order)` of what the station measured.
    fn run(
        &mut self,
        conn: &Connection,
        edge_id: &str,
        station: &str,
        work_order: Option<&str>,
    ) -> Result<Option<Run>, StoreError> {
        let key = (station.to_owned(), work_order.map(str::to_owned));
        if let Some(known) = self.runs.get(&key) {
            return Ok(known.clone());
        }
        let running: Option<(Option<String>, Option<i64>)> = conn
            .prepare_cached(
                "SELECT work_order, operation FROM edge_stations WHERE edge_id = ?1 AND station = ?2",
            )?
            .query_row(params![edge_id, station], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (running_wo, running_op) = running.unwrap_or_default();
        let wo = work_order.map(str::to_owned).or(running_wo.clone());
        let found = match &wo {
            Some(wo) => {
                let item: Option<String> = conn
                    .prepare_cached("SELECT item FROM wo_orders WHERE work_order = ?1")?
                    .query_row(params![wo.as_str()], |r| r.get(0))
                    .optional()?;
                let op = if running_wo.as_deref() == Some(wo.as_str()) {
                    running_op.unwrap_or(0)
                } else {
                    0
                };
                item.map(|item| (item, op, Some(wo.clone())))
            }
            None => None,
        };
        self.runs.insert(key, found.clone());
        Ok(found)
    }

    fn chart(&mut self, conn: &Connection, id: i64) -> Result<&mut Chart, StoreError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.charts.entry(id) {
            type Row = (
                String,
                i64,
                i64,
                i64,
                i64,
                String,
                Option<String>,
                Option<String>,
            );
            let row: Row = conn
                .prepare_cached(
                    "SELECT plant, subgroup_size, baseline, base_from, n_points, pending, limits,
                            frozen_at
                     FROM spc_characteristics WHERE id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?;
            let (plant, subgroup, baseline, base_from, n_points, pending, limits, frozen_at) = row;
            let mut tail: Vec<(i64, f64)> = conn
                .prepare_cached(
                    "SELECT n, value FROM spc_points WHERE characteristic = ?1
                     ORDER BY n DESC LIMIT 15",
                )?
                .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            tail.reverse();
            slot.insert(Chart {
                plant,
                subgroup: usize::try_from(subgroup)
                    .unwrap_or(1)
                    .clamp(1, spc::MAX_SUBGROUP),
                baseline: baseline.max(2),
                base_from,
                n_points,
                pending: serde_json::from_str(&pending)?,
                limits: limits.map(|l| serde_json::from_str(&l)).transpose()?,
                frozen_at,
                tail: tail.into(),
            });
        }
        self.charts
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("spc characteristic {id}")))
    }

    /// The characteristic a measurement at `station` of `edge_id` is charted on, if any.
    fn characteristic_of(
        &mut self,
        conn: &Connection,
        edge_id: &str,
        fact: &SpcFact,
    ) -> Result<Option<(i64, Option<String>)>, StoreError> {
        if self.candidates(conn, &fact.name)?.is_empty() {
            return Ok(None);
        }
        let Some((item, op, wo)) =
            self.run(conn, edge_id, &fact.station, fact.work_order.as_deref())?
        else {
            return Ok(None);
        };
        let plant = self.edge_plant(conn, edge_id)?;
        let best = self
            .candidates(conn, &fact.name)?
            .iter()
            .filter(|c| c.2 == item)
            .filter(|c| c.1.is_empty() || c.1 == plant)
            .filter(|c| c.3 == 0 || c.3 == op)
            .max_by_key(|c| (!c.1.is_empty(), c.3 != 0, std::cmp::Reverse(c.0)))
            .map(|c| c.0);
        Ok(best.map(|id| (id, wo)))
    }

    /// What the measurement with `seq`, made at `at`, adds to its chart.
    pub(super) fn apply(
        &mut self,
        tx: &Transaction<'_>,
        edge_id: &str,
        seq: i64,
        at: &str,
        fact: &SpcFact,
    ) -> Result<(), StoreError> {
        let Some((id, wo)) = self.characteristic_of(tx, edge_id, fact)? else {
            return Ok(());
        };
        let edge_plant = self.edge_plant(tx, edge_id)?;
        self.changed = true;
        let chart = self.chart(tx, id)?;
        chart.pending.push(Pending { v: fact.value, seq });
        if chart.pending.len() < chart.subgroup {
            return Ok(());
        }
        let taken = std::mem::take(&mut chart.pending);
        let values: Vec<f64> = taken.iter().map(|p| p.v).collect();
        let seqs: Vec<i64> = taken.iter().map(|p| p.seq).collect();
        let (value, range) = if chart.subgroup == 1 {
            (
                fact.value,
                chart
                    .tail
                    .back()
                    .map(|&(_, prev)| (fact.value - prev).abs()),
            )
        } else {
            match spc::means_and_ranges(std::slice::from_ref(&values)) {
                Ok((means, ranges)) => (
                    means.first().copied().unwrap_or(fact.value),
                    ranges.first().copied(),
                ),
                // Values too large to average: the subgroup is not charted.
                Err(_) => return Ok(()),
            }
        };
        if !value.is_finite() || range.is_some_and(|r| !r.is_finite()) {
            return Ok(());
        }
        chart.n_points = chart.n_points.saturating_add(1);
        let n = chart.n_points;
        chart.tail.push_back((n, value));
        while chart.tail.len() > TAIL {
            chart.tail.pop_front();
        }
        // The rules, against frozen limits, on the points since the baseline began.
        let mut rules: Vec<u8> = Vec::new();
        if let Some(limits) = &chart.limits {
            let recent: Vec<f64> = chart
                .tail
                .iter()
                .filter(|(k, _)| *k > chart.base_from)
                .map(|&(_, v)| v)
                .collect();
            let last = recent.len().saturating_sub(1);
            if let Ok(found) = spc::western_electric(&recent, limits) {
                rules = found
                    .iter()
                    .filter(|v| v.index == last)
                    .map(|v| v.rule)
                    .collect();
            }
        }
        let alarm_plant = if chart.plant.is_empty() {
            edge_plant
        } else {
            chart.plant.clone()
        };
        tx.prepare_cached(
            "INSERT INTO spc_points (characteristic, n, at, edge_id, station, work_order, seqs,
                                     vals, value, spread, baseline, rules)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
        )?
        .execute(params![
            id,
            n,
            at,
            edge_id,
            fact.station.as_str(),
            wo.as_deref(),
            serde_json::to_string(&seqs)?,
            serde_json::to_string(&values)?,
            value,
            range,
            rules_text(&rules)
        ])?;
        let raised = !rules.is_empty();
        for rule in &rules {
            tx.prepare_cached(
                "INSERT INTO spc_alarms (characteristic, plant, edge_id, station, point, rule, at,
                                         raised_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                alarm_plant.as_str(),
                edge_id,
                fact.station.as_str(),
                n,
                i64::from(*rule),
                at,
                ts(chrono::Utc::now())
            ])?;
        }
        // The baseline complete: the limits are computed from its points and frozen.
        if chart.limits.is_none() && n.saturating_sub(chart.base_from) >= chart.baseline {
            let upto = chart.base_from.saturating_add(chart.baseline);
            let stored: Vec<String> = tx
                .prepare_cached(
                    "SELECT vals FROM spc_points WHERE characteristic = ?1 AND n > ?2 AND n <= ?3
                     ORDER BY n",
                )?
                .query_map(params![id, chart.base_from, upto], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let subgroups = stored
                .iter()
                .map(|s| serde_json::from_str::<Vec<f64>>(s))
                .collect::<Result<Vec<_>, _>>()?;
            let limits = if chart.subgroup == 1 {
                let values: Vec<f64> = subgroups
                    .iter()
                    .filter_map(|s| s.first().copied())
                    .collect();
                spc::imr_limits(&values)
            } else {
                spc::xbar_r_limits(&subgroups)
            };
            // Limits that cannot be computed (values too large) wait for a rebaseline.
            if let Ok(limits) = limits {
                tx.prepare_cached(
                    "UPDATE spc_points SET baseline = 1
                     WHERE characteristic = ?1 AND n > ?2 AND n <= ?3",
                )?
                .execute(params![id, chart.base_from, upto])?;
                chart.limits = Some(limits);
                chart.frozen_at = Some(at.to_owned());
            }
        }
        self.alarmed |= raised;
        Ok(())
    }

    /// Whether the batch charted anything (the board wakes).
    pub(super) fn changes_anything(&self) -> bool {
        self.changed
    }

    /// Whether the batch raised an alarm (the edge's plan carries its open alarms).
    pub(super) fn raised_alarms(&self) -> bool {
        self.alarmed
    }

    /// Writes the characteristics the batch touched.
    pub(super) fn write(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        for (id, chart) in &self.charts {
            tx.prepare_cached(
                "UPDATE spc_characteristics SET n_points = ?2, pending = ?3, limits = ?4,
                        frozen_at = ?5
                 WHERE id = ?1",
            )?
            .execute(params![
                *id,
                chart.n_points,
                serde_json::to_string(&chart.pending)?,
                chart
                    .limits
                    .map(|l| serde_json::to_string(&l))
                    .transpose()?,
                chart.frozen_at.as_deref()
            ])?;
        }
        Ok(())
    }
}

/// The open alarms of an edge's stations, newest first, as its plans carry them.
pub(super) fn plan_alarms(
    conn: &Connection,
    edge_id: &str,
) -> Result<Vec<protocol::PlanSpcAlarm>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.station, c.name, a.rule, COALESCE(p.value, 0), a.at
         FROM spc_alarms a JOIN spc_characteristics c ON c.id = a.characteristic
         LEFT JOIN spc_points p ON p.characteristic = a.characteristic AND p.n = a.point
         WHERE a.edge_id = ?1 AND a.acked_at IS NULL ORDER BY a.id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(protocol::bounds::MAX_SPC_ALARMS).unwrap_or(100);
    let rows: Vec<(i64, String, String, i64, f64, String)> = stmt
        .query_map(params![edge_id, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, station, characteristic, rule, value, at)| {
            Ok(protocol::PlanSpcAlarm {
                id: to_u64(id),
                station,
                characteristic,
                rule: u8::try_from(rule).unwrap_or(0),
                value,
                at: parse_ts(&at)?,
            })
        })
        .collect()
}

/// The next version of an edge's latest plan when its open alarms changed (none when it has
/// no plan yet: its first one will carry them).
pub(super) fn republish_edge(
    tx: &Transaction<'_>,
    edge_id: &protocol::EdgeId,
) -> Result<Option<protocol::Plan>, StoreError> {
    let body: Option<String> = tx
        .prepare_cached("SELECT body FROM plans WHERE edge_id = ?1 ORDER BY version DESC LIMIT 1")?
        .query_row(params![edge_id.as_str()], |r| r.get(0))
        .optional()?;
    let Some(body) = body else {
        return Ok(None);
    };
    let plan: protocol::Plan = serde_json::from_str(&body)?;
    let content = plan.content();
    if super::fill_central_parts(tx, edge_id, content.clone())? == content {
        return Ok(None);
    }
    let plan = super::publish_plan_in(tx, edge_id, content)?;
    // The orders it carries went down again in this version.
    let mut record = tx.prepare_cached(
        "UPDATE wo_plans SET version = ?3 WHERE work_order = ?1 AND edge_id = ?2",
    )?;
    for wo in &plan.work_orders {
        record.execute(params![
            wo.work_order.as_str(),
            plan.edge_id.as_str(),
            to_i64(plan.version.0)?
        ])?;
    }
    Ok(Some(plan))
}

fn rules_text(rules: &[u8]) -> String {
    rules
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_rules(text: &str) -> Vec<u8> {
    text.split(',').filter_map(|r| r.parse().ok()).collect()
}

const CHARACTERISTIC_COLUMNS: &str = "c.id, c.plant, c.item, c.operation, c.name, c.unit, c.target,
    c.lsl, c.usl, c.subgroup_size, c.baseline, c.base_from, c.n_points, c.pending, c.limits,
    c.frozen_at,
    (SELECT COUNT(*) FROM spc_alarms a WHERE a.characteristic = c.id AND a.acked_at IS NULL),
    c.retired_at, c.retired_by";

fn characteristic_row(r: &super::db::Row<'_>) -> Result<RawCharacteristic, super::db::DbError> {
    Ok(RawCharacteristic {
        id: r.get(0)?,
        plant: r.get(1)?,
        item: r.get(2)?,
        operation: r.get(3)?,
        name: r.get(4)?,
        unit: r.get(5)?,
        target: r.get(6)?,
        lsl: r.get(7)?,
        usl: r.get(8)?,
        subgroup_size: r.get(9)?,
        baseline: r.get(10)?,
        base_from: r.get(11)?,
        n_points: r.get(12)?,
        pending: r.get(13)?,
        limits: r.get(14)?,
        frozen_at: r.get(15)?,
        open_alarms: r.get(16)?,
        retired_at: r.get(17)?,
        retired_by: r.get(18)?,
    })
}

struct RawCharacteristic {
    id: i64,
    plant: String,
    item: String,
    operation: i64,
    name: String,
    unit: String,
    target: Option<f64>,
    lsl: Option<f64>,
    usl: Option<f64>,
    subgroup_size: i64,
    baseline: i64,
    base_from: i64,
    n_points: i64,
    pending: String,
    limits: Option<String>,
    frozen_at: Option<String>,
    open_alarms: i64,
    retired_at: Option<String>,
    retired_by: Option<String>,
}

impl RawCharacteristic {
    fn into_view(self) -> Result<SpcCharacteristic, StoreError> {
        let pending: Vec<Pending> = serde_json::from_str(&self.pending)?;
        let since = self.n_points.saturating_sub(self.base_from);
        Ok(SpcCharacteristic {
            id: to_u64(self.id),
            spec: CharacteristicSpec {
                plant: (!self.plant.is_empty()).then_some(self.plant),
                item: self.item,
                operation: u32::try_from(self.operation).ok().filter(|n| *n > 0),
                name: self.name,
                unit: self.unit,
                target: self.target,
                lsl: self.lsl,
                usl: self.usl,
                subgroup_size: u8::try_from(self.subgroup_size).unwrap_or(0),
                baseline: u32::try_from(self.baseline).unwrap_or(0),
            },
            limits: self.limits.map(|l| serde_json::from_str(&l)).transpose()?,
            frozen_at: self.frozen_at.as_deref().map(parse_ts).transpose()?,
            baseline_points: to_u64(since.min(self.baseline)),
            points: to_u64(self.n_points),
            pending: pending.len() as u64,
            open_alarms: to_u64(self.open_alarms),
            retired_at: self.retired_at.as_deref().map(parse_ts).transpose()?,
            retired_by: self.retired_by,
        })
    }
}

fn characteristics(
    conn: &Connection,
    id: Option<i64>,
) -> Result<Vec<SpcCharacteristic>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHARACTERISTIC_COLUMNS} FROM spc_characteristics c
         WHERE CAST(?1 AS BIGINT) IS NULL OR c.id = ?1 ORDER BY c.id"
    ))?;
    let rows = stmt
        .query_map(params![id], characteristic_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(RawCharacteristic::into_view).collect()
}

fn one(conn: &Connection, id: i64) -> Result<SpcCharacteristic, StoreError> {
    characteristics(conn, Some(id))?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("no spc characteristic {id}")))
}

fn put(tx: &Transaction<'_>, spec: &CharacteristicSpec) -> Result<i64, StoreError> {
    let plant = spec.plant.clone().unwrap_or_default();
    let operation = i64::from(spec.operation.unwrap_or(0));
    let held: Option<(i64, i64, i64, String)> = tx
        .prepare_cached(
            "SELECT id, subgroup_size, n_points, pending FROM spc_characteristics
             WHERE plant = ?1 AND item = ?2 AND operation = ?3 AND name = ?4",
        )?
        .query_row(
            params![
                plant.as_str(),
                spec.item.as_str(),
                operation,
                spec.name.as_str()
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let now = ts(chrono::Utc::now());
    match held {
        Some((id, size, n_points, pending)) => {
            if size != i64::from(spec.subgroup_size) && (n_points > 0 || pending != "[]") {
                return Err(StoreError::Conflict(format!(
                    "characteristic {:?} of item {:?} has points of subgroup size {size}; \
                     its subgroup size cannot change to {}",
                    spec.name, spec.item, spec.subgroup_size
                )));
            }
            // Put again, a retired characteristic is back in use.
            tx.prepare_cached(
                "UPDATE spc_characteristics SET unit = ?2, target = ?3, lsl = ?4, usl = ?5,
                        subgroup_size = ?6, baseline = ?7, updated_at = ?8,
                        retired_at = NULL, retired_by = NULL
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                spec.unit.as_str(),
                spec.target,
                spec.lsl,
                spec.usl,
                i64::from(spec.subgroup_size),
                i64::from(spec.baseline),
                now.as_str()
            ])?;
            Ok(id)
        }
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO spc_characteristics (plant, item, operation, name, unit, target,
                         lsl, usl, subgroup_size, baseline, base_from, n_points, pending,
                         updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, '[]', ?11)
                     RETURNING id",
                )?
                .query_row(
                    params![
                        plant.as_str(),
                        spec.item.as_str(),
                        operation,
                        spec.name.as_str(),
                        spec.unit.as_str(),
                        spec.target,
                        spec.lsl,
                        spec.usl,
                        i64::from(spec.subgroup_size),
                        i64::from(spec.baseline),
                        now.as_str()
                    ],
                    |r| r.get(0),
                )?;
            Ok(id)
        }
    }
}

const ALARM_SELECT: &str = "SELECT a.id, a.characteristic, c.name, c.item, a.plant, a.edge_id,
        a.station, a.rule, a.point, COALESCE(p.value, 0), a.at, a.raised_at, a.acked_at,
        a.acked_by
    FROM spc_alarms a JOIN spc_characteristics c ON c.id = a.characteristic
    LEFT JOIN spc_points p ON p.characteristic = a.characteristic AND p.n = a.point";

type AlarmRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    f64,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn alarm_of(row: AlarmRow) -> Result<SpcAlarm, StoreError> {
    let (id, ch, name, item, plant, edge_id, station, rule, point, value, at, raised, acked, by) =
        row;
    Ok(SpcAlarm {
        id: to_u64(id),
        characteristic: to_u64(ch),
        name,
        item,
        plant,
        edge_id,
        station,
        rule: u8::try_from(rule).unwrap_or(0),
        point: to_u64(point),
        value,
        at: parse_ts(&at)?,
        raised_at: parse_ts(&raised)?,
        acked_at: acked.as_deref().map(parse_ts).transpose()?,
        acked_by: by,
    })
}

fn alarm_row(r: &super::db::Row<'_>) -> Result<AlarmRow, super::db::DbError> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn alarms(conn: &Connection, open_only: bool, limit: i64) -> Result<Vec<SpcAlarm>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{ALARM_SELECT} WHERE (?1 = 0 OR a.acked_at IS NULL) ORDER BY a.id DESC LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![i64::from(open_only), limit], alarm_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(alarm_of).collect()
}

fn alarm(conn: &Connection, id: i64) -> Result<Option<SpcAlarm>, StoreError> {
    let row = conn
        .prepare_cached(&format!("{ALARM_SELECT} WHERE a.id = ?1"))?
        .query_row(params![id], alarm_row)
        .optional()?;
    row.map(alarm_of).transpose()
}

fn id_of(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::NotFound(format!("no spc record {id}")))
}

#[async_trait::async_trait]
impl crate::store::spc::SpcStore for super::SqlStore {
    async fn spc_characteristics(&self) -> Result<Vec<SpcCharacteristic>, StoreError> {
        self.read(|conn| characteristics(conn, None)).await
    }

    async fn spc_characteristic(&self, id: u64) -> Result<Option<SpcCharacteristic>, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        self.read(move |conn| Ok(characteristics(conn, Some(id))?.into_iter().next()))
            .await
    }

    async fn put_spc_characteristics(
        &self,
        specs: Vec<CharacteristicSpec>,
    ) -> Result<Vec<SpcCharacteristic>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = Vec::with_capacity(specs.len());
            for spec in &specs {
                ids.push(put(&tx, spec)?);
            }
            let out = ids
                .into_iter()
                .map(|id| one(&tx, id))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn rebaseline_spc(&self, id: u64) -> Result<SpcCharacteristic, StoreError> {
        let id = id_of(id)?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if one(&tx, id)?.retired_at.is_some() {
                return Err(StoreError::Conflict(format!(
                    "spc characteristic {id} is retired; put it again to use it, then rebaseline"
                )));
            }
            let n = tx.execute(
                "UPDATE spc_characteristics SET limits = NULL, frozen_at = NULL,
                        base_from = n_points, updated_at = ?2
                 WHERE id = ?1",
                params![id, ts(chrono::Utc::now())],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no spc characteristic {id}")));
            }
            let out = one(&tx, id)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn spc_points(&self, id: u64, limit: u64) -> Result<Vec<SpcPoint>, StoreError> {
        let id = id_of(id)?;
        let limit = to_i64(limit)?;
        self.read(move |conn| {
            type Row = (
                i64,
                String,
                String,
                String,
                Option<String>,
                String,
                String,
                f64,
                Option<f64>,
                i64,
                String,
            );
            let mut stmt = conn.prepare_cached(
                "SELECT n, at, edge_id, station, work_order, seqs, vals, value, spread, baseline,
                        rules
                 FROM spc_points WHERE characteristic = ?1 ORDER BY n DESC LIMIT ?2",
            )?;
            let rows: Vec<Row> = stmt
                .query_map(params![id, limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (n, at, edge_id, station, work_order, seqs, vals, value, range, baseline, rules) in
                rows.into_iter().rev()
            {
                let seqs: Vec<i64> = serde_json::from_str(&seqs)?;
                out.push(SpcPoint {
                    n: to_u64(n),
                    at: parse_ts(&at)?,
                    values: serde_json::from_str(&vals)?,
                    value,
                    range,
                    edge_id,
                    station,
                    work_order,
                    seqs: seqs.into_iter().map(to_u64).collect(),
                    baseline: baseline != 0,
                    rules: parse_rules(&rules),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn spc_alarms(&self, open_only: bool, limit: u64) -> Result<Vec<SpcAlarm>, StoreError> {
        let limit = to_i64(limit)?;
        self.read(move |conn| alarms(conn, open_only, limit)).await
    }

    async fn spc_alarm(&self, id: u64) -> Result<Option<SpcAlarm>, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        self.read(move |conn| alarm(conn, id)).await
    }

    async fn retire_spc(
        &self,
        id: u64,
        by: String,
    ) -> Result<crate::store::work_orders::Changed<SpcCharacteristic>, StoreError> {
        let id = id_of(id)?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = chrono::Utc::now();
            let n = tx.execute(
                "UPDATE spc_characteristics SET retired_at = ?2, retired_by = ?3, updated_at = ?2
                 WHERE id = ?1 AND retired_at IS NULL",
                params![id, ts(now), &by],
            )?;
            let mut plans = Vec::new();
            if n > 0 {
                // Its open alarms close with it: the edges that showed them get plans
                // without them, and the boards of every instance drop them.
                let edges: Vec<String> = tx
                    .prepare_cached(
                        "SELECT DISTINCT edge_id FROM spc_alarms
                         WHERE characteristic = ?1 AND acked_at IS NULL ORDER BY edge_id",
                    )?
                    .query_map(params![id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                tx.execute(
                    "UPDATE spc_alarms SET acked_at = ?2, acked_by = ?3
                     WHERE characteristic = ?1 AND acked_at IS NULL",
                    params![id, ts(now), format!("{by} (retired the characteristic)")],
                )?;
                for edge in edges {
                    let edge_id = protocol::EdgeId(edge);
                    super::changes::notify(
                        &tx,
                        &crate::store::StoreChange::Floor {
                            edge_id: edge_id.clone(),
                            since: Some(now),
                        },
                    )?;
                    plans.extend(republish_edge(&tx, &edge_id)?);
                }
            }
            let value = one(&tx, id)?;
            tx.commit()?;
            Ok(crate::store::work_orders::Changed { value, plans })
        })
        .await
    }

    async fn missing_items(&self, items: Vec<String>) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM erp_items WHERE item = ?1")?;
            let mut missing = Vec::new();
            for item in items {
                if !stmt.exists(params![&item])? {
                    missing.push(item);
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn ack_spc_alarm(
        &self,
        id: u64,
        by: String,
    ) -> Result<crate::store::work_orders::Changed<SpcAlarm>, StoreError> {
        let id = id_of(id)?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE spc_alarms SET acked_at = ?2, acked_by = ?3
                 WHERE id = ?1 AND acked_at IS NULL",
                params![id, ts(chrono::Utc::now()), by],
            )?;
            let found = alarm(&tx, id)?
                .ok_or_else(|| StoreError::NotFound(format!("no spc alarm {id}")))?;
            let mut plans = Vec::new();
            if n > 0 {
                let edge_id = protocol::EdgeId(found.edge_id.clone());
                // The boards of every instance drop it, and the edge's terminal.
                super::changes::notify(
                    &tx,
                    &crate::store::StoreChange::Floor {
                        edge_id: edge_id.clone(),
                        // An acknowledgement changes no OEE figure.
                        since: Some(chrono::Utc::now()),
                    },
                )?;
                plans.extend(republish_edge(&tx, &edge_id)?);
            }
            tx.commit()?;
            Ok(crate::store::work_orders::Changed {
                value: found,
                plans,
            })
        })
        .await
    }
}
