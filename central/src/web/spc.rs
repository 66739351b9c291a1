//! `GET /floor/spc?id=&lang=` (`floor.read`): the SPC characteristics of one's plants with
//! where each stands (collecting its baseline, in control, alarms), and one characteristic's
//! charts drawn on the server as inline SVG (no script, no chart library: the content
//! security policy allows none from elsewhere): X-bar (or individuals) and R (or moving
//! range) with the centre line, control limits and specification limits, rule violations in
//! red with their rule numbers, and Cp, Cpk, Pp, Ppk beneath, from
//! [`crate::api::spc::chart_of`], what `GET /api/v1/spc/charts/{id}` answers.

use super::{Ctx, Shell, T, ctx_shell, ctx_t, query_value};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::policy::{Principal, Routes, needs};
use crate::api::spc::{Chart, Status, chart_of, status_of, visible_characteristics};
use crate::people::roles::Permission;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

pub fn routes() -> Routes {
    Routes::new().get("/floor/spc", needs(Permission::FloorRead), spc_page)
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

/// A horizontal line of a chart.
pub struct Level {
    pub class: &'static str,
    pub label: &'static str,
    pub y: String,
    pub value: String,
}

/// A point of a chart.
pub struct Dot {
    pub n: u64,
    pub x: String,
    pub y: String,
    pub value: String,
    /// The rules violated here, `1,3`; empty when none.
    pub rules: String,
}

/// One chart as SVG coordinates (a 720 × 240 view box).
pub struct Svg {
    pub id: &'static str,
    pub title: &'static str,
    pub levels: Vec<Level>,
    pub path: String,
    pub dots: Vec<Dot>,
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
    pub charts: Vec<Svg>,
    pub limits: Vec<Figure>,
    pub capability: Vec<Figure>,
    pub api_href: String,
    pub n_points: usize,
    /// The caller may retire it (`floor.manage`, its plant theirs) and it is in use.
    pub can_retire: bool,
    /// Who retired it and when, once retired.
    pub retired: String,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 96.0;
const PAD: f64 = 14.0;

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

/// One chart of `values` (with the rules of each point when `rules`) between `levels`.
fn svg(
    id: &'static str,
    title: &'static str,
    points: &[(u64, Option<f64>, String)],
    levels: &[(&'static str, &'static str, Option<f64>)],
) -> Svg {
    let finite = |v: &f64| v.is_finite();
    let all: Vec<f64> = points
        .iter()
        .filter_map(|p| p.1)
        .chain(levels.iter().filter_map(|l| l.2))
        .filter(finite)
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if !lo.is_finite() || !hi.is_finite() {
        (0.0, 1.0)
    } else if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        (lo - 1.0, hi + 1.0)
    } else {
        let margin = (hi - lo) * 0.08;
        if margin.is_finite() {
            (lo - margin, hi + margin)
        } else {
            (lo, hi)
        }
    };
    let y = |v: f64| {
        // Values so far apart that their difference is not finite are drawn in the middle.
        let share = (hi - v) / (hi - lo);
        let share = if share.is_finite() { share } else { 0.5 };
        let y = PAD + share * (HEIGHT - 2.0 * PAD);
        format!("{:.1}", y.clamp(0.0, HEIGHT))
    };
    let span = WIDTH - LEFT - RIGHT;
    let step = if points.len() > 1 {
        span / (points.len() - 1) as f64
    } else {
        0.0
    };
    let mut path = Vec::new();
    let mut dots = Vec::new();
    for (i, (n, value, rules)) in points.iter().enumerate() {
        let Some(v) = value.filter(finite) else {
            continue;
        };
        let x = format!("{:.1}", LEFT + step * i as f64);
        let yy = y(v);
        path.push(format!("{x},{yy}"));
        dots.push(Dot {
            n: *n,
            x,
            y: yy,
            value: number(v),
            rules: rules.clone(),
        });
    }
    Svg {
        id,
        title,
        levels: levels
            .iter()
            .filter_map(|(class, label, v)| {
                let v = v.filter(finite)?;
                Some(Level {
                    class,
                    label,
                    y: y(v),
                    value: number(v),
                })
            })
            .collect(),
        path: path.join(" "),
        dots,
    }
}

fn shown(t: &T, chart: &Chart) -> Shown {
    let c = &chart.characteristic;
    let individuals = c.spec.subgroup_size <= 1;
    let limits = chart.limits.as_ref();
    let values: Vec<(u64, Option<f64>, String)> = chart
        .points
        .iter()
        .map(|p| {
            let rules = p
                .rules
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(",");
            (p.n, Some(p.value), rules)
        })
        .collect();
    let ranges: Vec<(u64, Option<f64>, String)> = chart
        .points
        .iter()
        .map(|p| (p.n, p.range, String::new()))
        .collect();
    let x_chart = svg(
        "spc-x",
        if individuals {
            "spc_i_chart"
        } else {
            "spc_xbar_chart"
        },
        &values,
        &[
            ("usl", "spc_usl", c.spec.usl),
            ("ucl", "spc_ucl", limits.map(|l| l.ucl)),
            ("center", "spc_center", limits.map(|l| l.center)),
            ("lcl", "spc_lcl", limits.map(|l| l.lcl)),
            ("lsl", "spc_lsl", c.spec.lsl),
        ],
    );
    let r_chart = svg(
        "spc-r",
        if individuals {
            "spc_mr_chart"
        } else {
            "spc_r_chart"
        },
        &ranges,
        &[
            ("ucl", "spc_ucl", limits.map(|l| l.range_ucl)),
            ("center", "spc_center", limits.map(|l| l.range_center)),
            ("lcl", "spc_lcl", limits.map(|l| l.range_lcl)),
        ],
    );
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

async fn spc_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/spc");
    let t = ctx_t(&ctx);
    let all = visible_characteristics(&state, &p.read).await?;
    let asked = query_value(&uri, "id");
    let current = match &asked {
        Some(id) => Some(id.clone()),
        None => all.first().map(|c| c.id.to_string()),
    };
    let chart = match &current {
        Some(id) => Some(chart_of(&state, &p.read, id, crate::api::spc::DEFAULT_POINTS).await?),
        None => None,
    };
    let rows = all
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
            current: current.as_deref() == Some(c.id.to_string().as_str()),
        })
        .collect();
    let may_retire = |c: &crate::store::spc::SpcCharacteristic| {
        p.can(Permission::FloorManage)
            && c.retired_at.is_none()
            && match &c.spec.plant {
                Some(plant) => p.write.contains(plant),
                None => p.write == crate::people::users::PlantScope::All,
            }
    };
    let page = SpcPage {
        chart: chart.as_ref().map(|c| Shown {
            can_retire: may_retire(&c.characteristic),
            ..shown(&t, c)
        }),
        t,
        shell: ctx_shell(&ctx),
        rows,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ys(chart: &Svg) -> Vec<f64> {
        chart
            .dots
            .iter()
            .map(|d| d.y.parse().unwrap())
            .chain(chart.levels.iter().map(|l| l.y.parse().unwrap()))
            .collect()
    }

    #[test]
    fn charts_stay_inside_their_box_whatever_the_values() {
        let p = |n: u64, v: Option<f64>| (n, v, String::new());
        // Nothing, one point, equal values, no limits, a value that is not finite.
        for (points, levels) in [
            (vec![], vec![]),
            (vec![p(1, Some(5.0))], vec![]),
            (
                vec![p(1, Some(2.0)), p(2, Some(2.0))],
                vec![("center", "spc_center", Some(2.0))],
            ),
            (
                vec![p(1, None), p(2, Some(f64::NAN)), p(3, Some(1e300))],
                vec![("ucl", "spc_ucl", Some(-1e300)), ("lcl", "spc_lcl", None)],
            ),
        ] {
            let chart = svg("x", "spc_i_chart", &points, &levels);
            for y in ys(&chart) {
                assert!((0.0..=HEIGHT).contains(&y), "{y}");
            }
            for d in &chart.dots {
                let x: f64 = d.x.parse().unwrap();
                assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
            }
        }
    }

    #[test]
    fn the_highest_value_is_drawn_highest_and_a_broken_rule_is_kept() {
        let points = vec![
            (1, Some(10.0), String::new()),
            (2, Some(12.0), "1".to_owned()),
        ];
        let chart = svg(
            "x",
            "spc_i_chart",
            &points,
            &[
                ("ucl", "spc_ucl", Some(11.0)),
                ("lcl", "spc_lcl", Some(9.0)),
            ],
        );
        let y: Vec<f64> = chart.dots.iter().map(|d| d.y.parse().unwrap()).collect();
        assert!(y[1] < y[0], "{y:?}");
        assert_eq!(chart.dots[1].rules, "1");
        assert_eq!(chart.dots[1].value, "12.0000");
        assert_eq!(chart.levels.len(), 2);
        assert_eq!(chart.path.split(' ').count(), 2);
    }
}
