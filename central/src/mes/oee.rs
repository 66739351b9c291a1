//! ISO 22400-2 time and quantity figures for one station over one window (a shift run, or
//! any planned period), and the KPIs made of them.
//!
//! Definitions (ISO 22400-2:2014, 5.5 and 6.10):
//!
//! - POT, planned operation time: the window, `to - from`.
//! - PDOT, planned down time: the window's breaks (whatever the machine did in them) and
//!   every `Down` span whose reason `planned(reason)` says is planned (maintenance, …).
//! - PBT, planned busy time: `POT - PDOT`. It is split, with nothing left over, into
//!   - APT, actual production time: state `Running`;
//!   - ADOT, actual unit down time: state `Down` with an unplanned reason or none;
//!   - setup (AUST): state `Setup`, a loss (in PBT, not in APT);
//!   - idle and off: states `Idle` and `Off`, losses;
//!   - unknown: time no span covers. It is in PBT and counts against availability: a
//!     station that reports nothing is not assumed to have run.
//! - PQ, produced quantity: good + scrap; GQ, good quantity; PRI, planned runtime per item
//!   (the ideal cycle time of the order's operation).
//! - Availability `A = APT / PBT`; effectiveness `E = PRI × PQ / APT`; quality
//!   `Q = GQ / PQ`; `OEE = A × E × Q`.
//!
//! Rules:
//!
//! - Spans are clipped to the window. Input may be unsorted or overlap: spans are sorted by
//!   `from` (stably, so of two spans starting together the later in the input wins) and a
//!   span ends where the next one begins: a later span cuts the one before, and the time
//!   after the later span ends is not given back to the earlier one (it is unknown unless
//!   another span covers it). Spans with `to <= from` are ignored.
//! - Breaks are clipped to the window; where breaks overlap, the time counts once, under the
//!   break that starts first.
//! - Counts are point facts: a count belongs to PQ when its minute start lies in
//!   `[from, to)` and neither in a break nor in a planned stop; one in a break or a planned
//!   stop goes to `outside_pbt_good`/`outside_pbt_scrap`; one outside the window belongs to
//!   another window and is left out. PRI × PQ is summed over counts whose PRI is known
//!   (`ideal_ms`); the others are in `pq_without_ideal`, so E then understates.
//! - Only a `Down` span can be planned downtime; a planned reason on another state is
//!   ignored (the state says what the machine did).
//! - A stop's unplanned down time counts against the work order the station was making when
//!   it stopped (`down_by_order`): the order with the most parts counted in the window in the
//!   clock hour the stop began (ties to the smaller order id); none counted in that hour, the
//!   nearest earlier hour of the window with counts, else the nearest later one; none at all,
//!   `""`. Spans do not name an order, and an hour's counts sum the same whether read by
//!   minute or by hour, so the figures do not depend on how finely the counts were read.
//!
//! Arithmetic: times are milliseconds in `i64` (any two chrono instants are less than
//! 2^54 ms apart); sums saturate; quantities are `u64`, summed saturating.

use crate::mes::shifts::{Break, ShiftRun};
use chrono::{DateTime, Utc};
use protocol::MachineState;
use serde::Serialize;
use std::collections::BTreeMap;

/// A station's state over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateSpan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub state: MachineState,
    pub reason: Option<String>,
}

/// Quantities reported in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The start of the minute they were reported in.
    pub minute: DateTime<Utc>,
    pub good: u64,
    pub scrap: u64,
    /// PRI of the order's operation, `None` when not known.
    pub ideal_cycle_ms: Option<u64>,
    /// The work order counted on, `None` when the report named none.
    pub work_order: Option<String>,
}

/// The planned window: `[from, to)` and its breaks. Clip a [`ShiftRun`] to the asked period
/// first ([`ShiftRun::clipped`]).
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub breaks: &'a [Break],
}

impl<'a> Window<'a> {
    /// The whole of a shift run.
    pub fn of_run(run: &'a ShiftRun) -> Window<'a> {
        Window {
            from: run.start,
            to: run.end,
            breaks: &run.breaks,
        }
    }
}

/// The figures of one window; [`Figures::add`] sums windows. Read back from the figures
/// central keeps of ended runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Figures {
    pub pot_ms: i64,
    pub pdot_ms: i64,
    pub pbt_ms: i64,
    pub apt_ms: i64,
    pub adot_ms: i64,
    pub setup_ms: i64,
    pub idle_ms: i64,
    pub off_ms: i64,
    pub unknown_ms: i64,
    pub pq: u64,
    pub gq: u64,
    pub scrap: u64,
    /// Sum of PRI × PQ over counts with a known PRI.
    pub ideal_ms: i64,
    pub pq_without_ideal: u64,
    /// Counts reported in breaks or planned stops: not in PQ.
    pub outside_pbt_good: u64,
    pub outside_pbt_scrap: u64,
    /// Unplanned down time by reason, ms; key `""` for no reason.
    pub down_by_reason: BTreeMap<String, i64>,
    /// Planned down time: breaks as `break:<name>`, planned stops by their reason, ms.
    pub planned_by_reason: BTreeMap<String, i64>,
    /// Scrap in PQ by work order; key `""` for counts that named none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scrap_by_order: BTreeMap<String, i64>,
    /// Unplanned down time by the work order the station was making when it stopped (module
    /// doc), ms; key `""` when no order was counted in the window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub down_by_order: BTreeMap<String, i64>,
}

/// One stop's part of a window: the down time of one `Down` span inside it (its breaks left
/// out), what the figures sum in `down_by_reason` (unplanned) or `planned_by_reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    /// When the span began (the event that started it), maybe before the window.
    pub started: DateTime<Utc>,
    /// The first and last instant of the stop inside the window.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Down time counted in the window: `to - from` less the breaks inside.
    pub down_ms: i64,
    /// `""` when the stop has no reason (yet).
    pub reason: String,
    pub planned: bool,
    /// The order it counts against (`down_by_order`); `""` for none.
    pub work_order: String,
}

/// A count with scrap that is in PQ: what `scrap_by_order` sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScrapCount {
    pub minute: DateTime<Utc>,
    pub scrap: u64,
    /// `""` when the count named no order.
    pub work_order: String,
}

/// The facts behind a window's losses: its stops and the scrap counted in PQ, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    pub stops: Vec<Stop>,
    pub scrap: Vec<ScrapCount>,
}

impl Figures {
    /// Adds `other` into `self`, every field saturating.
    pub fn add(&mut self, other: &Figures) {
        let times = [
            (&mut self.pot_ms, other.pot_ms),
            (&mut self.pdot_ms, other.pdot_ms),
            (&mut self.pbt_ms, other.pbt_ms),
            (&mut self.apt_ms, other.apt_ms),
            (&mut self.adot_ms, other.adot_ms),
            (&mut self.setup_ms, other.setup_ms),
            (&mut self.idle_ms, other.idle_ms),
            (&mut self.off_ms, other.off_ms),
            (&mut self.unknown_ms, other.unknown_ms),
            (&mut self.ideal_ms, other.ideal_ms),
        ];
        for (mine, theirs) in times {
            *mine = mine.saturating_add(theirs);
        }
        let quantities = [
            (&mut self.pq, other.pq),
            (&mut self.gq, other.gq),
            (&mut self.scrap, other.scrap),
            (&mut self.pq_without_ideal, other.pq_without_ideal),
            (&mut self.outside_pbt_good, other.outside_pbt_good),
            (&mut self.outside_pbt_scrap, other.outside_pbt_scrap),
        ];
        for (mine, theirs) in quantities {
            *mine = mine.saturating_add(theirs);
        }
        for (key, ms) in &other.down_by_reason {
            add_to(&mut self.down_by_reason, key, *ms);
        }
        for (key, ms) in &other.planned_by_reason {
            add_to(&mut self.planned_by_reason, key, *ms);
        }
        for (key, n) in &other.scrap_by_order {
            add_to(&mut self.scrap_by_order, key, *n);
        }
        for (key, ms) in &other.down_by_order {
            add_to(&mut self.down_by_order, key, *ms);
        }
    }

    /// `A = APT / PBT`; `None` when PBT is 0.
    pub fn availability(&self) -> Option<f64> {
        ratio(self.apt_ms as f64, self.pbt_ms as f64)
    }

    /// `E = PRI × PQ / APT` (over the counts with a known PRI); `None` when APT is 0.
    pub fn effectiveness(&self) -> Option<f64> {
        ratio(self.ideal_ms as f64, self.apt_ms as f64)
    }

    /// `Q = GQ / PQ`; `None` when PQ is 0.
    pub fn quality(&self) -> Option<f64> {
        ratio(self.gq as f64, self.pq as f64)
    }

    /// `OEE = A × E × Q`; `None` when any of them is (no PBT, no APT, nothing produced).
    pub fn oee(&self) -> Option<f64> {
        Some(self.availability()? * self.effectiveness()? * self.quality()?)
    }

    /// `APT - PRI × PQ`: time lost to running slower than ideal. Negative when the station
    /// ran faster than its PRI (kept so, not clamped: the PRI is then wrong).
    pub fn speed_loss_ms(&self) -> i64 {
        self.apt_ms.saturating_sub(self.ideal_ms)
    }
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

fn add_to(map: &mut BTreeMap<String, i64>, key: &str, ms: i64) {
    match map.get_mut(key) {
        Some(sum) => *sum = sum.saturating_add(ms),
        None => {
            map.insert(key.to_string(), ms);
        }
    }
}

fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from).num_milliseconds()
}

/// The figures of one station over `window`. `planned(reason)` says whether a stop reason
/// counts as planned downtime (from the plant's reason list). See the module doc for the
/// rules. O((spans + breaks) log + counts log) time.
pub fn figures(
    window: &Window<'_>,
    spans: &[StateSpan],
    counts: &[Count],
    planned: impl Fn(&str) -> bool,
) -> Figures {
    walk(window, spans, counts, planned, None)
}

/// [`figures`] and the stops and scrap counts they are made of: each stop's `down_ms` sums
/// to `down_by_reason` and `planned_by_reason` (breaks aside), each scrap count to
/// `scrap_by_order`.
pub fn figures_and_details(
    window: &Window<'_>,
    spans: &[StateSpan],
    counts: &[Count],
    planned: impl Fn(&str) -> bool,
) -> (Figures, Details) {
    let mut details = Details::default();
    let f = walk(window, spans, counts, planned, Some(&mut details));
    (f, details)
}

/// The order a stop beginning at `at` counts against (module doc), from the window's counts
/// summed by clock hour and order.
fn order_at<'a>(
    by_hour: &BTreeMap<DateTime<Utc>, BTreeMap<&'a str, u64>>,
    at: DateTime<Utc>,
) -> &'a str {
    let hour = hour_of(at);
    let orders = by_hour
        .get(&hour)
        .or_else(|| by_hour.range(..hour).next_back().map(|(_, o)| o))
        .or_else(|| by_hour.range(hour..).next().map(|(_, o)| o));
    orders
        .and_then(|o| {
            // The most parts; of equal ones the smaller id (the first met, as `max_by` keeps the
            // last of equals and the map iterates in ascending order, so iterate backwards).
            o.iter()
                .rev()
                .max_by_key(|(_, n)| **n)
                .map(|(order, _)| *order)
        })
        .unwrap_or("")
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::DurationRound;
    at.duration_trunc(chrono::TimeDelta::hours(1)).unwrap_or(at)
}

fn walk(
    window: &Window<'_>,
    spans: &[StateSpan],
    counts: &[Count],
    planned: impl Fn(&str) -> bool,
    mut details: Option<&mut Details>,
) -> Figures {
    let mut f = Figures::default();
    let (from, to) = (window.from, window.to);
    if to <= from {
        return f;
    }
    f.pot_ms = ms(from, to);

    // Breaks clipped, sorted, made disjoint (the first to start keeps the shared time).
    let mut clipped: Vec<(DateTime<Utc>, DateTime<Utc>, &str)> = window
        .breaks
        .iter()
        .filter_map(|b| {
            let (a, z) = (b.from.max(from), b.to.min(to));
            (a < z).then_some((a, z, b.name.as_str()))
        })
        .collect();
    clipped.sort_by_key(|b| b.0);
    let mut breaks = Vec::with_capacity(clipped.len());
    let mut covered = from;
    for (a, z, name) in clipped {
        let a = a.max(covered);
        if a < z {
            breaks.push((a, z, name));
            covered = z;
        }
    }

    // Spans sorted (stably), each cut by the next one's start, then clipped.
    let mut sorted: Vec<&StateSpan> = spans.iter().filter(|s| s.from < s.to).collect();
    sorted.sort_by_key(|s| s.from);
    let next_starts = sorted.iter().skip(1).map(|s| Some(s.from)).chain([None]);
    let effective: Vec<(DateTime<Utc>, DateTime<Utc>, &StateSpan)> = sorted
        .iter()
        .zip(next_starts)
        .filter_map(|(s, next)| {
            let end = next.map_or(s.to, |n| s.to.min(n));
            let (a, z) = (s.from.max(from), end.min(to));
            (a < z).then_some((a, z, *s))
        })
        .collect();

    // Elementary segments between every boundary; each lies in at most one break and one
    // span, found by walking both (sorted, disjoint) lists along.
    let mut bounds: Vec<DateTime<Utc>> =
        Vec::with_capacity(2 + 2 * (breaks.len() + effective.len()));
    bounds.extend([from, to]);
    bounds.extend(breaks.iter().flat_map(|b| [b.0, b.1]));
    bounds.extend(effective.iter().flat_map(|s| [s.0, s.1]));
    bounds.sort();
    bounds.dedup();
    // Planned time (breaks and planned stops), sorted and disjoint, for the counts.
    let mut planned_time: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    // Parts counted in the window by clock hour and order, for `down_by_order`; and the
    // order of the stop met last (by its span's index).
    let mut by_hour: BTreeMap<DateTime<Utc>, BTreeMap<&str, u64>> = BTreeMap::new();
    for c in counts {
        if let Some(order) = c.work_order.as_deref()
            && c.minute >= from
            && c.minute < to
        {
            let n = by_hour
                .entry(hour_of(c.minute))
                .or_default()
                .entry(order)
                .or_default();
            *n = n.saturating_add(c.good.saturating_add(c.scrap));
        }
    }
    let mut stop_order: Option<(usize, &str)> = None;
    // The index of the span of the last stop in `details`.
    let mut last_stop: Option<usize> = None;
    let (mut bi, mut si) = (0, 0);
    for (a, z) in bounds.iter().zip(bounds.iter().skip(1)) {
        let (a, z) = (*a, *z);
        let d = ms(a, z);
        while breaks.get(bi).is_some_and(|b| b.1 <= a) {
            bi += 1;
        }
        while effective.get(si).is_some_and(|s| s.1 <= a) {
            si += 1;
        }
        if let Some((_, _, name)) = breaks.get(bi).filter(|b| b.0 <= a) {
            f.pdot_ms = f.pdot_ms.saturating_add(d);
            add_to(&mut f.planned_by_reason, &format!("break:{name}"), d);
            planned_time.push((a, z));
            continue;
        }
        let Some((span_from, _, span)) = effective.get(si).filter(|s| s.0 <= a) else {
            f.unknown_ms = f.unknown_ms.saturating_add(d);
            continue;
        };
        let reason = span.reason.as_deref().unwrap_or("");
        let is_planned = span.reason.is_some() && planned(reason);
        let slot = match span.state {
            MachineState::Running => &mut f.apt_ms,
            MachineState::Setup => &mut f.setup_ms,
            MachineState::Idle => &mut f.idle_ms,
            MachineState::Off => &mut f.off_ms,
            MachineState::Down if is_planned => {
                add_to(&mut f.planned_by_reason, reason, d);
                planned_time.push((a, z));
                &mut f.pdot_ms
            }
            MachineState::Down => {
                add_to(&mut f.down_by_reason, reason, d);
                let order = match stop_order {
                    Some((i, order)) if i == si => order,
                    _ => {
                        let order = order_at(&by_hour, *span_from);
                        stop_order = Some((si, order));
                        order
                    }
                };
                add_to(&mut f.down_by_order, order, d);
                &mut f.adot_ms
            }
        };
        *slot = slot.saturating_add(d);
        if span.state == MachineState::Down
            && let Some(details) = details.as_deref_mut()
        {
            match details.stops.last_mut() {
                Some(stop) if last_stop == Some(si) => {
                    stop.to = z;
                    stop.down_ms = stop.down_ms.saturating_add(d);
                }
                _ => {
                    details.stops.push(Stop {
                        started: span.from,
                        from: a,
                        to: z,
                        down_ms: d,
                        reason: reason.to_owned(),
                        planned: is_planned,
                        work_order: if is_planned {
                            String::new()
                        } else {
                            stop_order.map(|(_, o)| o.to_owned()).unwrap_or_default()
                        },
                    });
                    last_stop = Some(si);
                }
            }
        }
    }
    f.pbt_ms = f.pot_ms.saturating_sub(f.pdot_ms);

    for count in counts {
        if count.minute < from || count.minute >= to {
            continue;
        }
        let i = planned_time.partition_point(|p| p.1 <= count.minute);
        if planned_time.get(i).is_some_and(|p| p.0 <= count.minute) {
            f.outside_pbt_good = f.outside_pbt_good.saturating_add(count.good);
            f.outside_pbt_scrap = f.outside_pbt_scrap.saturating_add(count.scrap);
            continue;
        }
        let pq = count.good.saturating_add(count.scrap);
        f.pq = f.pq.saturating_add(pq);
        f.gq = f.gq.saturating_add(count.good);
        f.scrap = f.scrap.saturating_add(count.scrap);
        if count.scrap > 0 {
            add_to(
                &mut f.scrap_by_order,
                count.work_order.as_deref().unwrap_or_default(),
                i64::try_from(count.scrap).unwrap_or(i64::MAX),
            );
            if let Some(details) = details.as_deref_mut() {
                details.scrap.push(ScrapCount {
                    minute: count.minute,
                    scrap: count.scrap,
                    work_order: count.work_order.clone().unwrap_or_default(),
                });
            }
        }
        match count.ideal_cycle_ms {
            Some(cycle) => {
                let cycle = i64::try_from(cycle).unwrap_or(i64::MAX);
                let pq = i64::try_from(pq).unwrap_or(i64::MAX);
                f.ideal_ms = f.ideal_ms.saturating_add(cycle.saturating_mul(pq));
            }
            None => f.pq_without_ideal = f.pq_without_ideal.saturating_add(pq),
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// 2026-03-02 at `hh:mm` UTC; `hh` may pass 24 (the next day).
    fn t(hh: i64, mm: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::TimeDelta::minutes(hh * 60 + mm)
    }

    fn span(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        state: MachineState,
        reason: Option<&str>,
    ) -> StateSpan {
        StateSpan {
            from,
            to,
            state,
            reason: reason.map(str::to_string),
        }
    }

    fn running(from: DateTime<Utc>, to: DateTime<Utc>) -> StateSpan {
        span(from, to, MachineState::Running, None)
    }

    fn down(from: DateTime<Utc>, to: DateTime<Utc>, reason: &str) -> StateSpan {
        span(from, to, MachineState::Down, Some(reason))
    }

    fn count(minute: DateTime<Utc>, good: u64, scrap: u64, ideal_cycle_ms: Option<u64>) -> Count {
        Count {
            minute,
            good,
            scrap,
            ideal_cycle_ms,
            work_order: None,
        }
    }

    fn brk(name: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Break {
        Break {
            name: name.into(),
            from,
            to,
        }
    }

    fn window(from: DateTime<Utc>, to: DateTime<Utc>, breaks: &[Break]) -> Window<'_> {
        Window { from, to, breaks }
    }

    fn never(_: &str) -> bool {
        false
    }

    fn close(got: Option<f64>, want: f64) {
        let got = got.unwrap();
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    /// PBT is split into APT, ADOT, setup, idle, off and unknown with nothing left over.
    fn assert_balanced(f: &Figures) {
        assert_eq!(f.pbt_ms, f.pot_ms - f.pdot_ms);
        assert_eq!(
            f.pbt_ms,
            f.apt_ms + f.adot_ms + f.setup_ms + f.idle_ms + f.off_ms + f.unknown_ms
        );
        assert_eq!(f.pdot_ms, f.planned_by_reason.values().sum::<i64>());
        assert_eq!(f.adot_ms, f.down_by_reason.values().sum::<i64>());
    }

    fn map(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
        entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn plain_shift_with_a_break_and_a_jam() {
        // 06:00-14:00 with lunch 10:00-10:30; jam 08:00-09:00; running otherwise (also
        // through lunch, which is PDOT whatever the machine did).
        let breaks = [brk("lunch", t(10, 0), t(10, 30))];
        let spans = [
            running(t(6, 0), t(8, 0)),
            down(t(8, 0), t(9, 0), "jam"),
            running(t(9, 0), t(14, 0)),
        ];
        let pri = Some(60_000); // 1 min per item
        let counts = [
            count(t(7, 0), 100, 0, pri),
            count(t(9, 30), 142, 12, pri),
            count(t(10, 10), 5, 0, pri), // in the break: not PQ
            count(t(13, 59), 100, 6, pri),
        ];
        let f = figures(&window(t(6, 0), t(14, 0), &breaks), &spans, &counts, never);
        assert_balanced(&f);
        // POT 480 min; PDOT 30 (lunch); PBT 450; ADOT 60 (jam); APT 450 - 60 = 390.
        assert_eq!(f.pot_ms, 480 * MIN);
        assert_eq!(f.pdot_ms, 30 * MIN);
        assert_eq!(f.pbt_ms, 450 * MIN);
        assert_eq!(f.adot_ms, 60 * MIN);
        assert_eq!(f.apt_ms, 390 * MIN);
        // PQ = 100 + 154 + 106 = 360, GQ = 342, scrap 18; ideal 360 × 1 min = 360 min.
        assert_eq!((f.pq, f.gq, f.scrap), (360, 342, 18));
        assert_eq!((f.outside_pbt_good, f.outside_pbt_scrap), (5, 0));
        assert_eq!(f.ideal_ms, 360 * MIN);
        assert_eq!(f.pq_without_ideal, 0);
        assert_eq!(f.down_by_reason, map(&[("jam", 60 * MIN)]));
        assert_eq!(f.planned_by_reason, map(&[("break:lunch", 30 * MIN)]));
        // A = 390/450, E = 360/390, Q = 342/360 = 0.95, OEE = 342/450 = 0.76.
        close(f.availability(), 390.0 / 450.0);
        close(f.effectiveness(), 360.0 / 390.0);
        close(f.quality(), 0.95);
        close(f.oee(), 0.76);
        // Speed loss: APT 390 - ideal 360 = 30 min.
        assert_eq!(f.speed_loss_ms(), 30 * MIN);
    }

    #[test]
    fn a_stop_across_a_shift_boundary_is_split_between_the_windows() {
        // Jam 13:30-14:30 across the 14:00 change from early to late.
        let spans = [
            running(t(6, 0), t(13, 30)),
            down(t(13, 30), t(14, 30), "jam"),
            running(t(14, 30), t(22, 0)),
        ];
        let early = figures(&window(t(6, 0), t(14, 0), &[]), &spans, &[], never);
        let late = figures(&window(t(14, 0), t(22, 0), &[]), &spans, &[], never);
        assert_balanced(&early);
        assert_balanced(&late);
        // Early: 06:00-13:30 running = 450 min, 13:30-14:00 down = 30. Late: 30 + 450.
        assert_eq!((early.apt_ms, early.adot_ms), (450 * MIN, 30 * MIN));
        assert_eq!((late.apt_ms, late.adot_ms), (450 * MIN, 30 * MIN));
        assert_eq!(late.down_by_reason, map(&[("jam", 30 * MIN)]));
        // A = 450/480 = 0.9375 each.
        close(early.availability(), 0.9375);
    }

    #[test]
    fn a_stop_across_midnight() {
        // Night 22:00-06:00 with a break 02:00-02:30; no material 23:30-00:30, no reason
        // given 04:00-04:15.
        let breaks = [brk("night", t(26, 0), t(26, 30))];
        let spans = [
            running(t(22, 0), t(23, 30)),
            down(t(23, 30), t(24, 30), "no material"),
            running(t(24, 30), t(28, 0)),
            span(t(28, 0), t(28, 15), MachineState::Down, None),
            running(t(28, 15), t(30, 0)),
        ];
        let night = figures(&window(t(22, 0), t(30, 0), &breaks), &spans, &[], never);
        assert_balanced(&night);
        // POT 480, PDOT 30, PBT 450; ADOT 60 + 15 = 75; APT 450 - 75 = 375.
        assert_eq!(night.adot_ms, 75 * MIN);
        assert_eq!(night.apt_ms, 375 * MIN);
        assert_eq!(
            night.down_by_reason,
            map(&[("", 15 * MIN), ("no material", 60 * MIN)])
        );
        // Calendar days (no breaks): 30 min of the stop on each side of midnight.
        let monday = figures(&window(t(0, 0), t(24, 0), &[]), &spans, &[], never);
        let tuesday = figures(&window(t(24, 0), t(48, 0), &[]), &spans, &[], never);
        assert_eq!(monday.down_by_reason, map(&[("no material", 30 * MIN)]));
        assert_eq!(tuesday.down_by_reason["no material"], 30 * MIN);
        // Monday: spans cover only 22:00-24:00, so 22 h are unknown.
        assert_eq!(monday.unknown_ms, 22 * 60 * MIN);
    }

    #[test]
    fn planned_maintenance_lowers_pbt_not_availability() {
        // 06:00-14:00, no break; planned maintenance ("pm") 08:00-10:00; a count reported
        // during it goes outside PBT.
        let spans = [
            running(t(6, 0), t(8, 0)),
            down(t(8, 0), t(10, 0), "pm"),
            running(t(10, 0), t(14, 0)),
        ];
        let counts = [
            count(t(9, 0), 3, 1, Some(60_000)),
            count(t(12, 0), 300, 0, Some(60_000)),
        ];
        let f = figures(&window(t(6, 0), t(14, 0), &[]), &spans, &counts, |r| {
            r == "pm"
        });
        assert_balanced(&f);
        // POT 480, PDOT 120, PBT 360 = APT: A = 1.
        assert_eq!(f.pdot_ms, 120 * MIN);
        assert_eq!(f.pbt_ms, 360 * MIN);
        assert_eq!(f.adot_ms, 0);
        close(f.availability(), 1.0);
        assert_eq!(f.planned_by_reason, map(&[("pm", 120 * MIN)]));
        assert!(f.down_by_reason.is_empty());
        assert_eq!((f.pq, f.outside_pbt_good, f.outside_pbt_scrap), (300, 3, 1));
        // E = 300 min / 360 min.
        close(f.effectiveness(), 300.0 / 360.0);
        // The same stop unplanned: PBT 480, ADOT 120, APT 360: A = 360/480 = 0.75.
        let unplanned = figures(&window(t(6, 0), t(14, 0), &[]), &spans, &counts, never);
        close(unplanned.availability(), 0.75);
        assert_eq!(unplanned.pq, 304);
    }

    #[test]
    fn a_work_order_change_mid_shift_has_two_pri() {
        // 06:00-10:00: order A (PRI 30 s) runs 06:00-08:00, setup 08:00-08:30, order B
        // (PRI 45 s) runs 08:30-10:00; one count without a known PRI.
        let spans = [
            running(t(6, 0), t(8, 0)),
            span(t(8, 0), t(8, 30), MachineState::Setup, Some("changeover")),
            running(t(8, 30), t(10, 0)),
        ];
        let counts = [
            count(t(7, 0), 200, 0, Some(30_000)),
            count(t(9, 0), 100, 4, Some(45_000)),
            count(t(9, 59), 10, 0, None),
        ];
        let f = figures(&window(t(6, 0), t(10, 0), &[]), &spans, &counts, never);
        assert_balanced(&f);
        // APT 210 min, setup 30 min, PBT 240.
        assert_eq!(
            (f.apt_ms, f.setup_ms, f.pbt_ms),
            (210 * MIN, 30 * MIN, 240 * MIN)
        );
        // Ideal: 200 × 30 s = 100 min; 104 × 45 s = 78 min; total 178 min. PQ 314, GQ 310.
        assert_eq!(f.ideal_ms, 178 * MIN);
        assert_eq!((f.pq, f.gq, f.pq_without_ideal), (314, 310, 10));
        // A = 210/240 = 0.875; E = 178/210; Q = 310/314; OEE = 178/240 × 310/314.
        close(f.availability(), 0.875);
        close(f.effectiveness(), 178.0 / 210.0);
        close(f.quality(), 310.0 / 314.0);
        close(f.oee(), 178.0 / 240.0 * 310.0 / 314.0);
        // Speed loss 210 - 178 = 32 min.
        assert_eq!(f.speed_loss_ms(), 32 * MIN);
    }

    #[test]
    fn down_time_counts_against_the_order_made_when_the_station_stopped() {
        // 06:00-14:00 with lunch 10:00-10:30. Order A runs until 09:00, B after.
        // - jam 07:20-07:50: A made the most in the 07:00 hour (A 60, B none) -> A, 30 min;
        // - jam 09:40-10:40 across lunch: in the 09:00 hour B made 50, A 10 -> B, 20 + 10 min
        //   (lunch is planned, not down time);
        // - no reason 12:10-12:20: nothing counted 12:00-13:00, the nearest earlier hour with
        //   counts is 11:00 (B) -> B, 10 min;
        // - planned maintenance "pm" 13:00-13:30: planned, no order.
        let breaks = [brk("lunch", t(10, 0), t(10, 30))];
        let spans = [
            running(t(6, 0), t(7, 20)),
            down(t(7, 20), t(7, 50), "jam"),
            running(t(7, 50), t(9, 40)),
            down(t(9, 40), t(10, 40), "jam"),
            running(t(10, 40), t(12, 10)),
            span(t(12, 10), t(12, 20), MachineState::Down, None),
            running(t(12, 20), t(13, 0)),
            down(t(13, 0), t(13, 30), "pm"),
            running(t(13, 30), t(14, 0)),
        ];
        let made = |minute, good, scrap, order: &str| Count {
            minute,
            good,
            scrap,
            ideal_cycle_ms: None,
            work_order: Some(order.into()),
        };
        let counts = [
            made(t(7, 10), 60, 0, "A"),
            made(t(9, 5), 10, 2, "A"),
            made(t(9, 30), 50, 0, "B"),
            made(t(11, 0), 40, 3, "B"),
            made(t(13, 10), 1, 1, "B"), // in the planned stop: not PQ
        ];
        let is_pm = |r: &str| r == "pm";
        let w = window(t(6, 0), t(14, 0), &breaks);
        let (f, details) = figures_and_details(&w, &spans, &counts, is_pm);
        assert_eq!(f, figures(&w, &spans, &counts, is_pm));
        assert_balanced(&f);
        assert_eq!(f.down_by_order, map(&[("A", 30 * MIN), ("B", 40 * MIN)]));
        assert_eq!(f.adot_ms, f.down_by_order.values().sum::<i64>());
        assert_eq!(f.down_by_reason, map(&[("", 10 * MIN), ("jam", 60 * MIN)]));
        // The stops, one per span, the break left out of the one across it.
        let stops: Vec<_> = details
            .stops
            .iter()
            .map(|s| {
                (
                    s.from,
                    s.to,
                    s.down_ms,
                    s.reason.as_str(),
                    s.planned,
                    s.work_order.as_str(),
                )
            })
            .collect();
        assert_eq!(
            stops,
            [
                (t(7, 20), t(7, 50), 30 * MIN, "jam", false, "A"),
                (t(9, 40), t(10, 40), 30 * MIN, "jam", false, "B"),
                (t(12, 10), t(12, 20), 10 * MIN, "", false, "B"),
                (t(13, 0), t(13, 30), 30 * MIN, "pm", true, ""),
            ]
        );
        // Scrap in PQ only: the count in the planned stop is outside.
        let scrap: Vec<_> = details
            .scrap
            .iter()
            .map(|c| (c.minute, c.scrap, c.work_order.as_str()))
            .collect();
        assert_eq!(scrap, [(t(9, 5), 2, "A"), (t(11, 0), 3, "B")]);
        assert_eq!(f.scrap_by_order, map(&[("A", 2), ("B", 3)]));
        // A stop that began before the window keeps its start; counted from the window's.
        let late = window(t(7, 30), t(8, 0), &[]);
        let (_, d) = figures_and_details(&late, &spans, &counts, is_pm);
        assert_eq!(
            (d.stops[0].started, d.stops[0].from, d.stops[0].down_ms),
            (t(7, 20), t(7, 30), 20 * MIN)
        );
        // The same counts summed by hour (as a long period reads them) give the same orders.
        let hourly = [
            made(t(7, 0), 60, 0, "A"),
            made(t(9, 0), 10, 2, "A"),
            made(t(9, 0), 50, 0, "B"),
            made(t(11, 0), 40, 3, "B"),
        ];
        assert_eq!(
            figures(&w, &spans, &hourly, is_pm).down_by_order,
            f.down_by_order
        );
    }

    #[test]
    fn scrap_reported_after_the_fact() {
        // 100 good at 07:00; at 13:00 five more parts, made earlier and never counted, are
        // reported scrapped by inspection: a scrap-only count. It lands in the minute it is
        // reported in: PQ 105, GQ 100.
        let spans = [running(t(6, 0), t(14, 0))];
        let counts = [
            count(t(7, 0), 100, 0, Some(60_000)),
            count(t(13, 0), 0, 5, Some(60_000)),
        ];
        let f = figures(&window(t(6, 0), t(14, 0), &[]), &spans, &counts, never);
        assert_eq!((f.pq, f.gq, f.scrap), (105, 100, 5));
        // Q = 100/105; ideal 105 min; E = 105/480.
        close(f.quality(), 100.0 / 105.0);
        close(f.effectiveness(), 105.0 / 480.0);
        // Scrap reported after the window's end belongs to the window it falls in.
        let late = [count(t(14, 5), 0, 5, Some(60_000))];
        let f = figures(&window(t(6, 0), t(14, 0), &[]), &spans, &late, never);
        assert_eq!((f.pq, f.scrap, f.outside_pbt_scrap), (0, 0, 0));
    }

    #[test]
    fn counts_inside_a_break_are_outside_pbt() {
        let breaks = [brk("lunch", t(10, 0), t(10, 30))];
        let spans = [running(t(6, 0), t(14, 0))];
        let counts = [
            count(t(9, 59), 1, 0, None),  // before: PQ
            count(t(10, 0), 2, 1, None),  // at the break's start: outside
            count(t(10, 29), 4, 0, None), // last minute of the break: outside
            count(t(10, 30), 8, 0, None), // at its end (exclusive): PQ
            count(t(14, 0), 16, 0, None), // at the window's end (exclusive): not here
            count(t(5, 59), 32, 0, None), // before the window: not here
        ];
        let f = figures(&window(t(6, 0), t(14, 0), &breaks), &spans, &counts, never);
        assert_eq!((f.pq, f.gq), (9, 9));
        assert_eq!((f.outside_pbt_good, f.outside_pbt_scrap), (6, 1));
        assert_eq!(f.pq_without_ideal, 9);
        // No PRI known: ideal 0, so E = 0 and OEE = 0.
        close(f.effectiveness(), 0.0);
        close(f.oee(), 0.0);
    }

    #[test]
    fn no_spans_at_all_is_all_unknown() {
        let breaks = [brk("lunch", t(10, 0), t(10, 30))];
        let f = figures(&window(t(6, 0), t(14, 0), &breaks), &[], &[], never);
        assert_balanced(&f);
        // PBT 450 min, all unknown: A = 0; no APT so E is None; nothing produced so Q too.
        assert_eq!(f.unknown_ms, 450 * MIN);
        close(f.availability(), 0.0);
        assert_eq!(f.effectiveness(), None);
        assert_eq!(f.quality(), None);
        assert_eq!(f.oee(), None);
    }

    #[test]
    fn zero_pbt_gives_none() {
        // The whole window is a break.
        let breaks = [brk("all", t(5, 0), t(15, 0))];
        let spans = [running(t(6, 0), t(14, 0))];
        let counts = [count(t(7, 0), 10, 0, Some(1000))];
        let f = figures(&window(t(6, 0), t(14, 0), &breaks), &spans, &counts, never);
        assert_balanced(&f);
        assert_eq!((f.pot_ms, f.pdot_ms, f.pbt_ms), (480 * MIN, 480 * MIN, 0));
        assert_eq!(f.planned_by_reason, map(&[("break:all", 480 * MIN)]));
        assert_eq!(f.outside_pbt_good, 10);
        assert_eq!(f.availability(), None);
        assert_eq!(f.oee(), None);
        // An empty or reversed window is all zero.
        assert_eq!(
            figures(&window(t(6, 0), t(6, 0), &[]), &spans, &counts, never),
            Figures::default()
        );
        assert_eq!(
            figures(&window(t(7, 0), t(6, 0), &[]), &spans, &counts, never),
            Figures::default()
        );
    }

    #[test]
    fn two_shifts_add_up_to_the_day() {
        let breaks = [
            brk("lunch", t(10, 0), t(10, 30)),
            brk("dinner", t(18, 0), t(18, 30)),
        ];
        let spans = [
            running(t(6, 0), t(9, 0)),
            span(t(9, 0), t(9, 20), MachineState::Idle, None),
            running(t(9, 20), t(13, 30)),
            down(t(13, 30), t(14, 30), "jam"),
            span(t(14, 30), t(15, 0), MachineState::Setup, None),
            running(t(15, 0), t(20, 0)),
            down(t(20, 0), t(20, 45), "pm"),
            span(t(20, 45), t(21, 0), MachineState::Off, None),
            // 21:00-22:00: nothing known.
        ];
        let counts = [
            count(t(7, 0), 50, 1, Some(20_000)),
            count(t(10, 15), 3, 0, Some(20_000)),
            count(t(13, 59), 40, 2, Some(20_000)),
            count(t(14, 0), 7, 0, None),
            count(t(16, 0), 90, 0, Some(25_000)),
            count(t(20, 30), 1, 1, Some(25_000)),
        ];
        let pm = |r: &str| r == "pm";
        let early_breaks = [breaks[0].clone()];
        let late_breaks = [breaks[1].clone()];
        let mut early = figures(
            &window(t(6, 0), t(14, 0), &early_breaks),
            &spans,
            &counts,
            pm,
        );
        let late = figures(
            &window(t(14, 0), t(22, 0), &late_breaks),
            &spans,
            &counts,
            pm,
        );
        let day = figures(&window(t(6, 0), t(22, 0), &breaks), &spans, &counts, pm);
        assert_balanced(&day);
        early.add(&late);
        assert_eq!(early, day);
        // By hand, the day: POT 960; PDOT 30 + 30 + 45 (pm) = 105; PBT 855; ADOT 60; idle
        // 20; setup 30; off 15; unknown 60; APT 855 - 60 - 20 - 30 - 15 - 60 = 670.
        assert_eq!(day.pdot_ms, 105 * MIN);
        assert_eq!(day.apt_ms, 670 * MIN);
        assert_eq!(
            (day.idle_ms, day.setup_ms, day.off_ms, day.unknown_ms),
            (20 * MIN, 30 * MIN, 15 * MIN, 60 * MIN)
        );
        // PQ 51 + 42 + 7 + 90 = 190; outside (lunch, pm) 4 good 1 scrap.
        assert_eq!(
            (day.pq, day.outside_pbt_good, day.outside_pbt_scrap),
            (190, 4, 1)
        );
        // Ideal: 93 × 20 s = 31 min; 90 × 25 s = 37.5 min.
        assert_eq!(day.ideal_ms, 31 * MIN + 37 * MIN + 30_000);
    }

    #[test]
    fn overlapping_unsorted_spans_a_later_span_cuts_the_one_before() {
        // Given out of order: running 06:00-10:00 and a jam 07:00-08:00 inside it. Sorted by
        // start, the jam cuts the run at 07:00; 08:00-10:00 is not given back to the run.
        let spans = [down(t(7, 0), t(8, 0), "jam"), running(t(6, 0), t(10, 0))];
        let f = figures(&window(t(6, 0), t(10, 0), &[]), &spans, &[], never);
        assert_balanced(&f);
        assert_eq!(
            (f.apt_ms, f.adot_ms, f.unknown_ms),
            (60 * MIN, 60 * MIN, 120 * MIN)
        );
        // Two spans starting together: the later in the input wins; an empty or reversed
        // span is ignored.
        let spans = [
            running(t(6, 0), t(7, 0)),
            down(t(6, 0), t(7, 0), "jam"),
            running(t(6, 30), t(6, 30)),
            running(t(6, 50), t(6, 40)),
        ];
        let f = figures(&window(t(6, 0), t(7, 0), &[]), &spans, &[], never);
        assert_eq!((f.apt_ms, f.adot_ms), (0, 60 * MIN));
    }

    #[test]
    fn overlapping_breaks_count_once() {
        let breaks = [
            brk("b", t(10, 15), t(10, 45)),
            brk("a", t(10, 0), t(10, 30)),
        ];
        let f = figures(&window(t(6, 0), t(14, 0), &breaks), &[], &[], never);
        // a: 10:00-10:30 = 30 min; b keeps 10:30-10:45 = 15 min.
        assert_eq!(f.pdot_ms, 45 * MIN);
        assert_eq!(
            f.planned_by_reason,
            map(&[("break:a", 30 * MIN), ("break:b", 15 * MIN)])
        );
    }

    #[test]
    fn faster_than_ideal_keeps_the_sign_and_extremes_saturate() {
        let spans = [running(t(6, 0), t(7, 0))];
        let counts = [count(t(6, 0), 120, 0, Some(60_000))];
        let f = figures(&window(t(6, 0), t(7, 0), &[]), &spans, &counts, never);
        // 120 items × 1 min in 60 min: speed loss -60 min, E = 2.
        assert_eq!(f.speed_loss_ms(), -60 * MIN);
        close(f.effectiveness(), 2.0);
        let huge = [count(t(6, 0), u64::MAX, u64::MAX, Some(u64::MAX))];
        let f = figures(&window(t(6, 0), t(7, 0), &[]), &spans, &huge, never);
        assert_eq!((f.pq, f.gq, f.ideal_ms), (u64::MAX, u64::MAX, i64::MAX));
        let mut sum = f.clone();
        sum.add(&f);
        assert_eq!((sum.pq, sum.ideal_ms), (u64::MAX, i64::MAX));
        let wide = figures(
            &window(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, &[]),
            &[],
            &[],
            never,
        );
        assert!(wide.pot_ms > 0);
        assert_eq!(wide.unknown_ms, wide.pot_ms);
    }
}
