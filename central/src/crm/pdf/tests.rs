//! Documents made and read back. The read-back tests need poppler's `pdftotext` (and
//! `pdftoppm`, `pdfinfo`; `apt-get install poppler-utils`), a CJK font (`fonts-wqy-zenhei`)
//! and, for the label's bars, zbarimg (`zbar-tools`): .ci/run installs them. Under `CI=true` a
//! missing one fails the test; otherwise the test skips and says why. Example PDFs (and a PNG
//! of each first page) are left in `$CARGO_TARGET_DIR/test-artifacts/pdf/` to look at.

use super::layout::{Align, Column, Op, Sheet, Table};
use super::*;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn seller() -> Party {
    Party {
        name: "苏州精工机械有限公司 Suzhou Precision Machinery Co., Ltd.".into(),
        address:
            "江苏省苏州市工业园区星湖街 328 号\n328 Xinghu Street, SIP, Suzhou, Jiangsu, China"
                .into(),
        contact: "+86 512 6666 8888 · sales@example.cn".into(),
    }
}

fn quotation(n_lines: usize) -> QuotationDoc {
    let lines = (0..n_lines)
        .map(|i| QuotationLine {
            item_code: format!("FG-{:04}", i + 1),
            description: if i % 7 == 3 {
                "不锈钢法兰盘 DN50 PN16，按图纸 DWG-2026-0042 第 C 版加工，表面钝化处理，每件单独包装并附材质证明书 (EN 10204 3.1)".into()
            } else if i % 5 == 1 {
                "Stainless steel flange DN50 PN16, machined to drawing DWG-2026-0042 rev. C, passivated, each packed separately with a 3.1 material certificate".into()
            } else {
                format!("轴承座 Bearing housing {}", i + 1)
            },
            quantity: dec("1500"),
            unit: "PCS".into(),
            unit_price: dec("12.5"),
            discount_percent: if i % 2 == 0 { dec("5") } else { Decimal::ZERO },
            net_amount: dec("17812.50"),
        })
        .collect();
    QuotationDoc {
        seller: seller(),
        number: "QT-2026-00042".into(),
        revision: 2,
        date: date(2026, 12, 7),
        valid_until: date(2027, 1, 6),
        customer: Party {
            name: "上海华东汽车零部件有限公司".into(),
            address: "上海市嘉定区安亭镇墨玉路 888 号\n201805".into(),
            contact: "王经理 Wang Wei, +86 21 5555 0100".into(),
        },
        currency: "CNY".into(),
        lines,
        subtotal: dec("1234567.891"),
        tax_rate_percent: dec("13"),
        tax_amount: dec("160493.83"),
        total: dec("1395061.72"),
        payment_terms: "30% 预付款，70% 发货前付清。30% advance, 70% before shipment.".into(),
        notes: "报价含包装，不含运费。Prices include packing, exclude freight.\n交货期：收到预付款后 4 周。".into(),
    }
}

fn english_quotation(n_lines: usize) -> QuotationDoc {
    let mut doc = quotation(n_lines);
    doc.seller = Party {
        name: "Suzhou Precision Machinery Co., Ltd.".into(),
        address: "328 Xinghu Street, SIP\nSuzhou, Jiangsu 215000, China".into(),
        contact: "+86 512 6666 8888 · sales@example.cn".into(),
    };
    doc.customer = Party {
        name: "Bavaria Drive Systems GmbH".into(),
        address: "Industriestraße 12\n85748 Garching, Germany".into(),
        contact: "Anna Müller, +49 89 1234 5678".into(),
    };
    for line in &mut doc.lines {
        line.description = line
            .description
            .replace("轴承座 ", "")
            .replace("不锈钢法兰盘 DN50 PN16，按图纸 DWG-2026-0042 第 C 版加工，表面钝化处理，每件单独包装并附材质证明书 (EN 10204 3.1)", "Flange DN50");
    }
    doc.currency = "EUR".into();
    doc.payment_terms = "30% advance, 70% before shipment.".into();
    doc.notes = "Prices include packing, exclude freight.".into();
    doc
}

fn delivery_note(n_lines: usize) -> DeliveryNoteDoc {
    DeliveryNoteDoc {
        seller: seller(),
        number: "DN-2026-0815".into(),
        order_number: "SO-2026-0301".into(),
        customer_reference: "PO 4500012345".into(),
        date: date(2026, 12, 7),
        customer: quotation(0).customer,
        ship_to: Party {
            name: "上海华东汽车零部件有限公司 嘉定二厂".into(),
            address: "上海市嘉定区安亭镇园国路 1001 号 3 号门".into(),
            contact: "仓库 李师傅 139 0000 0000".into(),
        },
        lines: (0..n_lines)
            .map(|i| DeliveryLine {
                item_code: format!("FG-{:04}", i % 3 + 1),
                description: format!("轴承座 Bearing housing {}", i % 3 + 1),
                lot: format!("L2026-12-{:03}", i + 1),
                quantity: dec("250"),
                unit: if i % 4 == 3 {
                    "KG".into()
                } else {
                    "PCS".into()
                },
            })
            .collect(),
        notes: "请核对批次号后签收。Please check the lot numbers before signing.".into(),
    }
}

fn label() -> SsccLabel {
    SsccLabel {
        sscc: sscc(1, "0614141", 234_567_890).unwrap(),
        ship_from: seller(),
        ship_to: Party {
            name: "上海华东汽车零部件有限公司 嘉定二厂".into(),
            address: "上海市嘉定区安亭镇园国路 1001 号 3 号门".into(),
            contact: String::new(),
        },
        order_number: "SO-2026-0301".into(),
        delivery_number: "DN-2026-0815".into(),
        content: "FG-0001 轴承座 Bearing housing × 250 PCS\nLot L2026-12-001".into(),
        package: "1/3".into(),
    }
}

// ---- numbers ----

#[test]
fn amounts_have_two_decimals_and_thousands_separators() {
    assert_eq!(format_amount(dec("1234567.891")), "1,234,567.89");
    assert_eq!(format_amount(dec("0.005")), "0.01");
    assert_eq!(format_amount(dec("-0.004")), "0.00");
    assert_eq!(format_amount(dec("-1234.5")), "-1,234.50");
    assert_eq!(format_amount(dec("999")), "999.00");
    assert_eq!(format_amount(dec("1000")), "1,000.00");
    assert_eq!(format_amount(Decimal::ZERO), "0.00");
    assert_eq!(
        format_amount(Decimal::MAX),
        "79,228,162,514,264,337,593,543,950,335.00"
    );
    assert_eq!(format_quantity(dec("1500.250")), "1,500.25");
    assert_eq!(format_quantity(dec("13.0")), "13");
    assert_eq!(format_quantity(dec("-0.0")), "0");
    assert_eq!(format_quantity(Decimal::MIN).len(), 39);
}

// ---- SSCC ----

#[test]
fn sscc_has_the_gs1_check_digit() {
    // GS1's own example SSCC.
    assert_eq!(
        sscc(1, "0614141", 234_567_890).unwrap(),
        "106141412345678908"
    );
    assert_eq!(sscc(0, "123456", 0).unwrap().len(), 18);
    assert_eq!(
        sscc(9, "123456789012", 9999).unwrap()[..17],
        *"91234567890129999"
    );
    for code in [
        sscc(0, "6901234", 1).unwrap(),
        sscc(3, "690123456789", 42).unwrap(),
    ] {
        check_sscc(&code).unwrap();
        // Our own scanners' GS1 reader agrees.
        let reading = protocol::barcode::parse(&format!("]C100{code}"), 2026);
        assert_eq!(
            reading.element("00").map(|e| e.value.as_str()),
            Some(code.as_str()),
            "{reading:?}"
        );
    }
}

#[test]
fn sscc_refuses_what_is_not_one() {
    assert_eq!(sscc(10, "0614141", 1), Err(SsccError::ExtensionDigit(10)));
    assert!(matches!(
        sscc(0, "12345", 1),
        Err(SsccError::CompanyPrefix(_))
    ));
    assert!(matches!(
        sscc(0, "1234567890123", 1),
        Err(SsccError::CompanyPrefix(_))
    ));
    assert!(matches!(
        sscc(0, "06141A1", 1),
        Err(SsccError::CompanyPrefix(_))
    ));
    assert!(matches!(
        sscc(0, "0614141", 1_000_000_000),
        Err(SsccError::SerialTooLarge { digits: 9, .. })
    ));
    assert!(sscc(0, "0614141", 999_999_999).is_ok());
    assert!(matches!(
        sscc(0, "123456789012", u64::MAX),
        Err(SsccError::SerialTooLarge { .. })
    ));
    assert!(matches!(
        check_sscc("10614141234567890"),
        Err(SsccError::Format(_))
    ));
    assert!(matches!(
        check_sscc("10614141234567890x"),
        Err(SsccError::Format(_))
    ));
    assert!(matches!(
        check_sscc("١٠٦١٤١٤١٢٣٤٥٦٧٨٩٠٨"),
        Err(SsccError::Format(_))
    ));
    assert_eq!(
        check_sscc("106141412345678907"),
        Err(SsccError::CheckDigit {
            sscc: "106141412345678907".into(),
            found: '7',
            expected: '8'
        })
    );
}

#[test]
fn sscc_label_zpl_is_gs1_128_with_fnc1() {
    let zpl = sscc_label_zpl(&label()).unwrap();
    assert!(zpl.starts_with("^XA\n^CI28\n^PW800\n^LL1200\n"), "{zpl}");
    // Start C, FNC1, AI 00 and the SSCC as pairs; 156 modules of 4 dots, centred.
    assert!(
        zpl.contains("^FO88,750^BY4^BCN,256,N,N,N,N^FD>;>800106141412345678908^FS"),
        "{zpl}"
    );
    assert!(zpl.contains("^FD(00) 106141412345678908^FS"), "{zpl}");
    // Text goes through ^FH: no caret, tilde or raw UTF-8 in field data.
    let mut l = label();
    l.content = "A^B~C_D\\E\n料".into();
    let zpl = sscc_label_zpl(&l).unwrap();
    assert!(zpl.contains("^FDA_5EB_7EC_5FD_5CE, _E6_96_99^FS"), "{zpl}");
    assert!(zpl.ends_with("^XZ\n"));
    let mut bad = label();
    bad.sscc = "106141412345678907".into();
    assert!(matches!(
        sscc_label_zpl(&bad),
        Err(PdfError::Sscc(SsccError::CheckDigit { .. }))
    ));
}

// ---- fonts and layout ----

#[test]
fn the_vendored_latin_fonts_load_and_measure() {
    let fonts = Fonts::latin_only();
    assert!(!fonts.has_cjk());
    let sheet = Sheet::new(&fonts, layout::A4, 40.0);
    let shaped = fonts.shape("Quotation", false).unwrap();
    assert!(
        shaped.width_em > 3.0 && shaped.width_em < 6.0,
        "{}",
        shaped.width_em
    );
    let bold = fonts.shape("Quotation", true).unwrap();
    assert!(bold.width_em > shaped.width_em);
    // Invisible characters are dropped; what no font has is a question mark.
    let odd = fonts.shape("a\u{202E}b\u{200B}\u{0007}c😀", false).unwrap();
    let text: String = odd.runs.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(text, "abc?");
    assert!(sheet.wrap("", 9.0, false, 100.0).unwrap().len() == 1);
}

#[test]
fn chinese_without_a_cjk_font_is_refused_saying_what_to_install() {
    let fonts = Fonts::load(&FontSource::None).unwrap();
    let err = quotation_pdf(&quotation(3), Language::En, &fonts).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PdfError::NoCjkFont(_)), "{message}");
    assert!(
        message.contains("fonts-wqy-zenhei") && message.contains("cjk_font"),
        "{message}"
    );
    assert!(matches!(
        quotation_pdf(&english_quotation(3), Language::Zh, &fonts),
        Err(PdfError::NoCjkFont(_))
    ));
    // English with Latin text only needs no CJK font.
    let pdf = quotation_pdf(&english_quotation(3), Language::En, &fonts).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf = sscc_label_pdf(
        &SsccLabel {
            ship_from: english_quotation(0).seller,
            ship_to: english_quotation(0).customer,
            content: "FG-0001 x 250 PCS".into(),
            ..label()
        },
        Language::En,
        &fonts,
    )
    .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn a_configured_font_that_cannot_be_used_is_an_error_at_once() {
    let missing = FontSource::File {
        path: "/nonexistent/font.ttc".into(),
        index: None,
    };
    assert!(matches!(
        Fonts::load(&missing),
        Err(PdfError::FontFile { .. })
    ));
    let not_a_font = FontSource::File {
        path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        index: None,
    };
    assert!(matches!(
        Fonts::load(&not_a_font),
        Err(PdfError::FontFile { .. })
    ));
    // A font without Chinese glyphs is no CJK font.
    let latin = FontSource::File {
        path: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets/fonts/LiberationSans-Regular.ttf"),
        index: None,
    };
    let err = Fonts::load(&latin).unwrap_err();
    assert!(err.to_string().contains("no Chinese glyphs"), "{err}");
}

/// Every text drawn in a table lies inside one column, whatever it says.
#[test]
fn table_cells_wrap_and_never_overflow() {
    let fonts = Fonts::latin_only();
    let mut sheet = Sheet::new(&fonts, layout::A4, 40.0);
    let widths = [24.0, 72.0, 180.0, 60.0, 179.0];
    let table = Table {
        columns: widths
            .iter()
            .enumerate()
            .map(|(i, w)| Column {
                title: format!("Column {i} with a long title"),
                width: *w,
                align: if i % 2 == 0 {
                    Align::Right
                } else {
                    Align::Left
                },
            })
            .collect(),
        size: 8.0,
    };
    sheet.table_header(&table).unwrap();
    let texts = [
        "W".repeat(500),
        "word ".repeat(300),
        "79,228,162,514,264,337,593,543,950,335.00".into(),
        "\u{202E}right-to-left override\u{202C} and \u{200F}marks\u{200E}, emoji 😀🚚, tabs\tand\r\nnewlines\n\n\n".into(),
        "x".repeat(4000),
        String::new(),
    ];
    for i in 0..40 {
        let cells: Vec<String> = (0..5)
            .map(|c| texts[(i + c) % texts.len()].clone())
            .collect();
        sheet.table_row(&table, &cells, i % 3 == 0).unwrap();
    }
    assert!(sheet.pages.len() > 3, "{} pages", sheet.pages.len());
    let mut bounds = Vec::new();
    let mut x = sheet.left;
    for w in widths {
        bounds.push((x, x + w));
        x += w;
    }
    for (p, page) in sheet.pages.iter().enumerate() {
        for op in &page.ops {
            let Op::Text { x, y, size, shaped } = op else {
                continue;
            };
            let right = x + shaped.width(*size);
            assert!(
                bounds
                    .iter()
                    .any(|(l, r)| *x >= l - 0.01 && right <= r + 0.01),
                "page {p}: text at {x}..{right} is in no column: {:?}",
                shaped.runs.iter().map(|r| &r.text).collect::<Vec<_>>()
            );
            assert!(
                *y <= sheet.bottom + 0.01,
                "page {p}: text below the bottom at {y}"
            );
        }
    }
}

#[test]
fn any_text_makes_a_document_and_sizes_are_bounded() {
    let fonts = Fonts::latin_only();
    let mut doc = english_quotation(0);
    assert!(
        quotation_pdf(&doc, Language::En, &fonts).is_ok(),
        "no lines"
    );
    doc.lines = english_quotation(1).lines;
    doc.customer.name = "\u{0000}\u{001b}[31mACME\u{202E}\u{200F} 😀 Ltd.\u{FEFF}\u{FE0F}".into();
    doc.lines[0].description = "e\u{0301}\u{0302}\u{0303}".repeat(300) + &"🚚".repeat(300);
    doc.lines[0].quantity = Decimal::MAX;
    doc.lines[0].unit_price = Decimal::MIN;
    doc.lines[0].net_amount = Decimal::MAX;
    doc.total = Decimal::MAX;
    doc.notes = "\n".repeat(MAX_LONG_TEXT);
    let pdf = quotation_pdf(&doc, Language::En, &fonts).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    let mut big = english_quotation(0);
    big.lines = vec![english_quotation(1).lines[0].clone(); MAX_LINES];
    let started = std::time::Instant::now();
    let pdf = quotation_pdf(&big, Language::En, &fonts).unwrap();
    eprintln!(
        "{MAX_LINES} lines: {} bytes in {:?}",
        pdf.len(),
        started.elapsed()
    );
    big.lines = vec![english_quotation(1).lines[0].clone(); 10_000];
    assert!(matches!(
        quotation_pdf(&big, Language::En, &fonts),
        Err(PdfError::TooManyLines {
            lines: 10_000,
            max: MAX_LINES
        })
    ));
    let mut long = english_quotation(2);
    long.lines[1].description = "x".repeat(MAX_LONG_TEXT + 1);
    let err = quotation_pdf(&long, Language::En, &fonts).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "lines[2].description is too long: {} characters, at most {MAX_LONG_TEXT}",
            MAX_LONG_TEXT + 1
        )
    );
    let mut dn = delivery_note(0);
    dn.lines = vec![delivery_note(1).lines[0].clone(); MAX_LINES + 1];
    assert!(matches!(
        delivery_note_pdf(&dn, Language::En, &Fonts::system()),
        Err(PdfError::TooManyLines { .. })
    ));
}

// ---- read back with poppler ----

/// `program` on the PATH, or `None` (after saying why) when the test should skip; under
/// `CI=true` a missing program fails the test instead.
fn tool(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip_or_fail(&format!(
            "{program} is not installed (apt-get install -y {package})"
        ));
    }
    found
}

fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}; CI must read the documents back");
    }
    eprintln!("skipped: {why}");
}

/// Fonts with a CJK font, or `None` (after saying why).
fn cjk_fonts() -> Option<Fonts> {
    let fonts = Fonts::system();
    if let Err(why) = fonts.cjk_font() {
        skip_or_fail(why);
        return None;
    }
    Some(fonts)
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/debug/deps/central-…: three levels up is the target directory.
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_owned))
        })
        .unwrap_or_else(std::env::temp_dir);
    let dir = target.join("test-artifacts").join("pdf");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes the PDF, a PNG of its first page, and returns its text and page count.
fn read_back(pdf: &[u8], name: &str) -> Option<(String, usize)> {
    let pdftotext = tool("pdftotext", "poppler-utils")?;
    let dir = artifacts();
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).unwrap();
    if let Some(pdftoppm) = tool("pdftoppm", "poppler-utils") {
        let png = dir.join(name);
        run(
            &pdftoppm,
            &[
                "-png",
                "-r",
                "60",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                path.to_str()?,
                png.to_str()?,
            ],
        );
    }
    let text = run(&pdftotext, &["-layout", path.to_str()?, "-"]);
    let pages = text.matches('\u{c}').count();
    eprintln!("{}: {} bytes, {pages} pages", path.display(), pdf.len());
    Some((text, pages))
}

/// What pdftotext gives back with the spaces squeezed out (it may space Chinese text).
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn quotations_read_back_in_chinese_and_english() {
    let Some(fonts) = cjk_fonts() else { return };
    let doc = quotation(60);
    for (lang, name, labels) in [
        (
            Language::Zh,
            "quotation-zh",
            ["报价单", "有效期至", "付款条件", "第1/3页", "合计(CNY)"],
        ),
        (
            Language::En,
            "quotation-en",
            [
                "Quotation",
                "Validuntil",
                "Paymentterms",
                "Page1/3",
                "Total(CNY)",
            ],
        ),
    ] {
        let pdf = quotation_pdf(&doc, lang, &fonts).unwrap();
        let Some((text, pages)) = read_back(&pdf, name) else {
            return;
        };
        let flat = squeezed(&text);
        assert_eq!(pages, 3, "{name}: {text}");
        for expected in labels.iter().chain(&[
            "QT-2026-00042",
            "上海华东汽车零部件有限公司",
            "苏州精工机械有限公司",
            "不锈钢法兰盘",
            "Stainlesssteelflange",
            "1,234,567.89",
            "160,493.83",
            "1,395,061.72",
            "17,812.50",
            "FG-0060",
            "2027-01-06",
            "交货期",
        ]) {
            assert!(
                flat.contains(expected),
                "{name}: {expected:?} not in {text}"
            );
        }
        // The header row again on every page.
        let header = if lang == Language::Zh {
            "物料编码"
        } else {
            "Itemcode"
        };
        assert_eq!(flat.matches(header).count(), pages, "{name}: {text}");
    }
    let pdf = quotation_pdf(&english_quotation(5), Language::En, &fonts).unwrap();
    let Some((text, pages)) = read_back(&pdf, "quotation-en-latin") else {
        return;
    };
    assert_eq!(pages, 1);
    assert!(
        squeezed(&text).contains("BavariaDriveSystemsGmbH"),
        "{text}"
    );
    assert!(
        text.contains("Industriestraße") && text.contains("Müller"),
        "{text}"
    );
}

#[test]
fn delivery_notes_read_back() {
    let Some(fonts) = cjk_fonts() else { return };
    for (lang, name, expected) in [
        (
            Language::Zh,
            "delivery-note-zh",
            [
                "送货单",
                "收货地址",
                "批次",
                "合计数量:7,500PCS;2,500KG",
                "第2/2页",
            ],
        ),
        (
            Language::En,
            "delivery-note-en",
            [
                "Deliverynote",
                "Shipto",
                "Lot",
                "Totalquantity:7,500PCS;2,500KG",
                "Page2/2",
            ],
        ),
    ] {
        let pdf = delivery_note_pdf(&delivery_note(40), lang, &fonts).unwrap();
        let Some((text, _)) = read_back(&pdf, name) else {
            return;
        };
        let flat = squeezed(&text);
        for e in
            expected
                .iter()
                .chain(&["DN-2026-0815", "SO-2026-0301", "L2026-12-040", "嘉定二厂"])
        {
            assert!(flat.contains(e), "{name}: {e:?} not in {text}");
        }
    }
}

#[test]
fn sscc_label_pdf_reads_back_and_its_bars_scan() {
    let Some(fonts) = cjk_fonts() else { return };
    let pdf = sscc_label_pdf(&label(), Language::Zh, &fonts).unwrap();
    let Some((text, pages)) = read_back(&pdf, "sscc-label-zh") else {
        return;
    };
    assert_eq!(pages, 1);
    let flat = squeezed(&text);
    for e in [
        "收货方",
        "嘉定二厂",
        "(00)106141412345678908",
        "SO-2026-0301",
        "1/3",
    ] {
        assert!(flat.contains(e), "{e:?} not in {text}");
    }
    std::fs::write(
        artifacts().join("sscc-label.zpl"),
        sscc_label_zpl(&label()).unwrap(),
    )
    .unwrap();
    let (Some(pdftoppm), Some(zbarimg)) = (
        tool("pdftoppm", "poppler-utils"),
        tool("zbarimg", "zbar-tools"),
    ) else {
        return;
    };
    let dir = artifacts();
    let pdf_path = dir.join("sscc-label-zh.pdf");
    let png = dir.join("sscc-label-zh-300dpi");
    run(
        &pdftoppm,
        &[
            "-png",
            "-r",
            "300",
            "-singlefile",
            pdf_path.to_str().unwrap(),
            png.to_str().unwrap(),
        ],
    );
    let png = dir.join("sscc-label-zh-300dpi.png");
    let xml = run(&zbarimg, &["-q", "--xml", png.to_str().unwrap()]);
    assert!(
        xml.contains("type='CODE-128'") && xml.contains("modifiers='GS1'"),
        "{xml}"
    );
    let raw = run(&zbarimg, &["-q", "--raw", png.to_str().unwrap()]);
    assert_eq!(raw.trim_end(), "00106141412345678908");
}
