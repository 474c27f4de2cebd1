//! Seasonality found on evidence: which calendar pattern (if any) the history shows.
//!
//! Candidates are fitted on the series detrended by a centred moving average over the
//! longest candidate period, as bucket medians (robust to the odd outlier or incident
//! left in the history). A candidate wins only when its (trimmed mean absolute) residuals
//! are smaller than a simpler one's by more than its extra buckets would explain by
//! overfitting, so a
//! pattern is used when the data shows it and not otherwise. Month-end and month-start
//! effects are tested afterwards on the residuals: they touch too few points to move an
//! overall scale, so each must show a consistent, large effect in at least two months.

use super::robust::{mad_sigma, median, quantile};
use super::series::{Calendar, MonthPosition};

/// The calendar patterns a series may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Flat,
    DayOfWeek,
    HourOfDay,
    /// Additive hour-of-day and day-of-week effects.
    HourAndDay,
    /// 168 hour-of-week buckets: for weekends whose daily shape differs.
    HourOfWeek,
}

impl Shape {
    /// Candidates from the simplest; a later one must beat the best earlier one.
    const BY_COMPLEXITY: [Shape; 5] = [
        Shape::Flat,
        Shape::DayOfWeek,
        Shape::HourOfDay,
        Shape::HourAndDay,
        Shape::HourOfWeek,
    ];

    fn buckets(self) -> usize {
        match self {
            Shape::Flat => 1,
            Shape::DayOfWeek => 7,
            Shape::HourOfDay => 24,
            Shape::HourAndDay => 31,
            Shape::HourOfWeek => 168,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Flat => "none",
            Shape::DayOfWeek => "day of week",
            Shape::HourOfDay => "hour of day",
            Shape::HourAndDay => "hour of day + day of week",
            Shape::HourOfWeek => "hour of week",
        }
    }
}

/// A fitted seasonal pattern: the effect to add for a point's calendar position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Season {
    shape: Shape,
    /// Which calendar bucket shares its noise (see [`Season::noise_bucket`]).
    noise: Noise,
    effects: Effects,
    /// Month-start and month-end effects (0 when the history does not show one).
    month_first: f64,
    month_last: f64,
}

#[derive(Clone, Debug, PartialEq)]
struct Effects {
    hour: Vec<f64>,
    day: Vec<f64>,
    week: Vec<f64>,
}

impl Effects {
    fn flat() -> Effects {
        Effects {
            hour: Vec::new(),
            day: Vec::new(),
            week: Vec::new(),
        }
    }

    fn at(&self, c: &Calendar) -> f64 {
        let pick = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        pick(&self.hour, usize::from(c.hour))
            + pick(&self.day, usize::from(c.weekday))
            + pick(&self.week, c.hour_of_week())
    }
}

/// A candidate must shrink the residual scale by at least this factor over the best
/// simpler one, on top of the overfitting correction.
const MIN_GAIN: f64 = 0.97;
/// Month effects must be this many residual σ and this consistent in sign.
const MONTH_EFFECT_SIGMA: f64 = 2.0;
const MONTH_EFFECT_AGREEMENT: f64 = 0.8;

impl Season {
    pub fn flat() -> Season {
        Season {
            shape: Shape::Flat,
            noise: Noise::Pooled,
            effects: Effects::flat(),
            month_first: 0.0,
            month_last: 0.0,
        }
    }

    /// The seasonal effect at a calendar position.
    pub fn at(&self, c: &Calendar) -> f64 {
        let month = match c.month_position {
            MonthPosition::First => self.month_first,
            MonthPosition::Last => self.month_last,
            MonthPosition::Other => 0.0,
        };
        self.effects.at(c) + month
    }

    /// The calendar bucket whose noise a point shares: its hour for several points a day,
    /// its weekday for daily points; `None` for a short or sparse history. Whatever the
    /// pattern: a load that lands in either of two hours is noise *at those hours* even
    /// when no hourly pattern won.
    pub fn noise_bucket(&self, c: &Calendar) -> Option<u8> {
        match self.noise {
            Noise::Pooled => None,
            Noise::ByHour => Some(c.hour),
            Noise::ByWeekday => Some(c.weekday),
        }
    }

    /// For the verdict's reason: `hour of day + day of week, month end`.
    pub fn describe(&self) -> String {
        let mut s = self.shape.describe().to_string();
        if self.month_first != 0.0 {
            s.push_str(", month start");
        }
        if self.month_last != 0.0 {
            s.push_str(", month end");
        }
        s
    }

    /// Finds and fits the seasonality of a series (`hours` ascending).
    pub fn fit(hours: &[f64], values: &[f64], calendar: &[Calendar]) -> Season {
        let Some(span) = Span::of(hours) else {
            return Season::flat();
        };
        let Some(detrended) = detrend(hours, values, span.period) else {
            return Season::flat();
        };
        let candidates = Shape::BY_COMPLEXITY
            .into_iter()
            .filter(|shape| span.allows(*shape));
        let mut best: Option<(f64, Effects, Vec<f64>, Shape)> = None;
        for shape in candidates {
            let Some((effects, residuals)) = fit_shape(shape, &detrended, calendar) else {
                continue;
            };
            let score = trimmed_mean_abs(&residuals) * overfit_correction(shape, residuals.len());
            let better = best
                .as_ref()
                .is_none_or(|(best_score, ..)| score < best_score * MIN_GAIN);
            if better {
                best = Some((score, effects, residuals, shape));
            }
        }
        let Some((_, effects, residuals, shape)) = best else {
            return Season::flat();
        };
        let scale = mad_sigma(&residuals);
        let fitted: Vec<&Calendar> = detrended.iter().map(|(i, _)| &calendar[*i]).collect();
        Season {
            shape,
            noise: span.noise(),
            effects,
            month_first: month_effect(&residuals, &fitted, MonthPosition::First, scale),
            month_last: month_effect(&residuals, &fitted, MonthPosition::Last, scale),
        }
    }
}

/// Which points share a noise level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Noise {
    Pooled,
    ByHour,
    ByWeekday,
}

/// What the history's cadence and length allow.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// Hour of day is meaningful: several points a day, three days or more.
    hourly: bool,
    /// Day of week is meaningful: at most ~daily points, two weeks or more (each shape
    /// still needs two points per bucket after detrending, so hour-of-week and daily
    /// day-of-week wait for a third week by themselves).
    weekly: bool,
    /// The detrending window, in hours.
    period: f64,
}

impl Span {
    fn of(hours: &[f64]) -> Option<Span> {
        let (first, last) = (hours.first()?, hours.last()?);
        let length = last - first;
        let cadence = cadence_hours(hours)?;
        let hourly = cadence <= 6.0 && length >= 72.0;
        let weekly = cadence <= 36.0 && length >= 14.0 * 24.0;
        let period = if weekly {
            168.0
        } else if hourly {
            24.0
        } else {
            return None;
        };
        Some(Span {
            hourly,
            weekly,
            period,
        })
    }

    fn noise(self) -> Noise {
        if self.hourly {
            Noise::ByHour
        } else if self.weekly {
            Noise::ByWeekday
        } else {
            Noise::Pooled
        }
    }

    fn allows(self, shape: Shape) -> bool {
        match shape {
            Shape::Flat => true,
            Shape::DayOfWeek => self.weekly,
            Shape::HourOfDay => self.hourly,
            Shape::HourAndDay | Shape::HourOfWeek => self.hourly && self.weekly,
        }
    }
}

/// The typical spacing of points (median gap between distinct times), in hours.
pub(super) fn cadence_hours(hours: &[f64]) -> Option<f64> {
    let mut gaps: Vec<f64> = hours
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|gap| *gap > 0.0)
        .collect();
    median(&mut gaps)
}

/// Values minus a centred moving average over `period` hours, for the points whose window
/// lies wholly inside the history: `(index, detrended value)`.
fn detrend(hours: &[f64], values: &[f64], period: f64) -> Option<Vec<(usize, f64)>> {
    let half = period / 2.0;
    let (first, last) = (*hours.first()?, *hours.last()?);
    let (mut lo, mut hi, mut sum) = (0, 0, 0.0);
    let mut out = Vec::with_capacity(hours.len());
    for (i, &t) in hours.iter().enumerate() {
        while hi < hours.len() && hours[hi] < t + half {
            sum += values[hi];
            hi += 1;
        }
        while hours[lo] < t - half {
            sum -= values[lo];
            lo += 1;
        }
        if t - half >= first && t + half <= last {
            out.push((i, values[i] - sum / (hi - lo) as f64));
        }
    }
    Some(out)
}

/// Fits one shape to the detrended points: its effects and the residuals.
fn fit_shape(
    shape: Shape,
    detrended: &[(usize, f64)],
    calendar: &[Calendar],
) -> Option<(Effects, Vec<f64>)> {
    if detrended.len() < 2 * shape.buckets() {
        return None;
    }
    let values: Vec<f64> = detrended.iter().map(|(_, v)| *v).collect();
    let key = |f: fn(&Calendar) -> usize| -> Vec<usize> {
        detrended.iter().map(|(i, _)| f(&calendar[*i])).collect()
    };
    let hour = |c: &Calendar| usize::from(c.hour);
    let day = |c: &Calendar| usize::from(c.weekday);
    let mut effects = Effects::flat();
    match shape {
        Shape::Flat => {}
        Shape::DayOfWeek => effects.day = bucket_medians(&values, &key(day), 7),
        Shape::HourOfDay => effects.hour = bucket_medians(&values, &key(hour), 24),
        Shape::HourOfWeek => {
            effects.week = bucket_medians(&values, &key(|c| c.hour_of_week()), 168);
        }
        Shape::HourAndDay => {
            // Backfitting: day effects, hour effects on what days leave, days again.
            let (hours, days) = (key(hour), key(day));
            let day_first = bucket_medians(&values, &days, 7);
            let less_days: Vec<f64> = minus(&values, &days, &day_first);
            effects.hour = bucket_medians(&less_days, &hours, 24);
            let less_hours = minus(&values, &hours, &effects.hour);
            effects.day = bucket_medians(&less_hours, &days, 7);
        }
    }
    let residuals = detrended
        .iter()
        .map(|(i, v)| v - effects.at(&calendar[*i]))
        .collect();
    Some((effects, residuals))
}

fn minus(values: &[f64], keys: &[usize], effects: &[f64]) -> Vec<f64> {
    values
        .iter()
        .zip(keys)
        .map(|(v, k)| v - effects[*k])
        .collect()
}

/// The median per bucket (0 for a bucket with fewer than two points: too little to learn
/// from), by a counting sort so it stays O(n).
fn bucket_medians(values: &[f64], keys: &[usize], buckets: usize) -> Vec<f64> {
    let mut starts = vec![0usize; buckets + 1];
    for &k in keys {
        starts[k + 1] += 1;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    let mut next = starts.clone();
    let mut grouped = vec![0.0; values.len()];
    for (&k, &v) in keys.iter().zip(values) {
        grouped[next[k]] = v;
        next[k] += 1;
    }
    (0..buckets)
        .map(|b| {
            let group = &mut grouped[starts[b]..starts[b + 1]];
            if group.len() < 2 {
                0.0
            } else {
                median(group).unwrap_or(0.0)
            }
        })
        .collect()
}

/// The mean absolute residual, leaving out the largest 1% (past anomalies). Unlike a
/// median it sees a pattern that misfits a quarter of the points (weekends) or one hour in
/// 24 (a daily load), so a model that ignores them does not win by fitting the rest.
fn trimmed_mean_abs(residuals: &[f64]) -> f64 {
    let mut abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let Some(cut) = quantile(&mut abs, 0.99) else {
        return 0.0;
    };
    let kept: Vec<f64> = abs.into_iter().filter(|a| *a <= cut).collect();
    kept.iter().sum::<f64>() / kept.len().max(1) as f64
}

/// How much smaller in-sample residuals of bucket medians are than the errors on new
/// data: out-of-sample variance ≈ σ²(1 + π/2·b/n) (a median's variance is π/2 times a
/// mean's), in-sample ≈ σ²(1 − b/n).
fn overfit_correction(shape: Shape, n: usize) -> f64 {
    let ratio = shape.buckets() as f64 / n.max(1) as f64;
    ((1.0 + std::f64::consts::FRAC_PI_2 * ratio) / (1.0 - ratio).max(0.1)).sqrt()
}

/// The month-start or month-end effect, when at least two months show a large one of the
/// same sign; 0 otherwise.
fn month_effect(
    residuals: &[f64],
    calendar: &[&Calendar],
    position: MonthPosition,
    scale: f64,
) -> f64 {
    let mut at: Vec<f64> = Vec::new();
    let mut months: Vec<i32> = Vec::new();
    for (r, c) in residuals.iter().zip(calendar) {
        if c.month_position == position {
            at.push(*r);
            months.push(c.month);
        }
    }
    months.dedup();
    if months.len() < 2 {
        return 0.0;
    }
    let effect = median(&mut at.clone()).unwrap_or(0.0);
    let agreeing = at.iter().filter(|r| r.signum() == effect.signum()).count();
    let consistent = agreeing as f64 >= MONTH_EFFECT_AGREEMENT * at.len() as f64;
    if consistent && effect.abs() >= MONTH_EFFECT_SIGMA * scale {
        effect
    } else {
        0.0
    }
}
