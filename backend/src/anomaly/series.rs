//! From a history and a newest point to what the model works on: the usable points in
//! time order on the judged scale, which of them were past anomalies, their calendar
//! (local hour, weekday with holidays as Sundays, month position), and the counts the
//! stuck-value test needs. (Which past anomalies are a new normal is the detector's call:
//! it needs the seasonality first.)
//!
//! Past anomalies still teach the seasonality (bucket medians shrug off the odd outlier):
//! otherwise a daily load flagged before its hour could be learned would stay excluded,
//! and be flagged, forever. Incidents teach nothing.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::{Mark, MetricKind, Point, Settings};

/// The most recent points a judgement looks at: enough for ~12 weeks of hourly data, and
/// what keeps one judgement within its time budget.
pub(super) const MAX_HISTORY: usize = 2_000;

/// Where a day sits in its month: month-end (and month-start) effects are learned per
/// position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MonthPosition {
    First,
    Last,
    Other,
}

/// The calendar facts seasonality is learned from, in the settings' time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Calendar {
    pub hour: u8,
    /// 0 = Monday … 6 = Sunday; holidays are 6: judged like a Sunday and learned as one.
    pub weekday: u8,
    pub month_position: MonthPosition,
    /// Months since year 0, to count how many distinct months show an effect.
    pub month: i32,
}

impl Calendar {
    /// Hour of the week, 0 … 167.
    pub fn hour_of_week(self) -> usize {
        usize::from(self.weekday) * 24 + usize::from(self.hour)
    }
}

/// How the detector learns from the points that are runs of repeats.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Repeats {
    /// How many points in a row end with the newest value, the newest included.
    pub run: usize,
    /// Pairs of consecutive points that were not anomalies, and how many of them repeat.
    pub pairs: usize,
    pub repeated: usize,
    /// The longest run of one value among them.
    pub longest: usize,
}

/// The usable points of one judgement: every finite point before the newest that is not
/// part of an incident.
#[derive(Debug)]
pub(super) struct Series {
    /// Hours relative to the newest point (≤ 0), ascending.
    pub hours: Vec<f64>,
    /// Values on the judged scale.
    pub values: Vec<f64>,
    pub calendar: Vec<Calendar>,
    pub times: Vec<DateTime<Utc>>,
    /// How earlier verdicts marked each point ([`Mark::Normal`], `Anomaly` or `Shift`).
    pub marks: Vec<Mark>,
    pub newest: f64,
    pub newest_calendar: Calendar,
    pub log_scale: bool,
    /// History points left out as incidents.
    pub incidents: usize,
    pub repeats: Repeats,
}

impl Series {
    /// Prepares `history` for judging `newest`: drops non-finite values and points after
    /// `newest`, orders by time, keeps the last [`MAX_HISTORY`] points and leaves out
    /// incidents.
    pub fn prepare(history: &[Point], newest: Point, settings: &Settings) -> Series {
        let mut points: Vec<&Point> = history
            .iter()
            .filter(|p| p.value.is_finite() && p.at <= newest.at)
            .collect();
        if !points.is_sorted_by_key(|p| p.at) {
            points.sort_by_key(|p| p.at);
        }
        let points = &points[points.len().saturating_sub(MAX_HISTORY)..];
        let log_scale = uses_log_scale(settings.kind, points, newest.value);
        let scale = |v: f64| if log_scale { v.ln_1p() } else { v };
        let mut local = LocalCalendar::new(settings);

        let mut series = Series {
            hours: Vec::with_capacity(points.len()),
            values: Vec::with_capacity(points.len()),
            calendar: Vec::with_capacity(points.len()),
            times: Vec::with_capacity(points.len()),
            marks: Vec::with_capacity(points.len()),
            newest: scale(newest.value),
            newest_calendar: local.of(newest.at),
            log_scale,
            incidents: 0,
            repeats: repeats(points, newest.value),
        };
        for point in points {
            if point.mark == Mark::Incident {
                series.incidents += 1;
                continue;
            }
            series.times.push(point.at);
            series.marks.push(point.mark);
            series
                .hours
                .push((point.at - newest.at).num_milliseconds() as f64 / 3_600_000.0);
            series.values.push(scale(point.value));
            series.calendar.push(local.of(point.at));
        }
        series
    }

    /// Back from the judged scale to the metric's own.
    pub fn unscale(&self, v: f64) -> f64 {
        if self.log_scale { v.exp_m1() } else { v }
    }
}

/// Counts are judged on a log scale (their seasonality and noise are multiplicative), as
/// long as every value used is ≥ 0.
fn uses_log_scale(kind: MetricKind, points: &[&Point], newest: f64) -> bool {
    matches!(kind, MetricKind::RowCount | MetricKind::Count)
        && newest >= 0.0
        && points
            .iter()
            .all(|p| p.mark == Mark::Incident || p.value >= 0.0)
}

/// The newest run of repeats, and how the points that were not anomalies repeat
/// (consecutive pairs of them).
fn repeats(points: &[&Point], newest: f64) -> Repeats {
    let run = 1 + points
        .iter()
        .rev()
        .take_while(|p| p.value == newest)
        .count();
    let (mut pairs, mut repeated, mut longest, mut current) = (0, 0, 1, 1);
    for i in 1..points.len() {
        let usual = |p: &Point| matches!(p.mark, Mark::Normal | Mark::Shift);
        if usual(points[i]) && usual(points[i - 1]) {
            pairs += 1;
            let repeats = points[i].value == points[i - 1].value;
            repeated += usize::from(repeats);
            current = if repeats { current + 1 } else { 1 };
            longest = longest.max(current);
        } else {
            current = 1;
        }
    }
    Repeats {
        run,
        pairs,
        repeated,
        longest,
    }
}

/// Local calendar facts, remembering the last date's holiday lookup (consecutive points
/// mostly share a date).
struct LocalCalendar<'s> {
    settings: &'s Settings,
    last: Option<(NaiveDate, bool)>,
}

impl<'s> LocalCalendar<'s> {
    fn new(settings: &'s Settings) -> Self {
        LocalCalendar {
            settings,
            last: None,
        }
    }

    fn of(&mut self, at: DateTime<Utc>) -> Calendar {
        let local: NaiveDateTime = match self.settings.timezone {
            Some(tz) => at.with_timezone(&tz).naive_local(),
            None => at.naive_utc(),
        };
        let date = local.date();
        let holiday = self.is_holiday(date);
        let month_position = if date.day() == 1 {
            MonthPosition::First
        } else if date
            .succ_opt()
            .is_none_or(|next| next.month() != date.month())
        {
            MonthPosition::Last
        } else {
            MonthPosition::Other
        };
        Calendar {
            hour: local.hour() as u8,
            weekday: if holiday {
                6
            } else {
                date.weekday().num_days_from_monday() as u8
            },
            month_position,
            month: date.year() * 12 + date.month0() as i32,
        }
    }

    fn is_holiday(&mut self, date: NaiveDate) -> bool {
        let Some(calendar) = &self.settings.holidays else {
            return false;
        };
        match self.last {
            Some((d, holiday)) if d == date => holiday,
            _ => {
                let holiday = calendar.is_holiday(date);
                self.last = Some((date, holiday));
                holiday
            }
        }
    }
}
