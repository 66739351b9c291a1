//! Output against plan and on-time delivery of work orders (issue 15, head office), without
//! I/O: the API hands in a plant's orders due in a period and the plant's local date.
//!
//! The definitions, as a planner reads them:
//! - The orders of a period are those **due** in it (their due date, a local date of the
//!   plant, from the period's first day to its last), whatever their state but cancelled: a
//!   cancelled order is no longer part of the plan.
//! - **Output against plan** is the good quantity those orders made (good at their last
//!   operation, whenever it was made) over the quantity they were planned to make (their
//!   quantity).
//! - An order is **on time** when it was completed (the edge's `work_order_completed`) on or
//!   before its due date in the plant's time zone, **late** when completed after it, **open
//!   past due** when not completed and its due date has passed, and **not yet due** when not
//!   completed and due today or later. The on-time rate is on time over on time + late + open
//!   past due: the orders whose outcome is known.

use super::work_order::State;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// One order as delivery counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueOrder {
    pub qty: Decimal,
    pub due: NaiveDate,
    pub state: State,
    /// Good at its last operation.
    pub good: u64,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The delivery figures of a set of orders due in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Orders due in the period (cancelled ones left out).
    pub due: u64,
    /// Their quantity: what they were planned to make.
    pub planned_qty: Decimal,
    /// The good quantity they made (at their last operation).
    pub good: u64,
    /// `good / planned_qty`; `None` when nothing was planned.
    pub output_vs_plan: Option<f64>,
    pub on_time: u64,
    pub late: u64,
    pub open_past_due: u64,
    pub not_yet_due: u64,
    /// `on_time / (on_time + late + open_past_due)`; `None` when no outcome is known.
    pub on_time_rate: Option<f64>,
}

/// Whether an order counts in delivery at all.
pub fn counts(state: State) -> bool {
    state != State::Cancelled
}

/// The figures of `orders` (already those due in the period) for a plant whose local date is
/// `today`, in time zone `tz`. A completed order without a completion time counts as late.
pub fn delivery<'a>(
    orders: impl IntoIterator<Item = &'a DueOrder>,
    tz: chrono_tz::Tz,
    today: NaiveDate,
) -> Delivery {
    let mut d = Delivery::default();
    for o in orders {
        if !counts(o.state) {
            continue;
        }
        d.due = d.due.saturating_add(1);
        d.planned_qty = d.planned_qty.checked_add(o.qty).unwrap_or(Decimal::MAX);
        d.good = d.good.saturating_add(o.good);
        let done = matches!(o.state, State::Completed | State::Closed);
        let counter = if done {
            match o.completed_at {
                Some(at) if at.with_timezone(&tz).date_naive() <= o.due => &mut d.on_time,
                _ => &mut d.late,
            }
        } else if o.due < today {
            &mut d.open_past_due
        } else {
            &mut d.not_yet_due
        };
        *counter = counter.saturating_add(1);
    }
    let planned = d.planned_qty.to_f64().unwrap_or(0.0);
    d.output_vs_plan = (planned > 0.0).then(|| d.good as f64 / planned);
    let known = d.on_time + d.late + d.open_past_due;
    d.on_time_rate = (known > 0).then(|| d.on_time as f64 / known as f64);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn order(qty: i64, due: &str, state: State, good: u64, done: Option<&str>) -> DueOrder {
        DueOrder {
            qty: Decimal::from(qty),
            due: day(due),
            state,
            good,
            completed_at: done.map(|t| DateTime::parse_from_rfc3339(t).unwrap().to_utc()),
        }
    }

    /// Each case: orders, today, and (due, planned, good, on time, late, open past due, not
    /// yet due).
    #[test]
    fn on_time_late_open_and_output_worked_by_hand() {
        let tz = chrono_tz::Asia::Shanghai;
        type Expect = (u64, i64, u64, u64, u64, u64, u64);
        let cases: Vec<(&str, Vec<DueOrder>, &str, Expect)> = vec![
            ("nothing due", vec![], "2026-12-06", (0, 0, 0, 0, 0, 0, 0)),
            (
                // Completed at 23:30 local on its due day: on time; at 00:30 local the next
                // day (16:30 UTC the due day): late.
                "the plant's day decides",
                vec![
                    order(
                        100,
                        "2026-12-01",
                        State::Completed,
                        100,
                        Some("2026-12-01T15:30:00Z"),
                    ),
                    order(
                        50,
                        "2026-12-01",
                        State::Closed,
                        40,
                        Some("2026-12-01T16:30:00Z"),
                    ),
                ],
                "2026-12-06",
                (2, 150, 140, 1, 1, 0, 0),
            ),
            (
                "open past due, due today, cancelled left out",
                vec![
                    order(200, "2026-12-05", State::InProgress, 120, None),
                    order(80, "2026-12-06", State::Released, 0, None),
                    order(70, "2026-12-04", State::Cancelled, 10, None),
                    order(30, "2026-12-03", State::Planned, 0, None),
                ],
                "2026-12-06",
                (3, 310, 120, 0, 0, 2, 1),
            ),
            (
                "completed without a time counts as late",
                vec![order(10, "2026-12-05", State::Completed, 10, None)],
                "2026-12-06",
                (1, 10, 10, 0, 1, 0, 0),
            ),
        ];
        for (name, orders, today, expect) in cases {
            let d = delivery(&orders, tz, day(today));
            let got = (
                d.due,
                d.planned_qty.to_i64().unwrap(),
                d.good,
                d.on_time,
                d.late,
                d.open_past_due,
                d.not_yet_due,
            );
            assert_eq!(got, expect, "{name}");
            let known = expect.3 + expect.4 + expect.5;
            assert_eq!(
                d.on_time_rate,
                (known > 0).then(|| expect.3 as f64 / known as f64),
                "{name}"
            );
            assert_eq!(
                d.output_vs_plan,
                (expect.1 > 0).then(|| expect.2 as f64 / expect.1 as f64),
                "{name}"
            );
        }
    }
}
