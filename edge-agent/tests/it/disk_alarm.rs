//! The disk-nearly-full alarm through a running edge: with `[journal] min_free_disk` above
//! the free space of the journal's filesystem, `/api/v1/status` and `/metrics` say so; with
//! the default threshold (256 MiB, below what this machine has free) they do not.

use edge_agent::config::EdgeConfig;
use edge_agent::topology;

/// Starts an edge whose journal wants `min_free_disk` free; returns (status JSON, metrics).
async fn status_and_metrics(min_free_disk: Option<&str>) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let threshold = min_free_disk
        .map(|t| format!("min_free_disk = \"{t}\"\n"))
        .unwrap_or_default();
    let toml = format!(
        "edge_id = \"line-1\"\n[central]\nurl = \"{}\"\ntoken = \"t\"\n[journal]\npath = \"{}\"\n{threshold}[http]\nlisten = \"127.0.0.1:0\"\n",
        crate::scans::dead_central(),
        dir.path().join("journal.db").display()
    );
    let edge = topology::start(EdgeConfig::from_toml_str(&toml).unwrap())
        .await
        .unwrap();
    let (code, status) = crate::scans::get(&edge, "/api/v1/status").await;
    assert_eq!(code, 200, "{status}");
    let metrics = reqwest::get(format!("http://{}/metrics", edge.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    edge.shutdown().await;
    (status, metrics)
}

#[tokio::test]
async fn a_disk_with_less_free_space_than_min_free_disk_raises_the_alarm() {
    // 1 EiB: more than any test machine has free.
    let (status, metrics) = status_and_metrics(Some("1048576 TiB")).await;
    let free = status["journal"]["disk_free_bytes"]
        .as_u64()
        .expect("the free space is read");
    assert!(free < 1 << 60, "{status}");
    assert_eq!(status["journal"]["quota_alarm"], true, "{status}");
    assert!(
        metrics
            .lines()
            .any(|l| l == "mes_edge_journal_quota_alarm 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_the_default_threshold_and_room_on_disk_there_is_no_alarm() {
    let (status, metrics) = status_and_metrics(None).await;
    let free = status["journal"]["disk_free_bytes"].as_u64().unwrap();
    // The default threshold is 256 MiB; on a machine with less free the alarm is right.
    let expected = free < 256 << 20;
    assert_eq!(status["journal"]["quota_alarm"], expected, "{status}");
    let line = format!("mes_edge_journal_quota_alarm {}", u8::from(expected));
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
}
