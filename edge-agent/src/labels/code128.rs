//! Code 128 symbol planning: which code set encodes which characters, and where FNC1 goes.
//!
//! One plan feeds both outputs, so the bars we draw and the ZPL a Zebra printer draws are the
//! same symbol: [`to_barcoders`] for the `barcoders` crate (its `Ć`/`Ɓ` set switches and `Ź`
//! FNC1), [`to_zpl`] for `^BC` in mode N (`>;` start C, `>:` start B, `>5`/`>6` switch, `>8`
//! FNC1). Only sets B and C are used: B covers printable ASCII, which is all we encode.

/// One Code 128 symbol character (before the check character and stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    StartB,
    StartC,
    CodeB,
    CodeC,
    Fnc1,
    /// A printable ASCII character in set B.
    B(u8),
    /// A pair of digits in set C, 0–99.
    C(u8),
}

/// What is to be encoded: characters and, for GS1-128, FNC1s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Fnc1,
    Char(u8),
}

/// Plans the symbol characters for `units`. Set C carries runs of four or more digits (and a
/// data that is exactly two digits); set B the rest. `units` must be printable ASCII or FNC1.
pub fn plan(units: &[Unit]) -> Vec<Token> {
    let digit_run = |from: usize| {
        units[from..]
            .iter()
            .take_while(|u| matches!(u, Unit::Char(c) if c.is_ascii_digit()))
            .count()
    };
    let first_data = units.iter().position(|u| *u != Unit::Fnc1).unwrap_or(0);
    let first_run = digit_run(first_data);
    let all_digits = first_data + first_run == units.len();
    let mut in_c = first_run >= 4 || (all_digits && first_run == 2);
    let mut tokens = vec![if in_c { Token::StartC } else { Token::StartB }];
    let mut i = 0;
    while i < units.len() {
        match units[i] {
            Unit::Fnc1 => {
                tokens.push(Token::Fnc1);
                i += 1;
            }
            Unit::Char(c) if in_c => {
                if digit_run(i) >= 2 {
                    let pair = (c - b'0') * 10 + (byte_at(units, i + 1) - b'0');
                    tokens.push(Token::C(pair));
                    i += 2;
                } else {
                    tokens.push(Token::CodeB);
                    in_c = false;
                }
            }
            Unit::Char(c) => {
                let run = digit_run(i);
                if run >= 4 && run % 2 == 0 {
                    tokens.push(Token::CodeC);
                    in_c = true;
                } else {
                    // An odd run of four or more: one digit in B, the even rest in C.
                    tokens.push(Token::B(c));
                    i += 1;
                }
            }
        }
    }
    tokens
}

fn byte_at(units: &[Unit], i: usize) -> u8 {
    match units.get(i) {
        Some(Unit::Char(c)) => *c,
        _ => b'0',
    }
}

/// The input the `barcoders` crate takes for this plan.
pub fn to_barcoders(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens {
        match *t {
            Token::StartB | Token::CodeB => out.push('Ɓ'),
            Token::StartC | Token::CodeC => out.push('Ć'),
            Token::Fnc1 => out.push('Ź'),
            Token::B(c) => out.push(char::from(c)),
            Token::C(n) => out.push_str(&format!("{n:02}")),
        }
    }
    out
}

/// `^BC` field data (mode N) for this plan, to go after `^FH^FD`: `>` is written `><`, and the
/// characters ZPL treats specially (`^`, `~`, and `_` under `^FH`) as hex escapes.
pub fn to_zpl(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens {
        match *t {
            Token::StartB => out.push_str(">:"),
            Token::StartC => out.push_str(">;"),
            Token::CodeB => out.push_str(">6"),
            Token::CodeC => out.push_str(">5"),
            Token::Fnc1 => out.push_str(">8"),
            Token::B(b'>') => out.push_str("><"),
            Token::B(c @ (b'^' | b'~' | b'_')) => out.push_str(&format!("_{c:02X}")),
            Token::B(c) => out.push(char::from(c)),
            Token::C(n) => out.push_str(&format!("{n:02}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<Unit> {
        s.bytes()
            .map(|b| if b == 0x1d { Unit::Fnc1 } else { Unit::Char(b) })
            .collect()
    }

    fn zpl(s: &str) -> String {
        to_zpl(&plan(&units(s)))
    }

    #[test]
    fn plans() {
        // GS1-128: leading FNC1, digits in C, the lot in B, FNC1 separator, back to C.
        assert_eq!(
            zpl("\u{1d}0109506000134352\u{1d}10ABC123\u{1d}211234"),
            ">;>80109506000134352>810>6ABC123>8>5211234"
        );
        assert_eq!(zpl("HELLO"), ">:HELLO");
        assert_eq!(zpl("12"), ">;12");
        assert_eq!(zpl("123"), ">:123");
        assert_eq!(zpl("AB12345"), ">:AB1>52345");
        assert_eq!(zpl("a>b^c_d~"), ">:a><b_5Ec_5Fd_7E");
        assert_eq!(zpl("\u{1d}9425kg"), ">;>89425>6kg");
    }

    #[test]
    fn barcoders_input() {
        let tokens = plan(&units("\u{1d}10AB\u{1d}3712"));
        // "10" alone is too short a run for set C; "3712" at the end is not.
        assert_eq!(to_barcoders(&tokens), "ƁŹ10ABŹĆ3712");
    }
}
