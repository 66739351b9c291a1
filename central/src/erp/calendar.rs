//! The plant's working calendar: which weekdays are worked (Monday to Friday by default) and
//! which dates are holidays. MRP offsets lead times on it.
//!
//! No I/O; every walk is bounded (a calendar has at least one working weekday and finitely
//! many holidays, so a working day is always within `7 + holidays` days), and a walk off the
//! end of the date range is `None`, never a panic.

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A working calendar. Build it with [`Calendar::new`] or take [`Calendar::default`]
/// (Monday to Friday, no holidays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Indexed by `Weekday::num_days_from_monday`.
    working: [bool; 7],
    holidays: HashSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            working: [true, true, true, true, true, false, false],
            holidays: HashSet::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the calendar has no working weekday; expected at least one of mon..sun")]
    NoWorkingDay,
}

/// The calendar as the API shows and takes it:
/// `{"working_days": ["mon", …], "holidays": ["2025-12-25", …]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    pub working_days: Vec<WeekdayName>,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// A weekday as three lowercase letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl WeekdayName {
    pub fn weekday(self) -> Weekday {
        match self {
            WeekdayName::Mon => Weekday::Mon,
            WeekdayName::Tue => Weekday::Tue,
            WeekdayName::Wed => Weekday::Wed,
            WeekdayName::Thu => Weekday::Thu,
            WeekdayName::Fri => Weekday::Fri,
            WeekdayName::Sat => Weekday::Sat,
            WeekdayName::Sun => Weekday::Sun,
        }
    }

    const ALL: [WeekdayName; 7] = [
        WeekdayName::Mon,
        WeekdayName::Tue,
        WeekdayName::Wed,
        WeekdayName::Thu,
        WeekdayName::Fri,
        WeekdayName::Sat,
        WeekdayName::Sun,
    ];
}

impl Default for CalendarSpec {
    fn default() -> Self {
        Calendar::default().spec()
    }
}

impl Calendar {
    pub fn new(
        working_days: impl IntoIterator<Item = Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Calendar, CalendarError> {
        let mut working = [false; 7];
        for day in working_days {
            working[day.num_days_from_monday() as usize] = true;
        }
        if !working.contains(&true) {
            return Err(CalendarError::NoWorkingDay);
        }
        Ok(Calendar {
            working,
            holidays: holidays.into_iter().collect(),
        })
    }

    pub fn from_spec(spec: &CalendarSpec) -> Result<Calendar, CalendarError> {
        Calendar::new(
            spec.working_days.iter().map(|d| d.weekday()),
            spec.holidays.iter().copied(),
        )
    }

    /// Working days in weekday order, holidays ascending.
    pub fn spec(&self) -> CalendarSpec {
        let mut holidays: Vec<NaiveDate> = self.holidays.iter().copied().collect();
        holidays.sort_unstable();
        CalendarSpec {
            working_days: WeekdayName::ALL
                .into_iter()
                .filter(|d| self.working[d.weekday().num_days_from_monday() as usize])
                .collect(),
            holidays,
        }
    }

    pub fn is_working(&self, date: NaiveDate) -> bool {
        self.working[date.weekday().num_days_from_monday() as usize]
            && (self.holidays.is_empty() || !self.holidays.contains(&date))
    }

    /// `date` if it is a working day, else the working day before it.
    pub fn on_or_before(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut d = date;
        while !self.is_working(d) {
            d = d.pred_opt()?;
        }
        Some(d)
    }

    /// The working day `n` working days before `date` (from the working day on or before
    /// `date`): with Monday to Friday, 2 working days before Tuesday is the Friday before.
    pub fn sub_working_days(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut d = self.on_or_before(date)?;
        for _ in 0..n {
            d = self.on_or_before(d.pred_opt()?)?;
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn monday_to_friday_skips_the_weekend() {
        let cal = Calendar::default();
        // 2025-01-06 is a Monday.
        assert_eq!(
            cal.sub_working_days(date("2025-01-07"), 2),
            Some(date("2025-01-03"))
        );
        assert_eq!(
            cal.sub_working_days(date("2025-01-06"), 0),
            Some(date("2025-01-06"))
        );
        // A Saturday is moved to the Friday before, then offset.
        assert_eq!(
            cal.on_or_before(date("2025-01-11")),
            Some(date("2025-01-10"))
        );
        assert_eq!(
            cal.sub_working_days(date("2025-01-11"), 1),
            Some(date("2025-01-09"))
        );
    }

    #[test]
    fn holidays_are_skipped() {
        let cal = Calendar::new(
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            [date("2025-01-03")],
        )
        .unwrap();
        // Tue 7th, 2 working days back: Mon 6th, then (Sat, Sun, holiday Fri 3rd) Thu 2nd.
        assert_eq!(
            cal.sub_working_days(date("2025-01-07"), 2),
            Some(date("2025-01-02"))
        );
    }

    #[test]
    fn a_calendar_needs_a_working_day_and_never_walks_off_the_range() {
        assert_eq!(
            Calendar::new([], []).unwrap_err(),
            CalendarError::NoWorkingDay
        );
        let cal = Calendar::new([Weekday::Wed], []).unwrap();
        assert_eq!(cal.sub_working_days(NaiveDate::MIN, 3), None);
    }

    #[test]
    fn spec_round_trips() {
        let spec: CalendarSpec = serde_json::from_value(serde_json::json!({
            "working_days": ["mon", "tue", "sat"], "holidays": ["2025-12-25"]
        }))
        .unwrap();
        let cal = Calendar::from_spec(&spec).unwrap();
        assert_eq!(cal.spec(), spec);
        assert_eq!(Calendar::default().spec().working_days.len(), 5);
    }
}
