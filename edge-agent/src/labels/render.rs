//! Drawing a [`Label`] as PNG (one pixel per printer dot) and as SVG (one user unit per dot,
//! sized in millimetres).

use super::LabelError;
use super::barcode::Modules;
use super::layout::{DOTS_PER_MM, Item, Label};
use std::fmt::Write as _;

/// A label as an 8-bit grey image, row by row; 0 is black, 255 white.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Raster {
    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let x_end = (x + w).min(self.width);
        let y_end = (y + h).min(self.height);
        for row in y.min(y_end)..y_end {
            let start = (row * self.width) as usize;
            self.pixels[start + x.min(x_end) as usize..start + x_end as usize].fill(0);
        }
    }
}

/// Every dark rectangle of a barcode item, in dots: bars of a linear symbol (horizontal ones
/// when it is rotated), and runs of dark cells along each row of a matrix symbol.
pub fn dark_rects(item: &Item) -> Vec<(u32, u32, u32, u32)> {
    let Item::Code {
        x,
        y,
        module,
        bar_height,
        rotated,
        barcode,
    } = item
    else {
        return Vec::new();
    };
    let (cols, rows) = barcode.modules.dimensions();
    let (rows, cell_h) = match barcode.modules {
        Modules::Linear(_) => (1, *bar_height),
        Modules::Matrix { .. } => (rows, *module),
    };
    let rotated = *rotated && matches!(barcode.modules, Modules::Linear(_));
    let mut rects = Vec::new();
    for row in 0..rows {
        let mut col = 0;
        while col < cols {
            if !barcode.modules.is_dark(col, row) {
                col += 1;
                continue;
            }
            let start = col;
            while col < cols && barcode.modules.is_dark(col, row) {
                col += 1;
            }
            let (along, run) = (start as u32 * module, (col - start) as u32 * module);
            rects.push(if rotated {
                // 90° clockwise: the symbol's start at the top, bars across.
                (*x, y + along, cell_h, run)
            } else {
                (x + along, y + row as u32 * cell_h, run, cell_h)
            });
        }
    }
    rects
}

/// Rasterises the label. Text uses an 8×8 bitmap font scaled to the item's height; characters
/// outside ASCII are drawn as `?` (the SVG and ZPL outputs keep them).
pub fn raster(label: &Label) -> Raster {
    let mut r = Raster {
        width: label.width,
        height: label.height,
        pixels: vec![255; label.width as usize * label.height as usize],
    };
    for item in &label.items {
        match item {
            Item::Code { .. } => {
                for (x, y, w, h) in dark_rects(item) {
                    r.fill(x, y, w, h);
                }
            }
            Item::Text { x, y, height, text } => {
                let scale = (height / 8).max(1);
                for (i, c) in text.chars().enumerate() {
                    let glyph = font8x8::legacy::BASIC_LEGACY[if c.is_ascii() {
                        c as usize
                    } else {
                        '?' as usize
                    }];
                    let cx = x + i as u32 * 8 * scale;
                    for (gy, bits) in glyph.iter().enumerate() {
                        for gx in 0..8 {
                            if bits & (1 << gx) != 0 {
                                r.fill(cx + gx * scale, y + gy as u32 * scale, scale, scale);
                            }
                        }
                    }
                }
            }
        }
    }
    r
}

/// The label as a PNG, 8-bit grey, with its resolution (8 dots/mm) recorded.
pub fn png(label: &Label) -> Result<Vec<u8>, LabelError> {
    let r = raster(label);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, r.width, r.height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_pixel_dims(Some(png::PixelDimensions {
        xppu: DOTS_PER_MM * 1000,
        yppu: DOTS_PER_MM * 1000,
        unit: png::Unit::Meter,
    }));
    let result = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&r.pixels));
    result.map_err(|e| LabelError::Render(format!("PNG: {e}")))?;
    Ok(out)
}

/// The label as SVG: a white background, black rectangles for the modules and `<text>` in a
/// monospace font.
pub fn svg(label: &Label) -> String {
    let (w, h) = (label.width, label.height);
    let mm = |dots: u32| f64::from(dots) / f64::from(DOTS_PER_MM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}mm" height="{}mm" viewBox="0 0 {w} {h}" shape-rendering="crispEdges">"#,
        mm(w),
        mm(h)
    );
    let _ = writeln!(out, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
    for item in &label.items {
        match item {
            Item::Code { barcode, .. } => {
                let _ = write!(
                    out,
                    r##"<g fill="#000" data-symbology="{}">"##,
                    barcode.symbology
                );
                for (x, y, w, h) in dark_rects(item) {
                    let _ = write!(out, r#"<rect x="{x}" y="{y}" width="{w}" height="{h}"/>"#);
                }
                out.push_str("</g>\n");
            }
            Item::Text { x, y, height, text } => {
                let _ = writeln!(
                    out,
                    r#"<text x="{x}" y="{}" font-family="monospace" font-size="{height}" textLength="{}" lengthAdjust="spacingAndGlyphs">{}</text>"#,
                    y + height * 7 / 8,
                    text.chars().count() as u32 * height,
                    xml_escape(text)
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 cannot carry control characters at all, not even as references.
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}
