//! Master data beyond items and BOM lines, as plain types and pure rules: item tracking and
//! shelf life, BOM revisions (letters, status, effectivity), warehouses and locations,
//! suppliers. The store keeps them ([`crate::store::ErpStore`]); the API validates requests
//! with the checks here.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Longest shelf life accepted, in days (100 years).
pub const MAX_SHELF_LIFE_DAYS: u32 = 36_500;

/// How stock of an item is identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    /// Stock is a quantity; lots are optional.
    #[default]
    None,
    /// Every stock row names its lot.
    Lot,
    /// Every stock row is one unit with its serial number in `lot`.
    Serial,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::None => "none",
            Tracking::Lot => "lot",
            Tracking::Serial => "serial",
        }
    }

    pub fn parse(s: &str) -> Option<Tracking> {
        match s {
            "none" => Some(Tracking::None),
            "lot" => Some(Tracking::Lot),
            "serial" => Some(Tracking::Serial),
            _ => None,
        }
    }
}

/// `true|false|yes|no|1|0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A BOM revision's status: a draft may be edited; a released revision never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionStatus {
    Draft,
    Released,
}

impl RevisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionStatus::Draft => "draft",
            RevisionStatus::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<RevisionStatus> {
        match s {
            "draft" => Some(RevisionStatus::Draft),
            "released" => Some(RevisionStatus::Released),
            _ => None,
        }
    }
}

/// The letters of the `seq`-th revision (from 1): A … Z, AA … AZ, BA …, like spreadsheet
/// columns.
pub fn revision_letters(seq: u32) -> String {
    let mut n = seq.max(1);
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// A BOM line as a client gives it: `qty_per` in `uom` (the component's base unit if absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionLineInput {
    pub component: String,
    pub qty_per: Decimal,
    #[serde(default)]
    pub scrap_pct: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
}

/// A stored BOM line: `qty_per` in the component's base unit, and what was entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionLine {
    pub component: String,
    /// In the component's base unit.
    pub qty_per: Decimal,
    pub scrap_pct: Decimal,
    /// The unit the line was entered in, when not the base unit, and its quantity there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_uom: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_qty_per: Option<Decimal>,
}

/// One revision of a parent's BOM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BomRevision {
    pub parent: String,
    pub revision: String,
    pub status: RevisionStatus,
    pub effective_from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<NaiveDate>,
    pub lines: Vec<RevisionLine>,
}

/// What an edit of a draft (or a new draft) says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionInput {
    pub effective_from: NaiveDate,
    #[serde(default)]
    pub effective_to: Option<NaiveDate>,
    pub lines: Vec<RevisionLineInput>,
}

/// Of a parent's released revisions, the one in effect on `date`: the latest
/// `effective_from` on or before it (a later revision wins a tie), unless its `effective_to`
/// has passed. Same rule as the MRP engine's ([`super::mrp`], point 8).
pub fn effective_revision(revisions: &[BomRevision], date: NaiveDate) -> Option<&BomRevision> {
    revisions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RevisionStatus::Released && r.effective_from <= date)
        .max_by_key(|&(k, r)| (r.effective_from, k))
        .map(|(_, r)| r)
        .filter(|r| r.effective_to.is_none_or(|to| date <= to))
}

/// An item's attributes beyond what MRP reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ItemDetails {
    pub tracking: Tracking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelf_life_days: Option<u32>,
    pub phantom: bool,
    /// The item's GS1 trade item number, as 14 digits ([`normalize_gtin`]); unique across
    /// items. Plans carry it so the edge can read a supplier's GS1 label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    /// Made obsolete: no new quotation or order line may use it, and every open one that
    /// does is flagged for its owner (issue 16). Absent: the item is sold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obsolete: Option<Obsolete>,
}

/// An item made obsolete: since when (set by central when it is first marked), and what
/// sales should offer instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obsolete {
    pub since: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

impl Obsolete {
    /// As a refusal or flag says it: "obsolete since 2026-12-01, replaced by BRACKET-2".
    pub fn describe(&self) -> String {
        match &self.replaced_by {
            Some(by) => format!("obsolete since {}, replaced by {by}", self.since),
            None => format!("obsolete since {}", self.since),
        }
    }
}

/// A GTIN-8, -12 (UPC-A), -13 (EAN) or -14 as the 14 digits GS1 element string (01) carries
/// (zero-padded on the left), after checking its check digit. The error says what is wrong,
/// for the caller to put after the field's name.
pub fn normalize_gtin(raw: &str) -> Result<String, String> {
    let digits = raw.trim();
    if !matches!(digits.len(), 8 | 12 | 13 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{raw:?} is not a GTIN; expected 8, 12, 13 or 14 digits"
        ));
    }
    let padded = format!("{digits:0>14}");
    let bytes = padded.as_bytes();
    // GS1 check digit: weights 3, 1, 3, … from the rightmost data digit.
    let sum: u32 = bytes[..13]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    let expected = (10 - sum % 10) % 10;
    let given = u32::from(bytes[13] - b'0');
    if given != expected {
        return Err(format!(
            "{raw:?} has check digit {given}; expected {expected} (the GS1 check digit of the other digits)"
        ));
    }
    Ok(padded)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    pub warehouse: String,
    pub description: String,
    /// The plant it belongs to (its stock is that plant's).
    #[serde(default = "default_plant")]
    pub plant: String,
    #[serde(default)]
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub location: String,
    pub warehouse: String,
    pub description: String,
}

/// A supplier's terms for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplierTerms {
    pub supplier: String,
    pub item: String,
    pub lead_time_days: u32,
    /// Per base unit of the item.
    pub price: Decimal,
    pub preferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supplier {
    pub supplier: String,
    pub name: String,
    #[serde(default)]
    pub items: Vec<SupplierTerms>,
}

fn default_plant() -> String {
    crate::people::plants::DEFAULT_PLANT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtins_are_checked_and_padded_to_14_digits() {
        for (raw, padded) in [
            ("96385074", "00000096385074"),
            ("036000291452", "00036000291452"),
            ("4006381333931", "04006381333931"),
            ("10012345678902", "10012345678902"),
        ] {
            assert_eq!(normalize_gtin(raw).as_deref(), Ok(padded), "{raw}");
        }
        let bad = normalize_gtin("4006381333932").unwrap_err();
        assert!(bad.contains("check digit 2; expected 1"), "{bad}");
        for raw in [
            "",
            "1234567",
            "400638133393X",
            "123456789012345",
            "1234567890",
        ] {
            assert!(normalize_gtin(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn revision_letters_run_like_spreadsheet_columns() {
        let got: Vec<String> = [1, 2, 26, 27, 28, 52, 53, 702, 703]
            .into_iter()
            .map(revision_letters)
            .collect();
        assert_eq!(got, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }

    #[test]
    fn the_latest_started_released_revision_is_in_effect() {
        let d = |s: &str| -> NaiveDate { s.parse().unwrap() };
        let rev = |r: &str, status, from: &str, to: Option<&str>| BomRevision {
            parent: "P".into(),
            revision: r.into(),
            status,
            effective_from: d(from),
            effective_to: to.map(d),
            lines: Vec::new(),
        };
        let revs = [
            rev("A", RevisionStatus::Released, "2025-01-01", None),
            rev(
                "B",
                RevisionStatus::Released,
                "2025-02-01",
                Some("2025-02-28"),
            ),
            rev("C", RevisionStatus::Draft, "2025-01-15", None),
        ];
        let at = |s: &str| effective_revision(&revs, d(s)).map(|r| r.revision.as_str());
        assert_eq!(at("2024-12-31"), None);
        assert_eq!(at("2025-01-20"), Some("A"), "drafts are never in effect");
        assert_eq!(at("2025-02-01"), Some("B"));
        assert_eq!(at("2025-02-28"), Some("B"));
        assert_eq!(at("2025-03-01"), None, "B ended and nothing followed");
    }
}
