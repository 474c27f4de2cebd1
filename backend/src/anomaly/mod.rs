//! Anomaly detection over metric series: values in, verdicts out. Pure: no I/O, no clock,
//! nothing else from the crate.
//!
//! [`judge`] decides whether the newest point of a series is anomalous from the points
//! before it, and returns the expected band `[lower, upper]` either way. [`judge_series`]
//! does that for every point of a series in turn (the CLI and the benchmark use it).
//!
//! ## The method, and why
//!
//! A robust decomposition of our own, chosen and tuned on the generated benchmark
//! (`examples/anomaly_bench/`, figures in docs/benchmarks.md), where it meets the
//! targets that an Elementary-style z-score ([`baseline`]) misses by far:
//!
//! 1. **Seasonality** (`season`): hour of day, day of week (additive, or 168 hour-of-week
//!    buckets) and month start/end are *candidates*, fitted as bucket medians on the
//!    series detrended by a centred moving average; one is kept only when it lowers the
//!    (trimmed mean absolute) residual by more than its extra buckets explain. So daily and
//!    weekly patterns are found without configuration, month-end only "where the history
//!    shows it". Holidays count as Sundays. Past anomalies still teach the seasonality
//!    (medians shrug them off): a daily load flagged before its hour was learned must not
//!    stay unlearned.
//! 2. **Level and trend** (`detector`): the expected value is the median of about a week
//!    of recent deseasonalised points (four weeks of daily ones) plus a robust slope. The
//!    long window is what makes a slow drift stand out instead of being followed.
//! 3. **Band**: the detector replays its own predictions over the recent history — at
//!    every usable point, past anomalies included — and takes a tail-aware robust scale of
//!    their errors (`robust::tail_scale`), per hour of day (or weekday) where that is
//!    wider. So the band says how well the method actually predicts *this* series: narrow
//!    for a smooth metric, wide for a zero-inflated one or at the hour a load lands.
//!    Sensitivity multiplies that scale.
//! 4. **Learning only from normal points**: incidents and past anomalies are kept out of
//!    the level and band — except a level shift. When the last [`ACCEPT_AFTER`] anomalies
//!    of a run sit on one level, and the run *jumped* there (the points before it were at
//!    the old level) or has gone on long, they become the new normal: the level restarts
//!    from them ([`Mark::Shift`], reported as [`Judgement::shift_since`]). A drift, which
//!    creeps rather than jumps and keeps moving, keeps alerting. Freshness never adapts: a
//!    table hours late is still late.
//! 5. **Stuck values**: a metric that normally moves (repeats at most 10% of the time) and
//!    repeats one value more times in a row than its history ever did — and than its
//!    repeat rate makes plausible at the sensitivity's tail — is an anomaly.
//!
//! Numbers are judged on a scale where the model is additive: counts on a log scale (their
//! seasonality is multiplicative), the rest as they are. Bands are clipped to what the
//! metric can be: ≥ 0 for counts and freshness, [0, 100] for percentages.
//!
//! augurs' MSTL and period detection (CRATES.md) were ruled out on requirements, not
//! measured: MSTL needs a regular series without gaps (metric histories have missing and
//! irregular points), would be refitted for every judged point, and brings nalgebra and
//! 19 crates into the build; a bucket-median decomposition handles gaps by timestamps and
//! judges a point against 2,000 in well under a millisecond.

pub mod baseline;
mod detector;
pub mod freshness;
mod robust;
mod season;
mod series;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use crate::holidays::{Country, HolidayCalendar, HolidayError};
pub use detector::{ACCEPT_AFTER, judge, judge_series};

/// One observation of a metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
    /// Whether this point may teach the detector what normal looks like.
    pub mark: Mark,
}

impl Point {
    /// An unmarked point.
    pub fn new(at: DateTime<Utc>, value: f64) -> Point {
        Point {
            at,
            value,
            mark: Mark::Normal,
        }
    }

    /// The same point with another mark.
    pub fn marked(self, mark: Mark) -> Point {
        Point { mark, ..self }
    }
}

/// How a past point was judged, which decides whether it trains the detector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mark {
    /// Trains the detector.
    #[default]
    Normal,
    /// An earlier verdict flagged it: kept out of training, unless it ends a run of
    /// [`ACCEPT_AFTER`] or more anomalies that settled on a new level (a level shift, taken
    /// as the new normal).
    Anomaly,
    /// Flagged, then taken as the start of a new level ([`Judgement::shift_since`]): trains
    /// the detector, and the level is learned afresh from the first of them. Recording it
    /// makes that decision stick; without it the detector re-decides each time.
    Shift,
    /// A user marked it as part of an incident: always kept out of training.
    Incident,
}

/// How wide the expected band is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Sensitivity {
    /// Fewer alerts: only large deviations.
    Low,
    /// The default.
    #[default]
    Medium,
    /// More alerts: smaller deviations too.
    High,
    /// The band's half-width in robust standard deviations of the prediction error (like
    /// Elementary's `anomaly_sensitivity`: larger is less sensitive).
    Sigma(f64),
}

impl Sensitivity {
    /// The band's half-width in robust standard deviations.
    pub fn sigma(self) -> f64 {
        match self {
            Sensitivity::Low => 5.0,
            Sensitivity::Medium => 4.0,
            Sensitivity::High => 3.0,
            Sensitivity::Sigma(sigma) => sigma,
        }
    }
}

impl FromStr for Sensitivity {
    type Err = String;

    /// `low`, `medium`, `high`, or a positive number of standard deviations.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Sensitivity::Low),
            "medium" => Ok(Sensitivity::Medium),
            "high" => Ok(Sensitivity::High),
            other => match other.parse::<f64>() {
                Ok(sigma) if sigma.is_finite() && sigma > 0.0 => Ok(Sensitivity::Sigma(sigma)),
                _ => Err(format!(
                    "sensitivity must be low, medium, high or a positive number, not `{s}`"
                )),
            },
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sensitivity::Low => f.write_str("low"),
            Sensitivity::Medium => f.write_str("medium"),
            Sensitivity::High => f.write_str("high"),
            Sensitivity::Sigma(sigma) => write!(f, "{sigma}"),
        }
    }
}

/// Which deviations alert. The band is reported on both sides either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Both,
    /// Only values above the band.
    Up,
    /// Only values below the band.
    Down,
}

impl FromStr for Direction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "both" => Ok(Direction::Both),
            "up" => Ok(Direction::Up),
            "down" => Ok(Direction::Down),
            _ => Err(format!("direction must be up, down or both, not `{s}`")),
        }
    }
}

/// What the metric measures, which decides its transform and its bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricKind {
    /// Rows in a table or a window, rows added since the previous run: ≥ 0, multiplicative
    /// seasonality (judged on a log scale).
    RowCount,
    /// Other counts (missing, duplicate, invalid rows): ≥ 0, judged on a log scale.
    Count,
    /// A percentage such as `missing_percent`: bounded to [0, 100].
    Percent,
    /// Time since the data last changed (any unit): ≥ 0; lateness never becomes normal.
    Freshness,
    /// Any other number (avg, sum, min, max, stddev, sql_metric): unbounded.
    #[default]
    Value,
}

impl MetricKind {
    /// The kind for a check kind of the check language (`row_count`, `missing_percent`, …).
    pub fn from_check(name: &str) -> Option<MetricKind> {
        Some(match name {
            "row_count" | "rows" | "volume" => MetricKind::RowCount,
            "missing_count" | "duplicate_count" | "invalid_count" | "count" => MetricKind::Count,
            "missing_percent" | "percent" | "rate" => MetricKind::Percent,
            "freshness" => MetricKind::Freshness,
            "avg" | "sum" | "min" | "max" | "stddev" | "sql_metric" | "value" => MetricKind::Value,
            _ => return None,
        })
    }

    /// The range values of this kind can take.
    fn bounds(self) -> (f64, f64) {
        match self {
            MetricKind::RowCount | MetricKind::Count | MetricKind::Freshness => {
                (0.0, f64::INFINITY)
            }
            MetricKind::Percent => (0.0, 100.0),
            MetricKind::Value => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    /// Whether a run of anomalies may become the new normal (see [`Mark::Shift`]).
    fn adapts_to_shifts(self) -> bool {
        self != MetricKind::Freshness
    }
}

/// How to judge a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub sensitivity: Sensitivity,
    pub direction: Direction,
    pub kind: MetricKind,
    /// Points of training history needed before judging (at least 3 whatever is set).
    pub min_history: usize,
    /// Holidays are judged like Sundays.
    pub holidays: Option<HolidayCalendar>,
    /// The zone whose clock the seasonality follows (hour of day, weekday, month end,
    /// holidays); UTC when `None`.
    pub timezone: Option<Tz>,
}

/// The default minimum history: two weeks of daily points.
pub const DEFAULT_MIN_HISTORY: usize = 14;

impl Settings {
    /// The defaults for a kind of metric: medium sensitivity, both directions (freshness:
    /// only late, i.e. up), 14 points of history, no holidays, UTC.
    pub fn for_kind(kind: MetricKind) -> Settings {
        Settings {
            sensitivity: Sensitivity::Medium,
            direction: if kind == MetricKind::Freshness {
                Direction::Up
            } else {
                Direction::Both
            },
            kind,
            min_history: DEFAULT_MIN_HISTORY,
            holidays: None,
            timezone: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::for_kind(MetricKind::Value)
    }
}

/// What the detector concluded about one point.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Judged(Judgement),
    /// Too little training history to judge yet (a pass with a note, per CHECKS.md).
    NotEnoughHistory {
        have: usize,
        need: usize,
        reason: String,
    },
    /// The value itself cannot be judged (NaN or infinite).
    Unjudgeable {
        reason: String,
    },
}

/// A judged point: its expected band and whether it falls outside.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub is_anomaly: bool,
    pub value: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    /// Signed distance from the expected value in robust standard deviations (on the
    /// judged scale: logarithmic for counts).
    pub score: f64,
    /// One sentence for people: what was expected and why this is (not) an anomaly.
    pub reason: String,
    /// Set when this judgement took the latest run of anomalies as a level shift: the
    /// points marked [`Mark::Anomaly`] from this time on are the new normal, and should be
    /// marked [`Mark::Shift`] from now on ([`judge_series`] does).
    pub shift_since: Option<DateTime<Utc>>,
}

impl Verdict {
    pub fn is_anomaly(&self) -> bool {
        matches!(self, Verdict::Judged(j) if j.is_anomaly)
    }

    /// The expected band, when the point was judged.
    pub fn band(&self) -> Option<(f64, f64)> {
        match self {
            Verdict::Judged(j) => Some((j.lower, j.upper)),
            _ => None,
        }
    }

    /// The sentence explaining the verdict.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Judged(j) => &j.reason,
            Verdict::NotEnoughHistory { reason, .. } | Verdict::Unjudgeable { reason } => reason,
        }
    }
}
