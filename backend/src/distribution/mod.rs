//! Distribution drift: profiles of a column and the tests that compare two of them. Pure.
//!
//! The warehouse never sends rows. A run measures a compact [`Profile`] of the column in one
//! query: for a numeric column up to [`BINS`] equal-count bins of its sorted values (each
//! bin's smallest and largest value and count), for any column its [`TOP_VALUES`] most
//! frequent values plus a count of the rest. The profile is stored with the run and becomes
//! the reference of later runs; the tests work on the two profiles alone:
//!
//! - `ks`: the two-sample Kolmogorov-Smirnov distance between the profiles' distribution
//!   functions, with the asymptotic p-value statrs uses for `ks_twosample`. Inside a bin
//!   values are taken to be evenly spread, so with more values than bins the distance is an
//!   approximation (exact at the bins' edges; between them off by at most the bin's share,
//!   and in practice far less); with at most [`BINS`] values every bin is one value and the
//!   test is statrs' to the last digit.
//! - `psi`: the population stability index over the reference's deciles (numeric) or over
//!   the values (any column).
//! - `chi_square`: Pearson's test of homogeneity of the two frequency tables, its p-value
//!   from statrs' chi-squared distribution.
//!
//! Frequencies compare only what both profiles know: a value listed in one profile and
//! pooled into the other's "other" count joins "other" on both sides, so no count is
//! guessed. NULLs are not part of a profile (`missing_count` watches them).

mod categorical;
mod numeric;

use serde::{Deserialize, Serialize};

pub use categorical::Count;
pub use numeric::Bin;

use crate::spec::DriftMethod;
use numeric::Cdf;

/// Bins of a numeric profile (at most: a column with fewer values has one bin per value).
pub const BINS: u32 = 100;
/// Values a frequency profile lists by name; the rest are counted together.
pub const TOP_VALUES: u32 = 20;

/// What one run measured of a column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    /// Equal-count bins of the non-null values, in order.
    Numeric { bins: Vec<Bin> },
    /// The most frequent non-null values (as text) and how many values are not listed.
    Values { top: Vec<Count>, other: f64 },
}

impl Profile {
    /// How many values the profile describes.
    pub fn total(&self) -> f64 {
        match self {
            Profile::Numeric { bins } => bins.iter().map(|b| b.count).sum(),
            Profile::Values { top, other } => top.iter().map(|c| c.count).sum::<f64>() + other,
        }
    }

    /// What the profile describes, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Profile::Numeric { .. } => "a numeric distribution",
            Profile::Values { .. } => "value frequencies",
        }
    }

    pub fn same_kind(&self, other: &Profile) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// What a test found.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The p-value (`ks`, `chi_square`) or the index (`psi`).
    pub value: f64,
    /// The Kolmogorov-Smirnov distance, for `ks`: how far apart the distributions are,
    /// whatever the sample sizes.
    pub distance: Option<f64>,
    /// The most telling change, for people.
    pub change: Option<Change>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Median {
        before: f64,
        after: f64,
    },
    /// The value whose share changed most (`None`: the values not listed).
    Share {
        value: Option<String>,
        before: f64,
        after: f64,
    },
}

/// Compares `current` with `reference` by `method`. Both must describe values (total > 0)
/// and be of the same kind; `ks` needs numeric profiles.
pub fn compare(
    method: DriftMethod,
    reference: &Profile,
    current: &Profile,
) -> Result<Comparison, String> {
    if reference.total() <= 0.0 || current.total() <= 0.0 {
        return Err("a profile without values cannot be compared".into());
    }
    match (reference, current) {
        (Profile::Numeric { bins: a }, Profile::Numeric { bins: b }) => {
            let (a, b) = (
                Cdf::new(a).ok_or_else(invalid)?,
                Cdf::new(b).ok_or_else(invalid)?,
            );
            let change = Some(Change::Median {
                before: a.quantile(0.5),
                after: b.quantile(0.5),
            });
            Ok(match method {
                DriftMethod::Psi => Comparison {
                    value: numeric::psi(&a, &b),
                    distance: None,
                    change,
                },
                _ => {
                    let distance = numeric::ks_distance(&a, &b);
                    Comparison {
                        value: numeric::ks_p_value(distance, reference.total(), current.total()),
                        distance: Some(distance),
                        change,
                    }
                }
            })
        }
        (Profile::Values { .. }, Profile::Values { .. }) => {
            let table = categorical::Table::align(reference, current);
            let value = match method {
                DriftMethod::Psi => table.psi(),
                DriftMethod::ChiSquare => table.chi_square_p_value()?,
                DriftMethod::Ks => return Err("ks compares numeric columns".into()),
            };
            Ok(Comparison {
                value,
                distance: None,
                change: table.biggest_change(),
            })
        }
        _ => Err(format!(
            "cannot compare {} with {}",
            current.describe(),
            reference.describe()
        )),
    }
}

fn invalid() -> String {
    "the profile holds no finite values".into()
}

/// One profile standing for several runs' (`last_7d`): their average, each run weighing
/// the same, sized like the average run. Its size matters for p-values: the runs measured
/// largely the same rows, so their sum would claim far more evidence than there is.
/// `None` without profiles or when they are of different kinds.
pub fn pool(profiles: &[&Profile]) -> Option<Profile> {
    let first = profiles.first()?;
    if profiles.iter().any(|p| !p.same_kind(first)) {
        return None;
    }
    let totals: Vec<f64> = profiles.iter().map(|p| p.total()).collect();
    let mean = totals.iter().sum::<f64>() / totals.len() as f64;
    // A profile's counts times its weight sum to `mean / runs`: the runs weigh the same.
    let weights: Vec<f64> = totals
        .iter()
        .map(|total| mean / total / totals.len() as f64)
        .collect();
    Some(match first {
        Profile::Numeric { .. } => numeric::pool(profiles, &weights),
        Profile::Values { .. } => categorical::pool(profiles, &weights, mean),
    })
}

/// Shares below this count as this, so that PSI's logarithm stays finite when a bin or a
/// value is empty on one side (the usual convention).
const PSI_FLOOR: f64 = 1e-4;

/// Population stability index of two lists of shares over the same bins.
fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(e, a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Profiles for unit tests here and in the engine.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Bin, Count, Profile};

    /// Value frequencies: the top values with their counts, and the rest.
    pub fn values(top: &[(&str, f64)], other: f64) -> Profile {
        Profile::Values {
            top: top
                .iter()
                .map(|(value, count)| Count {
                    value: (*value).into(),
                    count: *count,
                })
                .collect(),
            other,
        }
    }

    /// A numeric profile of single values, one bin each.
    pub fn points(xs: &[f64]) -> Profile {
        Profile::Numeric {
            bins: xs
                .iter()
                .map(|x| Bin {
                    min: *x,
                    max: *x,
                    count: 1.0,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{points, values};
    use super::*;

    #[test]
    fn profiles_round_trip_as_tagged_json() {
        let profile = values(&[("a", 3.0)], 1.0);
        let json = serde_json::to_value(&profile).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"kind": "values", "top": [{"value": "a", "count": 3.0}], "other": 1.0})
        );
        assert_eq!(serde_json::from_value::<Profile>(json).ok(), Some(profile));
        let numeric = points(&[1.0]);
        let json = serde_json::to_value(&numeric).unwrap_or_default();
        assert_eq!(json["kind"], "numeric");
        assert_eq!(serde_json::from_value::<Profile>(json).ok(), Some(numeric));
    }

    #[test]
    fn psi_of_shifted_shares() {
        // Shares 0.5/0.5 → 0.25/0.75: 0.25·ln 0.5 + 0.25·ln 1.5 (both terms positive).
        let expected = -0.25 * 0.5f64.ln() + 0.25 * 1.5f64.ln();
        assert!((psi(&[0.5, 0.5], &[0.25, 0.75]) - expected).abs() < 1e-12);
        assert_eq!(psi(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
        // An empty bin counts as 0.01%, not as infinitely surprising.
        assert!(psi(&[1.0, 0.0], &[0.5, 0.5]).is_finite());
    }

    #[test]
    fn comparing_needs_values_of_the_same_kind() {
        let (n, v) = (points(&[1.0, 2.0]), values(&[("a", 1.0)], 0.0));
        assert!(compare(DriftMethod::Ks, &n, &v).is_err());
        assert!(compare(DriftMethod::Ks, &v, &v).is_err());
        assert!(compare(DriftMethod::Ks, &points(&[]), &n).is_err());
        assert!(compare(DriftMethod::ChiSquare, &v, &v).is_ok());
        assert!(compare(DriftMethod::Psi, &n, &n).is_ok());
    }

    #[test]
    fn pooled_runs_weigh_the_same_and_size_like_the_average_run() {
        // 10 values of 'a' one day, 30 of 'b' the next: half 'a', half 'b', 20 values.
        let day1 = values(&[("a", 10.0)], 0.0);
        let day2 = values(&[("b", 30.0)], 0.0);
        assert_eq!(
            pool(&[&day1, &day2]),
            Some(values(&[("a", 10.0), ("b", 10.0)], 0.0))
        );
        let small = points(&[1.0]);
        let big = points(&[3.0, 3.0, 3.0]);
        let pooled = pool(&[&small, &big]).expect("numeric");
        assert!((pooled.total() - 2.0).abs() < 1e-12);
        let Profile::Numeric { bins } = &pooled else {
            panic!("numeric")
        };
        let mass_at = |x: f64| -> f64 { bins.iter().filter(|b| b.min == x).map(|b| b.count).sum() };
        assert!((mass_at(1.0) - mass_at(3.0)).abs() < 1e-12, "{bins:?}");
        assert_eq!(pool(&[&small, &day1]), None);
        assert_eq!(pool(&[]), None);
    }
}
