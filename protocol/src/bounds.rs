//! What a valid value is: the bounds every value from outside is checked against where it
//! enters, on the edge and at central alike.
//!
//! One place says how long an id may be, which characters text may hold, how large and how
//! precise a quantity may be and which timestamps are believable, so the edge refuses at the
//! door what central would refuse at ingest, and a fact the edge has committed is one central
//! can store. [`check_event`] checks a whole event; the `check_*` functions check one field and
//! name it in the [`Violation`].
//!
//! The limits are far above anything a plant produces (a quantity of a billion in one event,
//! a billion parts in one report) and far below what would overflow a sum: a billion events
//! of the largest quantity still sum to less than 10^19, where a `Decimal` holds 7.9 × 10^28.

use crate::event::{EventBody, EventKind, Source};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;
use std::fmt;

/// Longest id (edge, device, station, work order, item, lot, location, badge), in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest unit of measure, in bytes.
pub const MAX_UOM_LEN: usize = 16;
/// Longest free text (reasons, fault messages, descriptions), in bytes.
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest scanned code, in bytes (GS1 allows far less in one symbol; two-dimensional codes
/// with ISO 15434 envelopes stay well under it).
pub const MAX_CODE_LEN: usize = 4096;
/// Most input lots recorded for one produced lot.
pub const MAX_CONSUMED_LOTS: usize = 256;
/// Most good or scrapped parts in one production report.
pub const MAX_COUNT: u64 = 1_000_000_000;
/// Most decimals a quantity may have.
pub const QTY_SCALE: u32 = 6;
/// The largest quantity one event may carry, in any unit.
pub const MAX_QTY: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The largest encoded event, in bytes: every batch of events fits a request body.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Highest sequence or version number (what a signed 64-bit database column holds).
pub const MAX_SEQ: u64 = i64::MAX as u64;
/// Most stations one edge's status reports (what runs on each, [`crate::StationRun`]).
pub const MAX_STATIONS: usize = 1024;

/// The earliest event time believed: no plant recorded production with this system before.
pub fn earliest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A value outside its bounds: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path, e.g. `kind.qty` or `source.station`.
    pub field: String,
    /// What is wrong, lowercase, with what was expected.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for Violation {}

fn violation(field: &str, problem: String) -> Violation {
    Violation {
        field: field.to_owned(),
        problem,
    }
}

/// Characters that change how text is displayed without being seen: bidirectional controls
/// (which can make `LOT-1` read as another lot), zero-width characters, line separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// Control characters a scanned code may carry: GS (FNC1 in GS1 data), RS and EOT (ISO 15434
/// envelopes of two-dimensional codes).
fn code_control(c: char) -> bool {
    matches!(c, '\u{1D}' | '\u{1E}' | '\u{04}')
}

fn first_bad_char(s: &str, allow: impl Fn(char) -> bool) -> Option<(usize, char)> {
    s.char_indices()
        .find(|&(_, c)| (c.is_control() || invisible(c)) && !allow(c))
}

fn describe(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// An id: 1 to [`MAX_ID_LEN`] bytes, no control or invisible characters, no spaces at its ends.
pub fn check_id(field: &str, value: &str) -> Result<(), Violation> {
    if value.is_empty() {
        return Err(violation(field, "is empty; expected an id".into()));
    }
    if value.len() > MAX_ID_LEN {
        return Err(violation(
            field,
            format!(
                "is {} bytes long; an id has at most {MAX_ID_LEN}",
                value.len()
            ),
        ));
    }
    if let Some((at, c)) = first_bad_char(value, |_| false) {
        return Err(violation(
            field,
            format!(
                "holds the control or invisible character {} at byte {at}; ids are printable text",
                describe(c)
            ),
        ));
    }
    if value.trim() != value {
        return Err(violation(
            field,
            format!("{value:?} starts or ends with a space"),
        ));
    }
    Ok(())
}

/// A unit of measure: 1 to [`MAX_UOM_LEN`] bytes of printable text.
pub fn check_uom(field: &str, value: &str) -> Result<(), Violation> {
    if value.len() > MAX_UOM_LEN {
        return Err(violation(
            field,
            format!(
                "is {} bytes long; a unit of measure has at most {MAX_UOM_LEN}",
                value.len()
            ),
        ));
    }
    check_id(field, value)
}

/// Free text: at most [`MAX_TEXT_LEN`] bytes, no control or invisible characters.
pub fn check_text(field: &str, value: &str) -> Result<(), Violation> {
    if value.len() > MAX_TEXT_LEN {
        return Err(violation(
            field,
            format!(
                "is {} bytes long; at most {MAX_TEXT_LEN} are kept",
                value.len()
            ),
        ));
    }
    if let Some((at, c)) = first_bad_char(value, |_| false) {
        return Err(violation(
            field,
            format!(
                "holds the control or invisible character {} at byte {at}",
                describe(c)
            ),
        ));
    }
    Ok(())
}

/// A scanned code as recorded: at most [`MAX_CODE_LEN`] bytes; GS, RS and EOT are the only
/// control characters it may hold.
pub fn check_code(field: &str, value: &str) -> Result<(), Violation> {
    if value.len() > MAX_CODE_LEN {
        return Err(violation(
            field,
            format!(
                "is {} bytes long; a code has at most {MAX_CODE_LEN}",
                value.len()
            ),
        ));
    }
    if let Some((at, c)) = first_bad_char(value, code_control) {
        return Err(violation(
            field,
            format!(
                "holds the character {} at byte {at}, which no barcode carries",
                describe(c)
            ),
        ));
    }
    Ok(())
}

/// A quantity: more than zero, at most `max`, with at most [`QTY_SCALE`] decimals.
pub fn check_qty_within(field: &str, qty: Decimal, max: Decimal) -> Result<(), Violation> {
    if qty <= Decimal::ZERO {
        return Err(violation(
            field,
            format!("is {qty}; expected a quantity above zero"),
        ));
    }
    if qty > max {
        return Err(violation(
            field,
            format!("is {qty}; at most {max} are accepted in one event"),
        ));
    }
    if qty.normalize().scale() > QTY_SCALE {
        return Err(violation(
            field,
            format!("is {qty}; at most {QTY_SCALE} decimals are kept"),
        ));
    }
    Ok(())
}

/// [`check_qty_within`] the absolute maximum [`MAX_QTY`].
pub fn check_qty(field: &str, qty: Decimal) -> Result<(), Violation> {
    check_qty_within(field, qty, MAX_QTY)
}

/// A count of parts: at most [`MAX_COUNT`].
pub fn check_count(field: &str, n: u64) -> Result<(), Violation> {
    if n > MAX_COUNT {
        return Err(violation(
            field,
            format!("is {n}; at most {MAX_COUNT} parts are accepted in one report"),
        ));
    }
    Ok(())
}

/// A sequence or version number: at most [`MAX_SEQ`].
pub fn check_seq(field: &str, n: u64) -> Result<(), Violation> {
    if n > MAX_SEQ {
        return Err(violation(field, format!("is {n}; at most {MAX_SEQ}")));
    }
    Ok(())
}

/// The times an event may carry: from [`earliest`] to a little after the checker's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

impl TimeWindow {
    /// From [`earliest`] to `now + ahead`: edge clocks drift, and devices stamp their own
    /// messages, so a little of the future is believed; a year 262142 is not.
    pub fn around(now: DateTime<Utc>, ahead: TimeDelta) -> TimeWindow {
        TimeWindow {
            earliest: earliest(),
            latest: now.checked_add_signed(ahead).unwrap_or(now),
        }
    }

    pub fn check(&self, field: &str, at: DateTime<Utc>) -> Result<(), Violation> {
        if at < self.earliest || at > self.latest {
            return Err(violation(
                field,
                format!(
                    "is {}; expected a time between {} and {}",
                    at.to_rfc3339(),
                    self.earliest.to_rfc3339(),
                    self.latest.to_rfc3339()
                ),
            ));
        }
        Ok(())
    }
}

/// Checks every field of an event body: ids, texts, quantities, counts, the times.
pub fn check_event(body: &EventBody, window: &TimeWindow) -> Result<(), Violation> {
    window.check("at", body.at)?;
    check_source(&body.source)?;
    check_kind(&body.kind)?;
    if let EventKind::StopReasonGiven { since, .. } = &body.kind {
        window.check("kind.since", *since)?;
        if *since > body.at {
            return Err(violation(
                "kind.since",
                format!(
                    "is {}, after the event's time {}; a stop begins before its reason is given",
                    since.to_rfc3339(),
                    body.at.to_rfc3339()
                ),
            ));
        }
    }
    Ok(())
}

fn check_source(source: &Source) -> Result<(), Violation> {
    if let Some(device) = &source.device {
        check_id("source.device", device.as_str())?;
    }
    if let Some(station) = &source.station {
        check_id("source.station", station.as_str())?;
    }
    Ok(())
}

/// Checks the fields of one kind of event.
pub fn check_kind(kind: &EventKind) -> Result<(), Violation> {
    match kind {
        EventKind::ProductionReported {
            work_order,
            good,
            scrap,
            ..
        } => {
            if let Some(wo) = work_order {
                check_id("kind.work_order", wo.as_str())?;
            }
            check_count("kind.good", *good)?;
            check_count("kind.scrap", *scrap)
        }
        EventKind::MachineStateChanged { reason, .. } => match reason {
            Some(reason) => check_text("kind.reason", reason),
            None => Ok(()),
        },
        EventKind::MaterialReceived {
            item,
            lot,
            qty,
            uom,
            location,
            purchase_order,
        } => {
            check_id("kind.item", item.as_str())?;
            check_id("kind.lot", lot.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)?;
            if let Some(po) = purchase_order {
                check_id("kind.purchase_order", po)?;
            }
            check_id("kind.location", location.as_str())
        }
        EventKind::MaterialIssued {
            work_order,
            item,
            lot,
            qty,
            uom,
            ..
        } => {
            check_id("kind.work_order", work_order.as_str())?;
            check_id("kind.item", item.as_str())?;
            check_id("kind.lot", lot.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)
        }
        EventKind::MaterialMoved {
            item,
            lot,
            qty,
            uom,
            from,
            to,
        } => {
            check_id("kind.item", item.as_str())?;
            check_id("kind.lot", lot.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)?;
            check_id("kind.from", from.as_str())?;
            check_id("kind.to", to.as_str())
        }
        EventKind::LotProduced {
            work_order,
            item,
            lot,
            qty,
            uom,
            consumed_lots,
        } => {
            check_id("kind.work_order", work_order.as_str())?;
            check_id("kind.item", item.as_str())?;
            check_id("kind.lot", lot.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)?;
            if consumed_lots.len() > MAX_CONSUMED_LOTS {
                return Err(violation(
                    "kind.consumed_lots",
                    format!(
                        "names {} lots; at most {MAX_CONSUMED_LOTS} are recorded for one lot",
                        consumed_lots.len()
                    ),
                ));
            }
            consumed_lots
                .iter()
                .try_for_each(|l| check_id("kind.consumed_lots[]", l.as_str()))
        }
        EventKind::WorkOrderStarted { work_order, .. }
        | EventKind::WorkOrderCompleted { work_order } => {
            check_id("kind.work_order", work_order.as_str())
        }
        EventKind::WorkOrderPaused { work_order, reason } => {
            check_id("kind.work_order", work_order.as_str())?;
            match reason {
                Some(reason) => check_text("kind.reason", reason),
                None => Ok(()),
            }
        }
        EventKind::Measurement {
            characteristic,
            value,
            unit,
            work_order,
        } => {
            check_id("kind.characteristic", characteristic)?;
            if !value.is_finite() {
                return Err(violation(
                    "kind.value",
                    format!("is {value}; expected a finite number"),
                ));
            }
            if !unit.is_empty() {
                check_uom("kind.unit", unit)?;
            }
            match work_order {
                Some(wo) => check_id("kind.work_order", wo.as_str()),
                None => Ok(()),
            }
        }
        EventKind::OperatorSignedIn { operator } | EventKind::OperatorSignedOut { operator } => {
            check_id("kind.operator", operator.as_str())
        }
        EventKind::ScanRejected { raw, reason } => {
            check_code("kind.raw", raw)?;
            check_text("kind.reason", reason)
        }
        EventKind::DeviceFault { device, message } => {
            check_id("kind.device", device.as_str())?;
            check_text("kind.message", message)
        }
        // `since` needs the time window and the event's time: checked by `check_event`.
        EventKind::StopReasonGiven { reason, .. } => check_reason("kind.reason", reason),
        EventKind::LotShipped {
            order,
            item,
            lot,
            qty,
            uom,
            location,
            shipment,
            ..
        } => {
            check_id("kind.order", order.as_str())?;
            check_id("kind.item", item.as_str())?;
            check_id("kind.lot", lot.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)?;
            check_id("kind.location", location.as_str())?;
            check_id("kind.shipment", shipment)
        }
        EventKind::MaterialRequested {
            work_order,
            item,
            qty,
            uom,
            operator,
            reason,
            ..
        } => {
            check_id("kind.work_order", work_order.as_str())?;
            check_id("kind.item", item.as_str())?;
            check_qty("kind.qty", *qty)?;
            check_uom("kind.uom", uom)?;
            check_id("kind.operator", operator.as_str())?;
            check_reason("kind.reason", reason)
        }
    }
}

/// A stop reason as given: a code of the plan's list or free text, not blank, within
/// [`check_text`].
pub fn check_reason(field: &str, value: &str) -> Result<(), Violation> {
    if value.trim().is_empty() {
        return Err(violation(
            field,
            "is empty; expected a reason code or text".into(),
        ));
    }
    check_text(field, value)
}

/// Most work orders in one plan.
pub const MAX_PLAN_WORK_ORDERS: usize = 2_000;
/// Most operations of one work order, components of one operation, parameters of one order.
pub const MAX_PLAN_LIST: usize = 200;
/// Most lots, GTINs or operators one plan carries.
pub const MAX_PLAN_ENTRIES: usize = 10_000;
/// Longest PHC string of a PIN hash.
pub const MAX_HASH_LEN: usize = 256;
/// Most stop reasons one plant lists (`rules.stop_reasons`).
pub const MAX_STOP_REASONS: usize = 500;
/// Most open SPC alarms one plan carries (`rules.spc_alarms`).
pub const MAX_SPC_ALARMS: usize = 100;

fn check_len(field: &str, n: usize, max: usize) -> Result<(), Violation> {
    if n > max {
        return Err(violation(
            field,
            format!("has {n} entries; at most {max} are accepted"),
        ));
    }
    Ok(())
}

/// Checks what a plan says before anyone acts on it: ids, quantities, lists and their lengths,
/// one entry per work order, operation, lot, GTIN and badge, and PLC parameters that are plain
/// values. Every violation is reported, each naming its field (`work_orders[2].qty`).
pub fn check_plan(plan: &crate::plan::PlanContent) -> Result<(), Vec<Violation>> {
    use std::collections::BTreeSet;
    let mut out = Vec::new();
    let mut push = |r: Result<(), Violation>| {
        if let Err(v) = r {
            out.push(v);
        }
    };
    push(check_len(
        "work_orders",
        plan.work_orders.len(),
        MAX_PLAN_WORK_ORDERS,
    ));
    let mut orders = BTreeSet::new();
    for (i, wo) in plan.work_orders.iter().enumerate() {
        let f = |name: &str| format!("work_orders[{i}].{name}");
        push(check_id(&f("work_order"), wo.work_order.as_str()));
        if !orders.insert(wo.work_order.as_str()) {
            push(Err(violation(
                &f("work_order"),
                format!(
                    "{} appears twice; a plan names each work order once",
                    wo.work_order
                ),
            )));
        }
        push(check_id(&f("item"), wo.item.as_str()));
        push(check_qty(&f("qty"), wo.qty));
        push(check_uom(&f("uom"), &wo.uom));
        push(check_len(
            &f("operations"),
            wo.operations.len(),
            MAX_PLAN_LIST,
        ));
        push(check_len(
            &f("plc_parameters"),
            wo.plc_parameters.len(),
            MAX_PLAN_LIST,
        ));
        for (name, value) in &wo.plc_parameters {
            let field = f(&format!("plc_parameters.{name}"));
            push(check_id(&field, name));
            let plain = match value {
                serde_json::Value::Bool(_) => true,
                serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
                serde_json::Value::String(s) => check_text(&field, s).is_ok() && s.len() <= 256,
                _ => false,
            };
            if !plain {
                push(Err(violation(
                    &field,
                    "must be a number, a boolean or a short text (at most 256 bytes); a PLC register holds nothing else".into(),
                )));
            }
        }
        push(check_len(&f("made_for"), wo.made_for.len(), MAX_PLAN_LIST));
        for (j, m) in wo.made_for.iter().enumerate() {
            let g = |name: &str| format!("work_orders[{i}].made_for[{j}].{name}");
            push(check_id(&g("order"), &m.order));
            push(check_id(&g("customer"), &m.customer));
            push(check_text(&g("customer_name"), &m.customer_name));
        }
        let mut ops = BTreeSet::new();
        for (j, op) in wo.operations.iter().enumerate() {
            let g = |name: &str| format!("work_orders[{i}].operations[{j}].{name}");
            if !ops.insert(op.operation) {
                push(Err(violation(
                    &g("operation"),
                    format!(
                        "operation {} appears twice in {}",
                        op.operation, wo.work_order
                    ),
                )));
            }
            push(check_text(&g("description"), &op.description));
            if let Some(station) = &op.station {
                push(check_id(&g("station"), station.as_str()));
            }
            if let Some(skill) = &op.skill {
                push(check_id(&g("skill"), skill));
            }
            push(check_len(
                &g("allowed_components"),
                op.allowed_components.len(),
                MAX_PLAN_LIST,
            ));
            for item in &op.allowed_components {
                push(check_id(&g("allowed_components[]"), item.as_str()));
            }
            push(check_len(
                &g("components"),
                op.components.len(),
                MAX_PLAN_LIST,
            ));
            for (k, c) in op.components.iter().enumerate() {
                let h =
                    |name: &str| format!("work_orders[{i}].operations[{j}].components[{k}].{name}");
                push(check_id(&h("item"), c.item.as_str()));
                push(check_qty(&h("qty"), c.qty));
                push(check_uom(&h("uom"), &c.uom));
            }
        }
    }
    push(check_len("lots", plan.lots.len(), MAX_PLAN_ENTRIES));
    let mut lots = BTreeSet::new();
    for (i, lot) in plan.lots.iter().enumerate() {
        let f = |name: &str| format!("lots[{i}].{name}");
        push(check_id(&f("lot"), lot.lot.as_str()));
        if !lots.insert(lot.lot.as_str()) {
            push(Err(violation(
                &f("lot"),
                format!("{} appears twice; a plan names each lot once", lot.lot),
            )));
        }
        push(check_id(&f("item"), lot.item.as_str()));
        if let Some(reason) = &lot.hold_reason {
            push(check_text(&f("hold_reason"), reason));
        }
        if let Some(location) = &lot.location {
            push(check_id(&f("location"), location.as_str()));
        }
        if let Some(on_hand) = lot.on_hand
            && (on_hand < Decimal::ZERO || on_hand.normalize().scale() > QTY_SCALE)
        {
            push(Err(violation(
                &f("on_hand"),
                format!(
                    "is {on_hand}; expected a stock of zero or more, at most {QTY_SCALE} decimals"
                ),
            )));
        }
    }
    if let Some(rules) = &plan.rules {
        if !(Decimal::ZERO..=Decimal::ONE_THOUSAND).contains(&rules.over_tolerance_pct) {
            push(Err(violation(
                "rules.over_tolerance_pct",
                format!(
                    "is {}; expected a percentage from 0 to 1000",
                    rules.over_tolerance_pct
                ),
            )));
        }
        push(check_len(
            "rules.stop_reasons",
            rules.stop_reasons.len(),
            MAX_STOP_REASONS,
        ));
        let mut codes = BTreeSet::new();
        for (i, reason) in rules.stop_reasons.iter().enumerate() {
            let f = |name: &str| format!("rules.stop_reasons[{i}].{name}");
            push(check_id(&f("code"), &reason.code));
            if !codes.insert(reason.code.as_str()) {
                push(Err(violation(
                    &f("code"),
                    format!(
                        "{} appears twice; a plant lists each stop reason once",
                        reason.code
                    ),
                )));
            }
            push(check_reason(&f("name"), &reason.name));
            push(check_text(&f("name_zh"), &reason.name_zh));
            push(check_text(&f("category"), &reason.category));
        }
        push(check_len(
            "rules.spc_alarms",
            rules.spc_alarms.len(),
            MAX_SPC_ALARMS,
        ));
        for (i, alarm) in rules.spc_alarms.iter().enumerate() {
            let f = |name: &str| format!("rules.spc_alarms[{i}].{name}");
            if !alarm.station.is_empty() {
                push(check_id(&f("station"), &alarm.station));
            }
            push(check_id(&f("characteristic"), &alarm.characteristic));
            if !(1..=4).contains(&alarm.rule) {
                push(Err(violation(
                    &f("rule"),
                    format!(
                        "is {}; expected a Western Electric rule from 1 to 4",
                        alarm.rule
                    ),
                )));
            }
            if !alarm.value.is_finite() {
                push(Err(violation(
                    &f("value"),
                    format!("is {}; expected a finite number", alarm.value),
                )));
            }
        }
    }
    push(check_len(
        "shipments",
        plan.shipments.len(),
        crate::plan::MAX_PLAN_SHIPMENTS,
    ));
    let mut lines = BTreeSet::new();
    for (i, s) in plan.shipments.iter().enumerate() {
        let f = |name: &str| format!("shipments[{i}].{name}");
        push(check_id(&f("order"), s.order.as_str()));
        if !lines.insert((s.order.as_str(), s.line)) {
            push(Err(violation(
                &f("line"),
                format!(
                    "line {} of {} appears twice; a plan names each order line once",
                    s.line, s.order
                ),
            )));
        }
        push(check_id(&f("customer"), &s.customer));
        push(check_text(&f("customer_name"), &s.customer_name));
        push(check_id(&f("item"), s.item.as_str()));
        push(check_qty(&f("open_qty"), s.open_qty));
        push(check_uom(&f("uom"), &s.uom));
    }
    push(check_len(
        "requisitions",
        plan.requisitions.len(),
        crate::plan::MAX_PLAN_REQUISITIONS,
    ));
    for (i, r) in plan.requisitions.iter().enumerate() {
        let f = |name: &str| format!("requisitions[{i}].{name}");
        push(check_id(&f("id"), &r.id));
        if let Some(number) = &r.number {
            push(check_id(&f("number"), number));
        }
        push(check_id(&f("work_order"), r.work_order.as_str()));
        push(check_id(&f("item"), r.item.as_str()));
        push(check_qty(&f("qty"), r.qty));
        push(check_uom(&f("uom"), &r.uom));
        if let Some(by) = &r.decided_by {
            push(check_text(&f("decided_by"), by));
        }
        if let Some(comment) = &r.comment {
            push(check_text(&f("comment"), comment));
        }
    }
    push(check_len("gtins", plan.gtins.len(), MAX_PLAN_ENTRIES));
    for (gtin, item) in &plan.gtins {
        if gtin.len() != 14 || !gtin.bytes().all(|b| b.is_ascii_digit()) {
            push(Err(violation(
                "gtins",
                format!("{gtin:?} is not a GTIN of 14 digits"),
            )));
        }
        push(check_id(&format!("gtins.{gtin}"), item.as_str()));
    }
    push(check_len(
        "operators",
        plan.operators.len(),
        MAX_PLAN_ENTRIES,
    ));
    let mut badges = BTreeSet::new();
    for (i, op) in plan.operators.iter().enumerate() {
        let f = |name: &str| format!("operators[{i}].{name}");
        push(check_id(&f("badge"), op.badge.as_str()));
        if !badges.insert(op.badge.as_str()) {
            push(Err(violation(
                &f("badge"),
                format!("{} appears twice; each badge is one person", op.badge),
            )));
        }
        push(check_text(&f("name"), &op.name));
        push(check_len(&f("skills"), op.skills.len(), MAX_PLAN_LIST));
        for skill in &op.skills {
            push(check_id(&f("skills[]"), skill));
        }
        if let Some(hash) = &op.pin_hash
            && (hash.len() > MAX_HASH_LEN || !hash.starts_with("$argon2"))
        {
            push(Err(violation(
                &f("pin_hash"),
                format!("expected an argon2 PHC string of at most {MAX_HASH_LEN} bytes"),
            )));
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// Text from a device or a person made fit to keep: control and invisible characters shown as
/// `\u{…}` escapes (GS, RS and EOT too when `code` is false), cut at a character boundary to at
/// most `max` bytes with `…` marking the cut. What [`check_text`] and [`check_code`] accept
/// passes unchanged.
pub fn sanitize(value: &str, max: usize, code: bool) -> String {
    use std::fmt::Write;
    let keep = |c: char| !(c.is_control() || invisible(c)) || (code && code_control(c));
    if value.len() <= max && value.chars().all(keep) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len().min(max));
    for c in value.chars() {
        if keep(c) {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:X}}}", u32::from(c));
        }
        if out.len() > max {
            break;
        }
    }
    if out.len() > max {
        let ellipsis = '…';
        let mut end = max.saturating_sub(ellipsis.len_utf8());
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push(ellipsis);
    }
    out
}

/// Free text cut to [`MAX_TEXT_LEN`] with control characters escaped: for messages that quote
/// what a device sent.
pub fn sanitize_text(value: &str) -> String {
    sanitize(value, MAX_TEXT_LEN, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::{at, sample_events};
    use chrono::TimeZone;

    fn window() -> TimeWindow {
        TimeWindow::around(at(), TimeDelta::days(1))
    }

    #[test]
    fn every_sample_event_is_within_bounds() {
        for event in sample_events("line-1") {
            let body = event.into_body();
            assert_eq!(check_event(&body, &window()), Ok(()), "{body:?}");
        }
    }

    /// `check(value) -> "field: problem"` or `ok`.
    fn check(r: Result<(), Violation>) -> String {
        match r {
            Ok(()) => "ok".into(),
            Err(v) => v.to_string(),
        }
    }

    #[test]
    fn ids() {
        let cases = [
            ("WO-1001", "ok"),
            ("工单-1", "ok"),
            ("", "id: is empty; expected an id"),
            (" WO-1", "id: \" WO-1\" starts or ends with a space"),
            (
                "WO\u{0}1",
                "id: holds the control or invisible character U+0000 at byte 2; ids are printable text",
            ),
            (
                "LOT-\u{202E}1-TOL",
                "id: holds the control or invisible character U+202E at byte 4; ids are printable text",
            ),
            (
                "A\u{200B}",
                "id: holds the control or invisible character U+200B at byte 1; ids are printable text",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(check(check_id("id", value)), expected, "{value:?}");
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            check(check_id("id", &long)),
            "id: is 65 bytes long; an id has at most 64"
        );
        assert_eq!(check(check_id("id", &"x".repeat(MAX_ID_LEN))), "ok");
    }

    #[test]
    fn quantities() {
        let q = |s: &str| s.parse::<Decimal>().unwrap();
        let cases = [
            ("25", "ok"),
            ("0.000001", "ok"),
            ("1000000000", "ok"),
            ("0", "qty: is 0; expected a quantity above zero"),
            ("-5", "qty: is -5; expected a quantity above zero"),
            (
                "1000000000.5",
                "qty: is 1000000000.5; at most 1000000000 are accepted in one event",
            ),
            (
                "79228162514264337593543950335",
                "qty: is 79228162514264337593543950335; at most 1000000000 are accepted in one event",
            ),
            (
                "0.0000001",
                "qty: is 0.0000001; at most 6 decimals are kept",
            ),
            ("2.5000000", "ok"),
        ];
        for (value, expected) in cases {
            assert_eq!(check(check_qty("qty", q(value))), expected, "{value}");
        }
    }

    #[test]
    fn times() {
        let w = window();
        let year = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(check(w.check("at", at())), "ok");
        assert!(check(w.check("at", year(1))).starts_with("at: is 0001-01-01"));
        assert!(check(w.check("at", DateTime::<Utc>::MAX_UTC)).starts_with("at: is +262142"));
        assert!(check(w.check("at", at() + TimeDelta::days(2))).contains("expected a time"));
        assert_eq!(check(w.check("at", at() + TimeDelta::hours(23))), "ok");
    }

    #[test]
    fn texts_and_codes() {
        assert_eq!(check(check_text("t", "jam at die 2")), "ok");
        assert_eq!(
            check(check_text("t", "a\nb")),
            "t: holds the control or invisible character U+000A at byte 1"
        );
        assert_eq!(
            check(check_code("raw", "]C1010950600013435210ABC\u{1d}17270131")),
            "ok"
        );
        assert_eq!(
            check(check_code("raw", "ab\u{0}")),
            "raw: holds the character U+0000 at byte 2, which no barcode carries"
        );
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        assert_eq!(
            check(check_text("t", &long)),
            "t: is 1025 bytes long; at most 1024 are kept"
        );
    }

    #[test]
    fn the_sample_plan_is_within_bounds_and_a_bad_one_is_named_field_by_field() {
        let plan = crate::plan::tests::sample_plan().content();
        assert_eq!(check_plan(&plan), Ok(()));
        let mut bad = plan.clone();
        bad.work_orders.push(bad.work_orders[0].clone());
        bad.work_orders[1].qty = Decimal::NEGATIVE_ONE;
        bad.work_orders[1].operations[0].description = "stamp\u{0}".into();
        bad.work_orders[1]
            .plc_parameters
            .insert("recipe".into(), serde_json::json!({"nested": [1, 2]}));
        bad.work_orders[1].made_for[0].customer = String::new();
        bad.work_orders[1].made_for[0].customer_name = "Hongda\u{7}".into();
        bad.operators.push(bad.operators[0].clone());
        let found: Vec<String> = check_plan(&bad)
            .unwrap_err()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "work_orders[1].work_order: WO-1001 appears twice; a plan names each work order once",
                "work_orders[1].qty: is -1; expected a quantity above zero",
                "work_orders[1].plc_parameters.recipe: must be a number, a boolean or a short text (at most 256 bytes); a PLC register holds nothing else",
                "work_orders[1].made_for[0].customer: is empty; expected an id",
                "work_orders[1].made_for[0].customer_name: holds the control or invisible character U+0007 at byte 6",
                "work_orders[1].operations[0].description: holds the control or invisible character U+0000 at byte 5",
                "operators[1].badge: 10442 appears twice; each badge is one person",
            ]
        );
    }

    #[test]
    fn the_open_order_lines_of_a_plan_are_bounded_and_each_problem_named() {
        let mut plan = crate::plan::tests::sample_plan().content();
        plan.shipments.push(plan.shipments[0].clone());
        plan.shipments[1].open_qty = Decimal::ZERO;
        plan.shipments[1].customer_name = "x".repeat(MAX_TEXT_LEN + 1);
        let found: Vec<String> = check_plan(&plan)
            .unwrap_err()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "shipments[1].line: line 1 of SO000001 appears twice; a plan names each order line once",
                "shipments[1].customer_name: is 1025 bytes long; at most 1024 are kept",
                "shipments[1].open_qty: is 0; expected a quantity above zero",
            ]
        );
        plan.shipments = vec![plan.shipments[0].clone(); crate::plan::MAX_PLAN_SHIPMENTS + 1];
        for (i, s) in plan.shipments.iter_mut().enumerate() {
            s.line = i as u32;
        }
        let found = check_plan(&plan).unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .to_string()
                .starts_with("shipments: has 2001 entries")
        );
    }

    #[test]
    fn a_lot_shipped_is_bounded_field_by_field() {
        let shipped = |shipment: &str, qty: Decimal| EventKind::LotShipped {
            order: "SO000001".into(),
            line: 1,
            item: "BRACKET".into(),
            lot: "FG-1".into(),
            qty,
            uom: "pcs".into(),
            location: "DOCK-A".into(),
            shipment: shipment.into(),
        };
        assert_eq!(check_kind(&shipped("S-1", Decimal::ONE)), Ok(()));
        let long = "s".repeat(MAX_ID_LEN + 1);
        assert!(
            check_kind(&shipped(&long, Decimal::ONE))
                .unwrap_err()
                .to_string()
                .starts_with("kind.shipment")
        );
        assert!(
            check_kind(&shipped("S-1", Decimal::ZERO))
                .unwrap_err()
                .to_string()
                .starts_with("kind.qty")
        );
    }

    #[test]
    fn spc_alarms_in_a_plan_are_bounded_and_each_problem_named() {
        let mut plan = crate::plan::tests::sample_plan().content();
        let alarm = |rule: u8, value: f64, station: &str| crate::PlanSpcAlarm {
            id: 1,
            station: station.into(),
            characteristic: "bore".into(),
            rule,
            value,
            at: chrono::DateTime::UNIX_EPOCH,
        };
        let rules = plan.rules.as_mut().unwrap();
        rules.spc_alarms = vec![
            alarm(1, 10.9, ""),
            alarm(0, f64::NAN, "st 10\n"),
            alarm(5, 1.0, "st-10"),
        ];
        let found: Vec<String> = check_plan(&plan)
            .unwrap_err()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("rules.spc_alarms[1].station"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("rules.spc_alarms[1].rule: is 0"),
            "{found:?}"
        );
        assert!(
            found[2].starts_with("rules.spc_alarms[1].value: is NaN"),
            "{found:?}"
        );
        assert!(
            found[3].starts_with("rules.spc_alarms[2].rule: is 5"),
            "{found:?}"
        );
        let rules = plan.rules.as_mut().unwrap();
        rules.spc_alarms = (0..=MAX_SPC_ALARMS)
            .map(|_| alarm(1, 1.0, "st-10"))
            .collect();
        assert_eq!(
            check_plan(&plan)
                .unwrap_err()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>(),
            ["rules.spc_alarms: has 101 entries; at most 100 are accepted"]
        );
    }

    #[test]
    fn a_plant_s_stop_reasons_are_bounded_and_each_problem_named() {
        let mut plan = crate::plan::tests::sample_plan().content();
        let rules = plan.rules.as_mut().unwrap();
        rules.stop_reasons.push(rules.stop_reasons[0].clone());
        rules.stop_reasons[1].code = " BREAK".into();
        rules.stop_reasons[1].name = "".into();
        rules.stop_reasons[1].name_zh = "休息\u{202E}".into();
        rules.stop_reasons[1].category = "x".repeat(MAX_TEXT_LEN + 1);
        let found: Vec<String> = check_plan(&plan)
            .unwrap_err()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "rules.stop_reasons[1].code: \" BREAK\" starts or ends with a space",
                "rules.stop_reasons[1].name: is empty; expected a reason code or text",
                "rules.stop_reasons[1].name_zh: holds the control or invisible character U+202E at byte 6",
                "rules.stop_reasons[1].category: is 1025 bytes long; at most 1024 are kept",
                "rules.stop_reasons[2].code: JAM appears twice; a plant lists each stop reason once",
            ]
        );
        let rules = plan.rules.as_mut().unwrap();
        rules.stop_reasons = (0..=MAX_STOP_REASONS)
            .map(|i| crate::PlanStopReason {
                code: format!("R{i}"),
                name: format!("reason {i}"),
                name_zh: String::new(),
                category: "breakdown".into(),
                planned: false,
            })
            .collect();
        assert_eq!(
            check_plan(&plan)
                .unwrap_err()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>(),
            ["rules.stop_reasons: has 501 entries; at most 500 are accepted"]
        );
    }

    #[test]
    fn a_stop_reason_names_a_stop_that_began_before_it_within_the_window() {
        let stop = |reason: &str, since: DateTime<Utc>| EventBody {
            id: crate::event::tests::id(1),
            at: at(),
            source: Source {
                device: None,
                station: Some("st-10".into()),
            },
            kind: EventKind::StopReasonGiven {
                reason: reason.into(),
                since,
            },
        };
        let w = window();
        assert_eq!(check(check_event(&stop("JAM", at()), &w)), "ok");
        assert_eq!(
            check(check_event(&stop("JAM", at() - TimeDelta::hours(3)), &w)),
            "ok"
        );
        assert_eq!(
            check(check_event(&stop("JAM", at() + TimeDelta::minutes(1)), &w)),
            "kind.since: is 2026-11-27T08:31:00+00:00, after the event's time 2026-11-27T08:30:00+00:00; a stop begins before its reason is given"
        );
        assert!(
            check(check_event(
                &stop("JAM", Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).unwrap()),
                &w
            ))
            .starts_with("kind.since: is 1999-01-01T00:00:00+00:00; expected a time between")
        );
        assert_eq!(
            check(check_event(&stop(" ", at()), &w)),
            "kind.reason: is empty; expected a reason code or text"
        );
        assert_eq!(
            check(check_event(&stop("jam\nagain", at()), &w)),
            "kind.reason: holds the control or invisible character U+000A at byte 3"
        );
    }

    #[test]
    fn sanitize_escapes_controls_and_cuts_long_text_at_a_character() {
        assert_eq!(sanitize_text("plain"), "plain");
        assert_eq!(sanitize_text("a\u{0}b\u{202E}c"), "a\\u{0}b\\u{202E}c");
        assert_eq!(sanitize("a\u{1d}b", 100, true), "a\u{1d}b");
        assert_eq!(sanitize("a\u{1d}b", 100, false), "a\\u{1D}b");
        let long = "工".repeat(1000);
        let cut = sanitize_text(&long);
        assert!(cut.len() <= MAX_TEXT_LEN, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(check(check_text("t", &cut)), "ok");
        // Whatever goes in, what comes out passes the check it was made for.
        for s in [
            "\u{0}".repeat(5000),
            "\u{7f}x".repeat(3000),
            "é".repeat(4000),
        ] {
            assert_eq!(check(check_text("t", &sanitize_text(&s))), "ok");
            assert_eq!(
                check(check_code("c", &sanitize(&s, MAX_CODE_LEN, true))),
                "ok"
            );
        }
    }

    #[test]
    fn events_name_the_field_that_is_out_of_bounds() {
        let mut events = sample_events("line-1");
        let EventKind::MaterialIssued { qty, .. } = &mut events[3].kind else {
            panic!()
        };
        *qty = Decimal::MAX;
        let body = events[3].clone().into_body();
        assert_eq!(
            check(check_event(&body, &window())),
            "kind.qty: is 79228162514264337593543950335; at most 1000000000 are accepted in one event"
        );
        let mut body = events[0].clone().into_body();
        body.source.station = Some("st\u{0}".into());
        assert!(check(check_event(&body, &window())).starts_with("source.station: holds"));
        let mut body = events[9].clone().into_body();
        body.kind = EventKind::Measurement {
            characteristic: "d".into(),
            value: f64::NAN,
            unit: "mm".into(),
            work_order: None,
        };
        assert_eq!(
            check(check_event(&body, &window())),
            "kind.value: is NaN; expected a finite number"
        );
    }
}
