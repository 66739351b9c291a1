//! A generated plant and orders for timing the promise engine (`mes bench promise`),
//! deterministic for a seed.
//!
//! The plant is MRP's benchmark plant ([`crate::erp::bench::generate_plant`]) cut to four
//! levels (10k items, 30k BOM lines, families and common parts as there, 1% phantoms), its
//! demands turned into holds (other orders' lines), its scheduled receipts and stock kept.
//! On top, from a stream of its own: 50 work centers of 8, 16 or 24 hours a day, loaded 30% to
//! 100% on each of the first 120 working days, and a routing of one to three operations for
//! every make item that is not a phantom (setup 0 to 2 hours, 0.005 to 0.1 hours a unit).
//! Orders have lines on finished items (one in five on any item, as a spare part), 1 to 100
//! units, requested within 60 days.

use super::{Load, Operation, OrderLine, PlantInput, WorkCenter};
use crate::erp::bench::{PlantSize, generate_plant};
use crate::erp::mrp::ItemKind;
use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

/// The plant's size.
pub const PLANT: PlantSize = PlantSize {
    items: 10_000,
    levels: 4,
    bom_lines: 30_000,
    demands: 5_000,
    receipts: 2_000,
    families: 20,
    phantoms_per_mille: 10,
    suppliers: false,
};
pub const WORK_CENTERS: usize = 50;
/// Working days from `as_of` with load on them.
pub const LOADED_DAYS: usize = 120;

/// The planning date of the generated plant (a Monday).
pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or_default()
}

/// The generated plant for `seed`.
pub fn generated_plant(seed: u64) -> PlantInput {
    let as_of = as_of();
    let mrp = generate_plant(PLANT, seed, as_of);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9c0f_15e0_da7e_0016);
    let work_centers: Vec<WorkCenter> = (0..WORK_CENTERS)
        .map(|w| WorkCenter {
            work_center: format!("WC{w:02}"),
            hours_per_day: Decimal::from(8 * rng.random_range(1..=3)),
        })
        .collect();
    let mut routings = Vec::new();
    for item in mrp
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Make && !i.phantom)
    {
        for n in 0..rng.random_range(1..=3u32) {
            routings.push(Operation {
                item: item.item.clone(),
                operation: (n + 1) * 10,
                work_center: work_centers[rng.random_range(0..WORK_CENTERS)]
                    .work_center
                    .clone(),
                setup_hours: Decimal::new(rng.random_range(0..=20), 1),
                run_hours_per_unit: Decimal::new(rng.random_range(5..=100), 3),
            });
        }
    }
    let mut loads = Vec::new();
    let mut day = as_of;
    let mut n_days = 0;
    while n_days < LOADED_DAYS {
        if mrp.calendar.is_working(day) {
            for wc in &work_centers {
                let pct = rng.random_range(30..=100);
                loads.push(Load {
                    work_center: wc.work_center.clone(),
                    date: day,
                    hours: wc.hours_per_day * Decimal::from(pct) / Decimal::ONE_HUNDRED,
                });
            }
            n_days += 1;
        }
        day = day.checked_add_days(Days::new(1)).unwrap_or(day);
    }
    PlantInput {
        as_of,
        calendar: mrp.calendar,
        items: mrp.items,
        bom: mrp.bom,
        routings,
        work_centers,
        loads,
        on_hand: mrp.on_hand,
        receipts: mrp.receipts,
        holds: mrp.demands,
    }
}

/// An order of `lines` lines on `plant`, deterministic for `seed`.
pub fn generated_order(plant: &PlantInput, seed: u64, lines: usize) -> Vec<OrderLine> {
    let mut rng = StdRng::seed_from_u64(seed);
    let finished: Vec<&str> = plant
        .items
        .iter()
        .filter(|i| i.item.ends_with("-L0"))
        .map(|i| i.item.as_str())
        .collect();
    (0..lines)
        .filter_map(|_| {
            let item = if finished.is_empty() || rng.random_range(0..5) == 0 {
                &plant
                    .items
                    .get(rng.random_range(0..plant.items.len().max(1)))?
                    .item
            } else {
                finished[rng.random_range(0..finished.len())]
            };
            Some(OrderLine {
                item: item.to_owned(),
                qty: Decimal::from(rng.random_range(1..=100)),
                requested: plant
                    .as_of
                    .checked_add_days(Days::new(rng.random_range(0..=60)))
                    .unwrap_or(plant.as_of),
            })
        })
        .collect()
}

/// What [`time_orders`] measured.
#[derive(Debug, Clone)]
pub struct Timing {
    pub items: usize,
    pub bom_lines: usize,
    pub operations: usize,
    /// [`super::Plant::new`] on the whole plant, once.
    pub index: Duration,
    /// [`super::Plant::promise`] of each order, sorted.
    pub orders: Vec<Duration>,
    pub lines: usize,
    /// Lines promised after their requested date.
    pub late_lines: usize,
    /// Lines by the code of their limit, in code order.
    pub by_limit: Vec<(&'static str, usize)>,
}

impl Timing {
    /// The `p`-th percentile (0 to 100) of the orders' times, nearest rank.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.orders.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.orders.len() as f64).ceil() as usize;
        self.orders[rank.clamp(1, self.orders.len()) - 1]
    }
}

/// Indexes the generated plant of `seed` once, then promises `orders` orders of `lines` lines
/// on it, each timed alone.
pub fn time_orders(seed: u64, orders: usize, lines: usize) -> Result<Timing, super::PromiseError> {
    let plant_input = generated_plant(seed);
    let t = Instant::now();
    let plant = super::Plant::new(&plant_input)?;
    let index = t.elapsed();
    let mut times = Vec::with_capacity(orders);
    let mut n_lines = 0;
    let mut late_lines = 0;
    let mut by_limit: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for k in 0..orders {
        let order = generated_order(&plant_input, seed.wrapping_add(1 + k as u64), lines);
        let t = Instant::now();
        let promised = plant.promise(&order)?;
        times.push(t.elapsed());
        for line in &promised {
            n_lines += 1;
            late_lines += usize::from(line.promised > line.requested);
            *by_limit.entry(line.limit.code()).or_default() += 1;
        }
    }
    times.sort_unstable();
    Ok(Timing {
        items: plant_input.items.len(),
        bom_lines: plant_input.bom.len(),
        operations: plant_input.routings.len(),
        index,
        orders: times,
        lines: n_lines,
        late_lines,
        by_limit: by_limit.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_plant_promises_every_order_the_same_way_twice() {
        let input = generated_plant(7);
        assert_eq!(input.items.len(), 10_000);
        assert_eq!(input.work_centers.len(), WORK_CENTERS);
        let plant = super::super::Plant::new(&input).unwrap();
        for seed in 0..3 {
            let order = generated_order(&input, seed, 20);
            assert_eq!(order.len(), 20);
            let a = plant.promise(&order).unwrap();
            let b = plant.promise(&order).unwrap();
            assert_eq!(a, b);
            for line in &a {
                assert!(line.promised >= input.as_of);
                let total: Decimal = line.parts.iter().map(|p| p.qty).sum();
                assert_eq!(total, line.qty, "{line:?}");
            }
        }
    }

    /// `cargo test --release -p central --lib -- --ignored --nocapture promise_timing`;
    /// `mes bench promise` is the recorded figure.
    #[test]
    #[ignore = "timing; run in release with --ignored --nocapture"]
    fn promise_timing() {
        let timing = time_orders(42, 200, 20).unwrap();
        eprintln!(
            "index {:?}; p50 {:?} p95 {:?} p99 {:?} max {:?}; {} lines, {} late, {:?}",
            timing.index,
            timing.percentile(50.0),
            timing.percentile(95.0),
            timing.percentile(99.0),
            timing.percentile(100.0),
            timing.lines,
            timing.late_lines,
            timing.by_limit
        );
    }
}
