//! Judging the newest point: seasonality, level, trend, a calibrated band, stuck values.

use std::f64::consts::{FRAC_PI_2, SQRT_2};

use super::robust::{erfc, mad_sigma, median, tail_scale};
use super::season::{Season, cadence_hours};
use super::series::{Repeats, Series};
use super::{Direction, Judgement, Mark, Point, Settings, Verdict};

/// Anomalies in a row after which they are the new normal (a level shift): the first
/// alerts, and from the next point on the level is learned from them.
pub const ACCEPT_AFTER: usize = 4;

/// Points of history below which nothing is judged, whatever the settings say.
const MIN_POINTS: usize = 3;
/// How many past predictions are replayed to calibrate the band: the most recent ones, in
/// a row (a stride would alias with the day: every 4th hour sees 6 hours of 24). Two
/// weeks of hourly points, so every hour of the day is seen 14 times.
const ERROR_SAMPLES: usize = 336;
/// Replayed errors at the newest point's hour (or weekday) needed before their own spread
/// may widen the band there.
const MIN_BUCKET_ERRORS: usize = 8;
/// How far (in points) a long level window may move before the replay recomputes its
/// median.
const LEVEL_REUSE: usize = 4;
/// A replayed prediction needs at least this many points in its level window.
const MIN_LEVEL_POINTS: usize = 2;

/// Judges `newest` from the points before it. Points of `history` after `newest`, and
/// non-finite values, are ignored; the order of `history` does not matter.
pub fn judge(history: &[Point], newest: Point, settings: &Settings) -> Verdict {
    if !newest.value.is_finite() {
        return Verdict::Unjudgeable {
            reason: format!("the value {} is not a finite number", newest.value),
        };
    }
    let series = Series::prepare(history, newest, settings);
    let season = Season::fit(&series.hours, &series.values, &series.calendar);
    let deseasoned: Vec<f64> = (0..series.values.len())
        .map(|i| series.values[i] - season.at(&series.calendar[i]))
        .collect();
    let window = level_window(&series.hours);
    let adapts = settings.kind.adapts_to_shifts();
    let training = Training::decide(&series, &deseasoned, adapts, window);
    let need = settings.min_history.max(MIN_POINTS);
    if training.count < need {
        return not_enough_history(&series, &training, need);
    }
    let model = Model::fit(&series, season, &deseasoned, &training, window);
    let mut judgement = model.judge(&series, newest.value, settings);
    judgement.shift_since = training.accepted.map(|i| series.times[i]);
    if let Some(since) = judgement.shift_since {
        judgement.reason.push_str(&format!(
            "; the anomalies since {since} are taken as a new level"
        ));
    }
    Verdict::Judged(judgement)
}

/// Judges every point of a series from the points before it, in order. A point found
/// anomalous is kept out of training for the later points (see [`Mark::Anomaly`]), so
/// verdicts on a prefix never change when more points follow.
pub fn judge_series(points: &[Point], settings: &Settings) -> Vec<Verdict> {
    let mut seen: Vec<Point> = Vec::with_capacity(points.len());
    points
        .iter()
        .map(|&point| {
            let verdict = judge(&seen, point, settings);
            if let Verdict::Judged(Judgement {
                shift_since: Some(since),
                ..
            }) = verdict
            {
                for p in seen
                    .iter_mut()
                    .filter(|p| p.at >= since && p.mark == Mark::Anomaly)
                {
                    p.mark = Mark::Shift;
                }
            }
            let learned = if verdict.is_anomaly() && point.mark == Mark::Normal {
                point.marked(Mark::Anomaly)
            } else {
                point
            };
            seen.push(learned);
            verdict
        })
        .collect()
}

fn not_enough_history(series: &Series, training: &Training, need: usize) -> Verdict {
    let have = training.count;
    let excluded = series.incidents + series.values.len() - have;
    let mut reason = format!("{need} points of history are needed to judge, {have} so far");
    if excluded > 0 {
        reason.push_str(&format!(
            " ({excluded} more are kept out of training as incidents or anomalies)"
        ));
    }
    Verdict::NotEnoughHistory { have, need, reason }
}

/// A run's last points are a new level once their two halves differ by less than this
/// share of their offset from the level before (a shift that settled, not a drift still
/// under way), and the points leading into the run were that close to the old level (a
/// jump, not a creep).
const SETTLED: f64 = 0.25;

/// Runs of anomalies this few normal points apart are one excursion (a shifted point that
/// happened to fall inside the band does not start a new one).
const EXCURSION_GAP: usize = 2;

/// Which usable points teach the level and the band, and where accepted level shifts
/// restart the level (indices into the series).
struct Training {
    trains: Vec<bool>,
    change_points: Vec<usize>,
    count: usize,
    /// Where the newest run of anomalies was taken as a new level, if it was just now.
    accepted: Option<usize>,
}

impl Training {
    /// Normal points train. So do the last [`ACCEPT_AFTER`] points of a run of past
    /// anomalies when they have settled on a new level (a level shift becomes the new
    /// normal); the level then restarts from them. A run still moving, or one that crept
    /// up rather than jumped (a drift), stays out and keeps alerting; a long run is
    /// accepted as soon as its last points are level (the drift stopped).
    fn decide(series: &Series, deseasoned: &[f64], adapts: bool, window: usize) -> Training {
        let marks = &series.marks;
        let anomalous: Vec<bool> = marks.iter().map(|m| *m == Mark::Anomaly).collect();
        let mut trains: Vec<bool> = anomalous.iter().map(|a| !a).collect();
        // Shifts accepted earlier (and recorded) restart the level where they begin.
        let mut change_points: Vec<usize> = (0..marks.len())
            .filter(|&i| marks[i] == Mark::Shift && (i == 0 || marks[i - 1] != Mark::Shift))
            .collect();
        let mut accepted = None;
        let long_run = (3 * ACCEPT_AFTER).max(window / 4);
        // Where the current excursion began, and where its last run of anomalies ended.
        let mut excursion: Option<(usize, usize)> = None;
        let mut i = 0;
        while adapts && i < anomalous.len() {
            if !anomalous[i] {
                i += 1;
                continue;
            }
            let end = i + anomalous[i..].iter().take_while(|a| **a).count();
            let first = match excursion {
                Some((first, last_end)) if i - last_end <= EXCURSION_GAP => first,
                _ => i,
            };
            excursion = Some((first, end));
            // One value repeated is a stuck metric, not a new level.
            let stuck = |tail: usize| series.values[tail..end].windows(2).all(|w| w[0] == w[1]);
            if end - i >= ACCEPT_AFTER && !stuck(end - ACCEPT_AFTER) {
                let tail = end - ACCEPT_AFTER;
                let run = Run {
                    first,
                    tail: tail..end,
                    long: end - first >= long_run,
                };
                if run.settled(deseasoned, &trains, window) {
                    trains[tail..end].fill(true);
                    change_points.push(tail);
                    excursion = None;
                    if end == anomalous.len() {
                        accepted = Some(tail);
                    }
                }
            }
            i = end;
        }
        change_points.sort_unstable();
        let count = trains.iter().filter(|t| **t).count();
        Training {
            trains,
            change_points,
            count,
            accepted,
        }
    }
}

/// A run of past anomalies: where its excursion starts, its last [`ACCEPT_AFTER`] points,
/// and whether the excursion has gone on long.
struct Run {
    first: usize,
    tail: std::ops::Range<usize>,
    long: bool,
}

impl Run {
    /// Whether the run's tail is a new level: see [`SETTLED`].
    fn settled(&self, deseasoned: &[f64], trains: &[bool], window: usize) -> bool {
        let mut before: Vec<f64> = (0..self.first)
            .rev()
            .filter(|&i| trains[i])
            .take(window)
            .map(|i| deseasoned[i])
            .collect();
        let tail = self.tail.clone();
        let middle = tail.start + tail.len() / 2;
        let lead = self.first.saturating_sub(ACCEPT_AFTER)..self.first;
        let at = |r: std::ops::Range<usize>| median(&mut deseasoned[r].to_vec());
        let (Some(before), Some(level)) = (median(&mut before), at(tail.clone())) else {
            return true;
        };
        let near = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= SETTLED * (level - before).abs(),
            _ => true,
        };
        let level_tail = near(at(tail.start..middle), at(middle..tail.end));
        let jumped = self.long || near(at(lead), Some(before));
        level_tail && jumped
    }
}

/// What the history predicts for the newest point, on the judged scale.
struct Model {
    season: Season,
    /// Points that trained the level and band.
    learned_from: usize,
    /// Per hour.
    slope: f64,
    expected: f64,
    /// Robust σ of the prediction error.
    sigma: f64,
}

impl Model {
    fn fit(
        series: &Series,
        season: Season,
        deseasoned: &[f64],
        training: &Training,
        window: usize,
    ) -> Model {
        // The level, trend and band learn from the training points only.
        let train: Vec<usize> = (0..deseasoned.len())
            .filter(|&i| training.trains[i])
            .collect();
        let hours: Vec<f64> = train.iter().map(|&i| series.hours[i]).collect();
        let trained: Vec<f64> = train.iter().map(|&i| deseasoned[i]).collect();
        let change_points: Vec<usize> = training
            .change_points
            .iter()
            .filter_map(|cp| train.binary_search(cp).ok())
            .collect();
        let slope = trend_slope(&hours, &trained, &change_points);
        // Level-and-trend residue: the trend is measured from the newest point, so the
        // median of a window of these is the level expected *at the newest point*.
        let residue_all: Vec<f64> = deseasoned
            .iter()
            .zip(&series.hours)
            .map(|(d, h)| d - slope * h)
            .collect();
        let residue: Vec<f64> = train.iter().map(|&i| residue_all[i]).collect();
        let n = residue.len();
        let levels = Levels {
            residue: &residue,
            change_points: &change_points,
            window,
        };
        let replayed = levels.replay(&residue_all, &train);
        let start = levels.start(n);
        let level = median(&mut residue[start..].to_vec()).unwrap_or(0.0);
        let (bias, pooled) = calibrate(replayed.errors(|_| true), &residue[start..]);
        // Noise differs by hour: a daily load's hour varies by its size, the other hours
        // are zeros. The band is never narrower than that hour's own replayed spread.
        let bucket = season.noise_bucket(&series.newest_calendar);
        let same_bucket = replayed.errors(|at| season.noise_bucket(&series.calendar[at]) == bucket);
        let spread = if bucket.is_some() && same_bucket.len() >= MIN_BUCKET_ERRORS {
            pooled.max(calibrate(same_bucket, &[]).1)
        } else {
            pooled
        };
        let typical_points = replayed.typical_points;
        let inflation = level_noise(n - start) / level_noise(typical_points.max(1));
        let expected = level + bias + season.at(&series.newest_calendar);
        let floor = 1e-9 * (1.0 + expected.abs());
        Model {
            season,
            learned_from: n,
            slope,
            expected,
            sigma: (spread * inflation).max(floor),
        }
    }

    fn judge(&self, series: &Series, value: f64, settings: &Settings) -> Judgement {
        let z = settings.sensitivity.sigma();
        let (min, max) = settings.kind.bounds();
        let (low, high) = (
            self.expected - z * self.sigma,
            self.expected + z * self.sigma,
        );
        let unscale = |v: f64| series.unscale(v).clamp(min, max);
        let score = (series.newest - self.expected) / self.sigma;
        let above = series.newest > high || value > max;
        let below = series.newest < low || value < min;
        let deviates = match settings.direction {
            Direction::Both => above || below,
            Direction::Up => above,
            Direction::Down => below,
        };
        let stuck = repeat_rate(series.repeats).filter(|rate| {
            let run = i32::try_from(series.repeats.run - 1).unwrap_or(i32::MAX);
            rate.powi(run) < erfc(z / SQRT_2)
        });
        let mut judgement = Judgement {
            is_anomaly: deviates || stuck.is_some(),
            value,
            expected: unscale(self.expected),
            lower: unscale(low),
            upper: unscale(high),
            score,
            reason: String::new(),
            shift_since: None,
        };
        judgement.reason = self.reason(&judgement, series, above, below, stuck, settings);
        judgement
    }

    fn reason(
        &self,
        j: &Judgement,
        series: &Series,
        above: bool,
        below: bool,
        stuck: Option<f64>,
        settings: &Settings,
    ) -> String {
        let range = format!("{}–{}", num(j.lower), num(j.upper));
        let mut s = match (above, below) {
            (true, _) => format!("{} is above the expected range {range}", num(j.value)),
            (_, true) => format!("{} is below the expected range {range}", num(j.value)),
            _ => format!("{} is within the expected range {range}", num(j.value)),
        };
        if (above || below) && !j.is_anomaly {
            s.push_str(&format!(
                ", which is not alerted on (direction: {})",
                if above { "down" } else { "up" }
            ));
        }
        if let Some(rate) = stuck {
            s = format!(
                "{} repeated {} times in a row, unlikely for this metric (it repeats {:.2}% of \
                 the time); {s}",
                num(j.value),
                series.repeats.run,
                100.0 * rate
            );
        }
        let unit = if series.log_scale { " (log scale)" } else { "" };
        s.push_str(&format!(
            " (expected {}; seasonality: {}; trend {:+.3}/h{unit}; learned from {} points",
            num(j.expected),
            self.season.describe(),
            self.slope,
            self.learned_from
        ));
        if settings.holidays.is_some() {
            s.push_str(", holidays as Sundays");
        }
        s.push(')');
        s
    }
}

/// The robust slope of the deseasoned series per hour: the median of slopes between points
/// a quarter of the history apart, so a level shift (at most a quarter of the pairs) or a
/// recent drift does not tilt it. Measured since the last accepted level shift when
/// enough points follow it.
fn trend_slope(hours: &[f64], deseasoned: &[f64], change_points: &[usize]) -> f64 {
    const MIN_PAIRS: usize = 8;
    let n = hours.len();
    let start = change_points
        .last()
        .copied()
        .filter(|cp| n - cp >= 8 * MIN_PAIRS)
        .unwrap_or(0);
    let (hours, values) = (&hours[start..], &deseasoned[start..]);
    let lag = (hours.len() / 4).max(1);
    let mut slopes: Vec<f64> = (lag..hours.len())
        .filter_map(|j| {
            let dt = hours[j] - hours[j - lag];
            (dt > 0.0).then(|| (values[j] - values[j - lag]) / dt)
        })
        .collect();
    if slopes.len() < MIN_PAIRS {
        return 0.0;
    }
    median(&mut slopes).unwrap_or(0.0)
}

/// Points in the level window: about a week of sub-daily points, four weeks of daily ones.
/// Long enough that a slow drift moves away from the level instead of dragging it along;
/// level shifts restart the window, so it does not need to be short for them.
fn level_window(hours: &[f64]) -> usize {
    match cadence_hours(hours) {
        Some(c) if c <= 6.0 => ((168.0 / c).round() as usize).clamp(24, 336),
        Some(c) if c <= 36.0 => 28,
        _ => 12,
    }
}

/// The level of the points before an index: the median of the window, which starts no
/// earlier than the last accepted level shift.
struct Levels<'a> {
    residue: &'a [f64],
    change_points: &'a [usize],
    window: usize,
}

impl Levels<'_> {
    /// Where the level window for a prediction at `at` starts.
    fn start(&self, at: usize) -> usize {
        let shifts_before = self.change_points.partition_point(|&cp| cp <= at);
        let shift = shifts_before
            .checked_sub(1)
            .map_or(0, |i| self.change_points[i]);
        shift.max(at.saturating_sub(self.window))
    }

    /// Replays the predictions at [`ERROR_SAMPLES`] recent points: their errors, and the
    /// typical number of points their level used.
    ///
    /// Every usable point is replayed, past anomalies included (`all`, with `train` the
    /// indices of the training points in it): a band calibrated only on the points it
    /// already found normal could never learn that it flags too much (a load whose hour
    /// wavers between two buckets, a noisier spell). Real anomalies are rare enough not to
    /// move the quantiles the scale uses.
    fn replay(&self, all: &[f64], train: &[usize]) -> Replayed {
        let n = all.len();
        let mut errors = Vec::with_capacity(ERROR_SAMPLES.min(n));
        let mut sizes = Vec::with_capacity(ERROR_SAMPLES.min(n));
        let mut buffer = Vec::with_capacity(self.window);
        // The last half window is left out: a drift under way would otherwise widen the
        // band as fast as it moves away from it.
        let recent = self.window / 2;
        // The median of a long window moves little from one point to the next: it is
        // recomputed when the window has moved by a few points, which keeps the replay
        // cheap; short windows (after a shift) are recomputed every time.
        let mut cached: Option<(usize, usize, f64)> = None;
        for at in (1..n.saturating_sub(recent)).rev().take(ERROR_SAMPLES) {
            let before = train.partition_point(|&i| i < at);
            let start = self.start(before);
            if before - start < MIN_LEVEL_POINTS {
                continue;
            }
            let level = match cached {
                Some((s, b, level))
                    if before - start >= 4 * LEVEL_REUSE
                        && s.abs_diff(start) < LEVEL_REUSE
                        && b.abs_diff(before) < LEVEL_REUSE =>
                {
                    level
                }
                _ => {
                    buffer.clear();
                    buffer.extend_from_slice(&self.residue[start..before]);
                    let Some(level) = median(&mut buffer) else {
                        continue;
                    };
                    cached = Some((start, before, level));
                    level
                }
            };
            errors.push((at, all[at] - level));
            sizes.push((before - start) as f64);
        }
        let typical_points = median(&mut sizes).unwrap_or(self.window as f64) as usize;
        Replayed {
            errors,
            typical_points,
        }
    }
}

/// Replayed prediction errors, by the index of the point they predicted.
struct Replayed {
    errors: Vec<(usize, f64)>,
    typical_points: usize,
}

impl Replayed {
    fn errors(&self, keep: impl Fn(usize) -> bool) -> Vec<f64> {
        self.errors
            .iter()
            .filter(|(at, _)| keep(*at))
            .map(|(_, e)| *e)
            .collect()
    }
}

/// The replayed errors' median (a systematic bias the prediction corrects for) and their
/// robust, tail-aware spread. With too few errors, the spread of the level window itself.
fn calibrate(mut errors: Vec<f64>, window: &[f64]) -> (f64, f64) {
    if errors.len() < 3 {
        return (0.0, mad_sigma(window) * level_noise(window.len().max(1)));
    }
    let bias = median(&mut errors).unwrap_or(0.0);
    for e in &mut errors {
        *e = (*e - bias).abs();
    }
    (bias, tail_scale(&mut errors))
}

/// Prediction error relative to the noise when the level is a median of `points` points:
/// √(1 + π/2 / points). A level learned from few points (just after a shift) widens the
/// band accordingly.
fn level_noise(points: usize) -> f64 {
    (1.0 + FRAC_PI_2 / points as f64).sqrt()
}

/// How often this metric repeats its previous value, when it normally moves (repeats at
/// most [`MOVING`] of the time) and the newest value repeats more times in a row than the
/// history ever did; the newest run then has a chance of rate^(run − 1). A metric that
/// often repeats (a zero-inflated count's quiet nights) is never "stuck": its repeats
/// cluster, so a rate would underestimate long runs.
fn repeat_rate(repeats: Repeats) -> Option<f64> {
    if repeats.run < 2 || repeats.run <= repeats.longest || repeats.pairs < MIN_POINTS {
        return None;
    }
    // Half a repeat added: a metric never seen repeating is not thereby unable to repeat.
    let rate = (repeats.repeated as f64 + 0.5) / (repeats.pairs as f64 + 1.0);
    (rate <= MOVING).then_some(rate)
}

/// The largest share of repeated values for a metric that "normally moves".
const MOVING: f64 = 0.1;

/// A number for people: a few significant digits, no trailing zeros.
pub(super) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let decimals = match x.abs() {
        a if a >= 1000.0 => 0,
        a if a >= 10.0 => 2,
        a if a >= 0.01 => 4,
        _ => 6,
    };
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
