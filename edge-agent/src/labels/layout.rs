//! Labels as laid out on the printer: text and barcodes at positions in printer dots.

use super::LabelError;
use super::barcode::{Barcode, Modules, Symbology};
use protocol::barcode::{LabelCode, MaterialLotCode};
use protocol::{ItemId, LotId, WorkOrderId};
use rust_decimal::Decimal;

/// Printer resolution the layouts assume: 8 dots per mm (203 dpi), the common Zebra head.
pub const DOTS_PER_MM: u32 = 8;

/// A label: its size and what is printed where, all in printer dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub width: u32,
    pub height: u32,
    pub items: Vec<Item>,
}

/// One thing printed on a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A line of text; `(x, y)` is its top left, `height` the character cell height
    /// (characters are as wide as they are high).
    Text {
        x: u32,
        y: u32,
        height: u32,
        text: String,
    },
    /// A barcode; `(x, y)` is the top left of the symbol itself: the layout leaves its quiet
    /// zone free around it. `module` is the narrowest bar (or matrix cell) in dots;
    /// `bar_height` applies to linear symbols. `rotated` turns a linear symbol 90° clockwise
    /// ("ladder": bars horizontal, the start at the top); matrix symbols are never rotated.
    Code {
        x: u32,
        y: u32,
        module: u32,
        bar_height: u32,
        rotated: bool,
        barcode: Barcode,
    },
}

impl Item {
    /// Width and height in dots, quiet zone not included.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Item::Text { height, text, .. } => (text.chars().count() as u32 * height, *height),
            Item::Code {
                module,
                bar_height,
                rotated,
                barcode,
                ..
            } => {
                let (w, h) = barcode.modules.dimensions();
                match barcode.modules {
                    Modules::Linear(_) if *rotated => (*bar_height, w as u32 * module),
                    Modules::Linear(_) => (w as u32 * module, *bar_height),
                    Modules::Matrix { .. } => (w as u32 * module, h as u32 * module),
                }
            }
        }
    }
}

/// The widest module [`Label::single`] draws, in dots (2.5 mm).
pub const MAX_MODULE: u32 = 20;

/// Height of the human-readable line under a barcode, in dots (2 mm).
const HRI_HEIGHT: u32 = 16;

impl Label {
    /// A label holding one barcode with its human-readable line under it, quiet zones
    /// included. `module` defaults to 3 dots for linear symbols and 8 for QR, and is held to
    /// 1..=[`MAX_MODULE`].
    pub fn single(barcode: Barcode, module: Option<u32>) -> Label {
        let linear = barcode.symbology.is_linear();
        let module = module
            .unwrap_or(if linear { 3 } else { 8 })
            .clamp(1, MAX_MODULE);
        let quiet = barcode.symbology.quiet_zone() * module;
        let (cols, rows) = barcode.modules.dimensions();
        let symbol_w = cols as u32 * module;
        let symbol_h = if linear {
            (40 * module).max(80)
        } else {
            rows as u32 * module
        };
        let text_w = barcode.text.chars().count() as u32 * HRI_HEIGHT;
        let width = (symbol_w + 2 * quiet).max(text_w + 2 * HRI_HEIGHT);
        let top = if linear { 2 * HRI_HEIGHT } else { quiet };
        let text_y = top + symbol_h + if linear { HRI_HEIGHT / 2 } else { quiet };
        let height = text_y + 2 * HRI_HEIGHT;
        let text = Item::Text {
            x: width.saturating_sub(text_w) / 2,
            y: text_y,
            height: HRI_HEIGHT,
            text: barcode.text.clone(),
        };
        let code = Item::Code {
            x: (width - symbol_w) / 2,
            y: top,
            module,
            bar_height: symbol_h,
            rotated: false,
            barcode,
        };
        Label {
            width,
            height,
            items: vec![code, text],
        }
    }
}

/// What a finished-lot label says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedLot {
    pub item: ItemId,
    pub lot: LotId,
    pub qty: Decimal,
    pub uom: String,
    pub work_order: WorkOrderId,
}

impl FinishedLot {
    /// The label code it carries: a material lot code naming the producing work order, so the
    /// next station can issue the lot by scanning it.
    pub fn code(&self) -> LabelCode {
        LabelCode::MaterialLot(MaterialLotCode {
            item: self.item.clone(),
            lot: self.lot.clone(),
            qty: self.qty,
            uom: self.uom.clone(),
            work_order: Some(self.work_order.clone()),
        })
    }
}

/// Size of a finished-lot label: 4 × 6 in portrait (the common Zebra stock), 812 × 1218 dots.
pub const FINISHED_LOT_WIDTH: u32 = 812;
pub const FINISHED_LOT_HEIGHT: u32 = 1218;

/// The finished-lot label printed when a lot or container is completed: item, lot, quantity and
/// work order in text, the label code's elements in the bracketed form, and the code itself as
/// GS1-128, GS1 QR or GS1 DataMatrix (`symbology`; the two matrix codes sit alike).
///
/// ```text
/// ┌──────────────────────────┐     ┌──────────────────────────┐
/// │ FINISHED LOT         ═══ │     │ FINISHED LOT             │
/// │ item                 ═══ │     │ item                     │
/// │ HOUSING-A            ═══ │     │ HOUSING-A                │
/// │ lot / qty / WO …     ═══ │     │ lot / qty / WO …         │
/// │ (92)HOUSING-A        ═══ │     │ (92)HOUSING-A …          │
/// │ (93)FL-000123 …      ═══ │     │       ▄▄▄▄▄▄▄▄▄          │
/// │                      ═══ │     │       █ GS1 QR █         │
/// │                      ═══ │     │       ▀▀▀▀▀▀▀▀▀          │
/// └──────────────────────────┘     └──────────────────────────┘
///   GS1-128 as a ladder             GS1 QR
/// ```
///
/// GS1-128 runs down the right edge ("ladder"), with 2-dot (0.25 mm) bars: the label's length
/// holds about 48 characters, GS1-128's own limit. A code too long for it fails with a reason
/// that says to print the label with GS1 QR.
pub fn finished_lot_label(lot: &FinishedLot, symbology: Symbology) -> Result<Label, LabelError> {
    if !symbology.is_gs1() {
        return Err(LabelError::Data(format!(
            "a finished-lot label carries its code as gs1-128, gs1-qr or gs1-datamatrix, not {symbology}"
        )));
    }
    let code = lot.code();
    let elements = code.elements()?;
    let barcode = Barcode::label_code(&code, symbology)?;
    let (width, height) = (FINISHED_LOT_WIDTH, FINISHED_LOT_HEIGHT);
    let margin = 3 * DOTS_PER_MM;
    let ladder_height = 20 * DOTS_PER_MM;
    // Text stays left of the ladder.
    let text_right = match symbology {
        Symbology::Gs1128 => width - margin - ladder_height - margin,
        _ => width - margin,
    };
    let mut items = vec![Item::Text {
        x: margin,
        y: margin,
        height: 48,
        text: "FINISHED LOT".into(),
    }];
    let qty = format!("{} {}", lot.qty, lot.uom);
    let rows = [
        ("item", lot.item.as_str()),
        ("lot", lot.lot.as_str()),
        ("quantity", qty.as_str()),
        ("work order", lot.work_order.as_str()),
    ];
    let mut y = margin + 48 + 24;
    for (name, value) in rows {
        items.push(Item::Text {
            x: margin,
            y,
            height: 16,
            text: name.into(),
        });
        items.push(fitted_text(margin, y + 20, value, text_right - margin, 40));
        y += 20 + 40 + 16;
    }
    for element in &elements {
        let line = format!("({}){}", element.ai, element.value.replace('(', "\\("));
        items.push(fitted_text(
            margin,
            y,
            &line,
            text_right - margin,
            HRI_HEIGHT,
        ));
        y += HRI_HEIGHT + 8;
    }
    match barcode.modules {
        Modules::Linear(ref bars) => {
            let module = 2;
            let quiet = symbology.quiet_zone() * module;
            let length = bars.len() as u32 * module;
            if length + 2 * quiet > height - 2 * margin {
                return Err(LabelError::TooLong(format!(
                    "the GS1-128 code of lot {} is {} dots long with its quiet zones, the label {height}; print it as gs1-qr",
                    lot.lot,
                    length + 2 * quiet
                )));
            }
            items.push(Item::Code {
                x: width - margin - ladder_height,
                y: (height - length) / 2,
                module,
                bar_height: ladder_height,
                rotated: true,
                barcode,
            });
        }
        Modules::Matrix { size, .. } => {
            let top = y + 8;
            let room = (width - 2 * margin).min(height - margin - top);
            let cells = size as u32 + 2 * symbology.quiet_zone();
            let module = (room / cells).clamp(3, 12);
            let side = size as u32 * module;
            items.push(Item::Code {
                x: (width - side) / 2,
                y: top + symbology.quiet_zone() * module,
                module,
                bar_height: 0,
                rotated: false,
                barcode,
            });
        }
    }
    Ok(Label {
        width,
        height,
        items,
    })
}

/// A line of text at the largest height up to `max_height` (from 16 dots) that fits `room`
/// dots, cut short if even 16 does not.
fn fitted_text(x: u32, y: u32, text: &str, room: u32, max_height: u32) -> Item {
    let chars = text.chars().count().max(1) as u32;
    let height = (room / chars / 8 * 8).clamp(16, max_height.max(16));
    Item::Text {
        x,
        y,
        height,
        text: clip(text, (room / height) as usize),
    }
}

/// Cuts `text` to `max` characters, marking the cut with "..".
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(2)).collect();
    out.push_str("..");
    out
}
