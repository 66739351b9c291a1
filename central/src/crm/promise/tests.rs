//! Worked by hand. The calendar is Monday to Friday; `as_of` is Monday 2025-01-06 unless a
//! test says otherwise. A line's answer is written
//! `PROMISED: QTY@DATE LIMIT, …` with limits as `stock`, `receipt(REF DATE)`,
//! `lead_time(ITEM DAYS)`, `component(ITEM LIMIT)`, `capacity(WC FIRST_FREE_DAY)`.

use super::*;
use chrono::Weekday;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn q(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn plant() -> PlantInput {
    PlantInput {
        as_of: d("2025-01-06"),
        ..Default::default()
    }
}

fn buy(p: &mut PlantInput, item: &str, lead_time_days: u32) {
    let mut i = Item::new(item, ItemKind::Buy);
    i.lead_time_days = lead_time_days;
    p.items.push(i);
}

fn make(p: &mut PlantInput, item: &str) {
    p.items.push(Item::new(item, ItemKind::Make));
}

fn bom(p: &mut PlantInput, parent: &str, component: &str, qty_per: &str) {
    p.bom
        .push(BomLine::new(parent, component, q(qty_per), Decimal::ZERO));
}

fn stock(p: &mut PlantInput, item: &str, qty: &str) {
    p.on_hand.push(OnHand {
        item: item.into(),
        qty: q(qty),
    });
}

fn dated(item: &str, qty: &str, due: &str, reference: &str) -> Dated {
    Dated {
        item: item.into(),
        qty: q(qty),
        due: d(due),
        reference: reference.into(),
    }
}

fn work_center(p: &mut PlantInput, wc: &str, hours: &str) {
    p.work_centers.push(WorkCenter {
        work_center: wc.into(),
        hours_per_day: q(hours),
    });
}

fn op(p: &mut PlantInput, item: &str, wc: &str, setup: &str, run: &str) {
    let operation = 10 * (p.routings.iter().filter(|o| o.item == item).count() as u32 + 1);
    p.routings.push(Operation {
        item: item.into(),
        operation,
        work_center: wc.into(),
        setup_hours: q(setup),
        run_hours_per_unit: q(run),
    });
}

fn load(p: &mut PlantInput, wc: &str, date: &str, hours: &str) {
    p.loads.push(Load {
        work_center: wc.into(),
        date: d(date),
        hours: q(hours),
    });
}

fn line(item: &str, qty: &str, requested: &str) -> OrderLine {
    OrderLine {
        item: item.into(),
        qty: q(qty),
        requested: d(requested),
    }
}

fn render_limit(limit: &Limit) -> String {
    match limit {
        Limit::Stock => "stock".into(),
        Limit::ScheduledReceipt { reference, date } => format!("receipt({reference} {date})"),
        Limit::LeadTime { item, days } => format!("lead_time({item} {days})"),
        Limit::Component { item, limit } => format!("component({item} {})", render_limit(limit)),
        Limit::Capacity {
            work_center,
            first_free_day,
        } => format!("capacity({work_center} {first_free_day})"),
    }
}

fn render(p: &LinePromise) -> String {
    let parts: Vec<String> = p
        .parts
        .iter()
        .map(|part| format!("{}@{} {}", part.qty, part.date, render_limit(&part.limit)))
        .collect();
    format!("{}: {}", p.promised, parts.join(", "))
}

/// Promises `lines` on `plant` and compares each line's answer with `expect`.
fn check(plant: &PlantInput, lines: &[OrderLine], expect: &[&str]) -> Vec<LinePromise> {
    let answer = promise(plant, lines).unwrap();
    let got: Vec<String> = answer.iter().map(render).collect();
    assert_eq!(got, expect);
    for (p, l) in answer.iter().zip(lines) {
        assert_eq!(p.parts.iter().map(|x| x.qty).sum::<Decimal>(), l.qty);
        assert_eq!(&p.limit, &p.parts.last().unwrap().limit);
    }
    answer
}

#[test]
fn stock_covers_a_line_on_its_requested_date() {
    let mut p = plant();
    buy(&mut p, "A", 5);
    stock(&mut p, "A", "10");
    let answer = check(
        &p,
        &[line("A", "10", "2025-01-10")],
        &["2025-01-10: 10@2025-01-10 stock"],
    );
    assert_eq!(
        answer[0].message,
        "promised on the requested date, 2025-01-10: covered by stock"
    );
}

#[test]
fn two_lines_of_one_item_share_its_stock() {
    let mut p = plant();
    buy(&mut p, "A", 3);
    stock(&mut p, "A", "10");
    // The second line gets the 4 left; the other 2 are bought: Monday + 3 working days.
    check(
        &p,
        &[line("A", "6", "2025-01-08"), line("A", "6", "2025-01-08")],
        &[
            "2025-01-08: 6@2025-01-08 stock",
            "2025-01-09: 4@2025-01-08 stock, 2@2025-01-09 lead_time(A 3)",
        ],
    );
}

#[test]
fn a_later_receipt_gives_the_date_when_it_beats_the_lead_time() {
    let mut p = plant();
    buy(&mut p, "A", 10);
    p.receipts.push(dated("A", "20", "2025-01-10", "PO-1"));
    // Lead time: Monday 6th + 10 working days = Monday 20th; the receipt comes on the 10th.
    check(
        &p,
        &[line("A", "15", "2025-01-07")],
        &["2025-01-10: 15@2025-01-10 receipt(PO-1 2025-01-10)"],
    );
}

#[test]
fn a_later_hold_limits_what_an_earlier_receipt_can_promise() {
    let mut p = plant();
    buy(&mut p, "A", 10);
    stock(&mut p, "A", "5");
    p.receipts.push(dated("A", "20", "2025-01-10", "PO-1"));
    p.holds.push(dated("A", "18", "2025-01-15", "SO-9/1"));
    // Cumulative: 5 from the 6th, 25 from the 10th, 7 from the 15th: at most 5 today and 7
    // from the 10th; 8 of them do not come before the lead time (the 20th).
    check(
        &p,
        &[line("A", "8", "2025-01-06")],
        &["2025-01-20: 5@2025-01-06 stock, 3@2025-01-20 lead_time(A 10)"],
    );
    // 7 fit: 5 now, and the receipt brings the 2 more.
    check(
        &p,
        &[line("A", "7", "2025-01-06")],
        &["2025-01-10: 5@2025-01-06 stock, 2@2025-01-10 receipt(PO-1 2025-01-10)"],
    );
}

#[test]
fn a_buy_lead_time_skips_the_weekend_and_holidays() {
    let mut p = plant();
    p.as_of = d("2025-01-08"); // a Wednesday
    p.calendar = Calendar::new(
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
        [d("2025-01-09")],
    )
    .unwrap();
    buy(&mut p, "A", 3);
    // Wed 8th, then Fri 10th (Thu 9th a holiday), Mon 13th, Tue 14th.
    check(
        &p,
        &[line("A", "1", "2025-01-08")],
        &["2025-01-14: 1@2025-01-14 lead_time(A 3)"],
    );
    // From a Saturday, the count starts on the Monday.
    p.as_of = d("2025-01-11");
    check(
        &p,
        &[line("A", "1", "2025-01-11")],
        &["2025-01-16: 1@2025-01-16 lead_time(A 3)"],
    );
}

#[test]
fn a_make_item_waits_for_its_last_component() {
    let mut p = plant();
    make(&mut p, "P");
    buy(&mut p, "C", 5);
    buy(&mut p, "D", 2);
    bom(&mut p, "P", "C", "2");
    bom(&mut p, "P", "D", "1");
    stock(&mut p, "C", "5");
    work_center(&mut p, "WC1", "8");
    op(&mut p, "P", "WC1", "0", "0.1");
    // 10 P need 20 C (5 in stock, 15 bought by Monday 13th) and 10 D (by Wednesday 8th);
    // P takes 1 hour on the 13th.
    let answer = check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-13: 10@2025-01-13 component(C lead_time(C 5))"],
    );
    assert_eq!(
        answer[0].message,
        "promised on 2025-01-13, 7 days after the requested date: waits for component C, \
         which has a lead time of 5 working days"
    );
}

#[test]
fn scrap_is_made_and_exploded_and_rounded_up() {
    let mut p = plant();
    make(&mut p, "P");
    p.items[0].scrap_pct = q("10");
    buy(&mut p, "C", 5);
    p.bom.push(BomLine::new("P", "C", q("2"), q("50")));
    work_center(&mut p, "WC1", "8");
    op(&mut p, "P", "WC1", "0", "0.1");
    // 10 P: 11 made, 11 × 2 × 1.5 = 33 C.
    stock(&mut p, "C", "33");
    check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-06: 10@2025-01-06 capacity(WC1 2025-01-06)"],
    );
    p.on_hand[0].qty = q("32.999999");
    check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-13: 10@2025-01-13 component(C lead_time(C 5))"],
    );
}

#[test]
fn a_make_item_waits_for_a_loaded_work_center_and_lines_share_its_capacity() {
    let mut p = plant();
    make(&mut p, "P");
    buy(&mut p, "C", 5);
    bom(&mut p, "P", "C", "1");
    stock(&mut p, "C", "100");
    work_center(&mut p, "WC1", "8");
    op(&mut p, "P", "WC1", "1", "0.5");
    load(&mut p, "WC1", "2025-01-06", "8");
    load(&mut p, "WC1", "2025-01-07", "8");
    load(&mut p, "WC1", "2025-01-08", "6");
    // 10 P: 1 + 5 = 6 hours: 2 on Wednesday 8th, 4 on Thursday 9th. The second line's 6
    // hours: the 4 left on the 9th, 2 on Friday 10th.
    check(
        &p,
        &[line("P", "10", "2025-01-06"), line("P", "10", "2025-01-06")],
        &[
            "2025-01-09: 10@2025-01-09 capacity(WC1 2025-01-08)",
            "2025-01-10: 10@2025-01-10 capacity(WC1 2025-01-09)",
        ],
    );
}

#[test]
fn operations_run_one_after_the_other() {
    let mut p = plant();
    make(&mut p, "P");
    work_center(&mut p, "WC1", "8");
    work_center(&mut p, "WC2", "4");
    op(&mut p, "P", "WC1", "0", "1");
    op(&mut p, "P", "WC2", "0", "1");
    // 10 hours on WC1: Monday and 2 hours Tuesday; then 10 hours on WC2 from Tuesday: 4, 4
    // (Wednesday), 2 (Thursday). No load: the longest operation names the work center.
    check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-09: 10@2025-01-09 capacity(WC2 2025-01-07)"],
    );
}

#[test]
fn a_short_line_is_split_between_stock_now_and_the_rest_later() {
    let mut p = plant();
    buy(&mut p, "A", 2);
    stock(&mut p, "A", "4");
    let answer = check(
        &p,
        &[line("A", "10", "2025-01-06")],
        &["2025-01-08: 4@2025-01-06 stock, 6@2025-01-08 lead_time(A 2)"],
    );
    assert_eq!(
        answer[0].message,
        "promised on 2025-01-08, 2 days after the requested date: 4 of 10 on 2025-01-06 from \
         stock, the other 6 as it has a lead time of 2 working days"
    );
}

#[test]
fn a_requested_date_in_the_past_is_promised_from_today() {
    let mut p = plant();
    buy(&mut p, "A", 1);
    stock(&mut p, "A", "5");
    p.receipts.push(dated("A", "5", "2024-12-30", "PO-late"));
    // The overdue receipt counts today.
    let answer = check(
        &p,
        &[line("A", "10", "2024-12-20"), line("A", "1", "2024-12-20")],
        &[
            "2025-01-06: 10@2025-01-06 stock",
            "2025-01-07: 1@2025-01-07 lead_time(A 1)",
        ],
    );
    assert_eq!(
        answer[1].message,
        "promised on 2025-01-07, 18 days after the requested date: A has a lead time of 1 \
         working day"
    );
}

#[test]
fn a_make_from_stock_components_is_not_worse_than_a_receipt_that_comes_first() {
    let mut p = plant();
    make(&mut p, "P");
    p.items[0].lead_time_days = 3;
    p.receipts.push(dated("P", "10", "2025-01-08", "WO-7"));
    // Made without a routing: 3 working days (Thursday 9th); the work order ends Wednesday.
    check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-08: 10@2025-01-08 receipt(WO-7 2025-01-08)"],
    );
    p.receipts[0].due = d("2025-01-10");
    check(
        &p,
        &[line("P", "10", "2025-01-06")],
        &["2025-01-09: 10@2025-01-09 lead_time(P 3)"],
    );
}

#[test]
fn a_phantom_is_blown_through() {
    let mut p = plant();
    make(&mut p, "P");
    make(&mut p, "PH");
    p.items[1].phantom = true;
    buy(&mut p, "C", 4);
    bom(&mut p, "P", "PH", "1");
    bom(&mut p, "PH", "C", "1");
    stock(&mut p, "PH", "100"); // ignored: a phantom is never stocked
    check(
        &p,
        &[line("P", "1", "2025-01-06")],
        &["2025-01-10: 1@2025-01-10 component(PH component(C lead_time(C 4)))"],
    );
}

#[test]
fn a_bom_cycle_is_an_error_naming_its_items() {
    let mut p = plant();
    for item in ["A", "B", "C", "X"] {
        make(&mut p, item);
    }
    bom(&mut p, "X", "A", "1");
    bom(&mut p, "A", "B", "1");
    bom(&mut p, "B", "C", "1");
    bom(&mut p, "C", "A", "1");
    let Err(PromiseError::Cycle(names)) = Plant::new(&p) else {
        panic!("expected a cycle");
    };
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names.first(), names.last());
    for item in ["A", "B", "C"] {
        assert!(names.iter().any(|n| n == item), "{names:?}");
    }
}

#[test]
fn a_deep_bom_is_refused() {
    let mut p = plant();
    for n in 0..=MAX_BOM_DEPTH + 1 {
        make(&mut p, &format!("I{n}"));
        if n > 0 {
            bom(&mut p, &format!("I{}", n - 1), &format!("I{n}"), "1");
        }
    }
    assert!(matches!(Plant::new(&p), Err(PromiseError::TooDeep { .. })));
}

#[test]
fn overflowing_quantities_are_errors() {
    let mut p = plant();
    make(&mut p, "P");
    buy(&mut p, "C", 1);
    bom(&mut p, "P", "C", "4");
    // 3 × 10^28 P need 12 × 10^28 C: beyond a decimal (about 7.9 × 10^28).
    let huge = "30000000000000000000000000000";
    assert_eq!(
        promise(&p, &[line("P", huge, "2025-01-06")]),
        Err(PromiseError::Overflow("C".into()))
    );
    stock(&mut p, "C", huge);
    stock(&mut p, "C", "79228162514264337593543950335");
    assert_eq!(
        Plant::new(&p).map(|_| ()),
        Err(PromiseError::Overflow("C".into()))
    );
}

#[test]
fn hours_beyond_the_horizon_are_an_error() {
    let mut p = plant();
    make(&mut p, "P");
    work_center(&mut p, "WC1", "0");
    op(&mut p, "P", "WC1", "1", "0");
    assert!(matches!(
        promise(&p, &[line("P", "1", "2025-01-06")]),
        Err(PromiseError::BeyondHorizon { .. })
    ));
    // Unless a receipt comes, however late.
    p.receipts.push(dated("P", "1", "2026-06-01", "WO-1"));
    check(
        &p,
        &[line("P", "1", "2025-01-06")],
        &["2026-06-01: 1@2026-06-01 receipt(WO-1 2026-06-01)"],
    );
}

#[test]
fn an_empty_order_has_an_empty_answer_and_a_long_one_is_refused() {
    let mut p = plant();
    buy(&mut p, "A", 1);
    assert_eq!(promise(&p, &[]), Ok(Vec::new()));
    let lines = vec![line("A", "1", "2025-01-06"); MAX_LINES + 1];
    assert_eq!(
        promise(&p, &lines),
        Err(PromiseError::TooManyLines(MAX_LINES + 1))
    );
}

#[test]
fn bad_lines_are_errors() {
    let mut p = plant();
    buy(&mut p, "A", 1);
    assert!(matches!(
        promise(&p, &[line("B", "1", "2025-01-06")]),
        Err(PromiseError::UnknownItem { .. })
    ));
    assert!(matches!(
        promise(&p, &[line("A", "0", "2025-01-06")]),
        Err(PromiseError::Invalid(_))
    ));
    assert!(matches!(
        promise(&p, &[line("A", "-1", "2025-01-06")]),
        Err(PromiseError::Invalid(_))
    ));
}

#[test]
fn limits_serialize_as_codes_with_parameters() {
    let limit = Limit::Component {
        item: "C".into(),
        limit: Box::new(Limit::Capacity {
            work_center: "WC1".into(),
            first_free_day: d("2025-01-08"),
        }),
    };
    assert_eq!(
        serde_json::to_string(&limit).unwrap(),
        r#"{"code":"component","item":"C","limit":{"code":"capacity","work_center":"WC1","first_free_day":"2025-01-08"}}"#
    );
    assert_eq!(
        serde_json::to_string(&Limit::Stock).unwrap(),
        r#"{"code":"stock"}"#
    );
}

fn open_work(work_order: &str, due: &str, operations: &[(&str, &str)]) -> OpenWork {
    OpenWork {
        work_order: work_order.into(),
        due: d(due),
        operations: operations
            .iter()
            .map(|(wc, hours)| ((*wc).to_owned(), q(hours)))
            .collect(),
    }
}

fn render_loads(loads: &[Load]) -> Vec<String> {
    loads
        .iter()
        .map(|l| format!("{} {} {}", l.work_center, l.date, l.hours.normalize()))
        .collect()
}

#[test]
fn open_work_is_scheduled_backwards_from_its_due_date_in_the_free_capacity() {
    let mut p = plant();
    work_center(&mut p, "CUT", "8");
    work_center(&mut p, "WELD", "8");
    // WO-1 due Friday 10th: welding 12 h ends on Friday (8 h) and Thursday (4 h); cutting
    // 6 h ends the day welding starts, Thursday, in what welding left free there — on its
    // own work center, so all 6 h on Thursday.
    // WO-2 due the same Friday, later id: Friday's 8 h of CUT and the 2 h WO-1 left free on
    // Thursday.
    // WO-3 due Tuesday 7th with 20 h of CUT: Tuesday 8, Monday 8, and the 4 h that do not
    // fit before it are late: the first free capacity from today on, Wednesday. Orders due
    // earlier go first, so WO-3 takes Monday to Wednesday before WO-1 and WO-2 are placed.
    // UNPLANNED has no capacity: left out.
    let loads = backward_loads(
        &p.calendar,
        p.as_of,
        &p.work_centers,
        &[
            open_work("WO-2", "2025-01-10", &[("CUT", "10")]),
            open_work("WO-1", "2025-01-10", &[("CUT", "6"), ("WELD", "12")]),
            open_work("WO-3", "2025-01-07", &[("CUT", "20"), ("UNPLANNED", "5")]),
        ],
    );
    assert_eq!(
        render_loads(&loads),
        [
            "CUT 2025-01-06 8",
            "CUT 2025-01-07 8",
            "CUT 2025-01-08 4",
            "CUT 2025-01-09 8",
            "CUT 2025-01-10 8",
            "WELD 2025-01-09 4",
            "WELD 2025-01-10 8",
        ]
    );
}

#[test]
fn backward_loads_skip_non_working_days_and_keep_nothing_before_today() {
    let mut p = plant();
    work_center(&mut p, "CUT", "8");
    // Due Monday 13th, 16 h: Monday 13th and Friday 10th (the weekend skipped).
    // Due Sunday 5th (overdue), 11 h: from today on, Monday 8 h and Tuesday 3 h.
    let loads = backward_loads(
        &p.calendar,
        p.as_of,
        &p.work_centers,
        &[
            open_work("WO-1", "2025-01-13", &[("CUT", "16")]),
            open_work("WO-0", "2025-01-05", &[("CUT", "11")]),
        ],
    );
    assert_eq!(
        render_loads(&loads),
        [
            "CUT 2025-01-06 8",
            "CUT 2025-01-07 3",
            "CUT 2025-01-10 8",
            "CUT 2025-01-13 8"
        ]
    );
}
