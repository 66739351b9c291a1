//! Part counters: from successive readings of a PLC counter to parts produced. Sans-I/O.
//!
//! A PLC counter is a register that grows by one per part and wraps at `2^bits`. Between two
//! readings it may also have been reset (by the operator, or a power cycle that does not retain
//! it), and the edge itself may have restarted. The tracker turns each reading into a count:
//!
//! | from `last` to `value`                          | counted                         |
//! | ----------------------------------------------- | ------------------------------- |
//! | `value >= last`, step at most `max_step`         | `value - last`                  |
//! | `value < last`, wrap distance at most `max_step` | `2^bits - last + value` (rollover) |
//! | `value < last`, otherwise, `value <= max_step`   | `value` (reset to 0, then counted on) |
//! | anything else                                   | nothing: a new baseline, reported |
//!
//! `max_step` is at most half the counter's range, so a rollover and a reset never look alike.
//! The last value is persisted with the events it produced (one journal transaction), so after
//! an edge restart counting goes on from exactly where it was committed: nothing twice, nothing
//! lost while the PLC kept counting.

/// What one reading meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterStep {
    /// The first value ever seen: it only sets the baseline.
    Baseline,
    /// `n` parts (0 when the counter did not move).
    Counted { n: u64, how: Counted },
    /// A jump no machine makes between two readings: not counted; `to` is the new baseline.
    Implausible { from: u64, to: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Increase,
    Rollover,
    /// The counter went back (reset or power cycle) and counted up from 0 again.
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterTracker {
    bits: u32,
    max_step: u64,
    last: Option<u64>,
}

impl CounterTracker {
    /// `bits` is 16, 32 or 64; `max_step` at most half the range (the config checks it);
    /// `last` the value persisted before a restart, if any.
    pub fn new(bits: u32, max_step: u64, last: Option<u64>) -> CounterTracker {
        let bits = bits.clamp(1, 64);
        let mut t = CounterTracker {
            bits,
            max_step: 0,
            last: None,
        };
        t.max_step = max_step.clamp(1, t.half());
        t.last = last.map(|l| l & t.mask());
        t
    }

    fn mask(&self) -> u64 {
        if self.bits >= 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        }
    }

    fn half(&self) -> u64 {
        1u64 << (self.bits - 1)
    }

    /// The value the next reading is compared with (what to persist).
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Takes a reading (the raw register value; bits above the counter's width are ignored).
    pub fn observe(&mut self, raw: u64) -> CounterStep {
        let value = raw & self.mask();
        let Some(last) = self.last.replace(value) else {
            return CounterStep::Baseline;
        };
        if value >= last {
            let n = value - last;
            if n <= self.max_step {
                return CounterStep::Counted {
                    n,
                    how: Counted::Increase,
                };
            }
        } else {
            // Distance forward across the wrap: (2^bits - last) + value, in u128 for 64 bits.
            let wrap = (u128::from(self.mask()) + 1 - u128::from(last)) + u128::from(value);
            if wrap <= u128::from(self.max_step) {
                return CounterStep::Counted {
                    n: wrap as u64,
                    how: Counted::Rollover,
                };
            }
            if value <= self.max_step {
                return CounterStep::Counted {
                    n: value,
                    how: Counted::Reset,
                };
            }
        }
        CounterStep::Implausible {
            from: last,
            to: value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counted(n: u64, how: Counted) -> CounterStep {
        CounterStep::Counted { n, how }
    }

    /// (bits, max_step, persisted last, readings, expected steps)
    fn check(
        bits: u32,
        max_step: u64,
        last: Option<u64>,
        readings: &[u64],
        expect: &[CounterStep],
    ) {
        let mut t = CounterTracker::new(bits, max_step, last);
        let got: Vec<_> = readings.iter().map(|r| t.observe(*r)).collect();
        assert_eq!(
            got, expect,
            "bits {bits}, max_step {max_step}, last {last:?}, readings {readings:?}"
        );
    }

    use Counted::*;

    #[test]
    fn first_reading_is_a_baseline_then_increases_count() {
        check(
            16,
            1000,
            None,
            &[500, 500, 503, 510],
            &[
                CounterStep::Baseline,
                counted(0, Increase),
                counted(3, Increase),
                counted(7, Increase),
            ],
        );
    }

    #[test]
    fn sixteen_bit_rollover() {
        check(
            16,
            1000,
            Some(65530),
            &[65535, 4, 10],
            &[
                counted(5, Increase),
                counted(5, Rollover),
                counted(6, Increase),
            ],
        );
        // Exactly to 0.
        check(16, 1000, Some(65535), &[0], &[counted(1, Rollover)]);
    }

    #[test]
    fn thirty_two_and_sixty_four_bit_rollover() {
        check(
            32,
            1000,
            Some(u32::MAX as u64 - 1),
            &[3],
            &[counted(5, Rollover)],
        );
        check(64, 1000, Some(u64::MAX), &[9], &[counted(10, Rollover)]);
        // A 16-bit reading of a 32-bit counter near 65535 is no rollover of a 32-bit counter.
        check(32, 1000, Some(65535), &[65536], &[counted(1, Increase)]);
    }

    #[test]
    fn a_reset_to_zero_counts_what_was_made_since() {
        check(
            16,
            1000,
            Some(30_000),
            &[0, 2, 5],
            &[
                counted(0, Reset),
                counted(2, Increase),
                counted(3, Increase),
            ],
        );
        // Reset and a few parts made before the next reading.
        check(32, 1000, Some(1_000_000), &[7], &[counted(7, Reset)]);
    }

    #[test]
    fn a_power_cycle_to_a_random_value_is_not_counted() {
        // Never negative, never a huge jump: the new value becomes the baseline.
        check(
            16,
            1000,
            Some(30_000),
            &[12_345, 12_350],
            &[
                CounterStep::Implausible {
                    from: 30_000,
                    to: 12_345,
                },
                counted(5, Increase),
            ],
        );
        check(
            32,
            1000,
            Some(100),
            &[5_000_000, 5_000_001],
            &[
                CounterStep::Implausible {
                    from: 100,
                    to: 5_000_000,
                },
                counted(1, Increase),
            ],
        );
    }

    #[test]
    fn an_edge_restart_goes_on_from_the_persisted_value() {
        // The PLC counted on while the edge was away: those parts are counted once.
        check(16, 1000, Some(100), &[180], &[counted(80, Increase)]);
        // …and across a rollover while away.
        check(16, 1000, Some(65_500), &[100], &[counted(136, Rollover)]);
    }

    #[test]
    fn bits_above_the_width_are_ignored_and_max_step_is_capped_at_half_the_range() {
        let mut t = CounterTracker::new(16, u64::MAX, Some(10));
        assert_eq!(t.observe(0x1_0000 + 12), counted(2, Increase));
        // max_step capped to 32768: a step of 40000 forward is not believed.
        assert_eq!(
            t.observe(40_012),
            CounterStep::Implausible {
                from: 12,
                to: 40_012
            }
        );
    }

    #[test]
    fn boundaries_of_max_step() {
        check(
            16,
            10,
            Some(100),
            &[110, 121],
            &[
                counted(10, Increase),
                CounterStep::Implausible { from: 110, to: 121 },
            ],
        );
        check(16, 10, Some(65_530), &[4], &[counted(10, Rollover)]);
        check(16, 10, Some(65_529), &[4], &[counted(4, Reset)]);
        check(
            16,
            10,
            Some(65_529),
            &[11],
            &[CounterStep::Implausible {
                from: 65_529,
                to: 11,
            }],
        );
    }

    proptest! {
        /// A PLC counter that only counts (and wraps) is counted exactly, whatever its width,
        /// start and steps, as long as each step is within max_step.
        #[test]
        fn a_counting_plc_is_counted_exactly(
            bits in prop::sample::select(vec![16u32, 32, 64]),
            start in any::<u64>(),
            steps in prop::collection::vec(0u64..=500, 0..200),
        ) {
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let mut t = CounterTracker::new(bits, 1000, None);
            let mut plc = start & mask;
            prop_assert_eq!(t.observe(plc), CounterStep::Baseline);
            let mut total = 0u64;
            for s in &steps {
                plc = plc.wrapping_add(*s) & mask;
                match t.observe(plc) {
                    CounterStep::Counted { n, .. } => total += n,
                    other => prop_assert!(false, "{other:?}"),
                }
            }
            prop_assert_eq!(total, steps.iter().sum::<u64>());
        }

        /// Whatever the readings, a count is never above max_step (no huge jump) and the
        /// tracker's last value is always the last reading.
        #[test]
        fn no_reading_ever_counts_more_than_max_step(
            bits in prop::sample::select(vec![16u32, 32, 64]),
            max_step in 1u64..5000,
            readings in prop::collection::vec(any::<u64>(), 1..50),
        ) {
            let mut t = CounterTracker::new(bits, max_step, None);
            for r in &readings {
                if let CounterStep::Counted { n, .. } = t.observe(*r) {
                    prop_assert!(n <= max_step);
                }
                let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                prop_assert_eq!(t.last(), Some(r & mask));
            }
        }

        /// Splitting a run of readings with a restart (persist last, make a new tracker from
        /// it) counts exactly what one tracker counts.
        #[test]
        fn a_restart_changes_nothing(
            readings in prop::collection::vec(0u64..70_000, 2..60),
            cut in 1usize..59,
        ) {
            let cut = cut.min(readings.len() - 1);
            let sum = |steps: Vec<CounterStep>| steps.iter().map(|s| match s {
                CounterStep::Counted { n, .. } => *n,
                _ => 0,
            }).sum::<u64>();
            let mut one = CounterTracker::new(16, 1000, None);
            let whole = sum(readings.iter().map(|r| one.observe(*r)).collect());
            let mut first = CounterTracker::new(16, 1000, None);
            let a = sum(readings[..cut].iter().map(|r| first.observe(*r)).collect());
            let mut second = CounterTracker::new(16, 1000, first.last());
            let b = sum(readings[cut..].iter().map(|r| second.observe(*r)).collect());
            prop_assert_eq!(whole, a + b);
        }

        /// Any width the tracker may be given (even outside 16/32/64), any max_step, any
        /// persisted value, any readings, restarts anywhere: no panic, no count above max_step
        /// (capped at half the range), the last reading always kept, and a restart from the
        /// persisted value gives exactly the counts one tracker gives.
        #[test]
        fn any_readings_and_restarts_count_within_max_step_and_restarts_change_nothing(
            bits in prop_oneof![Just(16u32), Just(32), Just(64), any::<u32>()],
            max_step in any::<u64>(),
            last in any::<Option<u64>>(),
            ops in prop::collection::vec(prop::option::weighted(0.9, any::<u64>()), 0..100),
        ) {
            let width = bits.clamp(1, 64);
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let cap = max_step.clamp(1, 1u64 << (width - 1));
            let mut steady = CounterTracker::new(bits, max_step, last);
            let mut restarted = CounterTracker::new(bits, max_step, last);
            for op in ops {
                let Some(raw) = op else {
                    restarted = CounterTracker::new(bits, max_step, restarted.last());
                    continue;
                };
                let step = steady.observe(raw);
                prop_assert_eq!(restarted.observe(raw), step);
                if let CounterStep::Counted { n, .. } = step {
                    prop_assert!(n <= cap, "{} counted, max_step {}", n, cap);
                }
                prop_assert_eq!(steady.last(), Some(raw & mask));
            }
        }

        /// A PLC counter that counts, wraps and is reset (to 0, then counting on), read by an
        /// edge that restarts now and then, is counted exactly: the counts add up to the parts
        /// made, and no reading is called implausible. A reset is plausible when the value it
        /// leaves is not within max_step ahead across the wrap (else it looks like a rollover,
        /// the table in the module docs).
        #[test]
        fn a_plc_that_counts_resets_and_wraps_is_counted_exactly_across_restarts(
            bits in prop::sample::select(vec![16u32, 32, 64]),
            max_step in 1u64..5000,
            start in any::<u64>(),
            ops in prop::collection::vec((0u8..3, 0u64..5000), 0..200),
        ) {
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let mut plc = start & mask;
            let mut t = CounterTracker::new(bits, max_step, None);
            prop_assert_eq!(t.observe(plc), CounterStep::Baseline);
            let (mut made, mut counted) = (0u64, 0u64);
            for (what, k) in ops {
                let k = k % (max_step + 1);
                match what {
                    0 => {
                        plc = plc.wrapping_add(k) & mask;
                    }
                    1 => {
                        let to_wrap = u128::from(mask) + 1 - u128::from(plc);
                        if k >= plc || to_wrap + u128::from(k) <= u128::from(max_step) {
                            continue;
                        }
                        plc = k;
                    }
                    _ => {
                        t = CounterTracker::new(bits, max_step, t.last());
                        continue;
                    }
                }
                made += k;
                match t.observe(plc) {
                    CounterStep::Counted { n, .. } => counted += n,
                    other => prop_assert!(false, "{:?} at {}", other, plc),
                }
            }
            prop_assert_eq!(counted, made);
        }
    }
}
