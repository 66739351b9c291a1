//! A plant's shift calendar: named shifts with their breaks, in the plant's local time.
//!
//! Definitions:
//!
//! - A shift starts at `start` (local `HH:MM`) on each weekday of `days` and ends at `end`;
//!   `end <= start` means it ends the next day (a night shift), `end == start` is a 24 h
//!   shift. Its length is counted on the wall clock (22:00-06:00 is 8 h of wall clock, so
//!   7 h or 9 h of real time on a night when the clocks change).
//! - A break (local `HH:MM`-`HH:MM`) lies within its shift; in a night shift a break after
//!   midnight (02:00-02:30) belongs to the shift that started the evening before.
//! - A shift run is one occurrence of a shift: the local date it starts on and its start,
//!   end and breaks as UTC instants.
//!
//! Local times become UTC through chrono-tz: an ambiguous local time (the hour repeated
//! when the clocks go back) takes the earlier instant; a local time that does not exist (the
//! hour skipped when the clocks go forward) takes the first instant after the gap (02:30 on
//! a spring-forward night in Berlin is 03:00 CEST). Both are monotonic, so shifts that do
//! not overlap on the wall clock do not overlap in UTC either.
//!
//! Validation ([`ShiftCalendar::new`]) names every problem with its place
//! (`shifts[1].breaks[0].end: "25:00" is not a time HH:MM`). Bounds: at most
//! [`MAX_SHIFTS`] shifts, [`MAX_BREAKS`] breaks per shift (only that many are looked at in
//! detail), names of 1 to [`MAX_NAME_CHARS`] characters, and [`ShiftCalendar::runs`] over at
//! most [`MAX_SPAN_DAYS`] days between the years 1 and 9999. Minute arithmetic is on small
//! `i64`s that cannot overflow (all below 7 × 1440 × 3); date arithmetic is checked and an
//! occurrence that would leave chrono's range is skipped.

use crate::erp::calendar::WeekdayName;
use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// At most this many shifts in a calendar.
pub const MAX_SHIFTS: usize = 8;
/// At most this many breaks in a shift.
pub const MAX_BREAKS: usize = 8;
/// A shift's or a break's name has 1 to this many characters.
pub const MAX_NAME_CHARS: usize = 32;
/// [`ShiftCalendar::runs`] covers at most this many days.
pub const MAX_SPAN_DAYS: i64 = 400;

const DAY_MIN: i64 = 1440;
const WEEK_MIN: i64 = 7 * DAY_MIN;
/// The longest gap a time zone has skipped (Pacific/Apia skipped a whole day in 2011), with
/// room to spare: how far [`to_utc`] looks for the end of a gap.
const MAX_GAP_MIN: i64 = 26 * 60;

/// A shift calendar as it is configured and shown:
/// `{"time_zone": "Asia/Shanghai", "shifts": [{"name": "early", "start": "06:00", …}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftCalendarSpec {
    /// IANA time zone name, e.g. `"Asia/Shanghai"`.
    pub time_zone: String,
    pub shifts: Vec<ShiftSpec>,
    /// What the plant aims for; the OEE pages draw it beside the figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<OeeTargets>,
}

/// A plant's OEE targets, each a fraction in `(0, 1]` (0.85 is 85 %), each optional.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OeeTargets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oee: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effectiveness: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
}

impl OeeTargets {
    fn check(&self, errors: &mut Vec<String>) {
        for (name, value) in [
            ("oee", self.oee),
            ("availability", self.availability),
            ("effectiveness", self.effectiveness),
            ("quality", self.quality),
        ] {
            if let Some(v) = value
                && !(v > 0.0 && v <= 1.0)
            {
                errors.push(format!(
                    "targets.{name}: {v} is not a fraction in (0, 1]; write 85 % as 0.85"
                ));
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftSpec {
    pub name: String,
    /// Local `HH:MM`.
    pub start: String,
    /// Local `HH:MM`; `end <= start` means the next day, `end == start` is 24 h.
    pub end: String,
    /// The weekdays the shift starts on.
    pub days: Vec<WeekdayName>,
    #[serde(default)]
    pub breaks: Vec<BreakSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakSpec {
    pub name: String,
    /// Local `HH:MM`, within the shift (after midnight in a night shift is fine).
    pub start: String,
    /// Local `HH:MM`.
    pub end: String,
}

/// A half-open interval of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    /// The part of this span within `[from, to)`, `None` when nothing is left.
    pub fn clip(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Span> {
        let span = Span {
            from: self.from.max(from),
            to: self.to.min(to),
        };
        (span.from < span.to).then_some(span)
    }
}

/// One break of a shift run: its name (for the planned-downtime breakdown) and its time.
///
/// (The brief had `breaks: Vec<Span>`; the name is kept so that OEE can report planned
/// downtime as `break:<name>`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Break {
    pub fn span(&self) -> Span {
        Span {
            from: self.from,
            to: self.to,
        }
    }
}

/// One occurrence of a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShiftRun {
    pub shift: String,
    /// The local date it starts on.
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub breaks: Vec<Break>,
}

impl ShiftRun {
    pub fn span(&self) -> Span {
        Span {
            from: self.start,
            to: self.end,
        }
    }

    /// This run cut to `[from, to)`, breaks too (a break left empty is dropped); `None`
    /// when the run and the period do not overlap. What [`crate::mes::oee::Window`] wants.
    pub fn clipped(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<ShiftRun> {
        let span = self.span().clip(from, to)?;
        let breaks = self
            .breaks
            .iter()
            .filter_map(|b| {
                let s = b.span().clip(span.from, span.to)?;
                Some(Break {
                    name: b.name.clone(),
                    from: s.from,
                    to: s.to,
                })
            })
            .collect();
        Some(ShiftRun {
            shift: self.shift.clone(),
            date: self.date,
            start: span.from,
            end: span.to,
            breaks,
        })
    }
}

/// A validated shift calendar. Build it with [`ShiftCalendar::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftCalendar {
    spec: ShiftCalendarSpec,
    time_zone: Tz,
    shifts: Vec<Shift>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Shift {
    name: String,
    /// Minutes after local midnight, `0..1440`.
    start_min: i64,
    /// Wall-clock minutes, `1..=1440`.
    len_min: i64,
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [bool; 7],
    breaks: Vec<ShiftBreak>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ShiftBreak {
    name: String,
    /// Minutes after the shift's start, `0..len_min`.
    offset_min: i64,
    /// `1..=len_min - offset_min`.
    len_min: i64,
}

impl ShiftCalendar {
    /// Validates `spec`; the error lists every problem found, each with its place.
    pub fn new(spec: &ShiftCalendarSpec) -> Result<ShiftCalendar, Vec<String>> {
        let mut errors = Vec::new();
        let time_zone = match spec.time_zone.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(format!(
                    "time_zone: {} is not an IANA time zone name such as \"Asia/Shanghai\"",
                    quote(&spec.time_zone)
                ));
                None
            }
        };
        if spec.shifts.is_empty() {
            errors.push("shifts: there is no shift; expected at least one".to_string());
        }
        if spec.shifts.len() > MAX_SHIFTS {
            errors.push(format!(
                "shifts: {} shifts; at most {MAX_SHIFTS} (only the first {MAX_SHIFTS} were checked)",
                spec.shifts.len()
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        let mut shifts: Vec<(usize, Shift)> = Vec::new();
        for (i, shift) in spec.shifts.iter().take(MAX_SHIFTS).enumerate() {
            let at = format!("shifts[{i}]");
            check_name(&format!("{at}.name"), &shift.name, &mut errors);
            if let Some(j) = names.iter().position(|n| *n == shift.name) {
                errors.push(format!(
                    "{at}.name: {} is also the name of shifts[{j}]",
                    quote(&shift.name)
                ));
            }
            names.push(&shift.name);
            if let Some(parsed) = check_shift(&at, shift, &mut errors) {
                shifts.push((i, parsed));
            }
        }
        check_overlaps(&shifts, &mut errors);
        if let Some(targets) = &spec.targets {
            targets.check(&mut errors);
        }
        match time_zone {
            Some(time_zone) if errors.is_empty() => Ok(ShiftCalendar {
                spec: spec.clone(),
                time_zone,
                shifts: shifts.into_iter().map(|(_, s)| s).collect(),
            }),
            _ => Err(errors),
        }
    }

    /// The calendar as it was given.
    pub fn spec(&self) -> ShiftCalendarSpec {
        self.spec.clone()
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Every shift run that overlaps `[from, to)`, in start order (runs that start at the
    /// same instant in the calendar's order), not clipped. A run whose local start date
    /// `is_holiday` is left out. An error when `to` is before `from`, the period is longer
    /// than [`MAX_SPAN_DAYS`] days, or it leaves the years 1 to 9999.
    pub fn runs(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        is_holiday: impl Fn(NaiveDate) -> bool,
    ) -> Result<Vec<ShiftRun>, String> {
        if to < from {
            return Err(format!("the period ends ({to}) before it starts ({from})"));
        }
        for (what, at) in [("from", from), ("to", to)] {
            if !(1..=9999).contains(&at.year()) {
                return Err(format!(
                    "{what}: {at} is outside the years 1 to 9999 that shift runs cover"
                ));
            }
        }
        if to - from > TimeDelta::days(MAX_SPAN_DAYS) {
            return Err(format!(
                "the period is {} days long; at most {MAX_SPAN_DAYS} days",
                (to - from).num_days()
            ));
        }
        let mut runs = Vec::new();
        if to == from {
            return Ok(runs);
        }
        let tz = self.time_zone;
        let last = to.with_timezone(&tz).date_naive();
        let first = from.with_timezone(&tz).date_naive();
        // A run that started the day before `from` may still be going on.
        let mut date = first.pred_opt().unwrap_or(first);
        // Bounded: `last - date` is at most MAX_SPAN_DAYS + 2 days.
        loop {
            let day = date.weekday().num_days_from_monday() as usize;
            let starts_today = self
                .shifts
                .iter()
                .filter(|s| s.days.get(day).copied().unwrap_or(false));
            let mut holiday = None;
            for shift in starts_today {
                if *holiday.get_or_insert_with(|| is_holiday(date)) {
                    break;
                }
                if let Some(run) = occurrence(tz, shift, date)
                    && run.start < to
                    && run.end > from
                {
                    runs.push(run);
                }
            }
            if date >= last {
                break;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        // Stable: runs starting together keep the calendar's order.
        runs.sort_by_key(|r| r.start);
        Ok(runs)
    }

    /// The instant `minutes` of working time after `from`: time within a shift run and
    /// outside its breaks, counted once where shifts overlap, holidays left out. `None` when
    /// the calendar has less than that much working time in the [`MAX_WORKING_SEARCH_DAYS`]
    /// days after `from` (or leaves the years shift runs cover). What OA's reminders and
    /// escalations count on: "remind after 4 working hours" waits over the night and the
    /// weekend of the plant's calendar.
    pub fn working_after(
        &self,
        from: DateTime<Utc>,
        minutes: u32,
        is_holiday: impl Fn(NaiveDate) -> bool,
    ) -> Option<DateTime<Utc>> {
        let mut left = TimeDelta::minutes(i64::from(minutes));
        if left.is_zero() {
            return Some(from);
        }
        let mut cursor = from;
        let window = TimeDelta::days(WORKING_WINDOW_DAYS);
        let end = from.checked_add_signed(TimeDelta::days(MAX_WORKING_SEARCH_DAYS))?;
        while cursor < end {
            let to = cursor.checked_add_signed(window)?.min(end);
            let runs = self.runs(cursor, to, &is_holiday).ok()?;
            let mut spans: Vec<Span> = Vec::new();
            for run in &runs {
                let Some(run) = run.clipped(cursor, to) else {
                    continue;
                };
                // The run minus its breaks (breaks are within the run and do not overlap).
                let mut breaks: Vec<Span> = run.breaks.iter().map(Break::span).collect();
                breaks.sort_by_key(|b| b.from);
                let mut at = run.start;
                for b in breaks {
                    if b.from > at {
                        spans.push(Span {
                            from: at,
                            to: b.from,
                        });
                    }
                    at = at.max(b.to);
                }
                if run.end > at {
                    spans.push(Span {
                        from: at,
                        to: run.end,
                    });
                }
            }
            spans.sort_by_key(|s| s.from);
            // Merged, so overlapping shifts count once.
            let mut merged: Vec<Span> = Vec::new();
            for s in spans {
                match merged.last_mut() {
                    Some(last) if s.from <= last.to => last.to = last.to.max(s.to),
                    _ => merged.push(s),
                }
            }
            for s in merged {
                let len = s.to - s.from;
                if len >= left {
                    return s.from.checked_add_signed(left);
                }
                left -= len;
            }
            cursor = to;
        }
        None
    }
}

/// [`ShiftCalendar::working_after`] looks this many days ahead at most.
pub const MAX_WORKING_SEARCH_DAYS: i64 = 366;
/// … in windows of this many days (each within [`MAX_SPAN_DAYS`]).
const WORKING_WINDOW_DAYS: i64 = 14;

impl ShiftCalendarSpec {
    /// The calendar of a plant that has none: one 24-hour shift every day, in UTC.
    pub fn around_the_clock() -> ShiftCalendarSpec {
        use crate::erp::calendar::WeekdayName::*;
        ShiftCalendarSpec {
            time_zone: "UTC".into(),
            shifts: vec![ShiftSpec {
                name: "day".into(),
                start: "00:00".into(),
                end: "00:00".into(),
                days: vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun],
                breaks: Vec::new(),
            }],
            targets: None,
        }
    }
}

/// `"…"` for a message, cut to 40 characters.
fn quote(s: &str) -> String {
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("\"{cut}…\"")
    } else {
        format!("{s:?}")
    }
}

fn check_name(at: &str, name: &str, errors: &mut Vec<String>) {
    if name.trim().is_empty() {
        errors.push(format!("{at}: the name is empty"));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(format!(
            "{at}: {} has {} characters; at most {MAX_NAME_CHARS}",
            quote(name),
            name.chars().count()
        ));
    }
}

/// `"HH:MM"` as minutes after midnight, `0..1440`.
fn parse_hhmm(s: &str) -> Option<i64> {
    let [h1, h2, b':', m1, m2] = s.as_bytes() else {
        return None;
    };
    let digit = |b: &u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
    let hours = digit(h1)? * 10 + digit(h2)?;
    let minutes = digit(m1)? * 10 + digit(m2)?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

fn time(at: &str, s: &str, errors: &mut Vec<String>) -> Option<i64> {
    let parsed = parse_hhmm(s);
    if parsed.is_none() {
        errors.push(format!(
            "{at}: {} is not a time HH:MM (00:00 to 23:59)",
            quote(s)
        ));
    }
    parsed
}

fn hhmm(min: i64) -> String {
    let min = min.rem_euclid(DAY_MIN);
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn check_shift(at: &str, spec: &ShiftSpec, errors: &mut Vec<String>) -> Option<Shift> {
    let start = time(&format!("{at}.start"), &spec.start, errors);
    let end = time(&format!("{at}.end"), &spec.end, errors);
    let mut days = [false; 7];
    if spec.days.is_empty() {
        errors.push(format!(
            "{at}.days: no weekday; expected at least one of mon..sun"
        ));
    }
    for (k, day) in spec.days.iter().enumerate() {
        let index = day.weekday().num_days_from_monday() as usize;
        if let Some(seen) = days.get_mut(index) {
            if *seen {
                errors.push(format!(
                    "{at}.days[{k}]: {} is listed twice",
                    weekday_name(index)
                ));
            }
            *seen = true;
        }
    }
    if spec.breaks.len() > MAX_BREAKS {
        errors.push(format!(
            "{at}.breaks: {} breaks; at most {MAX_BREAKS} (only the first {MAX_BREAKS} were checked)",
            spec.breaks.len()
        ));
    }
    let span = match (start, end) {
        (Some(start), Some(end)) => {
            let len = (end - start).rem_euclid(DAY_MIN);
            Some((start, if len == 0 { DAY_MIN } else { len }))
        }
        _ => None,
    };
    let mut breaks: Vec<(usize, ShiftBreak)> = Vec::new();
    let mut breaks_ok = true;
    for (k, b) in spec.breaks.iter().take(MAX_BREAKS).enumerate() {
        let bat = format!("{at}.breaks[{k}]");
        check_name(&format!("{bat}.name"), &b.name, errors);
        let bstart = time(&format!("{bat}.start"), &b.start, errors);
        let bend = time(&format!("{bat}.end"), &b.end, errors);
        let (Some(bstart), Some(bend), Some((start, len))) = (bstart, bend, span) else {
            breaks_ok = false;
            continue;
        };
        if bstart == bend {
            errors.push(format!(
                "{bat}: starts and ends at {}; a break needs a length",
                b.start
            ));
            breaks_ok = false;
            continue;
        }
        let offset = (bstart - start).rem_euclid(DAY_MIN);
        let mut end_offset = (bend - start).rem_euclid(DAY_MIN);
        if end_offset == 0 {
            end_offset = DAY_MIN;
        }
        if offset >= end_offset || end_offset > len {
            errors.push(format!(
                "{bat}: {}-{} does not lie within the shift {}-{}",
                b.start,
                b.end,
                hhmm(start),
                hhmm(start + len)
            ));
            breaks_ok = false;
            continue;
        }
        breaks.push((
            k,
            ShiftBreak {
                name: b.name.clone(),
                offset_min: offset,
                len_min: end_offset - offset,
            },
        ));
    }
    breaks.sort_by_key(|(_, b)| b.offset_min);
    // Sorted by start: a break overlaps an earlier one when it starts before the latest end.
    let mut latest: Option<(usize, i64)> = None;
    for (k, b) in &breaks {
        if let Some((j, end)) = latest
            && b.offset_min < end
        {
            let (first, second) = if j < *k { (j, *k) } else { (*k, j) };
            errors.push(format!(
                "{at}.breaks[{second}]: overlaps {at}.breaks[{first}]"
            ));
            breaks_ok = false;
        }
        let end = b.offset_min + b.len_min;
        if latest.is_none_or(|(_, e)| end > e) {
            latest = Some((*k, end));
        }
    }
    let (start_min, len_min) = span?;
    if spec.days.is_empty() || !breaks_ok {
        return None;
    }
    Some(Shift {
        name: spec.name.clone(),
        start_min,
        len_min,
        days,
        breaks: breaks.into_iter().map(|(_, b)| b).collect(),
    })
}

fn weekday_name(index: usize) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .get(index)
        .copied()
        .unwrap_or("?")
}

/// Two shifts overlap when some occurrences of theirs share a minute of the week, the week
/// read as a circle (a Sunday night shift runs into Monday). One message per pair, naming
/// the first weekday and local time of the overlap.
fn check_overlaps(shifts: &[(usize, Shift)], errors: &mut Vec<String>) {
    for (n, (i, a)) in shifts.iter().enumerate() {
        for (j, b) in shifts.iter().skip(n + 1) {
            let mut first: Option<i64> = None;
            for (da, _) in a.days.iter().enumerate().filter(|(_, on)| **on) {
                for (db, _) in b.days.iter().enumerate().filter(|(_, on)| **on) {
                    let a0 = da as i64 * DAY_MIN + a.start_min;
                    let a1 = a0 + a.len_min;
                    for wrap in [-WEEK_MIN, 0, WEEK_MIN] {
                        let b0 = db as i64 * DAY_MIN + b.start_min + wrap;
                        let b1 = b0 + b.len_min;
                        if b0 < a1 && a0 < b1 {
                            let at = a0.max(b0).rem_euclid(WEEK_MIN);
                            first = Some(first.map_or(at, |f| f.min(at)));
                        }
                    }
                }
            }
            if let Some(at) = first {
                errors.push(format!(
                    "shifts[{j}]: {} overlaps shifts[{i}] ({}) on {} from {}",
                    quote(&b.name),
                    quote(&a.name),
                    weekday_name((at / DAY_MIN) as usize),
                    hhmm(at)
                ));
            }
        }
    }
}

fn local_at(date: NaiveDate, minutes: i64) -> Option<NaiveDateTime> {
    date.and_time(NaiveTime::MIN)
        .checked_add_signed(TimeDelta::try_minutes(minutes)?)
}

fn occurrence(tz: Tz, shift: &Shift, date: NaiveDate) -> Option<ShiftRun> {
    let start = local_at(date, shift.start_min)?;
    let end = local_at(date, shift.start_min + shift.len_min)?;
    let mut breaks = Vec::with_capacity(shift.breaks.len());
    for b in &shift.breaks {
        let from = local_at(date, shift.start_min + b.offset_min)?;
        let to = local_at(date, shift.start_min + b.offset_min + b.len_min)?;
        breaks.push(Break {
            name: b.name.clone(),
            from: to_utc(tz, from)?,
            to: to_utc(tz, to)?,
        });
    }
    Some(ShiftRun {
        shift: shift.name.clone(),
        date,
        start: to_utc(tz, start)?,
        end: to_utc(tz, end)?,
        breaks,
    })
}

/// A local time as a UTC instant: ambiguous → the earlier instant; in a gap → the first
/// instant after the gap. `None` only at the ends of chrono's range.
fn to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => after_gap(tz, local),
    }
}

/// The first instant whose local time is at or after `local`, which lies in a gap: the
/// first valid whole minute after it, then back second by second in case the gap ended
/// between two whole minutes (old local mean times had odd offsets).
fn after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut minute = local;
    for _ in 0..MAX_GAP_MIN {
        minute = minute.checked_add_signed(TimeDelta::minutes(1))?;
        let found = match tz.from_local_datetime(&minute) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(a, b) => a.min(b),
            LocalResult::None => continue,
        };
        let mut instant = found.with_timezone(&Utc);
        for _ in 0..60 {
            match instant.checked_sub_signed(TimeDelta::seconds(1)) {
                Some(before) if before.with_timezone(&tz).naive_local() >= local => {
                    instant = before
                }
                _ => break,
            }
        }
        return Some(instant);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn brk(name: &str, start: &str, end: &str) -> BreakSpec {
        BreakSpec {
            name: name.into(),
            start: start.into(),
            end: end.into(),
        }
    }

    fn shift(name: &str, start: &str, end: &str, breaks: Vec<BreakSpec>) -> ShiftSpec {
        use WeekdayName::*;
        ShiftSpec {
            name: name.into(),
            start: start.into(),
            end: end.into(),
            days: vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun],
            breaks,
        }
    }

    /// Asia/Shanghai (UTC+8, no DST), three shifts every day.
    fn three_shifts(tz: &str) -> ShiftCalendarSpec {
        ShiftCalendarSpec {
            time_zone: tz.into(),
            shifts: vec![
                shift(
                    "early",
                    "06:00",
                    "14:00",
                    vec![brk("lunch", "10:00", "10:30")],
                ),
                shift(
                    "late",
                    "14:00",
                    "22:00",
                    vec![brk("dinner", "18:00", "18:30")],
                ),
                shift(
                    "night",
                    "22:00",
                    "06:00",
                    vec![brk("night", "02:00", "02:30")],
                ),
            ],
            targets: None,
        }
    }

    #[test]
    fn shanghai_three_shifts_night_crosses_midnight() {
        let calendar = ShiftCalendar::new(&three_shifts("Asia/Shanghai")).unwrap();
        // 2026-03-02 00:00 to 24:00 Shanghai = 2026-03-01T16:00Z to 2026-03-02T16:00Z.
        let runs = calendar
            .runs(
                utc("2026-03-01T16:00:00Z"),
                utc("2026-03-02T16:00:00Z"),
                |_| false,
            )
            .unwrap();
        let got: Vec<(&str, NaiveDate, DateTime<Utc>, DateTime<Utc>)> = runs
            .iter()
            .map(|r| (r.shift.as_str(), r.date, r.start, r.end))
            .collect();
        assert_eq!(
            got,
            vec![
                // Sunday's night shift, 22:00 (14:00Z) to Monday 06:00 (22:00Z), is still
                // going at Monday 00:00: it overlaps, unclipped.
                (
                    "night",
                    date("2026-03-01"),
                    utc("2026-03-01T14:00:00Z"),
                    utc("2026-03-01T22:00:00Z")
                ),
                (
                    "early",
                    date("2026-03-02"),
                    utc("2026-03-01T22:00:00Z"),
                    utc("2026-03-02T06:00:00Z")
                ),
                (
                    "late",
                    date("2026-03-02"),
                    utc("2026-03-02T06:00:00Z"),
                    utc("2026-03-02T14:00:00Z")
                ),
                (
                    "night",
                    date("2026-03-02"),
                    utc("2026-03-02T14:00:00Z"),
                    utc("2026-03-02T22:00:00Z")
                ),
            ]
        );
        // Monday's night break is 02:00-02:30 on Tuesday local = 18:00Z-18:30Z Monday.
        assert_eq!(
            runs[3].breaks,
            vec![Break {
                name: "night".into(),
                from: utc("2026-03-02T18:00:00Z"),
                to: utc("2026-03-02T18:30:00Z"),
            }]
        );
        // Early lunch 10:00 local = 02:00Z.
        assert_eq!(runs[1].breaks[0].from, utc("2026-03-02T02:00:00Z"));
        // Clipped to Monday: Sunday's night run keeps 16:00Z (Monday 00:00 local) to its end,
        // 22:00Z (Monday 06:00 local), and its break (Monday 02:00-02:30 local = Sunday
        // 18:00Z-18:30Z) survives.
        let clipped = runs[0]
            .clipped(utc("2026-03-01T16:00:00Z"), utc("2026-03-02T16:00:00Z"))
            .unwrap();
        assert_eq!(clipped.start, utc("2026-03-01T16:00:00Z"));
        assert_eq!(clipped.end, utc("2026-03-01T22:00:00Z"));
        assert_eq!(clipped.breaks.len(), 1);
    }

    #[test]
    fn a_holiday_drops_the_runs_that_start_on_it() {
        let calendar = ShiftCalendar::new(&three_shifts("Asia/Shanghai")).unwrap();
        let runs = calendar
            .runs(
                utc("2026-03-01T16:00:00Z"),
                utc("2026-03-02T16:00:00Z"),
                |d| d == date("2026-03-02"),
            )
            .unwrap();
        // Only Sunday's night shift, which started before the holiday, is left.
        let names: Vec<(&str, NaiveDate)> =
            runs.iter().map(|r| (r.shift.as_str(), r.date)).collect();
        assert_eq!(names, vec![("night", date("2026-03-01"))]);
    }

    #[test]
    fn weekdays_are_the_days_a_shift_starts_on() {
        let mut spec = three_shifts("Asia/Shanghai");
        for s in &mut spec.shifts {
            s.days = vec![WeekdayName::Mon];
        }
        let calendar = ShiftCalendar::new(&spec).unwrap();
        // Monday 2026-03-02 00:00 local to Wednesday 00:00 local.
        let runs = calendar
            .runs(
                utc("2026-03-01T16:00:00Z"),
                utc("2026-03-03T16:00:00Z"),
                |_| false,
            )
            .unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.shift.as_str()).collect();
        // Monday's night runs into Tuesday; nothing starts on Tuesday or on the Sunday before.
        assert_eq!(names, vec!["early", "late", "night"]);
    }

    #[test]
    fn berlin_night_shift_is_seven_or_nine_hours_when_the_clocks_change() {
        let calendar = ShiftCalendar::new(&three_shifts("Europe/Berlin")).unwrap();
        let night = |from: &str, to: &str| {
            calendar
                .runs(utc(from), utc(to), |_| false)
                .unwrap()
                .into_iter()
                .find(|r| r.shift == "night")
                .unwrap()
        };
        // Spring forward, Sunday 2026-03-29 02:00 CET -> 03:00 CEST. Saturday's night:
        // 22:00 CET = 21:00Z to 06:00 CEST = 04:00Z: 7 h. Its 02:00-02:30 break does not
        // exist on the clock: both ends take the first instant after the gap, 03:00 CEST
        // = 01:00Z, so the break is empty.
        let run = night("2026-03-28T20:30:00Z", "2026-03-28T21:30:00Z");
        assert_eq!(run.date, date("2026-03-28"));
        assert_eq!(run.start, utc("2026-03-28T21:00:00Z"));
        assert_eq!(run.end, utc("2026-03-29T04:00:00Z"));
        assert_eq!((run.end - run.start).num_hours(), 7);
        assert_eq!(run.breaks[0].from, utc("2026-03-29T01:00:00Z"));
        assert_eq!(run.breaks[0].to, utc("2026-03-29T01:00:00Z"));
        // Fall back, Sunday 2026-10-25 03:00 CEST -> 02:00 CET. Saturday's night:
        // 22:00 CEST = 20:00Z to 06:00 CET = 05:00Z: 9 h. The 02:00-02:30 break is
        // ambiguous: the earlier instants, 02:00 CEST = 00:00Z to 00:30Z.
        let run = night("2026-10-24T19:30:00Z", "2026-10-24T20:30:00Z");
        assert_eq!(run.start, utc("2026-10-24T20:00:00Z"));
        assert_eq!(run.end, utc("2026-10-25T05:00:00Z"));
        assert_eq!((run.end - run.start).num_hours(), 9);
        assert_eq!(run.breaks[0].from, utc("2026-10-25T00:00:00Z"));
        assert_eq!(run.breaks[0].to, utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn a_shift_starting_in_the_gap_starts_when_the_gap_ends() {
        let spec = ShiftCalendarSpec {
            time_zone: "Europe/Berlin".into(),
            shifts: vec![shift("odd", "02:30", "04:00", vec![])],
            targets: None,
        };
        let calendar = ShiftCalendar::new(&spec).unwrap();
        let runs = calendar
            .runs(
                utc("2026-03-28T23:00:00Z"),
                utc("2026-03-29T23:00:00Z"),
                |_| false,
            )
            .unwrap();
        // 02:30 does not exist on 2026-03-29: 03:00 CEST = 01:00Z; 04:00 CEST = 02:00Z.
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].start, utc("2026-03-29T01:00:00Z"));
        assert_eq!(runs[0].end, utc("2026-03-29T02:00:00Z"));
    }

    #[test]
    fn runs_are_bounded() {
        let calendar = ShiftCalendar::new(&three_shifts("Asia/Shanghai")).unwrap();
        let from = utc("2026-01-01T00:00:00Z");
        let err = calendar
            .runs(from, from + TimeDelta::days(401), |_| false)
            .unwrap_err();
        assert_eq!(err, "the period is 401 days long; at most 400 days");
        assert!(
            calendar
                .runs(from, from - TimeDelta::seconds(1), |_| false)
                .is_err()
        );
        assert!(
            calendar
                .runs(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC, |_| {
                    false
                })
                .is_err()
        );
        assert_eq!(calendar.runs(from, from, |_| false), Ok(vec![]));
        let year = calendar
            .runs(from, from + TimeDelta::days(400), |_| false)
            .unwrap();
        // `from` is 2026-01-01 08:00 local, `to` 2027-02-05 08:00 local: three runs on each
        // of the 400 days from 2026-01-01 to 2027-02-04 (the 2025-12-31 night ended at 06:00),
        // plus the early run of 2027-02-05, begun at 06:00.
        assert_eq!(year.len(), 400 * 3 + 1);
    }

    #[test]
    fn spec_round_trips_and_deserializes_strictly() {
        let spec = three_shifts("Asia/Shanghai");
        let calendar = ShiftCalendar::new(&spec).unwrap();
        assert_eq!(calendar.spec(), spec);
        assert_eq!(calendar.time_zone(), chrono_tz::Asia::Shanghai);
        let json = r#"{"time_zone": "UTC", "shifts": [{"name": "day", "start": "08:00",
            "end": "16:00", "days": ["mon", "fri"]}]}"#;
        let parsed: ShiftCalendarSpec = serde_json::from_str(json).unwrap();
        assert!(parsed.shifts[0].breaks.is_empty());
        assert!(ShiftCalendar::new(&parsed).is_ok());
        let unknown = r#"{"time_zone": "UTC", "shifts": [], "extra": 1}"#;
        assert!(serde_json::from_str::<ShiftCalendarSpec>(unknown).is_err());
    }

    #[test]
    fn targets_are_fractions_and_each_wrong_one_is_named() {
        let mut spec = three_shifts("UTC");
        spec.targets = Some(OeeTargets {
            oee: Some(0.85),
            quality: Some(1.0),
            ..OeeTargets::default()
        });
        let calendar = ShiftCalendar::new(&spec).unwrap();
        assert_eq!(calendar.spec().targets, spec.targets);
        spec.targets = Some(OeeTargets {
            oee: Some(85.0),
            availability: Some(0.0),
            effectiveness: Some(f64::NAN),
            quality: Some(0.99),
        });
        let errors = ShiftCalendar::new(&spec).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("targets.oee: 85 "), "{errors:?}");
        assert!(errors[1].starts_with("targets.availability"), "{errors:?}");
        assert!(errors[2].starts_with("targets.effectiveness"), "{errors:?}");
        let json = r#"{"time_zone": "UTC", "shifts": [], "targets": {"oee": 0.8, "x": 1}}"#;
        assert!(serde_json::from_str::<ShiftCalendarSpec>(json).is_err());
    }

    #[test]
    fn validation_names_every_problem() {
        use WeekdayName::*;
        let spec = ShiftCalendarSpec {
            time_zone: "Mars/Olympus".into(),
            shifts: vec![
                ShiftSpec {
                    name: "early".into(),
                    start: "06:00".into(),
                    end: "14:00".into(),
                    days: vec![Mon, Tue, Mon],
                    breaks: vec![
                        brk("lunch", "10:00", "10:30"),
                        brk("tea", "10:15", "10:45"),
                        brk("", "15:00", "15:30"),
                        brk("x", "09:00", "25:00"),
                        brk("same", "09:00", "09:00"),
                    ],
                },
                ShiftSpec {
                    name: "early".into(),
                    start: "6:00".into(),
                    end: "14:00".into(),
                    days: vec![],
                    breaks: vec![],
                },
                // Sunday's night runs to Monday 06:00 and meets Monday's 05:00 start.
                ShiftSpec {
                    name: "n".repeat(33),
                    start: "22:00".into(),
                    end: "06:00".into(),
                    days: vec![Sun],
                    breaks: vec![brk("night", "02:00", "02:30")],
                },
                ShiftSpec {
                    name: "dawn".into(),
                    start: "05:00".into(),
                    end: "05:30".into(),
                    days: vec![Mon],
                    breaks: vec![],
                },
            ],
            targets: None,
        };
        let errors = ShiftCalendar::new(&spec).unwrap_err();
        let long = format!("\"{}\"", "n".repeat(33));
        assert_eq!(
            errors,
            vec![
                "time_zone: \"Mars/Olympus\" is not an IANA time zone name such as \"Asia/Shanghai\"".to_string(),
                "shifts[0].days[2]: mon is listed twice".into(),
                "shifts[0].breaks[2].name: the name is empty".into(),
                "shifts[0].breaks[2]: 15:00-15:30 does not lie within the shift 06:00-14:00".into(),
                "shifts[0].breaks[3].end: \"25:00\" is not a time HH:MM (00:00 to 23:59)".into(),
                "shifts[0].breaks[4]: starts and ends at 09:00; a break needs a length".into(),
                "shifts[0].breaks[1]: overlaps shifts[0].breaks[0]".into(),
                "shifts[1].name: \"early\" is also the name of shifts[0]".into(),
                "shifts[1].start: \"6:00\" is not a time HH:MM (00:00 to 23:59)".into(),
                "shifts[1].days: no weekday; expected at least one of mon..sun".into(),
                format!("shifts[2].name: {long} has 33 characters; at most 32"),
                format!("shifts[3]: \"dawn\" overlaps shifts[2] ({long}) on mon from 05:00"),
            ]
        );
    }

    #[test]
    fn night_shift_spilling_into_next_days_early_shift_is_an_overlap() {
        let mut spec = three_shifts("Asia/Shanghai");
        spec.shifts[2].end = "06:30".into();
        let errors = ShiftCalendar::new(&spec).unwrap_err();
        // Each day's night overlaps the next day's early shift; Monday 06:00 comes first.
        assert_eq!(
            errors,
            vec!["shifts[2]: \"night\" overlaps shifts[0] (\"early\") on mon from 06:00"]
        );
    }

    #[test]
    fn too_many_shifts_and_breaks() {
        let mut spec = ShiftCalendarSpec {
            time_zone: "UTC".into(),
            shifts: (0..9)
                .map(|i| {
                    let mut s = shift(&format!("s{i}"), "00:00", "00:00", vec![]);
                    s.days = vec![WeekdayName::Mon];
                    s
                })
                .collect(),
            targets: None,
        };
        spec.shifts[0].breaks = (0..9)
            .map(|i| brk(&format!("b{i}"), &format!("0{i}:00"), &format!("0{i}:30")))
            .collect();
        let errors = ShiftCalendar::new(&spec).unwrap_err();
        assert_eq!(
            errors[0],
            "shifts: 9 shifts; at most 8 (only the first 8 were checked)"
        );
        assert_eq!(
            errors[1],
            "shifts[0].breaks: 9 breaks; at most 8 (only the first 8 were checked)"
        );
        // Eight 24 h shifts on Monday overlap pairwise: 8 × 7 / 2 = 28 messages.
        assert_eq!(errors.len(), 2 + 28);
    }

    #[test]
    fn twenty_four_hour_shift_and_break_after_midnight() {
        let spec = ShiftCalendarSpec {
            time_zone: "UTC".into(),
            shifts: vec![ShiftSpec {
                name: "all day".into(),
                start: "06:00".into(),
                end: "06:00".into(),
                days: vec![WeekdayName::Mon],
                breaks: vec![brk("late", "23:50", "00:10"), brk("end", "05:30", "06:00")],
            }],
            targets: None,
        };
        let calendar = ShiftCalendar::new(&spec).unwrap();
        // 2026-03-02 is a Monday.
        let runs = calendar
            .runs(
                utc("2026-03-02T00:00:00Z"),
                utc("2026-03-03T00:00:00Z"),
                |_| false,
            )
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].end, utc("2026-03-03T06:00:00Z"));
        assert_eq!(runs[0].breaks[0].from, utc("2026-03-02T23:50:00Z"));
        assert_eq!(runs[0].breaks[0].to, utc("2026-03-03T00:10:00Z"));
        assert_eq!(runs[0].breaks[1].to, utc("2026-03-03T06:00:00Z"));
    }

    #[test]
    fn parse_hhmm_edges() {
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        for bad in [
            "24:00", "12:60", "1:00", "12:5", "12-00", "", "１2:00", "12:00 ",
        ] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }

    /// An office week in Shanghai: 08:30-17:30 Monday to Friday, lunch 12:00-13:00.
    fn office() -> ShiftCalendar {
        use WeekdayName::*;
        ShiftCalendar::new(&ShiftCalendarSpec {
            time_zone: "Asia/Shanghai".into(),
            shifts: vec![ShiftSpec {
                name: "office".into(),
                start: "08:30".into(),
                end: "17:30".into(),
                days: vec![Mon, Tue, Wed, Thu, Fri],
                breaks: vec![brk("lunch", "12:00", "13:00")],
            }],
            targets: None,
        })
        .unwrap()
    }

    #[test]
    fn working_time_skips_breaks_nights_weekends_and_holidays() {
        let cal = office();
        let none = |_: NaiveDate| false;
        // Friday 2027-03-05 16:00 local (08:00 UTC): 1.5 h left that day, then Monday.
        let friday_4pm = utc("2027-03-05T08:00:00Z");
        assert_eq!(
            cal.working_after(friday_4pm, 60, none),
            Some(utc("2027-03-05T09:00:00Z"))
        );
        // 4 h: 1.5 h on Friday, then Monday 08:30 + 2.5 h = 11:00 local (03:00 UTC).
        assert_eq!(
            cal.working_after(friday_4pm, 240, none),
            Some(utc("2027-03-08T03:00:00Z"))
        );
        // Monday 11:30 local + 1 h: 30 min before lunch, 30 min after it = 13:30 local.
        assert_eq!(
            cal.working_after(utc("2027-03-08T03:30:00Z"), 60, none),
            Some(utc("2027-03-08T05:30:00Z"))
        );
        // Starting in the lunch break counts from 13:00.
        assert_eq!(
            cal.working_after(utc("2027-03-08T04:10:00Z"), 30, none),
            Some(utc("2027-03-08T05:30:00Z"))
        );
        // Monday a holiday: Friday's 1.5 h, then Tuesday.
        let holiday = |d: NaiveDate| d == date("2027-03-08");
        assert_eq!(
            cal.working_after(friday_4pm, 240, holiday),
            Some(utc("2027-03-09T03:00:00Z"))
        );
        // Zero minutes is now; a week of 40 working hours ends the next Friday's evening.
        assert_eq!(cal.working_after(friday_4pm, 0, none), Some(friday_4pm));
        assert_eq!(
            cal.working_after(utc("2027-03-08T00:30:00Z"), 40 * 60, none),
            Some(utc("2027-03-12T09:30:00Z"))
        );
    }

    #[test]
    fn working_time_that_never_comes_is_none() {
        let cal = office();
        // Every day a holiday: no working time within the search.
        assert_eq!(
            cal.working_after(utc("2027-03-05T08:00:00Z"), 60, |_| true),
            None
        );
        // Around the clock, wall time.
        let always = ShiftCalendar::new(&ShiftCalendarSpec::around_the_clock()).unwrap();
        assert_eq!(
            always.working_after(utc("2027-03-05T08:00:00Z"), 90, |_| false),
            Some(utc("2027-03-05T09:30:00Z"))
        );
        // Near the end of the years shift runs cover: none, not a panic.
        assert_eq!(
            always.working_after(utc("9999-12-31T00:00:00Z"), 48 * 60, |_| false),
            None
        );
    }
}
