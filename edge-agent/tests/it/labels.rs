//! Every kind of label the project prints decodes back to the same data with zbarimg (a real,
//! independent decoder), and what zbarimg reads, prefixed with the symbology identifier a
//! scanner would send, reads back through `protocol::barcode::parse` as the code we encoded.
//!
//! zbarimg comes from `apt-get install zbar-tools` (.ci/run installs it). Without it this test
//! fails when `CI=true` and otherwise skips with a printed reason.
//!
//! zbar does not read Data Matrix: GS1 DataMatrix labels are decoded with libdmtx's dmtxread
//! (`apt-get install dmtx-utils`, which .ci/run installs too), under the same rule.

use edge_agent::labels::{
    Barcode, FinishedLot, Label, LabelCode, OutputFormat, Symbology, finished_lot_label,
};
use protocol::barcode::{MaterialLotCode, Reading, parse};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::process::Command;

const YEAR: i32 = 2026;

/// The zbarimg to use, or `None` (after saying why) when the test should skip.
fn zbarimg() -> Option<PathBuf> {
    tool("zbarimg", "zbar-tools")
}

/// `program` on the PATH, or `None` (after saying why) when the test should skip; under
/// `CI=true` a missing program fails the test instead.
pub(crate) fn tool(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = format!("{program} is not installed (apt-get install -y {package})");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}; CI must decode the labels");
        }
        eprintln!("skipping the label decode test: {why}");
    }
    found
}

/// One symbol as zbarimg read it.
#[derive(Debug)]
struct Decoded {
    /// zbar's name: `CODE-128`, `EAN-13`, `QR-Code`.
    kind: String,
    /// zbar saw FNC1 in first position (GS1-128, GS1 QR).
    gs1: bool,
    data: Vec<u8>,
}

impl Decoded {
    /// What a scanner configured to send symbology identifiers would send.
    fn as_scanned(&self) -> String {
        let id = match (self.kind.as_str(), self.gs1) {
            ("CODE-128", true) => "]C1",
            ("CODE-128", false) => "]C0",
            ("QR-Code", true) => "]Q3",
            ("QR-Code", false) => "]Q1",
            ("EAN-13", _) => "]E0",
            (other, _) => panic!("zbarimg read an unexpected symbology {other}"),
        };
        format!("{id}{}", String::from_utf8_lossy(&self.data))
    }
}

/// Runs zbarimg on one image, which must hold exactly one symbol.
fn decode(zbarimg: &Path, image: &Path) -> Decoded {
    let run = |args: &[&str]| {
        let out = Command::new(zbarimg)
            .args(args)
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", zbarimg.display()));
        assert!(
            out.status.success(),
            "zbarimg found no barcode in {} ({}): {}",
            image.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut data = run(&["-q", "--raw"]);
    assert_eq!(data.pop(), Some(b'\n'));
    let xml = String::from_utf8_lossy(&run(&["-q", "--xml"])).into_owned();
    let symbols: Vec<&str> = xml.split("<symbol ").skip(1).collect();
    assert_eq!(
        symbols.len(),
        1,
        "one symbol expected in {}: {xml}",
        image.display()
    );
    let kind = symbols[0]
        .split_once("type='")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(kind, _)| kind.to_owned())
        .unwrap_or_default();
    let attributes = symbols[0].split('>').next().unwrap_or_default();
    let gs1 = attributes.contains("modifiers='GS1'");
    Decoded { kind, gs1, data }
}

/// Writes the label as PNG and as SVG. The SVG is sized in millimetres; for zbarimg (which
/// renders SVG at 96 dpi) it is also written at one pixel per printer dot, as a printer would
/// rasterise it.
fn write_images(label: &Label, dir: &Path, name: &str) -> Vec<PathBuf> {
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&png, label.render(OutputFormat::Png).unwrap()).unwrap();
    let svg = label.to_svg();
    let first_line_end = svg.find('\n').unwrap();
    let at_dots = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" shape-rendering="crispEdges">{}"#,
        label.width,
        label.height,
        label.width,
        label.height,
        &svg[first_line_end..]
    );
    let svg_path = dir.join(format!("{name}.svg"));
    std::fs::write(&svg_path, at_dots).unwrap();
    vec![png, svg_path]
}

fn lot_code(work_order: Option<&str>) -> LabelCode {
    LabelCode::MaterialLot(MaterialLotCode {
        item: "RESIN-PP".into(),
        lot: "L2406-0117".into(),
        qty: Decimal::new(255, 1),
        uom: "kg".into(),
        work_order: work_order.map(Into::into),
    })
}

#[test]
fn every_label_decodes_back_with_zbarimg() {
    let Some(zbarimg) = zbarimg() else {
        return;
    };
    // MES_LABEL_ARTIFACTS=DIR keeps the images for a person to look at.
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("MES_LABEL_ARTIFACTS").map_or(temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let mut n_checked = 0;

    // 1. `mes label` for each symbology: zbarimg reads exactly the data encoded.
    let singles = [
        (Symbology::Code128, "MES Code 128: A-1/b_2"),
        (
            Symbology::Gs1128,
            "(01)09506000134352(17)201225(10)ABC123(21)XY-7",
        ),
        (Symbology::Ean13, "950600013435"),
        (Symbology::Qr, "Lot L2406-0117 料号 ✓"),
        (
            Symbology::Gs1Qr,
            "(01)09506000134352(10)A%B(3103)001250(17)261100",
        ),
    ];
    for (symbology, data) in singles {
        let barcode = Barcode::new(symbology, data, YEAR).unwrap();
        let label = Label::single(barcode.clone(), None);
        for image in write_images(&label, &dir, symbology.name()) {
            let decoded = decode(&zbarimg, &image);
            assert_eq!(
                String::from_utf8_lossy(&decoded.data),
                barcode.data,
                "{}",
                image.display()
            );
            let gs1 = matches!(symbology, Symbology::Gs1128 | Symbology::Gs1Qr);
            assert_eq!(decoded.gs1, gs1, "{}: FNC1 mode", image.display());
            if gs1 {
                // What the scanner would send reads as the GS1 data we were given.
                let from_label = parse(&decoded.as_scanned(), YEAR);
                let given = parse(data, YEAR);
                match (&from_label, &given) {
                    (Reading::Gs1 { elements: a, .. }, Reading::Gs1 { elements: b, .. }) => {
                        assert_eq!(a, b)
                    }
                    _ => panic!("{from_label:?} vs {given:?}"),
                }
            }
            if symbology == Symbology::Ean13 {
                let reading = parse(&decoded.as_scanned(), YEAR);
                assert_eq!(
                    reading.element("01").map(|e| e.value.as_str()),
                    Some("09506000134352")
                );
            }
            n_checked += 1;
        }
    }

    // 2. This system's label codes, each in GS1-128 and GS1 QR: they read back as themselves.
    let codes = [
        LabelCode::WorkOrder("WO-24-0042".into()),
        lot_code(None),
        LabelCode::Location("RACK-A-01-02".into()),
        LabelCode::Operator("10442".into()),
        LabelCode::Station("L1-PRESS-3".into()),
    ];
    for (i, code) in codes.iter().enumerate() {
        for symbology in [Symbology::Gs1128, Symbology::Gs1Qr] {
            let label = Label::single(Barcode::label_code(code, symbology).unwrap(), None);
            for image in write_images(&label, &dir, &format!("code-{i}-{symbology}")) {
                let scanned = decode(&zbarimg, &image).as_scanned();
                match parse(&scanned, YEAR) {
                    Reading::Label { code: read, .. } => {
                        assert_eq!(&read, code, "{}", image.display())
                    }
                    other => panic!("{} read as {other:?}", image.display()),
                }
                n_checked += 1;
            }
        }
    }

    // 3. The finished-lot label, with its code as a GS1-128 ladder and as GS1 QR.
    let finished = FinishedLot {
        item: "RESIN-PP".into(),
        lot: "L2406-0117".into(),
        qty: Decimal::new(255, 1),
        uom: "kg".into(),
        work_order: "WO-24-0042".into(),
    };
    for symbology in [Symbology::Gs1128, Symbology::Gs1Qr] {
        let label = finished_lot_label(&finished, symbology).unwrap();
        for image in write_images(&label, &dir, &format!("finished-lot-{symbology}")) {
            let scanned = decode(&zbarimg, &image).as_scanned();
            match parse(&scanned, YEAR) {
                Reading::Label { code, .. } => {
                    assert_eq!(code, lot_code(Some("WO-24-0042")), "{}", image.display())
                }
                other => panic!("{} read as {other:?}", image.display()),
            }
            n_checked += 1;
        }
    }
    assert_eq!(n_checked, 2 * (5 + 5 * 2 + 2));
}

/// One Data Matrix as dmtxread read it: whether its first data codeword is FNC1 (232), which
/// makes it GS1 DataMatrix, and the data it transmits after that (GS for each separator).
pub(crate) fn decode_datamatrix(dmtxread: &Path, image: &Path) -> (bool, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = Command::new(dmtxread)
            .args(args)
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", dmtxread.display()));
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "dmtxread found no Data Matrix in {} ({}): {}",
            image.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut data = run(&["-n", "-N1"]);
    assert_eq!(data.pop(), Some(b'\n'));
    // `-c` lists the codewords, data ones as `d:NNN`.
    let codewords = String::from_utf8_lossy(&run(&["-c", "-N1"])).into_owned();
    let first = codewords
        .lines()
        .find_map(|l| l.strip_prefix("d:"))
        .unwrap_or_else(|| panic!("no data codewords from {}: {codewords}", image.display()));
    (first.trim() == "232", data)
}

#[test]
fn gs1_datamatrix_labels_decode_back_with_dmtxread() {
    let Some(dmtxread) = tool("dmtxread", "dmtx-utils") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("MES_LABEL_ARTIFACTS").map_or(temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    // What a scanner sends for it: `]d2` and the data, which reads back through the parser.
    let check = |image: &Path, barcode_data: &str| -> Reading {
        let (gs1, data) = decode_datamatrix(&dmtxread, image);
        assert!(gs1, "{}: no FNC1 in first position", image.display());
        assert_eq!(
            String::from_utf8_lossy(&data),
            barcode_data,
            "{}",
            image.display()
        );
        parse(&format!("]d2{}", String::from_utf8_lossy(&data)), YEAR)
    };
    let mut n_checked = 0;

    // 1. `mes label --symbology gs1-datamatrix`: fixed- and variable-length elements, an
    //    underscore (ZPL's escape character) and a long code GS1-128 could not hold.
    for (i, data) in [
        "(01)09506000134352(10)AB_12(17)201225(21)XY-7",
        "(92)HOUSING-ASSEMBLY-LEFT(93)FL-000123456(94)480pcs(91)WO-24-0042",
    ]
    .into_iter()
    .enumerate()
    {
        let barcode = Barcode::new(Symbology::Gs1DataMatrix, data, YEAR).unwrap();
        let label = Label::single(barcode.clone(), None);
        for image in write_images(&label, &dir, &format!("gs1-datamatrix-{i}")) {
            let read = check(&image, &barcode.data);
            match (&read, &parse(data, YEAR)) {
                (Reading::Gs1 { elements: a, .. }, Reading::Gs1 { elements: b, .. }) => {
                    assert_eq!(a, b, "{}", image.display())
                }
                (Reading::Label { code: a, .. }, Reading::Label { code: b, .. }) => {
                    assert_eq!(a, b, "{}", image.display())
                }
                other => panic!("{}: {other:?}", image.display()),
            }
            n_checked += 1;
        }
    }

    // 2. This system's label codes read back as themselves.
    let codes = [
        LabelCode::WorkOrder("WO-24-0042".into()),
        lot_code(None),
        LabelCode::Location("RACK-A-01-02".into()),
        LabelCode::Operator("10442".into()),
        LabelCode::Station("L1-PRESS-3".into()),
    ];
    for (i, code) in codes.iter().enumerate() {
        let barcode = Barcode::label_code(code, Symbology::Gs1DataMatrix).unwrap();
        let label = Label::single(barcode.clone(), None);
        for image in write_images(&label, &dir, &format!("code-{i}-gs1-datamatrix")) {
            match check(&image, &barcode.data) {
                Reading::Label { code: read, .. } => {
                    assert_eq!(&read, code, "{}", image.display())
                }
                other => panic!("{} read as {other:?}", image.display()),
            }
            n_checked += 1;
        }
    }

    // 3. The finished-lot label with its code as GS1 DataMatrix.
    let finished = FinishedLot {
        item: "RESIN-PP".into(),
        lot: "L2406-0117".into(),
        qty: Decimal::new(255, 1),
        uom: "kg".into(),
        work_order: "WO-24-0042".into(),
    };
    let label = finished_lot_label(&finished, Symbology::Gs1DataMatrix).unwrap();
    let data = Barcode::label_code(&lot_code(Some("WO-24-0042")), Symbology::Gs1DataMatrix)
        .unwrap()
        .data;
    for image in write_images(&label, &dir, "finished-lot-gs1-datamatrix") {
        match check(&image, &data) {
            Reading::Label { code, .. } => {
                assert_eq!(code, lot_code(Some("WO-24-0042")), "{}", image.display())
            }
            other => panic!("{} read as {other:?}", image.display()),
        }
        n_checked += 1;
    }
    assert_eq!(n_checked, 2 * (2 + 5 + 1));
}
