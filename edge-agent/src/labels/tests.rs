use super::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::path::Path;

fn lot(item: &str, lot: &str) -> FinishedLot {
    FinishedLot {
        item: item.into(),
        lot: lot.into(),
        qty: Decimal::new(480, 0),
        uom: "pcs".into(),
        work_order: "WO-24-0042".into(),
    }
}

fn every_kind() -> Vec<Barcode> {
    vec![
        Barcode::new(Symbology::Code128, "HELLO-128 abc", 2026).unwrap(),
        Barcode::new(Symbology::Gs1128, "(01)09506000134352(10)ABC123", 2026).unwrap(),
        Barcode::new(Symbology::Ean13, "950600013435", 2026).unwrap(),
        Barcode::new(Symbology::Qr, "https://example.test/lot?id=7", 2026).unwrap(),
        Barcode::new(Symbology::Gs1Qr, "(01)09506000134352(17)201225", 2026).unwrap(),
        Barcode::new(
            Symbology::Gs1DataMatrix,
            "(01)09506000134352(10)ABC123(17)201225",
            2026,
        )
        .unwrap(),
    ]
}

#[test]
fn output_format_from_extension() {
    assert_eq!(
        OutputFormat::from_path(Path::new("a/label.PNG")).unwrap(),
        OutputFormat::Png
    );
    assert_eq!(
        OutputFormat::from_path(Path::new("label.svg")).unwrap(),
        OutputFormat::Svg
    );
    assert_eq!(
        OutputFormat::from_path(Path::new("job.zpl")).unwrap(),
        OutputFormat::Zpl
    );
    let err = OutputFormat::from_path(Path::new("label.pdf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot tell the label format from label.pdf: name it .png, .svg or .zpl"
    );
}

/// The SVG's rectangles cover exactly the dots the PNG paints black.
#[test]
fn svg_and_png_draw_the_same_modules() {
    for barcode in every_kind() {
        let mut label = Label::single(barcode, None);
        label.items.retain(|i| matches!(i, Item::Code { .. }));
        let raster = raster(&label);
        let svg = label.to_svg();
        let mut from_svg = vec![255u8; raster.pixels.len()];
        for rect in svg.split("<rect ").skip(2) {
            let attr = |name: &str| -> u32 {
                let start = rect.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let len = rect[start..].find('"').unwrap();
                rect[start..start + len].parse().unwrap()
            };
            let (x, y, w, h) = (attr("x"), attr("y"), attr("width"), attr("height"));
            for row in y..y + h {
                for col in x..x + w {
                    from_svg[(row * raster.width + col) as usize] = 0;
                }
            }
        }
        assert!(from_svg == raster.pixels, "{svg}");
    }
}

#[test]
fn png_decodes_to_the_raster() {
    let label = Label::single(every_kind().remove(1), None);
    let bytes = label.to_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (label.width, label.height));
    assert_eq!(pixels, raster(&label).pixels);
}

#[test]
fn single_labels_leave_the_quiet_zone_free() {
    for barcode in every_kind() {
        let symbology = barcode.symbology;
        let label = Label::single(barcode, None);
        let code = &label.items[0];
        let Item::Code { x, y, module, .. } = code else {
            panic!("{code:?}")
        };
        let quiet = symbology.quiet_zone() * module;
        let (w, h) = code.size();
        assert!(*x >= quiet && x + w + quiet <= label.width, "{symbology}");
        if !symbology.is_linear() {
            assert!(*y >= quiet, "{symbology}");
        }
        let text_y = match &label.items[1] {
            Item::Text { y, .. } => *y,
            other => panic!("{other:?}"),
        };
        let below = if symbology.is_linear() { 0 } else { quiet };
        assert!(
            text_y >= y + h + below,
            "{symbology}: the text is in the code's quiet zone"
        );
    }
}

#[test]
fn finished_lot_label_in_each_gs1_symbology() {
    for symbology in [
        Symbology::Gs1Qr,
        Symbology::Gs1128,
        Symbology::Gs1DataMatrix,
    ] {
        let label = finished_lot_label(&lot("HOUSING-A", "FL-000123"), symbology).unwrap();
        assert_eq!(
            (label.width, label.height),
            (FINISHED_LOT_WIDTH, FINISHED_LOT_HEIGHT)
        );
        let texts: Vec<&str> = label
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        for wanted in ["HOUSING-A", "FL-000123", "480 pcs", "WO-24-0042"] {
            assert!(texts.contains(&wanted), "{symbology}: {texts:?}");
        }
        // Nothing drawn off the label.
        for item in &label.items {
            let (x, y) = match item {
                Item::Text { x, y, .. } | Item::Code { x, y, .. } => (*x, *y),
            };
            let (w, h) = item.size();
            assert!(
                x + w <= label.width && y + h <= label.height,
                "{symbology}: {item:?}"
            );
        }
    }
}

#[test]
fn finished_lot_too_long_for_gs1_128_says_to_use_qr() {
    let long = lot("HOUSING-ASSEMBLY-LEFT-HAND", "FL-2024-000123");
    let err = finished_lot_label(&long, Symbology::Gs1128).unwrap_err();
    assert!(err.to_string().ends_with("print it as gs1-qr"), "{err}");
    assert!(finished_lot_label(&long, Symbology::Gs1Qr).is_ok());
    let err = finished_lot_label(&long, Symbology::Ean13).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a finished-lot label carries its code as gs1-128, gs1-qr or gs1-datamatrix, not ean-13"
    );
}

#[test]
fn label_codes_that_cannot_be_printed_are_refused() {
    let err = finished_lot_label(&lot("HOUSING A", "FL-1"), Symbology::Gs1Qr).unwrap_err();
    assert_eq!(
        err.to_string(),
        "item \"HOUSING A\" cannot go on a label: it contains a space, which a GS1 barcode cannot carry"
    );
}

/// Whether `symbology` can carry `data`, decided apart from the encoder: Code 128 takes
/// non-empty printable ASCII, EAN-13 12 digits or 13 with the right check digit, QR any
/// non-empty text (the generator stays far below a QR's capacity), GS1 what the GS1 parser
/// accepts (within 48 characters for GS1-128; the generator stays far below a DataMatrix's
/// capacity too).
fn printable(symbology: Symbology, data: &str) -> bool {
    match symbology {
        Symbology::Code128 => {
            !data.is_empty() && data.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        }
        Symbology::Ean13 => {
            let digits = data.bytes().all(|b| b.is_ascii_digit());
            match data.len() {
                12 => digits,
                13 => {
                    digits
                        && protocol::barcode::ai::check_digit(&data.as_bytes()[..12])
                            == data.as_bytes()[12] - b'0'
                }
                _ => false,
            }
        }
        Symbology::Qr => !data.is_empty(),
        Symbology::Gs1128 | Symbology::Gs1Qr | Symbology::Gs1DataMatrix => {
            match protocol::barcode::parse_gs1_data(data, 2026) {
                Ok(elements) => {
                    symbology != Symbology::Gs1128
                        || protocol::barcode::to_element_string(&elements).len()
                            <= GS1_128_MAX_CHARS
                }
                Err(_) => false,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever an operator or a caller hands in, making and rendering a label never panics.
    #[test]
    fn any_input_is_a_label_or_a_reason(
        data in "\\PC{0,60}|[0-9]{12,13}|(\\([0-9]{2}\\)[A-Z0-9]{1,8}){1,4}",
        which in 0usize..Symbology::ALL.len(),
        module in proptest::option::of(0u32..50),
    ) {
        let symbology = Symbology::ALL[which];
        match Barcode::new(symbology, &data, 2026) {
            Ok(barcode) => {
                prop_assert!(printable(symbology, &data), "{symbology} took {data:?}");
                let label = Label::single(barcode, module);
                for format in [OutputFormat::Png, OutputFormat::Svg, OutputFormat::Zpl] {
                    prop_assert!(!label.render(format).unwrap().is_empty());
                }
            }
            // Refused only where the symbology cannot carry the data, with a reason.
            Err(e) => {
                prop_assert!(!printable(symbology, &data), "{symbology} refused {data:?}: {e}");
                prop_assert!(!e.to_string().trim().is_empty());
            }
        }
    }

    /// A finished lot is refused only for a field a GS1 barcode cannot carry, and then with a
    /// reason that names it.
    #[test]
    fn any_finished_lot_is_a_label_or_a_reason(
        item in "[A-Za-z0-9 ._-]{0,40}",
        lot in "[A-Za-z0-9_-]{0,30}",
        qty in 0i64..10_000_000,
        scale in 0u32..6,
        uom in "[a-z0-9]{0,4}",
        which in 0usize..3,
    ) {
        let finished = FinishedLot {
            item: item.as_str().into(),
            lot: lot.as_str().into(),
            qty: Decimal::new(qty, scale),
            uom,
            work_order: "WO-1".into(),
        };
        let symbology = [Symbology::Gs1128, Symbology::Gs1Qr, Symbology::Gs1DataMatrix][which];
        match finished_lot_label(&finished, symbology) {
            Ok(label) => {
                prop_assert!(!label.to_png().unwrap().is_empty());
                prop_assert!(label.to_zpl().contains("^XZ"));
            }
            Err(e) => {
                // The reason names the field and its value, or says what is too long.
                let message = e.to_string();
                let names_a_field = match &e {
                    LabelError::LabelCode(code) => {
                        (code.field == "item" && code.value == item)
                            || (code.field == "lot" && code.value == lot)
                            || !["item", "lot"].contains(&code.field)
                    }
                    LabelError::TooLong(_) => true,
                    _ => false,
                };
                prop_assert!(names_a_field, "{item:?} {lot:?} refused: {message}");
                // The generators use GS1's characters and a space: an item or lot is refused
                // for a space, for being empty, or for its length (AI 10 holds 20, AI 240 30).
                if let LabelError::LabelCode(code) = &e
                    && ["item", "lot"].contains(&code.field)
                {
                    prop_assert!(
                        code.value.contains(' ') || code.value.is_empty() || code.value.len() > 20,
                        "{item:?} {lot:?} refused: {message}"
                    );
                }
            }
        }
    }
}
