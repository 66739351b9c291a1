//! Several central instances on one PostgreSQL database behind a real load balancer (HAProxy,
//! nginx), as issue 14 runs central: an edge sends through the balancer, one instance is
//! killed with SIGKILL mid-ingest, and the edge carries on through the other with nothing
//! lost or duplicated. A plan published at one instance reaches the edge whose long poll sits
//! on the other.

use crate::support::{
    BalancerKind, Central, DEADLINE, EdgeHome, Link, LoadBalancer, Simulated,
    assert_central_holds_exactly, assert_exactly_once, scratch_postgres, temp_dir, wait_until,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Events the edge makes: enough that ingest is still under way when an instance dies.
const N_EVENTS: u64 = 6_000;

/// The edge's plan long polls last this long (central allows up to 30 s), so a plan that
/// arrives well before it woke the poll; it did not wait for the next one.
const PLAN_WAIT: Duration = Duration::from_secs(25);

/// Central's counter of events stored, per instance (each process counts its own).
const INGESTED: &str = "mes_central_events_ingested_total";

/// How soon the plan published at one instance must reach the edge polling at the other.
const PLAN_WAKE_LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn haproxy_two_instances_one_killed_mid_ingest_nothing_lost_or_duplicated() {
    two_instances_behind(BalancerKind::HaProxy).await;
}

#[tokio::test]
async fn nginx_two_instances_one_killed_mid_ingest_nothing_lost_or_duplicated() {
    two_instances_behind(BalancerKind::Nginx).await;
}

async fn two_instances_behind(kind: BalancerKind) {
    let started = Instant::now();
    let Some(program) = kind.program() else {
        return;
    };
    let Some(db) = scratch_postgres("instances") else {
        return;
    };
    let tmp = temp_dir();
    let mut a = Central::start_on_store(&tmp.path().join("central-a"), &db.url).await;
    let b = Central::start_on_store(&tmp.path().join("central-b"), &db.url).await;
    let mut balancer = LoadBalancer::start(
        kind,
        &program,
        &tmp.path().join("balancer"),
        &[a.addr, b.addr],
    )
    .await;
    println!(
        "{kind:?} at {} in front of {} and {}",
        balancer.url(),
        a.addr,
        b.addr
    );

    // The edge is made at B; A knows its credential from the shared database.
    let token = b.create_edge("lb-edge").await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "lb-edge",
        &token,
        &balancer.url(),
        Link {
            batch_max_events: 50,
        },
    )
    .with_plan_wait(&format!("{}s", PLAN_WAIT.as_secs()));
    let mut edge = home
        .start(Some(Simulated {
            machines: 3,
            cycle_ms: 1,
            max_events: Some(N_EVENTS),
            seed: 14,
        }))
        .await;

    // Mid-ingest: part of the events stored, through both instances, the rest still coming.
    let acked_at_kill = wait_until(
        "both instances to store part of the events",
        DEADLINE,
        || async {
            let a_ingested = a.metric(INGESTED).await.filter(|&n| n > 0.0)?;
            let b_ingested = b.metric(INGESTED).await.filter(|&n| n > 0.0)?;
            let acked = b
                .try_edge("lb-edge")
                .await
                .map(|e| e.acked_seq)
                .filter(|&acked| acked >= N_EVENTS / 10)?;
            println!("before the kill: A ingested {a_ingested}, B {b_ingested}");
            Some(acked)
        },
    )
    .await;
    let b_before_kill = b.metric(INGESTED).await.unwrap_or(0.0);
    a.kill();
    println!("instance A killed with {acked_at_kill} of {N_EVENTS} events acknowledged");
    assert!(
        acked_at_kill < N_EVENTS,
        "every event was stored before the kill; nothing was left to ingest through B"
    );

    // The edge carries on through B alone.
    let status = edge.wait_drained(N_EVENTS).await;
    assert_eq!(status.last_seq, N_EVENTS);
    assert_eq!(
        status.inconsistency, None,
        "the edge reports an inconsistency"
    );
    assert!(
        status.connected,
        "the edge does not see central through the balancer"
    );
    let b_after = b.metric(INGESTED).await.unwrap_or(0.0);
    assert!(
        b_after > b_before_kill,
        "B ingested nothing after A died ({b_before_kill} before, {b_after} after)"
    );
    println!("drained through B {:?} after the start", started.elapsed());

    // While A was dead every request went to B, so the edge's plan long poll sits there.
    // A comes back; a plan published at A wakes that poll through the database.
    a.launch().await;
    let published_at = Instant::now();
    let plan = a
        .publish_plan(
            "lb-edge",
            json!([{
                "work_order": "WO-LB-1",
                "item": "BRACKET-A",
                "qty": "500",
                "uom": "pcs",
                "due": "2026-12-01",
                "priority": 1,
                "operations": [{"operation": 10, "description": "stamp", "station": "st-10"}]
            }]),
        )
        .await;
    let version = plan["version"].as_u64().expect("the plan has a version");
    wait_until(
        "the edge to apply the plan published at instance A",
        PLAN_WAKE_LIMIT,
        || async {
            edge.status_json()
                .await
                .filter(|s| s["plan_version"].as_u64() == Some(version))
        },
    )
    .await;
    let plan_latency = published_at.elapsed();
    println!("plan published at A reached the edge in {plan_latency:?}");
    assert!(
        plan_latency < PLAN_WAIT,
        "the plan waited for the next long poll ({plan_latency:?})"
    );
    // Both instances learn which version the edge runs.
    for (name, central) in [("A", &a), ("B", &b)] {
        wait_until(
            &format!("instance {name} to show plan version {version} applied"),
            DEADLINE,
            || async {
                central
                    .edge_json("lb-edge")
                    .await
                    .filter(|e| e["plan_version_applied"].as_u64() == Some(version))
            },
        )
        .await;
    }

    assert!(
        balancer.proc.exited().is_none(),
        "{kind:?} stopped during the test"
    );
    edge.proc.terminate().await;
    // Exactly once, as both instances see the database.
    let journal = assert_exactly_once(&b, &home).await;
    assert_central_holds_exactly(&a, "lb-edge", &journal.events).await;
    println!(
        "{kind:?}: {} events exactly once; test took {:?}",
        journal.last_seq(),
        started.elapsed()
    );
}
