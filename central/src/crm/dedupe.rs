//! The keys duplicates are found by. Two contacts are the same person when they share an
//! e-mail address or a phone number however each was written; two customers are the same
//! company when their names are the same once written the same way.
//!
//! - [`email_key`]: trimmed, lowercase.
//! - [`phone_key`]: the digits, without the home country's code (`+86`, `0086`) or the trunk
//!   prefix (`0755` is `755`), so `+86 138 0013 8000`, `138-0013-8000` and `0086 13800138000`
//!   are one number. Another country's number matches only when both carry its code.
//! - [`company_key`]: full-width letters and digits as ASCII, lowercase, punctuation and
//!   spaces dropped, the legal form dropped (`Co., Ltd.`, `Company Limited`, `Inc.`, `GmbH`,
//!   `有限公司`, `股份有限公司`, `集团`, ...) and a city's `市` (`深圳市华强` is `深圳华强`).
//!   A company's Chinese and English names are two keys.
//!
//! Pure: no I/O. A key is at most a few hundred bytes (its input is a bounded text).

/// The home country's calling code, whose numbers are written with or without it.
pub const HOME_COUNTRY_CODE: &str = "86";

/// Phones shorter than this (after the prefixes) are no key: an extension is not a person.
const MIN_PHONE_DIGITS: usize = 6;

pub fn email_key(email: &str) -> Option<String> {
    let key = email.trim().to_lowercase();
    key.contains('@').then_some(key)
}

/// The number's digits without the home country's code and the trunk `0`; `None` for fewer
/// than 6 digits. An extension (after `x`, `ext`, `,` or `;`) is left out.
pub fn phone_key(phone: &str) -> Option<String> {
    let lower = phone.to_ascii_lowercase();
    let main = lower
        .split([',', ';', 'x'])
        .next()
        .unwrap_or_default()
        .split("ext")
        .next()
        .unwrap_or_default()
        .trim();
    let international = main.starts_with('+') || main.starts_with("00");
    let mut digits: String = main.chars().filter(char::is_ascii_digit).collect();
    if main.starts_with("00") {
        digits.drain(..2);
    }
    if international {
        match digits.strip_prefix(HOME_COUNTRY_CODE) {
            Some(national) => digits = national.to_owned(),
            // Another country: keep its code, marked so it never equals a national number.
            None => digits.insert(0, '+'),
        }
    }
    let digits = digits.trim_start_matches('0').to_owned();
    (digits.trim_start_matches('+').len() >= MIN_PHONE_DIGITS).then_some(digits)
}

/// Legal forms and words that say nothing about which company it is, in English and other
/// Latin-script languages, as whole words at the end of a name.
const LEGAL_WORDS: &[&str] = &[
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "ab",
    "oy",
    "as",
    "pte",
    "pty",
    "pvt",
    "kk",
    "group",
    "holding",
    "holdings",
    "the",
];

/// Chinese legal forms at the end of a name, longest first.
const LEGAL_SUFFIXES_ZH: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "总公司",
    "公司",
    "集团",
];

fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// A company's name, written one way; empty when nothing is left (a name that is only a
/// legal form is no key).
pub fn company_key(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(fold_width)
        .collect::<String>()
        .to_lowercase();
    // Parenthesised words are kept (`(中国)` tells subsidiaries apart); brackets go with the
    // rest of the punctuation.
    let mut words: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| LEGAL_WORDS.contains(&w.as_str()))
    {
        words.pop();
    }
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    let mut key: String = words.concat();
    loop {
        let before = key.len();
        for suffix in LEGAL_SUFFIXES_ZH {
            if key.len() > suffix.len()
                && let Some(stripped) = key.strip_suffix(suffix)
            {
                key = stripped.to_owned();
                break;
            }
        }
        if key.len() == before {
            break;
        }
    }
    // `深圳市华强` and `深圳华强`: a city's `市` within the first four characters of a
    // Chinese name.
    let chars: Vec<char> = key.chars().collect();
    if chars.first().copied().is_some_and(is_cjk)
        && let Some(at) = chars.iter().take(4).position(|&c| c == '市')
        && at >= 2
        && at + 1 < chars.len()
    {
        let mut without = chars.clone();
        without.remove(at);
        return without.into_iter().collect();
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_however_it_is_written() {
        let mobile = Some("13800138000".to_owned());
        for written in [
            "+86 138 0013 8000",
            "138-0013-8000",
            "0086 13800138000",
            "+86 (138) 0013.8000",
            "138 0013 8000 ext 12",
            "13800138000, 3",
        ] {
            assert_eq!(phone_key(written), mobile, "{written}");
        }
        assert_eq!(
            phone_key("(0755) 8888 1234"),
            phone_key("+86 755 8888 1234")
        );
        assert_eq!(
            phone_key("+86 755 8888 1234").as_deref(),
            Some("75588881234")
        );
        // Another country's number keeps its code and never equals a Chinese one.
        assert_eq!(phone_key("+49 30 1234567").as_deref(), Some("+49301234567"));
        assert_eq!(phone_key("0049 30 1234567"), phone_key("+49 30 1234567"));
        assert_ne!(phone_key("+49 30 1234567"), phone_key("49301234567"));
        assert_eq!(phone_key("123"), None);
        assert_eq!(phone_key(""), None);
        assert_eq!(phone_key("+"), None);
    }

    #[test]
    fn emails_ignore_case_and_spaces() {
        assert_eq!(
            email_key("  Zhang.Wei@HQ.example "),
            Some("zhang.wei@hq.example".to_owned())
        );
        assert_eq!(email_key("nobody"), None);
    }

    #[test]
    fn one_company_however_its_name_is_written() {
        let key = company_key("Huaqiang Electronics Co., Ltd.");
        assert_eq!(key, "huaqiangelectronics");
        for written in [
            "HUAQIANG ELECTRONICS CO LTD",
            "Huaqiang Electronics Company Limited",
            "huaqiang electronics",
            "Ｈｕａｑｉａｎｇ　Ｅｌｅｃｔｒｏｎｉｃｓ",
            "The Huaqiang Electronics Co.,Ltd",
        ] {
            assert_eq!(company_key(written), key, "{written}");
        }
        let zh = company_key("深圳市华强电子有限公司");
        assert_eq!(zh, "深圳华强电子");
        for written in [
            "深圳华强电子有限公司",
            "深圳华强电子",
            "深圳市华强电子股份有限公司",
            "深圳华强电子集团有限公司",
        ] {
            assert_eq!(company_key(written), zh, "{written}");
        }
        // Different companies stay different; a subsidiary's (中国) stays.
        assert_ne!(company_key("深圳华强电子"), company_key("深圳华强机械"));
        assert_ne!(
            company_key("西门子（中国）有限公司"),
            company_key("西门子有限公司")
        );
        // A name that is only a legal form keeps its one word rather than vanishing.
        assert_eq!(company_key("Company"), "company");
        assert!(!company_key("有限公司").is_empty());
        assert_eq!(company_key(""), "");
        // 市 late in a name is part of it.
        assert_eq!(company_key("华强电子市场"), "华强电子市场");
    }
}
