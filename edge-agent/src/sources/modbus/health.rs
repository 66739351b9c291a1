//! A device's link health and the rate limit of its fault events, without I/O or clocks (the
//! caller passes the time), so both are tested alone.

use std::time::{Duration, Instant};

/// Consecutive transport failures after which a device counts as down.
pub const DOWN_AFTER: u32 = 3;

/// How a device's link is doing, as status and metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The last poll read everything it asked for.
    Connected,
    /// The device answers, but not everything: exceptions, or the first transport failures.
    Degraded,
    /// Not reachable: not yet connected, or `DOWN_AFTER` transport failures in a row.
    Down,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connected => "connected",
            LinkState::Degraded => "degraded",
            LinkState::Down => "down",
        }
    }

    /// The value of the `device_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            LinkState::Connected => 0,
            LinkState::Degraded => 1,
            LinkState::Down => 2,
        }
    }
}

/// What one poll (or one connect attempt) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Every request was answered.
    AllRead,
    /// The device answered, but some requests with an exception (or values that do not decode).
    SomeRefused,
    /// The connection failed: refused, timed out, closed, or a reply that was not a reply.
    TransportFailed,
}

#[derive(Debug, Clone)]
pub struct Health {
    state: LinkState,
    transport_failures: u32,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// Down until the first answer.
    pub fn new() -> Health {
        Health {
            state: LinkState::Down,
            transport_failures: 0,
        }
    }

    pub fn state(&self) -> LinkState {
        self.state
    }

    /// Records an outcome; returns the new state when it changed.
    pub fn record(&mut self, outcome: PollOutcome) -> Option<LinkState> {
        let before = self.state;
        self.state = match outcome {
            PollOutcome::AllRead => {
                self.transport_failures = 0;
                LinkState::Connected
            }
            PollOutcome::SomeRefused => {
                self.transport_failures = 0;
                LinkState::Degraded
            }
            PollOutcome::TransportFailed => {
                self.transport_failures = self.transport_failures.saturating_add(1);
                if self.transport_failures >= DOWN_AFTER || before == LinkState::Down {
                    LinkState::Down
                } else {
                    LinkState::Degraded
                }
            }
        };
        (self.state != before).then_some(self.state)
    }
}

/// At most one fault event per `interval`; the faults in between are counted and the count
/// goes with the next event, so a dead PLC writes one event a minute, not one per poll.
#[derive(Debug, Clone)]
pub struct FaultLimiter {
    interval: Duration,
    last_emitted: Option<Instant>,
    suppressed: u64,
}

impl FaultLimiter {
    pub fn new(interval: Duration) -> FaultLimiter {
        FaultLimiter {
            interval,
            last_emitted: None,
            suppressed: 0,
        }
    }

    /// A fault happened at `now`: `Some(n)` to emit it (with `n` faults suppressed since the
    /// last one emitted), `None` to count it only.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last_emitted {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_emitted = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// After a recovery the next fault is news again: it is emitted at once.
    pub fn reset(&mut self) {
        self.last_emitted = None;
    }

    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinkState::*;
    use PollOutcome::*;

    #[test]
    fn down_until_first_answer_then_connected() {
        let mut h = Health::new();
        assert_eq!(h.state(), Down);
        assert_eq!(h.record(TransportFailed), None, "still down");
        assert_eq!(h.record(AllRead), Some(Connected));
        assert_eq!(h.record(AllRead), None);
    }

    #[test]
    fn transport_failures_degrade_then_bring_down() {
        let mut h = Health::new();
        h.record(AllRead);
        assert_eq!(h.record(TransportFailed), Some(Degraded));
        for _ in 1..DOWN_AFTER - 1 {
            assert_eq!(h.record(TransportFailed), None);
        }
        assert_eq!(h.record(TransportFailed), Some(Down));
        assert_eq!(h.record(TransportFailed), None);
        assert_eq!(h.record(AllRead), Some(Connected));
    }

    #[test]
    fn exceptions_degrade_but_never_bring_down() {
        let mut h = Health::new();
        h.record(AllRead);
        for _ in 0..10 {
            h.record(SomeRefused);
            assert_eq!(h.state(), Degraded);
        }
        // An exception also proves the link is up: transport failures start counting anew.
        h.record(TransportFailed);
        h.record(SomeRefused);
        h.record(TransportFailed);
        assert_eq!(h.state(), Degraded);
    }

    #[test]
    fn faults_are_rate_limited_and_counted() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut l = FaultLimiter::new(Duration::from_secs(60));
        assert_eq!(l.admit(t0), Some(0));
        for i in 1..=9 {
            assert_eq!(l.admit(t0 + s * i), None);
        }
        assert_eq!(l.suppressed(), 9);
        assert_eq!(l.admit(t0 + s * 60), Some(9));
        assert_eq!(l.admit(t0 + s * 61), None);
        l.reset();
        assert_eq!(l.admit(t0 + s * 62), Some(1));
    }
}
