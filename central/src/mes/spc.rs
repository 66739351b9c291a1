//! Statistical process control: control limits frozen from a baseline, the run rules, and
//! process capability.
//!
//! Definitions:
//!
//! - A [`Characteristic`] is a measured quantity with optional spec limits (target, LSL,
//!   USL) and a subgroup size `n` in `1..=10`; `n = 1` means an individuals and moving
//!   range (I-MR) chart, `n >= 2` an X-bar/R chart.
//! - X-bar/R ([`xbar_r_limits`]): each subgroup's mean x̄ᵢ and range Rᵢ; the grand mean x̿ and
//!   the mean range R̄. `UCL/LCL = x̿ ± A2·R̄`; range chart `UCL = D4·R̄`, `LCL = D3·R̄`;
//!   `σ_within = R̄/d2`.
//! - I-MR ([`imr_limits`]): moving ranges of two, `MRᵢ = |xᵢ - xᵢ₋₁|`, mean MR̄.
//!   `UCL/LCL = x̄ ± 3·MR̄/d2` with `d2 = 1.128`; range chart `UCL = D4·MR̄ = 3.267·MR̄`,
//!   `LCL = 0`; `σ_within = MR̄/d2`.
//! - The constants A2, D3, D4 and d2 for n = 2..10 are those of the AIAG *Statistical
//!   Process Control (SPC) Reference Manual*, 2nd ed. (2005), Appendix E, "Table of
//!   Constants and Formulas for Control Charts" (the same values as ASTM E2587 and
//!   Montgomery, *Introduction to Statistical Quality Control*, Appendix Table VI).
//! - Run rules ([`western_electric`]), in the Nelson / AIAG numbering of rules 1-4 that the
//!   issue uses (not the original Western Electric handbook's, whose rule 2 is "two of three
//!   beyond 2σ"):
//!   1. one point beyond the control limits (3σ): above UCL or below LCL;
//!   2. nine points in a row on one side of the center line (a point on it breaks the run);
//!   3. six points in a row steadily increasing or steadily decreasing (equal neighbours
//!      break the run);
//!   4. fourteen points in a row alternating up and down.
//!
//!   A violation is reported at every point where a run completes, as the index of the last
//!   point of the run: a run of ten points on one side is reported at its 9th and 10th point.
//! - Capability ([`capability`]): `Cp = (USL - LSL) / 6σ_within`,
//!   `Cpk = min(USL - μ, μ - LSL) / 3σ_within`; `Pp` and `Ppk` the same with the overall
//!   sample standard deviation `s` (n - 1). μ is the mean of the values. Cp and Pp need both
//!   limits; Cpk and Ppk take the one side there is when only one limit is given. Each is
//!   `None` when a needed limit is missing or its sigma is 0.
//!
//! Bounds: at most [`MAX_POINTS`] values per call; a non-finite value is an error naming its
//! index; sums are in `f64` and a result that is not finite (values near `f64::MAX`) is an
//! error, never a NaN limit.

use serde::{Deserialize, Serialize};

/// At most this many values (all subgroups together) per call.
pub const MAX_POINTS: usize = 100_000;
/// The largest subgroup size with tabulated constants.
pub const MAX_SUBGROUP: usize = 10;
/// A characteristic's name has 1 to this many characters.
pub const MAX_NAME_CHARS: usize = 32;

/// d2 for moving ranges of two.
const IMR_D2: f64 = 1.128;
/// D4 for moving ranges of two.
const IMR_D4: f64 = 3.267;

/// Control chart constants for subgroup size n: `(n, A2, D3, D4, d2)`. Source: AIAG SPC
/// Reference Manual, 2nd ed., Appendix E.
const CONSTANTS: [(usize, f64, f64, f64, f64); 9] = [
    (2, 1.880, 0.0, 3.267, 1.128),
    (3, 1.023, 0.0, 2.574, 1.693),
    (4, 0.729, 0.0, 2.282, 2.059),
    (5, 0.577, 0.0, 2.114, 2.326),
    (6, 0.483, 0.0, 2.004, 2.534),
    (7, 0.419, 0.076, 1.924, 2.704),
    (8, 0.373, 0.136, 1.864, 2.847),
    (9, 0.337, 0.184, 1.816, 2.970),
    (10, 0.308, 0.223, 1.777, 3.078),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpcError {
    #[error("{at} is not a finite number")]
    NotFinite { at: String },
    #[error("{n} values; at most {MAX_POINTS}")]
    TooMany { n: usize },
    #[error("{got} values; at least {need} are needed")]
    TooFew { need: usize, got: usize },
    #[error("subgroup size {0}; X-bar/R takes 2 to {MAX_SUBGROUP} (1 is I-MR)")]
    SubgroupSize(usize),
    #[error("subgroups[{index}] has {size} values; expected {expected}, like subgroups[0]")]
    UnevenSubgroup {
        index: usize,
        size: usize,
        expected: usize,
    },
    #[error("the values are too large: {0} is not finite")]
    Overflow(&'static str),
    #[error("lsl {lsl} is not below usl {usl}")]
    LimitsReversed { lsl: String, usl: String },
}

/// A measured characteristic: `{"name": "bore", "target": 10.0, "lsl": 9.9, "usl": 10.1,
/// "subgroup_size": 5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Characteristic {
    pub name: String,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub lsl: Option<f64>,
    #[serde(default)]
    pub usl: Option<f64>,
    /// 1 (I-MR) to 10.
    pub subgroup_size: u8,
}

impl Characteristic {
    /// Every problem, each with its field: name 1 to 32 characters, subgroup size 1..=10,
    /// limits finite, `lsl < usl`, the target within them.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push("name: the name is empty".to_string());
        } else if self.name.chars().count() > MAX_NAME_CHARS {
            errors.push(format!(
                "name: {} characters; at most {MAX_NAME_CHARS}",
                self.name.chars().count()
            ));
        }
        if !(1..=MAX_SUBGROUP).contains(&usize::from(self.subgroup_size)) {
            errors.push(format!(
                "subgroup_size: {}; expected 1 (I-MR) to {MAX_SUBGROUP}",
                self.subgroup_size
            ));
        }
        for (field, value) in [
            ("target", self.target),
            ("lsl", self.lsl),
            ("usl", self.usl),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                errors.push(format!("{field}: not a finite number"));
            }
        }
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        if let (Some(lsl), Some(usl)) = (finite(self.lsl), finite(self.usl))
            && lsl >= usl
        {
            errors.push(format!("lsl: {lsl} is not below usl {usl}"));
        }
        if let Some(target) = finite(self.target) {
            if finite(self.lsl).is_some_and(|lsl| target < lsl) {
                errors.push(format!("target: {target} is below lsl"));
            }
            if finite(self.usl).is_some_and(|usl| target > usl) {
                errors.push(format!("target: {target} is above usl"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Limits from a baseline: I-MR over `values` when the subgroup size is 1, X-bar/R over
    /// `values` cut into subgroups of the size otherwise (a last, incomplete subgroup is an
    /// error).
    pub fn limits(&self, values: &[f64]) -> Result<Limits, SpcError> {
        let n = usize::from(self.subgroup_size);
        if n == 1 {
            return imr_limits(values);
        }
        if !(2..=MAX_SUBGROUP).contains(&n) {
            return Err(SpcError::SubgroupSize(n));
        }
        check_values("values", values)?;
        let subgroups: Vec<Vec<f64>> = values.chunks(n).map(<[f64]>::to_vec).collect();
        xbar_r_limits(&subgroups)
    }

    /// [`capability`] with this characteristic's limits and the baseline's `σ_within`.
    pub fn capability(&self, values: &[f64], limits: &Limits) -> Result<Capability, SpcError> {
        capability(values, self.lsl, self.usl, limits.sigma_within)
    }
}

/// Control limits frozen from a baseline. For X-bar/R, `center`/`ucl`/`lcl` are those of
/// the subgroup means and `range_*` of the ranges; for I-MR, of the values and the moving
/// ranges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub subgroup_size: usize,
    pub center: f64,
    pub ucl: f64,
    pub lcl: f64,
    pub range_center: f64,
    pub range_ucl: f64,
    pub range_lcl: f64,
    pub sigma_within: f64,
}

/// A point where a run rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The index of the last point of the run.
    pub index: usize,
    /// 1 to 4, Nelson / AIAG numbering.
    pub rule: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capability {
    pub mean: f64,
    /// Overall sample standard deviation (n - 1); `None` with fewer than two values.
    pub sigma_overall: Option<f64>,
    pub cp: Option<f64>,
    pub cpk: Option<f64>,
    pub pp: Option<f64>,
    pub ppk: Option<f64>,
}

fn check_values(what: &str, values: &[f64]) -> Result<(), SpcError> {
    if values.len() > MAX_POINTS {
        return Err(SpcError::TooMany { n: values.len() });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(SpcError::NotFinite {
            at: format!("{what}[{i}]"),
        }),
        None => Ok(()),
    }
}

fn finite(what: &'static str, value: f64) -> Result<f64, SpcError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SpcError::Overflow(what))
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn range(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    max - min
}

/// Each subgroup's mean and range, after the same checks as [`xbar_r_limits`]: the points
/// to plot and to give [`western_electric`].
pub fn means_and_ranges(subgroups: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<f64>), SpcError> {
    let Some(first) = subgroups.first() else {
        return Err(SpcError::TooFew { need: 1, got: 0 });
    };
    let n = first.len();
    if !(2..=MAX_SUBGROUP).contains(&n) {
        return Err(SpcError::SubgroupSize(n));
    }
    if subgroups.len() > MAX_POINTS / n {
        return Err(SpcError::TooMany {
            n: subgroups.len().saturating_mul(n),
        });
    }
    for (i, subgroup) in subgroups.iter().enumerate() {
        if subgroup.len() != n {
            return Err(SpcError::UnevenSubgroup {
                index: i,
                size: subgroup.len(),
                expected: n,
            });
        }
        check_values(&format!("subgroups[{i}]"), subgroup)?;
    }
    let means = subgroups
        .iter()
        .map(|s| finite("a subgroup mean", mean(s)))
        .collect::<Result<Vec<f64>, _>>()?;
    let ranges = subgroups
        .iter()
        .map(|s| finite("a subgroup range", range(s)))
        .collect::<Result<Vec<f64>, _>>()?;
    Ok((means, ranges))
}

/// X-bar/R limits from baseline subgroups, all of one size n in 2..=10.
pub fn xbar_r_limits(subgroups: &[Vec<f64>]) -> Result<Limits, SpcError> {
    let (means, ranges) = means_and_ranges(subgroups)?;
    let n = subgroups.first().map_or(0, Vec::len);
    let Some(&(_, a2, d3, d4, d2)) = CONSTANTS.iter().find(|c| c.0 == n) else {
        return Err(SpcError::SubgroupSize(n));
    };
    let center = finite("the grand mean", mean(&means))?;
    let r_bar = finite("the mean range", mean(&ranges))?;
    Ok(Limits {
        subgroup_size: n,
        center,
        ucl: finite("the UCL", center + a2 * r_bar)?,
        lcl: finite("the LCL", center - a2 * r_bar)?,
        range_center: r_bar,
        range_ucl: d4 * r_bar,
        range_lcl: d3 * r_bar,
        sigma_within: r_bar / d2,
    })
}

/// The moving ranges of two: `|xᵢ - xᵢ₋₁|` for i ≥ 1, after the same checks as
/// [`imr_limits`].
pub fn moving_ranges(values: &[f64]) -> Result<Vec<f64>, SpcError> {
    check_values("values", values)?;
    values
        .iter()
        .zip(values.iter().skip(1))
        .map(|(a, b)| finite("a moving range", (b - a).abs()))
        .collect()
}

/// I-MR limits from baseline individual values (at least two).
pub fn imr_limits(values: &[f64]) -> Result<Limits, SpcError> {
    if values.len() < 2 {
        check_values("values", values)?;
        return Err(SpcError::TooFew {
            need: 2,
            got: values.len(),
        });
    }
    let ranges = moving_ranges(values)?;
    let center = finite("the mean", mean(values))?;
    let mr_bar = finite("the mean moving range", mean(&ranges))?;
    let sigma_within = mr_bar / IMR_D2;
    Ok(Limits {
        subgroup_size: 1,
        center,
        ucl: finite("the UCL", center + 3.0 * sigma_within)?,
        lcl: finite("the LCL", center - 3.0 * sigma_within)?,
        range_center: mr_bar,
        range_ucl: IMR_D4 * mr_bar,
        range_lcl: 0.0,
        sigma_within,
    })
}

/// The points where rules 1-4 fire (see the module doc), sorted by index, then rule.
/// `points` are what the chart plots: subgroup means for X-bar/R, the values for I-MR.
pub fn western_electric(points: &[f64], limits: &Limits) -> Result<Vec<Violation>, SpcError> {
    check_values("points", points)?;
    let mut violations = Vec::new();
    // Rule 2: points in the current run on one side; rules 3 and 4: steps in the current
    // trend and in the current alternation.
    let (mut side_run, mut last_side) = (0usize, 0i8);
    let (mut trend_steps, mut alternating_steps, mut last_step) = (0usize, 0usize, 0i8);
    let mut previous: Option<f64> = None;
    for (index, &p) in points.iter().enumerate() {
        if p > limits.ucl || p < limits.lcl {
            violations.push(Violation { index, rule: 1 });
        }
        let side = sign(p - limits.center);
        side_run = if side != 0 && side == last_side {
            side_run + 1
        } else {
            usize::from(side != 0)
        };
        last_side = side;
        if side_run >= 9 {
            violations.push(Violation { index, rule: 2 });
        }
        let step = previous.map_or(0, |q| sign(p - q));
        trend_steps = if step != 0 && step == last_step {
            trend_steps + 1
        } else {
            usize::from(step != 0)
        };
        alternating_steps = if step != 0 && step == -last_step {
            alternating_steps + 1
        } else {
            usize::from(step != 0)
        };
        last_step = step;
        previous = Some(p);
        // Six points make five steps; fourteen points thirteen.
        if trend_steps >= 5 {
            violations.push(Violation { index, rule: 3 });
        }
        if alternating_steps >= 13 {
            violations.push(Violation { index, rule: 4 });
        }
    }
    Ok(violations)
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// Cp, Cpk (with `sigma_within`) and Pp, Ppk (with the values' sample standard deviation)
/// against the spec limits; see the module doc.
pub fn capability(
    values: &[f64],
    lsl: Option<f64>,
    usl: Option<f64>,
    sigma_within: f64,
) -> Result<Capability, SpcError> {
    check_values("values", values)?;
    if values.is_empty() {
        return Err(SpcError::TooFew { need: 1, got: 0 });
    }
    for (at, limit) in [
        ("lsl", lsl),
        ("usl", usl),
        ("sigma_within", Some(sigma_within)),
    ] {
        if limit.is_some_and(|v| !v.is_finite()) {
            return Err(SpcError::NotFinite { at: at.into() });
        }
    }
    if let (Some(l), Some(u)) = (lsl, usl)
        && l >= u
    {
        return Err(SpcError::LimitsReversed {
            lsl: l.to_string(),
            usl: u.to_string(),
        });
    }
    let mu = finite("the mean", mean(values))?;
    let sigma_overall = if values.len() >= 2 {
        let squares: f64 = values.iter().map(|v| (v - mu) * (v - mu)).sum();
        Some(finite(
            "the standard deviation",
            (squares / (values.len() - 1) as f64).sqrt(),
        )?)
    } else {
        None
    };
    let indices = |sigma: Option<f64>| {
        let Some(sigma) = sigma.filter(|s| *s > 0.0) else {
            return (None, None);
        };
        let p = match (lsl, usl) {
            (Some(l), Some(u)) => Some((u - l) / (6.0 * sigma)),
            _ => None,
        };
        let upper = usl.map(|u| (u - mu) / (3.0 * sigma));
        let lower = lsl.map(|l| (mu - l) / (3.0 * sigma));
        let pk = match (upper, lower) {
            (Some(u), Some(l)) => Some(u.min(l)),
            (one, other) => one.or(other),
        };
        (p.filter(|v| v.is_finite()), pk.filter(|v| v.is_finite()))
    };
    let (cp, cpk) = indices(Some(sigma_within));
    let (pp, ppk) = indices(sigma_overall);
    Ok(Capability {
        mean: mu,
        sigma_overall,
        cp,
        cpk,
        pp,
        ppk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    fn some_close(got: Option<f64>, want: f64) {
        close(got.unwrap(), want);
    }

    /// Center 0, limits ±3 (σ = 1).
    fn unit_limits() -> Limits {
        Limits {
            subgroup_size: 1,
            center: 0.0,
            ucl: 3.0,
            lcl: -3.0,
            range_center: 1.128,
            range_ucl: 3.267 * 1.128,
            range_lcl: 0.0,
            sigma_within: 1.0,
        }
    }

    fn rules(points: &[f64]) -> Vec<(usize, u8)> {
        western_electric(points, &unit_limits())
            .unwrap()
            .into_iter()
            .map(|v| (v.index, v.rule))
            .collect()
    }

    #[test]
    fn xbar_r_by_hand() {
        let subgroups = vec![
            vec![10.0, 12.0, 11.0, 9.0, 13.0],  // mean 11, range 4
            vec![11.0, 11.0, 12.0, 10.0, 11.0], // mean 11, range 2
            vec![9.0, 10.0, 11.0, 10.0, 10.0],  // mean 10, range 2
            vec![12.0, 13.0, 12.0, 11.0, 12.0], // mean 12, range 2
            vec![10.0, 11.0, 9.0, 12.0, 13.0],  // mean 11, range 4
        ];
        let (means, ranges) = means_and_ranges(&subgroups).unwrap();
        assert_eq!(means, vec![11.0, 11.0, 10.0, 12.0, 11.0]);
        assert_eq!(ranges, vec![4.0, 2.0, 2.0, 2.0, 4.0]);
        let limits = xbar_r_limits(&subgroups).unwrap();
        // x̿ = 55/5 = 11; R̄ = 14/5 = 2.8. n = 5: A2 0.577, D3 0, D4 2.114, d2 2.326.
        assert_eq!(limits.subgroup_size, 5);
        close(limits.center, 11.0);
        close(limits.range_center, 2.8);
        close(limits.ucl, 11.0 + 0.577 * 2.8); // 12.6156
        close(limits.lcl, 11.0 - 0.577 * 2.8); // 9.3844
        close(limits.ucl, 12.6156);
        close(limits.lcl, 9.3844);
        close(limits.range_ucl, 5.9192); // 2.114 × 2.8
        close(limits.range_lcl, 0.0);
        close(limits.sigma_within, 2.8 / 2.326); // 1.20378…
        // The means stay within 9.3844..12.6156: no rule 1.
        assert!(western_electric(&means, &limits).unwrap().is_empty());
        // The same through a characteristic cutting 25 values into fives.
        let c = Characteristic {
            name: "bore".into(),
            target: Some(11.0),
            lsl: Some(8.0),
            usl: Some(14.0),
            subgroup_size: 5,
        };
        let flat: Vec<f64> = subgroups.concat();
        assert_eq!(c.limits(&flat).unwrap(), limits);
        // n = 7 has D3 > 0: LCL of the ranges 0.076 × R̄.
        let seven = vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]; 2];
        let l7 = xbar_r_limits(&seven).unwrap();
        close(l7.range_center, 6.0);
        close(l7.range_lcl, 0.076 * 6.0);
        close(l7.sigma_within, 6.0 / 2.704);
    }

    #[test]
    fn imr_by_hand() {
        // Values 10, 12, 11, 13, 14: mean 12; moving ranges 2, 1, 2, 1: MR̄ = 1.5.
        let limits = imr_limits(&[10.0, 12.0, 11.0, 13.0, 14.0]).unwrap();
        close(limits.center, 12.0);
        close(limits.range_center, 1.5);
        // σ = 1.5/1.128 = 1.329787…; UCL = 12 + 3σ = 15.989361…, LCL = 8.010638…
        close(limits.sigma_within, 1.5 / 1.128);
        close(limits.ucl, 12.0 + 4.5 / 1.128);
        close(limits.lcl, 12.0 - 4.5 / 1.128);
        close(limits.range_ucl, 3.267 * 1.5); // 4.9005
        assert_eq!(limits.range_lcl, 0.0);
        assert_eq!(moving_ranges(&[1.0, 3.0, 2.0]).unwrap(), vec![2.0, 1.0]);
    }

    #[test]
    fn rule_1_one_point_beyond_the_limits() {
        // A point on a limit is not beyond it.
        assert_eq!(
            rules(&[0.0, 1.0, 3.5, -1.0, -3.2, 3.0]),
            vec![(2, 1), (4, 1)]
        );
    }

    #[test]
    fn rule_2_nine_in_a_row_on_one_side() {
        // Ten points above the center (alternating 1, 2 so no trend): the run completes at
        // the 9th (index 8) and goes on at index 9; then a point below ends it.
        let mut points: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 1.0 } else { 2.0 })
            .collect();
        points.push(-1.0);
        assert_eq!(rules(&points), vec![(8, 2), (9, 2)]);
        // A point on the center line breaks the run: 8 above, 0, 1 above.
        let mut broken = vec![1.0; 8];
        broken.extend([0.0, 1.0]);
        assert!(rules(&broken).is_empty());
        // Below works the same.
        assert_eq!(rules(&[-0.5; 9]), vec![(8, 2)]);
    }

    #[test]
    fn rule_3_six_in_a_row_steadily_increasing_or_decreasing() {
        // 0, 0.1, …, 0.6 then down: points 0..=5 complete the run (index 5), 1..=6 too.
        assert_eq!(
            rules(&[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5]),
            vec![(5, 3), (6, 3)]
        );
        assert_eq!(rules(&[0.0, -0.1, -0.2, -0.3, -0.4, -0.5]), vec![(5, 3)]);
        // Five rising points and an equal neighbour: no run of six.
        assert!(rules(&[0.0, 0.1, 0.2, 0.2, 0.3, 0.4]).is_empty());
    }

    #[test]
    fn rule_4_fourteen_alternating() {
        // 0.5, -0.5, … fourteen points: thirteen alternating steps, complete at index 13.
        let mut points: Vec<f64> = (0..14)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        assert_eq!(rules(&points), vec![(13, 4)]);
        points.push(0.5);
        assert_eq!(rules(&points), vec![(13, 4), (14, 4)]);
        // Thirteen points are not enough.
        assert!(rules(&points[..13]).is_empty());
    }

    #[test]
    fn cp_cpk_pp_ppk_by_hand() {
        // LSL 8, USL 14, σ_within 1; values 11, 12, 13, 12: μ = 12.
        let values = [11.0, 12.0, 13.0, 12.0];
        let c = capability(&values, Some(8.0), Some(14.0), 1.0).unwrap();
        close(c.mean, 12.0);
        // Cp = 6 / 6 = 1; Cpk = min(14 - 12, 12 - 8) / 3 = 2/3.
        some_close(c.cp, 1.0);
        some_close(c.cpk, 2.0 / 3.0);
        // s = sqrt((1 + 0 + 1 + 0) / 3) = sqrt(2/3) = 0.816497…; Pp = 6 / 6s = 1.224745…;
        // Ppk = 2 / 3s = 0.816497….
        let s = (2.0f64 / 3.0).sqrt();
        some_close(c.sigma_overall, s);
        some_close(c.pp, 1.0 / s);
        some_close(c.ppk, 2.0 / (3.0 * s));
        // Only USL: no Cp/Pp, Cpk = (14 - 12) / 3 = 2/3.
        let upper = capability(&values, None, Some(14.0), 1.0).unwrap();
        assert_eq!((upper.cp, upper.pp), (None, None));
        some_close(upper.cpk, 2.0 / 3.0);
        // No limits, or sigma 0: None.
        let none = capability(&values, None, None, 1.0).unwrap();
        assert_eq!(
            (none.cp, none.cpk, none.pp, none.ppk),
            (None, None, None, None)
        );
        let flat = capability(&[5.0, 5.0], Some(4.0), Some(6.0), 0.0).unwrap();
        assert_eq!(
            (flat.cp, flat.cpk, flat.pp, flat.ppk),
            (None, None, None, None)
        );
        // One value: no overall sigma.
        let one = capability(&[12.0], Some(8.0), Some(14.0), 1.0).unwrap();
        assert_eq!((one.sigma_overall, one.pp), (None, None));
        // With the X-bar/R example's σ_within = 2.8/2.326: Cp = 6 / (6 × 1.20378) = 0.830714….
        let c = capability(&values, Some(8.0), Some(14.0), 2.8 / 2.326).unwrap();
        some_close(c.cp, 2.326 / 2.8);
    }

    #[test]
    fn errors_name_the_index() {
        assert_eq!(
            imr_limits(&[1.0, f64::NAN, 2.0]),
            Err(SpcError::NotFinite {
                at: "values[1]".into()
            })
        );
        let err = xbar_r_limits(&[vec![1.0, 2.0], vec![3.0, f64::INFINITY]]).unwrap_err();
        assert_eq!(err.to_string(), "subgroups[1][1] is not a finite number");
        assert_eq!(
            xbar_r_limits(&[vec![1.0, 2.0], vec![3.0]]),
            Err(SpcError::UnevenSubgroup {
                index: 1,
                size: 1,
                expected: 2
            })
        );
        assert_eq!(xbar_r_limits(&[vec![1.0]]), Err(SpcError::SubgroupSize(1)));
        assert_eq!(
            xbar_r_limits(&[vec![0.0; 11]]),
            Err(SpcError::SubgroupSize(11))
        );
        assert_eq!(
            xbar_r_limits(&[]),
            Err(SpcError::TooFew { need: 1, got: 0 })
        );
        assert_eq!(
            imr_limits(&[1.0]),
            Err(SpcError::TooFew { need: 2, got: 1 })
        );
        assert_eq!(
            imr_limits(&vec![0.0; MAX_POINTS + 1]),
            Err(SpcError::TooMany { n: MAX_POINTS + 1 })
        );
        assert_eq!(
            xbar_r_limits(&vec![vec![0.0; 2]; MAX_POINTS / 2 + 1]),
            Err(SpcError::TooMany { n: MAX_POINTS + 2 })
        );
        assert!(western_electric(&[0.0, f64::NEG_INFINITY], &unit_limits()).is_err());
        assert_eq!(
            capability(&[1.0], Some(2.0), Some(1.0), 1.0)
                .unwrap_err()
                .to_string(),
            "lsl 2 is not below usl 1"
        );
        // Huge values: an error, not an infinite limit.
        assert_eq!(
            imr_limits(&[f64::MAX, -f64::MAX]),
            Err(SpcError::Overflow("a moving range"))
        );
    }

    #[test]
    fn characteristic_validation() {
        let c = Characteristic {
            name: String::new(),
            target: Some(20.0),
            lsl: Some(10.0),
            usl: Some(5.0),
            subgroup_size: 11,
        };
        assert_eq!(
            c.validate().unwrap_err(),
            vec![
                "name: the name is empty",
                "subgroup_size: 11; expected 1 (I-MR) to 10",
                "lsl: 10 is not below usl 5",
                "target: 20 is above usl",
            ]
        );
        let c = Characteristic {
            name: "bore".into(),
            target: Some(f64::NAN),
            lsl: None,
            usl: Some(1.0),
            subgroup_size: 1,
        };
        assert_eq!(
            c.validate().unwrap_err(),
            vec!["target: not a finite number"]
        );
        let ok: Characteristic =
            serde_json::from_str(r#"{"name": "bore", "usl": 10.1, "subgroup_size": 1}"#).unwrap();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.limits(&[1.0, 2.0]).unwrap().subgroup_size, 1);
        // A last incomplete subgroup is an error.
        let five = Characteristic {
            subgroup_size: 5,
            ..ok
        };
        assert!(matches!(
            five.limits(&[1.0; 7]),
            Err(SpcError::UnevenSubgroup { index: 1, .. })
        ));
    }
}
