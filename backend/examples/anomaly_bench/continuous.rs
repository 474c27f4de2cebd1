//! Volume, null-rate and average series: a latent model plus noise, with the events
//! injected in units of the noise σ and labelled by the rules in the crate documentation.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use tidemark::anomaly::HolidayCalendar;

use crate::rng::Rng;
use crate::series::{
    Cadence, Event, Family, GRACE, Generated, Label, Scenario, event_starts, label_run,
};

const DRIFT_LABEL_SIGMA: f64 = 4.0;

/// Volume, null rates and averages: a latent series (level, trend, seasonality, a slowly
/// wandering level) plus noise, with events added in units of the noise σ.
pub(crate) struct Continuous {
    family: Family,
    cadence: Cadence,
    /// The latent mean per point and the noise σ (log scale for volume, fraction for null
    /// rates, the value itself for averages).
    mean: Vec<f64>,
    sigma: f64,
    /// Rows per bucket for null rates (their noise is the sampling noise of a proportion).
    rows: f64,
    pub(crate) holidays: bool,
}

impl Continuous {
    pub(crate) fn new(
        rng: &mut Rng,
        family: Family,
        cadence: Cadence,
        times: &[DateTime<Utc>],
    ) -> Self {
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

    pub(crate) fn generate(
        &self,
        rng: &mut Rng,
        scenario: Scenario,
        eval_start: usize,
    ) -> Generated {
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
        // Labels, from the rules in the crate documentation (main.rs).
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
                    label_run(&mut labels, &mut events, i, end);
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
