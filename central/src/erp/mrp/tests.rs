//! Hand-computed textbook cases. Dates: 2025-01-06 is a Monday; the calendar is Monday to
//! Friday unless a case says otherwise. Each expectation is worked out in the comment above it.

use super::*;
use chrono::Weekday;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn q(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn item(id: &str, kind: ItemKind, lead_time_days: u32) -> Item {
    Item {
        lead_time_days,
        ..Item::new(id, kind)
    }
}

fn line(parent: &str, component: &str, qty_per: &str, scrap_pct: &str) -> BomLine {
    BomLine::new(parent, component, q(qty_per), q(scrap_pct))
}

fn dated(item: &str, qty: &str, due: &str, reference: &str) -> Dated {
    Dated {
        item: item.into(),
        qty: q(qty),
        due: d(due),
        reference: reference.into(),
    }
}

fn stock(item: &str, qty: &str) -> OnHand {
    OnHand {
        item: item.into(),
        qty: q(qty),
    }
}

fn input(items: Vec<Item>) -> MrpInput {
    MrpInput {
        as_of: d("2025-01-06"),
        items,
        ..Default::default()
    }
}

/// `item qty start due [pegs]` per planned order, compact enough to compare by eye.
fn orders(plan: &MrpPlan) -> Vec<String> {
    plan.planned_orders
        .iter()
        .map(|po| {
            format!(
                "{} {} {} {} {} [{}]",
                po.item,
                po.kind.as_str(),
                po.qty,
                po.start,
                po.due,
                po.pegged_to.join(",")
            )
        })
        .collect()
}

fn orders_with_references(plan: &MrpPlan) -> Vec<String> {
    plan.planned_orders
        .iter()
        .zip(orders(plan))
        .map(|(po, text)| format!("{} {text}", po.reference))
        .collect()
}

fn messages(plan: &MrpPlan) -> Vec<String> {
    plan.messages
        .iter()
        .map(|m| format!("{:?} {} {} {}", m.kind, m.reference, m.item, m.date))
        .collect()
}

/// A (make, lt 1) needs 2 B and 1 C; B (make, lt 2) needs 3 C; C (buy, lt 3) is a component
/// at level 1 and level 2, so its low-level code is 2 and it is planned once, after B.
///
/// - A: demand 10 on Fri 17th → planned 10, due 17th, start Thu 16th.
/// - B: 20 on 16th, on hand 5 → planned 15, due 16th, start Tue 14th.
/// - C: on 14th, service part SP-1 5 (independent, first) and 45 from B; on 16th 10 from A.
///   On hand 10 covers SP-1 and 5 of the 45 → planned 40 due 14th, start Thu 9th (Mon 13th,
///   Fri 10th, Thu 9th), pegged to B's order (full pegging: SO-1 only, not SP-1); then 10
///   due 16th, start Mon 13th, pegged to A's order.
#[test]
fn multi_level_with_a_shared_component_at_two_levels() {
    let mut input = input(vec![
        item("A", ItemKind::Make, 1),
        item("B", ItemKind::Make, 2),
        item("C", ItemKind::Buy, 3),
    ]);
    input.bom = vec![
        line("A", "B", "2", "0"),
        line("A", "C", "1", "0"),
        line("B", "C", "3", "0"),
    ];
    input.on_hand = vec![stock("B", "5"), stock("C", "4"), stock("C", "6")];
    input.demands = vec![
        dated("A", "10", "2025-01-17", "SO-1"),
        dated("C", "5", "2025-01-14", "SP-1"),
    ];
    let plan = run(&input).unwrap();
    assert_eq!(
        orders_with_references(&plan),
        [
            "PLN-000001 A make 10 2025-01-16 2025-01-17 [SO-1]",
            "PLN-000002 B make 15 2025-01-14 2025-01-16 [PLN-000001]",
            "PLN-000003 C buy 40 2025-01-09 2025-01-14 [PLN-000002]",
            "PLN-000004 C buy 10 2025-01-13 2025-01-16 [PLN-000001]",
        ]
    );
    assert!(plan.messages.is_empty());

    input.pegging = Pegging::Full;
    assert_eq!(
        orders_with_references(&run(&input).unwrap()),
        [
            "PLN-000001 A make 10 2025-01-16 2025-01-17 [SO-1]",
            "PLN-000002 B make 15 2025-01-14 2025-01-16 [SO-1]",
            "PLN-000003 C buy 40 2025-01-09 2025-01-14 [SO-1]",
            "PLN-000004 C buy 10 2025-01-13 2025-01-16 [SO-1]",
        ]
    );
}

#[test]
fn low_level_codes_put_a_component_below_its_deepest_parent() {
    let items = vec![
        item("C", ItemKind::Buy, 0),
        item("A", ItemKind::Make, 0),
        item("B", ItemKind::Make, 0),
    ];
    let children = vec![
        vec![],
        vec![(2, Decimal::ONE), (0, Decimal::ONE)],
        vec![(0, Decimal::ONE)],
    ];
    let (llc, order) = low_level_codes(&items, &children).unwrap();
    assert_eq!(llc, [2, 0, 1]);
    assert_eq!(order, [1, 2, 0]);
}

fn lot_sizing(rule: LotSizeRule, lot_qty: &str) -> Vec<String> {
    let mut x = item("X", ItemKind::Buy, 0);
    x.lot_size_rule = rule;
    x.lot_size_qty = q(lot_qty);
    let mut input = input(vec![x]);
    input.demands = vec![
        dated("X", "30", "2025-01-06", "D1"),
        dated("X", "50", "2025-01-08", "D2"),
        dated("X", "10", "2025-01-10", "D3"),
    ];
    orders(&run(&input).unwrap())
}

/// Demand 30 on Mon 6th, 50 on Wed 8th, 10 on Fri 10th; no stock, no lead time.
#[test]
fn lot_for_lot_orders_each_shortage() {
    assert_eq!(
        lot_sizing(LotSizeRule::Lfl, "0"),
        [
            "X buy 30 2025-01-06 2025-01-06 [D1]",
            "X buy 50 2025-01-08 2025-01-08 [D2]",
            "X buy 10 2025-01-10 2025-01-10 [D3]",
        ]
    );
}

/// Fixed 20: 30 needs two lots (10 left over); on the 8th the 10 left cover part of 50 and two
/// more lots cover 40; on the 10th one lot covers 10.
#[test]
fn fixed_orders_whole_lots_of_the_fixed_quantity() {
    assert_eq!(
        lot_sizing(LotSizeRule::Fixed, "20"),
        [
            "X buy 20 2025-01-06 2025-01-06 [D1]",
            "X buy 20 2025-01-06 2025-01-06 [D1,D2]",
            "X buy 20 2025-01-08 2025-01-08 [D2]",
            "X buy 20 2025-01-08 2025-01-08 [D2]",
            "X buy 20 2025-01-10 2025-01-10 [D3]",
        ]
    );
}

/// Min 45: 45 for 30 (15 left); 15 of the 50 from it, 35 short → 45 (10 left), which covers
/// the 10th.
#[test]
fn min_orders_at_least_the_minimum() {
    assert_eq!(
        lot_sizing(LotSizeRule::Min, "45"),
        [
            "X buy 45 2025-01-06 2025-01-06 [D1,D2]",
            "X buy 45 2025-01-08 2025-01-08 [D2,D3]",
        ]
    );
}

/// Multiple 25: 30 → 50 (20 left); 20 of the 50, 30 short → 50 (20 left), covers the 10th.
#[test]
fn multiple_rounds_up_to_a_multiple() {
    assert_eq!(
        lot_sizing(LotSizeRule::Multiple, "25"),
        [
            "X buy 50 2025-01-06 2025-01-06 [D1,D2]",
            "X buy 50 2025-01-08 2025-01-08 [D2,D3]",
        ]
    );
}

#[test]
fn fixed_lots_are_capped_per_day() {
    let mut x = item("X", ItemKind::Buy, 0);
    x.lot_size_rule = LotSizeRule::Fixed;
    x.lot_size_qty = q("1");
    let mut input = input(vec![x]);
    input.demands = vec![dated("X", "1000", "2025-01-06", "D1")];
    let plan = run(&input).unwrap();
    assert_eq!(plan.planned_orders.len(), MAX_FIXED_LOTS_PER_DAY);
    assert_eq!(plan.planned_orders[0].qty, q("1"));
    assert_eq!(plan.planned_orders.last().unwrap().qty, q("901"));
}

#[test]
fn a_lot_covers_every_requirement_of_its_day_at_once() {
    let mut input = input(vec![item("X", ItemKind::Buy, 0)]);
    input.demands = vec![
        dated("X", "3", "2025-01-07", "D1"),
        dated("X", "4", "2025-01-07", "D2"),
    ];
    assert_eq!(
        orders(&run(&input).unwrap()),
        ["X buy 7 2025-01-07 2025-01-07 [D1,D2]"]
    );
}

/// A has 10% assembly scrap: 100 good needs 110 started. B is 2 per A with 5% component scrap:
/// 110 × 2 × 1.05 = 231. With 7 A: 7.7 started, 7.7 × 2.1 = 16.17 B.
#[test]
fn scrap_factors_of_item_and_bom_line() {
    let mut a = item("A", ItemKind::Make, 0);
    a.scrap_pct = q("10");
    let mut input = input(vec![a, item("B", ItemKind::Buy, 0)]);
    input.bom = vec![line("A", "B", "2", "5")];
    input.pegging = Pegging::Full;
    input.demands = vec![dated("A", "100", "2025-01-10", "SO-1")];
    assert_eq!(
        orders(&run(&input).unwrap()),
        [
            "A make 110 2025-01-10 2025-01-10 [SO-1]",
            "B buy 231 2025-01-10 2025-01-10 [SO-1]",
        ]
    );
    input.demands = vec![dated("A", "7", "2025-01-10", "SO-2")];
    assert_eq!(
        orders(&run(&input).unwrap()),
        [
            "A make 7.7 2025-01-10 2025-01-10 [SO-2]",
            "B buy 16.17 2025-01-10 2025-01-10 [SO-2]",
        ]
    );
}

/// Safety stock 20, on hand 50. Textbook projected balance: 8th 50 − 40 = 10 < 20 → net 10
/// (balance back to 20); 10th 20 − 30 = −10 → net 30. Pegged to the demand, not the stock.
#[test]
fn safety_stock_is_kept_and_replenished() {
    let mut s = item("S", ItemKind::Buy, 0);
    s.safety_stock = q("20");
    let mut input = input(vec![s]);
    input.on_hand = vec![stock("S", "50")];
    input.demands = vec![
        dated("S", "40", "2025-01-08", "D1"),
        dated("S", "30", "2025-01-10", "D2"),
    ];
    assert_eq!(
        orders(&run(&input).unwrap()),
        [
            "S buy 10 2025-01-08 2025-01-08 [D1]",
            "S buy 30 2025-01-10 2025-01-10 [D2]",
        ]
    );
    // Below safety stock with no demand: replenish now, pegged to the safety stock.
    input.on_hand = vec![stock("S", "5")];
    input.demands.clear();
    assert_eq!(
        orders(&run(&input).unwrap()),
        ["S buy 15 2025-01-06 2025-01-06 [safety_stock:S]"]
    );
}

/// Lead time 3 across New Year 2025 (Wed 1st a holiday) and a weekend, from Mon 2024-12-30.
/// Due Mon 6th: Fri 3rd (1), Thu 2nd (2), Tue 31st (3), the holiday and the weekend skipped.
/// Due Sun 5th: due moves to Fri 3rd; start Thu 2nd (1), Tue 31st (2), Mon 30th (3).
#[test]
fn lead_time_offsetting_across_a_weekend_and_a_holiday() {
    let mut input = input(vec![
        item("P", ItemKind::Buy, 3),
        item("Q", ItemKind::Buy, 3),
    ]);
    input.as_of = d("2024-12-30");
    input.calendar = Calendar::new(
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
        [d("2025-01-01")],
    )
    .unwrap();
    input.demands = vec![
        dated("P", "1", "2025-01-06", "D1"),
        dated("Q", "1", "2025-01-05", "D2"),
    ];
    assert_eq!(
        orders(&run(&input).unwrap()),
        [
            "P buy 1 2024-12-31 2025-01-06 [D1]",
            "Q buy 1 2024-12-30 2025-01-03 [D2]",
        ]
    );
}

/// Receipts sorted by due: PO-2 30 on 8th, PO-1 50 on 10th, PO-3 20 on 15th. D1 40 on 7th takes
/// PO-2 (expedite to 7th) and 10 of PO-1 (expedite to 7th); D2 40 on 13th takes PO-1's other 40;
/// PO-3 is not needed (cancel). Item Q: PO-9 due 7th first needed on 14th (push out).
#[test]
fn action_messages_for_scheduled_receipts() {
    let mut input = input(vec![
        item("R", ItemKind::Buy, 0),
        item("Q", ItemKind::Buy, 0),
    ]);
    input.receipts = vec![
        dated("R", "50", "2025-01-10", "PO-1"),
        dated("R", "30", "2025-01-08", "PO-2"),
        dated("R", "20", "2025-01-15", "PO-3"),
        dated("Q", "100", "2025-01-07", "PO-9"),
    ];
    input.demands = vec![
        dated("R", "40", "2025-01-07", "D1"),
        dated("R", "40", "2025-01-13", "D2"),
        dated("Q", "10", "2025-01-14", "D9"),
    ];
    let plan = run(&input).unwrap();
    assert!(plan.planned_orders.is_empty(), "{:?}", orders(&plan));
    assert_eq!(
        messages(&plan),
        [
            "PushOut PO-9 Q 2025-01-14",
            "Expedite PO-2 R 2025-01-07",
            "Expedite PO-1 R 2025-01-07",
            "Cancel PO-3 R 2025-01-15",
        ]
    );
}

/// Receipts come before new orders: a shortage beyond all receipts is planned.
#[test]
fn receipts_then_planned_orders() {
    let mut input = input(vec![item("R", ItemKind::Buy, 1)]);
    input.on_hand = vec![stock("R", "5")];
    input.receipts = vec![dated("R", "10", "2025-01-08", "WO-7")];
    input.demands = vec![dated("R", "25", "2025-01-08", "D1")];
    let plan = run(&input).unwrap();
    assert_eq!(orders(&plan), ["R buy 10 2025-01-07 2025-01-08 [D1]"]);
    assert!(plan.messages.is_empty());
}

/// Past-due demand is required on the planning date; the start may lie in the past.
#[test]
fn past_due_demand_is_due_on_the_planning_date() {
    let mut input = input(vec![item("X", ItemKind::Buy, 2)]);
    input.demands = vec![dated("X", "1", "2024-12-20", "LATE")];
    assert_eq!(
        orders(&run(&input).unwrap()),
        ["X buy 1 2025-01-02 2025-01-06 [LATE]"]
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut input = input(vec![
        item("A", ItemKind::Make, 0),
        item("B", ItemKind::Make, 0),
    ]);
    input.bom = vec![line("A", "B", "1", "0"), line("B", "A", "1", "0")];
    let err = run(&input).unwrap_err();
    assert!(matches!(&err, MrpError::Cycle(c) if c.len() == 3), "{err}");

    input.bom = vec![line("A", "Z", "1", "0")];
    assert!(matches!(run(&input), Err(MrpError::UnknownItem { .. })));

    input.bom = vec![line("A", "B", "100000000000000000000", "0")];
    input.demands = vec![dated("A", "100000000000000000000", "2025-01-07", "D")];
    assert!(matches!(run(&input), Err(MrpError::Overflow(_))));

    input.bom.clear();
    input.demands = vec![dated("A", "-1", "2025-01-07", "D")];
    assert!(matches!(run(&input), Err(MrpError::Invalid(_))));

    let mut fixed = item("F", ItemKind::Buy, 0);
    fixed.lot_size_rule = LotSizeRule::Fixed;
    assert!(matches!(
        run(&self::input(vec![fixed])),
        Err(MrpError::Invalid(_))
    ));
}

#[test]
fn plan_json_has_the_api_shape() {
    let mut input = input(vec![item("X", ItemKind::Buy, 0)]);
    input.demands = vec![dated("X", "2.5", "2025-01-07", "D1")];
    input.receipts = vec![dated("X", "1", "2025-01-09", "PO-1")];
    let json = serde_json::to_value(run(&input).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "planned_orders": [{"reference": "PLN-000001", "item": "X", "kind": "buy", "qty": 1.5, "start": "2025-01-07",
                "due": "2025-01-07", "pegged_to": ["D1"], "late": false}],
            "messages": [{"kind": "expedite", "reference": "PO-1", "item": "X", "date": "2025-01-07"}]
        })
    );
}

/// Issue 12: a planned order whose lead time does not fit before its due date starts before
/// the planning date; it is `late`, with the calendar days from its start to `as_of`.
#[test]
fn a_start_before_the_planning_date_is_late_by_its_calendar_days() {
    let mut input = input(vec![item("X", ItemKind::Buy, 3)]);
    let as_of = input.as_of;
    input.demands = vec![
        dated("X", "1", &as_of.to_string(), "D-NOW"),
        dated("X", "1", "2025-03-03", "D-LATER"),
    ];
    let plan = run(&input).unwrap();
    let now = &plan.planned_orders[0];
    let days = (as_of - now.start).num_days();
    assert!(days > 0, "{now:?}");
    assert_eq!((now.late, now.days_late), (true, Some(days as u32)));
    let later = &plan.planned_orders[1];
    assert_eq!((later.late, later.days_late), (false, None), "{later:?}");
    let json = serde_json::to_value(now).unwrap();
    assert_eq!(json["days_late"], days);
    assert!(
        serde_json::to_value(later)
            .unwrap()
            .get("days_late")
            .is_none()
    );
}

#[test]
fn bom_cycles_are_found_and_named() {
    assert_eq!(find_bom_cycle([("A", "B"), ("B", "C")]), None);
    let cycle = find_bom_cycle([("X", "A"), ("A", "B"), ("B", "C"), ("C", "A")]).unwrap();
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    assert_eq!(cycle.first(), cycle.last());
}

fn effective(mut line: BomLine, from: Option<&str>, to: Option<&str>) -> BomLine {
    line.effective_from = from.map(d);
    line.effective_to = to.map(d);
    line
}

/// A (make, lt 1) needs 2 P; P is a phantom (its lead time 5 is ignored) of 3 C (buy, lt 2)
/// and 1 D (buy, lt 1, line scrap 10 %). P's on-hand 5 and safety stock 7 are ignored.
///
/// - A: SO-1 10 due Fri 17th → PLN-1, 10, start Thu 16th.
/// - P: 20 on 16th, blown through: C 60 and D 20 × 1.1 = 22 on the 16th, pegged to A's
///   order (P gets no order). SP-1, 1 P due Mon 20th, blows through as 3 C and 1.1 D on the
///   20th, pegged to SP-1.
/// - C (lt 2): 60 due 16th start Tue 14th; 3 due 20th start Thu 16th. D (lt 1): 22 due 16th
///   start 15th; 1.1 due 20th start Fri 17th.
#[test]
fn phantoms_are_blown_through_to_the_parents_order() {
    let mut input = input(vec![
        item("A", ItemKind::Make, 1),
        Item {
            phantom: true,
            safety_stock: q("7"),
            ..item("P", ItemKind::Make, 5)
        },
        item("C", ItemKind::Buy, 2),
        item("D", ItemKind::Buy, 1),
    ]);
    input.bom = vec![
        line("A", "P", "2", "0"),
        line("P", "C", "3", "0"),
        line("P", "D", "1", "10"),
    ];
    input.on_hand = vec![stock("P", "5")];
    input.demands = vec![
        dated("A", "10", "2025-01-17", "SO-1"),
        dated("P", "1", "2025-01-20", "SP-1"),
    ];
    let plan = run(&input).unwrap();
    assert_eq!(
        orders_with_references(&plan),
        [
            "PLN-000001 A make 10 2025-01-16 2025-01-17 [SO-1]",
            "PLN-000002 C buy 60 2025-01-14 2025-01-16 [PLN-000001]",
            "PLN-000003 C buy 3 2025-01-16 2025-01-20 [SP-1]",
            "PLN-000004 D buy 22 2025-01-15 2025-01-16 [PLN-000001]",
            "PLN-000005 D buy 1.1 2025-01-17 2025-01-20 [SP-1]",
        ]
    );

    input.pegging = Pegging::Full;
    let plan = run(&input).unwrap();
    assert_eq!(plan.planned_orders[1].pegged_to, ["SO-1"]);

    input.items[1].kind = ItemKind::Buy;
    let Err(MrpError::Invalid(message)) = run(&input) else {
        panic!("a phantom buy item was planned");
    };
    assert!(message.contains("phantom"), "{message}");
}

/// A (make, lt 2): revision 1 (since always) is 1 B; revision 2, effective from Wed 15th, is
/// 2 C. Each planned order explodes the revision in effect on its start date:
///
/// - SO-1 5 due Mon 13th → start Thu 9th → revision 1 → 5 B on the 9th.
/// - SO-3 1 due Thu 16th → start Tue 14th, the day before the change → 1 B on the 14th.
/// - SO-2 5 due Fri 17th → start Wed 15th → revision 2 → 10 C on the 15th.
///
/// With `effective_to` 2025-01-15 on revision 2, an order starting on the 16th finds nothing
/// in effect (revision 1 stays superseded), so it explodes no components.
#[test]
fn bom_revisions_take_effect_on_the_planned_orders_start_date() {
    let mut input = input(vec![
        item("A", ItemKind::Make, 2),
        item("B", ItemKind::Buy, 0),
        item("C", ItemKind::Buy, 0),
    ]);
    input.bom = vec![
        line("A", "B", "1", "0"),
        effective(line("A", "C", "2", "0"), Some("2025-01-15"), None),
    ];
    input.demands = vec![
        dated("A", "5", "2025-01-13", "SO-1"),
        dated("A", "5", "2025-01-17", "SO-2"),
        dated("A", "1", "2025-01-16", "SO-3"),
    ];
    let plan = run(&input).unwrap();
    assert_eq!(
        orders_with_references(&plan),
        [
            "PLN-000001 A make 5 2025-01-09 2025-01-13 [SO-1]",
            "PLN-000002 A make 1 2025-01-14 2025-01-16 [SO-3]",
            "PLN-000003 A make 5 2025-01-15 2025-01-17 [SO-2]",
            "PLN-000004 B buy 5 2025-01-09 2025-01-09 [PLN-000001]",
            "PLN-000005 B buy 1 2025-01-14 2025-01-14 [PLN-000002]",
            "PLN-000006 C buy 10 2025-01-15 2025-01-15 [PLN-000003]",
        ]
    );

    // Revision 2 ends on the 15th: an order starting on the 16th (SO-4 due Mon 20th) has no
    // revision in effect and explodes nothing.
    input.bom[1] = effective(
        line("A", "C", "2", "0"),
        Some("2025-01-15"),
        Some("2025-01-15"),
    );
    input.demands = vec![
        dated("A", "5", "2025-01-17", "SO-2"),
        dated("A", "2", "2025-01-20", "SO-4"),
    ];
    assert_eq!(
        orders(&run(&input).unwrap()),
        [
            "A make 5 2025-01-15 2025-01-17 [SO-2]",
            "A make 2 2025-01-16 2025-01-20 [SO-4]",
            "C buy 10 2025-01-15 2025-01-15 [PLN-000001]",
        ]
    );

    // Two lines of one revision with different ends are refused.
    input.bom.push(effective(
        line("A", "B", "1", "0"),
        Some("2025-01-15"),
        None,
    ));
    assert!(matches!(run(&input), Err(MrpError::Invalid(_))));
}

/// A (make, lt 1) needs 1 B (buy, item lead time 5) and 1 C (buy, lt 3, no supplier). B's
/// preferred supplier S1 quotes 2 days (S2, not preferred, 1 day).
///
/// - A: 4 due Fri 17th → start Thu 16th.
/// - B: 4 due 16th, offset by S1's 2 days → start Tue 14th (not Thu 9th), supplier S1.
/// - C: 4 due 16th, item lead time 3 → start Mon 13th, no supplier.
#[test]
fn preferred_supplier_lead_time_offsets_buy_items() {
    let mut input = input(vec![
        item("A", ItemKind::Make, 1),
        item("B", ItemKind::Buy, 5),
        item("C", ItemKind::Buy, 3),
    ]);
    input.bom = vec![line("A", "B", "1", "0"), line("A", "C", "1", "0")];
    input.demands = vec![dated("A", "4", "2025-01-17", "SO-1")];
    let terms = |supplier: &str, item: &str, lead_time_days, preferred| SupplierItem {
        supplier: supplier.into(),
        item: item.into(),
        lead_time_days,
        preferred,
    };
    input.supplier_items = vec![
        terms("S1", "B", 2, true),
        terms("S2", "B", 1, false),
        terms("S3", "A", 9, true),
    ];
    let plan = run(&input).unwrap();
    assert_eq!(
        orders(&plan),
        [
            "A make 4 2025-01-16 2025-01-17 [SO-1]",
            "B buy 4 2025-01-14 2025-01-16 [PLN-000001]",
            "C buy 4 2025-01-13 2025-01-16 [PLN-000001]",
        ]
    );
    let suppliers: Vec<Option<&str>> = plan
        .planned_orders
        .iter()
        .map(|po| po.supplier.as_deref())
        .collect();
    assert_eq!(suppliers, [None, Some("S1"), None], "make items name none");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["planned_orders"][1]["supplier"], "S1");
    assert!(json["planned_orders"][2].get("supplier").is_none());

    input.supplier_items.push(terms("S2", "B", 1, true));
    let Err(MrpError::Invalid(message)) = run(&input) else {
        panic!("two preferred suppliers were accepted");
    };
    assert!(message.contains("two preferred suppliers"), "{message}");
}
