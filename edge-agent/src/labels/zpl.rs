//! ZPL II for Zebra printers.
//!
//! - Code 128 and GS1-128: `^BC` in mode N with explicit invocation codes from the same plan
//!   our own bars come from (`>;`/`>:` start C/B, `>5`/`>6` switch, `>8` FNC1), so the printer
//!   draws the symbol we tested.
//! - EAN-13: `^BE` with the 12 data digits; the printer adds the check digit.
//! - QR: `^BQ` (model 2, level M, automatic input: `^FDMA,…`).
//! - GS1 QR: sent as a `^GFA` bitmap of the symbol we drew. `^BQ` has no documented way to set
//!   FNC1-first-position mode on every firmware (Link-OS before 6.6 cannot), and a QR without it
//!   reads as `]Q1`, not GS1.
//! - GS1 DataMatrix: `^BX` at quality 200 (ECC 200), the module size in dots, the rows and
//!   columns of the symbol we laid out, and `_` named as the escape character (parameter g,
//!   whose default differs between firmware versions): the field data starts with `_1`, FNC1,
//!   which marks the symbol GS1, and `_1` separates a variable-length element from the next.
//!   No `^FH` there, since it would take `_1…` for a hex escape before `^BX` saw it.
//!
//! Text is font 0 scaled to the item's height. Field data goes through `^FH` (hex escapes with
//! `_`), and the label starts with `^CI28`, so any UTF-8 text prints as itself where the
//! printer's font has the glyph.

use super::barcode::ZplData;
use super::layout::{Item, Label};
use super::render::dark_rects;
use std::fmt::Write as _;

/// The label as one ZPL format, `^XA` … `^XZ`.
pub fn zpl(label: &Label) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0",
        label.width, label.height
    );
    for item in &label.items {
        match item {
            Item::Text { x, y, height, text } => {
                let _ = writeln!(
                    out,
                    "^FO{x},{y}^A0N,{height},{height}^FH^FD{}^FS",
                    escape(text)
                );
            }
            Item::Code {
                x,
                y,
                module,
                bar_height,
                rotated,
                barcode,
            } => match &barcode.zpl {
                ZplData::Code128(data) => {
                    let o = orientation(*rotated);
                    let _ = writeln!(
                        out,
                        "^FO{x},{y}^BY{module}^BC{o},{bar_height},N,N,N,N^FH^FD{data}^FS"
                    );
                }
                ZplData::Ean13(digits) => {
                    let o = orientation(*rotated);
                    let _ = writeln!(
                        out,
                        "^FO{x},{y}^BY{module}^BE{o},{bar_height},N,N^FD{digits}^FS"
                    );
                }
                ZplData::Qr(text) => {
                    let _ = writeln!(
                        out,
                        "^FO{x},{y}^BQN,2,{},M^FH^FDMA,{}^FS",
                        module.clamp(&1, &10),
                        escape(text)
                    );
                }
                ZplData::DataMatrix { data, size } => {
                    let _ = writeln!(
                        out,
                        "^FO{x},{y}^BXN,{module},200,{size},{size},,_^FD{data}^FS"
                    );
                }
                ZplData::Bitmap => {
                    let _ = writeln!(out, "^FO{x},{y}{}^FS", graphic(item));
                }
            },
        }
    }
    out.push_str("^XZ\n");
    out
}

/// `N`ormal, or `R`otated 90° clockwise.
fn orientation(rotated: bool) -> char {
    if rotated { 'R' } else { 'N' }
}

/// `^GFA` of a barcode item's dark modules, 1 bit per dot, rows padded to whole bytes.
fn graphic(item: &Item) -> String {
    let (w, h) = item.size();
    let (x0, y0) = match item {
        Item::Code { x, y, .. } | Item::Text { x, y, .. } => (*x, *y),
    };
    let row_bytes = w.div_ceil(8) as usize;
    let mut bits = vec![0u8; row_bytes * h as usize];
    for (x, y, rw, rh) in dark_rects(item) {
        for row in (y - y0)..(y - y0 + rh).min(h) {
            for col in (x - x0)..(x - x0 + rw).min(w) {
                bits[row as usize * row_bytes + col as usize / 8] |= 0x80 >> (col % 8);
            }
        }
    }
    let mut hex = String::with_capacity(bits.len() * 2);
    for b in &bits {
        let _ = write!(hex, "{b:02X}");
    }
    format!("^GFA,{n},{n},{row_bytes},{hex}", n = bits.len())
}

/// Field data for `^FH`: letters, digits and a few safe characters as they are, everything else
/// (`^`, `~`, `_` among them, and each byte of non-ASCII UTF-8) as `_XX`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b" .,:;/()+-=*#!?%&'\"<>".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "_{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::barcode::{Barcode, Modules, Symbology};

    #[test]
    fn escapes_what_zpl_would_take_as_commands() {
        assert_eq!(escape("A-1_b^c~d"), "A-1_5Fb_5Ec_7Ed");
        assert_eq!(escape("料"), "_E6_96_99");
    }

    #[test]
    fn one_field_per_item() {
        let b = Barcode::new(Symbology::Gs1128, "(01)09506000134352(10)ABC123", 2026).unwrap();
        let z = zpl(&Label::single(b, None));
        assert!(z.starts_with("^XA\n^CI28\n^PW"), "{z}");
        assert!(
            z.contains("^BY3^BCN,120,N,N,N,N^FH^FD>;>8010950600013435210>6ABC123^FS"),
            "{z}"
        );
        assert!(z.contains("^FH^FD(01)09506000134352(10)ABC123^FS"), "{z}");
        assert!(z.ends_with("^XZ\n"));

        let e = zpl(&Label::single(
            Barcode::ean13("950600013435").unwrap(),
            None,
        ));
        assert!(e.contains("^BEN,120,N,N^FD950600013435^FS"), "{e}");

        let q = zpl(&Label::single(Barcode::qr("WO_1").unwrap(), Some(4)));
        assert!(q.contains("^BQN,2,4,M^FH^FDMA,WO_5F1^FS"), "{q}");
    }

    #[test]
    fn gs1_datamatrix_is_bx_with_fnc1_first_and_between_elements() {
        let b = Barcode::new(
            Symbology::Gs1DataMatrix,
            "(01)09506000134352(10)ABC_1(17)201225",
            2026,
        )
        .unwrap();
        let (size, _) = b.modules.dimensions();
        let label = Label::single(b, Some(6));
        let Item::Code { x, y, .. } = &label.items[0] else {
            panic!("{:?}", label.items[0])
        };
        let z = zpl(&label);
        assert!(
            z.contains(&format!(
                "^FO{x},{y}^BXN,6,200,{size},{size},,_^FD_1010950600013435210ABC__1_117201225^FS"
            )),
            "{z}"
        );
        // The human-readable line is still its own `^FH` text field.
        assert!(
            z.contains("^FH^FD(01)09506000134352(10)ABC_5F1(17)201225^FS"),
            "{z}"
        );
    }

    #[test]
    fn gs1_qr_goes_as_a_bitmap_of_our_symbol() {
        let b = Barcode::new(Symbology::Gs1Qr, "(91)WO-24-0042", 2026).unwrap();
        let Modules::Matrix { size, .. } = b.modules else {
            panic!()
        };
        let label = Label::single(b, Some(2));
        let z = zpl(&label);
        let row_bytes = (size * 2).div_ceil(8);
        let n = row_bytes * size * 2;
        assert!(z.contains(&format!("^GFA,{n},{n},{row_bytes},")), "{z}");
        // The top-left finder pattern starts with 7 dark modules = 14 dots.
        let hex_start = z.find(&format!("{row_bytes},")).unwrap() + format!("{row_bytes},").len();
        assert_eq!(&z[hex_start..hex_start + 4], "FFFC");
    }
}
