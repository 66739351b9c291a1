//! Pareto ranking: which few keys (loss reasons, defect codes, stations) make most of a total.
//!
//! Definitions: values with equal keys are summed (saturating at `i64::MAX`); keys whose
//! sum is zero or negative are dropped (a Pareto chart ranks contributions, and a negative
//! one has no share); the rest are sorted by value, largest first, ties by key ascending.
//! `share` is value / total and `cumulative` the running sum of shares, both in `0..=1`;
//! the last row's `cumulative` is exactly `1.0` (set, not summed, so rounding cannot leave
//! it at 0.9999…). The total is summed in `i128`, so it cannot overflow.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParetoRow {
    pub key: String,
    pub value: i64,
    pub share: f64,
    pub cumulative: f64,
}

/// The rows of a Pareto chart of `values`; see the module doc.
pub fn pareto(values: impl IntoIterator<Item = (String, i64)>) -> Vec<ParetoRow> {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for (key, value) in values {
        let sum = sums.entry(key).or_insert(0);
        *sum = sum.saturating_add(value);
    }
    let mut rows: Vec<(String, i64)> = sums.into_iter().filter(|(_, v)| *v > 0).collect();
    // Keys come sorted from the map; a stable sort by value keeps ties in key order.
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    let total: i128 = rows.iter().map(|(_, v)| i128::from(*v)).sum();
    let last = rows.len().saturating_sub(1);
    let mut running: i128 = 0;
    rows.into_iter()
        .enumerate()
        .map(|(i, (key, value))| {
            running += i128::from(value);
            let cumulative = if i == last {
                1.0
            } else {
                (running as f64 / total as f64).min(1.0)
            };
            ParetoRow {
                key,
                value,
                share: value as f64 / total as f64,
                cumulative,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, value: i64, share: f64, cumulative: f64) -> ParetoRow {
        ParetoRow {
            key: key.into(),
            value,
            share,
            cumulative,
        }
    }

    #[test]
    fn ranks_sums_and_drops() {
        let rows = pareto([
            ("jam".to_string(), 30),
            ("no material".to_string(), 50),
            ("jam".to_string(), 20),
            ("tool".to_string(), 0),
            ("operator".to_string(), -5),
            ("cleaning".to_string(), 25),
            ("blocked".to_string(), 25),
        ]);
        // jam 50, no material 50, blocked 25, cleaning 25; total 150.
        assert_eq!(
            rows,
            vec![
                row("jam", 50, 50.0 / 150.0, 50.0 / 150.0),
                row("no material", 50, 50.0 / 150.0, 100.0 / 150.0),
                row("blocked", 25, 25.0 / 150.0, 125.0 / 150.0),
                row("cleaning", 25, 25.0 / 150.0, 1.0),
            ]
        );
    }

    #[test]
    fn last_cumulative_is_exactly_one() {
        // Thirds do not add up to 1.0 in floating point; the last row is set to 1.0.
        let rows = pareto((0..10).map(|i| (format!("k{i}"), 1)));
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.last().map(|r| r.cumulative), Some(1.0));
        assert!(rows.windows(2).all(|w| w[0].cumulative <= w[1].cumulative));
        assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r.cumulative)));
    }

    #[test]
    fn empty_and_extremes() {
        assert!(pareto(Vec::new()).is_empty());
        assert!(pareto([("x".to_string(), -1)]).is_empty());
        let rows = pareto([
            ("a".to_string(), i64::MAX),
            ("a".to_string(), i64::MAX),
            ("b".to_string(), i64::MAX),
        ]);
        // a saturates at i64::MAX and ties with b: key order.
        assert_eq!(rows[0].key, "a");
        assert_eq!(rows[0].value, i64::MAX);
        assert_eq!(rows[0].share, 0.5);
        assert_eq!(rows[1].cumulative, 1.0);
    }
}
