//! The traceability page: `/trace/{lot}` (and `/trace?lot=`, which sends the browser there)
//! draws a lot's genealogy as an inline SVG graph, layered by distance (what it was made of
//! to the left, what was made of it to the right), each lot a link to its own trace, beside a
//! table of each lot's item, where it is now and the work orders it touched. Rendered from
//! [`crate::api::trace::trace`], what `GET /api/v1/lots/{lot}/trace` answers.
//!
//! No customers are shown: central records no shipments yet, so none could be named.

use super::{Ctx, Shell, T, ctx_shell, ctx_t, encode, query_value, redirect};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::policy::{Principal, Routes, needs};
use crate::api::trace::{Side, TraceQuery, TraceReport};
use crate::people::roles::Permission;
use crate::store::people::Record;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use std::collections::HashMap;

pub fn routes() -> Routes {
    use Permission::InventoryRead;
    Routes::new()
        .get("/trace", needs(InventoryRead), ask_page)
        .get(
            "/trace/{lot}",
            needs(InventoryRead).on(Record::Lot, "lot"),
            trace_page,
        )
}

/// Width and height of a lot's box, and the room between columns and rows, in SVG units.
const BOX_W: u32 = 168;
const BOX_H: u32 = 44;
const COL_GAP: u32 = 56;
const ROW_GAP: u32 = 14;
const MARGIN: u32 = 8;

pub struct SvgNode {
    pub lot: String,
    pub label: String,
    pub item: String,
    pub href: String,
    pub x: u32,
    pub y: u32,
    pub text_x: u32,
    pub text_y1: u32,
    pub text_y2: u32,
    /// `start`, `backward`, `forward`, plus ` held` or ` hidden`.
    pub class: String,
}

pub struct SvgLink {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

pub struct Graph {
    pub width: u32,
    pub height: u32,
    pub nodes: Vec<SvgNode>,
    pub links: Vec<SvgLink>,
}

/// A lot's box label: long ids are cut (the full id is the link's title and in the table).
fn label(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Places the report's lots in columns by signed distance and rows in report order.
pub fn layout(report: &TraceReport) -> Graph {
    let back = report
        .nodes
        .iter()
        .filter(|n| n.side == Side::Backward)
        .map(|n| n.depth)
        .max()
        .unwrap_or(0);
    let column = |side: Side, depth: u32| -> u32 {
        match side {
            Side::Start => back,
            Side::Backward => back.saturating_sub(depth),
            Side::Forward => back.saturating_add(depth),
        }
    };
    let mut rows_in: HashMap<u32, u32> = HashMap::new();
    let mut at: HashMap<&str, (u32, u32)> = HashMap::new();
    let mut nodes = Vec::with_capacity(report.nodes.len());
    let mut columns = 0;
    let mut rows = 0;
    for n in &report.nodes {
        let col = column(n.side, n.depth);
        let row = rows_in.entry(col).or_insert(0);
        let x = MARGIN + col * (BOX_W + COL_GAP);
        let y = MARGIN + *row * (BOX_H + ROW_GAP);
        *row += 1;
        columns = columns.max(col + 1);
        rows = rows.max(*row);
        at.insert(n.lot.as_str(), (x, y));
        let mut class = match n.side {
            Side::Start => "start",
            Side::Backward => "backward",
            Side::Forward => "forward",
        }
        .to_owned();
        if n.hold.is_some() {
            class.push_str(" held");
        }
        if !n.visible {
            class.push_str(" hidden");
        }
        nodes.push(SvgNode {
            label: label(&n.lot, 20),
            item: label(n.item.as_deref().unwrap_or(""), 22),
            href: format!("/trace/{}", encode(&n.lot)),
            lot: n.lot.clone(),
            x,
            y,
            text_x: x + 8,
            text_y1: y + 18,
            text_y2: y + 36,
            class,
        });
    }
    let links = report
        .links
        .iter()
        .filter_map(|l| {
            let (cx, cy) = at.get(l.consumed.as_str())?;
            let (px, py) = at.get(l.produced.as_str())?;
            Some(SvgLink {
                x1: cx + BOX_W,
                y1: cy + BOX_H / 2,
                x2: *px,
                y2: py + BOX_H / 2,
            })
        })
        .collect();
    Graph {
        width: 2 * MARGIN + columns * (BOX_W + COL_GAP) - COL_GAP.min(columns * COL_GAP),
        height: 2 * MARGIN + rows * (BOX_H + ROW_GAP),
        nodes,
        links,
    }
}

/// A link to a work order's page.
pub struct OrderLink {
    pub id: String,
    pub href: String,
}

pub struct LotRow {
    pub lot: String,
    pub href: String,
    pub side: &'static str,
    pub depth: u32,
    pub visible: bool,
    pub item: String,
    /// `location: qty uom`, one per location.
    pub on_hand: Vec<String>,
    pub made_by: Vec<OrderLink>,
    pub used_by: Vec<OrderLink>,
    pub hold: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    t: T,
    shell: Shell,
    lot: String,
    graph: Option<Graph>,
    rows: Vec<LotRow>,
    left_out: String,
    may_read_orders: bool,
    api_href: String,
}

fn order_links(orders: &[String]) -> Vec<OrderLink> {
    orders
        .iter()
        .map(|o| OrderLink {
            href: format!("/work-orders/{}", encode(o)),
            id: o.clone(),
        })
        .collect()
}

/// `/trace` (a form to ask for a lot) and `/trace?lot=X` (to `/trace/X`).
async fn ask_page(p: Principal, uri: Uri, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(lot) = query_value(&uri, "lot").map(|l| l.trim().to_owned())
        && !lot.is_empty()
    {
        protocol::bounds::check_id("lot", &lot)
            .map_err(|v| AppError::bad_request(v.to_string()))?;
        return Ok(redirect(&format!("/trace/{}", encode(&lot))));
    }
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/trace");
    let page = TracePage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        lot: String::new(),
        graph: None,
        rows: Vec::new(),
        left_out: String::new(),
        may_read_orders: false,
        api_href: String::new(),
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

async fn trace_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    axum::extract::Path(lot): axum::extract::Path<String>,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/trace");
    let number = |name: &str| -> Result<Option<u64>, AppError> {
        query_value(&uri, name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    AppError::bad_request(format!("{name}: {v:?} is not a whole number"))
                })
            })
            .transpose()
    };
    let query = TraceQuery {
        levels: number("levels")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        nodes: number("nodes")?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let report = crate::api::trace::trace(&state, &p, &lot, &query).await?;
    let graph = layout(&report);
    let rows = report
        .nodes
        .iter()
        .map(|n| LotRow {
            lot: n.lot.clone(),
            href: format!("/trace/{}", encode(&n.lot)),
            side: match n.side {
                Side::Start => "start",
                Side::Backward => "backward",
                Side::Forward => "forward",
            },
            depth: n.depth,
            visible: n.visible,
            item: n.item.clone().unwrap_or_default(),
            on_hand: n
                .on_hand
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} {}",
                        r.location,
                        r.qty
                            .map_or_else(|| "–".to_owned(), |q| q.normalize().to_string()),
                        r.uom
                    )
                })
                .collect(),
            made_by: order_links(&n.made_by),
            used_by: order_links(&n.used_by),
            hold: n
                .hold
                .as_ref()
                .map(|h| h.reason.clone())
                .unwrap_or_default(),
        })
        .collect();
    let t = ctx_t(&ctx);
    let left_out = if report.left_out_backward + report.left_out_forward > 0 {
        t.t("trace_left_out")
            .replace("{backward}", &report.left_out_backward.to_string())
            .replace("{forward}", &report.left_out_forward.to_string())
            .replace("{levels}", &report.levels.to_string())
            .replace("{nodes}", &report.max_nodes.to_string())
    } else {
        String::new()
    };
    let page = TracePage {
        shell: ctx_shell(&ctx),
        api_href: format!(
            "/api/v1/lots/{}/trace?levels={}&nodes={}",
            encode(&lot),
            report.levels,
            report.max_nodes
        ),
        lot,
        graph: Some(graph),
        rows,
        left_out,
        may_read_orders: p.can(Permission::WorkOrdersRead),
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::trace::TraceNode;
    use crate::store::inventory::GenealogyLink;

    fn node(lot: &str, side: Side, depth: u32) -> TraceNode {
        TraceNode {
            lot: lot.into(),
            side,
            depth,
            visible: true,
            item: Some("X".into()),
            on_hand: Vec::new(),
            made_by: Vec::new(),
            used_by: Vec::new(),
            hold: None,
        }
    }

    #[test]
    fn ancestors_stand_left_descendants_right_layered_by_distance() {
        let report = TraceReport {
            lot: "B".into(),
            levels: 4,
            max_nodes: 40,
            nodes: vec![
                node("B", Side::Start, 0),
                node("A1", Side::Backward, 1),
                node("A2", Side::Backward, 1),
                node("R", Side::Backward, 2),
                node("C", Side::Forward, 1),
            ],
            links: vec![
                GenealogyLink {
                    produced: "B".into(),
                    consumed: "A1".into(),
                },
                GenealogyLink {
                    produced: "C".into(),
                    consumed: "B".into(),
                },
                GenealogyLink {
                    produced: "A1".into(),
                    consumed: "gone".into(),
                },
            ],
            left_out_backward: 0,
            left_out_forward: 0,
        };
        let g = layout(&report);
        let x = |lot: &str| g.nodes.iter().find(|n| n.lot == lot).unwrap().x;
        assert!(x("R") < x("A1") && x("A1") == x("A2") && x("A2") < x("B") && x("B") < x("C"));
        let y = |lot: &str| g.nodes.iter().find(|n| n.lot == lot).unwrap().y;
        assert!(y("A1") < y("A2"), "stacked in a column");
        // A link to a lot not shown is not drawn; the others run left to right.
        assert_eq!(g.links.len(), 2);
        assert!(g.links.iter().all(|l| l.x1 < l.x2));
        assert!(g.nodes.iter().all(|n| n.x + BOX_W <= g.width));
        assert!(g.nodes.iter().all(|n| n.y + BOX_H <= g.height));
    }

    #[test]
    fn long_lot_ids_are_cut_in_their_box() {
        assert_eq!(label("LOT-1", 20), "LOT-1");
        assert_eq!(label(&"L".repeat(30), 5), "LLLL…");
        assert_eq!(label("批次批次批次", 3), "批次…");
    }
}
