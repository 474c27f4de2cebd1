//! The reference detector: a z-score as Elementary documents it, for the benchmark.
//!
//! Training set: the points of the last 14 days (`training_period`), or with seasonality
//! the points in the same bucket (day of week, hour of day, hour of week) — over 14 × 7
//! days for the weekly buckets, as Elementary's `get_days_back` multiplies the period by
//! 7. Score: (value − mean) / sample standard deviation; an anomaly when |score| exceeds
//! the sensitivity (3); no score when the training set has one point, 0 when its
//! standard deviation is 0 (Elementary's SQL does the same).
//!
//! Two deliberate differences from Elementary's SQL, both in its favour: the judged point
//! is not part of its own training set (the SQL's window includes the current row, which
//! caps the reachable score), and user-marked incidents are left out (its
//! `anomaly_exclude_metrics`). Like Elementary, it does not leave out its own past
//! anomalies.

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};

use super::{Judgement, Mark, Point, Verdict};

/// Elementary's `seasonality` options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Buckets {
    #[default]
    None,
    DayOfWeek,
    HourOfDay,
    HourOfWeek,
}

impl Buckets {
    fn key(self, at: DateTime<Utc>) -> u32 {
        let day = at.weekday().num_days_from_monday();
        match self {
            Buckets::None => 0,
            Buckets::DayOfWeek => day,
            Buckets::HourOfDay => at.hour(),
            Buckets::HourOfWeek => day * 24 + at.hour(),
        }
    }

    /// Elementary multiplies the training period by 7 for weekly buckets.
    fn period_factor(self) -> i64 {
        match self {
            Buckets::DayOfWeek | Buckets::HourOfWeek => 7,
            Buckets::None | Buckets::HourOfDay => 1,
        }
    }
}

/// The z-score detector's settings; the default is Elementary's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZScore {
    pub sensitivity: f64,
    pub training_days: i64,
    pub buckets: Buckets,
}

impl Default for ZScore {
    fn default() -> Self {
        ZScore {
            sensitivity: 3.0,
            training_days: 14,
            buckets: Buckets::None,
        }
    }
}

impl ZScore {
    /// Judges `newest` from the points of `history` in its training window.
    pub fn judge(&self, history: &[Point], newest: Point) -> Verdict {
        if !newest.value.is_finite() {
            return Verdict::Unjudgeable {
                reason: format!("the value {} is not a finite number", newest.value),
            };
        }
        let days = self.training_days * self.buckets.period_factor();
        let since = newest.at - TimeDelta::try_days(days).unwrap_or(TimeDelta::MAX);
        let bucket = self.buckets.key(newest.at);
        let training: Vec<f64> = history
            .iter()
            .filter(|p| p.at >= since && p.at < newest.at && p.mark != Mark::Incident)
            .filter(|p| p.value.is_finite() && self.buckets.key(p.at) == bucket)
            .map(|p| p.value)
            .collect();
        if training.len() < 2 {
            return Verdict::NotEnoughHistory {
                have: training.len(),
                need: 2,
                reason: "a z-score needs at least 2 training points".into(),
            };
        }
        let n = training.len() as f64;
        let mean = training.iter().sum::<f64>() / n;
        let var = training.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let sd = var.sqrt();
        let score = if sd == 0.0 {
            0.0
        } else {
            (newest.value - mean) / sd
        };
        let is_anomaly = score.abs() > self.sensitivity;
        Verdict::Judged(Judgement {
            is_anomaly,
            value: newest.value,
            expected: mean,
            lower: mean - self.sensitivity * sd,
            upper: mean + self.sensitivity * sd,
            score,
            reason: format!(
                "z-score {score:.2} against {} training points",
                training.len()
            ),
            shift_since: None,
        })
    }

    /// Judges every point from the points before it.
    pub fn judge_series(&self, points: &[Point]) -> Vec<Verdict> {
        (0..points.len())
            .map(|i| self.judge(&points[..i], points[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0)
            .single()
            .expect("date")
    }

    #[test]
    fn flags_beyond_three_standard_deviations_of_the_last_14_days() {
        // Days 1..=20 alternate 9 and 11 (sd ≈ 1.04 over the window); an old 1000 on day 1
        // is outside the 14-day window of day 21.
        let mut history: Vec<Point> = (1..=20)
            .map(|d| Point::new(day(d), if d % 2 == 0 { 9.0 } else { 11.0 }))
            .collect();
        history[0].value = 1000.0;
        let z = ZScore::default();
        assert!(!z.judge(&history, Point::new(day(21), 13.0)).is_anomaly());
        assert!(z.judge(&history, Point::new(day(21), 14.5)).is_anomaly());
    }

    #[test]
    fn day_of_week_buckets_compare_like_days_only() {
        // 2026-03-01 is a Sunday; Sundays are 100, other days 10.
        let history: Vec<Point> = (1..=28)
            .map(|d| {
                Point::new(
                    day(d),
                    if d % 7 == 1 {
                        100.0 + f64::from(d % 3)
                    } else {
                        10.0 + f64::from(d % 3)
                    },
                )
            })
            .collect();
        let weekly = ZScore {
            buckets: Buckets::DayOfWeek,
            ..ZScore::default()
        };
        assert!(
            !weekly
                .judge(&history, Point::new(day(29), 101.0))
                .is_anomaly()
        );
        assert!(
            weekly
                .judge(&history, Point::new(day(30), 101.0))
                .is_anomaly()
        );
    }

    #[test]
    fn constant_history_scores_zero() {
        let history: Vec<Point> = (1..=10).map(|d| Point::new(day(d), 5.0)).collect();
        assert!(
            !ZScore::default()
                .judge(&history, Point::new(day(11), 500.0))
                .is_anomaly()
        );
    }
}
