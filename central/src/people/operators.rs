//! The operator registry without I/O: what a valid entry is, PINs and their hashes, and the
//! CSV import (`badge,name,skills,pin`, optional `active`). The store keeps the registry and
//! puts its active operators into every plan it publishes, so sign-in at a line works offline
//! and only against central's list.
//!
//! A PIN is 4 to 12 digits. Central keeps only its argon2id hash (a PHC string, parameters
//! [`PIN_MEMORY_KIB`], [`PIN_PASSES`], [`PIN_LANES`]: light enough for a small gateway, since
//! a PIN's safety lies in the edge's lock after five wrong tries), and the hash goes nowhere
//! but into plans; the edge verifies with `argon2::Argon2::default().verify_password`, which
//! reads the parameters from the PHC string.
//!
//! **Architecture Invariant:** a PIN never appears in an answer, a log line or an error
//! message: [`Pin`] and [`PinHash`] print as `<redacted>`, and a refused PIN is described,
//! never quoted.

use crate::erp::import::{Line, MAX_REPORTED_ERRORS, RowError, read_rows};
use chrono::{DateTime, Utc};
use protocol::bounds::{self, MAX_PLAN_ENTRIES, MAX_PLAN_LIST, Violation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

pub const MIN_PIN_DIGITS: usize = 4;
pub const MAX_PIN_DIGITS: usize = 12;
/// argon2id memory cost of a PIN hash, in KiB.
pub const PIN_MEMORY_KIB: u32 = 8 * 1024;
/// argon2id passes.
pub const PIN_PASSES: u32 = 2;
/// argon2id lanes.
pub const PIN_LANES: u32 = 1;
/// Most active operators: every plan carries them all, and a plan holds at most this many.
pub const MAX_ACTIVE_OPERATORS: usize = MAX_PLAN_ENTRIES;

/// A PIN as typed. It is only ever hashed; it prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// What is wrong with a PIN, without repeating it.
pub fn pin_problem() -> String {
    format!(
        "is not a valid pin; expected {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits (the value is not repeated here)"
    )
}

impl Pin {
    /// 4 to 12 ASCII digits; `Err` says so without quoting the value.
    pub fn parse(value: &str) -> Result<Pin, String> {
        let ok = (MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Pin(value.to_owned()))
        } else {
            Err(pin_problem())
        }
    }

    /// A PIN from a JSON request: a string of digits (a number would lose leading zeros).
    pub fn from_json(value: &serde_json::Value) -> Result<Pin, String> {
        match value.as_str() {
            Some(s) => Pin::parse(s),
            None => Err(pin_problem()),
        }
    }

    /// The argon2id PHC string of this PIN, with a fresh salt. Takes a few milliseconds of
    /// CPU and 8 MiB: call it off the async runtime.
    pub fn hash(&self) -> Result<PinHash, String> {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = argon2::Params::new(PIN_MEMORY_KIB, PIN_PASSES, PIN_LANES, None)
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        // 16 random bytes from the OS-seeded generator central uses for tokens.
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| format!("cannot encode a salt: {e}"))?;
        argon
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| PinHash(h.to_string()))
            .map_err(|e| format!("cannot hash the pin: {e}"))
    }
}

/// An argon2id PHC string of a PIN. It goes only into plans; it prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash(pub String);

impl fmt::Debug for PinHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinHash(<redacted>)")
    }
}

/// Whether `pin` is the PIN of the PHC string `phc`, as the edge checks it.
pub fn verify_pin(phc: &str, pin: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(hash) => argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// An operator as the API shows them: never the PIN, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub badge: String,
    pub name: String,
    pub skills: Vec<String>,
    /// Inactive operators stay in the registry but leave the plans: their badge is refused.
    pub active: bool,
    /// Signing in takes the badge and the PIN.
    pub has_pin: bool,
    pub updated_at: DateTime<Utc>,
    /// The user whose `badge` this is: the person central knows by login, so a scan or a
    /// production report signed with this badge names them (answers only; not stored here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// What happens to an operator's PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinUpdate {
    Keep,
    Set(PinHash),
    Clear,
}

/// A change of one operator, as `PUT /api/v1/operators/{badge}` or a CSV row makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUpdate {
    pub badge: String,
    pub name: String,
    pub skills: Vec<String>,
    pub pin: PinUpdate,
    /// `None`: as it was (a new operator is active).
    pub active: Option<bool>,
}

/// Checks an operator's badge, name and skills against [`protocol::bounds`]; every violation,
/// each naming its field.
pub fn check_fields(badge: &str, name: &str, skills: &[String]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |r: Result<(), Violation>| {
        if let Err(v) = r {
            out.push(v);
        }
    };
    push(bounds::check_id("badge", badge));
    if name.trim().is_empty() {
        push(Err(Violation {
            field: "name".into(),
            problem: "is empty; expected the operator's name".into(),
        }));
    }
    push(bounds::check_text("name", name));
    if skills.len() > MAX_PLAN_LIST {
        push(Err(Violation {
            field: "skills".into(),
            problem: format!(
                "has {} entries; at most {MAX_PLAN_LIST} are accepted",
                skills.len()
            ),
        }));
    }
    for skill in skills {
        push(bounds::check_id("skills[]", skill));
    }
    out
}

/// Skills in the order given, each once.
pub fn dedup_skills(skills: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    skills
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// One row of an operators file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub badge: String,
    pub name: String,
    pub skills: Vec<String>,
    /// `None`: the cell or the column is empty, and the operator keeps their PIN.
    pub pin: Option<Pin>,
    pub active: bool,
}

const REQUIRED: [&str; 3] = ["badge", "name", "skills"];
const OPTIONAL: [&str; 2] = ["pin", "active"];

/// Parses an operators file: `badge,name,skills` and optional `pin`, `active` (any order).
/// Skills are separated by `;` (an empty cell: none). An empty or absent `pin` keeps the
/// operator's PIN (a new operator has none); `active` is `true` or `false`, empty or absent
/// meaning `true`. `Err` holds every bad row (at most [`MAX_REPORTED_ERRORS`]) and the total.
pub fn parse_csv(text: &[u8]) -> Result<Vec<Line<OperatorRow>>, (Vec<RowError>, usize)> {
    let mut rows = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut errors = read_rows(
        text,
        &REQUIRED,
        &OPTIONAL,
        "badge,name,skills,pin",
        |line, record, index, errors| {
            let cell = |column: &str| index.get(column).and_then(|&i| record.get(i)).unwrap_or("");
            let n_errors = errors.len();
            let badge = cell("badge").to_owned();
            let name = cell("name").to_owned();
            let skills: Vec<String> = cell("skills")
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let skills = dedup_skills(skills);
            for v in check_fields(&badge, &name, &skills) {
                let column = match v.field.as_str() {
                    "skills[]" => "skills",
                    other => other,
                };
                errors.push(RowError::new(
                    line,
                    column,
                    format!("{column} {}", v.problem),
                ));
            }
            let pin = match cell("pin") {
                "" => None,
                raw => match Pin::parse(raw) {
                    Ok(pin) => Some(pin),
                    Err(problem) => {
                        errors.push(RowError::new(line, "pin", format!("pin {problem}")));
                        None
                    }
                },
            };
            let active = match cell("active") {
                "" => Some(true),
                raw => crate::erp::master_data::parse_bool(raw).or_else(|| {
                    errors.push(RowError::new(
                        line,
                        "active",
                        format!(
                            "active {:?} is not valid; expected true or false (or empty for true)",
                            bounds::sanitize(raw, 64, false)
                        ),
                    ));
                    None
                }),
            };
            let (Some(active), true) = (active, errors.len() == n_errors) else {
                return;
            };
            if let Some(first) = first_line.insert(badge.clone(), line) {
                errors.push(RowError::new(
                    line,
                    "badge",
                    format!(
                        "badge {badge:?} repeats line {first}; expected each badge once per file"
                    ),
                ));
                return;
            }
            rows.push(Line {
                line,
                row: OperatorRow {
                    badge,
                    name,
                    skills,
                    pin,
                    active,
                },
            });
        },
    );
    if errors.is_empty() {
        Ok(rows)
    } else {
        let total = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
}

/// The updates of a parsed file, PINs hashed on up to `threads` threads (a thousand PINs
/// take seconds on one).
pub fn hash_rows(
    rows: Vec<Line<OperatorRow>>,
    threads: usize,
) -> Result<Vec<OperatorUpdate>, String> {
    let update = |r: &Line<OperatorRow>| -> Result<OperatorUpdate, String> {
        let row = &r.row;
        Ok(OperatorUpdate {
            badge: row.badge.clone(),
            name: row.name.clone(),
            skills: row.skills.clone(),
            pin: match &row.pin {
                Some(pin) => PinUpdate::Set(pin.hash()?),
                None => PinUpdate::Keep,
            },
            active: Some(row.active),
        })
    };
    let threads = threads.max(1);
    let n_pins = rows.iter().filter(|r| r.row.pin.is_some()).count();
    if threads == 1 || n_pins < 2 {
        return rows.iter().map(update).collect();
    }
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(update).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for worker in workers {
            out.extend(
                worker
                    .join()
                    .map_err(|_| "a pin hashing thread panicked".to_owned())??,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_4_to_12_digits_and_never_quoted() {
        for ok in ["0000", "1234", "012345678901"] {
            assert!(Pin::parse(ok).is_ok(), "{ok}");
        }
        assert!(Pin::parse("").is_err());
        for bad in [
            "123",
            "1234567890123",
            "12a4",
            " 1234",
            "１２３４",
            "12\u{0}4",
        ] {
            let problem = Pin::parse(bad).unwrap_err();
            assert!(!problem.contains(bad), "{problem}");
        }
        assert!(Pin::from_json(&serde_json::json!(1234)).is_err());
        assert_eq!(
            format!("{:?}", Pin::parse("9876").unwrap()),
            "Pin(<redacted>)"
        );
    }

    #[test]
    fn a_pin_hash_is_argon2id_with_the_pin_parameters_and_verifies_only_the_pin() {
        let hash = Pin::parse("4711").unwrap().hash().unwrap();
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=8192,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert!(verify_pin(&hash.0, "4711"));
        assert!(!verify_pin(&hash.0, "4712"));
        assert!(!verify_pin("not a phc string", "4711"));
        assert_eq!(format!("{hash:?}"), "PinHash(<redacted>)");
        // A fresh salt every time.
        assert_ne!(Pin::parse("4711").unwrap().hash().unwrap(), hash);
    }

    fn errors(text: &str) -> Vec<String> {
        parse_csv(text.as_bytes())
            .expect_err("refused")
            .0
            .iter()
            .map(|e| format!("{}:{}", e.line, e.column))
            .collect()
    }

    #[test]
    fn rows_parse_in_any_order_with_skills_split_and_pins_optional() {
        let rows = parse_csv(
            "skills,name,badge,pin\n\
             press; supervisor;press,Li Wei,10442,4711\n\
             ,Wang Fang,10443,\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row.skills, ["press", "supervisor"]);
        assert!(rows[0].row.pin.is_some());
        assert!(rows[0].row.active);
        assert_eq!(rows[1].line, 3);
        assert!(rows[1].row.skills.is_empty());
        assert_eq!(rows[1].row.pin, None);
        let rows = parse_csv(b"badge,name,skills,active\n1,A,,false\n").unwrap();
        assert!(!rows[0].row.active);
    }

    #[test]
    fn every_bad_cell_is_named_and_no_pin_is_repeated() {
        let text = "badge,name,skills,pin\n\
                    10442,Li Wei,press,4711\n\
                    ,Nobody,,\n\
                    10444,,press,12\n\
                    10445,Zhao\u{202E}Lei,pr ess;,98765x\n\
                    10442,Again,,\n\
                    10446,Sun,press\n";
        assert_eq!(
            errors(text),
            [
                "3:badge", "4:name", "4:pin", "5:name", "5:pin", "6:badge", "7:"
            ]
        );
        let (rows, _) = parse_csv(text.as_bytes()).unwrap_err();
        for e in &rows {
            assert!(
                !e.message.contains("98765x") && !e.message.contains(",12"),
                "{}",
                e.message
            );
        }
        assert_eq!(errors("badge,name\n"), ["1:skills"]);
        assert_eq!(errors("badge,name,skills,colour\n"), ["1:colour"]);
    }

    #[test]
    fn rows_hash_on_several_threads_in_order() {
        let rows = parse_csv(b"badge,name,skills,pin\n1,A,,1111\n2,B,,\n3,C,,3333\n").unwrap();
        let updates = hash_rows(rows, 2).unwrap();
        assert_eq!(updates.len(), 3);
        let PinUpdate::Set(h1) = &updates[0].pin else {
            panic!()
        };
        assert!(verify_pin(&h1.0, "1111"));
        assert_eq!(updates[1].pin, PinUpdate::Keep);
        let PinUpdate::Set(h3) = &updates[2].pin else {
            panic!()
        };
        assert!(verify_pin(&h3.0, "3333"));
        assert_eq!(updates[2].badge, "3");
    }
}
