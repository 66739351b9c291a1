//! The stops and scrap behind a loss figure (`/floor/losses`): where each bar of the OEE page's
//! Pareto charts leads. The rows are [`crate::api::losses::loss_report`]'s, the same as `GET
//! /api/v1/floor/losses` answers with this page's query; their total is the bar's.

use super::oee::{exact, oee_href};
use super::{
    Ctx, PlantChoice, Shell, T, ctx_shell, ctx_t, encode, hours, plant_choices, query_at, query_id,
    query_value,
};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::floor::{By, OeeQuery};
use crate::api::losses::{LossKind, LossQuery, LossReport, loss_report};
use crate::api::policy::{Principal, Routes, needs};
use crate::people::roles::Permission;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub fn routes() -> Routes {
    Routes::new().get("/floor/losses", needs(Permission::FloorRead), floor_losses)
}

/// One row as the page shows it.
pub struct LossLine {
    pub from: String,
    pub to: String,
    pub minutes: String,
    pub down_ms: i64,
    pub scrap: u64,
    pub station: String,
    pub line: String,
    pub shift: String,
    pub reason: String,
    pub reason_name: String,
    pub category: String,
    pub work_order: String,
    pub work_order_href: Option<String>,
    pub item: String,
    pub event: String,
    /// The event itself (`GET /api/v1/edges/{id}/events`, for who may read edges).
    pub event_href: Option<String>,
}

/// A filter the page applies, and the page without it.
pub struct Chip {
    pub label: &'static str,
    pub value: String,
    pub remove_href: String,
}

/// A kind of loss to switch to.
pub struct KindTab {
    pub key: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "floor_losses.html")]
struct LossesPage {
    t: T,
    shell: Shell,
    plant_name: String,
    kind: &'static str,
    scrap: bool,
    tabs: Vec<KindTab>,
    chips: Vec<Chip>,
    period: String,
    time_zone: String,
    /// Hours (stops) or parts (scrap), as shown; `total_raw` ms or parts.
    total: String,
    total_raw: i64,
    matched: usize,
    shown: usize,
    truncated: bool,
    rows: Vec<LossLine>,
    oee_href: String,
    api_href: String,
    csv_href: String,
}

/// The page's question from its query (`lang` and unknown names ignored, as pages do).
fn asked(uri: &Uri, plant: String) -> Result<LossQuery, AppError> {
    let at = |name: &str| query_at(uri, name);
    let id = |name: &str| query_id(uri, name);
    let kind = match query_value(uri, "kind").as_deref() {
        None | Some("" | "down") => LossKind::Down,
        Some("planned") => LossKind::Planned,
        Some("scrap") => LossKind::Scrap,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "kind: {other:?}; expected down, planned or scrap"
            )));
        }
    };
    let edge_id = id("edge_id")?;
    // A key may be empty (a stop without a reason, an order of no known item): present and
    // empty filters by it.
    let station = edge_id.as_ref().and_then(|_| query_value(uri, "station"));
    Ok(LossQuery {
        plant,
        line: id("line")?,
        edge_id,
        station,
        from: at("from")?,
        to: at("to")?,
        kind,
        reason: query_value(uri, "reason"),
        category: query_value(uri, "category"),
        shift: query_value(uri, "shift"),
        work_order: query_value(uri, "work_order"),
        item: query_value(uri, "item"),
        limit: None,
    })
}

/// The query of `q` over `report`'s exact period, of `kind` and filtered by `keep`: what
/// the page and the API are asked with.
fn query_of(q: &LossQuery, report: &LossReport, kind: LossKind, keep: &[(&str, &str)]) -> String {
    let mut query = format!(
        "plant={}&kind={}&from={}&to={}",
        encode(&q.plant),
        kind.name(),
        encode(&exact(report.from)),
        encode(&exact(report.to))
    );
    for (name, value) in keep {
        query.push_str(&format!("&{name}={}", encode(value)));
    }
    query
}

/// The query's filters by name, as sent.
fn filters(q: &LossQuery) -> Vec<(&'static str, &str)> {
    [
        ("line", &q.line),
        ("edge_id", &q.edge_id),
        ("station", &q.station),
        ("reason", &q.reason),
        ("category", &q.category),
        ("shift", &q.shift),
        ("work_order", &q.work_order),
        ("item", &q.item),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect()
}

/// This page of `kind` over `report`'s period, filtered by `keep` instead of `q`'s filters.
fn page_href(q: &LossQuery, report: &LossReport, kind: LossKind, keep: &[(&str, &str)]) -> String {
    format!("/floor/losses?{}", query_of(q, report, kind, keep))
}

async fn floor_losses(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/oee");
    let t = ctx_t(&ctx);
    let asked_plant = query_value(&uri, "plant").filter(|v| !v.is_empty());
    let (plants, plant) = plant_choices(&state, &p, asked_plant.as_deref()).await?;
    let plant = plant.ok_or_else(|| AppError::not_found("no plant to show"))?;
    let q = asked(&uri, plant)?;
    let report = loss_report(&state, &q, Utc::now()).await?;
    let tz = report
        .time_zone
        .parse::<chrono_tz::Tz>()
        .unwrap_or(chrono_tz::UTC);
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let names: HashMap<String, (String, String)> = state
        .store()
        .stop_reasons(q.plant.clone())
        .await?
        .into_iter()
        .map(|r| (r.code, (r.name, r.name_zh)))
        .collect();
    let zh = t.code() == "zh";
    let rows: Vec<LossLine> = report
        .rows
        .iter()
        .map(|r| LossLine {
            from: local(r.from),
            to: local(r.to),
            minutes: format!("{:.1}", r.down_ms as f64 / 60_000.0),
            down_ms: r.down_ms,
            scrap: r.scrap,
            station: if r.station.is_empty() {
                r.edge_id.clone()
            } else {
                format!("{}/{}", r.edge_id, r.station)
            },
            line: r.line.clone().unwrap_or_else(|| "–".into()),
            shift: format!("{} {}", r.shift_date, r.shift),
            reason: if r.reason.is_empty() {
                "–".into()
            } else {
                r.reason.clone()
            },
            reason_name: match names.get(&r.reason) {
                Some((_, zh_name)) if zh && !zh_name.is_empty() => zh_name.clone(),
                Some((en, _)) => en.clone(),
                None if r.reason.is_empty() => t.t("no_reason_given").to_owned(),
                None => String::new(),
            },
            category: r.category.clone(),
            work_order: if r.work_order.is_empty() {
                "–".into()
            } else {
                r.work_order.clone()
            },
            work_order_href: (!r.work_order.is_empty())
                .then(|| format!("/work-orders/{}", encode(&r.work_order))),
            item: if r.item.is_empty() {
                "–".into()
            } else {
                r.item.clone()
            },
            event: r
                .seq
                .map(|seq| format!("{} #{seq}", r.edge_id))
                .unwrap_or_default(),
            event_href: r.seq.map(|seq| {
                format!(
                    "/api/v1/edges/{}/events?from={seq}&to={seq}",
                    encode(&r.edge_id)
                )
            }),
        })
        .collect();
    let own = filters(&q);
    let chip_label = |name: &str| match name {
        "line" => "wo_line",
        "edge_id" => "edge",
        "station" => "station",
        "reason" => "stop_reason",
        "category" => "category",
        "shift" => "shift_name",
        "work_order" => "work_order",
        _ => "wo_item",
    };
    let chips = own
        .iter()
        .filter(|(name, _)| *name != "edge_id")
        .map(|(name, value)| {
            // Without a station, its edge goes too.
            let keep: Vec<(&str, &str)> = own
                .iter()
                .filter(|(n, _)| n != name && !(*name == "station" && *n == "edge_id"))
                .copied()
                .collect();
            Chip {
                label: chip_label(name),
                value: match (*name, value.is_empty()) {
                    ("station", _) => format!("{}/{}", q.edge_id.as_deref().unwrap_or(""), value),
                    (_, true) => "–".into(),
                    _ => (*value).to_owned(),
                },
                remove_href: page_href(&q, &report, q.kind, &keep),
            }
        })
        .collect();
    // Switching kind keeps the filters that apply to both.
    let tabs = [
        (LossKind::Down, "loss_down"),
        (LossKind::Planned, "loss_planned"),
        (LossKind::Scrap, "loss_scrap"),
    ]
    .into_iter()
    .map(|(kind, key)| {
        let keep: Vec<(&str, &str)> = own
            .iter()
            .filter(|(n, _)| kind != LossKind::Scrap || !matches!(*n, "reason" | "category"))
            .copied()
            .collect();
        KindTab {
            key,
            href: page_href(&q, &report, kind, &keep),
            current: kind == q.kind,
        }
    })
    .collect();
    let oee_q = OeeQuery {
        plant: q.plant.clone(),
        line: q.line.clone(),
        edge_id: q.edge_id.clone(),
        station: q.station.clone(),
        from: Some(report.from),
        to: Some(report.to),
        by: By::Day,
    };
    let station = q.edge_id.as_deref().zip(q.station.as_deref());
    let api = query_of(&q, &report, q.kind, &filters(&q));
    let scrap = q.kind == LossKind::Scrap;
    let page = LossesPage {
        plant_name: plants
            .iter()
            .find(|x: &&PlantChoice| x.current)
            .map_or_else(|| q.plant.clone(), |x| x.name.clone()),
        kind: q.kind.name(),
        scrap,
        tabs,
        chips,
        period: format!("{} – {}", local(report.from), local(report.to)),
        time_zone: report.time_zone.clone(),
        total: if scrap {
            report.total.to_string()
        } else {
            hours(report.total)
        },
        total_raw: report.total,
        matched: report.matched,
        shown: rows.len(),
        truncated: report.truncated,
        rows,
        oee_href: oee_href(
            &oee_q.plant,
            (oee_q.line.as_deref(), station),
            By::Day,
            report.from,
            report.to,
        ),
        api_href: format!("/api/v1/floor/losses?{api}"),
        csv_href: format!("/api/v1/floor/losses.csv?{api}"),
        shell: ctx_shell(&ctx),
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}
