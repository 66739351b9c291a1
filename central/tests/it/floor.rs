//! The floor for supervisors and head office (issue 15): shift calendars and stop reasons,
//! the projections ingest keeps (checked against a rebuild), OEE by ISO 22400-2 on a shift
//! worked by hand, the plant board and its live feed.

use crate::work_orders::{act, create, ok, plant, put};
use crate::*;
use chrono::DateTime;
use protocol::MachineState;

/// 2026-11-27 (a Friday) at `hh:mm` UTC; 08:00 in Shanghai is 00:00 UTC.
fn at(hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, hh, mm, 0).unwrap()
}

fn floor_event(seq: u64, when: DateTime<Utc>, kind: EventKind) -> Event {
    let mut e = event("line-1", seq);
    e.at = when;
    e.source = Source {
        device: Some("plc-1".into()),
        station: Some("st-10".into()),
    };
    e.kind = kind;
    e
}

fn state(state: MachineState, reason: Option<&str>) -> EventKind {
    EventKind::MachineStateChanged {
        state,
        reason: reason.map(str::to_owned),
    }
}

fn count(good: u64, scrap: u64) -> EventKind {
    EventKind::ProductionReported {
        work_order: Some("WO-1".into()),
        operation: Some(10),
        good,
        scrap,
    }
}

/// The shift worked by hand below: Shanghai's shift A, 08:00-16:00 local (00:00-08:00 UTC)
/// with lunch 12:00-12:30 (04:00-04:30 UTC); a jam from 01:00 to 02:00 and planned maintenance
/// from 05:00 to 05:30; counts at 00:10 (100 good), 03:00 (300 good, 10 scrap), 04:15 (20
/// good, in the lunch break), 06:00 (200 good) and 07:59 (50 good, 5 scrap).
fn shift_events() -> Vec<Event> {
    use MachineState::*;
    vec![
        floor_event(1, at(0, 0), state(Running, None)),
        floor_event(2, at(0, 10), count(100, 0)),
        floor_event(3, at(1, 0), state(Down, Some("JAM"))),
        floor_event(4, at(2, 0), state(Running, None)),
        floor_event(5, at(3, 0), count(300, 10)),
        floor_event(6, at(4, 15), count(20, 0)),
        floor_event(7, at(5, 0), state(Down, Some("PM"))),
        floor_event(8, at(5, 30), state(Running, None)),
        floor_event(9, at(6, 0), count(200, 0)),
        floor_event(10, at(7, 59), count(50, 5)),
        floor_event(
            11,
            at(0, 5),
            EventKind::OperatorSignedIn {
                operator: "OP-7".into(),
            },
        ),
    ]
}

async fn send(h: &Harness, token: &str, events: Vec<Event>) {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// The plant of `work_orders::plant` with an ideal cycle time of 30 s on operation 10, the
/// Shanghai shift calendar and two stop reasons; WO-1 released.
/// [`send`], and on PostgreSQL waits until this instance also handled the batch's
/// notification from the database's change feed: the figures it keeps in memory are then
/// changed only by what comes next (its own notification would otherwise drop them again at
/// a moment of its own).
async fn send_heard(h: &Harness, token: &str, events: Vec<Event>) {
    let mut woke = h.state.floor_updates();
    let before = *woke.borrow_and_update();
    send(h, token, events).await;
    if !on_postgres() {
        return;
    }
    // Two wake-ups, in either order: the ingest's own and the feed's.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        woke.wait_for(|n| n.wrapping_sub(before) >= 2),
    )
    .await
    .expect("the batch's notification came back")
    .unwrap();
}

async fn floor_plant(h: &Harness) -> String {
    let token = plant(h).await;
    let reply = put(
        h,
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 10, "description": "cut", "work_center": "CUT", "ideal_cycle_s": "30"},
            {"operation": 20, "description": "weld", "work_center": "WELD", "ideal_cycle_s": "45.5"}
        ]}),
    )
    .await;
    ok(&reply);
    assert_eq!(reply.json["operations"][0]["ideal_cycle_s"], "30");
    assert_eq!(reply.json["operations"][1]["ideal_cycle_s"], "45.5");
    create(h, "WO-1", "1000").await;
    ok(&act(h, "WO-1", "release").await);
    let reply = put(
        h,
        "/api/v1/plants/default/shifts",
        json!({"time_zone": "Asia/Shanghai", "shifts": [
            {"name": "A", "start": "08:00", "end": "16:00",
             "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "breaks": [{"name": "lunch", "start": "12:00", "end": "12:30"}]}
        ]}),
    )
    .await;
    ok(&reply);
    assert_eq!(reply.json["set"], true);
    let reply = put(
        h,
        "/api/v1/plants/default/stop-reasons",
        json!({"reasons": [
            {"code": "JAM", "name": "Jam", "name_zh": "卡料", "category": "mechanical", "planned": false},
            {"code": "PM", "name": "Planned maintenance", "name_zh": "计划保养", "category": "maintenance", "planned": true}
        ]}),
    )
    .await;
    ok(&reply);
    assert_eq!(reply.json["reasons"][0]["code"], "JAM");
    token
}

fn close(value: &Value, expected: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

#[tokio::test]
async fn issue_15_oee_of_a_shift_worked_by_hand_by_iso_22400() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send(&h, &token, shift_events()).await;

    let reply = h
        .get(
            "/api/v1/floor/oee?plant=default&edge_id=line-1&station=st-10&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
            ADMIN,
        )
        .await;
    ok(&reply);
    let total = &reply.json["total"];
    let min = 60_000;
    // POT 480 min; PDOT = lunch 30 + planned maintenance 30; PBT 420.
    assert_eq!(total["pot_ms"], 480 * min, "{total}");
    assert_eq!(total["pdot_ms"], 60 * min, "{total}");
    assert_eq!(total["pbt_ms"], 420 * min, "{total}");
    // Running 00:00-01:00, 02:00-04:00, 04:30-05:00, 05:30-08:00: 360 min; the jam 60.
    assert_eq!(total["apt_ms"], 360 * min, "{total}");
    assert_eq!(total["adot_ms"], 60 * min, "{total}");
    // PQ and GQ within PBT; the 20 counted in the lunch break are apart.
    assert_eq!(total["pq"], 665);
    assert_eq!(total["gq"], 650);
    assert_eq!(total["scrap"], 15);
    assert_eq!(total["outside_pbt_good"], 20);
    // PRI x PQ = 665 x 30 s.
    assert_eq!(total["ideal_ms"], 665 * 30_000);
    close(&total["availability"], 360.0 / 420.0);
    close(&total["effectiveness"], 665.0 * 0.5 / 360.0);
    close(&total["quality"], 650.0 / 665.0);
    close(&total["oee"], 650.0 * 0.5 / 420.0);
    assert_eq!(reply.json["time_zone"], "Asia/Shanghai");
    assert_eq!(reply.json["buckets"][0]["key"], "2026-11-27 A");
    assert_eq!(reply.json["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(reply.json["lines"][0]["line"], "L1");
    assert_eq!(reply.json["stations"][0]["station"], "st-10");
    assert_eq!(reply.json["stations"][0]["work_center"], "CUT");
    let losses = &reply.json["losses"];
    assert_eq!(losses["down_by_reason"][0]["key"], "JAM");
    assert_eq!(losses["down_by_reason"][0]["value"], 60 * min);
    close(&losses["down_by_reason"][0]["cumulative"], 1.0);
    assert_eq!(losses["down_by_category"][0]["key"], "mechanical");
    let planned: Vec<(&str, i64)> = losses["planned_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["value"].as_i64().unwrap()))
        .collect();
    assert!(planned.contains(&("PM", 30 * min)), "{planned:?}");
    assert!(planned.contains(&("break:lunch", 30 * min)), "{planned:?}");
    assert_eq!(losses["speed_loss_ms"], 360 * min - 665 * 30_000);
    // By shift and by item: the jam in shift A; the 15 scrapped on WO-1, an order of FRAME.
    let rows = |name: &str| -> Vec<(String, i64)> {
        losses[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {losses}"))
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_owned(),
                    r["value"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(rows("down_by_shift"), vec![("A".to_owned(), 60 * min)]);
    assert_eq!(rows("scrap_by_shift"), vec![("A".to_owned(), 15)]);
    assert_eq!(rows("scrap_by_item"), vec![("FRAME".to_owned(), 15)]);
    assert_eq!(total["scrap_by_order"], json!({"WO-1": 15}));

    // The same figures as CSV, a row for the total first.
    let csv = h
        .get(
            "/api/v1/floor/oee.csv?plant=default&edge_id=line-1&station=st-10&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
            ADMIN,
        )
        .await;
    ok(&csv);
    let text = csv.json.as_str().unwrap_or_default().to_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "table,key,oee,availability,effectiveness,quality,pot_ms,pbt_ms,apt_ms,adot_ms,setup_ms,unknown_ms,pq,gq,scrap,ideal_ms"
        )
    );
    let total: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    assert_eq!(total[..2], ["total", "total"]);
    let oee: f64 = total[2].parse().unwrap();
    assert!((oee - 650.0 * 0.5 / 420.0).abs() < 1e-9, "{text}");
    assert_eq!(total[7], (420 * min).to_string(), "pbt_ms: {text}");
    assert_eq!(total[12], "665", "pq: {text}");
    assert!(text.contains("\nbucket,2026-11-27 A,"), "{text}");
    assert!(text.contains("\nstation,line-1/st-10,"), "{text}");

    // The figures' source: the station's spans, each naming the event that started it.
    let history = h
        .get(
            "/api/v1/floor/history?edge_id=line-1&station=st-10&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
            ADMIN,
        )
        .await;
    ok(&history);
    let spans = history.json["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 5, "{spans:?}");
    assert_eq!(spans[1]["state"], "down");
    assert_eq!(spans[1]["reason"], "JAM");
    assert_eq!(spans[1]["seq"], 3);
    assert_eq!(spans[4]["to"], Value::Null, "the state it is in now");
    assert_eq!(history.json["counts"].as_array().unwrap().len(), 5);
    assert_eq!(history.json["counts"][0]["ideal_cycle_ms"], 30_000);

    // The plant: WELD's station st-20 reported nothing all shift, so its planned time is
    // unknown, and a loss.
    let plant = h
        .get(
            "/api/v1/floor/oee?plant=default&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
            ADMIN,
        )
        .await;
    ok(&plant);
    assert_eq!(plant.json["stations"].as_array().unwrap().len(), 2);
    assert_eq!(plant.json["total"]["pot_ms"], 2 * 480 * min);
    assert_eq!(
        plant.json["total"]["unknown_ms"],
        450 * min,
        "st-20's shift less its lunch"
    );
    assert_eq!(plant.json["total"]["apt_ms"], 360 * min);
    assert_eq!(plant.json["losses"]["unknown_ms"], 450 * min);

    // A station that first reported mid-shift (st-30, at 02:40) has no planned time before
    // that, and its count in that same hour, after it, is counted.
    send(
        &h,
        &token,
        vec![
            {
                let mut e = floor_event(12, at(2, 40), state(MachineState::Running, None));
                e.source.station = Some("st-30".into());
                e
            },
            {
                let mut e = floor_event(13, at(2, 50), count(7, 0));
                e.source.station = Some("st-30".into());
                e
            },
        ],
    )
    .await;
    let late = h
        .get(
            "/api/v1/floor/oee?plant=default&edge_id=line-1&station=st-30&by=total&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
            ADMIN,
        )
        .await;
    ok(&late);
    assert_eq!(
        late.json["total"]["pot_ms"],
        (8 * 60 - 160) * min,
        "{}",
        late.json["total"]
    );
    assert_eq!(late.json["total"]["unknown_ms"], 0);
    assert_eq!(late.json["total"]["pq"], 7);

    // By day the one shift is the day; a period longer than 400 days is refused.
    let day = h
        .get(
            "/api/v1/floor/oee?plant=default&edge_id=line-1&station=st-10&by=day&from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z",
            ADMIN,
        )
        .await;
    ok(&day);
    assert_eq!(day.json["buckets"][0]["key"], "2026-11-27");
    // Shift A of the 28th starts at 00:00 UTC on the 28th, where the period ends.
    assert_eq!(day.json["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(day.json["buckets"][0]["pbt_ms"], 420 * min);
    close(&day.json["buckets"][0]["oee"], 650.0 * 0.5 / 420.0);
    h.get(
        "/api/v1/floor/oee?plant=default&from=2025-01-01T00:00:00Z&to=2026-11-28T00:00:00Z",
        ADMIN,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

fn count_on(order: &str, good: u64, scrap: u64) -> EventKind {
    EventKind::ProductionReported {
        work_order: Some(order.into()),
        operation: Some(10),
        good,
        scrap,
    }
}

#[tokio::test]
async fn issue_15_every_pareto_bar_lists_the_stops_and_scrap_it_sums() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    use MachineState::*;
    // Shift A, 00:00-08:00 UTC, lunch 04:00-04:30. WO-1 (FRAME) runs first and last; WO-X,
    // an order central does not know, between.
    // - JAM 01:00-02:00: nothing counted in the 01:00 hour, the nearest earlier one (00:00)
    //   has WO-1: 60 min on WO-1;
    // - no reason 03:30-04:45: the 03:00 hour counted WO-X; the lunch inside is not down
    //   time: 30 + 15 = 45 min on WO-X;
    // - PM 05:00-05:30: planned;
    // - JAM 07:30-07:45: the 07:00 hour counted WO-1: 15 min on WO-1;
    // - scrap 10 on WO-X at 03:00 and 5 on WO-1 at 07:59; the 2 at 05:10 fall in the planned
    //   stop, outside PQ.
    send(
        &h,
        &token,
        vec![
            floor_event(1, at(0, 0), state(Running, None)),
            floor_event(2, at(0, 10), count_on("WO-1", 100, 0)),
            floor_event(3, at(1, 0), state(Down, Some("JAM"))),
            floor_event(4, at(2, 0), state(Running, None)),
            floor_event(5, at(3, 0), count_on("WO-X", 300, 10)),
            floor_event(6, at(3, 30), state(Down, None)),
            floor_event(7, at(4, 45), state(Running, None)),
            floor_event(8, at(5, 0), state(Down, Some("PM"))),
            floor_event(9, at(5, 30), state(Running, None)),
            floor_event(10, at(6, 0), count_on("WO-X", 200, 0)),
            floor_event(11, at(7, 30), state(Down, Some("JAM"))),
            floor_event(12, at(7, 45), state(Running, None)),
            floor_event(13, at(7, 59), count_on("WO-1", 50, 5)),
            // In the planned stop: not in PQ, so not scrap to list.
            floor_event(14, at(5, 10), count_on("WO-1", 1, 2)),
        ],
    )
    .await;
    let period = "plant=default&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z";
    let oee = h
        .get(&format!("/api/v1/floor/oee?{period}&by=shift"), ADMIN)
        .await;
    ok(&oee);
    let losses = &oee.json["losses"];
    let min = 60_000;
    let rows = |name: &str| -> Vec<(String, i64)> {
        losses[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {losses}"))
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_owned(),
                    r["value"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let pairs = |list: &[(&str, i64)]| -> Vec<(String, i64)> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    // Down time by item, worked by hand above; and by station.
    assert_eq!(
        rows("down_by_item"),
        pairs(&[("FRAME", 75 * min), ("", 45 * min)])
    );
    assert_eq!(
        oee.json["total"]["down_by_order"],
        json!({"WO-1": 75 * min, "WO-X": 45 * min})
    );
    assert_eq!(
        rows("down_by_station"),
        pairs(&[("line-1/st-10", 120 * min)]),
        "st-20 stopped for nothing it reported"
    );
    assert_eq!(
        rows("down_by_reason"),
        pairs(&[("JAM", 75 * min), ("", 45 * min)])
    );

    // Each bar's facts, filtered by its key, sum to the bar.
    let listed = |query: String| {
        let h = &h;
        async move {
            let reply = h
                .get(&format!("/api/v1/floor/losses?{period}&{query}"), ADMIN)
                .await;
            ok(&reply);
            reply.json
        }
    };
    let station_filter = |key: &str| {
        let (edge, station) = key.split_once('/').unwrap();
        format!("edge_id={edge}&station={station}")
    };
    let mut checked = 0;
    for (pareto, kind, filter) in [
        ("down_by_reason", "down", "reason"),
        ("down_by_category", "down", "category"),
        ("down_by_shift", "down", "shift"),
        ("down_by_item", "down", "item"),
        ("down_by_station", "down", ""),
        ("scrap_by_shift", "scrap", "shift"),
        ("scrap_by_item", "scrap", "item"),
        ("scrap_by_station", "scrap", ""),
    ] {
        for (key, value) in rows(pareto) {
            let by = if filter.is_empty() {
                station_filter(&key)
            } else {
                format!("{filter}={}", urlencoding(&key))
            };
            let facts = listed(format!("kind={kind}&{by}")).await;
            assert_eq!(facts["total"], value, "{pareto} {key:?}: {facts}");
            let sum: i64 = facts["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r[if kind == "scrap" { "scrap" } else { "down_ms" }]
                        .as_i64()
                        .unwrap()
                })
                .sum();
            assert_eq!(
                sum, value,
                "{pareto} {key:?}: the rows listed are all of them"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} bars");
    let planned = listed("kind=planned&reason=PM".into()).await;
    assert_eq!(planned["total"], 30 * min, "{planned}");

    // The stops behind JAM, one by one: when, how long, the event that began each, the
    // order it counts against and that order's item.
    let jams = listed("kind=down&reason=JAM".into()).await;
    let jams: Vec<(&str, &str, i64, u64, &str, &str, &str)> = jams["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap(),
                r["down_ms"].as_i64().unwrap(),
                r["seq"].as_u64().unwrap(),
                r["work_order"].as_str().unwrap(),
                r["item"].as_str().unwrap(),
                r["category"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        jams,
        [
            (
                "2026-11-27T01:00:00Z",
                "2026-11-27T02:00:00Z",
                60 * min,
                3,
                "WO-1",
                "FRAME",
                "mechanical"
            ),
            (
                "2026-11-27T07:30:00Z",
                "2026-11-27T07:45:00Z",
                15 * min,
                11,
                "WO-1",
                "FRAME",
                "mechanical"
            ),
        ]
    );
    // The stop across lunch: one row, its lunch left out.
    let unreasoned = listed("kind=down&reason=".into()).await;
    assert_eq!(unreasoned["matched"], 1, "{unreasoned}");
    let row = &unreasoned["rows"][0];
    assert_eq!(
        (
            &row["from"],
            &row["to"],
            &row["down_ms"],
            &row["category"],
            &row["work_order"],
            &row["item"]
        ),
        (
            &json!("2026-11-27T03:30:00Z"),
            &json!("2026-11-27T04:45:00Z"),
            &json!(45 * min),
            &json!("unclassified"),
            &json!("WO-X"),
            &json!("")
        )
    );
    // Scrap minute by minute, with its order and item.
    let scrap = listed("kind=scrap".into()).await;
    let scrap: Vec<(&str, u64, &str, &str)> = scrap["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap(),
                r["scrap"].as_u64().unwrap(),
                r["work_order"].as_str().unwrap(),
                r["item"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scrap,
        [
            ("2026-11-27T03:00:00Z", 10, "WO-X", ""),
            ("2026-11-27T07:59:00Z", 5, "WO-1", "FRAME")
        ]
    );
    // A limit lists fewer rows; the total still counts them all.
    let first = listed("kind=down&limit=1".into()).await;
    assert_eq!(
        (first["matched"].as_u64(), first["truncated"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(first["rows"].as_array().unwrap().len(), 1);
    assert_eq!(first["total"], 120 * min);
    // The same rows as CSV.
    let csv = h
        .get(
            &format!("/api/v1/floor/losses.csv?{period}&kind=down&reason=JAM"),
            ADMIN,
        )
        .await;
    ok(&csv);
    let text = csv.json.as_str().unwrap_or_default().to_owned();
    assert!(text.starts_with("kind,line,edge_id,station,shift_date,shift,started,from,to,down_s,scrap,reason,category,seq,work_order,item\n"), "{text}");
    assert!(text.contains("\ndown,L1,line-1,st-10,2026-11-27,A,2026-11-27T01:00:00Z,2026-11-27T01:00:00Z,2026-11-27T02:00:00Z,3600.000,0,JAM,mechanical,3,WO-1,FRAME\n"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    // What does not make sense is refused, and another plant is not there.
    for bad in [
        "kind=scrap&reason=JAM",
        "kind=idle",
        "limit=0",
        "limit=5001",
        "edge_id=line-1&station=st%0A10",
        "reason=J%00M",
    ] {
        h.get(&format!("/api/v1/floor/losses?{period}&{bad}"), ADMIN)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    h.get(
        "/api/v1/floor/losses?plant=nowhere&from=2026-11-27T00:00:00Z&to=2026-11-27T08:00:00Z",
        ADMIN,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn issue_15_the_boards_shift_so_far_is_the_oee_of_the_same_period() {
    // The plant keeps the default calendar: one 24-hour shift a day in UTC, so a shift runs
    // whenever the test does. The board reads the shift's whole hours by the hour and the
    // hours a boundary cuts by the minute; OEE over the same period reads them as it does.
    let h = Harness::new().await;
    let token = plant(&h).await;
    let now = Utc::now();
    let shift_start = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let minutes_ago = |m: i64| (now - chrono::Duration::minutes(m)).max(shift_start);
    use MachineState::*;
    send(
        &h,
        &token,
        vec![
            floor_event(1, minutes_ago(200), state(Running, None)),
            floor_event(2, minutes_ago(190), count(40, 1)),
            floor_event(3, minutes_ago(150), count(55, 0)),
            floor_event(4, minutes_ago(121), state(Down, Some("JAM"))),
            floor_event(5, minutes_ago(95), state(Running, None)),
            floor_event(6, minutes_ago(61), count(70, 3)),
            floor_event(7, minutes_ago(30), count(12, 0)),
            floor_event(8, minutes_ago(2), count(5, 1)),
        ],
    )
    .await;
    let board = h.get("/api/v1/floor/board?plant=default", ADMIN).await;
    ok(&board);
    let st10 = board.json["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == "st-10")
        .expect("st-10 on the board")
        .clone();
    let at = board.json["generated_at"].as_str().unwrap();
    let oee = h
        .get(
            &format!(
                "/api/v1/floor/oee?plant=default&edge_id=line-1&station=st-10&by=total&from={}&to={}",
                shift_start.format("%Y-%m-%dT%H:%M:%SZ"),
                at.replace('+', "%2B")
            ),
            ADMIN,
        )
        .await;
    ok(&oee);
    let shift = &st10["shift"];
    assert_eq!(*shift, oee.json["total"], "board {st10}\noee {}", oee.json);
    assert_eq!(shift["pq"], 187, "{shift}");
}

#[tokio::test]
async fn issue_15_the_projections_equal_a_rebuild_from_the_events_and_replays_change_nothing() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    let events = shift_events();
    send(&h, &token, events[..4].to_vec()).await;
    send(&h, &token, events[4..].to_vec()).await;
    let kept = h.store().floor_fingerprint().await.unwrap();
    // 4 spans, 5 minutes and 5 hours with counts, and the state since 05:30.
    assert!(
        kept.iter().any(|r| r.starts_with("line-1|st-10|running|")),
        "{kept:?}"
    );
    assert_eq!(
        kept.iter().filter(|r| r.contains("|2026-11-27T")).count(),
        4 + 5 + 5 + 1,
        "{kept:?}"
    );
    // The same batch again (the edge's retry) counts nothing twice.
    send(&h, &token, events.clone()).await;
    assert_eq!(h.store().floor_fingerprint().await.unwrap(), kept);
    let rebuilt = h.post("/api/v1/floor/rebuild", ADMIN, json!({})).await;
    ok(&rebuilt);
    assert_eq!(rebuilt.json["events"], 11);
    assert_eq!(rebuilt.json["spans"], 4);
    assert_eq!(rebuilt.json["count_rows"], 5);
    assert_eq!(h.store().floor_fingerprint().await.unwrap(), kept);
}

#[tokio::test]
async fn issue_15_shift_calendars_and_stop_reasons_name_every_problem() {
    let h = Harness::new().await;
    let reply = h.get("/api/v1/plants/default/shifts", ADMIN).await;
    ok(&reply);
    assert_eq!(reply.json["set"], false, "{}", reply.json);
    let message = put(
        &h,
        "/api/v1/plants/default/shifts",
        json!({"time_zone": "Mars/Olympus", "shifts": [
            {"name": "A", "start": "25:00", "end": "16:00", "days": ["mon"]}
        ]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    assert!(message.contains("Mars/Olympus"), "{message}");
    assert!(message.contains("shifts[0].start"), "{message}");
    let message = put(
        &h,
        "/api/v1/plants/default/stop-reasons",
        json!({"reasons": [
            {"code": "JAM", "name": "Jam", "category": "mechanical", "planned": false},
            {"code": "JAM", "name": "", "category": "", "planned": true}
        ]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    assert!(message.contains("reasons[1].code"), "{message}");
    assert!(message.contains("reasons[1].name"), "{message}");
    assert!(message.contains("reasons[1].category"), "{message}");
    put(
        &h,
        "/api/v1/plants/nowhere/stop-reasons",
        json!({"reasons": []}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// A plant's OEE targets are kept with its shift calendar, come back in the OEE report and
/// head office's report, and a target that is not a fraction is refused with its place named.
#[tokio::test]
async fn issue_15_oee_targets_are_kept_reported_and_checked() {
    let h = Harness::new().await;
    let calendar = |targets: Value| {
        json!({"time_zone": "UTC", "shifts": [
            {"name": "day", "start": "00:00", "end": "00:00",
             "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
        ], "targets": targets})
    };
    let reply = put(
        &h,
        "/api/v1/plants/default/shifts",
        calendar(json!({"oee": 0.85, "availability": 0.9})),
    )
    .await;
    ok(&reply);
    assert_eq!(
        reply.json["targets"],
        json!({"oee": 0.85, "availability": 0.9})
    );
    let reply = h.get("/api/v1/plants/default/shifts", ADMIN).await;
    assert_eq!(reply.json["targets"]["oee"], 0.85, "{}", reply.json);
    let reply = h.get("/api/v1/floor/oee?plant=default", ADMIN).await;
    ok(&reply);
    assert_eq!(
        reply.json["targets"],
        json!({"oee": 0.85, "availability": 0.9})
    );
    let reply = h.get("/api/v1/floor/plants", ADMIN).await;
    ok(&reply);
    let plant = reply.json["plants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plant"] == "default")
        .cloned()
        .unwrap();
    assert_eq!(plant["targets"]["oee"], 0.85, "{plant}");
    let csv = h.get("/api/v1/floor/plants.csv", ADMIN).await;
    ok(&csv);
    let text = csv.json.as_str().unwrap_or_default().to_owned();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "default")
        .expect("the default plant's row");
    let target = header.iter().position(|h| h == "target_oee").unwrap();
    assert_eq!(&row[target], "0.85", "{text}");
    let message = put(
        &h,
        "/api/v1/plants/default/shifts",
        calendar(json!({"oee": 85, "quality": 0})),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    assert!(message.contains("targets.oee: 85"), "{message}");
    assert!(message.contains("targets.quality: 0"), "{message}");
    // The refused calendar changed nothing.
    let reply = h.get("/api/v1/plants/default/shifts", ADMIN).await;
    assert_eq!(reply.json["targets"]["oee"], 0.85, "{}", reply.json);
    // Without targets, none are reported.
    ok(&put(&h, "/api/v1/plants/default/shifts", calendar(Value::Null)).await);
    let reply = h.get("/api/v1/floor/oee?plant=default", ADMIN).await;
    assert!(reply.json.get("targets").is_none(), "{}", reply.json);
}

/// Reads server-sent events from a streaming body until one named `name` arrives.
async fn next_event(body: &mut Body, name: &str) -> Value {
    let mut text = String::new();
    loop {
        let frame = body
            .frame()
            .await
            .expect("the stream ended")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut event = "";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if event == name {
                return serde_json::from_str(&data).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn issue_15_the_board_shows_each_station_and_the_live_feed_sends_a_change() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send(&h, &token, shift_events()[..2].to_vec()).await;
    let board = h.get("/api/v1/floor/board?plant=default", ADMIN).await;
    ok(&board);
    let stations = board.json["stations"].as_array().unwrap();
    let st10 = stations
        .iter()
        .find(|s| s["station"] == "st-10")
        .expect("st-10 on the board");
    assert_eq!(st10["state"], "running");
    assert_eq!(st10["work_center"], "CUT");
    assert_eq!(st10["line"], "L1");
    assert_eq!(st10["plant"], "default");
    assert_eq!(st10["operator"], Value::Null, "the sign-in is event 11");
    // WELD's station has reported nothing yet and is on the board all the same.
    assert!(
        stations
            .iter()
            .any(|s| s["station"] == "st-20" && s["state"].is_null())
    );
    // The same board as CSV: a header, then a row per station in the same order.
    let csv = h.get("/api/v1/floor/board.csv?plant=default", ADMIN).await;
    ok(&csv);
    let text = csv.json.as_str().unwrap_or_default().to_owned();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), stations.len(), "{text}");
    for (row, station) in rows.iter().zip(stations) {
        assert_eq!(row[column("station")], station["station"], "{text}");
        assert_eq!(
            row[column("state")],
            *station["state"].as_str().unwrap_or("unknown"),
            "{text}"
        );
        assert_eq!(row[column("good")], station["good"].to_string(), "{text}");
    }
    assert_eq!(rows[0][column("edge_id")], *"line-1");

    let response = h
        .app()
        .oneshot(request(
            Method::GET,
            "/api/v1/floor/live?plant=default",
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let first = next_event(&mut body, "board").await;
    assert_eq!(first["stations"].as_array().unwrap().len(), stations.len());
    send(&h, &token, shift_events()[2..3].to_vec()).await;
    let next = next_event(&mut body, "board").await;
    let st10 = next["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == "st-10")
        .unwrap()
        .clone();
    assert_eq!(st10["state"], "down", "{next}");
    assert_eq!(st10["reason"], "JAM");
    assert_eq!(st10["reason_name"], "Jam");
    assert_eq!(st10["reason_name_zh"], "卡料");

    // The same board for Prometheus.
    let metrics = h.get("/api/v1/floor/metrics", ADMIN).await;
    ok(&metrics);
    let text = metrics.json.as_str().unwrap_or_default();
    let st10 = r#"plant="default",line="L1",edge_id="line-1",station="st-10""#;
    assert!(
        text.contains(&format!("mes_floor_state{{{st10},state=\"down\"}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("mes_floor_state{{{st10},state=\"running\"}} 0")),
        "{text}"
    );
    assert!(
        text.contains(&format!("mes_floor_state_seconds{{{st10}}} ")),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test]
async fn issue_15_a_reason_given_at_the_terminal_attributes_the_stop_and_plans_carry_the_list() {
    use MachineState::*;
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    // The plant's reasons go down with the line's plan, for the terminal's buttons.
    let plan = crate::work_orders::poll(&h, &token, 0).await;
    let rules = plan.rules.expect("the plant's rules");
    let codes: Vec<&str> = rules.stop_reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["JAM", "PM"]);
    assert_eq!(rules.stop_reasons[0].name_zh, "卡料");

    // Two stops without a reason: one over, one going on; the operator names both.
    let reason = |seq, since, code: &str| {
        floor_event(
            seq,
            at(3, 0),
            EventKind::StopReasonGiven {
                reason: code.to_owned(),
                since,
            },
        )
    };
    send(
        &h,
        &token,
        vec![
            floor_event(1, at(0, 0), state(Running, None)),
            floor_event(2, at(1, 0), state(Down, None)),
            floor_event(3, at(1, 20), state(Running, None)),
        ],
    )
    .await;
    send(&h, &token, vec![reason(4, at(1, 0), "JAM")]).await;
    send(
        &h,
        &token,
        vec![
            floor_event(5, at(2, 0), state(Down, None)),
            reason(6, at(2, 0), "JAM"),
        ],
    )
    .await;
    let reply = h
        .get(
            "/api/v1/floor/oee?plant=default&edge_id=line-1&station=st-10&by=total&from=2026-11-27T00:00:00Z&to=2026-11-27T03:00:00Z",
            ADMIN,
        )
        .await;
    ok(&reply);
    let down = &reply.json["total"]["down_by_reason"];
    assert_eq!(
        down["JAM"],
        80 * 60_000,
        "20 min closed + 60 min open: {down}"
    );
    assert!(
        down.get("").is_none(),
        "no stop left without a reason: {down}"
    );
    let board = h.get("/api/v1/floor/board?plant=default", ADMIN).await;
    let st10 = board.json["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == "st-10")
        .unwrap()
        .clone();
    assert_eq!(st10["reason"], "JAM");
    // And a rebuild gives the same.
    let kept = h.store().floor_fingerprint().await.unwrap();
    ok(&h.post("/api/v1/floor/rebuild", ADMIN, json!({})).await);
    assert_eq!(h.store().floor_fingerprint().await.unwrap(), kept);

    // A list the plans could not carry is refused whole.
    put(
        &h,
        "/api/v1/plants/default/stop-reasons",
        json!({"reasons": [{"code": "x".repeat(300), "name": "x", "category": "y", "planned": false}]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// Several instances (issue 14): a batch stored at one wakes the live pages open at another,
/// through the change feed (PostgreSQL's pass of the suite).
#[tokio::test]
async fn issue_15_a_batch_at_one_instance_reaches_the_live_pages_of_another() {
    if !on_postgres() {
        println!("on PostgreSQL's pass only: instances share a database");
        return;
    }
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    let other = crate::instances::second_instance(&h).await;
    let mut woke = other.floor_updates();
    let response = central::app(other.clone())
        .oneshot(request(
            Method::GET,
            "/api/v1/floor/live?plant=default",
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = next_event(&mut body, "board").await;
    let st10 = |board: &Value| {
        board["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["station"] == "st-10")
            .map(|s| s["state"].clone())
    };
    assert_eq!(st10(&first), Some(Value::Null), "nothing reported yet");
    send(&h, &token, shift_events()[..1].to_vec()).await;
    // The other instance hears of it through NOTIFY (not its 15 s refresh).
    tokio::time::timeout(std::time::Duration::from_secs(10), woke.changed())
        .await
        .expect("the other instance heard of the batch")
        .unwrap();
    let next = next_event(&mut body, "board").await;
    assert_eq!(st10(&next), Some(json!("running")), "{next}");
}

/// The OEE of `query` at `state`, as JSON.
async fn oee_at(state: &AppState, query: &str) -> Value {
    let response = central::app(state.clone())
        .oneshot(request(
            Method::GET,
            &format!("/api/v1/floor/oee?{query}"),
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The figures of a shift that ended are kept, and a fact that reaches central late (scrap
/// reported after the fact, a stop's reason given afterwards) changes them as if nothing had
/// been kept; a fact of a later shift leaves them. Checked by asking again with the kept
/// figures forgotten: the two must always agree.
#[tokio::test]
async fn issue_15_kept_figures_of_ended_shifts_follow_late_facts() {
    use MachineState::*;
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send_heard(&h, &token, shift_events()).await;
    let query = "plant=default&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";
    let fresh = |state: AppState| async move {
        forget_kept(&state).await;
        oee_at(&state, query).await
    };
    let first = oee_at(&h.state, query).await;
    assert!(
        !h.state.oee_runs().is_empty(),
        "the ended shift's figures are kept"
    );
    assert_eq!(
        oee_at(&h.state, query).await,
        first,
        "asked again: the same"
    );
    assert_eq!(first["total"]["scrap"], 15);
    // Scrap reported late, at 06:30 in shift A, and a stop at 05:45 whose reason comes later.
    send_heard(
        &h,
        &token,
        vec![
            floor_event(12, at(6, 30), count(0, 7)),
            floor_event(13, at(7, 0), state(Down, None)),
            floor_event(14, at(7, 30), state(Running, None)),
        ],
    )
    .await;
    let late = oee_at(&h.state, query).await;
    assert_eq!(late["total"]["scrap"], 22, "{}", late["total"]);
    assert_eq!(late, fresh(h.state.clone()).await);
    send_heard(
        &h,
        &token,
        vec![floor_event(
            15,
            at(9, 0),
            EventKind::StopReasonGiven {
                reason: "JAM".into(),
                since: at(7, 0),
            },
        )],
    )
    .await;
    let named = oee_at(&h.state, query).await;
    assert_eq!(
        named["losses"]["down_by_reason"][0],
        json!({"key": "JAM", "value": 90 * 60_000, "share": 1.0, "cumulative": 1.0}),
        "{}",
        named["losses"]
    );
    assert_eq!(named, fresh(h.state.clone()).await);
    // A count after shift A ended (08:30 UTC) leaves its figures kept.
    assert!(oee_at(&h.state, query).await == named);
    let kept = h.state.oee_runs().len();
    assert!(kept > 0);
    send_heard(&h, &token, vec![floor_event(16, at(8, 30), count(5, 0))]).await;
    assert_eq!(h.state.oee_runs().len(), kept, "shift A's figures stay");
    let later = oee_at(&h.state, query).await;
    assert_eq!(later, fresh(h.state.clone()).await);
    // A plant's calendar is part of what is kept: a new break changes shift A's figures.
    let reply = put(
        &h,
        "/api/v1/plants/default/shifts",
        json!({"time_zone": "Asia/Shanghai", "shifts": [
            {"name": "A", "start": "08:00", "end": "16:00",
             "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "breaks": [{"name": "lunch", "start": "12:00", "end": "13:00"}]}
        ]}),
    )
    .await;
    ok(&reply);
    let longer_break = oee_at(&h.state, query).await;
    // Both stations' hour of lunch, and st-10's planned maintenance.
    assert_eq!(
        longer_break["total"]["pdot_ms"],
        150 * 60_000,
        "{}",
        longer_break["total"]
    );
    assert_eq!(longer_break, fresh(h.state.clone()).await);
}

/// Over several shifts, only the runs a late fact reaches are worked out again, and a report
/// whose first shift is cut by its period reads that shift and the changed one while the
/// shift between them stays kept: still the figures of a report with nothing kept.
#[tokio::test]
async fn issue_15_kept_shifts_between_changed_ones_are_not_read_again() {
    use MachineState::*;
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    let day = |d: u32, hh: u32, mm: u32| Utc.with_ymd_and_hms(2026, 11, d, hh, mm, 0).unwrap();
    let mut events = Vec::new();
    for d in [25, 26, 27] {
        for (when, kind) in [
            (day(d, 0, 0), state(Running, None)),
            (day(d, 1, 0), count(100, 1)),
            (day(d, 2, 0), state(Down, Some("JAM"))),
            (day(d, 2, 30), state(Running, None)),
            (day(d, 5, 0), count(200, 2)),
        ] {
            let seq = events.len() as u64 + 1;
            events.push(floor_event(seq, when, kind));
        }
    }
    // st-20 reports its first state on the 27th: before it, no time was planned for it, whether
    // its figures are worked out from the whole period or from a stretch of it.
    let mut welder = floor_event(16, day(27, 3, 0), state(Running, None));
    welder.source.station = Some("st-20".into());
    events.push(welder);
    send_heard(&h, &token, events).await;
    let query = "plant=default&by=shift&from=2026-11-25T02:00:00Z&to=2026-11-28T00:00:00Z";
    let first = oee_at(&h.state, query).await;
    assert_eq!(
        first["buckets"].as_array().map(Vec::len),
        Some(3),
        "{first}"
    );
    // The 26th and 27th of both stations are kept; the 25th is cut by the period.
    assert_eq!(h.state.oee_runs().len(), 4);
    send_heard(
        &h,
        &token,
        vec![floor_event(17, day(27, 6, 0), count(0, 9))],
    )
    .await;
    assert_eq!(h.state.oee_runs().len(), 2, "the 26th stays kept");
    let late = oee_at(&h.state, query).await;
    // The 25th from 02:00 (2), the 26th and 27th (3 each), and the 9 reported late.
    assert_eq!(late["total"]["scrap"], 2 + 3 + 3 + 9, "{}", late["total"]);
    forget_kept(&h.state).await;
    assert_eq!(late, oee_at(&h.state, query).await);
}

/// Forgets the figures of ended runs kept in `state`'s memory and in the database.
async fn forget_kept(state: &AppState) {
    state.oee_runs().clear();
    state.store().forget_kept_runs().await.unwrap();
}

/// The figures of ended shifts are kept in the database too: an instance that starts (after
/// a restart, or another one beside it) reads them instead of the month of history behind
/// them, and a late fact drops the runs it reaches there as in memory. Shown by taking the
/// history away underneath: the kept runs still give the figures, the open one does not.
#[tokio::test]
async fn issue_15_kept_figures_live_in_the_database_across_a_restart() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send(&h, &token, shift_events()).await;
    let query = "plant=default&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";
    let first = oee_at(&h.state, query).await;
    assert_eq!(first["total"]["scrap"], 15, "{}", first["total"]);
    let restarted = crate::instances::second_instance(&h).await;
    assert!(restarted.oee_runs().is_empty());
    assert_eq!(oee_at(&restarted, query).await, first, "read back the same");
    assert!(
        !restarted.oee_runs().is_empty(),
        "what the database kept is kept in memory too"
    );
    // A late fact reaches shift A: dropped in the database in the batch's transaction, so a
    // third instance that never heard of the batch works it out again.
    send(&h, &token, vec![floor_event(12, at(6, 30), count(0, 7))]).await;
    let third = crate::instances::second_instance(&h).await;
    let late = oee_at(&third, query).await;
    assert_eq!(late["total"]["scrap"], 22, "{}", late["total"]);
    // Kept again by that report: with the history gone, an instance that starts still has
    // shift A's figures from the database; with the kept figures forgotten too, it has none.
    let history = [
        "floor_spans",
        "floor_counts",
        "floor_counts_hour",
        "floor_state",
    ];
    for table in history {
        h.sql(&format!("DELETE FROM {table}"), vec![]);
    }
    let fourth = crate::instances::second_instance(&h).await;
    let kept = oee_at(&fourth, query).await;
    assert_eq!(kept["total"], late["total"]);
    forget_kept(&fourth).await;
    let gone = oee_at(&fourth, query).await;
    assert_eq!(gone["total"]["scrap"], 0, "{}", gone["total"]);
}

/// A report keeps nothing for an edge when a batch reaching back into the runs it works out
/// came between its claim and its keep (it read the history before that batch); a batch of
/// the present does not stop it.
#[tokio::test]
async fn issue_15_a_late_batch_during_a_report_keeps_its_stale_figures_out() {
    use central::store::floor::KeptRun;
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send(&h, &token, shift_events()).await;
    let store = h.state.store().clone();
    let shift_end = at(8, 0);
    let run = |scrap: u64| KeptRun {
        station: "st-10".into(),
        start: at(0, 0),
        end: shift_end,
        figures: central::mes::oee::Figures {
            scrap,
            ..Default::default()
        },
    };
    let keep = |ticket: i64, scrap: u64| {
        let store = store.clone();
        let run = run(scrap);
        async move {
            store
                .keep_runs(vec![("line-1".into(), ticket, "ctx".into(), vec![run])])
                .await
                .unwrap()
        }
    };
    let read = || {
        let store = store.clone();
        async move {
            store
                .kept_runs(
                    "line-1".into(),
                    "st-10".into(),
                    "ctx".into(),
                    at(0, 0),
                    at(23, 0),
                )
                .await
                .unwrap()
        }
    };
    let claim = || {
        let store = store.clone();
        async move {
            let tickets = store
                .claim_runs(vec!["line-1".into()], shift_end)
                .await
                .unwrap();
            assert_eq!(tickets.len(), 1);
            tickets[0].1
        }
    };
    let ticket = claim().await;
    // Scrap of 06:30 reported now: late for the run that ends at 08:00.
    send(&h, &token, vec![floor_event(12, at(6, 30), count(0, 7))]).await;
    assert_eq!(keep(ticket, 15).await, 0, "figures read before the batch");
    assert!(read().await.is_empty());
    let ticket = claim().await;
    // A count of 09:00: after every run kept.
    send(&h, &token, vec![floor_event(13, at(9, 0), count(1, 0))]).await;
    assert_eq!(keep(ticket, 22).await, 1);
    assert_eq!(read().await, vec![run(22)]);
    // A late batch drops what was kept; so does a routing's new ideal cycle time.
    send(&h, &token, vec![floor_event(14, at(7, 0), count(0, 1))]).await;
    assert!(read().await.is_empty(), "dropped by the late batch");
    let ticket = claim().await;
    assert_eq!(keep(ticket, 23).await, 1);
    ok(&put(
        &h,
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 10, "description": "cut", "work_center": "CUT", "ideal_cycle_s": "20"},
            {"operation": 20, "description": "weld", "work_center": "WELD", "ideal_cycle_s": "45.5"}
        ]}),
    )
    .await);
    assert!(read().await.is_empty(), "dropped by the routing");
    assert_eq!(keep(ticket, 23).await, 0, "and the ticket is stale");
}

/// With several instances, a late fact stored at one changes the kept figures of the others:
/// they hear of it through the database's change feed, with the time it changed things from.
#[tokio::test]
async fn issue_15_a_late_fact_at_one_instance_changes_the_kept_figures_of_another() {
    if !on_postgres() {
        println!("on PostgreSQL's pass only: instances share a database");
        return;
    }
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    send(&h, &token, shift_events()).await;
    let other = crate::instances::second_instance(&h).await;
    let query = "plant=default&by=shift&from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";
    let before = oee_at(&other, query).await;
    assert_eq!(before["total"]["scrap"], 15);
    assert!(!other.oee_runs().is_empty());
    let mut woke = other.floor_updates();
    send(&h, &token, vec![floor_event(12, at(6, 30), count(0, 7))]).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), woke.changed())
        .await
        .expect("the other instance heard of the batch")
        .unwrap();
    let after = oee_at(&other, query).await;
    assert_eq!(after["total"]["scrap"], 22, "{}", after["total"]);
}

/// A shift that starts on a holiday of the working calendar does not run: the board shows no
/// current shift on it, as OEE counts no planned time.
#[tokio::test]
async fn issue_15_the_board_runs_no_shift_on_a_holiday() {
    let h = Harness::new().await;
    let token = floor_plant(&h).await;
    ok(&put(
        &h,
        "/api/v1/plants/default/shifts",
        json!({"time_zone": "UTC", "shifts": [
            {"name": "all day", "start": "00:00", "end": "00:00",
             "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
        ]}),
    )
    .await);
    send(&h, &token, shift_events()[..1].to_vec()).await;
    let shift_of_st10 = |board: &Value| {
        board["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["station"] == "st-10")
            .unwrap()["shift"]
            .clone()
    };
    let board = h.get("/api/v1/floor/board?plant=default", ADMIN).await;
    ok(&board);
    assert!(shift_of_st10(&board.json).is_object(), "{}", board.json);
    let today = Utc::now().date_naive();
    ok(&put(
        &h,
        "/api/v1/calendar",
        json!({"working_days": ["mon", "tue", "wed", "thu", "fri"], "holidays": [today]}),
    )
    .await);
    let board = h.get("/api/v1/floor/board?plant=default", ADMIN).await;
    ok(&board);
    assert_eq!(shift_of_st10(&board.json), Value::Null, "{}", board.json);
}

/// Head office's delivery figures on orders worked by hand (issue 15): one completed before its
/// due date, one after it, one open past its due date, one due today, one cancelled (left
/// out), one due before the 30 days; output against plan is the good at the last operation
/// over the orders' quantity. The CSV, the weekly trend and the work orders list (with a
/// plant) say the same.
#[tokio::test]
async fn issue_15_head_office_output_against_plan_and_on_time_orders_worked_by_hand() {
    use crate::work_orders::{reported, started};
    use chrono::Datelike;
    let h = Harness::new().await;
    let token = plant(&h).await;
    // The default plant has no calendar: its days are UTC days.
    let now = Utc::now();
    let today = now.date_naive();
    let day = |n: i64| today - chrono::Duration::days(n);
    let order = |id: &str, qty: &str, due: chrono::NaiveDate| json!({"work_order": id, "item": "FRAME", "qty": qty, "due": due.to_string(), "priority": 5, "line": "L1"});
    for (id, qty, due, release) in [
        ("WO-ON", "100", day(12), true),
        ("WO-LATE", "50", day(10), true),
        ("WO-OPEN", "80", day(5), true),
        ("WO-TODAY", "20", day(0), false),
        ("WO-CANC", "70", day(3), false),
        ("WO-OLD", "10", day(40), false),
    ] {
        let reply = h
            .post("/api/v1/work-orders", ADMIN, order(id, qty, due))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        if release {
            ok(&act(&h, id, "release").await);
        }
    }
    ok(&act(&h, "WO-CANC", "cancel").await);
    // Completed two days before its due date, and two days after it (the edge's time).
    let noon = |n: i64| (day(n).and_hms_opt(12, 0, 0).unwrap()).and_utc();
    let mut events = Vec::new();
    for (wo, good, scrap, done) in [
        ("WO-ON", 100, 0, Some(noon(14))),
        ("WO-LATE", 45, 2, Some(noon(8))),
        ("WO-OPEN", 30, 1, None),
    ] {
        let when = done.unwrap_or_else(|| noon(6));
        for kind in [
            started(wo, 10),
            reported(wo, 10, good + scrap, 0),
            reported(wo, 20, good, scrap),
        ] {
            let mut e = event("line-1", events.len() as u64 + 1);
            e.at = when - chrono::Duration::hours(1);
            e.kind = kind;
            events.push(e);
        }
        if let Some(done) = done {
            let mut e = event("line-1", events.len() as u64 + 1);
            e.at = done;
            e.kind = EventKind::WorkOrderCompleted {
                work_order: wo.into(),
            };
            events.push(e);
        }
    }
    send(&h, &token, events).await;
    let reply = h.get("/api/v1/work-orders/WO-LATE", ADMIN).await;
    assert_eq!(reply.json["state"], "completed", "{}", reply.json);

    let reply = h.get("/api/v1/floor/plants", ADMIN).await;
    ok(&reply);
    let plant = reply.json["plants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plant"] == "default")
        .cloned()
        .unwrap();
    assert_eq!(plant["today"], today.to_string(), "{plant}");
    let month = &plant["delivery_month"];
    // Due in the 30 days: ON, LATE, OPEN, TODAY (CANC cancelled, OLD before).
    assert_eq!(month["due"], 4, "{month}");
    assert_eq!(month["planned_qty"], "250", "{month}");
    assert_eq!(month["good"], 175, "{month}");
    close(&month["output_vs_plan"], 175.0 / 250.0);
    assert_eq!(
        (
            &month["on_time"],
            &month["late"],
            &month["open_past_due"],
            &month["not_yet_due"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1)),
        "{month}"
    );
    close(&month["on_time_rate"], 1.0 / 3.0);
    // Due in the 7 days: OPEN (past due) and TODAY.
    let week = &plant["delivery_week"];
    assert_eq!(week["due"], 2, "{week}");
    assert_eq!(week["planned_qty"], "100", "{week}");
    assert_eq!(week["good"], 30, "{week}");
    close(&week["output_vs_plan"], 0.3);
    assert_eq!(week["open_past_due"], 1, "{week}");
    assert_eq!(week["not_yet_due"], 1, "{week}");
    close(&week["on_time_rate"], 0.0);
    // Twelve ISO weeks, this one last; every order but the cancelled one is due in one of them.
    let weeks = plant["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 12, "{plant}");
    let iso = today.iso_week();
    assert_eq!(
        weeks[11]["key"],
        format!("{}-W{:02}", iso.year(), iso.week()),
        "{plant}"
    );
    let due: u64 = weeks
        .iter()
        .map(|w| w["delivery"]["due"].as_u64().unwrap())
        .sum();
    assert_eq!(due, 5, "{plant}");
    let on_time: u64 = weeks
        .iter()
        .map(|w| w["delivery"]["on_time"].as_u64().unwrap())
        .sum();
    assert_eq!(on_time, 1);
    // The 30 days' OEE trend is there beside the weeks.
    assert!(plant["trend"].is_array(), "{plant}");

    // The CSV's tables say the same.
    let csv = h.get("/api/v1/floor/plants.csv", ADMIN).await;
    ok(&csv);
    let text = csv.json.as_str().unwrap_or_default().to_owned();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "default")
        .expect("the default plant's row");
    let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(cell("orders_due_30_days"), "4", "{text}");
    assert_eq!(cell("planned_qty_30_days"), "250", "{text}");
    assert_eq!(cell("good_qty_30_days"), "175", "{text}");
    assert_eq!(cell("late_30_days"), "1", "{text}");
    assert_eq!(cell("open_past_due_7_days"), "1", "{text}");
    for table in ["delivery", "weeks", "days"] {
        let csv = h
            .get(&format!("/api/v1/floor/plants.csv?table={table}"), ADMIN)
            .await;
        ok(&csv);
        let text = csv.json.as_str().unwrap_or_default().to_owned();
        let rows = text.lines().count() - 1;
        let expected = match table {
            "delivery" => 2,
            "weeks" => 12,
            _ => plant["trend"].as_array().unwrap().len(),
        };
        assert_eq!(rows, expected, "{table}: {text}");
    }
    h.get("/api/v1/floor/plants.csv?table=orders", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // The plant's work orders due in the 30 days, listed with the same delivery figures.
    let reply = h
        .get(
            &format!(
                "/api/v1/work-orders?plant=default&due_from={}&due_to={}",
                day(29),
                day(0)
            ),
            ADMIN,
        )
        .await;
    ok(&reply);
    assert_eq!(reply.json["delivery"], *month, "{}", reply.json);
    let late = reply.json["work_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["work_order"] == "WO-LATE")
        .cloned()
        .unwrap();
    assert_eq!(
        late["completed_at"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        Some(noon(8)),
        "{late}"
    );
}

/// The live OEE and head office pages that ask the same question share one report per floor
/// change (issue 15): many pages at once cost one computation, a page asking again before the
/// floor changed gets the same report, and a change makes the next ask compute it again.
#[tokio::test]
async fn issue_15_live_pages_of_one_question_share_one_report() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let h = Harness::new().await;
    let computed = Arc::new(AtomicUsize::new(0));
    let ask = |generation: u64| {
        let (state, computed) = (h.state.clone(), computed.clone());
        async move {
            central::api::floor::shared_report(
                &state,
                "test|question".into(),
                generation,
                || async {
                    let n = computed.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::task::yield_now().await;
                    Ok::<usize, central::api::error::AppError>(n)
                },
            )
            .await
            .map(|n| *n)
            .expect("a report")
        }
    };
    let pages: Vec<usize> = futures_util::future::join_all((0..50).map(|_| ask(1))).await;
    assert!(pages.iter().all(|n| *n == 1), "{pages:?}");
    assert_eq!(
        computed.load(Ordering::SeqCst),
        1,
        "one computation for 50 pages"
    );
    assert_eq!(ask(1).await, 1, "nothing changed: the same report");
    assert_eq!(ask(2).await, 2, "the floor changed: worked out again");
    assert_eq!(computed.load(Ordering::SeqCst), 2);
}
