//! `mes import` and `mes mrp`: central's ERP API from the command line.

use anyhow::{Context, bail};
use std::path::Path;

fn url(central: &str, path: &str) -> String {
    format!("{}{path}", central.trim_end_matches('/'))
}

/// Prints a successful body to stdout, or the error (with every row error of an import) to
/// stderr and fails.
async fn finish(response: reqwest::Response, what: &str) -> anyhow::Result<()> {
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("{what}: cannot read central's answer"))?;
    if status.is_success() {
        println!("{body}");
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let error = &json["error"];
    match error["message"].as_str() {
        Some(message) => eprintln!("{what}: {message}"),
        None => eprintln!("{what}: {body}"),
    }
    if let Some(details) = error["details"].as_array() {
        for d in details {
            eprintln!(
                "  line {}, column {}: {}",
                d["line"],
                d["column"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            );
        }
    }
    bail!(
        "{what} failed: {} {}",
        status.as_u16(),
        error["code"].as_str().unwrap_or("")
    )
}

/// `mes import --central URL --token T KIND FILE`: posts a CSV file to
/// `/api/v1/import/KIND`; prints `{"kind":…,"rows":…}`.
pub async fn import(central: &str, token: &str, kind: &str, file: &Path) -> anyhow::Result<()> {
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let response = reqwest::Client::new()
        .post(url(central, &format!("/api/v1/import/{kind}")))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach central at {central}"))?;
    finish(response, &format!("import {kind} from {}", file.display())).await
}

/// `mes mrp --central URL --token T [--as-of DATE] [--pegging single|full]`: runs MRP and
/// prints the plan as central returns it.
pub async fn mrp(
    central: &str,
    token: &str,
    as_of: Option<&str>,
    pegging: Option<&str>,
) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if let Some(as_of) = as_of {
        query.push(("as_of", as_of));
    }
    if let Some(pegging) = pegging {
        query.push(("pegging", pegging));
    }
    let response = reqwest::Client::new()
        .post(url(central, "/api/v1/mrp/run"))
        .bearer_auth(token)
        .query(&query)
        .send()
        .await
        .with_context(|| format!("cannot reach central at {central}"))?;
    finish(response, "mrp run").await
}
