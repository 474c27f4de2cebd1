//! The anomaly benchmark: a generated, labelled set of metric series, judged point by point
//! by Tidemark's detector and by an Elementary-style z-score, with the same generator and
//! the same labels for both.
//!
//! ```sh
//! cargo run --release -p tidemark --example anomaly_bench            # the reported figures
//! cargo run --release -p tidemark --example anomaly_bench -- --seed 7 # another draw (tuning)
//! ```
//!
//! The generator's seed is fixed; the labels follow from the generator alone (rules below,
//! written before the detector was tuned). The detector was tuned on other seeds and is
//! reported on the default one.
//!
//! ## Labels
//!
//! Every injected anomaly is an *event*. A point is **anomalous** (positive), **ignored**
//! (neither a hit nor a false alarm) or **normal**:
//!
//! - spike, drop (1–3 points), stuck value (the value of the point before repeats), late
//!   load of rows added (the load's rows come hours later): the points whose value differs
//!   from the clean series are anomalous.
//! - late load (freshness: the load comes hours or a day late): the points whose age is
//!   above the clean series' are anomalous (once it lands, the data is younger than usual
//!   until the next load: that is normal).
//! - level shift: the first shifted point is anomalous, the next 5 are ignored (time to
//!   adapt), the rest are the new normal.
//! - drift: a ramp to a new level; ramp points whose offset is already ≥ 4 noise σ are
//!   anomalous, earlier ramp points and the 5 points after the ramp are ignored, the plateau
//!   is normal.
//! - legitimate step (in "clean" series): no event; the step and the next 5 points are
//!   ignored, the rest are normal.
//!
//! An event is detected when any point from its first changed point to its last labelled or
//! ignored point is flagged; its delay is the number of points from its first anomalous
//! point to the first flag (0 when flagged at or before it). Points before the evaluation
//! start (two weeks of hourly points, six weeks of daily ones) are history only.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use tidemark::anomaly::baseline::{Buckets, ZScore};
use tidemark::anomaly::{HolidayCalendar, MetricKind, Point, Sensitivity, Settings, judge_series};

const DEFAULT_SEED: u64 = 20_261_125;
const GRACE: usize = 5;
const DRIFT_LABEL_SIGMA: f64 = 4.0;

fn main() {
    let seed = seed_from_args();
    let series = generate_all(seed);
    if let Some(index) = arg_after("--dump").and_then(|s| s.parse().ok()) {
        dump(&series, index);
        return;
    }
    let detectors = detectors();
    let results = evaluate(&series, &detectors);
    let timings: Vec<(f64, f64)> = detectors.iter().map(time_judge).collect();
    print_report(seed, &series, &detectors, &results, &timings);
}

fn arg_after(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    Some(args.get(i + 1).cloned().unwrap_or_default())
}

fn seed_from_args() -> u64 {
    match arg_after("--seed") {
        Some(seed) => seed.parse().unwrap_or_else(|_| {
            eprintln!("usage: anomaly_bench [--seed N] [--dump SERIES]");
            std::process::exit(2)
        }),
        None => DEFAULT_SEED,
    }
}

/// `--dump N`: one series as CSV with its labels and both detectors' verdicts, to look at
/// what a detector did and why.
fn dump(series: &[Series], index: usize) {
    let Some(s) = series.get(index) else {
        eprintln!("there are {} series", series.len());
        std::process::exit(2)
    };
    println!(
        "# {} {} {}",
        s.family.name(),
        s.cadence.name(),
        s.scenario.name()
    );
    println!("i,ts,value,label,tidemark,zscore,lower,upper,reason");
    let ours = judge_series(&s.points, &s.settings);
    let z = ZScore::default().judge_series(&s.points);
    for (i, p) in s.points.iter().enumerate() {
        let (lower, upper) = ours[i].band().unwrap_or((f64::NAN, f64::NAN));
        println!(
            "{i},{},{},{:?},{},{},{lower:.3},{upper:.3},\"{}\"",
            p.at.format("%Y-%m-%d %H:%M %a"),
            p.value,
            s.labels[i],
            u8::from(ours[i].is_anomaly()),
            u8::from(z[i].is_anomaly()),
            ours[i].reason()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Random numbers: SplitMix64, so a seed gives the same series on every machine.

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn index(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.unit() * (hi - lo) as f64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn sign(&mut self) -> f64 {
        if self.chance(0.5) { 1.0 } else { -1.0 }
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

// ---------------------------------------------------------------------------------------
// The series.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cadence {
    Hourly,
    Daily,
}

impl Cadence {
    fn step(self) -> Duration {
        match self {
            Cadence::Hourly => Duration::hours(1),
            Cadence::Daily => Duration::days(1),
        }
    }

    fn len(self) -> usize {
        match self {
            Cadence::Hourly => 56 * 24,
            Cadence::Daily => 365,
        }
    }

    fn eval_start(self) -> usize {
        match self {
            Cadence::Hourly => 14 * 24,
            Cadence::Daily => 42,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cadence::Hourly => "hourly",
            Cadence::Daily => "daily",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Volume,
    RowsAdded,
    Freshness,
    NullRate,
    ZeroInflatedNullRate,
    Average,
}

impl Family {
    fn kind(self) -> MetricKind {
        match self {
            Family::Volume | Family::RowsAdded => MetricKind::RowCount,
            Family::Freshness => MetricKind::Freshness,
            Family::NullRate | Family::ZeroInflatedNullRate => MetricKind::Percent,
            Family::Average => MetricKind::Value,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Volume => "volume",
            Family::RowsAdded => "rows added",
            Family::Freshness => "freshness",
            Family::NullRate => "null rate",
            Family::ZeroInflatedNullRate => "null rate (zero-inflated)",
            Family::Average => "average",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Clean,
    Step,
    Spike,
    Drop,
    LevelShift,
    Drift,
    Stuck,
    LateLoad,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Clean => "clean (seasonal)",
            Scenario::Step => "clean + legitimate step",
            Scenario::Spike => "spike",
            Scenario::Drop => "drop",
            Scenario::LevelShift => "level shift",
            Scenario::Drift => "drift",
            Scenario::Stuck => "stuck value",
            Scenario::LateLoad => "late load",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Normal,
    Anomaly,
    Ignored,
}

/// An injected event: the points from `first` to `last` are its window (a flag there
/// detects it); `first_anomalous` is where its delay counts from.
#[derive(Clone, Copy, Debug)]
struct Event {
    first: usize,
    first_anomalous: usize,
    last: usize,
}

struct Series {
    family: Family,
    cadence: Cadence,
    scenario: Scenario,
    settings: Settings,
    points: Vec<Point>,
    labels: Vec<Label>,
    events: Vec<Event>,
    eval_start: usize,
}

/// The benchmark's composition: (family, cadence, scenario, how many series).
const PLAN: &[(Family, Cadence, Scenario, usize)] = &[
    (Family::Volume, Cadence::Hourly, Scenario::Clean, 4),
    (Family::Volume, Cadence::Hourly, Scenario::Step, 3),
    (Family::Volume, Cadence::Hourly, Scenario::Spike, 3),
    (Family::Volume, Cadence::Hourly, Scenario::Drop, 3),
    (Family::Volume, Cadence::Hourly, Scenario::LevelShift, 3),
    (Family::Volume, Cadence::Hourly, Scenario::Drift, 3),
    (Family::Volume, Cadence::Hourly, Scenario::Stuck, 3),
    (Family::Volume, Cadence::Daily, Scenario::Clean, 4),
    (Family::Volume, Cadence::Daily, Scenario::Step, 3),
    (Family::Volume, Cadence::Daily, Scenario::Spike, 3),
    (Family::Volume, Cadence::Daily, Scenario::Drop, 3),
    (Family::Volume, Cadence::Daily, Scenario::LevelShift, 3),
    (Family::Volume, Cadence::Daily, Scenario::Drift, 3),
    (Family::Volume, Cadence::Daily, Scenario::Stuck, 3),
    (Family::RowsAdded, Cadence::Hourly, Scenario::Clean, 4),
    (Family::RowsAdded, Cadence::Hourly, Scenario::Spike, 3),
    (Family::RowsAdded, Cadence::Hourly, Scenario::LateLoad, 6),
    (Family::Freshness, Cadence::Hourly, Scenario::Clean, 4),
    (Family::Freshness, Cadence::Hourly, Scenario::LateLoad, 8),
    (Family::Freshness, Cadence::Daily, Scenario::Clean, 3),
    (Family::Freshness, Cadence::Daily, Scenario::LateLoad, 5),
    (Family::NullRate, Cadence::Hourly, Scenario::Clean, 2),
    (Family::NullRate, Cadence::Hourly, Scenario::Step, 2),
    (Family::NullRate, Cadence::Hourly, Scenario::Spike, 2),
    (Family::NullRate, Cadence::Hourly, Scenario::LevelShift, 2),
    (Family::NullRate, Cadence::Hourly, Scenario::Drift, 2),
    (Family::NullRate, Cadence::Hourly, Scenario::Stuck, 2),
    (Family::NullRate, Cadence::Daily, Scenario::Clean, 2),
    (Family::NullRate, Cadence::Daily, Scenario::Step, 2),
    (Family::NullRate, Cadence::Daily, Scenario::Spike, 2),
    (Family::NullRate, Cadence::Daily, Scenario::LevelShift, 2),
    (Family::NullRate, Cadence::Daily, Scenario::Drift, 2),
    (Family::NullRate, Cadence::Daily, Scenario::Stuck, 2),
    (
        Family::ZeroInflatedNullRate,
        Cadence::Hourly,
        Scenario::Clean,
        2,
    ),
    (
        Family::ZeroInflatedNullRate,
        Cadence::Hourly,
        Scenario::Spike,
        2,
    ),
    (
        Family::ZeroInflatedNullRate,
        Cadence::Daily,
        Scenario::Clean,
        2,
    ),
    (
        Family::ZeroInflatedNullRate,
        Cadence::Daily,
        Scenario::Spike,
        2,
    ),
    (Family::Average, Cadence::Hourly, Scenario::Clean, 3),
    (Family::Average, Cadence::Hourly, Scenario::Step, 3),
    (Family::Average, Cadence::Hourly, Scenario::Spike, 3),
    (Family::Average, Cadence::Hourly, Scenario::Drop, 3),
    (Family::Average, Cadence::Hourly, Scenario::LevelShift, 3),
    (Family::Average, Cadence::Hourly, Scenario::Drift, 3),
    (Family::Average, Cadence::Hourly, Scenario::Stuck, 3),
    (Family::Average, Cadence::Daily, Scenario::Clean, 3),
    (Family::Average, Cadence::Daily, Scenario::Step, 3),
    (Family::Average, Cadence::Daily, Scenario::Spike, 3),
    (Family::Average, Cadence::Daily, Scenario::Drop, 3),
    (Family::Average, Cadence::Daily, Scenario::LevelShift, 3),
    (Family::Average, Cadence::Daily, Scenario::Drift, 3),
    (Family::Average, Cadence::Daily, Scenario::Stuck, 3),
];

fn generate_all(seed: u64) -> Vec<Series> {
    let mut rng = Rng(seed);
    PLAN.iter()
        .flat_map(|&(family, cadence, scenario, count)| {
            std::iter::repeat_n((family, cadence, scenario), count)
        })
        .map(|(family, cadence, scenario)| {
            let mut own = Rng(rng.next_u64());
            generate(&mut own, family, cadence, scenario)
        })
        .collect()
}

fn start_time(rng: &mut Rng) -> DateTime<Utc> {
    let monday = Utc
        .with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
        .single()
        .expect("valid start");
    monday + Duration::days(rng.index(0, 300) as i64)
}

fn generate(rng: &mut Rng, family: Family, cadence: Cadence, scenario: Scenario) -> Series {
    let n = cadence.len();
    let start = start_time(rng);
    let times: Vec<DateTime<Utc>> = (0..n).map(|i| start + cadence.step() * i as i32).collect();
    let eval_start = cadence.eval_start();
    let mut settings = Settings::for_kind(family.kind());
    let generated = match family {
        Family::Freshness => freshness(rng, cadence, scenario, &times, eval_start),
        Family::RowsAdded => rows_added(rng, scenario, &times, eval_start),
        _ => {
            let model = Continuous::new(rng, family, cadence, &times);
            if model.holidays {
                settings.holidays = Some(HolidayCalendar::country("US").expect("US rules"));
            }
            model.generate(rng, scenario, eval_start)
        }
    };
    let (values, labels, events) = generated;
    let mut points: Vec<Point> = times
        .iter()
        .zip(&values)
        .map(|(&at, &v)| Point::new(at, v))
        .collect();
    let mut labels = labels;
    let mut events = events;
    if rng.chance(0.25) {
        drop_points(rng, &mut points, &mut labels, &mut events, eval_start);
    }
    Series {
        family,
        cadence,
        scenario,
        settings,
        points,
        labels,
        events,
        eval_start,
    }
}

type Generated = (Vec<f64>, Vec<Label>, Vec<Event>);

/// Volume, null rates and averages: a latent series (level, trend, seasonality, a slowly
/// wandering level) plus noise, with events added in units of the noise σ.
struct Continuous {
    family: Family,
    cadence: Cadence,
    /// The latent mean per point and the noise σ (log scale for volume, fraction for null
    /// rates, the value itself for averages).
    mean: Vec<f64>,
    sigma: f64,
    /// Rows per bucket for null rates (their noise is the sampling noise of a proportion).
    rows: f64,
    holidays: bool,
}

impl Continuous {
    fn new(rng: &mut Rng, family: Family, cadence: Cadence, times: &[DateTime<Utc>]) -> Self {
        let hourly = cadence == Cadence::Hourly;
        let holidays = family == Family::Volume && !hourly && rng.chance(1.0 / 3.0);
        let month_end = family == Family::Volume && !hourly && rng.chance(1.0 / 3.0);
        let us = HolidayCalendar::country("US").expect("US rules");
        let (base, sigma, rows, daily_amp, weekend, trend) = match family {
            Family::Volume => (
                rng.range(1e3_f64.ln(), 1e6_f64.ln()),
                rng.range(0.03, 0.08),
                0.0,
                if hourly { rng.range(0.3, 0.8) } else { 0.0 },
                -rng.range(0.2, 0.8),
                if rng.chance(0.5) {
                    rng.range(0.001, 0.005)
                } else {
                    0.0
                },
            ),
            Family::NullRate | Family::ZeroInflatedNullRate => {
                let zero_inflated = family == Family::ZeroInflatedNullRate;
                let p = if zero_inflated {
                    rng.range(0.0001, 0.0005)
                } else {
                    rng.range(0.005, 0.05)
                };
                let rows = if hourly {
                    rng.range(2_000.0, 20_000.0)
                } else {
                    rng.range(50_000.0, 500_000.0)
                };
                let rows = if zero_inflated { rows / 10.0 } else { rows };
                let sigma = (p / rows).sqrt();
                (
                    p,
                    sigma,
                    rows,
                    rng.range(0.0, 3.0),
                    rng.range(-2.0, 2.0),
                    0.0,
                )
            }
            _ => {
                let mean = rng.range(20.0, 500.0);
                let sigma = mean * rng.range(0.01, 0.03);
                (
                    mean,
                    sigma,
                    0.0,
                    rng.range(0.0, 4.0),
                    rng.range(-4.0, 4.0),
                    0.0,
                )
            }
        };
        let peak = rng.range(10.0, 16.0);
        let wander_keep: f64 = if hourly { 0.995 } else { 0.9 };
        let wander_step = 0.5 * sigma * (1.0 - wander_keep * wander_keep).sqrt();
        let mut wander = 0.0;
        let mean = times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                wander = wander_keep * wander + wander_step * rng.normal();
                let date = t.date_naive();
                let weekend_day = matches!(t.weekday(), Weekday::Sat | Weekday::Sun)
                    || (holidays && us.is_holiday(date));
                let hour = f64::from(t.hour());
                let daily = (2.0 * std::f64::consts::PI * (hour - peak) / 24.0).cos();
                let last_day = date.succ_opt().is_some_and(|d| d.month() != date.month());
                let days = i as f64 * if hourly { 1.0 / 24.0 } else { 1.0 };
                match family {
                    Family::Volume => {
                        base + trend * days
                            + daily_amp * daily
                            + if weekend_day { weekend } else { 0.0 }
                            + if month_end && last_day { 0.45 } else { 0.0 }
                            + wander
                    }
                    Family::NullRate | Family::ZeroInflatedNullRate => {
                        let seasonal = if hourly { daily_amp * daily } else { 0.0 }
                            + if weekend_day { weekend } else { 0.0 };
                        (base + sigma * seasonal + wander).max(0.0)
                    }
                    _ => {
                        let seasonal = if hourly { daily_amp * daily } else { 0.0 }
                            + if weekend_day { weekend } else { 0.0 };
                        base + sigma * seasonal + wander
                    }
                }
            })
            .collect();
        Continuous {
            family,
            cadence,
            mean,
            sigma,
            rows,
            holidays,
        }
    }

    fn render(&self, latent: f64) -> f64 {
        match self.family {
            Family::Volume => latent.exp().round(),
            Family::NullRate | Family::ZeroInflatedNullRate => {
                100.0 * (latent.max(0.0) * self.rows).round() / self.rows
            }
            _ => (latent * 100.0).round() / 100.0,
        }
    }

    /// Noise σ of a point: for null rates the sampling noise of its own proportion.
    fn noise(&self, i: usize) -> f64 {
        match self.family {
            Family::NullRate | Family::ZeroInflatedNullRate => {
                (self.mean[i].max(1e-6) / self.rows).sqrt()
            }
            _ => self.sigma,
        }
    }

    fn generate(&self, rng: &mut Rng, scenario: Scenario, eval_start: usize) -> Generated {
        let n = self.mean.len();
        let noise: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let clean: Vec<f64> = (0..n)
            .map(|i| self.render(self.mean[i] + self.noise(i) * noise[i]))
            .collect();
        let mut offsets = vec![0.0; n];
        let mut labels = vec![Label::Normal; n];
        let mut events = Vec::new();
        let hourly = self.cadence == Cadence::Hourly;
        let up_only = matches!(self.family, Family::NullRate | Family::ZeroInflatedNullRate);
        let direction = |rng: &mut Rng| if up_only { 1.0 } else { rng.sign() };
        let mut stuck: Option<(usize, usize)> = None;
        for at in event_starts(rng, scenario, self.cadence, eval_start, n) {
            let k = rng.range(6.0, 14.0);
            match scenario {
                Scenario::Clean => {}
                Scenario::Spike | Scenario::Drop => {
                    // Averages spike either way; volumes and null rates spike up.
                    let sign = match scenario {
                        Scenario::Drop => -1.0,
                        _ if self.family == Family::Average => rng.sign(),
                        _ => 1.0,
                    };
                    let width = rng.index(1, 4);
                    for o in &mut offsets[at..at + width] {
                        *o = sign * k;
                    }
                }
                Scenario::Step | Scenario::LevelShift => {
                    let sign = direction(rng);
                    for o in &mut offsets[at..] {
                        *o = sign * k;
                    }
                }
                Scenario::Drift => {
                    let sign = direction(rng);
                    let total = rng.range(8.0, 16.0);
                    let ramp = if hourly {
                        rng.index(24, 97)
                    } else {
                        rng.index(10, 31)
                    };
                    for (j, o) in offsets[at..].iter_mut().enumerate() {
                        *o = sign * total * ((j + 1) as f64 / ramp as f64).min(1.0);
                    }
                }
                Scenario::Stuck => {
                    let width = if hourly {
                        rng.index(6, 25)
                    } else {
                        rng.index(3, 9)
                    };
                    stuck = Some((at, width));
                }
                // Late loads are for freshness and rows added only (see PLAN).
                Scenario::LateLoad => {}
            }
        }
        let mut values: Vec<f64> = (0..n)
            .map(|i| self.render(self.mean[i] + self.noise(i) * (noise[i] + offsets[i])))
            .collect();
        if let Some((at, width)) = stuck {
            let frozen = values[at - 1];
            for v in &mut values[at..at + width] {
                *v = frozen;
            }
        }
        // Labels, from the rules in the module documentation.
        let mut i = eval_start;
        while i < n {
            if values[i] == clean[i] && offsets[i] == 0.0 {
                i += 1;
                continue;
            }
            let run_end = (i..n)
                .take_while(|&j| values[j] != clean[j] || offsets[j] != 0.0)
                .last()
                .unwrap_or(i);
            match scenario {
                Scenario::Spike | Scenario::Drop | Scenario::Stuck => {
                    let end = (i..=run_end)
                        .rev()
                        .find(|&j| values[j] != clean[j])
                        .unwrap_or(i);
                    for l in &mut labels[i..=end] {
                        *l = Label::Anomaly;
                    }
                    events.push(Event {
                        first: i,
                        first_anomalous: i,
                        last: end,
                    });
                    i = end + 1;
                    continue;
                }
                Scenario::Step | Scenario::LevelShift => {
                    let grace_end = (i + GRACE).min(n - 1);
                    for l in &mut labels[i..=grace_end] {
                        *l = Label::Ignored;
                    }
                    if scenario == Scenario::LevelShift {
                        labels[i] = Label::Anomaly;
                        events.push(Event {
                            first: i,
                            first_anomalous: i,
                            last: grace_end,
                        });
                    }
                }
                Scenario::Drift => {
                    let ramp_end = (i..n)
                        .take_while(|&j| j == i || offsets[j] != offsets[j - 1])
                        .last()
                        .unwrap_or(i);
                    let grace_end = (ramp_end + GRACE).min(n - 1);
                    for l in &mut labels[i..=grace_end] {
                        *l = Label::Ignored;
                    }
                    let first_anomalous = (i..=ramp_end)
                        .find(|&j| offsets[j].abs() >= DRIFT_LABEL_SIGMA)
                        .unwrap_or(ramp_end);
                    for l in &mut labels[first_anomalous..=ramp_end] {
                        *l = Label::Anomaly;
                    }
                    events.push(Event {
                        first: i,
                        first_anomalous,
                        last: grace_end,
                    });
                }
                Scenario::Clean | Scenario::LateLoad => {}
            }
            break;
        }
        (values, labels, events)
    }
}

/// Where events start: after the evaluation start and a margin, apart from each other.
fn event_starts(
    rng: &mut Rng,
    scenario: Scenario,
    cadence: Cadence,
    eval_start: usize,
    n: usize,
) -> Vec<usize> {
    let (margin, gap) = match cadence {
        Cadence::Hourly => (48, 72),
        Cadence::Daily => (14, 21),
    };
    let count = match scenario {
        Scenario::Clean => 0,
        Scenario::Spike | Scenario::Drop | Scenario::LateLoad => rng.index(2, 4),
        _ => 1,
    };
    let lo = eval_start + margin;
    let hi = n - 3 * margin;
    let mut starts: Vec<usize> = Vec::new();
    let mut tries = 0;
    while starts.len() < count && tries < 1000 {
        tries += 1;
        let at = rng.index(lo, hi);
        if starts.iter().all(|s| s.abs_diff(at) >= gap) {
            starts.push(at);
        }
    }
    starts.sort_unstable();
    starts
}

/// Load times of a table: daily at a fixed hour (optionally weekdays only), or hourly at a
/// fixed minute, each with jitter; a late load delays one scheduled load.
struct Schedule {
    hourly: bool,
    weekdays_only: bool,
    at_minutes: f64,
    jitter_minutes: f64,
}

impl Schedule {
    fn draw(rng: &mut Rng, sampled_daily: bool) -> Schedule {
        if sampled_daily {
            return Schedule {
                hourly: false,
                weekdays_only: true,
                at_minutes: rng.range(5.0 * 60.0, 8.0 * 60.0),
                jitter_minutes: 20.0,
            };
        }
        let hourly = rng.chance(0.3);
        Schedule {
            hourly,
            weekdays_only: !hourly && rng.chance(0.3),
            at_minutes: if hourly {
                rng.range(10.0, 50.0)
            } else {
                rng.range(0.0, 23.0) * 60.0 + rng.range(5.0, 50.0)
            },
            jitter_minutes: if hourly { 4.0 } else { 12.0 },
        }
    }

    /// The clean load times over `[from, to)`.
    fn loads(&self, rng: &mut Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let step = if self.hourly {
            Duration::hours(1)
        } else {
            Duration::days(1)
        };
        let mut loads = Vec::new();
        let mut slot = from - Duration::days(3);
        while slot < to {
            let skip = self.weekdays_only && matches!(slot.weekday(), Weekday::Sat | Weekday::Sun);
            let jitter = (rng.normal() * self.jitter_minutes)
                .clamp(-3.0 * self.jitter_minutes, 3.0 * self.jitter_minutes);
            if !skip {
                loads.push(slot + Duration::seconds(((self.at_minutes + jitter) * 60.0) as i64));
            }
            slot += step;
        }
        loads
    }
}

/// Delays the load nearest each event start by `delay`; loads that would have come in the
/// meantime do not come (the pipeline is stuck until then).
fn delay_loads(loads: &[DateTime<Utc>], at: DateTime<Utc>, delay: Duration) -> Vec<DateTime<Utc>> {
    let Some(first) = loads.iter().copied().find(|l| *l >= at) else {
        return loads.to_vec();
    };
    let late = first + delay;
    let mut out: Vec<DateTime<Utc>> = loads
        .iter()
        .copied()
        .filter(|l| *l < first || *l > late)
        .collect();
    out.push(late);
    out.sort();
    out
}

fn age_hours(loads: &[DateTime<Utc>], at: DateTime<Utc>) -> f64 {
    let before = loads.partition_point(|l| *l <= at);
    before
        .checked_sub(1)
        .map_or(0.0, |i| (at - loads[i]).num_seconds() as f64 / 3600.0)
}

/// Label the points where `differs(value, clean value)`; one event per run of them.
fn label_differences(
    clean: &[f64],
    values: &[f64],
    eval_start: usize,
    differs: fn(f64, f64) -> bool,
) -> (Vec<Label>, Vec<Event>) {
    let mut labels = vec![Label::Normal; values.len()];
    let mut events = Vec::new();
    let mut i = eval_start;
    while i < values.len() {
        if !differs(values[i], clean[i]) {
            i += 1;
            continue;
        }
        let end = (i..values.len())
            .take_while(|&j| differs(values[j], clean[j]))
            .last()
            .unwrap_or(i);
        for l in &mut labels[i..=end] {
            *l = Label::Anomaly;
        }
        events.push(Event {
            first: i,
            first_anomalous: i,
            last: end,
        });
        i = end + 1;
    }
    (labels, events)
}

fn late_events(
    rng: &mut Rng,
    scenario: Scenario,
    cadence: Cadence,
    times: &[DateTime<Utc>],
    eval_start: usize,
) -> Vec<usize> {
    if scenario == Scenario::Clean {
        return Vec::new();
    }
    event_starts(rng, Scenario::LateLoad, cadence, eval_start, times.len())
}

/// Freshness: hours since the last load, sampled every hour (or daily at noon).
fn freshness(
    rng: &mut Rng,
    cadence: Cadence,
    scenario: Scenario,
    times: &[DateTime<Utc>],
    eval_start: usize,
) -> Generated {
    let daily = cadence == Cadence::Daily;
    let sample = |t: DateTime<Utc>| if daily { t + Duration::hours(12) } else { t };
    let schedule = Schedule::draw(rng, daily);
    let end = sample(times[times.len() - 1]) + Duration::days(1);
    let clean_loads = schedule.loads(rng, times[0], end);
    let mut loads = clean_loads.clone();
    for at in late_events(rng, scenario, cadence, times, eval_start) {
        let delay = if daily {
            Duration::hours(rng.index(24, 49) as i64)
        } else if schedule.hourly {
            Duration::minutes(rng.index(90, 240) as i64)
        } else {
            Duration::minutes(rng.index(180, 480) as i64)
        };
        loads = delay_loads(&loads, sample(times[at]), delay);
    }
    let round = |h: f64| (h * 100.0).round() / 100.0;
    let clean: Vec<f64> = times
        .iter()
        .map(|t| round(age_hours(&clean_loads, sample(*t))))
        .collect();
    let values: Vec<f64> = times
        .iter()
        .map(|t| round(age_hours(&loads, sample(*t))))
        .collect();
    // Late: older than it would have been. (Once the late load lands, the data is younger
    // than usual until the next load; that is not an anomaly.)
    let (labels, events) = label_differences(&clean, &values, eval_start, |v, c| v > c);
    (values, labels, events)
}

/// Rows added since the previous hourly run, for a table loaded once a day (plus, for
/// some, a trickle of late rows every hour).
fn rows_added(
    rng: &mut Rng,
    scenario: Scenario,
    times: &[DateTime<Utc>],
    eval_start: usize,
) -> Generated {
    let schedule = Schedule {
        hourly: false,
        weekdays_only: rng.chance(0.3),
        at_minutes: rng.range(0.0, 23.0) * 60.0 + rng.range(5.0, 50.0),
        jitter_minutes: 12.0,
    };
    let size = rng.range(8.0, 13.0);
    let trickle = if rng.chance(0.5) {
        rng.range(0.5, 3.0)
    } else {
        0.0
    };
    let end = times[times.len() - 1] + Duration::days(1);
    let clean_loads = schedule.loads(rng, times[0], end);
    let sizes: Vec<f64> = clean_loads
        .iter()
        .map(|_| (size + 0.15 * rng.normal()).exp().round())
        .collect();
    let trickles: Vec<f64> = times.iter().map(|_| poisson(rng, trickle)).collect();
    let mut loads: Vec<(DateTime<Utc>, f64)> = clean_loads.iter().copied().zip(sizes).collect();
    let clean = rows_per_run(&loads, times, &trickles);
    for at in late_events(rng, scenario, Cadence::Hourly, times, eval_start) {
        let Some(i) = loads.iter().position(|(t, _)| *t >= times[at]) else {
            continue;
        };
        if scenario == Scenario::Spike {
            loads[i].1 *= rng.range(2.0, 4.0); // a load run twice or more
        } else {
            loads[i].0 += Duration::minutes(rng.index(180, 480) as i64);
        }
    }
    loads.sort_by_key(|(t, _)| *t);
    let values = rows_per_run(&loads, times, &trickles);
    let (labels, events) = label_differences(&clean, &values, eval_start, |v, c| v != c);
    (values, labels, events)
}

fn rows_per_run(
    loads: &[(DateTime<Utc>, f64)],
    times: &[DateTime<Utc>],
    trickles: &[f64],
) -> Vec<f64> {
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let since = t - Duration::hours(1);
            let loaded: f64 = loads
                .iter()
                .filter(|(at, _)| *at > since && *at <= t)
                .map(|(_, rows)| rows)
                .sum();
            loaded + trickles[i]
        })
        .collect()
}

fn poisson(rng: &mut Rng, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    let limit = (-lambda).exp();
    let mut k = 0.0;
    let mut p = rng.unit();
    while p > limit {
        k += 1.0;
        p *= rng.unit();
    }
    k
}

/// Removes 3% of the normal points and one run of several, as missing data.
fn drop_points(
    rng: &mut Rng,
    points: &mut Vec<Point>,
    labels: &mut Vec<Label>,
    events: &mut [Event],
    eval_start: usize,
) {
    let n = points.len();
    let near_event = |i: usize| {
        events
            .iter()
            .any(|e| i + 2 >= e.first && i <= e.last + GRACE + 2)
    };
    let gap_len = if n > 1000 {
        rng.index(5, 13)
    } else {
        rng.index(2, 5)
    };
    let gap_at = rng.index(eval_start, n - gap_len);
    let keep: Vec<bool> = (0..n)
        .map(|i| {
            let dropped = rng.chance(0.03) || (gap_at..gap_at + gap_len).contains(&i);
            !(dropped && i >= 1 && !near_event(i))
        })
        .collect();
    // Indices shift: map old index → new index for events.
    let mut new_index = vec![0; n];
    let mut next = 0;
    for (i, k) in keep.iter().enumerate() {
        new_index[i] = next;
        if *k {
            next += 1;
        }
    }
    for e in events.iter_mut() {
        e.first = new_index[e.first];
        e.first_anomalous = new_index[e.first_anomalous];
        e.last = new_index[e.last];
    }
    let mut i = 0;
    points.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    let mut i = 0;
    labels.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

// ---------------------------------------------------------------------------------------
// Detectors and scoring.

enum Detector {
    Tidemark(Sensitivity),
    ZScore(ZScore, &'static str),
}

impl Detector {
    fn name(&self) -> String {
        match self {
            Detector::Tidemark(s) => format!("tidemark ({s})"),
            Detector::ZScore(_, name) => (*name).to_string(),
        }
    }

    fn flags(&self, series: &Series) -> Vec<bool> {
        match self {
            Detector::Tidemark(sensitivity) => {
                let settings = Settings {
                    sensitivity: *sensitivity,
                    ..series.settings.clone()
                };
                judge_series(&series.points, &settings)
                    .iter()
                    .map(|v| v.is_anomaly())
                    .collect()
            }
            Detector::ZScore(z, _) => {
                let z = ZScore {
                    buckets: match (z.buckets, series.cadence) {
                        (Buckets::None, _) => Buckets::None,
                        (_, Cadence::Daily) => Buckets::DayOfWeek,
                        (_, Cadence::Hourly) => Buckets::HourOfWeek,
                    },
                    ..*z
                };
                z.judge_series(&series.points)
                    .iter()
                    .map(|v| v.is_anomaly())
                    .collect()
            }
        }
    }
}

fn detectors() -> Vec<Detector> {
    vec![
        Detector::Tidemark(Sensitivity::Medium),
        Detector::Tidemark(Sensitivity::Low),
        Detector::Tidemark(Sensitivity::High),
        Detector::ZScore(ZScore::default(), "z-score, 14 days"),
        Detector::ZScore(
            ZScore {
                buckets: Buckets::DayOfWeek,
                ..ZScore::default()
            },
            "z-score, 14 days, day-of-week buckets",
        ),
    ]
}

#[derive(Clone, Debug, Default)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
    normal: usize,
    events: usize,
    detected: usize,
    delays: Vec<usize>,
}

impl Score {
    fn add(&mut self, other: &Score) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.normal += other.normal;
        self.events += other.events;
        self.detected += other.detected;
        self.delays.extend(&other.delays);
    }

    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn event_recall(&self) -> f64 {
        ratio(self.detected, self.events)
    }

    fn false_alarms_per_100(&self) -> f64 {
        100.0 * ratio(self.fp, self.normal)
    }

    fn mean_delay(&self) -> f64 {
        if self.delays.is_empty() {
            return f64::NAN;
        }
        self.delays.iter().sum::<usize>() as f64 / self.delays.len() as f64
    }

    fn median_delay(&self) -> f64 {
        let mut d = self.delays.clone();
        d.sort_unstable();
        match d.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => d[n / 2] as f64,
            n => (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0,
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn score(series: &Series, flags: &[bool]) -> Score {
    let mut s = Score::default();
    let scored = series.labels.iter().zip(flags).skip(series.eval_start);
    for (label, flag) in scored {
        match (*label, *flag) {
            (Label::Anomaly, true) => s.tp += 1,
            (Label::Anomaly, false) => s.fn_ += 1,
            (Label::Normal, true) => {
                s.fp += 1;
                s.normal += 1;
            }
            (Label::Normal, false) => s.normal += 1,
            (Label::Ignored, _) => {}
        }
    }
    for e in &series.events {
        s.events += 1;
        if let Some(hit) = (e.first..=e.last).find(|&i| flags[i]) {
            s.detected += 1;
            s.delays.push(hit.saturating_sub(e.first_anomalous));
        }
    }
    s
}

/// Scores of every detector on every series: `results[detector][series]`.
fn evaluate(series: &[Series], detectors: &[Detector]) -> Vec<Vec<Score>> {
    let jobs: Vec<(usize, usize)> = (0..detectors.len())
        .flat_map(|d| (0..series.len()).map(move |s| (d, s)))
        .collect();
    let results = Mutex::new(vec![vec![Score::default(); series.len()]; detectors.len()]);
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(d, s)) = jobs.get(job) else { break };
                    let flags = detectors[d].flags(&series[s]);
                    let scored = score(&series[s], &flags);
                    results.lock().expect("no panics while scoring")[d][s] = scored;
                }
            });
        }
    });
    results.into_inner().expect("scoring finished")
}

/// p50 and p99 over 300 points of the time to judge one point against 2,000 points of
/// hourly history. Each point is judged 5 times and the fastest run kept, so that other
/// processes on the machine's 2 cores time the scheduler less and the code more.
fn time_judge(detector: &Detector) -> (f64, f64) {
    const RUNS: usize = 5;
    const HISTORY: usize = 2_000;
    const SAMPLES: usize = 300;
    let mut rng = Rng(1);
    let times: Vec<DateTime<Utc>> = (0..HISTORY + SAMPLES)
        .map(|i| {
            Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
                .single()
                .expect("start")
                + Duration::hours(i as i64)
        })
        .collect();
    let model = Continuous::new(&mut rng, Family::Volume, Cadence::Hourly, &times);
    let (values, _, _) = model.generate(&mut rng, Scenario::Clean, HISTORY);
    let points: Vec<Point> = times
        .iter()
        .zip(&values)
        .map(|(&t, &v)| Point::new(t, v))
        .collect();
    let settings = Settings::for_kind(MetricKind::RowCount);
    let mut micros: Vec<f64> = (0..SAMPLES)
        .map(|k| {
            let (history, newest) = (&points[k..k + HISTORY], points[k + HISTORY]);
            (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    let verdict = match detector {
                        Detector::Tidemark(s) => tidemark::anomaly::judge(
                            history,
                            newest,
                            &Settings {
                                sensitivity: *s,
                                ..settings.clone()
                            },
                        ),
                        Detector::ZScore(z, _) => z.judge(history, newest),
                    };
                    let elapsed = started.elapsed().as_secs_f64() * 1e6;
                    std::hint::black_box(verdict);
                    elapsed
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    (micros[SAMPLES / 2], micros[SAMPLES * 99 / 100])
}

// ---------------------------------------------------------------------------------------
// The report.

fn print_report(
    seed: u64,
    series: &[Series],
    detectors: &[Detector],
    results: &[Vec<Score>],
    timings: &[(f64, f64)],
) {
    let scored: usize = series
        .iter()
        .map(|s| s.points.len() - s.eval_start.min(s.points.len()))
        .sum();
    let hourly = series
        .iter()
        .filter(|s| s.cadence == Cadence::Hourly)
        .count();
    let events: usize = series.iter().map(|s| s.events.len()).sum();
    let positives: usize = series
        .iter()
        .map(|s| {
            s.labels[s.eval_start..]
                .iter()
                .filter(|l| **l == Label::Anomaly)
                .count()
        })
        .sum();
    println!(
        "Seed {seed}: {} series ({hourly} hourly, {} daily), {scored} scored points, \
         {positives} anomalous points in {events} events.",
        series.len(),
        series.len() - hourly
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    println!("Machine: {cores} cores, load average {load} when the timings were taken.\n");
    println!(
        "| detector | precision | recall | F1 | event recall | false alarms / 100 normal | \
         delay mean | delay median | judge p50 (µs) | judge p99 (µs) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (d, detector) in detectors.iter().enumerate() {
        let mut total = Score::default();
        for s in &results[d] {
            total.add(s);
        }
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.1} | {:.0} | {:.0} |",
            detector.name(),
            total.precision(),
            total.recall(),
            total.f1(),
            total.event_recall(),
            total.false_alarms_per_100(),
            total.mean_delay(),
            total.median_delay(),
            timings[d].0,
            timings[d].1
        );
    }
    print_breakdown("scenario", series, detectors, results, |s| {
        s.scenario.name().to_string()
    });
    print_breakdown("family and cadence", series, detectors, results, |s| {
        format!("{} ({})", s.family.name(), s.cadence.name())
    });
}

fn print_breakdown(
    by: &str,
    series: &[Series],
    detectors: &[Detector],
    results: &[Vec<Score>],
    key: impl Fn(&Series) -> String,
) {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        groups.entry(key(s)).or_default().push(i);
    }
    println!(
        "\nPer {by}: F1 / point recall / event recall / false alarms per 100 normal points.\n"
    );
    let names: Vec<String> = detectors.iter().map(Detector::name).collect();
    println!("| {by} | series | events | {} |", names.join(" | "));
    println!("|---|---|---|{}", "---|".repeat(detectors.len()));
    for (name, members) in groups {
        let events: usize = members.iter().map(|&i| series[i].events.len()).sum();
        let cells: Vec<String> = (0..detectors.len())
            .map(|d| {
                let mut total = Score::default();
                for &i in &members {
                    total.add(&results[d][i]);
                }
                format!(
                    "{} / {} / {} / {:.2}",
                    fmt_opt(total.f1()),
                    fmt_opt(total.recall()),
                    fmt_opt(total.event_recall()),
                    total.false_alarms_per_100()
                )
            })
            .collect();
        println!(
            "| {name} | {} | {events} | {} |",
            members.len(),
            cells.join(" | ")
        );
    }
}

fn fmt_opt(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{x:.2}")
    }
}
