//! Plants: every line (and, with the people issue, every edge, warehouse and order) belongs to
//! one, and each decides for its lines how strict the floor is: tolerances on over-production
//! and over-issue, whether counts stop at a complete order, what a negative stock means.
//! Pure: the store keeps them, the API checks and calls.

use protocol::{NegativeStock, PlanRules};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The plant existing data belongs to after an upgrade, and the demo's.
pub const DEFAULT_PLANT: &str = "default";

/// A plant and its rules for the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plant {
    pub plant: String,
    pub name: String,
    /// Percent by which good parts and issued material may exceed the order before it is
    /// over-production or over-issue.
    pub over_tolerance_pct: Decimal,
    /// Counts at a complete order's stations are kept unassigned instead of booked to it.
    pub stop_counting_when_complete: bool,
    pub negative_stock: NegativeStock,
}

impl Plant {
    pub fn new(plant: &str, name: &str) -> Plant {
        let rules = PlanRules::default();
        Plant {
            plant: plant.to_owned(),
            name: name.to_owned(),
            over_tolerance_pct: rules.over_tolerance_pct,
            stop_counting_when_complete: rules.stop_counting_when_complete,
            negative_stock: rules.negative_stock,
        }
    }

    /// The rules a plan of this plant's lines carries.
    pub fn rules(&self) -> PlanRules {
        PlanRules {
            over_tolerance_pct: self.over_tolerance_pct,
            stop_counting_when_complete: self.stop_counting_when_complete,
            negative_stock: self.negative_stock,
            // Filled from the plant's stop reasons by the central side of that feature.
            stop_reasons: Vec::new(),
            spc_alarms: Vec::new(),
        }
    }

    /// Every field out of bounds, each named.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(v) = protocol::bounds::check_id("plant", &self.plant) {
            problems.push(v.to_string());
        }
        if let Err(v) = protocol::bounds::check_text("name", &self.name) {
            problems.push(v.to_string());
        }
        if self.name.trim().is_empty() {
            problems.push("name: is empty; expected the plant's name".into());
        }
        if !(Decimal::ZERO..=Decimal::ONE_THOUSAND).contains(&self.over_tolerance_pct) {
            problems.push(format!(
                "over_tolerance_pct: is {}; expected a percentage from 0 to 1000",
                self.over_tolerance_pct
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plant_flags_negative_stock_and_has_no_tolerance() {
        let p = Plant::new("p1", "Plant 1");
        assert_eq!(p.rules(), PlanRules::default());
        assert_eq!(p.negative_stock, NegativeStock::Flag);
        assert_eq!(p.check(), Ok(()));
        let mut bad = p.clone();
        bad.over_tolerance_pct = Decimal::new(-1, 0);
        bad.name = " ".into();
        assert_eq!(bad.check().unwrap_err().len(), 2);
    }
}
