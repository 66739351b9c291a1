//! A scanner's byte stream split into codes, in every framing mode, with arbitrary prefixes,
//! suffixes and limits, fed in arbitrary chunks (as TCP reads return it).
//!
//! Invariants: no panic; the decoder never holds more than `max_len` bytes; how the stream
//! is cut into reads changes nothing (same codes, same errors, same offsets); a code is
//! non-empty text of at most `max_len` bytes without its terminator; offsets only grow.
#![no_main]

use arbitrary::Arbitrary;
use edge_agent::sources::scanner::framing::{Decoder, Frame, FrameError, Framing, Terminator};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    terminator: u8,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    max_len: u16,
    stream: Vec<u8>,
    /// Lengths of the reads the stream arrives in (cycled).
    cuts: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let terminator = [
        Terminator::Cr,
        Terminator::Lf,
        Terminator::Crlf,
        Terminator::Etx,
    ][usize::from(input.terminator % 4)];
    let framing = Framing {
        terminator,
        prefix: input.prefix.into_iter().take(8).collect(),
        suffix: input.suffix.into_iter().take(8).collect(),
        max_len: usize::from(input.max_len),
    };
    let max_len = framing.max_len.max(1);

    // All at once.
    let mut whole = Decoder::new(framing.clone());
    let mut expected = Vec::new();
    whole.feed(&input.stream, &mut expected);
    assert!(whole.pending() <= max_len);
    let expected_end = whole.finish();

    // In chunks.
    let mut chunked = Decoder::new(framing);
    let mut got = Vec::new();
    let mut rest = &input.stream[..];
    let mut cuts = input.cuts.iter().cycle();
    while !rest.is_empty() {
        let n = cuts
            .next()
            .map_or(rest.len(), |&c| usize::from(c).max(1))
            .min(rest.len());
        let (read, after) = rest.split_at(n);
        chunked.feed(read, &mut got);
        assert!(chunked.pending() <= max_len, "{} held", chunked.pending());
        rest = after;
    }
    assert_eq!(got, expected);
    assert_eq!(chunked.finish(), expected_end);
    assert_eq!(chunked.pending(), 0);

    let mut last_at = None;
    for frame in &got {
        let at = match frame {
            Frame::Code { text, at } => {
                assert!(!text.is_empty());
                assert!(text.len() <= max_len);
                let ends = |b: u8| match terminator {
                    Terminator::Cr => b == b'\r',
                    Terminator::Lf => b == b'\n',
                    Terminator::Crlf => b == b'\r' || b == b'\n',
                    Terminator::Etx => b == 0x03,
                };
                assert!(!text.bytes().any(ends), "{text:?}");
                *at
            }
            Frame::Bad(FrameError::NotUtf8 { at, len, bad }) => {
                assert!(*len <= max_len && !bad.is_empty());
                *at
            }
            Frame::Bad(FrameError::TooLong { at, .. }) => *at,
            Frame::Bad(FrameError::Unterminated { .. }) => panic!("only finish() says that"),
        };
        assert!(at < input.stream.len() as u64);
        if let Some(last) = last_at {
            assert!(at > last, "offset {at} after {last}");
        }
        last_at = Some(at);
    }
});
