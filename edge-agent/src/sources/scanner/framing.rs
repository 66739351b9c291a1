//! Splitting a scanner's byte stream into codes: a sans-I/O decoder, fed whatever each read
//! returned, tested without sockets.
//!
//! How a code ends (`framing`):
//! - `crlf` (the default): CR LF, a lone CR or a lone LF each end a code. Scanners ship set to
//!   CR only, LF only or CR LF depending on the make, and the default should work with any of
//!   them; the empty frame between the CR and the LF of a CR LF is ignored, so a CR LF split
//!   between two reads is one ending, not two codes.
//! - `cr`, `lf`: only that byte ends a code; the other is data. For codes that carry line
//!   breaks (multi-line QR content).
//! - `etx`: ETX (0x03) ends a code; CR and LF are data, except at the very start of a code,
//!   where they are the line ending some scanners send after the ETX and are dropped.
//!
//! In every framing a leading STX (0x02) is dropped (STX … ETX or STX … CR scanners), then the
//! configured `prefix`, then the configured `suffix` at the end, each only when present. Empty
//! codes are ignored (a scanner's keep-alive, or a double line ending). Every other byte is
//! kept: GS (0x1D), which stands for FNC1 in GS1 codes, reaches the processor untouched.
//!
//! What is wrong is said, with where (the byte offset of the code in the connection's stream):
//! - a code longer than `max_len` bytes is reported as soon as it passes the limit and the rest
//!   of it is discarded up to the next terminator; nothing is buffered beyond `max_len`;
//! - a code that is not UTF-8 is reported with the hex of each bad byte sequence and its offset
//!   in the code. It is not handed on as a scan: bytes that are not text mean a link set up
//!   wrongly (baud rate, parity, code page) or line noise, which is the device's fault and is
//!   recorded as such (`mod.rs`), and the scanner is told no (its NAK);
//! - bytes left without a terminator when the stream ends ([`Decoder::finish`]).

use std::fmt;

/// What ends a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    Cr,
    Lf,
    /// CR LF, CR or LF.
    #[default]
    Crlf,
    Etx,
}

pub const STX: u8 = 0x02;
pub const ETX: u8 = 0x03;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

impl Terminator {
    fn ends_code(self, byte: u8) -> bool {
        match self {
            Terminator::Cr => byte == CR,
            Terminator::Lf => byte == LF,
            Terminator::Crlf => byte == CR || byte == LF,
            Terminator::Etx => byte == ETX,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Terminator::Cr => "cr",
            Terminator::Lf => "lf",
            Terminator::Crlf => "crlf",
            Terminator::Etx => "etx",
        }
    }
}

/// How one scanner frames its codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    pub terminator: Terminator,
    /// Bytes the scanner puts before each code (stripped when present).
    pub prefix: Vec<u8>,
    /// Bytes the scanner puts after each code, before the terminator (stripped when present).
    pub suffix: Vec<u8>,
    /// Longest code, in bytes, framing included; at least 1.
    pub max_len: usize,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            terminator: Terminator::Crlf,
            prefix: Vec::new(),
            suffix: Vec::new(),
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

pub const DEFAULT_MAX_LEN: usize = 4096;

/// What the decoder found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A code, framing removed.
    Code {
        text: String,
        /// Byte offset of the code's first byte in the stream.
        at: u64,
    },
    /// Something the scanner sent that is not a code.
    Bad(FrameError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The code holds bytes that are not UTF-8.
    NotUtf8 {
        at: u64,
        len: usize,
        /// Each bad byte sequence, with its offset in the code (framing removed).
        bad: Vec<(usize, Vec<u8>)>,
    },
    /// No terminator within `max_len` bytes: reported once; the rest of the code, up to the
    /// next terminator, is discarded.
    TooLong { at: u64, max_len: usize },
    /// The stream ended with this many bytes of a code that had no terminator yet.
    Unterminated { at: u64, len: usize },
}

/// How many bad byte sequences a report names (a wrong baud rate makes every byte bad).
const MAX_BAD_NAMED: usize = 8;

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NotUtf8 { at, len, bad } => {
                write!(
                    f,
                    "the code at byte {at} ({len} bytes) is not UTF-8; bad bytes:"
                )?;
                let named: Vec<String> = bad
                    .iter()
                    .take(MAX_BAD_NAMED)
                    .map(|(offset, bytes)| format!("{} at offset {offset}", hex(bytes)))
                    .collect();
                write!(f, " {}", named.join(", "))?;
                if bad.len() > MAX_BAD_NAMED {
                    write!(f, " and {} more", bad.len() - MAX_BAD_NAMED)?;
                }
                f.write_str(" (check the scanner's baud rate, parity and character set)")
            }
            FrameError::TooLong { at, max_len } => write!(
                f,
                "the code at byte {at} has no terminator within max_len {max_len} bytes; \
                 discarded up to the next terminator (check the scanner's framing setting)"
            ),
            FrameError::Unterminated { at, len } => write!(
                f,
                "the stream ended inside a code: {len} bytes from byte {at} had no terminator"
            ),
        }
    }
}

/// `0xC3 0x28` style.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The decoder for one stream (one connection, one serial port session).
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    buf: Vec<u8>,
    /// Stream offset of the byte `buf[0]` (or of the next byte, when `buf` is empty).
    start: u64,
    /// Bytes of the stream seen so far.
    consumed: u64,
    /// Discarding the rest of an over-long code until the next terminator.
    discarding: bool,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        let framing = Framing {
            max_len: framing.max_len.max(1),
            ..framing
        };
        Decoder {
            buf: Vec::with_capacity(framing.max_len.min(DEFAULT_MAX_LEN)),
            framing,
            start: 0,
            consumed: 0,
            discarding: false,
        }
    }

    /// Bytes held for a code not yet ended (never more than `max_len`).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes what one read returned; pushes every code (and every mistake) it completes onto
    /// `out`, in stream order.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Frame>) {
        for &byte in input {
            let offset = self.consumed;
            self.consumed += 1;
            if self.framing.terminator.ends_code(byte) {
                if self.discarding {
                    self.discarding = false;
                } else if let Some(frame) = self.complete() {
                    out.push(frame);
                }
                self.buf.clear();
                self.start = self.consumed;
                continue;
            }
            if self.discarding {
                continue;
            }
            if self.buf.is_empty() {
                self.start = offset;
                // Line endings after an ETX belong to the code before.
                if self.framing.terminator == Terminator::Etx && (byte == CR || byte == LF) {
                    self.start = self.consumed;
                    continue;
                }
            }
            if self.buf.len() >= self.framing.max_len {
                out.push(Frame::Bad(FrameError::TooLong {
                    at: self.start,
                    max_len: self.framing.max_len,
                }));
                self.buf.clear();
                self.discarding = true;
                continue;
            }
            self.buf.push(byte);
        }
    }

    /// The stream ended: reports the bytes of an unfinished code, if any, and starts afresh.
    pub fn finish(&mut self) -> Option<FrameError> {
        let unfinished = (!self.buf.is_empty()).then_some(FrameError::Unterminated {
            at: self.start,
            len: self.buf.len(),
        });
        self.buf.clear();
        self.discarding = false;
        self.start = self.consumed;
        unfinished
    }

    /// Starts a new stream (a reconnect): offsets count from zero again.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.discarding = false;
        self.start = 0;
        self.consumed = 0;
    }

    fn complete(&mut self) -> Option<Frame> {
        let mut code: &[u8] = &self.buf;
        if let [STX, rest @ ..] = code {
            code = rest;
        }
        if !self.framing.prefix.is_empty() {
            code = code.strip_prefix(&self.framing.prefix[..]).unwrap_or(code);
        }
        if !self.framing.suffix.is_empty() {
            code = code.strip_suffix(&self.framing.suffix[..]).unwrap_or(code);
        }
        if code.is_empty() {
            return None;
        }
        let at = self.start;
        Some(match std::str::from_utf8(code) {
            Ok(text) => Frame::Code {
                text: text.to_owned(),
                at,
            },
            Err(_) => {
                let mut bad: Vec<(usize, Vec<u8>)> = Vec::new();
                let mut offset = 0;
                for chunk in code.utf8_chunks() {
                    offset += chunk.valid().len();
                    let invalid = chunk.invalid();
                    if !invalid.is_empty() {
                        // Bad bytes next to each other are named as one run.
                        match bad.last_mut() {
                            Some((start, run)) if *start + run.len() == offset => {
                                run.extend_from_slice(invalid)
                            }
                            _ => bad.push((offset, invalid.to_vec())),
                        }
                        offset += invalid.len();
                    }
                }
                Frame::Bad(FrameError::NotUtf8 {
                    at,
                    len: code.len(),
                    bad,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(terminator: Terminator) -> Framing {
        Framing {
            terminator,
            ..Framing::default()
        }
    }

    /// Feeds the reads one after the other and returns everything decoded.
    fn decode(framing: Framing, reads: &[&[u8]]) -> Vec<Frame> {
        let mut d = Decoder::new(framing);
        let mut out = Vec::new();
        for r in reads {
            d.feed(r, &mut out);
        }
        out
    }

    fn code(text: &str, at: u64) -> Frame {
        Frame::Code {
            text: text.to_owned(),
            at,
        }
    }

    fn codes(frames: &[Frame]) -> Vec<&str> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Code { text, .. } => text.as_str(),
                Frame::Bad(e) => panic!("unexpected {e}"),
            })
            .collect()
    }

    #[test]
    fn each_framing_ends_a_code_where_it_says() {
        assert_eq!(
            decode(framing(Terminator::Cr), &[b"ABC\rDEF\r"]),
            vec![code("ABC", 0), code("DEF", 4)]
        );
        assert_eq!(
            decode(framing(Terminator::Lf), &[b"ABC\nDEF\n"]),
            vec![code("ABC", 0), code("DEF", 4)]
        );
        assert_eq!(
            decode(framing(Terminator::Crlf), &[b"ABC\r\nDEF\r\n"]),
            vec![code("ABC", 0), code("DEF", 5)]
        );
        assert_eq!(
            decode(framing(Terminator::Etx), &[b"\x02ABC\x03\x02DEF\x03"]),
            vec![code("ABC", 0), code("DEF", 5)]
        );
    }

    #[test]
    fn crlf_takes_cr_only_and_lf_only_scanners_too() {
        let f = decode(framing(Terminator::Crlf), &[b"A1\rB2\nC3\r\nD4\n\r"]);
        assert_eq!(codes(&f), vec!["A1", "B2", "C3", "D4"]);
    }

    #[test]
    fn strict_cr_and_lf_keep_the_other_byte_as_data() {
        let f = decode(framing(Terminator::Cr), &[b"line 1\nline 2\r"]);
        assert_eq!(codes(&f), vec!["line 1\nline 2"]);
        let f = decode(framing(Terminator::Lf), &[b"a\rb\n"]);
        assert_eq!(codes(&f), vec!["a\rb"]);
        let f = decode(framing(Terminator::Etx), &[b"\x02two\r\nlines\x03"]);
        assert_eq!(codes(&f), vec!["two\r\nlines"]);
    }

    #[test]
    fn a_code_split_across_reads_is_one_code() {
        for t in [Terminator::Cr, Terminator::Lf, Terminator::Crlf] {
            let end: &[u8] = if t == Terminator::Lf { b"\n" } else { b"\r" };
            let f = decode(framing(t), &[b"0101234", b"5678901", b"28", end]);
            assert_eq!(f, vec![code("0101234567890128", 0)], "{t:?}");
        }
        // One byte per read.
        let stream = b"\x02(01)09506000134352\x03";
        let reads: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            decode(framing(Terminator::Etx), &reads),
            vec![code("(01)09506000134352", 0)]
        );
    }

    #[test]
    fn several_codes_in_one_read() {
        let f = decode(framing(Terminator::Crlf), &[b"A\r\nB\r\nC", b"\r\nD\r\n"]);
        assert_eq!(
            f,
            vec![code("A", 0), code("B", 3), code("C", 6), code("D", 9)]
        );
    }

    #[test]
    fn crlf_split_between_reads_is_one_ending() {
        let f = decode(framing(Terminator::Crlf), &[b"A\r", b"\nB\r", b"\n"]);
        assert_eq!(f, vec![code("A", 0), code("B", 3)]);
    }

    #[test]
    fn empty_frames_are_ignored() {
        let f = decode(framing(Terminator::Crlf), &[b"\r\n\r\n\n\rA\r\n\r\n"]);
        assert_eq!(f, vec![code("A", 6)]);
        let f = decode(
            framing(Terminator::Etx),
            &[b"\x03\x02\x03\r\n\x02A\x03\r\n"],
        );
        assert_eq!(codes(&f), vec!["A"]);
        // A frame that was nothing but the configured prefix and suffix.
        let f = decode(
            Framing {
                prefix: b"]C1".to_vec(),
                suffix: b"#".to_vec(),
                ..framing(Terminator::Cr)
            },
            &[b"]C1#\r"],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn etx_drops_the_line_ending_sent_after_it() {
        let f = decode(
            framing(Terminator::Etx),
            &[b"\x02A\x03\r\n\x02B\x03\r", b"\n"],
        );
        assert_eq!(f, vec![code("A", 0), code("B", 5)]);
    }

    #[test]
    fn stx_prefix_is_dropped_in_line_framings_too() {
        let f = decode(framing(Terminator::Cr), &[b"\x02ABC\r"]);
        assert_eq!(f, vec![code("ABC", 0)]);
        // Only the leading one: an STX inside a code is data.
        let f = decode(framing(Terminator::Cr), &[b"A\x02B\r"]);
        assert_eq!(codes(&f), vec!["A\x02B"]);
    }

    #[test]
    fn configured_prefix_and_suffix_are_stripped_when_present() {
        let f = Framing {
            prefix: b"]C1".to_vec(),
            suffix: b"\t".to_vec(),
            ..framing(Terminator::Crlf)
        };
        let got = decode(f, &[b"]C1ABC\t\r\n]C1DEF\r\nGHI\t\r\n"]);
        assert_eq!(codes(&got), vec!["ABC", "DEF", "GHI"]);
        // After the STX.
        let f = Framing {
            prefix: b"S1:".to_vec(),
            ..framing(Terminator::Etx)
        };
        assert_eq!(codes(&decode(f, &[b"\x02S1:X\x03"])), vec!["X"]);
    }

    #[test]
    fn gs_inside_a_gs1_code_survives() {
        let raw = b"]C1010950600013435210ABC123\x1d17261231\r\n";
        let f = decode(framing(Terminator::Crlf), &[raw]);
        assert_eq!(codes(&f), vec!["]C1010950600013435210ABC123\u{1d}17261231"]);
        let f = decode(framing(Terminator::Etx), &[b"\x02\x1d01\x1d\x03"]);
        assert_eq!(codes(&f), vec!["\u{1d}01\u{1d}"]);
    }

    #[test]
    fn non_utf8_is_reported_with_the_hex_of_the_bad_bytes_and_where() {
        let f = decode(
            framing(Terminator::Crlf),
            &[b"OK\r\n", b"AB\xffC\xc3\x28D\xe2\x82\r\nNEXT\r\n"],
        );
        assert_eq!(f.len(), 3, "{f:?}");
        assert_eq!(f[0], code("OK", 0));
        assert_eq!(
            f[1],
            Frame::Bad(FrameError::NotUtf8 {
                at: 4,
                len: 9,
                bad: vec![(2, vec![0xff]), (4, vec![0xc3]), (7, vec![0xe2, 0x82])],
            })
        );
        assert_eq!(
            f[2],
            code("NEXT", 15),
            "the stream goes on after a bad code"
        );
        let Frame::Bad(e) = &f[1] else { unreachable!() };
        let text = e.to_string();
        assert!(text.contains("at byte 4"), "{text}");
        assert!(text.contains("0xFF at offset 2"), "{text}");
        assert!(text.contains("0xE2 0x82 at offset 7 (check"), "{text}");
        // Adjacent bad bytes are one run.
        let f = decode(framing(Terminator::Cr), &[b"\xff\xfeA\r"]);
        assert_eq!(
            f,
            vec![Frame::Bad(FrameError::NotUtf8 {
                at: 0,
                len: 3,
                bad: vec![(0, vec![0xff, 0xfe])],
            })]
        );
    }

    #[test]
    fn a_flood_of_bad_bytes_names_only_the_first_few() {
        let mut noise = Vec::new();
        for _ in 0..50 {
            noise.extend_from_slice(b"a\xfe");
        }
        noise.push(b'\r');
        let f = decode(framing(Terminator::Cr), &[&noise]);
        let [Frame::Bad(e)] = &f[..] else {
            panic!("{f:?}")
        };
        let text = e.to_string();
        assert!(text.contains("and 42 more"), "{text}");
        assert!(text.len() < 400, "{text}");
    }

    #[test]
    fn utf8_split_across_reads_is_text() {
        let f = decode(framing(Terminator::Lf), &[b"Gr\xc3", b"\xbc\xc3\x9fe\n"]);
        assert_eq!(codes(&f), vec!["Grüße"]);
    }

    #[test]
    fn over_long_code_is_reported_once_and_discarded_to_the_next_terminator() {
        let f = Framing {
            max_len: 8,
            ..framing(Terminator::Crlf)
        };
        let mut d = Decoder::new(f);
        let mut out = Vec::new();
        d.feed(b"OK\r\n0123456", &mut out);
        d.feed(b"789", &mut out);
        assert_eq!(
            out,
            vec![
                code("OK", 0),
                Frame::Bad(FrameError::TooLong { at: 4, max_len: 8 })
            ]
        );
        // Nothing more is held while discarding, however much comes.
        for _ in 0..1000 {
            d.feed(b"garbage garbage garbage", &mut out);
            assert_eq!(d.pending(), 0);
        }
        assert_eq!(out.len(), 2, "reported once");
        d.feed(b"tail\r\nNEXT\r\n", &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(codes(&out[2..]), vec!["NEXT"]);
    }

    #[test]
    fn a_code_of_exactly_max_len_is_taken() {
        let f = Framing {
            max_len: 4,
            ..framing(Terminator::Cr)
        };
        assert_eq!(codes(&decode(f.clone(), &[b"ABCD\r"])), vec!["ABCD"]);
        let got = decode(f, &[b"ABCDE\rOK\r"]);
        assert_eq!(
            got,
            vec![
                Frame::Bad(FrameError::TooLong { at: 0, max_len: 4 }),
                code("OK", 6)
            ]
        );
    }

    #[test]
    fn held_bytes_never_exceed_max_len() {
        let f = Framing {
            max_len: 16,
            ..framing(Terminator::Etx)
        };
        let mut d = Decoder::new(f);
        let mut out = Vec::new();
        for chunk in [0u8, 7, 255, 1].repeat(100).chunks(7) {
            d.feed(chunk, &mut out);
            assert!(d.pending() <= 16);
        }
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn the_end_of_the_stream_reports_an_unfinished_code() {
        let mut d = Decoder::new(framing(Terminator::Crlf));
        let mut out = Vec::new();
        d.feed(b"A\r\nhalf a co", &mut out);
        assert_eq!(d.finish(), Some(FrameError::Unterminated { at: 3, len: 9 }));
        assert_eq!(d.finish(), None);
        d.reset();
        d.feed(b"B\r", &mut out);
        assert_eq!(out, vec![code("A", 0), code("B", 0)]);
        // Between codes the end of the stream is not a mistake.
        let mut d = Decoder::new(framing(Terminator::Crlf));
        d.feed(b"A\r\n", &mut out);
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn terminator_parses_from_config_names() {
        #[derive(serde::Deserialize)]
        struct T {
            framing: Terminator,
        }
        for (name, t) in [
            ("cr", Terminator::Cr),
            ("lf", Terminator::Lf),
            ("crlf", Terminator::Crlf),
            ("etx", Terminator::Etx),
        ] {
            let got: T = toml::from_str(&format!("framing = \"{name}\"")).unwrap();
            assert_eq!(got.framing, t);
            assert_eq!(t.as_str(), name);
        }
        assert!(toml::from_str::<T>("framing = \"tab\"").is_err());
    }
}
