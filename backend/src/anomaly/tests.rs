//! The detector's behaviours, each on a constructed series with exact expectations.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};

use super::*;

/// Monday 5 January 2026, midnight UTC.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// Deterministic noise, roughly standard normal (a sum of four uniforms from an LCG).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn normal(&mut self) -> f64 {
        (0..4).map(|_| self.uniform()).sum::<f64>() * 0.75_f64.sqrt()
    }
}

/// `n` points `step` apart from [`start`], valued by `f(index, time, noise)`.
fn series(
    n: usize,
    step: Duration,
    seed: u64,
    f: impl Fn(usize, DateTime<Utc>, f64) -> f64,
) -> Vec<Point> {
    let mut noise = Noise(seed);
    (0..n)
        .map(|i| {
            let at = start() + step * i as i32;
            Point::new(at, f(i, at, noise.normal()))
        })
        .collect()
}

fn hourly(n: usize, seed: u64, f: impl Fn(usize, DateTime<Utc>, f64) -> f64) -> Vec<Point> {
    series(n, Duration::hours(1), seed, f)
}

fn daily(n: usize, seed: u64, f: impl Fn(usize, DateTime<Utc>, f64) -> f64) -> Vec<Point> {
    series(n, Duration::days(1), seed, f)
}

/// The time just after the history, in its cadence.
fn next(history: &[Point]) -> DateTime<Utc> {
    let last = history.last().expect("history").at;
    last + (last - history[history.len() - 2].at)
}

fn judged(verdict: Verdict) -> Judgement {
    match verdict {
        Verdict::Judged(j) => j,
        other => panic!("expected a judgement, got {other:?}"),
    }
}

fn judge_at(history: &[Point], at: DateTime<Utc>, value: f64, settings: &Settings) -> Judgement {
    judged(judge(history, Point::new(at, value), settings))
}

fn flagged(verdicts: &[Verdict]) -> Vec<usize> {
    (0..verdicts.len())
        .filter(|&i| verdicts[i].is_anomaly())
        .collect()
}

fn is_weekend(at: DateTime<Utc>) -> bool {
    matches!(at.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Hourly: 100 + 50·cos(2π(h − 14)/24), peak at 14:00, trough at 02:00, noise σ = 1.
fn daily_shape(at: DateTime<Utc>) -> f64 {
    100.0 + 50.0 * (2.0 * std::f64::consts::PI * (f64::from(at.hour()) - 14.0) / 24.0).cos()
}

#[test]
fn daily_seasonality_is_found_and_judged_by_hour() {
    let history = hourly(21 * 24, 1, |_, at, e| daily_shape(at) + e);
    let trough = next(&history) + Duration::hours(2); // 02:00
    let settings = Settings::default();
    let normal = judge_at(&history, trough, 51.0, &settings);
    assert!(!normal.is_anomaly, "{}", normal.reason);
    assert!((normal.expected - 50.0).abs() < 2.0, "{}", normal.reason);
    assert!(
        normal.reason.contains("seasonality: hour of day"),
        "{}",
        normal.reason
    );
    // The daily mean is normal over the day, not at 02:00.
    let wrong = judge_at(&history, trough, 100.0, &settings);
    assert!(wrong.is_anomaly, "{}", wrong.reason);
}

#[test]
fn weekly_seasonality_is_found_and_judged_by_weekday() {
    let history = daily(70, 2, |_, at, e| {
        (if is_weekend(at) { 300.0 } else { 1000.0 }) * (1.0 + 0.02 * e)
    });
    let settings = Settings::for_kind(MetricKind::RowCount);
    let saturday = start() + Duration::days(75); // 2026-03-21
    assert_eq!(saturday.weekday(), Weekday::Sat);
    let monday = saturday + Duration::days(2);
    let quiet_saturday = judge_at(&history, saturday, 305.0, &settings);
    assert!(!quiet_saturday.is_anomaly, "{}", quiet_saturday.reason);
    assert!(
        quiet_saturday.reason.contains("day of week"),
        "{}",
        quiet_saturday.reason
    );
    assert!(judge_at(&history, monday, 305.0, &settings).is_anomaly);
    assert!(judge_at(&history, saturday, 1000.0, &settings).is_anomaly);
}

#[test]
fn month_end_is_learned_where_the_history_shows_it() {
    let is_last = |at: DateTime<Utc>| (at + Duration::days(1)).month() != at.month();
    let with_month_end = daily(180, 3, |_, at, e| {
        (if is_last(at) { 2000.0 } else { 1000.0 }) * (1.0 + 0.01 * e)
    });
    let without = daily(180, 3, |_, _, e| 1000.0 * (1.0 + 0.01 * e));
    let settings = Settings::for_kind(MetricKind::RowCount);
    let month_end = Utc
        .with_ymd_and_hms(2026, 7, 31, 0, 0, 0)
        .single()
        .expect("date");
    let mid_month = Utc
        .with_ymd_and_hms(2026, 7, 15, 0, 0, 0)
        .single()
        .expect("date");
    let shown = judge_at(&with_month_end, month_end, 1990.0, &settings);
    assert!(!shown.is_anomaly, "{}", shown.reason);
    assert!(shown.reason.contains("month end"), "{}", shown.reason);
    assert!(judge_at(&with_month_end, mid_month, 1990.0, &settings).is_anomaly);
    assert!(judge_at(&without, month_end, 1990.0, &settings).is_anomaly);
}

#[test]
fn a_trend_is_followed() {
    // +10 a day from 1000, noise σ = 5: day 120 expects 2200.
    let history = daily(120, 4, |i, _, e| 1000.0 + 10.0 * i as f64 + 5.0 * e);
    let settings = Settings::default();
    let on_trend = judge_at(&history, next(&history), 2203.0, &settings);
    assert!(!on_trend.is_anomaly, "{}", on_trend.reason);
    assert!(
        (on_trend.expected - 2200.0).abs() < 15.0,
        "{}",
        on_trend.reason
    );
    // A month's growth missing is a drop, although the value was normal a month ago.
    assert!(judge_at(&history, next(&history), 1900.0, &settings).is_anomaly);
}

#[test]
fn a_level_shift_alerts_then_becomes_the_new_normal() {
    let points = daily(90, 5, |i, _, e| if i < 60 { 100.0 } else { 150.0 } + e);
    let verdicts = judge_series(&points, &Settings::default());
    let expected: Vec<usize> = (60..60 + ACCEPT_AFTER).collect();
    assert_eq!(flagged(&verdicts), expected);
    // The judgement after the fourth alert takes them as the new level, once.
    let accepting = judged(verdicts[60 + ACCEPT_AFTER].clone());
    assert_eq!(
        accepting.shift_since,
        Some(points[60].at),
        "{}",
        accepting.reason
    );
    assert!(
        accepting.reason.contains("taken as a new level"),
        "{}",
        accepting.reason
    );
    let adapted = judged(verdicts[89].clone());
    assert!((adapted.expected - 150.0).abs() < 2.0, "{}", adapted.reason);
    assert_eq!(adapted.shift_since, None);
}

#[test]
fn a_recorded_shift_sticks_and_restarts_the_level() {
    // What judge_series does for a caller that records marks: the shifted points are
    // marked Shift, and the level is learned from them even in a stateless call.
    let points: Vec<Point> = daily(70, 21, |i, _, e| if i < 60 { 100.0 } else { 150.0 } + e)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if (60..64).contains(&i) {
                p.marked(Mark::Shift)
            } else {
                p
            }
        })
        .collect();
    let verdict = judge_at(&points, next(&points), 150.0, &Settings::default());
    assert!(!verdict.is_anomaly, "{}", verdict.reason);
    assert!((verdict.expected - 150.0).abs() < 2.0, "{}", verdict.reason);
}

#[test]
fn a_drift_alerts_while_it_moves_away() {
    // Flat at 100 (σ = 1) for 60 days, then +0.5 a day.
    let points = daily(100, 6, |i, _, e| {
        100.0 + 0.5 * (i.saturating_sub(59)) as f64 + e
    });
    let verdicts = judge_series(&points, &Settings::default());
    let flags: Vec<usize> = flagged(&verdicts)
        .into_iter()
        .filter(|&i| i >= 42)
        .collect();
    assert!(flags.iter().all(|&i| i >= 60), "{flags:?}");
    let first = *flags.first().expect("the drift is flagged");
    assert!(first <= 60 + 16, "first flag at {first}: {flags:?}");
    // It crept up rather than jumped: not taken as a new level after four alerts, it
    // keeps alerting (until a long excursion's last points look level).
    assert!(flags.len() >= 2 * ACCEPT_AFTER, "{flags:?}");
}

#[test]
fn a_stuck_value_is_flagged_from_its_second_repeat() {
    let mut points = hourly(24 * 22, 7, |_, at, e| daily_shape(at) + e);
    let frozen = points[500].value;
    for p in &mut points[501..506] {
        p.value = frozen;
    }
    let verdicts = judge_series(&points[..506], &Settings::default());
    let after_two_weeks: Vec<usize> = flagged(&verdicts)
        .into_iter()
        .filter(|&i| i >= 24 * 14)
        .collect();
    // The first repeat is already wrong for its hour; from the second one it is stuck.
    assert_eq!(after_two_weeks, vec![501, 502, 503, 504, 505]);
    assert!(
        verdicts[502].reason().contains("repeated 3 times in a row"),
        "{}",
        verdicts[502].reason()
    );
}

#[test]
fn zero_inflated_counts_alert_only_on_real_bursts() {
    // Failed rows per hour: mostly 0, now and then 1 to 4.
    let points = hourly(
        24 * 28,
        8,
        |_, _, e| if e > 1.2 { (e * 2.0).round() } else { 0.0 },
    );
    let settings = Settings::for_kind(MetricKind::Count);
    let verdicts = judge_series(&points, &settings);
    let alarms = flagged(&verdicts[24 * 14..]).len();
    assert!(
        alarms <= 3,
        "{alarms} false alarms in two weeks of hourly zeros and ones"
    );
    let at = next(&points);
    // Zeros repeat often here: a long quiet spell is not a stuck value.
    assert!(!judge_at(&points, at, 0.0, &settings).is_anomaly);
    assert!(!judge_at(&points, at, 3.0, &settings).is_anomaly);
    assert!(judge_at(&points, at, 40.0, &settings).is_anomaly);
}

#[test]
fn bounded_rates_have_bands_clipped_to_0_and_100() {
    let settings = Settings::for_kind(MetricKind::Percent);
    let high = daily(40, 9, |_, _, e| (99.6 + 0.3 * e).min(100.0));
    let near_full = judge_at(&high, next(&high), 100.0, &settings);
    assert_eq!(near_full.upper, 100.0);
    assert!(!near_full.is_anomaly, "{}", near_full.reason);
    let low = daily(40, 9, |_, _, e| (0.2 + 0.3 * e).max(0.0));
    let near_empty = judge_at(&low, next(&low), 0.0, &settings);
    assert_eq!(near_empty.lower, 0.0);
    assert!(!near_empty.is_anomaly, "{}", near_empty.reason);
    assert!(
        judge_at(&low, next(&low), 104.0, &settings).is_anomaly,
        "beyond 100%"
    );
}

#[test]
fn missing_points_and_irregular_gaps_are_judged_by_their_time() {
    let mut noise = Noise(10);
    let points: Vec<Point> = hourly(24 * 21, 11, |_, at, e| daily_shape(at) + e)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !(300..348).contains(i) && noise.uniform() > -0.4)
        .map(|(_, p)| p)
        .collect();
    assert!(
        points.len() < 24 * 14,
        "about a third of the points are missing"
    );
    // After a two-day silence, at 14:00 (the daily peak).
    let peak = start() + Duration::days(23) + Duration::hours(14);
    let on_time = judge_at(&points, peak, 149.0, &Settings::default());
    assert!(!on_time.is_anomaly, "{}", on_time.reason);
    assert!(judge_at(&points, peak, 100.0, &Settings::default()).is_anomaly);
}

#[test]
fn a_short_history_is_not_judged_and_says_why() {
    let points = daily(5, 12, |_, _, e| 10.0 + e);
    let verdict = judge(
        &points,
        Point::new(next(&points), 1e6),
        &Settings::default(),
    );
    assert_eq!(
        verdict,
        Verdict::NotEnoughHistory {
            have: 5,
            need: DEFAULT_MIN_HISTORY,
            reason: "14 points of history are needed to judge, 5 so far".into(),
        }
    );
    let few = Settings {
        min_history: 5,
        ..Settings::default()
    };
    assert!(judge(&points, Point::new(next(&points), 1e6), &few).is_anomaly());
}

#[test]
fn holidays_are_judged_like_sundays_and_do_not_skew_mondays() {
    // Weekdays 1000, weekends 300; two Mondays of the history are company holidays at 300.
    let holidays: Vec<NaiveDate> = [14, 28]
        .iter()
        .map(|d| (start() + Duration::days(*d)).date_naive())
        .collect();
    let quiet = |at: DateTime<Utc>| is_weekend(at) || holidays.contains(&at.date_naive());
    let history = daily(35, 13, |_, at, e| {
        (if quiet(at) { 300.0 } else { 1000.0 }) * (1.0 + 0.01 * e)
    });
    let next_holiday = (start() + Duration::days(36)).date_naive(); // a Tuesday
    let calendar =
        HolidayCalendar::default().with_dates(holidays.iter().copied().chain([next_holiday]));
    let with = Settings {
        holidays: Some(calendar),
        ..Settings::for_kind(MetricKind::RowCount)
    };
    let without = Settings::for_kind(MetricKind::RowCount);
    let holiday = start() + Duration::days(36);
    let judged_as_sunday = judge_at(&history, holiday, 300.0, &with);
    assert!(!judged_as_sunday.is_anomaly, "{}", judged_as_sunday.reason);
    assert!(judge_at(&history, holiday, 300.0, &without).is_anomaly);
    // A normal Monday: learned from normal Mondays only with the calendar.
    let monday = start() + Duration::days(35);
    let learned = judge_at(&history, monday, 1000.0, &with);
    assert!(!learned.is_anomaly, "{}", learned.reason);
    let skewed = judge_at(&history, monday, 1000.0, &without);
    assert!(
        (learned.expected - 1000.0).abs() < (skewed.expected - 1000.0).abs() / 2.0,
        "{} / {}",
        learned.reason,
        skewed.reason
    );
}

#[test]
fn country_holidays_come_from_the_calendar() {
    // Thanksgiving 2026 (Thursday 26 November) at Sunday volume.
    let settings = Settings {
        holidays: Some(HolidayCalendar::country("US").expect("US")),
        ..Settings::for_kind(MetricKind::RowCount)
    };
    let history: Vec<Point> = daily(60, 14, |_, at, e| {
        (if is_weekend(at) { 300.0 } else { 1000.0 }) * (1.0 + 0.01 * e)
    })
    .into_iter()
    .map(|p| Point::new(p.at + Duration::days(260), p.value))
    .collect();
    let thanksgiving = Utc
        .with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .single()
        .expect("date");
    assert!(history.last().expect("history").at < thanksgiving);
    let verdict = judge_at(&history, thanksgiving, 310.0, &settings);
    assert!(!verdict.is_anomaly, "{}", verdict.reason);
    assert!(
        verdict.reason.contains("holidays as Sundays"),
        "{}",
        verdict.reason
    );
}

#[test]
fn incidents_and_past_anomalies_are_kept_out_of_training() {
    // 40 normal days at 100, then 20 days of an incident at 500.
    let points = daily(60, 15, |i, _, e| if i < 40 { 100.0 } else { 500.0 } + e);
    let at = next(&points);
    let unmarked = judge_at(&points, at, 100.0, &Settings::default());
    assert!(
        (unmarked.expected - 500.0).abs() < 5.0,
        "without marks: {}",
        unmarked.reason
    );
    let marked: Vec<Point> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i >= 40 {
                p.marked(Mark::Incident)
            } else {
                *p
            }
        })
        .collect();
    let verdict = judge_at(&marked, at, 100.0, &Settings::default());
    assert!(!verdict.is_anomaly, "{}", verdict.reason);
    assert!(
        verdict.reason.contains("learned from 40 points"),
        "{}",
        verdict.reason
    );
    // Fewer than ACCEPT_AFTER past anomalies in a row stay out too.
    let mut spiky: Vec<Point> = points[..40].to_vec();
    for p in &mut spiky[37..40] {
        *p = Point::new(p.at, 900.0).marked(Mark::Anomaly);
    }
    let after_spikes = judge_at(&spiky, next(&spiky), 100.0, &Settings::default());
    assert!(!after_spikes.is_anomaly, "{}", after_spikes.reason);
    assert!(
        (after_spikes.upper - 100.0) < 10.0,
        "{}",
        after_spikes.reason
    );
}

#[test]
fn sensitivity_sets_the_band_width() {
    let history = daily(60, 16, |_, _, e| 100.0 + e);
    let at = next(&history);
    let band = |s: Sensitivity| {
        let j = judge_at(
            &history,
            at,
            100.0,
            &Settings {
                sensitivity: s,
                ..Settings::default()
            },
        );
        j.upper - j.lower
    };
    let (low, medium, high) = (
        band(Sensitivity::Low),
        band(Sensitivity::Medium),
        band(Sensitivity::High),
    );
    assert!(low > medium && medium > high, "{low} {medium} {high}");
    assert!((medium / high - 4.0 / 3.0).abs() < 1e-9);
    assert!((band(Sensitivity::Sigma(8.0)) / medium - 2.0).abs() < 1e-9);
    // A value between the high and the low band edges.
    let value = 100.0 + (medium + high) / 4.0;
    let with = |s| {
        judge_at(
            &history,
            at,
            value,
            &Settings {
                sensitivity: s,
                ..Settings::default()
            },
        )
    };
    assert!(with(Sensitivity::High).is_anomaly);
    assert!(!with(Sensitivity::Low).is_anomaly);
    assert_eq!("high".parse(), Ok(Sensitivity::High));
    assert_eq!("2.5".parse(), Ok(Sensitivity::Sigma(2.5)));
    assert!("-1".parse::<Sensitivity>().is_err());
}

#[test]
fn direction_limits_which_deviations_alert() {
    let history = daily(60, 17, |_, _, e| 100.0 + e);
    let at = next(&history);
    let with = |direction, value| {
        judge_at(
            &history,
            at,
            value,
            &Settings {
                direction,
                ..Settings::default()
            },
        )
    };
    assert!(with(Direction::Up, 150.0).is_anomaly);
    assert!(!with(Direction::Up, 50.0).is_anomaly);
    assert!(with(Direction::Down, 50.0).is_anomaly);
    let ignored = with(Direction::Down, 150.0);
    assert!(!ignored.is_anomaly);
    assert!(
        ignored.reason.contains("not alerted on (direction: down)"),
        "{}",
        ignored.reason
    );
    assert!(with(Direction::Both, 50.0).is_anomaly && with(Direction::Both, 150.0).is_anomaly);
    assert_eq!(
        Settings::for_kind(MetricKind::Freshness).direction,
        Direction::Up
    );
}

#[test]
fn freshness_lateness_against_the_tables_own_habit() {
    // Loaded daily at 02:20 (± a few minutes); on the last day the load is 5 hours late.
    let loads: Vec<DateTime<Utc>> = (0..30)
        .map(|d| start() + Duration::days(d) + Duration::minutes(140 + (d * 7 % 11) - 5))
        .collect();
    let samples: Vec<DateTime<Utc>> = (0..30 * 24).map(|h| start() + Duration::hours(h)).collect();
    let ages = freshness::age_series(&loads[..29], &samples);
    let settings = Settings::for_kind(MetricKind::Freshness);
    let (history, late) = ages.split_at(ages.len() - 20); // day 30, 04:00 … 23:00
    let verdict = judge(history, late[0], &settings);
    assert!(verdict.is_anomaly(), "{verdict:?}");
    assert_eq!(late[0].at.hour(), 4);
    // The same hour on time: the load came at about 02:20, the age is under 2 hours.
    let on_time = freshness::age_series(&loads, &samples);
    assert!(!judge(history, on_time[on_time.len() - 20], &settings).is_anomaly());
    // The gap view: judged at 07:00 on day 30, the last load was 29 hours ago.
    let seven = start() + Duration::days(29) + Duration::hours(7);
    assert!(freshness::judge_lateness(&loads[..29], seven, &settings).is_anomaly());
    let one = start() + Duration::days(29) + Duration::hours(1);
    assert!(!freshness::judge_lateness(&loads[..29], one, &settings).is_anomaly());
    assert_eq!(
        freshness::update_times(&[(start(), start()), (start() + Duration::hours(1), start())]),
        vec![start()]
    );
}

#[test]
fn bad_values_and_odd_histories_do_not_panic() {
    let settings = Settings::default();
    let mut history = daily(40, 18, |_, _, e| 10.0 + e);
    let at = next(&history);
    assert!(matches!(
        judge(&history, Point::new(at, f64::NAN), &settings),
        Verdict::Unjudgeable { .. }
    ));
    assert!(matches!(
        judge(&[], Point::new(at, 1.0), &settings),
        Verdict::NotEnoughHistory { have: 0, .. }
    ));
    let clean = judge(&history, Point::new(at, 10.0), &settings);
    history.push(Point::new(at - Duration::hours(1), f64::INFINITY));
    history.push(Point::new(at - Duration::hours(2), f64::NAN));
    history.reverse();
    assert_eq!(
        judge(&history, Point::new(at, 10.0), &settings),
        clean,
        "unsorted, with NaN"
    );
    let duplicated: Vec<Point> = history.iter().flat_map(|p| [*p, *p]).collect();
    assert!(matches!(
        judge(&duplicated, Point::new(at, 10.0), &settings),
        Verdict::Judged(_)
    ));
    let constant = daily(40, 19, |_, _, _| 7.0);
    assert!(!judge_at(&constant, next(&constant), 7.0, &settings).is_anomaly);
    assert!(judge_at(&constant, next(&constant), 7.5, &settings).is_anomaly);
    let huge = daily(40, 20, |_, _, e| 1e300 * (1.0 + 0.1 * e));
    assert!(matches!(
        judge(&huge, Point::new(next(&huge), 1e300), &settings),
        Verdict::Judged(_)
    ));
}

/// A varied series for the property tests: seasonality, noise, a spike, a shift, a stuck run.
fn eventful(seed: u64) -> Vec<Point> {
    let mut points = hourly(24 * 12, seed, |i, at, e| {
        let base = daily_shape(at) + 3.0 * e;
        match i {
            150 => base * 3.0,
            200.. => base + 60.0,
            _ => base,
        }
    });
    for i in 240..246 {
        points[i].value = points[239].value;
    }
    points
}

#[test]
fn verdicts_on_a_prefix_never_change_when_more_points_follow() {
    for seed in 0..4 {
        let points = eventful(seed);
        let settings = Settings {
            min_history: 24,
            ..Settings::for_kind(MetricKind::RowCount)
        };
        let full = judge_series(&points, &settings);
        for cut in [30, 151, 203, 241, 250] {
            assert_eq!(
                judge_series(&points[..cut], &settings),
                full[..cut],
                "seed {seed}, cut {cut}"
            );
        }
        // judge() ignores points after the one judged.
        let i = 220;
        let with_future: Vec<Point> = [&points[..i], &points[i + 1..]].concat();
        assert_eq!(
            judge(&with_future, points[i], &settings),
            judge(&points[..i], points[i], &settings)
        );
    }
}
