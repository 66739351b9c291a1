//! How long to wait before trying again, shared by everything on the edge that retries a link:
//! the uplink and downlink to central (`sync`), Modbus devices, scanners and the MQTT client.
//! Sans-I/O: the callers sleep, this only decides for how long.

use std::time::{Duration, Instant};

/// Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random
/// time in `[min, min * 2^n]`, capped at `max`. Jitter keeps many edges that lost central at
/// the same moment from all coming back at the same moment.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The wait after one more failure. `unit` is a random number in `[0, 1)`.
    pub fn fail(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let span = ceiling.saturating_sub(self.min);
        self.min + span.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn succeed(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Waits between reconnects that start again from `min` only after a connection that stayed
/// up `stayed_up`: from `min` doubling to `max` (no jitter). A connection that fails right
/// after it was made (a broker that drops it at once, a message it cannot take) so backs off
/// like one that never connects.
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    stayed_up: Duration,
    up_since: Option<Instant>,
}

impl Reconnect {
    pub fn new(min: Duration, max: Duration, stayed_up: Duration) -> Reconnect {
        Reconnect {
            backoff: Backoff::new(min, max),
            stayed_up,
            up_since: None,
        }
    }

    /// A connection was made at `now`.
    pub fn connected(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// The connection failed at `now`: how long to wait before the next attempt.
    pub fn failed(&mut self, now: Instant) -> Duration {
        if self
            .up_since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) >= self.stayed_up)
        {
            self.backoff.succeed();
        }
        self.backoff.fail(1.0)
    }

    /// Failures since the last connection that stayed up.
    pub fn failures(&self) -> u32 {
        self.backoff.failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.fail(0.0), Duration::from_millis(100));
        assert_eq!(b.fail(1.0), Duration::from_millis(200));
        assert_eq!(b.fail(1.0), Duration::from_millis(400));
        assert_eq!(b.fail(1.0), Duration::from_millis(800));
        assert_eq!(b.fail(1.0), Duration::from_secs(1));
        assert_eq!(b.fail(1.0), Duration::from_secs(1), "capped");
        assert_eq!(b.fail(0.5), Duration::from_millis(550));
        b.succeed();
        assert_eq!(b.fail(1.0), Duration::from_millis(100));
        for _ in 0..100 {
            let d = b.fail(0.999);
            assert!(d <= Duration::from_secs(1));
        }
    }

    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(30);
    const STAYED_UP: Duration = Duration::from_secs(30);

    #[test]
    fn reconnects_back_off_and_start_again_only_after_a_connection_that_stayed_up() {
        let mut b = Reconnect::new(MIN, MAX, STAYED_UP);
        let t0 = Instant::now();
        // A broker that takes the connection and drops it at once (a message it cannot
        // send, a session it refuses): the waits grow as if it never connected.
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..10 {
            b.connected(now);
            now += Duration::from_millis(5);
            let w = b.failed(now);
            waits.push(w);
            now += w;
        }
        assert_eq!(waits[0], MIN);
        assert_eq!(waits[1], MIN * 2);
        assert_eq!(waits[9], MAX, "{waits:?}");
        assert_eq!(b.failures(), 10);
        // A connection that stayed up starts again from the bottom.
        b.connected(now);
        assert_eq!(b.failed(now + STAYED_UP), MIN);
        assert_eq!(b.failures(), 1);
        // So does nothing else: failing to connect at all keeps growing.
        assert_eq!(b.failed(now + STAYED_UP), MIN * 2);
    }
}
