//! The quotation: A4, the seller's header, the customer, the terms, a table of lines that
//! flows over pages, the totals.

use super::layout::{A4, Align, Column, Sheet, Style, Table, render};
use super::{
    Fonts, Language, MAX_LONG_TEXT, MAX_SHORT_TEXT, Party, PdfError, check_len, check_lines,
    format_amount, format_date, format_quantity, tr,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// A quotation as it is printed: what the store and pricing decided, nothing computed here
/// (a quotation's price is the one on the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotationDoc {
    pub seller: Party,
    pub number: String,
    pub revision: u32,
    pub date: NaiveDate,
    pub valid_until: NaiveDate,
    pub customer: Party,
    /// ISO 4217 code (`CNY`, `USD`).
    pub currency: String,
    pub lines: Vec<QuotationLine>,
    pub subtotal: Decimal,
    /// `13` for 13 %.
    pub tax_rate_percent: Decimal,
    pub tax_amount: Decimal,
    pub total: Decimal,
    pub payment_terms: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotationLine {
    pub item_code: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Decimal,
    /// `5` for 5 % off.
    pub discount_percent: Decimal,
    pub net_amount: Decimal,
}

impl QuotationDoc {
    fn check(&self) -> Result<(), PdfError> {
        check_lines(self.lines.len())?;
        self.seller.check("seller")?;
        self.customer.check("customer")?;
        check_len("number", &self.number, MAX_SHORT_TEXT)?;
        check_len("currency", &self.currency, MAX_SHORT_TEXT)?;
        check_len("payment_terms", &self.payment_terms, MAX_LONG_TEXT)?;
        check_len("notes", &self.notes, MAX_LONG_TEXT)?;
        for (i, line) in self.lines.iter().enumerate() {
            let n = i + 1;
            check_len(
                &format!("lines[{n}].item_code"),
                &line.item_code,
                MAX_SHORT_TEXT,
            )?;
            check_len(&format!("lines[{n}].unit"), &line.unit, MAX_SHORT_TEXT)?;
            check_len(
                &format!("lines[{n}].description"),
                &line.description,
                MAX_LONG_TEXT,
            )?;
        }
        Ok(())
    }
}

/// The quotation as a PDF in `lang` (labels in that language; the data as it is).
pub fn quotation_pdf(
    doc: &QuotationDoc,
    lang: Language,
    fonts: &Fonts,
) -> Result<Vec<u8>, PdfError> {
    doc.check()?;
    if lang == Language::Zh {
        fonts.require_cjk()?;
    }
    let title = tr(lang, "报价单 / Quotation", "Quotation");
    let mut sheet = Sheet::new(fonts, A4, 40.0);
    let reference = match lang {
        Language::Zh => format!("报价单 {} 第 {} 版", doc.number, doc.revision),
        Language::En => format!("Quotation {} rev. {}", doc.number, doc.revision),
    };

    header(&mut sheet, &doc.seller, title)?;

    // The customer on the left, the quotation's particulars on the right.
    let top = sheet.y;
    let left = sheet.left;
    let mut h_left = sheet.text_at(
        left,
        top,
        270.0,
        tr(lang, "客户", "Customer"),
        Style::new(8.0, true, Align::Left),
    )?;
    h_left += sheet.text_at(
        left,
        top + h_left,
        270.0,
        &doc.customer.name,
        Style::new(10.0, true, Align::Left),
    )?;
    h_left += sheet.text_at(
        left,
        top + h_left,
        270.0,
        &doc.customer.address,
        Style::new(9.0, false, Align::Left),
    )?;
    if !doc.customer.contact.trim().is_empty() {
        let contact = format!(
            "{}: {}",
            tr(lang, "联系人", "Contact"),
            doc.customer.contact
        );
        h_left += sheet.text_at(
            left,
            top + h_left,
            270.0,
            &contact,
            Style::new(9.0, false, Align::Left),
        )?;
    }
    let particulars = [
        (tr(lang, "报价单号", "Quotation no."), doc.number.clone()),
        (tr(lang, "版本", "Revision"), doc.revision.to_string()),
        (tr(lang, "日期", "Date"), format_date(doc.date)),
        (
            tr(lang, "有效期至", "Valid until"),
            format_date(doc.valid_until),
        ),
        (tr(lang, "币种", "Currency"), doc.currency.clone()),
    ];
    let h_right = key_values(&mut sheet, top, &particulars)?;
    sheet.y = top + h_left.max(h_right) + 12.0;

    // The lines.
    let table = lines_table(lang, sheet.content_width());
    sheet.running_head = Some(format!("{} · {reference}", doc.seller.name));
    sheet.table_header(&table)?;
    for (i, line) in doc.lines.iter().enumerate() {
        let cells = [
            (i + 1).to_string(),
            line.item_code.clone(),
            line.description.clone(),
            format_quantity(line.quantity),
            line.unit.clone(),
            format_amount(line.unit_price),
            format_quantity(line.discount_percent),
            format_amount(line.net_amount),
        ];
        sheet.table_row(&table, &cells, false)?;
    }

    // The totals, right-aligned under the amounts.
    sheet.y += 6.0;
    let tax_label = match lang {
        Language::Zh => format!("税额 ({}%)", format_quantity(doc.tax_rate_percent)),
        Language::En => format!("Tax ({}%)", format_quantity(doc.tax_rate_percent)),
    };
    let total_label = match lang {
        Language::Zh => format!("合计 ({})", doc.currency),
        Language::En => format!("Total ({})", doc.currency),
    };
    let totals = [
        (
            tr(lang, "小计", "Subtotal").to_owned(),
            format_amount(doc.subtotal),
            false,
        ),
        (tax_label, format_amount(doc.tax_amount), false),
        (total_label, format_amount(doc.total), true),
    ];
    sums(&mut sheet, &totals)?;

    // Terms and notes.
    for (label, text) in [
        (tr(lang, "付款条件", "Payment terms"), &doc.payment_terms),
        (tr(lang, "备注", "Notes"), &doc.notes),
    ] {
        if text.trim().is_empty() {
            continue;
        }
        sheet.y += 8.0;
        sheet.ensure(Sheet::line_height(9.0) * 2.0)?;
        sheet.paragraph(label, 9.0, true)?;
        sheet.paragraph(text, 9.0, false)?;
    }

    render(
        sheet,
        &format!("{title} {}", doc.number),
        lang.code(),
        &reference,
        |i, n| page_label(lang, i, n),
    )
}

/// "第 1/2 页" or "Page 1/2".
pub(super) fn page_label(lang: Language, i: usize, n: usize) -> String {
    match lang {
        Language::Zh => format!("第 {i}/{n} 页"),
        Language::En => format!("Page {i}/{n}"),
    }
}

/// The seller's name and address on the left, the document's title on the right, a rule
/// under both.
pub(super) fn header(sheet: &mut Sheet<'_>, seller: &Party, title: &str) -> Result<(), PdfError> {
    let top = sheet.y;
    let left = sheet.left;
    let width = sheet.content_width();
    let title_h = sheet.text_at(
        left + width - 200.0,
        top,
        200.0,
        title,
        Style::new(16.0, true, Align::Right),
    )?;
    let mut h = sheet.text_at(
        left,
        top,
        width - 210.0,
        &seller.name,
        Style::new(13.0, true, Align::Left),
    )?;
    h += sheet.text_at(
        left,
        top + h,
        width - 210.0,
        &seller.address,
        Style::new(8.5, false, Align::Left),
    )?;
    h += sheet.text_at(
        left,
        top + h,
        width - 210.0,
        &seller.contact,
        Style::new(8.5, false, Align::Left),
    )?;
    sheet.y = top + h.max(title_h) + 6.0;
    let y = sheet.y;
    sheet.rule(y, 0.8);
    sheet.y += 10.0;
    Ok(())
}

/// Label and value pairs in the right-hand column; returns the height used.
pub(super) fn key_values(
    sheet: &mut Sheet<'_>,
    top: f32,
    pairs: &[(&str, String)],
) -> Result<f32, PdfError> {
    let x = sheet.right - 215.0;
    let mut h = 0.0;
    for (label, value) in pairs {
        let hl = sheet.text_at(x, top + h, 85.0, label, Style::new(9.0, true, Align::Left))?;
        let hv = sheet.text_at(
            x + 90.0,
            top + h,
            125.0,
            value,
            Style::new(9.0, false, Align::Left),
        )?;
        h += hl.max(hv);
    }
    Ok(h)
}

/// Labels and amounts, right-aligned at the right margin; a bold one gets a rule above it.
fn sums(sheet: &mut Sheet<'_>, rows: &[(String, String, bool)]) -> Result<(), PdfError> {
    let lh = Sheet::line_height(10.0);
    sheet.ensure(lh * rows.len() as f32 + 8.0)?;
    let value_w = 110.0;
    let label_w = 150.0;
    let x_value = sheet.right - value_w - 3.0;
    let x_label = x_value - label_w - 6.0;
    for (label, value, bold) in rows {
        sheet.ensure(lh + 4.0)?;
        if *bold {
            let y = sheet.y + 1.0;
            sheet.line(x_label, y, sheet.right, y, 0.8);
            sheet.y += 3.0;
        }
        let size = if *bold { 10.0 } else { 9.0 };
        let top = sheet.y;
        let hl = sheet.text_at(
            x_label,
            top,
            label_w,
            label,
            Style::new(size, *bold, Align::Right),
        )?;
        let hv = sheet.text_at(
            x_value,
            top,
            value_w,
            value,
            Style::new(size, *bold, Align::Right),
        )?;
        sheet.y += hl.max(hv);
    }
    Ok(())
}

fn lines_table(lang: Language, width: f32) -> Table {
    let fixed = [
        (tr(lang, "序号", "No."), 24.0, Align::Center),
        (tr(lang, "物料编码", "Item code"), 72.0, Align::Left),
        (tr(lang, "描述", "Description"), 0.0, Align::Left),
        (tr(lang, "数量", "Qty"), 50.0, Align::Right),
        (tr(lang, "单位", "Unit"), 32.0, Align::Left),
        (tr(lang, "单价", "Unit price"), 64.0, Align::Right),
        (tr(lang, "折扣 %", "Disc. %"), 38.0, Align::Right),
        (tr(lang, "金额", "Net amount"), 74.0, Align::Right),
    ];
    let used: f32 = fixed.iter().map(|c| c.1).sum();
    Table {
        columns: fixed
            .iter()
            .map(|&(title, w, align)| Column {
                title: title.to_owned(),
                width: if w == 0.0 { width - used } else { w },
                align,
            })
            .collect(),
        size: 8.0,
    }
}
