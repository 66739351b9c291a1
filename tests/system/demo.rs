//! The quick start: `mes demo --for N` runs central and two edges reading simulated PLCs,
//! stops by itself, and its last line says nothing was lost or duplicated, and that central's
//! work orders, stock and plan versions agree with the edges' journals and plans.

/// Issue 12: the demo's work orders were not ERP work orders (raw plans; `GET
/// /api/v1/work-orders` empty, WO-1001 only under `unmatched-work-orders`). Now the plant is
/// built through the ERP, and the demo compares central's books with the edges' and exits
/// non-zero when they disagree.
#[test]
fn demo_for_a_few_seconds_ends_with_a_summary_that_lost_and_duplicated_nothing() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(["demo", "--for", "4", "--port", "0"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("mes demo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_summary_agrees(&output.stdout, 1);
    // Issue 13: one user of each role, with a password, for a newcomer to sign in as.
    let stderr = String::from_utf8_lossy(&output.stderr);
    for role in [
        "administrator",
        "plant-manager",
        "supervisor",
        "planner",
        "viewer",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.trim_start().starts_with(role) && l.split_whitespace().count() == 2),
            "no sign-in for {role} in:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("/api/v1/status"),
        "the demo prints the URLs to open"
    );
    assert!(
        stderr.contains("central and the edges agree"),
        "the demo says its books agree: {stderr}"
    );
    // The work orders it tells a newcomer to scan are the firmed ones (WO-000001, …).
    assert!(
        stderr.contains("(91)WO-000001 on line-") && stderr.contains("(91)WO-000002 on line-"),
        "{stderr}"
    );
    // Issue 17: it tells the story of approvals, each step with where to look.
    for step in [
        "trip approved     http",
        "steel bought      http",
        "/api/v1/purchase-orders/PO000001",
        "(400)PO000001",
        "card imported     http",
        "quotation sent    http",
        "order confirmed   http",
        "/deliveries",
        "price changed     http",
        "material asked    at a terminal",
    ] {
        assert!(stderr.contains(step), "{step:?} in {stderr}");
    }
}

/// Issue 14: `mes demo --postgres URL` runs central as two instances on one PostgreSQL
/// database, the edges split between them, and its check (read at the instance the plant was
/// not built through) finds nothing lost, duplicated or disagreeing. A database that already
/// holds edges is refused, named, before anything is written to it.
#[test]
fn demo_on_postgres_runs_two_central_instances_that_agree_with_the_edges() {
    let Some(db) = crate::support::scratch_postgres("demo") else {
        return;
    };
    let demo = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mes"))
            .args(["demo", "--for", "4", "--port", "0", "--postgres", &db.url])
            .env("RUST_LOG", "warn")
            .output()
            .expect("mes demo runs")
    };
    let output = demo();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_summary_agrees(&output.stdout, 2);
    assert!(
        stderr.contains("2 instances on one PostgreSQL database"),
        "the demo names its two instances: {stderr}"
    );
    assert!(
        stderr.contains("central and the edges agree"),
        "the demo says its books agree: {stderr}"
    );

    // Again on the same database: refused, and the database is left as it was.
    let again = demo();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success(),
        "a second demo on a used database ran: {stderr}"
    );
    assert!(
        stderr.contains("already holds 2 edge(s)") && stderr.contains("fresh, empty database"),
        "{stderr}"
    );
}

/// The demo's last line, its JSON summary: `instances` central instances, every generated
/// event committed, acknowledged and at central once, one firmed ERP work order a line and the
/// import's three lots, parts counted, and central's books agreeing with the edges'.
fn assert_summary_agrees(stdout: &[u8], instances: u64) {
    let stdout = String::from_utf8_lossy(stdout);
    let last = stdout.lines().last().expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {summary}"))
    };
    assert_eq!(n("central_instances"), instances, "{summary}");
    assert!(n("generated") > 0, "{summary}");
    assert_eq!(n("committed"), n("generated"), "{summary}");
    assert_eq!(n("acknowledged"), n("committed"), "{summary}");
    assert_eq!(n("at_central"), n("committed"), "{summary}");
    assert_eq!((n("lost"), n("duplicated")), (0, 0), "{summary}");
    // One firmed ERP work order a line, and three lots of stock (the import's).
    assert_eq!((n("work_orders"), n("lots")), (2, 3), "{summary}");
    assert!(
        n("good") > 0,
        "the presses counted into the orders: {summary}"
    );
    assert_eq!(summary["agree"], true, "{summary}");
    assert_eq!(summary["disagreements"], serde_json::json!([]), "{summary}");
}
