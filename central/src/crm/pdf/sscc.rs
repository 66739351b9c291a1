//! SSCC shipping labels: the Serial Shipping Container Code (GS1 AI 00) of a pallet or carton,
//! as ZPL for a Zebra printer and as a PDF label (100 × 150 mm), with the code as GS1-128.
//!
//! The symbol is the same in both: start C, FNC1, then the twenty digits `00` + SSCC in pairs
//! (ZPL `>;>8…`, as the edge's labels write GS1-128; barcoders' `Ć` and `Ź`). The module is
//! 0.5 mm (4 dots at 203 dpi) and the bars 32 mm high, within GS1's logistic-label rules
//! (X 0.495–1.016 mm, height at least 31.75 mm).

use super::layout::{Align, Page, Sheet, Style, mm, write_pdf};
use super::{Fonts, Language, MAX_LONG_TEXT, MAX_SHORT_TEXT, Party, PdfError, check_len, tr};
use protocol::barcode::ai::check_digit;
use std::fmt::Write as _;

/// Why an SSCC cannot be made or is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsccError {
    #[error("the extension digit must be 0 to 9, not {0}")]
    ExtensionDigit(u8),
    #[error("a GS1 company prefix is 6 to 12 digits, not {0:?}")]
    CompanyPrefix(String),
    #[error(
        "serial {serial} does not fit the {digits} digits left after a {prefix_len}-digit company prefix"
    )]
    SerialTooLarge {
        serial: u64,
        digits: usize,
        prefix_len: usize,
    },
    #[error("an SSCC is 18 digits, not {0:?}")]
    Format(String),
    #[error("the SSCC {sscc} has check digit {found}, expected {expected}")]
    CheckDigit {
        sscc: String,
        found: char,
        expected: char,
    },
}

/// The SSCC of `extension_digit`, the GS1 `company_prefix` and `serial` (the serial reference,
/// zero-padded to the 16 digits the prefix leaves), with its check digit: 18 digits.
pub fn sscc(extension_digit: u8, company_prefix: &str, serial: u64) -> Result<String, SsccError> {
    if extension_digit > 9 {
        return Err(SsccError::ExtensionDigit(extension_digit));
    }
    if !(6..=12).contains(&company_prefix.len())
        || !company_prefix.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SsccError::CompanyPrefix(company_prefix.to_owned()));
    }
    let digits = 16 - company_prefix.len();
    let serial_text = format!("{serial:0digits$}");
    if serial_text.len() > digits {
        return Err(SsccError::SerialTooLarge {
            serial,
            digits,
            prefix_len: company_prefix.len(),
        });
    }
    let mut code = format!("{extension_digit}{company_prefix}{serial_text}");
    let check = check_digit(code.as_bytes());
    code.push(char::from(b'0' + check));
    Ok(code)
}

/// Checks that `code` is an SSCC: 18 digits whose last is the GS1 check digit.
pub fn check_sscc(code: &str) -> Result<(), SsccError> {
    if code.len() != 18 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SsccError::Format(code.chars().take(40).collect()));
    }
    let expected = char::from(b'0' + check_digit(&code.as_bytes()[..17]));
    let found = char::from(code.as_bytes()[17]);
    if found != expected {
        return Err(SsccError::CheckDigit {
            sscc: code.to_owned(),
            found,
            expected,
        });
    }
    Ok(())
}

/// What a shipping label says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsccLabel {
    /// 18 digits with the check digit (from [`sscc`]).
    pub sscc: String,
    pub ship_from: Party,
    pub ship_to: Party,
    pub order_number: String,
    pub delivery_number: String,
    /// What the unit holds: item, quantity, lot (free text, lines separated by `\n`).
    pub content: String,
    /// Which unit of the shipment, `2/5`.
    pub package: String,
}

impl SsccLabel {
    fn check(&self) -> Result<(), PdfError> {
        check_sscc(&self.sscc)?;
        self.ship_from.check("ship_from")?;
        self.ship_to.check("ship_to")?;
        check_len("order_number", &self.order_number, MAX_SHORT_TEXT)?;
        check_len("delivery_number", &self.delivery_number, MAX_SHORT_TEXT)?;
        check_len("package", &self.package, MAX_SHORT_TEXT)?;
        check_len("content", &self.content, MAX_LONG_TEXT)
    }

    /// The human-readable line under the bars: `(00) 106141412345678908`.
    pub fn human_readable(&self) -> String {
        format!("(00) {}", self.sscc)
    }
}

/// The label's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFormat {
    Zpl,
    Pdf,
}

/// The label in `format`, as the bytes of a file.
pub fn sscc_label(
    label: &SsccLabel,
    format: LabelFormat,
    lang: Language,
    fonts: &Fonts,
) -> Result<Vec<u8>, PdfError> {
    match format {
        LabelFormat::Zpl => sscc_label_zpl(label).map(String::into_bytes),
        LabelFormat::Pdf => sscc_label_pdf(label, lang, fonts),
    }
}

/// The GS1-128 symbol of AI 00 + `sscc`: its modules, dark or light, from the start character
/// to the end of the stop pattern.
fn gs1_128_modules(sscc: &str) -> Result<Vec<bool>, PdfError> {
    let symbol = barcoders::sym::code128::Code128::new(format!("ĆŹ00{sscc}"))
        .map_err(|e| PdfError::Render(format!("GS1-128 of {sscc}: {e}")))?;
    let mut bars: Vec<bool> = symbol.encode().into_iter().map(|m| m == 1).collect();
    while bars.last() == Some(&false) {
        bars.pop();
    }
    Ok(bars)
}

/// Label size in printer dots (8 per mm, 203 dpi).
const ZPL_WIDTH: u32 = 800;
const ZPL_HEIGHT: u32 = 1200;
/// Dots per module and bar height in dots.
const ZPL_MODULE: u32 = 4;
const ZPL_BAR_HEIGHT: u32 = 256;

/// The label as ZPL II (`^XA` … `^XZ`), 100 × 150 mm at 203 dpi. Headings are English: a
/// printer's resident font 0 has no Chinese; text fields are `^FB` blocks, so a long name
/// wraps and is cut by the printer instead of running off the label.
pub fn sscc_label_zpl(label: &SsccLabel) -> Result<String, PdfError> {
    label.check()?;
    let modules = gs1_128_modules(&label.sscc)?.len() as u32;
    let bar_x = ZPL_WIDTH.saturating_sub(modules * ZPL_MODULE) / 2;
    let mut out = String::new();
    let _ = writeln!(out, "^XA\n^CI28\n^PW{ZPL_WIDTH}\n^LL{ZPL_HEIGHT}\n^LH0,0");
    let mut field = |x: u32, y: u32, h: u32, lines: u32, text: &str| {
        let _ = writeln!(
            out,
            "^FO{x},{y}^A0N,{h},{h}^FB{w},{lines},0,L,0^FH^FD{}^FS",
            escape(&one_line(text)),
            w = ZPL_WIDTH - 2 * x,
        );
    };
    field(40, 30, 24, 1, "FROM");
    field(40, 60, 30, 1, &label.ship_from.name);
    field(40, 95, 24, 2, &label.ship_from.address);
    field(40, 180, 24, 1, "SHIP TO");
    field(40, 212, 40, 2, &label.ship_to.name);
    field(40, 305, 30, 3, &label.ship_to.address);
    field(40, 420, 24, 1, &format!("ORDER {}", label.order_number));
    field(
        40,
        452,
        24,
        1,
        &format!("DELIVERY {}", label.delivery_number),
    );
    field(40, 484, 24, 1, &format!("PACKAGE {}", label.package));
    field(40, 530, 28, 4, &label.content);
    let _ = writeln!(
        out,
        "^FO30,170^GB740,3,3^FS\n^FO30,410^GB740,3,3^FS\n^FO30,680^GB740,3,3^FS"
    );
    let _ = writeln!(out, "^FO40,700^A0N,28,28^FDSSCC^FS");
    let _ = writeln!(
        out,
        "^FO{bar_x},750^BY{ZPL_MODULE}^BCN,{ZPL_BAR_HEIGHT},N,N,N,N^FD>;>800{}^FS",
        label.sscc
    );
    let _ = writeln!(
        out,
        "^FO40,{}^A0N,44,44^FB720,1,0,C,0^FD{}^FS",
        750 + ZPL_BAR_HEIGHT + 20,
        label.human_readable()
    );
    out.push_str("^XZ\n");
    Ok(out)
}

/// Newlines and tabs as `, ` and spaces (a `^FB` block wraps by itself), invisible
/// characters dropped.
fn one_line(text: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            l.chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .filter(|c| !super::fonts::is_invisible(*c))
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(", ")
}

/// Field data for `^FH`: letters, digits and a few safe characters as they are, everything
/// else (`^`, `~`, `_`, `\` among them, and each byte of non-ASCII UTF-8) as `_XX`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b" .,:;/()+-=*#!?%&'\"<>@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "_{b:02X}");
        }
    }
    out
}

/// The label as a one-page PDF, 100 × 150 mm, headings in `lang`, the bars drawn as filled
/// rectangles.
pub fn sscc_label_pdf(
    label: &SsccLabel,
    lang: Language,
    fonts: &Fonts,
) -> Result<Vec<u8>, PdfError> {
    sscc_labels_pdf(std::slice::from_ref(label), lang, fonts)
}

/// Most labels one PDF holds (a shipment's packages).
pub const MAX_LABELS: usize = 999;

/// Labels as one PDF, one 100 × 150 mm page each (a shipment's packages, in order).
pub fn sscc_labels_pdf(
    labels: &[SsccLabel],
    lang: Language,
    fonts: &Fonts,
) -> Result<Vec<u8>, PdfError> {
    if labels.is_empty() || labels.len() > MAX_LABELS {
        return Err(PdfError::Render(format!(
            "{} labels; expected 1 to {MAX_LABELS}",
            labels.len()
        )));
    }
    for label in labels {
        label.check()?;
    }
    if lang == Language::Zh {
        fonts.require_cjk()?;
    }
    let size = (mm(100.0), mm(150.0));
    let mut sheet = Sheet::new(fonts, size, mm(5.0));
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            sheet.new_page()?;
        }
        draw_label(&mut sheet, label, lang)?;
    }
    let title = match labels {
        [one] => format!("SSCC {}", one.sscc),
        many => format!("SSCC {} labels", many.len()),
    };
    let pages: Vec<Page> = sheet.pages;
    write_pdf(fonts, &pages, size, &title, lang.code())
}

/// One label on the sheet's current page.
fn draw_label(sheet: &mut Sheet<'_>, label: &SsccLabel, lang: Language) -> Result<(), PdfError> {
    let (left, width) = (sheet.left, sheet.content_width());
    let mut y = sheet.top;
    let block = |sheet: &mut Sheet<'_>,
                 y: &mut f32,
                 text: &str,
                 size: f32,
                 bold: bool,
                 max_lines: usize|
     -> Result<(), PdfError> {
        let mut lines = sheet.wrap(text, size, bold, width)?;
        lines.truncate(max_lines);
        *y += sheet.put_lines(left, *y, width, size, Align::Left, lines);
        Ok(())
    };
    block(sheet, &mut y, tr(lang, "发货方 FROM", "FROM"), 7.0, true, 1)?;
    block(sheet, &mut y, &label.ship_from.name, 9.0, true, 1)?;
    block(sheet, &mut y, &label.ship_from.address, 7.5, false, 2)?;
    y = y.max(mm(22.0));
    sheet.line(left, y, left + width, y, 1.0);
    y += 4.0;
    block(
        sheet,
        &mut y,
        tr(lang, "收货方 SHIP TO", "SHIP TO"),
        7.0,
        true,
        1,
    )?;
    block(sheet, &mut y, &label.ship_to.name, 13.0, true, 2)?;
    block(sheet, &mut y, &label.ship_to.address, 10.0, false, 3)?;
    y = y.max(mm(52.0));
    sheet.line(left, y, left + width, y, 1.0);
    y += 4.0;
    for (zh, en, value) in [
        ("订单号", "ORDER", &label.order_number),
        ("送货单号", "DELIVERY", &label.delivery_number),
        ("件号", "PACKAGE", &label.package),
    ] {
        let text = format!("{} {value}", tr(lang, zh, en));
        block(sheet, &mut y, &text, 9.0, true, 1)?;
    }
    y += 2.0;
    block(sheet, &mut y, &label.content, 9.0, false, 4)?;
    let bars_top = mm(150.0 - 5.0 - 8.0 - 32.0);
    let rule_y = bars_top - mm(9.0);
    sheet.line(left, rule_y, left + width, rule_y, 1.0);
    sheet.text_at(
        left,
        rule_y + 3.0,
        width,
        "SSCC",
        Style::new(9.0, true, Align::Left),
    )?;

    // The bars: runs of dark modules as rectangles, centred.
    let modules = gs1_128_modules(&label.sscc)?;
    let module = mm(0.5);
    let mut x = (sheet.width - modules.len() as f32 * module) / 2.0;
    let mut i = 0;
    while i < modules.len() {
        let run = modules[i..]
            .iter()
            .take_while(|m| **m == modules[i])
            .count();
        if modules[i] {
            sheet.fill(x, bars_top, run as f32 * module, mm(32.0), 0.0);
        }
        x += run as f32 * module;
        i += run;
    }
    sheet.text_at(
        left,
        bars_top + mm(32.0) + 3.0,
        width,
        &label.human_readable(),
        Style::new(12.0, true, Align::Center),
    )?;
    Ok(())
}
