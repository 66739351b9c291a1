//! Business cards as vCard files: read (2.1, 3.0 and 4.0; RFC 2426, RFC 6350) and written
//! (4.0).
//!
//! What a card-scanning app or a phone exports is read: lines folded with a space or a tab,
//! `\n`, `\,`, `\;` and `\\` escaped (3.0 and 4.0), 2.1's bare parameters (`TEL;WORK;CELL:`)
//! and quoted-printable values with soft line breaks, and the charsets Chinese phones write
//! (`CHARSET=GBK`, `GB2312`, `GB18030`, `BIG5`, decoded with `encoding_rs`). Kept: the name
//! (`FN`, `N`), company and department (`ORG`), title and role, phones (`TEL`, also as a 4.0
//! `tel:` URI), e-mail addresses, addresses (`ADR`), web sites (`URL`), social handles (`IMPP`,
//! `X-SOCIALPROFILE`, `X-WECHAT`, `X-QQ`, ...), the note and the categories (tags). Photos,
//! logos, sounds and keys are skipped, however long.
//!
//! Bounded: at most [`MAX_CARDS`] cards, [`MAX_VALUES`] phones, addresses, e-mails, sites or
//! handles per card, every kept value a `protocol::bounds` text (the note up to
//! [`MAX_NOTE_LEN`]), at most [`MAX_PROPERTIES`] properties per card. A file is read whole
//! or refused: every mistake is reported with its card, its line and its property, so an
//! import is all or nothing. Pure: no I/O.

use std::fmt;

/// Cards in one file.
pub const MAX_CARDS: usize = 10_000;
/// Phones, e-mail addresses, addresses, sites or social handles on one card.
pub const MAX_VALUES: usize = 16;
/// Properties on one card, skipped ones included.
pub const MAX_PROPERTIES: usize = 500;
/// Bytes of a card's note.
pub const MAX_NOTE_LEN: usize = 8 * 1024;
/// Mistakes reported for one file; the rest are counted.
pub const MAX_ERRORS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V21,
    V30,
    V40,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V21 => "2.1",
            Version::V30 => "3.0",
            Version::V40 => "4.0",
        }
    }
}

/// What a phone number is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhoneKind {
    Mobile,
    Work,
    Home,
    Fax,
    Other,
}

impl PhoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "mobile",
            PhoneKind::Work => "work",
            PhoneKind::Home => "home",
            PhoneKind::Fax => "fax",
            PhoneKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<PhoneKind> {
        Some(match s {
            "mobile" => PhoneKind::Mobile,
            "work" => PhoneKind::Work,
            "home" => PhoneKind::Home,
            "fax" => PhoneKind::Fax,
            "other" => PhoneKind::Other,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub kind: PhoneKind,
    pub number: String,
}

/// A postal address as a card writes it (`ADR`: post office box and extended address are
/// joined to the street).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardAddress {
    pub kind: String,
    pub street: String,
    pub city: String,
    pub region: String,
    pub postcode: String,
    pub country: String,
}

/// A handle on a social network or messenger: `wechat`, `qq`, `whatsapp`, `skype`,
/// `linkedin`, `telegram`, `line`, `x`, or the network's name as the card gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Social {
    pub network: String,
    pub handle: String,
}

/// One business card, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The line of its `BEGIN:VCARD` (1-based).
    pub line: usize,
    pub version: Version,
    /// The name to show: `FN`, else `N`'s given and family names.
    pub name: String,
    pub family_name: String,
    pub given_name: String,
    pub organization: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub phones: Vec<Phone>,
    pub emails: Vec<String>,
    pub addresses: Vec<CardAddress>,
    pub urls: Vec<String>,
    pub social: Vec<Social>,
    pub note: Option<String>,
    pub categories: Vec<String>,
    pub uid: Option<String>,
}

/// A mistake in a file: which card (1-based; 0 outside any), which line, which property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardError {
    pub card: usize,
    pub line: usize,
    pub property: String,
    pub problem: String,
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.card == 0 {
            write!(f, "line {}: {}: {}", self.line, self.property, self.problem)
        } else {
            write!(
                f,
                "card {} (line {}): {}: {}",
                self.card, self.line, self.property, self.problem
            )
        }
    }
}

/// Every mistake of a file (at most [`MAX_ERRORS`], with how many more there were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardErrors {
    pub errors: Vec<CardError>,
    pub more: usize,
}

/// One logical line: folds joined, with the physical line it began on.
struct Logical {
    line: usize,
    text: String,
}

fn is_qp(params: &str) -> bool {
    params.to_ascii_uppercase().contains("QUOTED-PRINTABLE")
}

/// The head (`NAME;PARAMS`) and value of a line, split at the first colon outside quotes.
fn split_head(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Physical lines to logical ones: a line starting with a space or tab continues the one
/// before (its first character dropped); a quoted-printable value ending in `=` continues on
/// the next line (2.1's soft line break).
fn unfold(text: &str) -> Vec<Logical> {
    let mut out: Vec<Logical> = Vec::new();
    let mut soft_break = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let number = i + 1;
        if soft_break && let Some(last) = out.last_mut() {
            last.text.pop(); // the `=`
            last.text.push_str(line.trim_start());
            soft_break = last.text.ends_with('=');
            continue;
        }
        if let Some(rest) = line.strip_prefix([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.text.push_str(rest);
            continue;
        }
        if line.trim().is_empty() {
            soft_break = false;
            continue;
        }
        soft_break = line.ends_with('=') && split_head(line).is_some_and(|(head, _)| is_qp(head));
        out.push(Logical {
            line: number,
            text: line.to_owned(),
        });
    }
    out
}

/// A property's parameters: `TYPE` values (lowercase, from `TYPE=a,b`, repeated `TYPE=`,
/// and 2.1's bare words), the encoding and the charset.
#[derive(Default)]
struct Params {
    types: Vec<String>,
    encoding: Option<String>,
    charset: Option<String>,
}

fn params(list: &[&str]) -> Params {
    let mut p = Params::default();
    for raw in list {
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().trim_matches('"')),
            None => ("TYPE".to_owned(), raw.trim()),
        };
        match key.as_str() {
            "TYPE" => p.types.extend(
                value
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty()),
            ),
            "ENCODING" => p.encoding = Some(value.to_ascii_uppercase()),
            "CHARSET" => p.charset = Some(value.to_ascii_uppercase()),
            _ => {}
        }
    }
    p
}

/// Splits a head at semicolons outside quotes.
fn split_params(head: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in head.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&head[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&head[start..]);
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn quoted_printable(value: &str) -> Result<Vec<u8>, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&a), Some(&b)) => match (hex(a), hex(b)) {
                    (Some(a), Some(b)) => out.push(a * 16 + b),
                    _ => {
                        return Err(format!(
                            "quoted-printable {:?} at byte {i} is not two hex digits",
                            String::from_utf8_lossy(&bytes[i..i + 3])
                        ));
                    }
                },
                // A trailing `=` is a soft line break that ended the file.
                (None, _) => {}
                _ => {
                    return Err(format!(
                        "quoted-printable ends inside an escape at byte {i}"
                    ));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_charset(bytes: &[u8], charset: Option<&str>) -> Result<String, String> {
    let label = charset.unwrap_or("UTF-8");
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
        .ok_or_else(|| format!("charset {label:?} is not one central reads; expected UTF-8, GBK, GB18030, BIG5 or another WHATWG label"))?;
    let (text, _, bad) = encoding.decode(bytes);
    if bad {
        return Err(format!("the value is not valid {label}"));
    }
    Ok(text.into_owned())
}

/// A property's value, decoded (quoted-printable, charset), escapes still in place.
fn raw_value(value: &str, p: &Params) -> Result<String, String> {
    let qp = p.encoding.as_deref() == Some("QUOTED-PRINTABLE");
    if !qp && p.charset.is_none() {
        return Ok(value.to_owned());
    }
    let bytes = if qp {
        quoted_printable(value)?
    } else {
        value.as_bytes().to_vec()
    };
    decode_charset(&bytes, p.charset.as_deref())
}

/// Splits at unescaped `sep` and unescapes each part (`\n`, `\,`, `\;`, `\\`).
fn components(value: &str, sep: char, version: Version) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.last_mut().map_or((), |s| s.push('\n')),
                Some(other) => out.last_mut().map_or((), |s| s.push(other)),
                None => out.last_mut().map_or((), |s| s.push('\\')),
            }
        } else if c == sep && (version != Version::V21 || sep == ';') {
            out.push(String::new());
        } else if let Some(s) = out.last_mut() {
            s.push(c);
        }
    }
    out
}

fn text_value(value: &str, version: Version) -> String {
    let mut parts = components(value, '\u{0}', version);
    parts.pop().unwrap_or_default().trim().to_owned()
}

/// A kept value: bounded, printable (a note may hold line breaks and tabs).
fn check_value(value: &str, note: bool) -> Result<(), String> {
    let max = if note {
        MAX_NOTE_LEN
    } else {
        protocol::bounds::MAX_TEXT_LEN
    };
    if value.len() > max {
        return Err(format!(
            "is {} bytes long; at most {max} are kept",
            value.len()
        ));
    }
    let allowed = |c: char| note && (c == '\n' || c == '\t');
    if let Some(c) = value.chars().find(|&c| {
        !allowed(c)
            && (c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
    }) {
        return Err(format!(
            "holds the control or invisible character U+{:04X}",
            u32::from(c)
        ));
    }
    Ok(())
}

/// An e-mail address as people write them: one `@`, a local part, a domain with a dot, no
/// spaces, at most 254 bytes.
pub fn check_email(value: &str) -> Result<(), String> {
    let bad = || format!("{value:?} is not an e-mail address; expected name@example.com");
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(())
}

/// A phone number as people write them: digits with spaces, dashes, dots, parentheses, a
/// leading `+`, an extension after `x`, `ext` or `,`; at least 3 and at most 20 digits.
pub fn check_phone(value: &str) -> Result<(), String> {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let main = value
        .split([',', ';'])
        .next()
        .unwrap_or(value)
        .split("ext")
        .next()
        .unwrap_or(value)
        .split(['x', 'X'])
        .next()
        .unwrap_or(value);
    let bad_char = main
        .chars()
        .find(|c| !(c.is_ascii_digit() || " -.()+/".contains(*c)));
    if !(3..=20).contains(&digits) || bad_char.is_some() || value.len() > 64 {
        return Err(format!(
            "{value:?} is not a phone number; expected digits, spaces, dashes, parentheses and a leading +"
        ));
    }
    Ok(())
}

fn phone_kind(types: &[String]) -> PhoneKind {
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("fax") {
        PhoneKind::Fax
    } else if has("cell") || has("mobile") || has("iphone") {
        PhoneKind::Mobile
    } else if has("work") {
        PhoneKind::Work
    } else if has("home") {
        PhoneKind::Home
    } else {
        PhoneKind::Other
    }
}

/// The network of a social handle, by the name a card or a URI scheme gives it.
pub fn network(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "wechat" | "weixin" | "wx" | "x-wechat" | "x-weixin" => "wechat".into(),
        "qq" | "x-qq" | "tencent" => "qq".into(),
        "whatsapp" | "x-whatsapp" => "whatsapp".into(),
        "skype" | "x-skype" | "x-skype-username" => "skype".into(),
        "linkedin" | "x-linkedin" => "linkedin".into(),
        "telegram" | "x-telegram" | "tg" => "telegram".into(),
        "line" | "x-line" => "line".into(),
        "twitter" | "x" | "x-twitter" => "x".into(),
        "dingtalk" | "x-dingtalk" => "dingtalk".into(),
        other => other.trim_start_matches("x-").to_owned(),
    }
}

/// A handle from a value that may be a URI (`xmpp:a@b`, `weixin://zhang`, `https://...`).
fn handle_of(value: &str) -> (Option<String>, String) {
    if value.starts_with("http://") || value.starts_with("https://") {
        return (None, value.to_owned());
    }
    match value.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            (
                Some(scheme.to_owned()),
                rest.trim_start_matches("//").to_owned(),
            )
        }
        _ => (None, value.to_owned()),
    }
}

struct CardBuilder {
    number: usize,
    line: usize,
    version: Option<Version>,
    properties: usize,
    fn_name: Option<String>,
    family: String,
    given: String,
    card: Card,
}

impl CardBuilder {
    fn new(number: usize, line: usize) -> CardBuilder {
        CardBuilder {
            number,
            line,
            version: None,
            properties: 0,
            fn_name: None,
            family: String::new(),
            given: String::new(),
            card: Card {
                line,
                version: Version::V30,
                name: String::new(),
                family_name: String::new(),
                given_name: String::new(),
                organization: None,
                department: None,
                title: None,
                phones: Vec::new(),
                emails: Vec::new(),
                addresses: Vec::new(),
                urls: Vec::new(),
                social: Vec::new(),
                note: None,
                categories: Vec::new(),
                uid: None,
            },
        }
    }
}

fn push_bounded<T>(list: &mut Vec<T>, value: T) -> Result<(), String> {
    if list.len() >= MAX_VALUES {
        return Err(format!("more than {MAX_VALUES} on one card"));
    }
    list.push(value);
    Ok(())
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Applies one property to the card being read.
fn property(b: &mut CardBuilder, name: &str, p: &Params, value: &str) -> Result<(), String> {
    let version = b.version.unwrap_or(Version::V30);
    let skip = matches!(
        name,
        "PHOTO"
            | "LOGO"
            | "SOUND"
            | "KEY"
            | "X-ABLABEL"
            | "PRODID"
            | "REV"
            | "X-PHONETIC-FIRST-NAME"
            | "X-PHONETIC-LAST-NAME"
    );
    if skip {
        return Ok(());
    }
    let value = raw_value(value, p)?;
    let card = &mut b.card;
    match name {
        "VERSION" => {
            let v = match value.trim() {
                "2.1" => Version::V21,
                "3.0" => Version::V30,
                "4.0" => Version::V40,
                other => {
                    return Err(format!(
                        "{other:?} is not a vCard version central reads; expected 2.1, 3.0 or 4.0"
                    ));
                }
            };
            b.version = Some(v);
            card.version = v;
        }
        "FN" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            b.fn_name = non_empty(v);
        }
        "N" => {
            let parts = components(&value, ';', version);
            let family = parts.first().cloned().unwrap_or_default();
            let given = parts.get(1).cloned().unwrap_or_default();
            check_value(&family, false)?;
            check_value(&given, false)?;
            b.family = family.trim().to_owned();
            b.given = given.trim().to_owned();
        }
        "ORG" => {
            let parts = components(&value, ';', version);
            let org = parts.first().cloned().unwrap_or_default();
            let dept = parts[1.min(parts.len())..]
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ");
            check_value(&org, false)?;
            check_value(&dept, false)?;
            card.organization = non_empty(org);
            card.department = non_empty(dept);
        }
        "TITLE" | "ROLE" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            if name == "TITLE" || card.title.is_none() {
                card.title = non_empty(v).or(card.title.take());
            }
        }
        "TEL" => {
            let v = text_value(&value, version);
            let v = v.strip_prefix("tel:").unwrap_or(&v).trim().to_owned();
            if v.is_empty() {
                return Ok(());
            }
            check_phone(&v)?;
            push_bounded(
                &mut card.phones,
                Phone {
                    kind: phone_kind(&p.types),
                    number: v,
                },
            )?;
        }
        "EMAIL" => {
            let v = text_value(&value, version);
            let v = v.strip_prefix("mailto:").unwrap_or(&v).trim().to_owned();
            if v.is_empty() {
                return Ok(());
            }
            check_email(&v)?;
            if !card.emails.iter().any(|e| e.eq_ignore_ascii_case(&v)) {
                push_bounded(&mut card.emails, v)?;
            }
        }
        "ADR" => {
            let parts = components(&value, ';', version);
            let get = |i: usize| {
                parts
                    .get(i)
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            let street = [get(0), get(1), get(2)]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let address = CardAddress {
                kind: p
                    .types
                    .iter()
                    .find(|t| matches!(t.as_str(), "work" | "home"))
                    .cloned()
                    .unwrap_or_else(|| "work".into()),
                street,
                city: get(3),
                region: get(4),
                postcode: get(5),
                country: get(6),
            };
            for field in [
                &address.street,
                &address.city,
                &address.region,
                &address.postcode,
                &address.country,
            ] {
                check_value(field, false)?;
            }
            if [&address.street, &address.city, &address.country]
                .iter()
                .any(|s| !s.is_empty())
            {
                push_bounded(&mut card.addresses, address)?;
            }
        }
        "URL" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            if let Some(v) = non_empty(v) {
                push_bounded(&mut card.urls, v)?;
            }
        }
        "IMPP" | "X-SOCIALPROFILE" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            let (scheme, handle) = handle_of(&v);
            let net = p
                .types
                .iter()
                .find(|t| {
                    !matches!(
                        t.as_str(),
                        "personal" | "business" | "work" | "home" | "pref"
                    )
                })
                .cloned()
                .or(scheme)
                .unwrap_or_else(|| "other".into());
            if let Some(handle) = non_empty(handle) {
                push_bounded(
                    &mut card.social,
                    Social {
                        network: network(&net),
                        handle,
                    },
                )?;
            }
        }
        "X-WECHAT" | "X-WEIXIN" | "X-QQ" | "X-WHATSAPP" | "X-SKYPE" | "X-SKYPE-USERNAME"
        | "X-LINKEDIN" | "X-TELEGRAM" | "X-LINE" | "X-TWITTER" | "X-DINGTALK" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            if let Some(handle) = non_empty(v) {
                push_bounded(
                    &mut card.social,
                    Social {
                        network: network(name),
                        handle,
                    },
                )?;
            }
        }
        "NOTE" => {
            let v = text_value(&value, version);
            check_value(&v, true)?;
            card.note = non_empty(v);
        }
        "CATEGORIES" => {
            for tag in components(&value, ',', Version::V30) {
                let tag = tag.trim().to_owned();
                check_value(&tag, false)?;
                if !tag.is_empty() && !card.categories.contains(&tag) {
                    push_bounded(&mut card.categories, tag)?;
                }
            }
        }
        "UID" => {
            let v = text_value(&value, version);
            check_value(&v, false)?;
            card.uid = non_empty(v);
        }
        _ => {}
    }
    Ok(())
}

/// Reads every card of a file, or says everything wrong with it.
pub fn parse(text: &str) -> Result<Vec<Card>, CardErrors> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut cards = Vec::new();
    let mut errors: Vec<CardError> = Vec::new();
    let mut more = 0usize;
    let mut fail = |e: CardError, errors: &mut Vec<CardError>| {
        if errors.len() < MAX_ERRORS {
            errors.push(e);
        } else {
            more += 1;
        }
    };
    let mut current: Option<CardBuilder> = None;
    let mut number = 0usize;
    for logical in unfold(text) {
        let card_no = current.as_ref().map_or(0, |b| b.number);
        let Some((head, value)) = split_head(&logical.text) else {
            fail(
                CardError {
                    card: card_no,
                    line: logical.line,
                    property: protocol::bounds::sanitize(&logical.text, 40, false),
                    problem: "is not a property; expected NAME:value".into(),
                },
                &mut errors,
            );
            continue;
        };
        let parts = split_params(head);
        let name_part = parts.first().copied().unwrap_or_default();
        // `item1.EMAIL`: the group is dropped.
        let name = name_part
            .rsplit('.')
            .next()
            .unwrap_or(name_part)
            .trim()
            .to_ascii_uppercase();
        let shown = protocol::bounds::sanitize(&name, 40, false);
        match (name.as_str(), value.trim().to_ascii_uppercase().as_str()) {
            ("BEGIN", "VCARD") => {
                if let Some(open) = &current {
                    fail(
                        CardError {
                            card: open.number,
                            line: logical.line,
                            property: "BEGIN".into(),
                            problem: format!(
                                "a card begins before the card of line {} ended; expected END:VCARD first",
                                open.line
                            ),
                        },
                        &mut errors,
                    );
                }
                number += 1;
                if number > MAX_CARDS {
                    fail(
                        CardError {
                            card: number,
                            line: logical.line,
                            property: "BEGIN".into(),
                            problem: format!("more than {MAX_CARDS} cards in one file; split it"),
                        },
                        &mut errors,
                    );
                    return Err(CardErrors { errors, more });
                }
                current = Some(CardBuilder::new(number, logical.line));
                continue;
            }
            ("END", "VCARD") => {
                let Some(b) = current.take() else {
                    fail(
                        CardError {
                            card: 0,
                            line: logical.line,
                            property: "END".into(),
                            problem: "ends a card that did not begin; expected BEGIN:VCARD first"
                                .into(),
                        },
                        &mut errors,
                    );
                    continue;
                };
                match finish(b) {
                    Ok(card) => cards.push(card),
                    Err(e) => fail(e, &mut errors),
                }
                continue;
            }
            _ => {}
        }
        let Some(b) = current.as_mut() else {
            fail(
                CardError {
                    card: 0,
                    line: logical.line,
                    property: shown,
                    problem: "is outside a card; expected BEGIN:VCARD first".into(),
                },
                &mut errors,
            );
            continue;
        };
        b.properties += 1;
        if b.properties > MAX_PROPERTIES {
            if b.properties == MAX_PROPERTIES + 1 {
                fail(
                    CardError {
                        card: b.number,
                        line: logical.line,
                        property: shown,
                        problem: format!("the card has more than {MAX_PROPERTIES} properties"),
                    },
                    &mut errors,
                );
            }
            continue;
        }
        let p = params(parts.get(1..).unwrap_or_default());
        if let Err(problem) = property(b, &name, &p, value) {
            if name == "VERSION" {
                // Reported once: not again as missing when the card ends.
                b.version.get_or_insert(Version::V30);
            }
            fail(
                CardError {
                    card: b.number,
                    line: logical.line,
                    property: shown,
                    problem: protocol::bounds::sanitize_text(&problem),
                },
                &mut errors,
            );
        }
    }
    if let Some(open) = current {
        fail(
            CardError {
                card: open.number,
                line: open.line,
                property: "BEGIN".into(),
                problem: "the card never ends; expected END:VCARD".into(),
            },
            &mut errors,
        );
    }
    if number == 0 && errors.is_empty() {
        fail(
            CardError {
                card: 0,
                line: 1,
                property: "BEGIN".into(),
                problem: "the file holds no card; expected BEGIN:VCARD ... END:VCARD".into(),
            },
            &mut errors,
        );
    }
    if errors.is_empty() {
        Ok(cards)
    } else {
        Err(CardErrors { errors, more })
    }
}

fn finish(b: CardBuilder) -> Result<Card, CardError> {
    let err = |property: &str, problem: &str| CardError {
        card: b.number,
        line: b.line,
        property: property.into(),
        problem: problem.into(),
    };
    if b.version.is_none() {
        return Err(err(
            "VERSION",
            "is missing; expected VERSION:2.1, 3.0 or 4.0",
        ));
    }
    let joined = if b.family.chars().any(|c| c as u32 >= 0x2E80) {
        // Chinese, Japanese, Korean names: family name first, no space.
        format!("{}{}", b.family, b.given)
    } else {
        format!("{} {}", b.given, b.family).trim().to_owned()
    };
    let name = b.fn_name.clone().or_else(|| non_empty(joined));
    let Some(name) = name else {
        return Err(err("FN", "the card has no name; expected FN or N"));
    };
    let mut card = b.card;
    card.name = name;
    card.family_name = b.family;
    card.given_name = b.given;
    Ok(card)
}

/// What a vCard 4.0 of a contact holds.
#[derive(Debug, Clone, Default)]
pub struct Export<'a> {
    pub uid: String,
    pub name: &'a str,
    pub organization: Option<&'a str>,
    pub department: Option<&'a str>,
    pub title: Option<&'a str>,
    pub phones: &'a [Phone],
    pub emails: &'a [String],
    pub social: &'a [Social],
    pub note: Option<&'a str>,
    pub categories: &'a [String],
    pub revision: String,
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a line at 75 octets (never inside a character), CRLF-terminated.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// A contact as a vCard 4.0 (RFC 6350), lines folded, CRLF.
pub fn write(card: &Export<'_>) -> String {
    let mut out = String::new();
    let mut line = |s: String| fold(&s, &mut out);
    line("BEGIN:VCARD".into());
    line("VERSION:4.0".into());
    line(format!("UID:{}", escape(&card.uid)));
    line(format!("FN:{}", escape(card.name)));
    if let Some(org) = card.organization {
        match card.department {
            Some(dept) => line(format!("ORG:{};{}", escape(org), escape(dept))),
            None => line(format!("ORG:{}", escape(org))),
        }
    }
    if let Some(title) = card.title {
        line(format!("TITLE:{}", escape(title)));
    }
    for phone in card.phones {
        let kind = match phone.kind {
            PhoneKind::Mobile => "cell",
            PhoneKind::Work => "work,voice",
            PhoneKind::Home => "home,voice",
            PhoneKind::Fax => "fax",
            PhoneKind::Other => "voice",
        };
        line(format!(
            "TEL;TYPE=\"{kind}\";VALUE=uri:tel:{}",
            phone.number.replace(' ', "-")
        ));
    }
    for email in card.emails {
        line(format!("EMAIL:{}", escape(email)));
    }
    for s in card.social {
        line(format!(
            "X-SOCIALPROFILE;TYPE={}:{}",
            s.network,
            escape(&s.handle)
        ));
    }
    if !card.categories.is_empty() {
        let tags: Vec<String> = card.categories.iter().map(|t| escape(t)).collect();
        line(format!("CATEGORIES:{}", tags.join(",")));
    }
    if let Some(note) = card.note {
        line(format!("NOTE:{}", escape(note)));
    }
    line(format!("REV:{}", card.revision));
    line("END:VCARD".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zhang;Wei;;;\r\nFN:Zhang Wei\r\nORG:Shenzhen Huaqiang Electronics Co.\\, Ltd.;Purchasing\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=WORK,VOICE:+86 755 8888 1234\r\nTEL;TYPE=CELL:138-0013-8000\r\nEMAIL;TYPE=INTERNET:zhang.wei@huaqiang.example\r\nADR;TYPE=WORK:;;88 Huaqiang Rd;Shenzhen;Guangdong;518000;China\r\nX-WECHAT:zhangwei_hq\r\nNOTE:Met at the Canton Fair\\, booth 4.2\\nWants samples\r\nCATEGORIES:trade fair,electronics\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n /2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD\r\nEND:VCARD\r\n";

    #[test]
    fn a_3_0_card_from_a_card_scanner() {
        let cards = parse(V3).unwrap();
        assert_eq!(cards.len(), 1);
        let c = &cards[0];
        assert_eq!(c.version, Version::V30);
        assert_eq!(c.name, "Zhang Wei");
        assert_eq!(c.family_name, "Zhang");
        assert_eq!(
            c.organization.as_deref(),
            Some("Shenzhen Huaqiang Electronics Co., Ltd.")
        );
        assert_eq!(c.department.as_deref(), Some("Purchasing"));
        assert_eq!(c.title.as_deref(), Some("Purchasing Manager"));
        assert_eq!(
            c.phones,
            vec![
                Phone {
                    kind: PhoneKind::Work,
                    number: "+86 755 8888 1234".into()
                },
                Phone {
                    kind: PhoneKind::Mobile,
                    number: "138-0013-8000".into()
                }
            ]
        );
        assert_eq!(c.emails, vec!["zhang.wei@huaqiang.example".to_owned()]);
        assert_eq!(c.addresses[0].city, "Shenzhen");
        assert_eq!(c.addresses[0].postcode, "518000");
        assert_eq!(c.addresses[0].street, "88 Huaqiang Rd");
        assert_eq!(
            c.social,
            vec![Social {
                network: "wechat".into(),
                handle: "zhangwei_hq".into()
            }]
        );
        assert_eq!(
            c.note.as_deref(),
            Some("Met at the Canton Fair, booth 4.2\nWants samples")
        );
        assert_eq!(c.categories, vec!["trade fair", "electronics"]);
    }

    #[test]
    fn a_4_0_card_with_uris_and_a_chinese_name_from_n() {
        let text = "BEGIN:VCARD\nVERSION:4.0\nN:李;娜;;;\nORG:深圳市华强电子有限公司\nTEL;VALUE=uri;TYPE=\"cell,voice\":tel:+86-139-0000-1111\nEMAIL;TYPE=work:li.na@hq.example\nIMPP;TYPE=personal:xmpp:li.na@jabber.example\nX-SOCIALPROFILE;TYPE=qq:123456789\nEND:VCARD\n";
        let c = &parse(text).unwrap()[0];
        assert_eq!(c.version, Version::V40);
        assert_eq!(c.name, "李娜", "family name first, no space");
        assert_eq!(c.phones[0].number, "+86-139-0000-1111");
        assert_eq!(c.phones[0].kind, PhoneKind::Mobile);
        assert_eq!(c.social[0].network, "xmpp");
        assert_eq!(c.social[1].network, "qq");
        assert_eq!(c.organization.as_deref(), Some("深圳市华强电子有限公司"));
    }

    #[test]
    fn a_2_1_card_in_quoted_printable_gbk_with_bare_parameters() {
        // "王强" and "华南机械" in GBK, quoted-printable, a soft line break in the ORG.
        let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=GBK;ENCODING=QUOTED-PRINTABLE:=CD=F5;=C7=BF;;;\r\nORG;CHARSET=GBK;ENCODING=QUOTED-PRINTABLE:=BB=AA=C4=CF=\r\n=BB=FA=D0=B5\r\nTEL;WORK;VOICE:0755-2345 6789\r\nTEL;CELL:13700001111\r\nEND:VCARD\r\n";
        let c = &parse(text).unwrap()[0];
        assert_eq!(c.name, "王强");
        assert_eq!(c.organization.as_deref(), Some("华南机械"));
        assert_eq!(c.phones[0].kind, PhoneKind::Work);
        assert_eq!(c.phones[1].kind, PhoneKind::Mobile);
    }

    #[test]
    fn many_cards_and_folded_lines() {
        let mut text = String::new();
        for i in 0..3 {
            text.push_str(&format!(
                "BEGIN:VCARD\nVERSION:3.0\nFN:Person\n  {i}\nEMAIL:p{i}@x.example\nEND:VCARD\n"
            ));
        }
        let cards = parse(&text).unwrap();
        assert_eq!(cards.len(), 3);
        assert_eq!(cards[2].name, "Person 2");
        assert_eq!(cards[2].line, 13);
    }

    #[test]
    fn every_mistake_is_named_by_card_line_and_property() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Good\nEMAIL:not-an-address\nTEL:call me\nEND:VCARD\nBEGIN:VCARD\nVERSION:5.0\nFN:X\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nEMAIL:a@b.example\nEND:VCARD\nNOTE:stray\nBEGIN:VCARD\nVERSION:3.0\nFN:Open\n";
        let errs = parse(text).unwrap_err().errors;
        let said: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            said[0]
                .starts_with("card 1 (line 4): EMAIL: \"not-an-address\" is not an e-mail address"),
            "{said:?}"
        );
        assert!(said[1].starts_with("card 1 (line 5): TEL:"), "{said:?}");
        assert!(
            said[2].starts_with("card 2 (line 8): VERSION: \"5.0\""),
            "{said:?}"
        );
        assert!(
            said[3].starts_with("card 3 (line 11): FN: the card has no name"),
            "{said:?}"
        );
        assert!(
            said[4].starts_with("line 15: NOTE: is outside a card"),
            "{said:?}"
        );
        assert!(
            said[5].starts_with("card 4 (line 16): BEGIN: the card never ends"),
            "{said:?}"
        );
        assert_eq!(said.len(), 6);
    }

    #[test]
    fn hostile_input_is_refused_never_a_panic() {
        for text in [
            "",
            "\u{FEFF}",
            ":",
            "BEGIN:VCARD",
            "END:VCARD",
            "BEGIN:VCARD\nVERSION:3.0\nFN:\u{202E}evil\nEND:VCARD",
            "BEGIN:VCARD\nVERSION:2.1\nN;ENCODING=QUOTED-PRINTABLE:=ZZ\nEND:VCARD",
            "BEGIN:VCARD\nVERSION:2.1\nN;ENCODING=QUOTED-PRINTABLE:=E",
            "BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=KLINGON:x\nEND:VCARD",
            "BEGIN:VCARD\nVERSION:3.0\nFN:A\nTEL;TYPE=\"cell:123\nEND:VCARD",
            " folded first",
        ] {
            assert!(parse(text).is_err(), "{text:?} was taken");
        }
        let long = format!(
            "BEGIN:VCARD\nVERSION:3.0\nFN:{}\nEND:VCARD",
            "x".repeat(5000)
        );
        assert!(
            parse(&long).unwrap_err().errors[0]
                .problem
                .contains("5000 bytes")
        );
        let many: String = (0..20).map(|i| format!("TEL:1000{i}\n")).collect();
        let text = format!("BEGIN:VCARD\nVERSION:3.0\nFN:A\n{many}END:VCARD");
        assert!(
            parse(&text).unwrap_err().errors[0]
                .problem
                .contains("more than 16")
        );
        let cards = "BEGIN:VCARD\nVERSION:3.0\nFN:A\nEND:VCARD\n".repeat(MAX_CARDS + 1);
        let errs = parse(&cards).unwrap_err();
        assert!(errs.errors[0].problem.contains("more than 10000 cards"));
    }

    #[test]
    fn errors_are_bounded() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:A\nEMAIL:bad\nEND:VCARD\n".repeat(150);
        let errs = parse(&text).unwrap_err();
        assert_eq!(errs.errors.len(), MAX_ERRORS);
        assert_eq!(errs.more, 50);
    }

    #[test]
    fn written_4_0_reads_back_the_same() {
        let phones = vec![Phone {
            kind: PhoneKind::Mobile,
            number: "+86 138 0013 8000".into(),
        }];
        let emails = vec!["zhang.wei@huaqiang.example".to_owned()];
        let social = vec![Social {
            network: "wechat".into(),
            handle: "zhangwei_hq".into(),
        }];
        let tags = vec!["vip".to_owned(), "trade fair, 2026".to_owned()];
        let long_org = "深圳市华强电子有限公司".repeat(4);
        let text = write(&Export {
            uid: "urn:uuid:1".into(),
            name: "张伟",
            organization: Some(&long_org),
            department: Some("采购部"),
            title: Some("经理; purchasing"),
            phones: &phones,
            emails: &emails,
            social: &social,
            note: Some("line one\nline two"),
            categories: &tags,
            revision: "20261207T000000Z".into(),
        });
        assert!(text.lines().all(|l| l.len() <= 76), "folded at 75 octets");
        let c = &parse(&text).unwrap()[0];
        assert_eq!(c.name, "张伟");
        assert_eq!(c.organization.as_deref(), Some(long_org.as_str()));
        assert_eq!(c.department.as_deref(), Some("采购部"));
        assert_eq!(c.title.as_deref(), Some("经理; purchasing"));
        assert_eq!(c.phones[0].number, "+86-138-0013-8000");
        assert_eq!(c.emails, emails);
        assert_eq!(c.social, social);
        assert_eq!(c.note.as_deref(), Some("line one\nline two"));
        assert_eq!(c.categories, tags);
    }
}
