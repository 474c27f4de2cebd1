//! `anomaly` thresholds: judging a check's value against the check's own history, after its
//! fixed thresholds were judged. Pure: the runner reads the history from the store and
//! hands it in; without one (`--no-store`, or no run recorded yet) the check passes with a
//! note, as CHECKS.md says.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::anomaly::{self, HolidayCalendar, MetricKind, Point, Verdict};
use crate::results::{Band, CheckResult, MetricPoint, Outcome};
use crate::spec::{AnomalySpec, AnomalyWatch, Check};

/// Points of history an anomaly threshold learns from at most: enough for weekly patterns
/// of an hourly check (12 weeks), and what the detector is measured against.
pub const MAX_HISTORY: usize = 2_000;

/// What a dataset's anomaly thresholds judge against.
pub struct AnomalyContext<'a> {
    /// When the values were measured.
    pub at: DateTime<Utc>,
    /// The zone whose clock the dataset's seasonality follows.
    pub timezone: Tz,
    pub holidays: Option<&'a HolidayCalendar>,
}

/// Judges `result` (of `check`) against `history` (oldest first), when the check has an
/// `anomaly` threshold: the band goes into the result, an anomaly makes it `fail`, and the
/// message says what was expected. `history` is `None` when there is no store to learn from.
///
/// Returns when the level shift the detector accepted as the new normal began, if it did:
/// the caller marks the stored anomalies since then ([`crate::store::History::accept_shift`])
/// so that later runs learn from them instead of deciding again.
pub fn judge_anomaly(
    check: &Check,
    result: &mut CheckResult,
    history: Option<&[MetricPoint]>,
    context: &AnomalyContext<'_>,
) -> Option<DateTime<Utc>> {
    let spec = check.thresholds.anomaly.as_ref()?;
    if result.outcome == Outcome::Error {
        return None;
    }
    // No value to judge: the fixed rules already failed it.
    let value = result.value?;
    let Some(history) = history else {
        note(result, "no history: this run is not recorded (--no-store)");
        return None;
    };
    // Rows added are judged as differences, and their band is drawn around the total.
    let (points, newest, offset) = match spec.watch {
        AnomalyWatch::Value => (training(history), Point::new(context.at, value), 0.0),
        AnomalyWatch::Added => match added(history, value, context.at) {
            Some((points, newest, previous)) => (points, newest, previous),
            None => {
                note(result, "no previous run to count the rows added since");
                return None;
            }
        },
    };
    let settings = anomaly_settings(check, spec, context);
    match anomaly::judge(&points, newest, &settings) {
        Verdict::Judged(judgement) => {
            result.band = Some(Band {
                lower: offset + judgement.lower,
                upper: offset + judgement.upper,
                anomalous: judgement.is_anomaly,
            });
            if judgement.is_anomaly {
                result.outcome = result.outcome.max(Outcome::Fail);
            }
            note(result, &judgement.reason);
            judgement.shift_since
        }
        other => {
            note(result, other.reason());
            None
        }
    }
}

fn note(result: &mut CheckResult, text: &str) {
    result.message.push_str("; anomaly: ");
    result.message.push_str(text);
}

/// The detector's settings for a check: its kind's defaults, then what the YAML says.
pub fn anomaly_settings(
    check: &Check,
    spec: &AnomalySpec,
    context: &AnomalyContext<'_>,
) -> anomaly::Settings {
    let kind = match spec.watch {
        AnomalyWatch::Added => MetricKind::Value,
        AnomalyWatch::Value => {
            MetricKind::from_check(check.kind.keyword()).unwrap_or(MetricKind::Value)
        }
    };
    let mut settings = anomaly::Settings::for_kind(kind);
    // Validated when the project was read.
    if let Some(sensitivity) = spec.sensitivity.as_deref().and_then(|s| s.parse().ok()) {
        settings.sensitivity = sensitivity;
    }
    if let Some(direction) = spec.direction.as_deref().and_then(|d| d.parse().ok()) {
        settings.direction = direction;
    }
    settings.timezone = Some(context.timezone);
    settings.holidays = context.holidays.cloned();
    settings
}

/// The history as the detector sees it: what users marked and what was judged anomalous
/// stays out of training.
fn training(history: &[MetricPoint]) -> Vec<Point> {
    let start = history.len().saturating_sub(MAX_HISTORY);
    history[start..].iter().map(point).collect()
}

/// A stored point as the detector learns from it ([`MetricPoint::mark`]).
fn point(p: &MetricPoint) -> Point {
    Point::new(p.at, p.value).marked(p.mark())
}

/// Rows added between consecutive runs, and now: the series of differences of the totals,
/// the newest difference, and the previous total it is counted from.
fn added(
    history: &[MetricPoint],
    total: f64,
    at: DateTime<Utc>,
) -> Option<(Vec<Point>, Point, f64)> {
    let last = history.last()?;
    let start = history.len().saturating_sub(MAX_HISTORY + 1);
    let window = &history[start..];
    let diffs = window
        .windows(2)
        .map(|pair| Point {
            value: pair[1].value - pair[0].value,
            ..point(&pair[1])
        })
        .collect();
    Some((diffs, Point::new(at, total - last.value), last.value))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::results::Feedback;
    use crate::spec::{CheckKind, Thresholds, fixtures};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T06:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn row_count(spec: AnomalySpec) -> Check {
        Check {
            thresholds: Thresholds {
                anomaly: Some(spec),
                ..Thresholds::default()
            },
            ..fixtures::check(CheckKind::RowCount)
        }
    }

    fn result(value: f64) -> CheckResult {
        let message = format!("row_count is {value}");
        CheckResult {
            value: Some(value),
            ..crate::results::fixtures::result("row_count", Outcome::Pass, &message)
        }
    }

    /// Daily points before [`now`], oldest first, with the given values.
    fn daily(values: &[f64]) -> Vec<MetricPoint> {
        let n = values.len() as i64;
        values
            .iter()
            .enumerate()
            .map(|(i, value)| MetricPoint {
                at: now() - TimeDelta::days(n - i as i64),
                value: *value,
                lower: None,
                upper: None,
                anomalous: false,
                shift: false,
                feedback: None,
            })
            .collect()
    }

    /// Four weeks of a steady metric around 1,000 rows.
    fn steady() -> Vec<MetricPoint> {
        daily(
            &(0..28)
                .map(|i| 1_000.0 + f64::from(i % 5))
                .collect::<Vec<_>>(),
        )
    }

    fn judged(check: &Check, value: f64, history: Option<&[MetricPoint]>) -> CheckResult {
        let mut judged = result(value);
        let context = AnomalyContext {
            at: now(),
            timezone: chrono_tz::UTC,
            holidays: None,
        };
        judge_anomaly(check, &mut judged, history, &context);
        judged
    }

    #[test]
    fn a_value_far_outside_its_history_fails_with_its_band() {
        let check = row_count(AnomalySpec::default());
        let history = steady();
        let normal = judged(&check, 1_002.0, Some(&history));
        assert_eq!(normal.outcome, Outcome::Pass, "{}", normal.message);
        let band = normal.band.expect("a band");
        assert!(band.lower < 1_002.0 && 1_002.0 < band.upper && !band.anomalous);

        let drop = judged(&check, 400.0, Some(&history));
        assert_eq!(drop.outcome, Outcome::Fail, "{}", drop.message);
        let band = drop.band.expect("a band");
        assert!(band.anomalous && band.lower > 400.0, "{band:?}");
        assert!(
            drop.message.starts_with("row_count is 400; anomaly: "),
            "{}",
            drop.message
        );
    }

    #[test]
    fn direction_limits_what_alerts() {
        let up_only = row_count(AnomalySpec {
            direction: Some("up".into()),
            ..AnomalySpec::default()
        });
        let drop = judged(&up_only, 400.0, Some(&steady()));
        assert_eq!(drop.outcome, Outcome::Pass, "{}", drop.message);
        assert!(drop.band.is_some_and(|b| !b.anomalous && b.lower > 400.0));
    }

    #[test]
    fn without_a_store_or_enough_history_it_passes_with_a_note() {
        let check = row_count(AnomalySpec::default());
        let alone = judged(&check, 5.0, None);
        assert_eq!((alone.outcome, alone.band), (Outcome::Pass, None));
        assert!(
            alone
                .message
                .ends_with("; anomaly: no history: this run is not recorded (--no-store)")
        );

        let short = daily(&[1.0, 2.0, 3.0]);
        let early = judged(&check, 500.0, Some(&short));
        assert_eq!((early.outcome, early.band), (Outcome::Pass, None));
        assert!(early.message.contains("; anomaly: "), "{}", early.message);
    }

    #[test]
    fn fixed_thresholds_and_errors_are_not_overruled() {
        let mut check = row_count(AnomalySpec::default());
        check.thresholds.fail = Some(crate::spec::Bound::Min(2_000.0));
        let mut failed = result(1_001.0);
        failed.outcome = Outcome::Fail;
        let context = AnomalyContext {
            at: now(),
            timezone: chrono_tz::UTC,
            holidays: None,
        };
        judge_anomaly(&check, &mut failed, Some(&steady()), &context);
        assert_eq!(
            failed.outcome,
            Outcome::Fail,
            "normal for its history, still below min"
        );

        let mut errored = result(1.0);
        errored.outcome = Outcome::Error;
        errored.message = "timed out".into();
        judge_anomaly(&check, &mut errored, Some(&steady()), &context);
        assert_eq!(
            (errored.outcome, errored.message.as_str()),
            (Outcome::Error, "timed out")
        );
    }

    #[test]
    fn incidents_stay_out_of_training_and_expected_points_train() {
        let check = row_count(AnomalySpec::default());
        // A level shift to about 5,000, as runs judged it: anomalies until it settled.
        let shift =
            |days: usize| -> Vec<MetricPoint> {
                let levels = [5_001.0, 4_998.0, 5_003.0, 5_000.0, 4_999.0];
                let days = days as i64;
                steady()
                    .into_iter()
                    .map(|mut p| {
                        p.at -= TimeDelta::days(days);
                        p
                    })
                    .chain(daily(&levels[..days as usize]).into_iter().enumerate().map(
                        |(i, mut p)| {
                            p.anomalous = i < anomaly::ACCEPT_AFTER;
                            p
                        },
                    ))
                    .collect()
            };
        let accepted = judged(&check, 5_002.0, Some(&shift(5)));
        assert_eq!(accepted.outcome, Outcome::Pass, "{}", accepted.message);

        // Marked as an incident, the shift is not normal: 5,000 is an anomaly again.
        let mark = |history: Vec<MetricPoint>, feedback| -> Vec<MetricPoint> {
            history
                .into_iter()
                .map(|mut p| {
                    if p.value > 4_000.0 {
                        p.feedback = Some(feedback);
                    }
                    p
                })
                .collect()
        };
        let incident = mark(shift(5), Feedback::Incident);
        assert_eq!(
            judged(&check, 5_002.0, Some(&incident)).outcome,
            Outcome::Fail
        );

        // Two days into a shift it is still an anomaly, unless the owner says the shift is
        // expected: then it is the new normal at once.
        let early = judged(&check, 5_002.0, Some(&shift(2)));
        assert_eq!(early.outcome, Outcome::Fail, "{}", early.message);
        let expected = mark(shift(2), Feedback::Expected);
        let told = judged(&check, 5_002.0, Some(&expected));
        assert_eq!(told.outcome, Outcome::Pass, "{}", told.message);
    }

    #[test]
    fn rows_added_are_judged_as_differences_with_the_band_around_the_total() {
        let check = row_count(AnomalySpec {
            watch: AnomalyWatch::Added,
            ..AnomalySpec::default()
        });
        // A table growing by about 100 rows a day.
        let totals: Vec<f64> = (0..30)
            .map(|i| 10_000.0 + 100.0 * f64::from(i) + f64::from(i % 3))
            .collect();
        let history = daily(&totals);
        let last = totals[29];
        let normal = judged(&check, last + 101.0, Some(&history));
        assert_eq!(normal.outcome, Outcome::Pass, "{}", normal.message);
        let band = normal.band.expect("a band");
        assert!(
            band.lower < last + 101.0 && last + 101.0 < band.upper,
            "{band:?}"
        );

        // Nothing added: the total is normal for a table this size, the growth is not.
        let stalled = judged(&check, last, Some(&history));
        assert_eq!(stalled.outcome, Outcome::Fail, "{}", stalled.message);

        let first = judged(&check, 10.0, Some(&[]));
        assert!(
            first
                .message
                .ends_with("no previous run to count the rows added since")
        );
    }
}
