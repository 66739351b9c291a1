//! The OEE page (`/floor/oee`) and head office's page (`/floor/plants`), both live.
//!
//! Each page is its form and a live part rendered from the report the API answers
//! ([`crate::api::floor::oee_report`], [`crate::api::floor::plants_report`]); the page's script
//! opens `/floor/oee/live` or `/floor/plants/live` (server-sent events, same query) and swaps
//! in each `page` event: the live part rendered again after the floor or a work order changed
//! (head office's output against plan and on-time delivery read the orders). The pages that
//! ask the same question share one report per change ([`shared_report`]).
//!
//! Drill-down: head office's plant row links each figure to the OEE page of the same period
//! (`from` the period's start, `to` the report's time, so the page shows the same figure),
//! delivery to the plant's work orders due in the period; the OEE page links each line to the
//! line's OEE page and each station to the station's, with its spans and counts (`GET
//! /api/v1/floor/history`) beside it.

use super::{
    ByOption, Ctx, FigureRow, FigureTable, ParetoTable, PlantChoice, Shell, T, ctx_shell, ctx_t,
    encode, figure_row, hours, pareto_bars, pareto_chart, pct, plant_choices, query_at, query_id,
    query_value, script_json, secure, target_view, trend_chart,
};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::floor::{
    By, OeeQuery, OeeReport, PlantFigures, PlantsReport, live_page, oee_report, plants_report,
    shared_report,
};
use crate::api::losses::LossKind;
use crate::api::policy::{Principal, Routes, needs};
use crate::erp::delivery::Delivery;
use crate::people::roles::Permission;
use crate::people::users::PlantScope;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Routes {
    use Permission::FloorRead;
    Routes::new()
        .get("/floor/oee", needs(FloorRead), floor_oee)
        .get("/floor/oee/live", needs(FloorRead), floor_oee_live)
        .get("/floor/plants", needs(FloorRead), floor_plants)
        .get("/floor/plants/live", needs(FloorRead), floor_plants_live)
}

pub(super) fn exact(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn by_name(by: By) -> &'static str {
    match by {
        By::Shift => "shift",
        By::Day => "day",
        By::Week => "week",
        By::Month => "month",
        By::Total => "total",
    }
}

/// The OEE page of `plant` (and a line, or an edge's station) by `by` over a period.
pub(super) fn oee_href(
    plant: &str,
    scope: (Option<&str>, Option<(&str, &str)>),
    by: By,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let mut href = format!("/floor/oee?plant={}", encode(plant));
    if let Some(line) = scope.0 {
        href.push_str(&format!("&line={}", encode(line)));
    }
    if let Some((edge, station)) = scope.1 {
        href.push_str(&format!(
            "&edge_id={}&station={}",
            encode(edge),
            encode(station)
        ));
    }
    href.push_str(&format!(
        "&by={}&from={}&to={}",
        by_name(by),
        encode(&exact(from)),
        encode(&exact(to))
    ));
    href
}

/// What a Pareto bar's facts are filtered by: its key under a name, or a station.
pub(super) enum Filter<'a> {
    Key(&'static str, &'a str),
    Station(&'a str, &'a str),
}

/// The stops or scrap behind a figure of the OEE page `q` (period `from`..`to`), filtered.
pub(super) fn losses_href(
    q: &OeeQuery,
    kind: LossKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: Filter<'_>,
) -> String {
    let mut href = format!(
        "/floor/losses?plant={}&kind={}&from={}&to={}",
        encode(&q.plant),
        kind.name(),
        encode(&exact(from)),
        encode(&exact(to))
    );
    if let Some(line) = &q.line {
        href.push_str(&format!("&line={}", encode(line)));
    }
    let station = match filter {
        Filter::Station(edge, station) => Some((edge, station)),
        Filter::Key(..) => q.edge_id.as_deref().zip(q.station.as_deref()),
    };
    if let Some((edge, station)) = station {
        href.push_str(&format!(
            "&edge_id={}&station={}",
            encode(edge),
            encode(station)
        ));
    }
    if let Filter::Key(name, key) = filter {
        href.push_str(&format!("&{name}={}", encode(key)));
    }
    href
}

/// The OEE page's question, from its query (the plant checked against the caller's scope by
/// [`plant_choices`]).
struct Asked {
    plant: Option<String>,
    line: Option<String>,
    edge_id: Option<String>,
    station: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    by: By,
}

fn asked(uri: &Uri) -> Result<Asked, AppError> {
    let parse_at = |name: &str| query_at(uri, name);
    let id = |name: &str| query_id(uri, name);
    let by = match query_value(uri, "by").as_deref() {
        Some("shift") => By::Shift,
        Some("week") => By::Week,
        Some("month") => By::Month,
        Some("total") => By::Total,
        _ => By::Day,
    };
    let edge_id = id("edge_id")?;
    // A station's name may be empty (events that named none); it counts with its edge only.
    let station = match query_value(uri, "station") {
        Some(v) if edge_id.is_some() => {
            if !v.is_empty() {
                protocol::bounds::check_id("station", &v)
                    .map_err(|e| AppError::bad_request(e.to_string()))?;
            }
            Some(v)
        }
        _ => None,
    };
    Ok(Asked {
        plant: id("plant")?,
        line: id("line")?,
        edge_id,
        station,
        from: parse_at("from")?,
        to: parse_at("to")?,
        by,
    })
}

/// The report of `q`, shared with the live pages asking the same as of floor change
/// `generation`.
async fn shared_oee(
    state: &AppState,
    q: &OeeQuery,
    generation: u64,
) -> Result<Arc<OeeReport>, AppError> {
    let key = format!(
        "oee|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        q.plant, q.line, q.edge_id, q.station, q.from, q.to, q.by
    );
    shared_report(state, key, generation, || oee_report(state, q, Utc::now())).await
}

#[derive(Template)]
#[template(path = "floor_oee_figures.html")]
struct OeeFigures {
    t: T,
    to: String,
    total: FigureRow,
    scrap_rate: String,
    /// The plant's targets beside the total's OEE, A, E and Q.
    target_oee: Option<super::TargetView>,
    target_availability: Option<super::TargetView>,
    target_effectiveness: Option<super::TargetView>,
    target_quality: Option<super::TargetView>,
    /// Buckets (the trend), lines, stations.
    tables: Vec<FigureTable>,
    /// Down time by reason, category and shift, planned down time, scrap by station, shift
    /// and item.
    paretos: Vec<ParetoTable>,
    setup_h: String,
    idle_h: String,
    unknown_h: String,
    speed_loss_h: String,
}

/// The live part of the OEE page: figures, tables, loss tree and Pareto charts.
fn oee_figures(t: T, q: &OeeQuery, report: &OeeReport) -> Result<String, AppError> {
    let targets = report.targets.unwrap_or_default();
    let (from, to) = (report.from, report.to);
    let made = report
        .total
        .figures
        .gq
        .saturating_add(report.total.figures.scrap);
    let figures = OeeFigures {
        to: exact(to),
        target_oee: target_view(&t, report.total.oee, targets.oee),
        target_availability: target_view(&t, report.total.availability, targets.availability),
        target_effectiveness: target_view(&t, report.total.effectiveness, targets.effectiveness),
        target_quality: target_view(&t, report.total.quality, targets.quality),
        total: figure_row("total".into(), &report.total),
        scrap_rate: pct((made > 0).then(|| report.total.figures.scrap as f64 / made as f64)),
        tables: vec![
            FigureTable {
                title: "oee_trend",
                id: "oee-buckets",
                rows: report
                    .buckets
                    .iter()
                    .map(|b| {
                        let mut row = figure_row(b.key.clone(), &b.figures);
                        // Down to the bucket's own period cut finer (a day by its shifts),
                        // whose stations lead to their spans and counts.
                        let finer = match q.by {
                            By::Month | By::Week | By::Total => By::Day,
                            By::Day | By::Shift => By::Shift,
                        };
                        let station = q.edge_id.as_deref().zip(q.station.as_deref());
                        row.drill = Some(oee_href(
                            &q.plant,
                            (q.line.as_deref(), station),
                            finer,
                            b.from,
                            b.to,
                        ));
                        row
                    })
                    .collect(),
                chart: Some(trend_chart(&t, &report.buckets, report.targets.as_ref())),
            },
            FigureTable {
                title: "by_line",
                id: "oee-lines",
                rows: report
                    .lines
                    .iter()
                    .map(|l| {
                        let mut row = figure_row(l.line.clone(), &l.figures);
                        row.drill = Some(oee_href(&q.plant, (Some(&l.line), None), q.by, from, to));
                        row
                    })
                    .collect(),
                chart: None,
            },
            FigureTable {
                title: "by_station",
                id: "oee-stations",
                rows: report
                    .stations
                    .iter()
                    .map(|s| {
                        let name = if s.station.is_empty() {
                            s.edge_id.clone()
                        } else {
                            format!("{}/{}", s.edge_id, s.station)
                        };
                        let mut row = figure_row(name, &s.figures);
                        row.source = Some(format!(
                            "/api/v1/floor/history?edge_id={}&station={}&from={}&to={}",
                            encode(&s.edge_id),
                            encode(&s.station),
                            encode(&exact(from)),
                            encode(&exact(to))
                        ));
                        row.drill = Some(oee_href(
                            &q.plant,
                            (None, Some((&s.edge_id, &s.station))),
                            q.by,
                            from,
                            to,
                        ));
                        row
                    })
                    .collect(),
                chart: None,
            },
        ],
        paretos: {
            let l = &report.losses;
            // Stations by their Pareto key (`edge/station`).
            let stations: HashMap<String, (&str, &str)> = report
                .stations
                .iter()
                .map(|s| {
                    (
                        format!("{}/{}", s.edge_id, s.station),
                        (s.edge_id.as_str(), s.station.as_str()),
                    )
                })
                .collect();
            let facts = |kind: LossKind, filter: Filter<'_>| {
                losses_href(q, kind, report.from, report.to, filter)
            };
            let table = |title,
                         id,
                         rows: &[crate::mes::pareto::ParetoRow],
                         as_hours,
                         x,
                         bar,
                         link: &dyn Fn(&str) -> Option<String>| {
                let links: Vec<Option<String>> = rows.iter().map(|r| link(&r.key)).collect();
                ParetoTable {
                    title,
                    id,
                    bars: pareto_bars(rows, as_hours, &links),
                    chart: pareto_chart(&t, rows, as_hours, x, bar, &links),
                }
            };
            let stations = &stations;
            let facts = &facts;
            let by_station = |kind| {
                move |key: &str| {
                    stations
                        .get(key)
                        .map(|at| facts(kind, Filter::Station(at.0, at.1)))
                }
            };
            vec![
                table(
                    "pareto_down",
                    "pareto-down",
                    &l.down_by_reason,
                    true,
                    "stop_reason",
                    "down_h",
                    &|k| Some(facts(LossKind::Down, Filter::Key("reason", k))),
                ),
                table(
                    "pareto_category",
                    "pareto-category",
                    &l.down_by_category,
                    true,
                    "category",
                    "down_h",
                    &|k| Some(facts(LossKind::Down, Filter::Key("category", k))),
                ),
                table(
                    "pareto_down_shift",
                    "pareto-down-shift",
                    &l.down_by_shift,
                    true,
                    "shift_name",
                    "down_h",
                    &|k| Some(facts(LossKind::Down, Filter::Key("shift", k))),
                ),
                table(
                    "pareto_down_station",
                    "pareto-down-station",
                    &l.down_by_station,
                    true,
                    "station",
                    "down_h",
                    &by_station(LossKind::Down),
                ),
                table(
                    "pareto_down_item",
                    "pareto-down-item",
                    &l.down_by_item,
                    true,
                    "wo_item",
                    "down_h",
                    &|k| Some(facts(LossKind::Down, Filter::Key("item", k))),
                ),
                table(
                    "pareto_planned",
                    "pareto-planned",
                    &l.planned_by_reason,
                    true,
                    "stop_reason",
                    "hours_label",
                    // Breaks are the calendar's, not stops to list.
                    &|k| {
                        (!k.starts_with("break:"))
                            .then(|| facts(LossKind::Planned, Filter::Key("reason", k)))
                    },
                ),
                table(
                    "pareto_scrap",
                    "pareto-scrap",
                    &l.scrap_by_station,
                    false,
                    "station",
                    "scrap",
                    &by_station(LossKind::Scrap),
                ),
                table(
                    "pareto_scrap_shift",
                    "pareto-scrap-shift",
                    &l.scrap_by_shift,
                    false,
                    "shift_name",
                    "scrap",
                    &|k| Some(facts(LossKind::Scrap, Filter::Key("shift", k))),
                ),
                table(
                    "pareto_scrap_item",
                    "pareto-scrap-item",
                    &l.scrap_by_item,
                    false,
                    "wo_item",
                    "scrap",
                    &|k| Some(facts(LossKind::Scrap, Filter::Key("item", k))),
                ),
            ]
        },
        setup_h: hours(report.losses.setup_ms),
        idle_h: hours(report.losses.idle_ms),
        unknown_h: hours(report.losses.unknown_ms),
        speed_loss_h: hours(report.losses.speed_loss_ms),
        t,
    };
    figures
        .render()
        .map_err(|e| AppError::internal(format!("the page failed to render: {e}")))
}

/// A step of the drill-down path above the figures.
pub struct Crumb {
    pub text: String,
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "floor_oee.html")]
struct OeePage {
    t: T,
    shell: Shell,
    plants: Vec<PlantChoice>,
    crumbs: Vec<Crumb>,
    line: Option<String>,
    edge_id: Option<String>,
    station: Option<String>,
    from: String,
    to: String,
    time_zone: String,
    by_options: Vec<ByOption>,
    /// The live part, rendered ([`oee_figures`]).
    figures: String,
    /// `/floor/oee/live` with this page's query.
    live_href: String,
    /// The same figures as JSON (`GET /api/v1/floor/oee` with this page's query).
    api_href: String,
    /// And as CSV.
    csv_href: String,
}

/// The question the page asks, its plant checked.
async fn oee_question(
    state: &AppState,
    p: &Principal,
    uri: &Uri,
) -> Result<(Vec<PlantChoice>, OeeQuery), AppError> {
    let a = asked(uri)?;
    let (plants, plant) = plant_choices(state, p, a.plant.as_deref()).await?;
    let plant = plant.ok_or_else(|| AppError::not_found("no plant to show"))?;
    Ok((
        plants,
        OeeQuery {
            plant,
            line: a.line,
            edge_id: a.edge_id,
            station: a.station,
            from: a.from,
            to: a.to,
            by: a.by,
        },
    ))
}

/// The query that asks `q` again (the live feed's).
fn query_of(q: &OeeQuery, lang: &str) -> String {
    let mut query = format!("plant={}&by={}", encode(&q.plant), by_name(q.by));
    for (name, value) in [
        ("line", q.line.clone()),
        ("edge_id", q.edge_id.clone()),
        ("station", q.station.clone()),
        ("from", q.from.map(exact)),
        ("to", q.to.map(exact)),
    ] {
        if let Some(v) = value {
            query.push_str(&format!("&{name}={}", encode(&v)));
        }
    }
    query.push_str(&format!("&lang={lang}"));
    query
}

async fn floor_oee(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/oee");
    let (plants, q) = oee_question(&state, &p, &uri).await?;
    let generation = *state.floor_updates().borrow();
    let report = shared_oee(&state, &q, generation).await?;
    let t = ctx_t(&ctx);
    let (exact_from, exact_to) = (exact(report.from), exact(report.to));
    let mut api_query = format!(
        "plant={}&by={}&from={}&to={}",
        encode(&q.plant),
        by_name(q.by),
        encode(&exact_from),
        encode(&exact_to)
    );
    for (name, value) in [
        ("line", &q.line),
        ("edge_id", &q.edge_id),
        ("station", &q.station),
    ] {
        if let Some(v) = value {
            api_query.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    let plant_name = plants
        .iter()
        .find(|x| x.current)
        .map_or_else(|| q.plant.clone(), |x| x.name.clone());
    let mut crumbs = vec![
        Crumb {
            text: t.t("nav_plants_side").to_owned(),
            href: Some("/floor/plants".into()),
        },
        Crumb {
            text: plant_name,
            href: Some(oee_href(
                &q.plant,
                (None, None),
                q.by,
                report.from,
                report.to,
            )),
        },
    ];
    if let Some(line) = &q.line {
        crumbs.push(Crumb {
            text: line.clone(),
            href: Some(oee_href(
                &q.plant,
                (Some(line), None),
                q.by,
                report.from,
                report.to,
            )),
        });
    }
    if let (Some(edge), Some(station)) = (&q.edge_id, &q.station) {
        // The station's line, from the report, as the step between plant and station.
        if q.line.is_none()
            && let Some(line) = report.stations.first().and_then(|s| s.line.clone())
        {
            crumbs.push(Crumb {
                href: Some(oee_href(
                    &q.plant,
                    (Some(&line), None),
                    q.by,
                    report.from,
                    report.to,
                )),
                text: line,
            });
        }
        crumbs.push(Crumb {
            text: if station.is_empty() {
                edge.clone()
            } else {
                format!("{edge}/{station}")
            },
            href: None,
        });
    }
    if let Some(last) = crumbs.last_mut() {
        last.href = None;
    }
    let by = by_name(q.by);
    let page = OeePage {
        figures: oee_figures(ctx_t(&ctx), &q, &report)?,
        live_href: format!("/floor/oee/live?{}", query_of(&q, t.code())),
        shell: ctx_shell(&ctx),
        plants,
        crumbs,
        csv_href: format!("/api/v1/floor/oee.csv?{api_query}"),
        api_href: format!("/api/v1/floor/oee?{api_query}"),
        time_zone: report.time_zone.clone(),
        by_options: [
            ("shift", "by_shift"),
            ("day", "by_day"),
            ("week", "by_week"),
            ("month", "by_month"),
            ("total", "by_total"),
        ]
        .into_iter()
        .map(|(value, key)| ByOption {
            value,
            key,
            selected: value == by,
        })
        .collect(),
        from: report
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to: report.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        line: q.line,
        edge_id: q.edge_id,
        station: q.station,
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// The OEE page's live part as server-sent events ([`live_page`]).
async fn floor_oee_live(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/oee");
    let (_, q) = oee_question(&state, &p, &uri).await?;
    let (lang, zone) = (ctx.t.lang, ctx.t.zone.clone());
    let q = Arc::new(q);
    let stream = live_page(state, move |state, generation| {
        let (q, zone) = (q.clone(), zone.clone());
        async move {
            let report = shared_oee(&state, &q, generation).await?;
            oee_figures(T::new(lang, &zone), &q, &report)
        }
    });
    Ok(secure(stream.into_response()))
}

/// Head office's report for `scope`, shared with the live pages of the same scope.
async fn shared_plants(
    state: &AppState,
    scope: &PlantScope,
    generation: u64,
) -> Result<Arc<PlantsReport>, AppError> {
    shared_report(state, format!("plants|{scope:?}"), generation, || {
        plants_report(state, scope, Utc::now())
    })
    .await
}

/// A period's delivery as the page shows it.
pub struct DeliveryView {
    /// `7_days`, `30_days` or the week's key.
    pub period: String,
    /// Its name in the catalogue.
    pub period_key: &'static str,
    pub due: u64,
    pub planned_qty: String,
    pub good: u64,
    pub output_vs_plan: String,
    pub on_time: u64,
    pub late: u64,
    pub open_past_due: u64,
    pub not_yet_due: u64,
    pub on_time_rate: String,
    /// The plant's work orders due in the period.
    pub href: String,
}

fn delivery_view(
    plant: &str,
    period: &str,
    period_key: &'static str,
    days: (chrono::NaiveDate, chrono::NaiveDate),
    d: &Delivery,
) -> DeliveryView {
    DeliveryView {
        period: period.to_owned(),
        period_key,
        due: d.due,
        planned_qty: d.planned_qty.normalize().to_string(),
        good: d.good,
        output_vs_plan: pct(d.output_vs_plan),
        on_time: d.on_time,
        late: d.late,
        open_past_due: d.open_past_due,
        not_yet_due: d.not_yet_due,
        on_time_rate: pct(d.on_time_rate),
        href: format!(
            "/work-orders?plant={}&due_from={}&due_to={}",
            encode(plant),
            days.0,
            days.1
        ),
    }
}

/// A week of a plant's weekly trend.
pub struct WeekView {
    pub key: String,
    pub figures: FigureRow,
    pub delivery: DeliveryView,
}

/// One plant on the head office page.
pub struct PlantSide {
    pub plant: String,
    pub name: String,
    pub stations: usize,
    pub week: FigureRow,
    pub month: FigureRow,
    pub scrap_rate: String,
    pub down_hours: String,
    /// The 30 days' OEE, oldest first, for the little bars.
    pub trend: Vec<(String, f64)>,
    /// The plant's OEE target beside the 30 days' OEE.
    pub target: Option<super::TargetView>,
    /// Its OEE page (the default period), of the 7 days (total) and of the 30 days (by day),
    /// and of the weekly trend's weeks (by week): each shows the figure linked from here.
    pub plant_href: String,
    pub week_href: String,
    pub month_href: String,
    pub weeks_href: String,
    /// The 30 days' delivery, in the plants' table.
    pub month_delivery: DeliveryView,
    /// The 7 and 30 days', for the delivery table.
    pub deliveries: Vec<DeliveryView>,
    pub weeks: Vec<WeekView>,
}

#[derive(Template)]
#[template(path = "floor_plants_figures.html")]
struct PlantsFigures {
    t: T,
    generated_at: String,
    plants: Vec<PlantSide>,
    /// Every plant's OEE day by day in one chart (assets/charts.js): JSON for a `<script>`.
    chart: String,
    /// And week by week.
    weeks_chart: String,
}

#[derive(Template)]
#[template(path = "floor_plants.html")]
struct PlantsSidePage {
    t: T,
    shell: Shell,
    figures: String,
    live_href: String,
}

/// The plants' OEE per day (`weeks`: per ISO week) side by side: one line per plant over the
/// keys any of them has (each plant's days are its local dates).
fn plants_chart(t: &T, plants: &[PlantFigures], weeks: bool) -> String {
    let keyed = |p: &PlantFigures| -> Vec<(String, Option<f64>)> {
        if weeks {
            p.weeks
                .iter()
                .map(|w| (w.key.clone(), w.figures.oee))
                .collect()
        } else {
            p.trend
                .iter()
                .map(|b| (b.key.clone(), b.figures.oee))
                .collect()
        }
    };
    let keys: std::collections::BTreeSet<String> = plants
        .iter()
        .flat_map(|p| keyed(p).into_iter().map(|(k, _)| k))
        .collect();
    let series: Vec<serde_json::Value> = plants
        .iter()
        .map(|p| {
            let by_key: HashMap<String, Option<f64>> = keyed(p).into_iter().collect();
            serde_json::json!({
                "label": format!("{} ({})", p.name, p.plant),
                "values": keys.iter().map(|k| by_key.get(k).copied().flatten()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let chart = serde_json::json!({
        "kind": "lines",
        "percent": true,
        "x_label": t.t(if weeks { "by_week" } else { "chart_day" }),
        "labels": keys,
        "series": series,
        "targets": [],
    });
    script_json(&chart.to_string())
}

/// The live part of head office's page.
fn plants_figures(t: T, report: &PlantsReport) -> Result<String, AppError> {
    let at = report.generated_at;
    let plants = report
        .plants
        .iter()
        .map(|x| {
            let first_week = x.weeks.first().map_or(x.month_from, |w| {
                let tz = x.time_zone.parse().unwrap_or(chrono_tz::UTC);
                crate::api::floor::local_midnight(tz, w.first_day)
            });
            let today = x.today;
            let month_delivery = delivery_view(
                &x.plant,
                "30_days",
                "period_30_days",
                (today - chrono::Duration::days(29), today),
                &x.delivery_month,
            );
            let deliveries = vec![
                delivery_view(
                    &x.plant,
                    "7_days",
                    "period_7_days",
                    (today - chrono::Duration::days(6), today),
                    &x.delivery_week,
                ),
                delivery_view(
                    &x.plant,
                    "30_days",
                    "period_30_days",
                    (today - chrono::Duration::days(29), today),
                    &x.delivery_month,
                ),
            ];
            PlantSide {
                plant_href: format!("/floor/oee?plant={}", encode(&x.plant)),
                week_href: oee_href(&x.plant, (None, None), By::Total, x.week_from, at),
                month_href: oee_href(&x.plant, (None, None), By::Day, x.month_from, at),
                weeks_href: oee_href(&x.plant, (None, None), By::Week, first_week, at),
                plant: x.plant.clone(),
                name: x.name.clone(),
                stations: x.stations,
                week: figure_row("week".into(), &x.week),
                month: figure_row("month".into(), &x.month),
                scrap_rate: pct(x.scrap_rate),
                down_hours: hours(x.month.figures.adot_ms),
                trend: x
                    .trend
                    .iter()
                    .map(|b| (b.key.clone(), b.figures.oee.unwrap_or(0.0).clamp(0.0, 1.0)))
                    .collect(),
                target: target_view(&t, x.month.oee, x.targets.and_then(|t| t.oee)),
                month_delivery,
                deliveries,
                weeks: x
                    .weeks
                    .iter()
                    .map(|w| WeekView {
                        key: w.key.clone(),
                        figures: figure_row(w.key.clone(), &w.figures),
                        delivery: delivery_view(
                            &x.plant,
                            &w.key,
                            "by_week",
                            (w.first_day, w.last_day),
                            &w.delivery,
                        ),
                    })
                    .collect(),
            }
        })
        .collect();
    let figures = PlantsFigures {
        chart: plants_chart(&t, &report.plants, false),
        weeks_chart: plants_chart(&t, &report.plants, true),
        generated_at: exact(at),
        plants,
        t,
    };
    figures
        .render()
        .map_err(|e| AppError::internal(format!("the page failed to render: {e}")))
}

async fn floor_plants(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/plants");
    let generation = *state.floor_updates().borrow();
    let report = shared_plants(&state, &p.read, generation).await?;
    let t = ctx_t(&ctx);
    let page = PlantsSidePage {
        figures: plants_figures(ctx_t(&ctx), &report)?,
        live_href: format!("/floor/plants/live?lang={}", t.code()),
        t,
        shell: ctx_shell(&ctx),
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// Head office's live part as server-sent events ([`live_page`]).
async fn floor_plants_live(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/plants");
    let (lang, zone) = (ctx.t.lang, ctx.t.zone.clone());
    let scope = Arc::new(p.read.clone());
    let stream = live_page(state, move |state, generation| {
        let (scope, zone) = (scope.clone(), zone.clone());
        async move {
            let report = shared_plants(&state, &scope, generation).await?;
            plants_figures(T::new(lang, &zone), &report)
        }
    });
    Ok(secure(stream.into_response()))
}
