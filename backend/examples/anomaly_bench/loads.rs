//! Series driven by a table's loads: freshness (hours since the last load) and rows added
//! per hourly run, with late loads (and, for rows added, loads run twice) as their events.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};

use crate::rng::Rng;
use crate::series::{Cadence, Event, Generated, Label, Scenario, event_starts, label_run};

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
        label_run(&mut labels, &mut events, i, end);
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
pub(crate) fn freshness(
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
pub(crate) fn rows_added(
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
