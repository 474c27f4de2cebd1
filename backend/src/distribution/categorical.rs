//! Frequency profiles: two of them side by side over the values both know, the chi-square
//! test of homogeneity and PSI over the values.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::{Change, Profile};

/// How often a value occurs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// The value as text, as the warehouse casts it.
    pub value: String,
    /// A whole number as measured; fractional in pooled profiles.
    pub count: f64,
}

/// How often `value` occurs according to a frequency profile, if it says: a listed value's
/// count, 0 for any other when nothing went unlisted, else unknown (it may hide in "other").
fn known(profile: &Profile, value: &str) -> Option<f64> {
    let Profile::Values { top, other } = profile else {
        return None;
    };
    match top.iter().find(|c| c.value == value) {
        Some(count) => Some(count.count),
        None => (*other == 0.0).then_some(0.0),
    }
}

fn listed(profile: &Profile) -> &[Count] {
    match profile {
        Profile::Values { top, .. } => top,
        Profile::Numeric { .. } => &[],
    }
}

/// One value (`None`: all the others) and its count on each side.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    value: Option<String>,
    reference: f64,
    current: f64,
}

/// Two frequency profiles side by side: each value both profiles know has its row, the
/// rest share one; rows empty on both sides are left out.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Table {
    rows: Vec<Row>,
    totals: (f64, f64),
}

impl Table {
    pub fn align(reference: &Profile, current: &Profile) -> Table {
        let mut values: Vec<&str> = Vec::new();
        for count in listed(reference).iter().chain(listed(current)) {
            if !values.contains(&count.value.as_str()) {
                values.push(&count.value);
            }
        }
        let mut rows: Vec<Row> = values
            .into_iter()
            .filter_map(|value| {
                Some(Row {
                    value: Some(value.to_owned()),
                    reference: known(reference, value)?,
                    current: known(current, value)?,
                })
            })
            .collect();
        let totals = (reference.total(), current.total());
        let named = |side: fn(&Row) -> f64| rows.iter().map(side).sum::<f64>();
        rows.push(Row {
            value: None,
            reference: (totals.0 - named(|r| r.reference)).max(0.0),
            current: (totals.1 - named(|r| r.current)).max(0.0),
        });
        rows.retain(|row| row.reference > 0.0 || row.current > 0.0);
        Table { rows, totals }
    }

    /// Pearson's chi-square test that both sides come from one distribution, with
    /// `rows - 1` degrees of freedom; 1 when there is only one value to compare.
    pub fn chi_square_p_value(&self) -> Result<f64, String> {
        let (a, b) = self.totals;
        let n = a + b;
        let statistic: f64 = self
            .rows
            .iter()
            .map(|row| {
                let column = row.reference + row.current;
                let expected = [a * column / n, b * column / n];
                let observed = [row.reference, row.current];
                observed
                    .iter()
                    .zip(expected)
                    .map(|(o, e)| (o - e).powi(2) / e)
                    .sum::<f64>()
            })
            .sum();
        let freedom = self.rows.len().saturating_sub(1);
        if freedom == 0 {
            return Ok(1.0);
        }
        let distribution = ChiSquared::new(freedom as f64).map_err(|e| e.to_string())?;
        Ok(distribution.sf(statistic))
    }

    pub fn psi(&self) -> f64 {
        let (expected, actual) = self.shares();
        super::psi(&expected, &actual)
    }

    /// The row whose share moved most.
    pub fn biggest_change(&self) -> Option<Change> {
        let (before, after) = self.shares();
        let moved = |i: usize| (after[i] - before[i]).abs();
        // The first of equal moves, so that the message does not depend on rounding.
        let i =
            (0..self.rows.len()).reduce(|best, i| if moved(i) > moved(best) { i } else { best })?;
        Some(Change::Share {
            value: self.rows[i].value.clone(),
            before: before[i],
            after: after[i],
        })
    }

    fn shares(&self) -> (Vec<f64>, Vec<f64>) {
        let (a, b) = self.totals;
        self.rows
            .iter()
            .map(|row| (row.reference / a, row.current / b))
            .unzip()
    }
}

/// The values every profile knows, their counts weighted; the rest as "other".
pub(super) fn pool(profiles: &[&Profile], weights: &[f64], total: f64) -> Profile {
    let mut top: Vec<Count> = Vec::new();
    for count in profiles.iter().flat_map(|p| listed(p)) {
        if top.iter().any(|c| c.value == count.value) {
            continue;
        }
        let weighted: Option<f64> = profiles
            .iter()
            .zip(weights)
            .map(|(profile, weight)| Some(known(profile, &count.value)? * weight))
            .sum();
        if let Some(weighted) = weighted {
            top.push(Count {
                value: count.value.clone(),
                count: weighted,
            });
        }
    }
    let other = (total - top.iter().map(|c| c.count).sum::<f64>()).max(0.0);
    Profile::Values { top, other }
}

#[cfg(test)]
mod tests {
    use statrs::stats_tests::chisquare::chisquare;

    use super::*;
    use crate::distribution::fixtures::values;

    fn row(value: Option<&str>, reference: f64, current: f64) -> Row {
        Row {
            value: value.map(str::to_owned),
            reference,
            current,
        }
    }

    #[test]
    fn only_values_both_sides_know_get_their_own_row() {
        // 'c' is listed only on the current side, and the reference has unlisted values:
        // its reference count is unknown, so it joins "other" on both sides.
        let reference = values(&[("a", 50.0), ("b", 30.0)], 20.0);
        let current = values(&[("a", 40.0), ("c", 35.0), ("b", 25.0)], 0.0);
        let table = Table::align(&reference, &current);
        assert_eq!(
            table.rows,
            vec![
                row(Some("a"), 50.0, 40.0),
                row(Some("b"), 30.0, 25.0),
                row(None, 20.0, 35.0)
            ]
        );
        // With nothing unlisted, an absent value is known to be absent.
        let complete = values(&[("a", 50.0), ("b", 50.0)], 0.0);
        let table = Table::align(&complete, &current);
        assert_eq!(
            table.rows,
            vec![
                row(Some("a"), 50.0, 40.0),
                row(Some("b"), 50.0, 25.0),
                row(Some("c"), 0.0, 35.0)
            ]
        );
        assert_eq!(
            table.biggest_change(),
            Some(Change::Share {
                value: Some("c".into()),
                before: 0.0,
                after: 0.35
            })
        );
    }

    #[test]
    fn the_homogeneity_test_is_statrs_chisquare_with_its_degrees_of_freedom() {
        // Observed 2×3 table [[30, 50, 20], [30, 10, 20]]: the expected counts are whole, so
        // statrs' goodness-of-fit test over the six cells, with the degrees of freedom the
        // fitted margins take (ddof = 3: 6 - 1 - 3 = 2 left), is the same test.
        let reference = values(&[("x", 30.0), ("y", 50.0), ("z", 20.0)], 0.0);
        let current = values(&[("x", 30.0), ("y", 10.0), ("z", 20.0)], 0.0);
        let table = Table::align(&reference, &current);
        let ours = table.chi_square_p_value().expect("p-value");
        let expected = [37.5, 37.5, 25.0, 22.5, 22.5, 15.0];
        let (_, theirs) =
            chisquare(&[30, 50, 20, 30, 10, 20], Some(&expected), Some(3)).expect("valid table");
        assert!((ours - theirs).abs() < 1e-12, "{ours} vs {theirs}");
        assert!(ours < 1e-3, "{ours}");
        let same = Table::align(
            &reference,
            &values(&[("x", 3.0), ("y", 5.0), ("z", 2.0)], 0.0),
        );
        assert!((same.chi_square_p_value().expect("p") - 1.0).abs() < 1e-12);
        let single = Table::align(&values(&[("x", 3.0)], 0.0), &values(&[("x", 9.0)], 0.0));
        assert_eq!(single.chi_square_p_value(), Ok(1.0));
    }

    #[test]
    fn psi_over_values() {
        let reference = values(&[("a", 50.0), ("b", 50.0)], 0.0);
        let current = values(&[("a", 25.0), ("b", 75.0)], 0.0);
        let expected = -0.25 * 0.5f64.ln() + 0.25 * 1.5f64.ln();
        assert!((Table::align(&reference, &current).psi() - expected).abs() < 1e-12);
    }

    #[test]
    fn pooling_keeps_values_every_profile_knows() {
        let a = values(&[("x", 10.0), ("y", 5.0)], 5.0);
        let b = values(&[("x", 20.0)], 0.0);
        // 'y' is unknown to neither: b lists everything, so its 'y' count is 0.
        assert_eq!(
            pool(&[&a, &b], &[0.5, 0.5], 20.0),
            values(&[("x", 15.0), ("y", 2.5)], 2.5)
        );
        let c = values(&[("x", 20.0)], 4.0);
        assert_eq!(
            pool(&[&a, &c], &[0.5, 0.5], 22.0),
            values(&[("x", 15.0)], 7.0)
        );
    }
}
