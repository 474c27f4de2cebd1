//! Numeric profiles: equal-count bins read as a distribution function, the KS test between
//! two of them and PSI over the reference's deciles.

use serde::{Deserialize, Serialize};

use super::Profile;

/// Values `count` of a column between `min` and `max` (inclusive; equal for a bin of one
/// distinct value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub min: f64,
    pub max: f64,
    /// A whole number as measured; fractional in pooled profiles.
    pub count: f64,
}

/// A point where the distribution function bends or jumps: its value just below `x` and
/// at `x` (the share of values `<= x`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Knot {
    x: f64,
    below: f64,
    at: f64,
}

/// The distribution function of binned values, taking each bin's values as evenly spread
/// between its ends, and a bin of one value as a point mass: linear between knots, with
/// jumps at point masses. Bins may overlap (pooled profiles).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Cdf {
    /// Increasing `x`; at least one.
    knots: Vec<Knot>,
}

impl Cdf {
    /// `None` when no bin has finite ends and a positive count.
    pub fn new(bins: &[Bin]) -> Option<Cdf> {
        // Each bin adds a slope over its range, or a jump; sweeping the ends in order
        // integrates them.
        let mut events: Vec<(f64, f64, f64)> = Vec::with_capacity(bins.len() * 2);
        let mut total = 0.0;
        for bin in bins {
            if !(bin.min.is_finite() && bin.max.is_finite() && bin.count > 0.0) {
                continue;
            }
            let (lo, hi) = (bin.min.min(bin.max), bin.min.max(bin.max));
            total += bin.count;
            if hi > lo {
                let slope = bin.count / (hi - lo);
                events.extend([(lo, 0.0, slope), (hi, 0.0, -slope)]);
            } else {
                events.push((lo, bin.count, 0.0));
            }
        }
        if total <= 0.0 {
            return None;
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut knots, mut value, mut slope) = (Vec::<Knot>::new(), 0.0, 0.0);
        let mut events = events.into_iter().peekable();
        while let Some((x, jump, bend)) = events.next() {
            if let Some(last) = knots.last() {
                value += slope * (x - last.x);
            }
            let below = value;
            value += jump;
            slope += bend;
            while let Some((_, jump, bend)) = events.next_if(|e| e.0 == x) {
                value += jump;
                slope += bend;
            }
            knots.push(Knot {
                x,
                below: (below / total).clamp(0.0, 1.0),
                at: (value / total).clamp(0.0, 1.0),
            });
        }
        Some(Cdf { knots })
    }

    /// The share of values `<= x`.
    pub fn at(&self, x: f64) -> f64 {
        let i = self.knots.partition_point(|k| k.x <= x);
        let Some(knot) = i.checked_sub(1).map(|j| self.knots[j]) else {
            return 0.0;
        };
        match self.knots.get(i) {
            Some(next) if knot.x < x => {
                knot.at + (next.below - knot.at) * (x - knot.x) / (next.x - knot.x)
            }
            _ => knot.at,
        }
    }

    /// The share of values `< x`.
    fn below(&self, x: f64) -> f64 {
        let i = self.knots.partition_point(|k| k.x < x);
        match self.knots.get(i) {
            Some(knot) if knot.x == x => knot.below,
            _ => self.at(x),
        }
    }

    /// The smallest `x` with at least the share `p` of values `<= x`.
    pub fn quantile(&self, p: f64) -> f64 {
        let i = self.knots.partition_point(|k| k.at < p);
        let Some(knot) = self.knots.get(i) else {
            return self.knots.last().map_or(f64::NAN, |k| k.x);
        };
        match i.checked_sub(1).map(|j| self.knots[j]) {
            // Reached on the slope before the knot, not by its jump.
            Some(prev) if knot.below >= p => {
                prev.x + (p - prev.at) / (knot.below - prev.at) * (knot.x - prev.x)
            }
            _ => knot.x,
        }
    }
}

/// The largest gap between the two distribution functions. Both are linear between knots,
/// so the gap is largest at a knot of one of them, just below or at it.
pub(super) fn ks_distance(a: &Cdf, b: &Cdf) -> f64 {
    a.knots
        .iter()
        .chain(&b.knots)
        .map(|k| {
            let at = (a.at(k.x) - b.at(k.x)).abs();
            let below = (a.below(k.x) - b.below(k.x)).abs();
            at.max(below)
        })
        .fold(0.0, f64::max)
}

/// The two-sided p-value of a KS distance between samples of `n_a` and `n_b` values: the
/// asymptotic Kolmogorov distribution at `distance · sqrt(n_a·n_b / (n_a + n_b))`, as
/// statrs' `ks_twosample` computes it (`TwoSidedAsymptotic`, which takes samples, not
/// profiles, so its private series is repeated here).
pub(super) fn ks_p_value(distance: f64, n_a: f64, n_b: f64) -> f64 {
    let lambda = distance * (n_a * n_b / (n_a + n_b)).sqrt();
    kolmogorov_survival(lambda)
}

/// `Q(λ) = 2 Σ_{k≥1} (-1)^(k-1) e^(-2k²λ²)`. Below λ = 0.3 the series converges slowly and
/// Q is 1 to within 1e-5, so it is 1.
fn kolmogorov_survival(lambda: f64) -> f64 {
    if lambda.is_nan() || lambda < 0.3 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-16 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// PSI over the reference's deciles: the shares of both sides between the cut points
/// (fewer bins when the reference's deciles coincide, as for a column of few values).
pub(super) fn psi(reference: &Cdf, current: &Cdf) -> f64 {
    let mut cuts: Vec<f64> = (1..10)
        .map(|decile| reference.quantile(f64::from(decile) / 10.0))
        .collect();
    cuts.dedup();
    let shares = |cdf: &Cdf| -> Vec<f64> {
        let mut previous = 0.0;
        cuts.iter()
            .map(|cut| cdf.at(*cut))
            .chain([1.0])
            .map(|share| {
                let bin = share - previous;
                previous = share;
                bin
            })
            .collect()
    };
    super::psi(&shares(reference), &shares(current))
}

/// Every profile's bins, their counts weighted.
pub(super) fn pool(profiles: &[&Profile], weights: &[f64]) -> Profile {
    let bins = profiles
        .iter()
        .zip(weights)
        .flat_map(|(profile, weight)| {
            let bins = match profile {
                Profile::Numeric { bins } => bins.as_slice(),
                Profile::Values { .. } => &[],
            };
            bins.iter().map(move |bin| Bin {
                count: bin.count * weight,
                ..bin.clone()
            })
        })
        .collect();
    Profile::Numeric { bins }
}

#[cfg(test)]
mod tests {
    use statrs::distribution::{ContinuousCDF, Normal};
    use statrs::stats_tests::NaNPolicy;
    use statrs::stats_tests::ks_test::{KSTwoSampleAlternativeMethod, ks_twosample};

    use super::*;

    fn bin(min: f64, max: f64, count: f64) -> Bin {
        Bin { min, max, count }
    }

    /// One bin per value: the profile of a sample of at most `BINS` values.
    fn exact(sample: &[f64]) -> Cdf {
        let bins: Vec<Bin> = sample.iter().map(|x| bin(*x, *x, 1.0)).collect();
        Cdf::new(&bins).expect("values")
    }

    /// `n` values of a normal distribution, spread as a sample would be (a fixed pseudo-random
    /// sequence through the inverse distribution function).
    fn normal_sample(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let normal = Normal::new(mean, sd).expect("valid normal");
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let u = ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                normal.inverse_cdf(u)
            })
            .collect()
    }

    /// The equal-count bins the warehouse would return (`NTILE(bins)` over the sorted values).
    fn binned(sample: &[f64], bins: usize) -> Cdf {
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (n, mut start, mut out) = (sorted.len(), 0, Vec::new());
        for b in 0..bins.min(n) {
            // NTILE gives the first n % bins buckets one extra row.
            let size = n / bins + usize::from(b < n % bins);
            let part = &sorted[start..start + size];
            out.push(bin(part[0], part[size - 1], size as f64));
            start += size;
        }
        Cdf::new(&out).expect("values")
    }

    #[test]
    fn the_function_is_linear_inside_bins_and_jumps_at_points() {
        let cdf = Cdf::new(&[
            bin(0.0, 10.0, 2.0),
            bin(10.0, 10.0, 1.0),
            bin(20.0, 30.0, 1.0),
        ])
        .expect("bins");
        assert_eq!(cdf.at(-1.0), 0.0);
        assert_eq!(cdf.at(5.0), 0.25);
        assert_eq!(cdf.below(10.0), 0.5);
        assert_eq!(cdf.at(10.0), 0.75);
        assert_eq!(cdf.at(15.0), 0.75);
        assert_eq!(cdf.at(25.0), 0.875);
        assert_eq!(cdf.at(31.0), 1.0);
        assert_eq!(cdf.quantile(0.25), 5.0);
        assert_eq!(cdf.quantile(0.6), 10.0);
        assert_eq!(cdf.quantile(0.875), 25.0);
        assert_eq!(
            Cdf::new(&[bin(f64::NAN, 1.0, 3.0), bin(1.0, 2.0, 0.0)]),
            None
        );
    }

    #[test]
    fn exact_profiles_give_statrs_ks_twosample_to_the_digit() {
        let a = normal_sample(60, 50.0, 10.0, 1);
        let b = normal_sample(45, 54.0, 10.0, 2);
        let (statistic, p_value) = ks_twosample(
            a.clone(),
            b.clone(),
            KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
            NaNPolicy::Error,
        )
        .expect("samples");
        let distance = ks_distance(&exact(&a), &exact(&b));
        assert!(
            (distance - statistic).abs() < 1e-12,
            "{distance} vs {statistic}"
        );
        let ours = ks_p_value(distance, 60.0, 45.0);
        assert!((ours - p_value).abs() < 1e-9, "{ours} vs {p_value}");
        // Ties: a shared value is a jump on both sides.
        let (s, _) = ks_twosample(
            vec![1.0, 2.0, 2.0, 3.0],
            vec![2.0, 2.0, 4.0],
            KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
            NaNPolicy::Error,
        )
        .expect("samples");
        let d = ks_distance(&exact(&[1.0, 2.0, 2.0, 3.0]), &exact(&[2.0, 2.0, 4.0]));
        assert!((d - s).abs() < 1e-12, "{d} vs {s}");
    }

    #[test]
    fn binned_profiles_stay_close_to_the_samples_they_summarise() {
        let a = normal_sample(5_000, 50.0, 10.0, 3);
        let b = normal_sample(4_000, 52.0, 10.0, 4);
        let (statistic, _) = ks_twosample(
            a.clone(),
            b.clone(),
            KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
            NaNPolicy::Error,
        )
        .expect("samples");
        let distance = ks_distance(&binned(&a, 100), &binned(&b, 100));
        assert!(
            (distance - statistic).abs() < 0.005,
            "{distance} vs {statistic}"
        );
    }

    #[test]
    fn a_half_sd_shift_is_significant_and_a_resample_is_not() {
        let reference = binned(&normal_sample(2_000, 50.0, 10.0, 5), 100);
        let shifted = binned(&normal_sample(2_000, 55.0, 10.0, 6), 100);
        let resample = binned(&normal_sample(2_000, 50.0, 10.0, 7), 100);
        let d = ks_distance(&reference, &shifted);
        // The populations' distance is 2Φ(0.25) - 1 = 0.197.
        assert!((d - 0.197).abs() < 0.04, "{d}");
        assert!(ks_p_value(d, 2_000.0, 2_000.0) < 1e-12);
        let d = ks_distance(&reference, &resample);
        assert!(ks_p_value(d, 2_000.0, 2_000.0) > 0.05, "{d}");
        assert!((shifted.quantile(0.5) - reference.quantile(0.5) - 5.0).abs() < 1.0);
    }

    #[test]
    fn kolmogorov_survival_matches_its_table() {
        // Q(1.36) = 0.05 and Q(1.63) = 0.01: the critical values of the two-sided test.
        assert!((kolmogorov_survival(1.358_099) - 0.05).abs() < 1e-5);
        assert!((kolmogorov_survival(1.627_624) - 0.01).abs() < 1e-5);
        assert_eq!(kolmogorov_survival(0.0), 1.0);
        assert_eq!(kolmogorov_survival(f64::NAN), 1.0);
        assert!(kolmogorov_survival(10.0) < 1e-80);
    }

    #[test]
    fn psi_uses_the_reference_deciles() {
        let reference = binned(&normal_sample(10_000, 50.0, 10.0, 8), 100);
        assert!(psi(&reference, &reference).abs() < 1e-12);
        // One sd apart: the index of two normals is about δ² = 1 (fewer bins see a bit less).
        let far = binned(&normal_sample(10_000, 60.0, 10.0, 9), 100);
        let index = psi(&reference, &far);
        assert!((0.7..1.2).contains(&index), "{index}");
        // A column of two values has two bins, not ten.
        let coin = Cdf::new(&[bin(0.0, 0.0, 50.0), bin(1.0, 1.0, 50.0)]).expect("bins");
        let biased = Cdf::new(&[bin(0.0, 0.0, 25.0), bin(1.0, 1.0, 75.0)]).expect("bins");
        let expected = -0.25 * 0.5f64.ln() + 0.25 * 1.5f64.ln();
        assert!((psi(&coin, &biased) - expected).abs() < 1e-12);
    }
}
