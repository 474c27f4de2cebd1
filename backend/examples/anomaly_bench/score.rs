//! Scoring: point precision and recall, event recall and delay, false alarms, per series
//! and summed; every detector is scored on every series in parallel.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::detectors::Detector;
use crate::series::{Label, Series};

#[derive(Clone, Debug, Default)]
pub(crate) struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
    normal: usize,
    events: usize,
    detected: usize,
    delays: Vec<usize>,
}

impl Score {
    pub(crate) fn add(&mut self, other: &Score) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.normal += other.normal;
        self.events += other.events;
        self.detected += other.detected;
        self.delays.extend(&other.delays);
    }

    pub(crate) fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub(crate) fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub(crate) fn event_recall(&self) -> f64 {
        ratio(self.detected, self.events)
    }

    pub(crate) fn false_alarms_per_100(&self) -> f64 {
        100.0 * ratio(self.fp, self.normal)
    }

    pub(crate) fn mean_delay(&self) -> f64 {
        if self.delays.is_empty() {
            return f64::NAN;
        }
        self.delays.iter().sum::<usize>() as f64 / self.delays.len() as f64
    }

    pub(crate) fn median_delay(&self) -> f64 {
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
pub(crate) fn evaluate(series: &[Series], detectors: &[Detector]) -> Vec<Vec<Score>> {
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
