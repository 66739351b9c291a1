//! Plans down: central publishes versions, the edge long-polls, stores each version in its
//! journal, applies it whole, reports it, and still runs it after a restart with central gone.
//! Also the edge's own HTTP face as an operator or a Prometheus server sees it.

use crate::support::*;
use serde_json::{Value, json};

fn work_orders(prefix: &str) -> Value {
    json!([
        {
            "work_order": format!("{prefix}-1"),
            "item": "BRACKET-A",
            "qty": "500",
            "uom": "pcs",
            "due": "2026-12-01",
            "priority": 1,
            "operations": [
                {"operation": 10, "description": "stamp", "station": "st-10", "allowed_components": ["STEEL-2MM"]}
            ]
        }
    ])
}

#[tokio::test]
async fn plans_flow_down_are_reported_and_survive_an_edge_restart_without_central() {
    let tmp = temp_dir();
    let mut central = Central::start(&tmp.path().join("central"), None).await;
    let token = central.create_edge("plan-edge").await;
    central.publish_plan("plan-edge", work_orders("WO-A")).await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "plan-edge",
        &token,
        &central.url(),
        Link {
            batch_max_events: 100,
        },
    );
    let sim = Simulated {
        machines: 1,
        cycle_ms: 5,
        max_events: Some(50),
        seed: 3,
    };
    let mut edge = home.start(Some(sim)).await;

    // Version 1 arrives without anyone asking the edge to fetch it.
    wait_until("the edge to apply plan version 1", DEADLINE, || async {
        edge.status_json().await.filter(|s| s["plan_version"] == 1)
    })
    .await;

    // A newer version wakes the edge's long poll, and central learns which version it runs.
    let published = central.publish_plan("plan-edge", work_orders("WO-B")).await;
    assert_eq!(published["version"], 2);
    wait_until("the edge to apply plan version 2", DEADLINE, || async {
        edge.status_json().await.filter(|s| s["plan_version"] == 2)
    })
    .await;
    wait_until("central to show version 2 applied", DEADLINE, || async {
        central
            .edge_json("plan-edge")
            .await
            .filter(|e| e["plan_version_applied"] == 2 && e["plan_version_published"] == 2)
    })
    .await;

    // The simulated machine counts against the plan's work order.
    let drained = edge.wait_drained(50).await;
    assert_eq!(drained.last_seq, 50);
    let events = central.events("plan-edge").await;
    let booked_to: std::collections::BTreeSet<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            // Before the first plan arrives the machine counts against no order.
            protocol::EventKind::ProductionReported {
                work_order: Some(wo),
                ..
            } => Some(wo.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !booked_to.is_empty(),
        "production is reported against a work order"
    );
    assert!(
        booked_to.iter().all(|wo| ["WO-A-1", "WO-B-1"].contains(wo)),
        "production is reported against the plans' work orders only: {booked_to:?}"
    );

    // Central goes away; the restarted edge still runs version 2 from its journal.
    edge.proc.terminate().await;
    central.kill();
    let edge = home.start(None).await;
    let status = edge.status_json().await.expect("status");
    assert_eq!(status["plan_version"], 2, "{status}");
}

#[tokio::test]
async fn the_edge_serves_health_metrics_and_status() {
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let token = central.create_edge("face-edge").await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "face-edge",
        &token,
        &central.url(),
        Link {
            batch_max_events: 100,
        },
    );
    let sim = Simulated {
        machines: 2,
        cycle_ms: 5,
        max_events: Some(40),
        seed: 9,
    };
    let edge = home.start(Some(sim)).await;
    edge.wait_drained(40).await;

    let (code, _, body) = edge.get("/healthz").await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));

    let (code, content_type, metrics) = edge.get("/metrics").await;
    assert_eq!(code, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for line in [
        "mes_edge_events_appended_total 40",
        "mes_edge_events_acked_total 40",
        "mes_edge_backlog_events 0",
        "mes_edge_last_seq 40",
        "mes_edge_acked_seq 40",
        "mes_edge_oldest_unacked_age_seconds 0.0",
        "mes_edge_journal_quota_alarm 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "metrics lack {line:?}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("mes_edge_sync_errors_total{kind=\"transport\"} 0"),
        "{metrics}"
    );

    let status = edge.status_json().await.expect("status");
    assert_eq!(status["edge_id"], "face-edge");
    assert_eq!(status["last_seq"], 40);
    assert_eq!(status["acked_seq"], 40);
    assert_eq!(status["backlog"], 0);
    assert_eq!(status["central"]["connected"], true);
    assert_eq!(status["journal"]["quota_alarm"], false);
    let devices = status["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{status}");
    assert!(
        devices
            .iter()
            .all(|d| d["station"].is_string() && d["state"].is_string())
    );

    let (code, _, body) = edge.get("/no/such/route").await;
    assert_eq!(code, 404);
    let body: Value = serde_json::from_str(&body).expect("json error");
    assert_eq!(body["error"]["code"], "not_found");

    // Issue 12: logs written to a file kept colour codes. Colour only on a terminal.
    let log = edge.proc.log_text();
    assert!(log.contains("INFO"), "the edge logged: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in the edge's log file:\n{log}"
    );
}

/// Runs `mes ARGS` to its end; panics with its output if it fails.
fn mes_tool(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(args)
        .output()
        .expect("run mes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "mes {args:?} failed:\n{text}");
    text
}

/// Issue 14: a central restored from a backup no longer knows the plan versions it handed out
/// after the backup; its plans (older versions, or new ones numbered again from there) were
/// ignored by an edge that ran a higher version. The restore starts a new plan epoch, and the
/// edge takes the restored central's plans.
#[tokio::test]
async fn after_a_restore_the_edge_takes_the_restored_central_s_plans() {
    let tmp = temp_dir();
    let mut central = Central::start(&tmp.path().join("central"), None).await;
    let data = tmp.path().join("central").join("data");
    let data = data.to_str().unwrap().to_owned();
    let token = central.create_edge("epoch-edge").await;
    central
        .publish_plan("epoch-edge", work_orders("WO-A"))
        .await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "epoch-edge",
        &token,
        &central.url(),
        Link {
            batch_max_events: 100,
        },
    );
    let edge = home.start(None).await;
    wait_until("the edge to apply plan version 1", DEADLINE, || async {
        edge.status_json().await.filter(|s| s["plan_version"] == 1)
    })
    .await;
    // A backup while central runs, then two more versions the backup does not hold.
    let backup = tmp.path().join("central.backup");
    let said = mes_tool(&[
        "central",
        "backup",
        "--data",
        &data,
        "--to",
        backup.to_str().unwrap(),
    ]);
    assert!(said.contains("central.backup"), "{said}");
    central
        .publish_plan("epoch-edge", work_orders("WO-B"))
        .await;
    let third = central
        .publish_plan("epoch-edge", work_orders("WO-C"))
        .await;
    assert_eq!(third["version"], 3);
    wait_until("the edge to apply plan version 3", DEADLINE, || async {
        edge.status_json().await.filter(|s| s["plan_version"] == 3)
    })
    .await;

    // Central is lost and restored from the backup, which knows version 1 only.
    central.kill();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_mes"))
        .args([
            "central",
            "restore",
            "--data",
            &data,
            "--from",
            backup.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a store with data is replaced only with --force"
    );
    mes_tool(&[
        "central",
        "restore",
        "--force",
        "--data",
        &data,
        "--from",
        backup.to_str().unwrap(),
    ]);
    central.launch().await;

    // The edge, still running, takes the restored central's plan (version 1, WO-A) ...
    wait_until(
        "the edge to take the restored central's plan",
        DEADLINE,
        || async { edge.status_json().await.filter(|s| s["plan_version"] == 1) },
    )
    .await;
    // ... and the next one it publishes, version 2 of the new epoch, below the 3 it ran.
    let next = central
        .publish_plan("epoch-edge", work_orders("WO-D"))
        .await;
    assert_eq!(next["version"], 2);
    wait_until(
        "the edge to apply the restored central's version 2",
        DEADLINE,
        || async { edge.status_json().await.filter(|s| s["plan_version"] == 2) },
    )
    .await;
}
