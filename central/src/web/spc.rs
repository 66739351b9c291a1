//! `GET /floor/spc?id=&lang=` (`floor.read`): the SPC characteristics of one's plants with
//! where each stands (collecting its baseline, in control, alarms), and one characteristic's
//! charts, X-bar (or individuals) and R (or moving range) with the centre line, control limits,
//! specification limits and target, rule violations in red with their rule numbers, and Cp,
//! Cpk, Pp, Ppk beneath, from [`crate::api::spc::chart_of`], what
//! `GET /api/v1/spc/charts/{id}` answers. The charts are drawn in the browser by the vendored
//! uPlot (assets/charts.js, kind `spc`) from JSON in the page; each chart's levels and a
//! table of its points (values, ranges, the rules broken) carry the same figures for a
//! browser without script.
//!
//! Live as the OEE pages are ([`super::oee`]): the page is its heading and a live part (the
//! list and the chart, [`spc_figures`]) that `GET /floor/spc/live` (server-sent events, the
//! page's query) renders again after every floor change, which a batch that charted a point
//! and an alarm's acknowledgement are, at any instance
//! ([`crate::api::floor::live_page_of_changes`]: sent only when it changed). The pages asking
//! the same (plants seen, characteristic) share one read per change
//! ([`crate::api::floor::shared_report`]).

use super::{Ctx, Shell, T, ctx_shell, ctx_t, encode_query, query_value, secure};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::floor::{live_page_of_changes, shared_report};
use crate::api::policy::{Principal, Routes, needs};
use crate::api::spc::{Chart, Status, chart_of, status_of, visible_characteristics};
use crate::people::roles::Permission;
use crate::people::users::PlantScope;
use crate::store::spc::SpcCharacteristic;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub fn routes() -> Routes {
    Routes::new()
        .get("/floor/spc", needs(Permission::FloorRead), spc_page)
        .get("/floor/spc/live", needs(Permission::FloorRead), spc_live)
}

/// A characteristic in the list.
pub struct Row {
    pub id: u64,
    pub name: String,
    pub item: String,
    pub plant: String,
    pub operation: String,
    pub subgroup_size: u8,
    /// `baseline`, `in_control` or `alarm`.
    pub status: &'static str,
    pub status_text: String,
    pub current: bool,
}

/// A horizontal line of a chart: a control or specification limit, or the target.
pub struct Level {
    /// `usl`, `ucl`, `center`, `lcl`, `lsl` or `target` (its colour on the page).
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
}

/// One chart: its levels listed beneath it (readable without script) and the figures
/// assets/charts.js draws it from (kind `spc`), as JSON for a `<script>` element.
pub struct SpcChart {
    pub id: &'static str,
    pub title: &'static str,
    pub levels: Vec<Level>,
    pub json: String,
}

/// A point as the table beneath the charts lists it.
pub struct PointRow {
    pub n: u64,
    pub at: String,
    pub value: String,
    pub range: String,
    pub station: String,
    pub baseline: bool,
    /// The rules violated here, `1,3`; empty when none.
    pub rules: String,
}

/// A figure beneath the charts.
pub struct Figure {
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "floor_spc.html")]
struct SpcPage {
    t: T,
    shell: Shell,
    /// The live part, rendered ([`spc_figures`]).
    figures: String,
    /// `/floor/spc/live` with this page's query.
    live_href: String,
}

/// The live part: the list and the characteristic shown.
#[derive(Template)]
#[template(path = "floor_spc_figures.html")]
struct SpcFigures {
    t: T,
    rows: Vec<Row>,
    /// The characteristic shown, if any.
    chart: Option<Shown>,
}

pub struct Shown {
    pub id: u64,
    pub name: String,
    pub item: String,
    pub unit: String,
    pub status_text: String,
    pub frozen_at: String,
    pub charts: Vec<SpcChart>,
    /// The points, oldest first, as the charts draw them.
    pub points: Vec<PointRow>,
    /// The table's headings: the X-bar or individual value, the range or moving range.
    pub value_heading: &'static str,
    pub range_heading: &'static str,
    pub limits: Vec<Figure>,
    pub capability: Vec<Figure>,
    pub api_href: String,
    pub n_points: usize,
    /// The caller may retire it (`floor.manage`, its plant theirs) and it is in use.
    pub can_retire: bool,
    /// Who retired it and when, once retired.
    pub retired: String,
}

/// A number as the page shows it (and the browser test compares with the API's).
pub fn number(x: f64) -> String {
    format!("{x:.4}")
}

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

fn status_text(t: &T, c: &crate::store::spc::SpcCharacteristic) -> String {
    match status_of(c) {
        Status::Baseline => t
            .fill("spc_collecting", "k", c.baseline_points)
            .replace("{n}", &c.spec.baseline.to_string()),
        Status::InControl => t.t("spc_in_control").to_owned(),
        Status::Alarm if c.open_alarms == 1 => t.t("spc_alarm_open").to_owned(),
        Status::Alarm => t.fill("spc_alarms_open", "n", c.open_alarms),
        Status::Retired => t.t("spc_retired").to_owned(),
    }
}

fn status_key(status: Status) -> &'static str {
    match status {
        Status::Baseline => "baseline",
        Status::InControl => "in_control",
        Status::Alarm => "alarm",
        Status::Retired => "retired",
    }
}

fn rules_text(rules: &[u8]) -> String {
    rules
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One chart's levels (those that are set and finite) and its JSON for assets/charts.js:
/// `{kind: "spc", title, x_label, value_label, rule_label, n: [...], values: [...],
/// rules: ["", "1,3", ...], levels: [{key, label, value}]}`; a value is `null` where there is
/// none, `rules` is `null` for a chart whose points are checked against no rule (R, MR).
fn chart(
    t: &T,
    id: &'static str,
    title: &'static str,
    value_label: &'static str,
    points: &[(u64, Option<f64>)],
    rules: Option<&[String]>,
    levels: &[(&'static str, &'static str, Option<f64>)],
) -> SpcChart {
    let finite = |v: &f64| v.is_finite();
    let levels: Vec<(&'static str, &'static str, f64)> = levels
        .iter()
        .filter_map(|(key, label, v)| Some((*key, *label, v.filter(finite)?)))
        .collect();
    let json = serde_json::json!({
        "kind": "spc",
        "title": t.t(title),
        "x_label": t.t("spc_point"),
        "value_label": t.t(value_label),
        "rule_label": t.t("spc_rules"),
        "n": points.iter().map(|p| p.0).collect::<Vec<_>>(),
        "values": points.iter().map(|p| p.1.filter(finite)).collect::<Vec<_>>(),
        "rules": rules,
        "levels": levels
            .iter()
            .map(|(key, label, value)| serde_json::json!({"key": key, "label": t.t(label), "value": value}))
            .collect::<Vec<_>>(),
    });
    SpcChart {
        id,
        title,
        levels: levels
            .iter()
            .map(|(key, label, value)| Level {
                key,
                label,
                value: number(*value),
            })
            .collect(),
        json: super::script_json(&json.to_string()),
    }
}

fn shown(t: &T, chart: &Chart) -> Shown {
    let c = &chart.characteristic;
    let individuals = c.spec.subgroup_size <= 1;
    let limits = chart.limits.as_ref();
    let (x_title, x_value, r_title, r_value) = if individuals {
        (
            "spc_i_chart",
            "spc_value",
            "spc_mr_chart",
            "spc_moving_range",
        )
    } else {
        ("spc_xbar_chart", "spc_mean", "spc_r_chart", "spc_range")
    };
    let values: Vec<(u64, Option<f64>)> =
        chart.points.iter().map(|p| (p.n, Some(p.value))).collect();
    let rules: Vec<String> = chart.points.iter().map(|p| rules_text(&p.rules)).collect();
    let ranges: Vec<(u64, Option<f64>)> = chart.points.iter().map(|p| (p.n, p.range)).collect();
    let x_chart = self::chart(
        t,
        "spc-x",
        x_title,
        x_value,
        &values,
        Some(&rules),
        &[
            ("usl", "spc_usl", c.spec.usl),
            ("ucl", "spc_ucl", limits.map(|l| l.ucl)),
            ("center", "spc_center", limits.map(|l| l.center)),
            ("target", "spc_target", c.spec.target),
            ("lcl", "spc_lcl", limits.map(|l| l.lcl)),
            ("lsl", "spc_lsl", c.spec.lsl),
        ],
    );
    let r_chart = self::chart(
        t,
        "spc-r",
        r_title,
        r_value,
        &ranges,
        None,
        &[
            ("ucl", "spc_ucl", limits.map(|l| l.range_ucl)),
            ("center", "spc_center", limits.map(|l| l.range_center)),
            ("lcl", "spc_lcl", limits.map(|l| l.range_lcl)),
        ],
    );
    let points = chart
        .points
        .iter()
        .map(|p| PointRow {
            n: p.n,
            at: t.time(&p.at),
            value: number(p.value),
            range: p.range.map_or_else(|| "–".to_owned(), number),
            station: p.station.clone(),
            baseline: p.baseline,
            rules: rules_text(&p.rules),
        })
        .collect();
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), number);
    let cap = chart.capability.as_ref();
    Shown {
        id: c.id,
        name: c.spec.name.clone(),
        item: c.spec.item.clone(),
        unit: c.spec.unit.clone(),
        status_text: status_text(t, c),
        frozen_at: c
            .frozen_at
            .as_ref()
            .map_or_else(|| "–".to_owned(), |at| t.time(at)),
        charts: vec![x_chart, r_chart],
        points,
        value_heading: x_value,
        range_heading: r_value,
        limits: vec![
            Figure {
                id: "spc-center",
                label: "spc_center",
                value: opt(limits.map(|l| l.center)),
            },
            Figure {
                id: "spc-ucl",
                label: "spc_ucl",
                value: opt(limits.map(|l| l.ucl)),
            },
            Figure {
                id: "spc-lcl",
                label: "spc_lcl",
                value: opt(limits.map(|l| l.lcl)),
            },
            Figure {
                id: "spc-sigma",
                label: "spc_sigma",
                value: opt(limits.map(|l| l.sigma_within)),
            },
            Figure {
                id: "spc-target",
                label: "spc_target",
                value: opt(c.spec.target),
            },
        ],
        capability: vec![
            Figure {
                id: "spc-cp",
                label: "spc_cp",
                value: ratio(cap.and_then(|c| c.cp)),
            },
            Figure {
                id: "spc-cpk",
                label: "spc_cpk",
                value: ratio(cap.and_then(|c| c.cpk)),
            },
            Figure {
                id: "spc-pp",
                label: "spc_pp",
                value: ratio(cap.and_then(|c| c.pp)),
            },
            Figure {
                id: "spc-ppk",
                label: "spc_ppk",
                value: ratio(cap.and_then(|c| c.ppk)),
            },
        ],
        api_href: format!(
            "/api/v1/spc/charts/{}?limit={}",
            c.id,
            crate::api::spc::DEFAULT_POINTS
        ),
        n_points: chart.points.len(),
        can_retire: false,
        retired: match (&c.retired_at, &c.retired_by) {
            (Some(at), by) => format!("{} {}", t.time(at), by.as_deref().unwrap_or_default()),
            _ => String::new(),
        },
    }
}

/// What the page shows: the characteristics the caller sees and the chart of the one asked
/// (else the first), read once per floor change for every page asking the same.
struct SpcView {
    all: Vec<SpcCharacteristic>,
    chart: Option<Chart>,
}

async fn spc_view(
    state: &AppState,
    scope: &PlantScope,
    asked: Option<&str>,
) -> Result<SpcView, AppError> {
    let all = visible_characteristics(state, scope).await?;
    let current = match asked {
        Some(id) => Some(id.to_owned()),
        None => all.first().map(|c| c.id.to_string()),
    };
    let chart = match &current {
        Some(id) => Some(chart_of(state, scope, id, crate::api::spc::DEFAULT_POINTS).await?),
        None => None,
    };
    Ok(SpcView { all, chart })
}

/// [`spc_view`] as of floor change `generation`, shared with the live pages asking the same.
async fn shared_spc(
    state: &AppState,
    scope: &PlantScope,
    asked: Option<&str>,
    generation: u64,
) -> Result<Arc<SpcView>, AppError> {
    let key = format!("spc|{scope:?}|{asked:?}");
    shared_report(state, key, generation, || spc_view(state, scope, asked)).await
}

/// Who may retire what: `floor.manage` and the characteristic's plant among those one
/// changes (an every-plant one: every plant).
#[derive(Clone)]
struct Retirer {
    manages: bool,
    write: PlantScope,
}

impl Retirer {
    fn of(p: &Principal) -> Retirer {
        Retirer {
            manages: p.can(Permission::FloorManage),
            write: p.write.clone(),
        }
    }

    fn may_retire(&self, c: &SpcCharacteristic) -> bool {
        self.manages
            && c.retired_at.is_none()
            && match &c.spec.plant {
                Some(plant) => self.write.contains(plant),
                None => self.write == PlantScope::All,
            }
    }
}

/// The live part of the page: the list with each one's status, the chart shown, its figures
/// and points.
fn spc_figures(t: T, view: &SpcView, retirer: &Retirer) -> Result<String, AppError> {
    let current = view.chart.as_ref().map(|c| c.characteristic.id);
    let rows = view
        .all
        .iter()
        .map(|c| Row {
            id: c.id,
            name: c.spec.name.clone(),
            item: c.spec.item.clone(),
            plant: c.spec.plant.clone().unwrap_or_else(|| "*".to_owned()),
            operation: c
                .spec
                .operation
                .map_or_else(|| "*".to_owned(), |o| o.to_string()),
            subgroup_size: c.spec.subgroup_size,
            status: status_key(status_of(c)),
            status_text: status_text(&t, c),
            current: current == Some(c.id),
        })
        .collect();
    let figures = SpcFigures {
        chart: view.chart.as_ref().map(|c| Shown {
            can_retire: retirer.may_retire(&c.characteristic),
            ..shown(&t, c)
        }),
        t,
        rows,
    };
    figures
        .render()
        .map_err(|e| AppError::internal(format!("the page failed to render: {e}")))
}

async fn spc_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/spc");
    let asked = query_value(&uri, "id");
    let generation = *state.floor_updates().borrow();
    let view = shared_spc(&state, &p.read, asked.as_deref(), generation).await?;
    let t = ctx_t(&ctx);
    let mut live_href = format!("/floor/spc/live?lang={}", t.code());
    if let Some(id) = &asked {
        live_href.push_str(&format!("&id={}", encode_query(id)));
    }
    let page = SpcPage {
        figures: spc_figures(ctx_t(&ctx), &view, &Retirer::of(&p))?,
        live_href,
        t,
        shell: ctx_shell(&ctx),
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// The page's live part as server-sent events ([`live_page_of_changes`]); a characteristic
/// the caller does not see is a 404 as the page's.
async fn spc_live(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/spc");
    let asked: Arc<Option<String>> = Arc::new(query_value(&uri, "id"));
    let scope = Arc::new(p.read.clone());
    // Refused here, before the stream, as the page is.
    let generation = *state.floor_updates().borrow();
    shared_spc(&state, &scope, asked.as_deref(), generation).await?;
    let (lang, zone) = (ctx.t.lang, ctx.t.zone.clone());
    let retirer = Arc::new(Retirer::of(&p));
    let stream = live_page_of_changes(state, move |state, generation| {
        let (asked, scope, retirer, zone) =
            (asked.clone(), scope.clone(), retirer.clone(), zone.clone());
        async move {
            let view = shared_spc(&state, &scope, asked.as_deref(), generation).await?;
            spc_figures(T::new(lang, &zone), &view, &retirer)
        }
    });
    Ok(secure(stream.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::users::Language;

    fn json_of(chart: &SpcChart) -> serde_json::Value {
        serde_json::from_str(&chart.json).expect("the chart's JSON")
    }

    #[test]
    fn a_chart_carries_every_point_and_only_the_levels_that_are_set() {
        let t = T::new(Language::En, "UTC");
        let chart = chart(
            &t,
            "spc-x",
            "spc_i_chart",
            "spc_value",
            &[
                (1, Some(10.0)),
                (2, None),
                (3, Some(f64::NAN)),
                (4, Some(12.5)),
            ],
            Some(&["".into(), "".into(), "".into(), "1,3".into()]),
            &[
                ("ucl", "spc_ucl", Some(11.0)),
                ("center", "spc_center", None),
                ("lcl", "spc_lcl", Some(f64::INFINITY)),
                ("lsl", "spc_lsl", Some(9.0)),
            ],
        );
        let json = json_of(&chart);
        assert_eq!(json["kind"], "spc");
        assert_eq!(json["n"], serde_json::json!([1, 2, 3, 4]));
        // No value, or one that is not finite, is a gap: as many values as points.
        assert_eq!(json["values"], serde_json::json!([10.0, null, null, 12.5]));
        assert_eq!(json["rules"], serde_json::json!(["", "", "", "1,3"]));
        assert_eq!(
            json["levels"],
            serde_json::json!([
                {"key": "ucl", "label": "UCL", "value": 11.0},
                {"key": "lsl", "label": "LSL", "value": 9.0}
            ])
        );
        let listed: Vec<(&str, &str)> = chart
            .levels
            .iter()
            .map(|l| (l.key, l.value.as_str()))
            .collect();
        assert_eq!(listed, [("ucl", "11.0000"), ("lsl", "9.0000")]);
    }

    #[test]
    fn a_chart_in_chinese_and_with_no_points() {
        let t = T::new(Language::Zh, "Asia/Shanghai");
        let chart = chart(
            &t,
            "spc-r",
            "spc_mr_chart",
            "spc_moving_range",
            &[],
            None,
            &[],
        );
        let json = json_of(&chart);
        assert_eq!(json["title"], "移动极差图（MR）");
        assert_eq!(json["n"], serde_json::json!([]));
        assert_eq!(json["values"], serde_json::json!([]));
        // A range chart checks no rules: it has none to show.
        assert_eq!(json["rules"], serde_json::Value::Null);
        assert!(chart.levels.is_empty());
    }

    /// "1 alarms" read wrong: one open alarm is said in the singular, in both languages.
    #[test]
    fn the_status_says_one_alarm_in_the_singular() {
        let mut c = SpcCharacteristic {
            id: 1,
            spec: crate::store::spc::CharacteristicSpec {
                plant: None,
                item: "FRAME".into(),
                operation: None,
                name: "bore".into(),
                unit: "mm".into(),
                target: None,
                lsl: None,
                usl: None,
                subgroup_size: 1,
                baseline: 5,
            },
            limits: None,
            frozen_at: None,
            baseline_points: 5,
            points: 7,
            pending: 0,
            open_alarms: 1,
            retired_at: None,
            retired_by: None,
        };
        let (en, zh) = (T::new(Language::En, "UTC"), T::new(Language::Zh, "UTC"));
        assert_eq!(status_text(&en, &c), "1 alarm");
        assert_eq!(status_text(&zh, &c), "1 个报警");
        c.open_alarms = 2;
        assert_eq!(status_text(&en, &c), "2 alarms");
        assert_eq!(status_text(&zh, &c), "2 个报警");
    }

    #[test]
    fn the_json_cannot_close_its_script_element() {
        let t = T::new(Language::En, "UTC");
        let chart = chart(
            &t,
            "spc-x",
            "spc_i_chart",
            "spc_value",
            &[(1, Some(1.0))],
            Some(&["</script><b>".to_owned()]),
            &[],
        );
        assert!(!chart.json.contains('<'), "{}", chart.json);
        assert_eq!(json_of(&chart)["rules"][0], "</script><b>");
    }
}
