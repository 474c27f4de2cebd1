//! The detectors compared: Tidemark's at each sensitivity and Elementary-style z-scores,
//! their verdicts on a series, and the time each takes to judge one point.

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tidemark::anomaly::baseline::{Buckets, ZScore};
use tidemark::anomaly::{MetricKind, Point, Sensitivity, Settings, judge_series};

use crate::continuous::Continuous;
use crate::rng::Rng;
use crate::series::{Cadence, Family, Scenario, Series};

pub(crate) enum Detector {
    Tidemark(Sensitivity),
    ZScore(ZScore, &'static str),
}

impl Detector {
    pub(crate) fn name(&self) -> String {
        match self {
            Detector::Tidemark(s) => format!("tidemark ({s})"),
            Detector::ZScore(_, name) => (*name).to_string(),
        }
    }

    pub(crate) fn flags(&self, series: &Series) -> Vec<bool> {
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

pub(crate) fn detectors() -> Vec<Detector> {
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

/// p50 and p99 over 300 points of the time to judge one point against 2,000 points of
/// hourly history. Each point is judged 5 times and the fastest run kept, so that other
/// processes on the machine's 2 cores time the scheduler less and the code more.
pub(crate) fn time_judge(detector: &Detector) -> (f64, f64) {
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
