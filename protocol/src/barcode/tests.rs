//! Data-driven tests: each case is a scan and what it reads as, in a compact one-line form.
//! Run with `UPDATE_EXPECT=1` to rewrite the expectations after a deliberate change.

use super::*;
use expect_test::{Expect, expect};
use proptest::prelude::*;

/// The year the tests read two-digit GS1 years in.
const YEAR: i32 = 2026;

fn render(reading: &Reading) -> String {
    let sym = |s: &Option<Symbology>| s.map_or(String::new(), |s| format!(" [{}]", s.title()));
    match reading {
        Reading::Gs1 {
            symbology,
            elements,
        } => {
            let mut out = format!("gs1{}", sym(symbology));
            for e in elements {
                out.push_str(&format!(" ({}){}", e.ai, e.value));
                if let Some(d) = e.date {
                    out.push_str(&format!("={d}"));
                }
                if let Some(d) = e.decimal {
                    out.push_str(&format!("={d}"));
                }
            }
            out
        }
        Reading::Label { symbology, code } => {
            let what = match code {
                LabelCode::WorkOrder(wo) => format!("work order {wo}"),
                LabelCode::Location(l) => format!("location {l}"),
                LabelCode::Operator(o) => format!("operator {o}"),
                LabelCode::Station(s) => format!("station {s}"),
                LabelCode::SalesOrder(o) => format!("sales order {o}"),
                LabelCode::MaterialLot(m) => format!(
                    "material lot item={} lot={} qty={} uom={}{}",
                    m.item,
                    m.lot,
                    m.qty,
                    m.uom,
                    m.work_order
                        .as_ref()
                        .map_or(String::new(), |wo| format!(" work_order={wo}"))
                ),
            };
            format!("label{} {what}", sym(symbology))
        }
        Reading::Rejected { reason } => format!("rejected: {reason}"),
    }
}

fn check(input: &str, expect: Expect) {
    expect.assert_eq(&render(&parse(input, YEAR)));
}

#[test]
fn gs1_128_with_identifier() {
    check(
        "]C1010950600013435217201225",
        expect![[r#"gs1 [GS1-128] (01)09506000134352 (17)201225=2020-12-25"#]],
    );
    // Variable-length lot, FNC1 as GS, then serial to the end.
    check(
        "]C10109506000134352\u{1d}10ABC123\u{1d}21XY-7",
        expect!["gs1 [GS1-128] (01)09506000134352 (10)ABC123 (21)XY-7"],
    );
}

#[test]
fn symbology_identifiers() {
    check(
        "]d201095060001343521710123110AB-12",
        expect![[r#"gs1 [GS1 DataMatrix] (01)09506000134352 (17)101231=2010-12-31 (10)AB-12"#]],
    );
    check(
        "]Q30109506000134352\u{1d}10L1\u{1d}3103001250",
        expect![[r#"gs1 [GS1 QR] (01)09506000134352 (10)L1 (3103)001250=1.250"#]],
    );
    check(
        "]e00109506000134352",
        expect![[r#"gs1 [GS1 DataBar] (01)09506000134352"#]],
    );
    check(
        "]E09506000134352",
        expect![[r#"gs1 [EAN-13] (01)09506000134352"#]],
    );
    check(
        "]E495012346",
        expect![[r#"gs1 [EAN-8] (01)00000095012346"#]],
    );
    check(
        "]E09506000134353",
        expect![[
            r#"rejected: GTIN (01) 09506000134353 has a wrong check digit: expected 2, found 3 (misprinted or misread)"#
        ]],
    );
    check(
        "]E0950600013435",
        expect![[r#"rejected: an EAN-13 code holds 13 digits, this one holds "950600013435""#]],
    );
    check(
        "]X0HELLO",
        expect![[
            r#"rejected: the scanner reports symbology "]X0", which this system does not read; it reads GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, EAN, Code 128, QR and DataMatrix"#
        ]],
    );
    check(
        "]C",
        expect![[r#"rejected: the scan starts with "]" but has no complete symbology identifier"#]],
    );
    check("]C1", expect![[r#"rejected: the GS1-128 code is empty"#]]);
    check(
        "]C0HELLO",
        expect![[
            r#"rejected: this Code 128 code is neither GS1 data nor a label of this system: "HELLO""#
        ]],
    );
    check(
        "]Q1(01)09506000134352",
        expect![[r#"gs1 [QR] (01)09506000134352"#]],
    );
}

#[test]
fn bracketed_form() {
    check(
        "(01)09506000134352(17)201225(10)ABC123",
        expect![[r#"gs1 (01)09506000134352 (17)201225=2020-12-25 (10)ABC123"#]],
    );
    check(
        " (01) 09506000134352 (10) A\\(B ",
        expect![[r#"gs1 (01)09506000134352 (10)A(B"#]],
    );
    check(
        "(01)0950600013435",
        expect![[r#"rejected: GTIN (01) needs 14 digits, found 13"#]],
    );
    check(
        "(01)09506000134352(10",
        expect![[r#"rejected: in the bracketed form, "(" at "(10" is never closed with ")""#]],
    );
    check(
        "(7003)2412311200",
        expect![[
            r#"rejected: the code holds application identifier (7003), which this system does not read"#
        ]],
    );
    check(
        "(AB)12",
        expect![[r#"rejected: expected a GS1 application identifier (2 to 4 digits) at "(AB)""#]],
    );
    check("(10)", expect![[r#"rejected: batch or lot (10) is empty"#]]);
}

#[test]
fn without_identifier() {
    // EAN-13 and UPC-A as a scanner sends them by default.
    check("9506000134352", expect![[r#"gs1 (01)09506000134352"#]]);
    check("036000291452", expect![[r#"gs1 (01)00036000291452"#]]);
    // An element string whose identifier the scanner dropped; FNC1 in first position as GS.
    check(
        "\u{1d}0109506000134352\u{1d}10ABC",
        expect![[r#"gs1 (01)09506000134352 (10)ABC"#]],
    );
    check(
        "010950600013435217201225",
        expect![[r#"gs1 (01)09506000134352 (17)201225=2020-12-25"#]],
    );
    check(
        "HELLO WORLD",
        expect![[
            r#"rejected: not a code this system knows: "HELLO WORLD" is neither a GS1 code nor a label this system printed"#
        ]],
    );
    check(
        "",
        expect![[r#"rejected: nothing was scanned: the code is empty"#]],
    );
    check(
        " \r\n",
        expect![[r#"rejected: nothing was scanned: the code is empty"#]],
    );
    check(
        "]C1010950600013435217201225\r\n",
        expect![[r#"gs1 [GS1-128] (01)09506000134352 (17)201225=2020-12-25"#]],
    );
}

#[test]
fn every_required_ai() {
    check(
        "]C1001061414123456789080109506000134352",
        expect![[r#"gs1 [GS1-128] (00)106141412345678908 (01)09506000134352"#]],
    );
    check(
        "]C10209506000134352\u{1d}3712",
        expect![[r#"gs1 [GS1-128] (02)09506000134352 (37)12"#]],
    );
    check(
        "]C1112401011324010215240103172401041001",
        expect![[
            r#"gs1 [GS1-128] (11)240101=2024-01-01 (13)240102=2024-01-02 (15)240103=2024-01-03 (17)240104=2024-01-04 (10)01"#
        ]],
    );
    check(
        "]C121SN-1\u{1d}3012345678\u{1d}400PO-77\u{1d}8020REF-1",
        expect![[r#"gs1 [GS1-128] (21)SN-1 (30)12345678 (400)PO-77 (8020)REF-1"#]],
    );
    check(
        "]C141009501101530074110950110153007412095011015300741309501101530074140950110153000",
        expect![[
            r#"rejected: GLN (414) 0950110153000 has a wrong check digit: expected 7, found 0 (misprinted or misread)"#
        ]],
    );
    check(
        "]C141009501101530074160950110153007",
        expect![[r#"gs1 [GS1-128] (410)0950110153007 (416)0950110153007"#]],
    );
    check(
        "]C131000000013111001234312200010031323001003140000000315000000731600000083305012345",
        expect![[
            r#"gs1 [GS1-128] (3100)000001=1 (3111)001234=123.4 (3122)000100=1.00 (3132)300100=3001.00 (3140)000000=0 (3150)000007=7 (3160)000008=8 (3305)012345=0.12345"#
        ]],
    );
}

#[test]
fn dates() {
    // Day 00: the last day of the month, leap years included.
    check("(17)240200", expect![[r#"gs1 (17)240200=2024-02-29"#]]);
    check("(17)250200", expect![[r#"gs1 (17)250200=2025-02-28"#]]);
    check("(15)261100", expect![[r#"gs1 (15)261100=2026-11-30"#]]);
    check(
        "(17)251301",
        expect![[r#"rejected: expiry date (17) 251301 is not a date: month 13 does not exist"#]],
    );
    check(
        "(17)250230",
        expect![[
            r#"rejected: expiry date (17) 250230 is not a date: day 30 does not exist in 2025-02, which has 28 days"#
        ]],
    );
    check(
        "(11)2501A1",
        expect![[r#"rejected: production date (11) must be digits only, found "2501A1""#]],
    );
    // Century: 51 or more years ahead of 2026 is the previous century, 50 or more behind the next.
    check("(11)760101", expect![[r#"gs1 (11)760101=2076-01-01"#]]);
    check("(11)770101", expect![[r#"gs1 (11)770101=1977-01-01"#]]);
    let in_2080 = parse("(17)290101", 2080);
    assert_eq!(render(&in_2080), "gs1 (17)290101=2129-01-01");
}

#[test]
fn gs1_mistakes_are_explained() {
    check(
        "]C1010950600013435",
        expect![[r#"rejected: GTIN (01) needs 14 digits, found 13"#]],
    );
    check(
        "]C10109506000134352\u{1d}10ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        expect![[
            r#"rejected: batch or lot (10) is 26 characters long, at most 20 are allowed (is a separator missing?)"#
        ]],
    );
    check(
        "]C110AB#1",
        expect![[r##"rejected: batch or lot (10) contains "#", which a GS1 code cannot carry"##]],
    );
    check(
        "]C110AB 1",
        expect![[r#"rejected: batch or lot (10) contains a space, which a GS1 code cannot carry"#]],
    );
    check(
        "]C110ABé",
        expect![[r#"rejected: the code contains "é", which a GS1 code cannot carry"#]],
    );
    check("]C130", expect![[r#"rejected: count (30) is empty"#]]);
    check(
        "]C13106001000",
        expect![[
            r#"rejected: the code holds application identifier (3106), which this system does not read"#
        ]],
    );
    check(
        "]C10109506000134352\u{1d}\u{1d}10A\u{1d}",
        expect![[r#"gs1 [GS1-128] (01)09506000134352 (10)A"#]],
    );
    check(
        "]C110A\u{1d}10B",
        expect![[r#"rejected: (10) appears twice with different values, A and B"#]],
    );
    check("]C110A\u{1d}10A", expect![[r#"gs1 [GS1-128] (10)A"#]]);
    check(
        "]C1AB",
        expect![[r#"rejected: expected a GS1 application identifier (2 to 4 digits) at "AB""#]],
    );
    check(
        "]C10109506000134352\u{4}",
        expect![[r#"rejected: expected a GS1 application identifier (2 to 4 digits) at "?""#]],
    );
}

#[test]
fn label_codes() {
    check(
        "]C191WO-24-0042",
        expect![[r#"label [GS1-128] work order WO-24-0042"#]],
    );
    check(
        "]Q392RESIN-PP\u{1d}93L2406-0117\u{1d}9425kg",
        expect![[r#"label [GS1 QR] material lot item=RESIN-PP lot=L2406-0117 qty=25 uom=kg"#]],
    );
    check(
        "(92)HOUSING-A(93)FL-000123(94)12.50m2(91)WO-24-0042",
        expect![[
            r#"label material lot item=HOUSING-A lot=FL-000123 qty=12.50 uom=m2 work_order=WO-24-0042"#
        ]],
    );
    check(
        "(95)RACK-A-01-02",
        expect![[r#"label location RACK-A-01-02"#]],
    );
    check("(96)10442", expect![[r#"label operator 10442"#]]);
    check("(97)L1-PRESS-3", expect![[r#"label station L1-PRESS-3"#]]);
    check(
        "(92)RESIN-PP(94)25kg",
        expect![[
            r#"rejected: a material lot label needs item (92), lot (93) and quantity (94), but this one has no lot (93)"#
        ]],
    );
    check(
        "(93)L1",
        expect![[
            r#"rejected: a material lot label needs item (92), lot (93) and quantity (94), but this one has no item (92) and no quantity (94)"#
        ]],
    );
    check(
        "(92)A(93)L(94)25",
        expect![[
            r#"rejected: quantity (94) "25" has no unit; expected a number and a unit, like 25kg or 12.5m2"#
        ]],
    );
    check(
        "(92)A(93)L(94)kg",
        expect![[
            r#"rejected: quantity (94) "kg" does not start with a number; expected a number and a unit, like 25kg or 12.5m2"#
        ]],
    );
    check(
        "(92)A(93)L(94)1.2.3kg",
        expect![[
            r#"rejected: quantity (94) "1.2.3kg" is not a number this system can hold; expected a number and a unit, like 25kg or 12.5m2"#
        ]],
    );
    check(
        "(92)A(93)L(94)1kg(96)7",
        expect![[r#"rejected: a material lot label cannot also carry a operator badge (96)"#]],
    );
    check(
        "(95)A(96)7",
        expect![[
            r#"rejected: a label names one thing, but this one names a location (95) and a operator badge (96)"#
        ]],
    );
    // Issue 11: a label whose quantity or ids no event can hold is refused when read, so
    // nothing downstream sums a quantity of 7.9e28.
    check(
        "(92)GREASE(93)G1(94)79228162514264337593543950335kg",
        expect![[
            r#"rejected: quantity (94): is 79228162514264337593543950335; at most 1000000000 are accepted in one event"#
        ]],
    );
    check(
        "(92)A(93)L(94)0kg",
        expect![[r#"rejected: quantity (94): is 0; expected a quantity above zero"#]],
    );
    check(
        "(92)A(93)L(94)0.0000001kg",
        expect![[r#"rejected: quantity (94): is 0.0000001; at most 6 decimals are kept"#]],
    );
    check(
        &format!("(91){}", "W".repeat(80)),
        expect![[r#"rejected: work order (91): is 80 bytes long; an id has at most 64"#]],
    );
    // Another company's internal AIs next to a GTIN: plain GS1 data, not our label.
    check(
        "(01)09506000134352(91)WO-1",
        expect![[r#"gs1 (01)09506000134352 (91)WO-1"#]],
    );
    // 98 is a sales order's label; 99 is not ours.
    check("(98)SO000001", expect![[r#"label sales order SO000001"#]]);
    check("(99)X", expect![[r#"gs1 (99)X"#]]);
}

fn lot(work_order: Option<&str>) -> LabelCode {
    LabelCode::MaterialLot(MaterialLotCode {
        item: "HOUSING-A".into(),
        lot: "FL-000123".into(),
        qty: Decimal::new(4805, 1),
        uom: "pcs".into(),
        work_order: work_order.map(WorkOrderId::from),
    })
}

#[test]
fn label_codes_round_trip() {
    let codes = [
        LabelCode::WorkOrder("WO-24-0042".into()),
        lot(None),
        lot(Some("WO-24-0042")),
        LabelCode::Location("RACK-A-01-02".into()),
        LabelCode::Operator("10442".into()),
        LabelCode::Station("L1-PRESS-3".into()),
        LabelCode::SalesOrder("SO000001".into()),
    ];
    for code in codes {
        let element_string = code.element_string().unwrap();
        for scanned in [
            format!("]C1{element_string}"),
            format!("]Q3{element_string}"),
            code.bracketed().unwrap(),
        ] {
            match parse(&scanned, YEAR) {
                Reading::Label { code: read, .. } => assert_eq!(read, code, "{scanned:?}"),
                other => panic!("{scanned:?} read as {other:?}"),
            }
        }
    }
    expect![[r#"(92)HOUSING-A(93)FL-000123(94)480.5pcs(91)WO-24-0042"#]]
        .assert_eq(&lot(Some("WO-24-0042")).bracketed().unwrap());
    expect![[r#""92HOUSING-A\u{1d}93FL-000123\u{1d}94480.5pcs\u{1d}91WO-24-0042""#]].assert_eq(
        &format!("{:?}", lot(Some("WO-24-0042")).element_string().unwrap()),
    );
}

#[test]
fn label_codes_refuse_what_a_barcode_cannot_carry() {
    let err = |code: LabelCode| code.element_string().unwrap_err().to_string();
    expect![[r#"work order "WO 1" cannot go on a label: it contains a space, which a GS1 barcode cannot carry"#]]
        .assert_eq(&err(LabelCode::WorkOrder("WO 1".into())));
    expect![[r#"station "" cannot go on a label: it is empty"#]]
        .assert_eq(&err(LabelCode::Station("".into())));
    expect![[r#"location "货架-1" cannot go on a label: it contains "货", which a GS1 barcode cannot carry"#]]
        .assert_eq(&err(LabelCode::Location("货架-1".into())));
    let mut negative = lot(None);
    if let LabelCode::MaterialLot(m) = &mut negative {
        m.qty = Decimal::new(-1, 0);
    }
    expect![[r#"quantity "-1 pcs" cannot go on a label: it is negative"#]]
        .assert_eq(&err(negative));
    let mut no_unit = lot(None);
    if let LabelCode::MaterialLot(m) = &mut no_unit {
        m.uom = "2m".into();
    }
    expect![[
        r#"quantity "480.5 2m" cannot go on a label: the unit of measure must start with a letter"#
    ]]
    .assert_eq(&err(no_unit));
}

#[test]
fn element_string_separators_follow_the_predefined_length_table() {
    let elements =
        parse_gs1_data("(10)A(01)09506000134352(17)201225(21)S(3103)000001", YEAR).unwrap();
    expect![[r#""10A\u{1d}01095060001343521720122521S\u{1d}3103000001""#]]
        .assert_eq(&format!("{:?}", to_element_string(&elements)));
    expect![[r#"(10)A(01)09506000134352(17)201225(21)S(3103)000001"#]]
        .assert_eq(&to_bracketed(&elements));
}

#[test]
fn reading_json() {
    let scans = [
        "]C1010950600013435217201225",
        "]Q30109506000134352\u{1d}10ABC\u{1d}3103001250",
        "9506000134352",
        "]C191WO-24-0042",
        "(92)HOUSING-A(93)FL-000123(94)480pcs(91)WO-24-0042",
        "]Q395RACK-A-01-02",
        "(96)10442",
        "(97)L1-PRESS-3",
        "HELLO",
    ];
    let readings: Vec<Reading> = scans.iter().map(|s| parse(s, YEAR)).collect();
    insta::assert_json_snapshot!(readings);
    for r in readings {
        let json = serde_json::to_string(&r).unwrap();
        let back: Reading = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r, "{json}");
    }
}

#[test]
fn reading_json_matches_the_issue() {
    let json = serde_json::to_string(&parse("]C1010950600013435217201225", 2026)).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"gs1","symbology":"gs1-128","elements":[{"ai":"01","value":"09506000134352"},{"ai":"17","value":"201225","date":"2020-12-25"}]}"#
    );
}

/// Found by fuzzing (fuzz/fuzz_targets/barcode.rs): in the bracketed form, whatever stood
/// between "(" and ")" was quoted whole in the reason, so one scan of a few hundred bytes gave a
/// reason as long, shown to the operator and journaled with the rejection.
#[test]
fn a_long_bracketed_ai_is_refused_with_a_short_reason() {
    let scan = format!("({})01", "\u{1f}%/".repeat(2000));
    let Reading::Rejected { reason } = parse(&scan, YEAR) else {
        panic!("read {scan:?}");
    };
    assert!(reason.len() < 200, "{} bytes: {reason}", reason.len());
    assert!(reason.contains("application identifier"), "{reason}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(raw in "\\PC*") {
        let _ = parse(&raw, YEAR);
    }

    #[test]
    fn parse_never_panics_on_gs1_looking_input(
        raw in "(\\][CdQeE][0-4])?[0-9()\\x1d A-Za-z.\\\\-]{0,60}",
        year in -3000i32..3000,
    ) {
        let _ = parse(&raw, year);
    }

    #[test]
    fn readable_elements_round_trip(
        lot in "[A-Za-z0-9_./-]{1,20}",
        serial in "[A-Za-z0-9]{1,20}",
        weight in 0u32..1_000_000,
        decimals in 0u8..6,
    ) {
        let data = format!("(01)09506000134352(10){lot}(310{decimals}){weight:06}(21){serial}");
        let elements = parse_gs1_data(&data, YEAR).unwrap();
        let again = parse_element_string(&to_element_string(&elements), YEAR).unwrap();
        prop_assert_eq!(&again, &elements);
        prop_assert_eq!(parse_bracketed(&to_bracketed(&elements), YEAR).unwrap(), elements);
    }
}
