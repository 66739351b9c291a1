//! The delivery note: what left with a shipment, by item and lot, for the customer to sign.

use super::layout::{A4, Align, Column, Sheet, Style, Table, render};
use super::quotation::{header, key_values, page_label};
use super::{
    Fonts, Language, MAX_LONG_TEXT, MAX_SHORT_TEXT, Party, PdfError, check_len, check_lines,
    format_date, format_quantity, tr,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryNoteDoc {
    pub seller: Party,
    /// The delivery's number.
    pub number: String,
    pub order_number: String,
    /// The customer's own order reference (their PO), if any.
    pub customer_reference: String,
    pub date: NaiveDate,
    pub customer: Party,
    pub ship_to: Party,
    pub lines: Vec<DeliveryLine>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryLine {
    pub item_code: String,
    pub description: String,
    pub lot: String,
    pub quantity: Decimal,
    pub unit: String,
}

impl DeliveryNoteDoc {
    fn check(&self) -> Result<(), PdfError> {
        check_lines(self.lines.len())?;
        self.seller.check("seller")?;
        self.customer.check("customer")?;
        self.ship_to.check("ship_to")?;
        check_len("number", &self.number, MAX_SHORT_TEXT)?;
        check_len("order_number", &self.order_number, MAX_SHORT_TEXT)?;
        check_len(
            "customer_reference",
            &self.customer_reference,
            MAX_SHORT_TEXT,
        )?;
        check_len("notes", &self.notes, MAX_LONG_TEXT)?;
        for (i, line) in self.lines.iter().enumerate() {
            let n = i + 1;
            check_len(
                &format!("lines[{n}].item_code"),
                &line.item_code,
                MAX_SHORT_TEXT,
            )?;
            check_len(&format!("lines[{n}].lot"), &line.lot, MAX_SHORT_TEXT)?;
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

/// The delivery note as a PDF in `lang`.
pub fn delivery_note_pdf(
    doc: &DeliveryNoteDoc,
    lang: Language,
    fonts: &Fonts,
) -> Result<Vec<u8>, PdfError> {
    doc.check()?;
    if lang == Language::Zh {
        fonts.require_cjk()?;
    }
    let title = tr(lang, "送货单 / Delivery note", "Delivery note");
    let reference = match lang {
        Language::Zh => format!("送货单 {}", doc.number),
        Language::En => format!("Delivery note {}", doc.number),
    };
    let mut sheet = Sheet::new(fonts, A4, 40.0);
    header(&mut sheet, &doc.seller, title)?;

    let top = sheet.y;
    let left = sheet.left;
    let mut h_left = 0.0;
    for (label, party) in [
        (tr(lang, "客户", "Customer"), &doc.customer),
        (tr(lang, "收货地址", "Ship to"), &doc.ship_to),
    ] {
        if h_left > 0.0 {
            h_left += 6.0;
        }
        h_left += sheet.text_at(
            left,
            top + h_left,
            270.0,
            label,
            Style::new(8.0, true, Align::Left),
        )?;
        h_left += sheet.text_at(
            left,
            top + h_left,
            270.0,
            &party.name,
            Style::new(10.0, true, Align::Left),
        )?;
        h_left += sheet.text_at(
            left,
            top + h_left,
            270.0,
            &party.address,
            Style::new(9.0, false, Align::Left),
        )?;
        if !party.contact.trim().is_empty() {
            let contact = format!("{}: {}", tr(lang, "联系人", "Contact"), party.contact);
            h_left += sheet.text_at(
                left,
                top + h_left,
                270.0,
                &contact,
                Style::new(9.0, false, Align::Left),
            )?;
        }
    }
    let mut particulars = vec![
        (tr(lang, "送货单号", "Delivery no."), doc.number.clone()),
        (tr(lang, "订单号", "Order no."), doc.order_number.clone()),
    ];
    if !doc.customer_reference.trim().is_empty() {
        particulars.push((
            tr(lang, "客户订单号", "Your reference"),
            doc.customer_reference.clone(),
        ));
    }
    particulars.push((tr(lang, "日期", "Date"), format_date(doc.date)));
    let h_right = key_values(&mut sheet, top, &particulars)?;
    sheet.y = top + h_left.max(h_right) + 12.0;

    let table = lines_table(lang, sheet.content_width());
    sheet.running_head = Some(format!("{} · {reference}", doc.seller.name));
    sheet.table_header(&table)?;
    for (i, line) in doc.lines.iter().enumerate() {
        let cells = [
            (i + 1).to_string(),
            line.item_code.clone(),
            line.description.clone(),
            line.lot.clone(),
            format_quantity(line.quantity),
            line.unit.clone(),
        ];
        sheet.table_row(&table, &cells, false)?;
    }

    // Total quantity per unit, in the order the units first appear.
    let mut totals: Vec<(String, Decimal)> = Vec::new();
    for line in &doc.lines {
        let unit = line.unit.trim().to_owned();
        match totals.iter_mut().find(|(u, _)| *u == unit) {
            Some((_, sum)) => *sum = sum.saturating_add(line.quantity),
            None => totals.push((unit, line.quantity)),
        }
    }
    if !totals.is_empty() {
        let summary = totals
            .iter()
            .map(|(unit, sum)| format!("{} {unit}", format_quantity(*sum)))
            .collect::<Vec<_>>()
            .join("; ");
        sheet.y += 6.0;
        sheet.paragraph(
            &format!("{}: {summary}", tr(lang, "合计数量", "Total quantity")),
            9.0,
            true,
        )?;
    }
    if !doc.notes.trim().is_empty() {
        sheet.y += 8.0;
        sheet.paragraph(tr(lang, "备注", "Notes"), 9.0, true)?;
        sheet.paragraph(&doc.notes, 9.0, false)?;
    }

    // Signatures.
    sheet.y += 14.0;
    sheet.ensure(60.0)?;
    let third = sheet.content_width() / 3.0;
    let top = sheet.y + 24.0;
    for (i, label) in [
        tr(lang, "发货人", "Shipped by"),
        tr(lang, "收货人签收", "Received by"),
        tr(lang, "签收日期", "Date received"),
    ]
    .into_iter()
    .enumerate()
    {
        let x = sheet.left + i as f32 * third;
        sheet.line(x, top, x + third - 16.0, top, 0.5);
        sheet.text_at(
            x,
            top + 3.0,
            third - 16.0,
            label,
            Style::new(8.0, false, Align::Left),
        )?;
    }
    sheet.y = top + 16.0;

    render(
        sheet,
        &format!("{title} {}", doc.number),
        lang.code(),
        &reference,
        |i, n| page_label(lang, i, n),
    )
}

fn lines_table(lang: Language, width: f32) -> Table {
    let fixed = [
        (tr(lang, "序号", "No."), 24.0, Align::Center),
        (tr(lang, "物料编码", "Item code"), 80.0, Align::Left),
        (tr(lang, "描述", "Description"), 0.0, Align::Left),
        (tr(lang, "批次", "Lot"), 96.0, Align::Left),
        (tr(lang, "数量", "Qty"), 60.0, Align::Right),
        (tr(lang, "单位", "Unit"), 36.0, Align::Left),
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
