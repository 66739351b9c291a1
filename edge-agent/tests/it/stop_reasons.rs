//! A stop the PLC reported without a reason, through a running edge: a simulated press over
//! Modbus TCP goes `down` with no reason, the line terminal's station view shows the stop
//! with the plant's reasons, and `POST /api/v1/stations/{station}/stop-reason` records the
//! operator's pick as a `stop_reason_given` event, answered only after its commit. Central is
//! unreachable throughout: attributing a stop never needs it.

use super::scans::{get, journal_events, plan, post, start_with};
use edge_agent::sim::plc::{Plc, PlcOptions, state};
use protocol::{EventKind, MachineState, PlanRules, PlanStopReason};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A simulated press on 127.0.0.1:0 that changes state only when told.
async fn press() -> (Plc, u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = PlcOptions {
        cycle: None,
        start_count: 0,
        slow: None,
        seed: Some(1),
    };
    let plc = Plc::new(&options);
    let (stop, mut stopped) = watch::channel(false);
    let server = plc.clone();
    tokio::spawn(async move {
        let _ = server
            .serve(listener, options, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    (plc, port, stop)
}

/// The press's state register, with `down` mapped to no reason (code 3) as many PLCs are.
fn source(port: u16) -> String {
    format!(
        r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1:{port}"
station = "st-10"
interval = "20ms"
timeout = "500ms"

[[sources.tags]]
name = "state"
address = "400003"
role = "state"
states = {{ 0 = "off", 1 = "running", 2 = "idle", 3 = "down", 4 = "down: tool change", 5 = "setup" }}
"#
    )
}

/// The station's view once `check` holds for it (polled; at most 10 s).
async fn view_when(
    edge: &edge_agent::topology::RunningEdge,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, view) = get(edge, "/api/v1/stations/st-10").await;
        assert_eq!(status, 200, "{view}");
        if check(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stop_without_a_reason_is_shown_until_the_operator_picks_one() {
    let (plc, port, stop_press) = press().await;
    let mut plan = plan();
    plan.rules = Some(PlanRules {
        stop_reasons: vec![
            PlanStopReason {
                code: "JAM".into(),
                name: "Material jam".into(),
                name_zh: "卡料".into(),
                category: "breakdown".into(),
                planned: false,
            },
            PlanStopReason {
                code: "BREAK".into(),
                name: "Break".into(),
                name_zh: "休息".into(),
                category: "planned".into(),
                planned: true,
            },
        ],
        ..PlanRules::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let edge = start_with(dir.path(), Some(&plan), &source(port)).await;
    let path = "/api/v1/stations/st-10/stop-reason";

    // Running: nothing to ask, and nothing to give a reason for.
    view_when(&edge, "the press running", |_| true).await;
    let (status, outcome) = post(
        &edge,
        path,
        json!({"reason": "JAM", "since": "2026-11-27T08:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        (outcome["result"].as_str(), outcome["reason"].as_str()),
        (Some("rejected"), Some("no_open_stop")),
        "{outcome}"
    );

    // The press stops and says no more.
    plc.with(|p| p.set_state(state::DOWN_JAM));
    let view = view_when(&edge, "the stop on the terminal", |v| !v["stop"].is_null()).await;
    let stop = &view["stop"];
    assert!(stop["ended"].is_null(), "{stop}");
    assert_eq!(
        stop["reasons"],
        json!([
            {"code": "JAM", "name": "Material jam", "name_zh": "卡料", "category": "breakdown", "planned": false},
            {"code": "BREAK", "name": "Break", "name_zh": "休息", "category": "planned", "planned": true},
        ])
    );
    // The stop the terminal shows is the committed event's, to the microsecond.
    let since = stop["since"].as_str().unwrap().to_owned();
    let down = journal_events(&edge)
        .await
        .into_iter()
        .find(|e| {
            e.kind
                == EventKind::MachineStateChanged {
                    state: MachineState::Down,
                    reason: None,
                }
        })
        .expect("the stop is committed");
    assert_eq!(
        since.parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        down.at
    );

    // Refusals are clear and change nothing: a reason not in the plant's list, another stop,
    // an unknown station, a browser that is not a paired terminal, a reason beyond bounds.
    let (_, outcome) = post(&edge, path, json!({"reason": "COFFEE", "since": since})).await;
    assert_eq!(outcome["reason"], "unknown_stop_reason", "{outcome}");
    assert_eq!(outcome["result"], "rejected", "{outcome}");
    let (_, outcome) = post(
        &edge,
        path,
        json!({"reason": "JAM", "since": "2026-11-27T08:00:00Z"}),
    )
    .await;
    assert_eq!(outcome["reason"], "other_stop", "{outcome}");
    let (status, body) = post(
        &edge,
        "/api/v1/stations/st-99/stop-reason",
        json!({"reason": "JAM", "since": since}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("unknown_station"))
    );
    let unpaired = reqwest::Client::new()
        .post(format!("http://{}{path}", edge.http_addr))
        .json(&json!({"reason": "JAM", "since": since}))
        .send()
        .await
        .unwrap();
    assert_eq!(unpaired.status().as_u16(), 401);
    let (status, body) = post(
        &edge,
        path,
        json!({"reason": "x".repeat(2000), "since": since}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );
    let (status, body) = post(&edge, path, json!({"reason": "JAM"})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );
    assert!(!get(&edge, "/api/v1/stations/st-10").await.1["stop"].is_null());

    // The operator picks a reason: green only after the commit, with the event's seq.
    let (status, outcome) = post(&edge, path, json!({"reason": "JAM", "since": since})).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["result"], "accepted", "{outcome}");
    assert_eq!(outcome["action"], "stop_reason_given", "{outcome}");
    let seq = outcome["seq"].as_u64().expect("a committed seq");
    let events = journal_events(&edge).await;
    let given = events
        .iter()
        .find(|e| e.seq.0 == seq)
        .expect("the answer's seq is in the journal");
    assert_eq!(
        given.kind,
        EventKind::StopReasonGiven {
            reason: "JAM".into(),
            since: down.at
        }
    );
    assert_eq!(given.source.station, Some("st-10".into()));
    assert!(given.at >= down.at);
    // Asked no more; a second tap is told so.
    view_when(&edge, "the stop attributed", |v| v["stop"].is_null()).await;
    let (_, outcome) = post(&edge, path, json!({"reason": "JAM", "since": since})).await;
    assert_eq!(outcome["reason"], "no_open_stop", "{outcome}");

    // A short stop that is over before anyone taps still takes its reason.
    plc.with(|p| p.set_state(state::RUNNING));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !journal_events(&edge).await.iter().any(|e| {
        e.at > down.at
            && matches!(
                e.kind,
                EventKind::MachineStateChanged {
                    state: MachineState::Running,
                    ..
                }
            )
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the press running again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    plc.with(|p| p.set_state(state::DOWN_JAM));
    let view = view_when(&edge, "the second stop", |v| !v["stop"].is_null()).await;
    let second = view["stop"]["since"].as_str().unwrap().to_owned();
    plc.with(|p| p.set_state(state::RUNNING));
    view_when(&edge, "the second stop over", |v| {
        !v["stop"]["ended"].is_null()
    })
    .await;
    let (_, outcome) = post(&edge, path, json!({"reason": "BREAK", "since": second})).await;
    assert_eq!(outcome["result"], "accepted", "{outcome}");

    edge.shutdown().await;
    let _ = stop_press.send(true);
}
