//! SPC (issue 15): characteristics fed by the edges' measurements through ingest, I-MR and
//! X-bar/R limits worked by hand and frozen after the baseline, a rule violation raising an
//! alarm the board shows until acknowledged, rebaselining, validation, replays.

use crate::work_orders::{act, create, ok, plant, put};
use crate::*;

fn measurement(edge: &str, seq: u64, name: &str, value: f64, wo: Option<&str>) -> Event {
    let mut e = event(edge, seq);
    e.at = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
        + chrono::Duration::minutes(i64::try_from(seq).unwrap());
    e.source = Source {
        device: Some("gauge-1".into()),
        station: Some("st-10".into()),
    };
    e.kind = EventKind::Measurement {
        characteristic: name.into(),
        value,
        unit: "mm".into(),
        work_order: wo.map(Into::into),
    };
    e
}

/// Sends measurements `values` of `name` on WO-1 from `line-1`, seqs from `first`.
async fn measure(h: &Harness, token: &str, first: u64, name: &str, values: &[f64]) -> u64 {
    let events: Vec<Event> = values
        .iter()
        .enumerate()
        .map(|(i, v)| measurement("line-1", first + i as u64, name, *v, Some("WO-1")))
        .collect();
    send(h, token, "line-1", events).await;
    first + values.len() as u64
}

pub(crate) async fn send(h: &Harness, token: &str, edge: &str, events: Vec<Event>) {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": edge, "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// The plant of `work_orders::plant` with WO-1 (FRAME) released; the edge's token.
async fn spc_plant(h: &Harness) -> String {
    let token = plant(h).await;
    create(h, "WO-1", "100").await;
    ok(&act(h, "WO-1", "release").await);
    token
}

async fn put_one(h: &Harness, c: Value) -> Value {
    let reply = put(
        h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [c]}),
    )
    .await;
    ok(&reply);
    reply.json["characteristics"][0].clone()
}

async fn chart(h: &Harness, id: u64) -> Value {
    let reply = h
        .get(&format!("/api/v1/spc/charts/{id}?limit=1000"), ADMIN)
        .await;
    ok(&reply);
    reply.json
}

#[track_caller]
fn close(got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {got}"));
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

/// Individuals 10.0, 10.2, 9.9, 10.1, 9.8 as the baseline: mean 10.0, moving ranges 0.2, 0.3,
/// 0.2, 0.3 (mean 0.25), sigma 0.25 / 1.128, UCL 10 + 3 sigma, MR UCL 3.267 x 0.25. Then 10.05
/// is in control and 10.9 breaks rule 1: an alarm on the board until acknowledged.
#[tokio::test]
async fn issue_15_spc_i_mr_worked_by_hand_freezes_after_the_baseline_and_rule_1_raises_an_alarm() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;
    let c = put_one(
        &h,
        json!({"item": "FRAME", "name": "bore", "unit": "mm", "target": 10.0, "lsl": 9.0,
               "usl": 11.0, "subgroup_size": 1, "baseline": 5}),
    )
    .await;
    let id = c["id"].as_u64().unwrap();
    assert_eq!(c["limits"], Value::Null);
    assert_eq!(c["points"], 0);

    // Another characteristic's name and an order of another item are not charted.
    let next = measure(&h, &token, 1, "width", &[3.0]).await;
    let next = measure(&h, &token, next, "bore", &[10.0, 10.2, 9.9, 10.1]).await;
    let got = chart(&h, id).await;
    assert_eq!(got["status"], "baseline");
    assert_eq!(got["characteristic"]["baseline_points"], 4);
    assert_eq!(got["limits"], Value::Null);
    assert_eq!(got["capability"], Value::Null);
    assert_eq!(got["points"].as_array().unwrap().len(), 4);
    close(&got["points"][1]["range"], 0.2);
    assert_eq!(got["points"][0]["range"], Value::Null);
    assert_eq!(got["points"][0]["seqs"], json!([2]));

    let next = measure(&h, &token, next, "bore", &[9.8]).await;
    let got = chart(&h, id).await;
    assert_eq!(got["status"], "in_control");
    let sigma = 0.25 / 1.128;
    let limits = got["limits"].clone();
    close(&limits["center"], 10.0);
    close(&limits["ucl"], 10.0 + 3.0 * sigma);
    close(&limits["lcl"], 10.0 - 3.0 * sigma);
    close(&limits["range_center"], 0.25);
    close(&limits["range_ucl"], 3.267 * 0.25);
    close(&limits["sigma_within"], sigma);
    assert!(
        got["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["baseline"] == true)
    );
    assert!(got["characteristic"]["frozen_at"].is_string());

    // In control; then beyond the UCL: rule 1 at point 7, an alarm.
    let next = measure(&h, &token, next, "bore", &[10.05, 10.9]).await;
    let got = chart(&h, id).await;
    assert_eq!(got["limits"], limits, "frozen limits do not move");
    assert_eq!(got["points"][5]["rules"], json!([]));
    assert_eq!(got["points"][6]["rules"], json!([1]));
    assert_eq!(got["points"][6]["baseline"], false);
    assert_eq!(got["status"], "alarm");
    // Capability over the 7 values shown: Cp with the within sigma, hand-worked.
    let values = [10.0, 10.2, 9.9, 10.1, 9.8, 10.05, 10.9];
    let mean = values.iter().sum::<f64>() / 7.0;
    close(&got["capability"]["mean"], mean);
    close(&got["capability"]["cp"], 2.0 / (6.0 * sigma));
    close(
        &got["capability"]["cpk"],
        (11.0 - mean).min(mean - 9.0) / (3.0 * sigma),
    );
    let s = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 6.0).sqrt();
    close(&got["capability"]["pp"], 2.0 / (6.0 * s));

    let board = h.get("/api/v1/floor/board", ADMIN).await;
    ok(&board);
    let alarms = board.json["alarms"].as_array().unwrap().clone();
    assert_eq!(alarms.len(), 1, "{}", board.json);
    assert_eq!(alarms[0]["rule"], 1);
    assert_eq!(alarms[0]["point"], 7);
    assert_eq!(alarms[0]["name"], "bore");
    assert_eq!(alarms[0]["station"], "st-10");
    assert_eq!(alarms[0]["plant"], "default");
    close(&alarms[0]["value"], 10.9);
    let alarm = alarms[0]["id"].as_u64().unwrap();
    // It goes down to the edge's terminal in its next plan.
    let plan = crate::work_orders::poll(&h, &token, 0).await;
    let carried = plan.rules().spc_alarms;
    assert_eq!(carried.len(), 1, "{plan:?}");
    assert_eq!(carried[0].id, alarm);
    assert_eq!(carried[0].rule, 1);
    assert_eq!(carried[0].station, "st-10");
    assert_eq!(carried[0].characteristic, "bore");
    assert!((carried[0].value - 10.9).abs() < 1e-12);

    // Replaying the batches changes nothing.
    let before = chart(&h, id).await;
    let replay: Vec<Event> = (2..next)
        .map(|seq| {
            let v = [10.0, 10.2, 9.9, 10.1, 9.8, 10.05, 10.9][usize::try_from(seq - 2).unwrap()];
            measurement("line-1", seq, "bore", v, Some("WO-1"))
        })
        .collect();
    send(&h, &token, "line-1", replay).await;
    assert_eq!(chart(&h, id).await, before);
    let listed = h.get("/api/v1/spc/alarms", ADMIN).await;
    assert_eq!(listed.json["alarms"].as_array().unwrap().len(), 1);

    // Acknowledged: off the board, in the audit trail, kept in the full list.
    let acked = h
        .post(&format!("/api/v1/spc/alarms/{alarm}/ack"), ADMIN, json!({}))
        .await;
    ok(&acked);
    assert!(acked.json["acked_at"].is_string());
    let board = h.get("/api/v1/floor/board", ADMIN).await;
    assert_eq!(board.json["alarms"], json!([]));
    let after = crate::work_orders::poll(&h, &token, plan.version.0).await;
    assert!(after.version > plan.version);
    assert_eq!(
        after.rules().spc_alarms,
        vec![],
        "acknowledged: off the terminal"
    );
    assert_eq!(chart(&h, id).await["status"], "in_control");
    let all = h.get("/api/v1/spc/alarms?all=true", ADMIN).await;
    assert_eq!(all.json["alarms"][0]["id"], alarm);
    let audit = h.get("/api/v1/audit?entity=spc_alarms", ADMIN).await;
    ok(&audit);
    let entries = audit.json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.json);
    assert_eq!(entries[0]["entity_id"], alarm.to_string());
    h.post("/api/v1/spc/alarms/999/ack", ADMIN, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// Nine individuals in a row above the centre (after the baseline of the test above): rule 2
/// at the ninth, counted from the first point above it, and an alarm naming rule 2.
#[tokio::test]
async fn issue_15_spc_nine_in_a_row_on_one_side_is_rule_2() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;
    let c = put_one(
        &h,
        json!({"item": "FRAME", "name": "bore", "subgroup_size": 1, "baseline": 5}),
    )
    .await;
    let id = c["id"].as_u64().unwrap();
    let next = measure(&h, &token, 1, "bore", &[10.0, 10.2, 9.9, 10.1, 9.8]).await;
    let above = [10.1, 10.2, 10.1, 10.2, 10.1, 10.2, 10.1, 10.2];
    let next = measure(&h, &token, next, "bore", &above).await;
    let got = chart(&h, id).await;
    assert_eq!(got["status"], "in_control", "eight in a row: {got}");
    measure(&h, &token, next, "bore", &[10.1]).await;
    let got = chart(&h, id).await;
    let rules: Vec<&Value> = got["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["rules"])
        .collect();
    let mut want = vec![json!([]); 13];
    want.push(json!([2]));
    assert_eq!(rules, want.iter().collect::<Vec<_>>());
    let alarms = h.get("/api/v1/spc/alarms", ADMIN).await;
    assert_eq!(alarms.json["alarms"][0]["rule"], 2);
    assert_eq!(alarms.json["alarms"][0]["point"], 14);
}

/// Subgroups of 3: [10, 11, 12], [11, 12, 13], [9, 10, 11]: means 11, 12, 10 (grand mean 11),
/// ranges 2 (R-bar 2); UCL 11 + 1.023 x 2, LCL 11 - 1.023 x 2, R UCL 2.574 x 2, R LCL 0. A
/// subgroup split across batches waits for its last value.
#[tokio::test]
async fn issue_15_spc_x_bar_r_worked_by_hand_with_subgroups_across_batches_and_rebaseline() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;
    let c = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "operation": null, "name": "len",
               "lsl": 5.0, "usl": 17.0, "subgroup_size": 3, "baseline": 3}),
    )
    .await;
    let id = c["id"].as_u64().unwrap();
    let next = measure(&h, &token, 1, "len", &[10.0, 11.0, 12.0, 11.0]).await;
    let got = chart(&h, id).await;
    assert_eq!(got["points"].as_array().unwrap().len(), 1);
    assert_eq!(got["characteristic"]["pending"], 1);
    let next = measure(&h, &token, next, "len", &[12.0]).await;
    assert_eq!(chart(&h, id).await["characteristic"]["pending"], 2);
    let next = measure(&h, &token, next, "len", &[13.0, 9.0, 10.0, 11.0]).await;
    let got = chart(&h, id).await;
    let points = got["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[1]["values"], json!([11.0, 12.0, 13.0]));
    assert_eq!(points[1]["seqs"], json!([4, 5, 6]));
    close(&points[1]["value"], 12.0);
    close(&points[1]["range"], 2.0);
    let limits = &got["limits"];
    close(&limits["center"], 11.0);
    close(&limits["ucl"], 11.0 + 1.023 * 2.0);
    close(&limits["lcl"], 11.0 - 1.023 * 2.0);
    close(&limits["range_ucl"], 2.574 * 2.0);
    close(&limits["range_lcl"], 0.0);
    close(&limits["sigma_within"], 2.0 / 1.693);
    assert_eq!(got["characteristic"]["pending"], 0);

    // The subgroup size of a characteristic with points does not change.
    put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [{"plant": "default", "item": "FRAME", "name": "len",
               "subgroup_size": 4, "baseline": 3}]}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
    // Its specification does, and its frozen limits stay.
    let changed = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "name": "len", "lsl": 6.0, "usl": 16.0,
               "subgroup_size": 3, "baseline": 3}),
    )
    .await;
    assert_eq!(changed["id"], id);
    assert_eq!(changed["limits"], got["limits"]);

    // Rebaselined: unfrozen; the next 3 subgroups freeze new limits.
    let reply = h
        .post(
            &format!("/api/v1/spc/characteristics/{id}/rebaseline"),
            ADMIN,
            json!({}),
        )
        .await;
    ok(&reply);
    assert_eq!(reply.json["limits"], Value::Null);
    assert_eq!(reply.json["baseline_points"], 0);
    let next = measure(
        &h,
        &token,
        next,
        "len",
        &[20.0, 20.0, 23.0, 21.0, 21.0, 21.0],
    )
    .await;
    assert_eq!(chart(&h, id).await["limits"], Value::Null);
    measure(&h, &token, next, "len", &[19.0, 19.0, 22.0]).await;
    let got = chart(&h, id).await;
    // Means 21, 21, 20 (grand mean 62/3), ranges 3, 0, 3 (R-bar 2).
    close(&got["limits"]["center"], 62.0 / 3.0);
    close(&got["limits"]["range_center"], 2.0);
    let points = got["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(points[3]["baseline"], true);
}

#[tokio::test]
async fn issue_15_spc_characteristics_name_every_problem() {
    let h = Harness::new().await;
    spc_plant(&h).await;
    let reply = put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [
            {"item": "FRAME", "name": "a", "lsl": 2.0, "usl": 1.0, "subgroup_size": 0, "baseline": 1},
            {"item": "FRAME", "name": "b", "lsl": 1.0, "usl": 2.0, "target": 3.0, "subgroup_size": 11, "baseline": 101},
            {"item": "", "name": "bad name\n", "operation": 0, "unit": "a unit far too long to be a unit of measure", "subgroup_size": 1},
            {"item": "FRAME", "name": "a", "subgroup_size": 2}
        ]}),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let message = reply.json["error"]["message"].as_str().unwrap().to_owned();
    for want in [
        "characteristics[0].lsl: 2 is not below usl 1",
        "characteristics[0].subgroup_size: 0",
        "characteristics[0].baseline: 1; expected 2 to 100",
        "characteristics[1].target: 3 is above usl",
        "characteristics[1].subgroup_size: 11",
        "characteristics[1].baseline: 101",
        "characteristics[2].item",
        "characteristics[2].name",
        "characteristics[2].operation: is 0",
        "characteristics[2].unit",
        "characteristics[3]: plant, item, operation and name appear twice",
    ] {
        assert!(message.contains(want), "{want:?} not in {message:?}");
    }
    put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": []}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [{"plant": "nowhere", "item": "FRAME", "name": "x", "subgroup_size": 1}]}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [{"item": "FRAME", "name": "x", "subgroup_size": 1, "colour": "red"}]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // Nothing was stored.
    let list = h.get("/api/v1/spc/characteristics", ADMIN).await;
    assert_eq!(list.json["characteristics"], json!([]));
    h.get("/api/v1/spc/charts/1?limit=0", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.get("/api/v1/spc/charts/1", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    h.get("/api/v1/spc/charts/x", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// A measurement naming no order is charted on the order its station runs as the edge's last
/// status said; the plant's characteristic wins over an every-plant one.
#[tokio::test]
async fn issue_15_spc_a_measurement_without_an_order_is_charted_on_what_the_station_runs() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;
    let global = put_one(
        &h,
        json!({"item": "FRAME", "name": "bore", "subgroup_size": 1, "baseline": 2}),
    )
    .await;
    let ours = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "operation": 10, "name": "bore",
               "subgroup_size": 1, "baseline": 2}),
    )
    .await;
    // No status yet: the station runs nothing known, the measurement is left to the events.
    send(
        &h,
        &token,
        "line-1",
        vec![measurement("line-1", 1, "bore", 1.0, None)],
    )
    .await;
    assert_eq!(
        chart(&h, ours["id"].as_u64().unwrap()).await["points"],
        json!([])
    );
    let status = json!({
        "protocol": PROTOCOL_VERSION, "edge_id": "line-1", "agent_version": "0.1.0",
        "clock": Utc::now(), "last_seq": 1, "acked_seq": 1, "backlog": 0, "plan_version": 1,
        "stations": [{"station": "st-10", "work_order": "WO-1", "operation": 10, "by": "scan",
                      "good": 0, "scrap": 0, "over_production": false, "counting": true,
                      "unassigned_good": 0, "unassigned_scrap": 0}]
    });
    ok(&h.post("/api/v1/sync/status", &token, status).await);
    send(
        &h,
        &token,
        "line-1",
        vec![measurement("line-1", 2, "bore", 2.0, None)],
    )
    .await;
    let got = chart(&h, ours["id"].as_u64().unwrap()).await;
    assert_eq!(got["points"][0]["work_order"], "WO-1");
    assert_eq!(got["points"][0]["seqs"], json!([2]));
    assert_eq!(
        chart(&h, global["id"].as_u64().unwrap()).await["points"],
        json!([])
    );
}

/// For the record rules' test (`people.rs`): a characteristic of `plant` with baseline 2 on
/// `edge`'s order `wo`, and an alarm from 10.0, 10.2, 50.0. Returns their ids.
pub(crate) async fn records_of(
    h: &Harness,
    plant: &str,
    edge: &str,
    token: &str,
    wo: &str,
) -> (u64, u64) {
    let c = put_one(
        h,
        json!({"plant": plant, "item": "FRAME", "name": "bore", "subgroup_size": 1, "baseline": 2}),
    )
    .await;
    let events = [10.0, 10.2, 50.0]
        .iter()
        .enumerate()
        .map(|(i, v)| measurement(edge, i as u64 + 1, "bore", *v, Some(wo)))
        .collect();
    send(h, token, edge, events).await;
    let alarms = h.get("/api/v1/spc/alarms", ADMIN).await;
    let alarm = alarms.json["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["plant"] == plant)
        .unwrap_or_else(|| panic!("an alarm of {plant}: {}", alarms.json))["id"]
        .as_u64()
        .unwrap();
    (c["id"].as_u64().unwrap(), alarm)
}

/// Issue 15's SPC gaps: a characteristic naming an item the master data lacks is refused,
/// naming it; a characteristic is retired (who may: `floor.manage` for its plant), its open
/// alarm closed and off the edge's terminal, its chart kept read-only, nothing more charted;
/// putting it again brings it back; all in the audit trail.
#[tokio::test]
async fn issue_15_spc_an_unknown_item_is_refused_and_a_retired_characteristic_charts_nothing() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;

    // The item must exist: each characteristic naming an unknown one is named.
    let reply = put(
        &h,
        "/api/v1/spc/characteristics",
        json!({"characteristics": [
            {"item": "FRAME", "name": "bore", "subgroup_size": 1},
            {"item": "FRAEM", "name": "bore", "subgroup_size": 1},
            {"item": "NOPE", "name": "len", "subgroup_size": 1}
        ]}),
    )
    .await;
    let message = reply
        .assert_error(StatusCode::BAD_REQUEST, "bad_request")
        .to_owned();
    assert!(
        message.contains("characteristics[1].item: no item \"FRAEM\""),
        "{message}"
    );
    assert!(
        message.contains("characteristics[2].item: no item \"NOPE\""),
        "{message}"
    );
    assert!(!message.contains("characteristics[0]"), "{message}");
    let list = h.get("/api/v1/spc/characteristics", ADMIN).await;
    assert_eq!(list.json["characteristics"], json!([]), "nothing stored");

    // A characteristic with an open alarm, carried to the edge's terminal.
    let c = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "name": "bore", "subgroup_size": 1, "baseline": 5}),
    )
    .await;
    let id = c["id"].as_u64().unwrap();
    assert!(c["retired_at"].is_null());
    let next = measure(&h, &token, 1, "bore", &[10.0, 10.2, 9.9, 10.1, 9.8, 10.9]).await;
    let got = chart(&h, id).await;
    assert_eq!(got["status"], "alarm");
    let plan = crate::work_orders::poll(&h, &token, 0).await;
    assert_eq!(plan.rules().spc_alarms.len(), 1);

    // Retired by someone with floor.manage for its plant (the route's policy).
    let retired = h
        .post(
            &format!("/api/v1/spc/characteristics/{id}/retire"),
            ADMIN,
            json!({}),
        )
        .await;
    ok(&retired);
    assert!(retired.json["retired_at"].is_string(), "{}", retired.json);
    assert_eq!(retired.json["open_alarms"], 0, "its alarm closed with it");
    let got = chart(&h, id).await;
    assert_eq!(got["status"], "retired");
    assert_eq!(
        got["points"].as_array().unwrap().len(),
        6,
        "its chart is kept"
    );
    let board = h.get("/api/v1/floor/board", ADMIN).await;
    assert_eq!(board.json["alarms"], json!([]));
    let after = crate::work_orders::poll(&h, &token, plan.version.0).await;
    assert!(after.version > plan.version);
    assert_eq!(after.rules().spc_alarms, vec![], "off the terminal");
    let alarms = h.get("/api/v1/spc/alarms?all=true", ADMIN).await;
    assert!(
        alarms.json["alarms"][0]["acked_by"]
            .as_str()
            .is_some_and(|by| by.contains("retired")),
        "{}",
        alarms.json
    );

    // Retired: measurements are no longer charted, it is not rebaselined, retiring again
    // changes nothing.
    measure(&h, &token, next, "bore", &[10.0, 10.1]).await;
    assert_eq!(chart(&h, id).await["points"].as_array().unwrap().len(), 6);
    h.post(
        &format!("/api/v1/spc/characteristics/{id}/rebaseline"),
        ADMIN,
        json!({}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
    let again = h
        .post(
            &format!("/api/v1/spc/characteristics/{id}/retire"),
            ADMIN,
            json!({}),
        )
        .await;
    ok(&again);
    assert_eq!(again.json["retired_at"], retired.json["retired_at"]);
    h.post("/api/v1/spc/characteristics/999/retire", ADMIN, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Retiring is in the audit trail, by who did it.
    let audit = h
        .get(
            &format!("/api/v1/audit?entity=spc_characteristics&entity_id={id}"),
            ADMIN,
        )
        .await;
    assert!(
        audit.json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "update"
                && e["after"]["retired_at"].is_string()
                && e["actor"] == "admin"),
        "{}",
        audit.json
    );

    // Put again: back in use, its history kept.
    let back = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "name": "bore", "subgroup_size": 1, "baseline": 5}),
    )
    .await;
    assert_eq!(back["id"], id);
    assert!(back["retired_at"].is_null());
    assert_eq!(back["points"], 6);
}

/// Reads a live page's server-sent events until the next `page` one, and returns its data (the
/// part of the page, HTML). A `problem` event fails the test; so does a stream silent for a
/// minute (the feed sends at least every 15 s).
async fn next_page(body: &mut Body, text: &mut String) -> String {
    loop {
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut event = "";
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            assert_ne!(event, "problem", "{}", data.join("\n"));
            if event == "page" {
                return data.join("\n");
            }
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(60), body.frame())
            .await
            .expect("a live page sends within a minute")
            .expect("the stream ended")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
    }
}

/// Opens `path` (a live page) at `state` with `session`: its status, and its body when 200.
async fn open_live(state: &AppState, path: &str, session: &str) -> (StatusCode, Body) {
    let request = Request::builder()
        .uri(path)
        .header(header::COOKIE, format!("mes_session={session}"))
        .body(Body::empty())
        .unwrap();
    let response = central::app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "{path}"
        );
    }
    (status, response.into_body())
}

/// The points listed in a part of the SPC page (`data-n` of the points table's rows).
fn listed_points(part: &str) -> Vec<u64> {
    part.split("<tr data-n=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The SPC page is live (issue 15): `/floor/spc/live` sends the page's live part at once, and
/// again when a measurement charts a new point (the new point in the table and the chart's
/// JSON), when it raises an alarm (the status, "1 alarm" in the singular) and when the alarm
/// is acknowledged; on PostgreSQL a page open at another instance hears of the point through
/// the change feed. Another plant's supervisor is refused the characteristic, live or not.
#[tokio::test]
async fn issue_15_the_spc_page_is_live_and_keeps_to_ones_plants() {
    let h = Harness::new().await;
    let token = spc_plant(&h).await;
    let c = put_one(
        &h,
        json!({"plant": "default", "item": "FRAME", "name": "bore", "unit": "mm", "target": 10.0,
               "lsl": 9.0, "usl": 11.0, "subgroup_size": 1, "baseline": 5}),
    )
    .await;
    let id = c["id"].as_u64().unwrap();
    let next = measure(&h, &token, 1, "bore", &[10.0, 10.2, 9.9]).await;
    ok(&put(&h, "/api/v1/plants/plant-b", json!({"name": "Plant B"})).await);
    let supervisor =
        crate::wo_pages::person(&h, "zhou.min", &["supervisor"], &["default"], "en").await;
    let other_plant =
        crate::wo_pages::person(&h, "zhao.lei", &["supervisor"], &["plant-b"], "en").await;

    // Another plant's supervisor: the characteristic is not there for them, live or not.
    for path in [
        format!("/floor/spc/live?id={id}"),
        format!("/floor/spc?id={id}"),
    ] {
        let (status, _) = open_live(&h.state, &path, &other_plant).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // Nor is it listed in their live part.
    let (status, mut body) = open_live(&h.state, "/floor/spc/live?lang=en", &other_plant).await;
    assert_eq!(status, StatusCode::OK);
    let theirs = next_page(&mut body, &mut String::new()).await;
    assert!(theirs.contains("id=\"spc-none\""), "{theirs}");
    drop(body);

    // One's own plant: the live part at once, as on the page.
    let path = format!("/floor/spc/live?id={id}&lang=en");
    let (status, mut body) = open_live(&h.state, &path, &supervisor).await;
    assert_eq!(status, StatusCode::OK);
    let mut text = String::new();
    let first = next_page(&mut body, &mut text).await;
    assert!(first.contains("id=\"spc-figures\""), "{first}");
    assert_eq!(listed_points(&first), [1, 2, 3]);
    assert!(first.contains("Collecting baseline 3/5"), "{first}");
    // A page open at a second instance on the same database (PostgreSQL's pass).
    let other = if on_postgres() {
        let other = crate::instances::second_instance(&h).await;
        let (status, mut body) = open_live(&other, &path, &supervisor).await;
        assert_eq!(status, StatusCode::OK);
        let mut text = String::new();
        assert_eq!(
            listed_points(&next_page(&mut body, &mut text).await),
            [1, 2, 3]
        );
        Some((other, body, text))
    } else {
        None
    };

    // A measurement charts point 4: the next part has it, in the table and the chart's JSON.
    let next = measure(&h, &token, next, "bore", &[10.1]).await;
    let part = next_page(&mut body, &mut text).await;
    assert_eq!(listed_points(&part), [1, 2, 3, 4], "{part}");
    assert!(
        part.contains("<td class=\"num value\">10.1000</td>"),
        "{part}"
    );
    assert!(part.contains("\"n\":[1,2,3,4]"), "{part}");
    assert!(part.contains("Collecting baseline 4/5"), "{part}");
    if let Some((_other, mut body, mut text)) = other {
        // Heard through NOTIFY: the batch was stored at the first instance.
        let part = next_page(&mut body, &mut text).await;
        assert_eq!(
            listed_points(&part),
            [1, 2, 3, 4],
            "at the other instance: {part}"
        );
    }

    // The baseline completes (point 5), then 10.9 breaks rule 1: an alarm, "1 alarm".
    let next = measure(&h, &token, next, "bore", &[9.8]).await;
    let part = next_page(&mut body, &mut text).await;
    assert_eq!(listed_points(&part), [1, 2, 3, 4, 5], "{part}");
    assert!(part.contains("data-status=\"in_control\""), "{part}");
    measure(&h, &token, next, "bore", &[10.9]).await;
    let part = next_page(&mut body, &mut text).await;
    assert_eq!(listed_points(&part), [1, 2, 3, 4, 5, 6], "{part}");
    assert!(part.contains("data-status=\"alarm\""), "{part}");
    assert!(part.contains("<tr data-n=\"6\" data-rules=\"1\""), "{part}");
    assert!(part.contains(">1 alarm<"), "the singular: {part}");

    // Acknowledged: the next part says it is in control again.
    let alarms = h.get("/api/v1/spc/alarms", ADMIN).await;
    let alarm = alarms.json["alarms"][0]["id"].as_u64().unwrap();
    ok(&h
        .post(&format!("/api/v1/spc/alarms/{alarm}/ack"), ADMIN, json!({}))
        .await);
    let part = next_page(&mut body, &mut text).await;
    assert!(part.contains("data-status=\"in_control\""), "{part}");
    assert!(!part.contains("data-status=\"alarm\""), "{part}");
}

/// A live page that most floor changes leave as it was (SPC's) sends a part only when it
/// changed: a floor change that renders the same part sends nothing, the next one that
/// renders another part sends it.
#[tokio::test]
async fn issue_15_a_live_page_of_changes_sends_only_a_part_that_changed() {
    use axum::response::IntoResponse;
    let h = Harness::new().await;
    let content = Arc::new(std::sync::Mutex::new("the same".to_owned()));
    let (rendered, mut renders) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let stream = central::api::floor::live_page_of_changes(h.state.clone(), {
        let content = content.clone();
        move |_state, generation| {
            let (content, rendered) = (content.clone(), rendered.clone());
            async move {
                let part = content.lock().unwrap().clone();
                rendered.send(generation).unwrap();
                Ok(part)
            }
        }
    });
    let mut body = stream.into_response().into_body();
    // The stream is read by a task of its own: it renders only while it is read.
    let (parts, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        loop {
            let part = next_page(&mut body, &mut text).await;
            if parts.send(part).is_err() {
                return;
            }
        }
    });
    assert_eq!(received.recv().await.unwrap(), "the same");
    let first = renders.recv().await.unwrap();
    // A floor change that renders the same part: rendered, not sent.
    h.state.floor_changed();
    let second = renders.recv().await.unwrap();
    assert!(second > first);
    // One that renders another part: sent, and it is the next the page gets.
    *content.lock().unwrap() = "changed".to_owned();
    h.state.floor_changed();
    assert_eq!(received.recv().await.unwrap(), "changed");
    reader.abort();
}
