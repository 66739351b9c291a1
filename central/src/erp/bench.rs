//! A generated plant for the MRP benchmark (`mes bench mrp`): deterministic for a seed.
//!
//! Levels 0 to `levels - 1`; level sizes grow towards the raw materials (weights 1, 2, 3, …,
//! the last level repeating the one before it). Every item above the last level is a make item
//! with components; the last level is bought. A BOM line's component sits on the next level
//! with probability 0.7 and on any deeper level otherwise, so components are shared across
//! levels. Components stay within their product family (`families`), except for a pool of
//! common parts (a tenth of each lower level) that every family draws on. Demands fall on level-0 items (and one in twenty on a component, as service parts)
//! over the 13 weeks after `as_of`.
//!
//! Master data beyond that, drawn from a second random stream so that the items, BOM and
//! demands above stay those of earlier figures: `phantoms_per_mille` of the make items below
//! level 0 are phantoms (blown through), and half of the buy items have one to three suppliers,
//! one of them preferred with its own lead time. Unit conversions cost the engine nothing
//! (quantities reach it in base units), so the plant has none.

use super::calendar::Calendar;
use super::mrp::{BomLine, Dated, Item, ItemKind, LotSizeRule, MrpInput, OnHand, SupplierItem};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy)]
pub struct PlantSize {
    pub items: usize,
    pub levels: usize,
    pub bom_lines: usize,
    pub demands: usize,
    pub receipts: usize,
    /// Product families; components stay in their family, or come from a common pool.
    /// 1: one family, components drawn from the whole next levels (a worst case).
    pub families: usize,
    /// Make items below level 0 that are phantoms, per thousand.
    pub phantoms_per_mille: u32,
    /// Whether buy items get suppliers (half of them, one to three each, one preferred).
    pub suppliers: bool,
}

impl Default for PlantSize {
    fn default() -> Self {
        PlantSize {
            items: 10_000,
            levels: 6,
            bom_lines: 100_000,
            demands: 10_000,
            receipts: 2_000,
            families: 20,
            phantoms_per_mille: 10,
            suppliers: true,
        }
    }
}

/// Builds the plant. `levels` is at least 2; `items` at least `levels`.
pub fn generate_plant(size: PlantSize, seed: u64, as_of: NaiveDate) -> MrpInput {
    let levels = size.levels.max(2);
    let n_items = size.items.max(levels);
    let mut rng = StdRng::seed_from_u64(seed);
    let weights: Vec<usize> = (0..levels).map(|l| (l + 1).min(levels - 1)).collect();
    let total: usize = weights.iter().sum();
    let mut level_of = Vec::with_capacity(n_items);
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); levels];
    for (l, w) in weights.iter().enumerate() {
        let count = if l == levels - 1 {
            n_items - level_of.len()
        } else {
            (n_items * w / total).max(1)
        };
        for _ in 0..count {
            by_level[l].push(level_of.len());
            level_of.push(l);
        }
    }
    let items: Vec<Item> = level_of
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let kind = if l + 1 == levels {
                ItemKind::Buy
            } else {
                ItemKind::Make
            };
            // Requirements grow about tenfold a level down; so do sensible lot sizes.
            let scale = 10i64.pow(l.min(12) as u32);
            let (rule, qty) = match rng.random_range(0..20) {
                0..12 => (LotSizeRule::Lfl, 0),
                12..15 => (LotSizeRule::Fixed, rng.random_range(10..200) * scale),
                15..18 => (LotSizeRule::Min, rng.random_range(10..200) * scale),
                _ => (LotSizeRule::Multiple, rng.random_range(5..50) * scale),
            };
            let safety_stock = if kind == ItemKind::Buy && rng.random_bool(0.2) {
                rng.random_range(10..100)
            } else {
                0
            };
            Item {
                item: format!("I{i:05}-L{l}"),
                kind,
                lead_time_days: rng.random_range(1..=10),
                lot_size_rule: rule,
                lot_size_qty: Decimal::from(qty),
                safety_stock: Decimal::from(safety_stock),
                scrap_pct: if rng.random_bool(0.1) {
                    Decimal::from(rng.random_range(1..5))
                } else {
                    Decimal::ZERO
                },
                phantom: false,
            }
        })
        .collect();

    // Families: an item belongs to family `position % families`, except that the first tenth
    // of every level from the middle down is a pool of common parts all families use.
    let families = size.families.max(1);
    let mut family_pool: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); families]; levels];
    let mut common: Vec<Vec<usize>> = vec![Vec::new(); levels];
    let mut family_of = vec![usize::MAX; n_items];
    for (l, members) in by_level.iter().enumerate() {
        let n_common = if families > 1 && l >= levels / 2 {
            members.len() / 10
        } else {
            0
        };
        for (pos, &i) in members.iter().enumerate() {
            if pos < n_common {
                common[l].push(i);
            } else {
                family_of[i] = pos % families;
                family_pool[l][pos % families].push(i);
            }
        }
    }
    let parents: Vec<usize> = (0..levels - 1).flat_map(|l| by_level[l].clone()).collect();
    let mut seen = HashSet::with_capacity(size.bom_lines);
    let mut bom = Vec::with_capacity(size.bom_lines);
    let mut attempts = 0usize;
    while bom.len() < size.bom_lines && attempts < size.bom_lines * 20 && !parents.is_empty() {
        let parent = parents[attempts % parents.len()];
        attempts += 1;
        let l = level_of[parent];
        let cl = if rng.random_bool(0.7) {
            l + 1
        } else {
            rng.random_range(l + 1..levels)
        };
        let f = family_of[parent];
        let pool = if f == usize::MAX || (!common[cl].is_empty() && rng.random_bool(0.15)) {
            &common[cl]
        } else {
            &family_pool[cl][f]
        };
        let pool = if pool.is_empty() { &by_level[cl] } else { pool };
        let component = pool[rng.random_range(0..pool.len())];
        if !seen.insert((parent, component)) {
            continue;
        }
        bom.push(BomLine::new(
            items[parent].item.clone(),
            items[component].item.clone(),
            Decimal::from(match rng.random_range(0..10) {
                0..7 => 1,
                7..9 => 2,
                _ => rng.random_range(3..=4),
            }),
            if rng.random_bool(0.1) {
                Decimal::new(rng.random_range(5..50), 1)
            } else {
                Decimal::ZERO
            },
        ));
    }

    let day = |rng: &mut StdRng| {
        as_of
            .checked_add_days(chrono::Days::new(rng.random_range(0..91)))
            .unwrap_or(as_of)
    };
    let demands = (0..size.demands)
        .map(|k| {
            let i = if k % 20 == 19 {
                rng.random_range(0..n_items)
            } else {
                by_level[0][rng.random_range(0..by_level[0].len())]
            };
            Dated {
                item: items[i].item.clone(),
                qty: Decimal::from(rng.random_range(1..=50)),
                due: day(&mut rng),
                reference: format!("SO-{k:06}"),
            }
        })
        .collect();
    let receipts = (0..size.receipts)
        .map(|k| {
            let i = rng.random_range(0..n_items);
            Dated {
                item: items[i].item.clone(),
                qty: Decimal::from(rng.random_range(10..500)),
                due: day(&mut rng),
                reference: format!(
                    "{}-{k:06}",
                    if items[i].kind == ItemKind::Buy {
                        "PO"
                    } else {
                        "WO"
                    }
                ),
            }
        })
        .collect();
    // The second stream: phantoms and suppliers.
    let mut rng2 = StdRng::seed_from_u64(seed ^ 0x5eed_0f0a_57e2_da7a);
    let mut items = items;
    for (i, item) in items.iter_mut().enumerate() {
        if item.kind == ItemKind::Make
            && level_of[i] > 0
            && rng2.random_range(0..1000) < size.phantoms_per_mille
        {
            item.phantom = true;
        }
    }
    let mut supplier_items = Vec::new();
    if size.suppliers {
        for item in items.iter().filter(|i| i.kind == ItemKind::Buy) {
            if !rng2.random_bool(0.5) {
                continue;
            }
            let n = rng2.random_range(1..=3);
            let preferred = rng2.random_range(0..n);
            for k in 0..n {
                supplier_items.push(SupplierItem {
                    supplier: format!("S{:03}", rng2.random_range(0..200)),
                    item: item.item.clone(),
                    lead_time_days: rng2.random_range(1..=10),
                    preferred: k == preferred,
                });
            }
        }
    }
    let mut on_hand = Vec::new();
    for item in &items {
        if rng.random_bool(0.5) {
            on_hand.push(OnHand {
                item: item.item.clone(),
                qty: Decimal::from(rng.random_range(0..1000)),
            });
        }
    }
    MrpInput {
        pegging: Default::default(),
        as_of,
        calendar: Calendar::default(),
        items,
        bom,
        on_hand,
        demands,
        receipts,
        supplier_items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_plant_has_every_level_and_plans() {
        let size = PlantSize {
            items: 200,
            levels: 6,
            bom_lines: 1000,
            demands: 100,
            receipts: 20,
            families: 4,
            phantoms_per_mille: 50,
            suppliers: true,
        };
        let input = generate_plant(size, 7, "2025-01-06".parse().unwrap());
        assert_eq!(input.items.len(), 200);
        assert_eq!(input.bom.len(), 1000);
        assert!(input.items.iter().any(|i| i.phantom));
        assert!(input.supplier_items.iter().any(|s| s.preferred));
        let plan = super::super::mrp::run(&input).unwrap();
        let phantoms: std::collections::HashSet<&str> = input
            .items
            .iter()
            .filter(|i| i.phantom)
            .map(|i| i.item.as_str())
            .collect();
        assert!(
            plan.planned_orders
                .iter()
                .all(|po| !phantoms.contains(po.item.as_str())),
            "phantoms are never planned"
        );
        assert!(!plan.planned_orders.is_empty());
        assert!(
            plan.planned_orders
                .iter()
                .any(|po| po.item.ends_with("-L5"))
        );
    }

    /// The full-size plant, timed (`cargo test --release -p central -- --ignored --nocapture
    /// full_size`); `mes bench mrp` is the recorded figure.
    #[test]
    #[ignore = "timing of the full-size plant; run in release with --ignored --nocapture"]
    fn full_size_plant_timing() {
        let mut size = PlantSize::default();
        if let Some(n) = std::env::var("PLANT_DEMANDS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            size.demands = n;
        }
        if let Some(n) = std::env::var("PLANT_FAMILIES")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            size.families = n;
        }
        if let Some(n) = std::env::var("PLANT_PHANTOMS_PER_MILLE")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            size.phantoms_per_mille = n;
        }
        if std::env::var("PLANT_SUPPLIERS").is_ok_and(|v| v == "0") {
            size.suppliers = false;
        }
        let mut input = generate_plant(size, 42, "2025-01-06".parse().unwrap());
        if std::env::var("PLANT_PEGGING").is_ok_and(|v| v == "full") {
            input.pegging = super::super::mrp::Pegging::Full;
        }
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let plan = super::super::mrp::run(&input).unwrap();
            let pegs: usize = plan.planned_orders.iter().map(|p| p.pegged_to.len()).sum();
            let mut by_rule = std::collections::HashMap::new();
            let rules: std::collections::HashMap<&str, _> = input
                .items
                .iter()
                .map(|i| (i.item.as_str(), i.lot_size_rule))
                .collect();
            for po in &plan.planned_orders {
                *by_rule
                    .entry(format!("{:?}", rules[po.item.as_str()]))
                    .or_insert(0) += 1;
            }
            eprintln!("{by_rule:?}");
            eprintln!(
                "mrp: {:?}, {} planned orders, {} messages, {} pegs",
                t.elapsed(),
                plan.planned_orders.len(),
                plan.messages.len(),
                pegs
            );
        }
    }
}
