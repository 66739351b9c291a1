//! `mes check-config FILE`: every mistake of a configuration file in one run, in line order.
//!
//! Three passes, each over what the one before let through:
//! 1. TOML syntax. The parser recovers after a mistake and reports each one.
//! 2. The shape: unknown keys, values of the wrong type. Serde stops at the first one, so each
//!    key-value it names is blanked out (spaces, newlines kept: every offset and line stays
//!    where it was) and the file is read again, until it reads or nothing more can be blanked.
//! 3. The values (ranges, references, durations): the configuration's own validation, on the
//!    blanked text, which names every mistake it finds.
//! 4. Of a valid file, the TLS files it names ([`check_files`]): central's `[tls]` certificate
//!    and key, an edge's `[central] ca_file`, read and checked as the service reads them when
//!    it starts (relative paths from the file's directory). A token file or variable is not
//!    read: that is the environment the service runs in, not the file.

use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// At most this many shape mistakes are collected (each costs one more parse of the file).
const MAX_SHAPE_MISTAKES: usize = 200;

/// One mistake and the 1-based line it is on, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Mistake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What the file configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Edge,
    Central,
}

impl Kind {
    /// An edge configuration names its `edge_id`; anything else is central's.
    pub fn of(text: &str) -> Kind {
        if text.lines().any(|l| l.trim_start().starts_with("edge_id")) {
            Kind::Edge
        } else {
            Kind::Central
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Edge => "edge",
            Kind::Central => "central",
        }
    }

    fn shape(self, text: &str) -> Result<(), toml::de::Error> {
        match self {
            Kind::Edge => edge_agent::EdgeConfig::check_shape(text),
            Kind::Central => toml::from_str::<central::CentralConfig>(text).map(|_| ()),
        }
    }

    /// The values, on a text whose shape is right: the mistakes, or the warnings of a valid
    /// configuration.
    fn values(self, text: &str) -> Result<Vec<String>, Vec<Mistake>> {
        match self {
            Kind::Edge => edge_agent::EdgeConfig::from_toml_str(text)
                .map(|config| config.warnings())
                .map_err(|e| {
                    e.mistakes()
                        .iter()
                        .map(|m| Mistake {
                            line: m.line,
                            message: m.message.clone(),
                        })
                        .collect()
                }),
            Kind::Central => central::CentralConfig::from_toml_str(text)
                .map(|_| Vec::new())
                .map_err(|e| {
                    // A shape mistake was found in pass 2 already; what is left is a value.
                    vec![Mistake {
                        line: None,
                        message: e.to_string(),
                    }]
                }),
        }
    }
}

/// Checks `text` as `kind`: its warnings when it is valid, else every mistake in line order
/// (mistakes without a line last).
pub fn check(text: &str, kind: Kind) -> Result<Vec<String>, Vec<Mistake>> {
    // 1. Syntax.
    let (_, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        return Err(sorted(
            syntax
                .iter()
                .map(|e| mistake(text, e.span(), e.message()))
                .collect(),
        ));
    }
    // 2. Shape.
    let mut blanked = text.to_owned();
    let mut blanked_keys: Vec<String> = Vec::new();
    let mut mistakes = Vec::new();
    let mut shape_read = false;
    while mistakes.len() < MAX_SHAPE_MISTAKES {
        let error = match kind.shape(&blanked) {
            Ok(()) => {
                shape_read = true;
                break;
            }
            Err(e) => e,
        };
        let message = error.message().trim().to_owned();
        // A field we blanked out is now missing: already reported as what it was.
        let caused_by_us = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .is_some_and(|field| blanked_keys.iter().any(|k| k == field));
        if !caused_by_us {
            mistakes.push(mistake(text, error.span(), &message));
        }
        let Some(pos) = error.span().map(|s| s.start) else {
            break;
        };
        let unknown_field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        let Some(found) = entry_at(&blanked, pos, unknown_field) else {
            break;
        };
        if caused_by_us {
            break;
        }
        let Found {
            key,
            mut range,
            elements,
        } = found;
        // Where serde pointed at a whole table, the line is the unknown field's own.
        let mut moved = unknown_field == Some(key.as_str());
        // Where it pointed at an `[[array]]`'s first element, the element with the mistake is
        // the one that keeps it when every other element is blanked out.
        if let Some(elements) = elements {
            let culprit = elements.iter().find(|candidate| {
                let mut alone = blanked.clone();
                for other in elements.iter().filter(|other| other != candidate) {
                    let _ = blank(&mut alone, other.clone());
                }
                matches!(kind.shape(&alone), Err(e) if e.message().trim() == message)
            });
            if let Some(culprit) = culprit {
                range = culprit.clone();
                moved = true;
            }
        }
        if moved && let Some(last) = mistakes.last_mut() {
            last.line = Some(line_of(text, range.start));
        }
        if blank(&mut blanked, range).is_err() {
            break;
        }
        blanked_keys.push(key);
    }
    // 3. Values, once the rest of the file reads.
    if shape_read {
        match kind.values(&blanked) {
            Ok(warnings) if mistakes.is_empty() => return Ok(warnings),
            Ok(_) => {}
            Err(more) => mistakes.extend(more),
        }
    }
    Err(sorted(mistakes))
}

/// Pass 4: the TLS files a valid configuration at `path` names, each problem with the line of
/// its setting and the file named.
pub fn check_files(path: &Path, text: &str, kind: Kind) -> Vec<Mistake> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut found = Vec::new();
    match kind {
        Kind::Central => {
            let Ok(config) = central::CentralConfig::from_toml_str(text) else {
                return found;
            };
            if let Some(tls) = &config.tls
                && let Err(e) = central::tls::server_config(&tls.relative_to(dir))
            {
                let key = match &e {
                    central::ConfigError::Invalid {
                        field: "tls.cert", ..
                    } => "cert",
                    _ => "key",
                };
                found.push(Mistake {
                    line: line_of_key(text, &["tls", key]),
                    message: e.to_string(),
                });
            }
        }
        Kind::Edge => {
            let Ok(config) = edge_agent::EdgeConfig::load(path) else {
                return found;
            };
            if let Some(ca_file) = &config.central.ca_file
                && let Err(message) = edge_agent::sync::client::trusted_roots(ca_file)
            {
                found.push(Mistake {
                    line: line_of_key(text, &["central", "ca_file"]),
                    message,
                });
            }
        }
    }
    found
}

/// The line of the key at `path` (`["tls", "cert"]`), if the document has it.
fn line_of_key(text: &str, path: &[&str]) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let (last, tables) = path.split_last()?;
    for name in tables {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *name)?;
        let DeValue::Table(inner) = value.get_ref() else {
            return None;
        };
        table = inner;
    }
    let (key, _) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *last)?;
    Some(line_of(text, key.span().start))
}

fn mistake(text: &str, span: Option<Range<usize>>, message: &str) -> Mistake {
    Mistake {
        line: span.map(|s| line_of(text, s.start)),
        message: message.trim().to_owned(),
    }
}

fn sorted(mut mistakes: Vec<Mistake>) -> Vec<Mistake> {
    mistakes.sort_by_key(|m| m.line.unwrap_or(usize::MAX));
    mistakes.dedup();
    mistakes
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Replaces `range` of `text` by spaces, keeping its newlines. Errs when there is nothing
/// left to blank there (the same mistake would come back).
fn blank(text: &mut String, range: Range<usize>) -> Result<(), ()> {
    let Some(part) = text.get(range.clone()) else {
        return Err(());
    };
    if part.chars().all(char::is_whitespace) {
        return Err(());
    }
    let spaces: String = part
        .chars()
        .flat_map(|c| {
            let n = if c == '\n' { 0 } else { c.len_utf8() };
            std::iter::repeat_n(' ', n).chain((c == '\n').then_some('\n'))
        })
        .collect();
    text.replace_range(range, &spaces);
    Ok(())
}

/// The innermost key-value (or `[[array]]` element) of the document around byte `pos`: its
/// key and the bytes from the key to the end of its value (a `[table]`'s value runs to the end
/// of its last entry). Where serde names an unknown field but points at the whole table (as
/// inside a `[[sources]]` element, read through its `type` tag), the field's own entry in that
/// table is taken.
fn entry_at(text: &str, pos: usize, unknown_field: Option<&str>) -> Option<Found> {
    let document = DeTable::parse(text).ok()?;
    find_in_table(text, document.get_ref(), pos, unknown_field)
}

/// A key-value (or `[[array]]` element) found around a mistake.
struct Found {
    key: String,
    range: Range<usize>,
    /// When it is a whole `[[array]]` element: every element of that array. Serde points a
    /// mistake inside any element of an array read through a tagged enum at the first one.
    elements: Option<Vec<Range<usize>>>,
}

fn find_in_table(
    text: &str,
    table: &DeTable<'_>,
    pos: usize,
    unknown_field: Option<&str>,
) -> Option<Found> {
    for (key, value) in table.iter() {
        let start = key.span().start.min(value.span().start);
        let end = extent(value);
        if !(start <= pos && pos < end.max(key.span().end)) {
            continue;
        }
        let name = key.get_ref().to_string();
        return Some(
            find_in_value(text, &name, value, pos, unknown_field).unwrap_or(Found {
                key: name,
                range: start..end,
                elements: None,
            }),
        );
    }
    None
}

fn find_in_value(
    text: &str,
    name: &str,
    value: &toml::Spanned<DeValue<'_>>,
    pos: usize,
    unknown_field: Option<&str>,
) -> Option<Found> {
    match value.get_ref() {
        DeValue::Table(table) => find_in_table(text, table, pos, unknown_field).or_else(|| {
            // The error points at the table itself: its unknown field, if serde named one.
            let field = unknown_field?;
            table
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == field)
                .map(|(key, v)| Found {
                    key: field.to_owned(),
                    range: key.span().start..extent(v),
                    elements: None,
                })
        }),
        // A `[[name]]` element can go on its own; an element of an inline array cannot (what
        // is left would not parse), so there the whole key-value goes.
        DeValue::Array(items) => {
            let ranges: Vec<Range<usize>> = items
                .iter()
                .map(|item| item.span().start..extent(item))
                .collect();
            items.iter().zip(&ranges).find_map(|(item, range)| {
                let header = text.get(range.clone()).is_some_and(|t| t.starts_with("[["));
                (header && range.contains(&pos)).then(|| {
                    find_in_value(text, name, item, pos, unknown_field).unwrap_or(Found {
                        key: name.to_owned(),
                        range: range.clone(),
                        elements: Some(ranges.clone()),
                    })
                })
            })
        }
        _ => None,
    }
}

/// Where a value ends: its own span, or its last entry's for a table or an array of tables.
fn extent(value: &toml::Spanned<DeValue<'_>>) -> usize {
    let own = value.span().end;
    match value.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .map(|(key, v)| key.span().end.max(extent(v)))
            .fold(own, usize::max),
        DeValue::Array(items) => items.iter().map(extent).fold(own, usize::max),
        _ => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGE_HEAD: &str = "edge_id = \"line-1\"\n[central]\nurl = \"http://x\"\ntoken = \"t\"\n";

    fn lines(result: Result<Vec<String>, Vec<Mistake>>) -> Vec<(Option<usize>, String)> {
        result
            .expect_err("mistakes")
            .into_iter()
            .map(|m| (m.line, m.message))
            .collect()
    }

    /// Issue 12: check-config stopped at the first mistake serde met. Every unknown key and
    /// wrong type of the file comes back in one run, in line order, and the values' mistakes
    /// after them.
    #[test]
    fn issue_12_every_mistake_of_an_edge_file_in_line_order() {
        let text = format!(
            "{EDGE_HEAD}batch_max_evnts = 10\n\
             request_timeout = 30\n\
             [journal]\n\
             path = \"j.db\"\n\
             quota = 5\n\
             [http]\n\
             listen = \"not an address\"\n\
             [[sources]]\n\
             type = \"simulated\"\n\
             colour = \"red\"\n\
             [[sources]]\n\
             type = \"simulated\"\n\
             machines = \"three\"\n"
        );
        let found = lines(check(&text, Kind::Edge));
        let at: Vec<Option<usize>> = found.iter().map(|(line, _)| *line).collect();
        // The second [[sources]] element's mistake is on its own header's line (serde points
        // at the array's first element).
        assert_eq!(
            at,
            [Some(5), Some(6), Some(9), Some(11), Some(14), Some(15)],
            "{found:#?}"
        );
        assert!(found[0].1.contains("batch_max_evnts"), "{found:#?}");
        assert!(found[4].1.contains("colour"), "{found:#?}");
        assert!(found[5].1.contains("three"), "{found:#?}");
    }

    #[test]
    fn every_syntax_mistake_is_reported() {
        let text = format!("{EDGE_HEAD}a = \nb = [1,\n[journal\n");
        let found = lines(check(&text, Kind::Edge));
        assert!(found.len() >= 2, "{found:#?}");
        assert!(found.windows(2).all(|w| w[0].0 <= w[1].0), "{found:#?}");
    }

    #[test]
    fn a_valid_file_has_no_mistakes_and_central_files_too() {
        assert_eq!(check(EDGE_HEAD, Kind::Edge), Ok(Vec::new()));
        let found = lines(check(
            "listen = \"127.0.0.1:8080\"\nmax_bodyy_bytes = 1\nmax_plan_wait = true\n",
            Kind::Central,
        ));
        let at: Vec<Option<usize>> = found.iter().map(|(line, _)| *line).collect();
        assert_eq!(at[..2], [Some(2), Some(3)], "{found:#?}");
    }

    #[test]
    fn blanking_keeps_lines_and_offsets() {
        let mut text = "a = 1\nb = [1,\n 2]\nc = 3\n".to_owned();
        let found = entry_at(&text, 7, None).unwrap();
        assert_eq!(found.key, "b");
        blank(&mut text, found.range).unwrap();
        assert_eq!(text, "a = 1\n       \n   \nc = 3\n");
    }

    /// Issue 13: the TLS files a configuration names are read by `mes check-config` as the
    /// service would read them at start, relative to the file, each problem on its line and
    /// naming the file.
    #[test]
    fn issue_13_tls_files_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not-a-cert.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();

        let central =
            "listen = \"127.0.0.1:8443\"\n[tls]\ncert = \"missing.pem\"\nkey = \"k.pem\"\n";
        assert_eq!(
            check(central, Kind::Central),
            Ok(Vec::new()),
            "the text is fine"
        );
        let path = dir.path().join("central.toml");
        let found = check_files(&path, central, Kind::Central);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(3), "{found:?}");
        let missing = dir.path().join("missing.pem");
        assert!(
            found[0].message.starts_with("tls.cert")
                && found[0].message.contains(&missing.display().to_string())
                && found[0].message.contains("cannot read"),
            "{found:?}"
        );
        let central = "[tls]\ncert = \"not-a-cert.pem\"\nkey = \"k.pem\"\n";
        let found = check_files(&path, central, Kind::Central);
        assert!(
            found[0].message.contains("no certificate") && found[0].line == Some(2),
            "{found:?}"
        );

        let edge = "edge_id = \"l\"\n[central]\nurl = \"https://c\"\ntoken = \"t\"\nca_file = \"not-a-cert.pem\"\n";
        let path = dir.path().join("edge.toml");
        std::fs::write(&path, edge).unwrap();
        assert_eq!(check(edge, Kind::Edge), Ok(Vec::new()), "the text is fine");
        let found = check_files(&path, edge, Kind::Edge);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(5), "{found:?}");
        assert!(
            found[0].message.starts_with("central.ca_file")
                && found[0].message.contains(&not_pem.display().to_string())
                && found[0].message.contains("no certificate"),
            "{found:?}"
        );
        // Without TLS there is nothing to read.
        let plain = dir.path().join("plain.toml");
        assert!(check_files(&plain, "listen = \"127.0.0.1:1\"\n", Kind::Central).is_empty());
    }
}
