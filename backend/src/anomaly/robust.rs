//! Robust statistics: medians, quantiles and a scale that copes with heavy tails.
//!
//! Everything here works on finite values only (the caller filters NaN and infinities) and
//! uses selection (`select_nth_unstable`) rather than sorting, so each call is O(n).

/// The median, reordering `values`; `None` when empty.
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower_half, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = lower_half.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// The `q` quantile (0 ≤ q ≤ 1) with linear interpolation, reordering `values`; `None` when
/// empty.
pub(super) fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let below = rank.floor() as usize;
    let (_, at, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    let at = *at;
    let fraction = rank - below as f64;
    if fraction == 0.0 || above.is_empty() {
        return Some(at);
    }
    let next = above.iter().copied().fold(f64::INFINITY, f64::min);
    Some(at + fraction * (next - at))
}

/// The standard deviation a normal distribution would have for this median absolute
/// deviation (1.4826 × MAD); 0 when empty.
pub(super) fn mad_sigma(values: &[f64]) -> f64 {
    let mut work = values.to_vec();
    let Some(centre) = median(&mut work) else {
        return 0.0;
    };
    for v in &mut work {
        *v = (*v - centre).abs();
    }
    1.4826 * median(&mut work).unwrap_or(0.0)
}

/// Quantiles of |error| and the standard normal quantile each corresponds to when errors
/// are normal, with the number of errors each needs before its estimate is trusted. No
/// higher quantile: past anomalies are among the errors, and up to 5% of them must not
/// widen the band.
const TAIL_LEVELS: [(f64, f64, usize); 4] = [
    (0.50, 0.6745, 1),
    (0.75, 1.1503, 8),
    (0.90, 1.6449, 20),
    (0.95, 1.9600, 40),
];

/// A scale for prediction errors that is robust to outliers yet honest about heavy tails.
///
/// For normal errors, every quantile of |error| divided by its normal quantile estimates
/// the same σ. Taking the largest of them keeps the median's robustness (a few past
/// anomalies cannot inflate it) while widening the band for zero-inflated or heavy-tailed
/// metrics, whose median deviation is tiny but whose 90th or 95th percentile is not. Takes
/// the absolute, centred errors and reorders them.
pub(super) fn tail_scale(abs_errors: &mut [f64]) -> f64 {
    let n = abs_errors.len();
    TAIL_LEVELS
        .iter()
        .filter(|(_, _, needs)| n >= *needs)
        .filter_map(|(q, z, _)| quantile(abs_errors, *q).map(|v| v / z))
        .fold(0.0, f64::max)
}

/// The complementary error function, with a fractional error below 1.2e-7 everywhere
/// (Chebyshev fit of Press et al., *Numerical Recipes*, `erfcc`). Used to turn a band
/// width in σ into a tail probability for repeated values.
pub(super) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let mut v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile(&mut v, 0.5), Some(20.0));
        assert_eq!(quantile(&mut v, 0.25), Some(10.0));
        assert_eq!(quantile(&mut v, 0.9), Some(36.0));
        assert_eq!(quantile(&mut v, 1.0), Some(40.0));
    }

    #[test]
    fn mad_sigma_ignores_an_outlier() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 1000.0];
        assert!((mad_sigma(&v) - 1.4826 * 1.5).abs() < 1e-9);
    }

    #[test]
    fn tail_scale_widens_for_a_heavy_tail() {
        // 90% zeros and 10% large errors: the median deviation is 0, the 95th percentile is not.
        let mut v: Vec<f64> = (0..100)
            .map(|i| if i % 10 == 0 { 5.0 } else { 0.0 })
            .collect();
        assert!(tail_scale(&mut v) > 2.0);
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(4.0 / std::f64::consts::SQRT_2) - 6.334e-5).abs() < 1e-8);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
    }
}
