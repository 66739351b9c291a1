//! Part counters (`processor::counter::CounterTracker`): arbitrary widths, max_steps, persisted
//! values, and arbitrary sequences of readings and edge restarts.
//!
//! Invariants: no panic; a count is never more than max_step (capped at half the range) nor
//! more than the counter can hold; the tracker's last value is always the last reading (within
//! the width); a restart from the persisted value changes nothing; and a PLC that only counts,
//! wraps and resets plausibly (each step within max_step, a reset not within max_step of the
//! wrap) is counted exactly: the sum of the counts is the number of parts made.
#![no_main]

use arbitrary::Arbitrary;
use edge_agent::processor::counter::{CounterStep, CounterTracker};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Read(u64),
    Restart,
}

#[derive(Debug, Arbitrary)]
enum Plc {
    Count(u16),
    /// Reset to 0, then this many parts before the next reading.
    Reset(u16),
    Restart,
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// Any readings at all, any width.
    Readings {
        bits: u32,
        max_step: u64,
        last: Option<u64>,
        ops: Vec<Op>,
    },
    /// A real PLC counter of 16, 32 or 64 bits.
    Plausible {
        bits: u8,
        max_step: u16,
        start: u64,
        ops: Vec<Plc>,
    },
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fuzz_target!(|input: Input| match input {
    Input::Readings {
        bits,
        max_step,
        last,
        ops,
    } => {
        let width = bits.clamp(1, 64);
        let cap = max_step.clamp(1, 1u64 << (width - 1));
        let mut steady = CounterTracker::new(bits, max_step, last);
        let mut restarted = CounterTracker::new(bits, max_step, last);
        for op in ops {
            match op {
                Op::Restart => restarted = CounterTracker::new(bits, max_step, restarted.last()),
                Op::Read(raw) => {
                    let step = steady.observe(raw);
                    assert_eq!(restarted.observe(raw), step, "a restart changed a count");
                    if let CounterStep::Counted { n, .. } = step {
                        assert!(n <= cap && n <= mask(width), "{n} counted, max_step {cap}");
                    }
                    assert_eq!(steady.last(), Some(raw & mask(width)));
                }
            }
        }
    }
    Input::Plausible {
        bits,
        max_step,
        start,
        ops,
    } => {
        let bits = [16, 32, 64][usize::from(bits % 3)];
        let m = mask(bits);
        // The config caps max_step at half the range (a rollover and a reset must differ).
        let max_step = u64::from(max_step).clamp(1, 1u64 << (bits - 1));
        let mut plc = start & m;
        let mut tracker = CounterTracker::new(bits, max_step, None);
        assert_eq!(tracker.observe(plc), CounterStep::Baseline);
        let (mut made, mut counted) = (0u64, 0u64);
        for op in ops {
            match op {
                Plc::Restart => tracker = CounterTracker::new(bits, max_step, tracker.last()),
                Plc::Count(k) => {
                    let k = u64::from(k) % (max_step + 1);
                    plc = plc.wrapping_add(k) & m;
                    made += k;
                    counted += count(tracker.observe(plc));
                }
                Plc::Reset(k) => {
                    let k = u64::from(k) % (max_step + 1);
                    // A reset just below the wrap looks like a rollover: not plausible.
                    let to_wrap = u128::from(m) + 1 - u128::from(plc);
                    if k >= plc || to_wrap + u128::from(k) <= u128::from(max_step) {
                        continue;
                    }
                    plc = k;
                    made += k;
                    counted += count(tracker.observe(plc));
                }
            }
        }
        assert_eq!(counted, made, "parts made and counted");
    }
});

fn count(step: CounterStep) -> u64 {
    match step {
        CounterStep::Counted { n, .. } => n,
        other => panic!("a plausible reading gave {other:?}"),
    }
}
