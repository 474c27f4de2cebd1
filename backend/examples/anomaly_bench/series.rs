//! The series: what they are (family, cadence, scenario), their labels and events, the
//! benchmark's composition, and how each one is generated (the values come from
//! [`crate::continuous`] or [`crate::loads`]; missing points are dropped here).

use chrono::{DateTime, Duration, TimeZone, Utc};
use tidemark::anomaly::{HolidayCalendar, MetricKind, Point, Settings};

use crate::continuous::Continuous;
use crate::loads::{freshness, rows_added};
use crate::rng::Rng;

pub(crate) const GRACE: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cadence {
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

    pub(crate) fn name(self) -> &'static str {
        match self {
            Cadence::Hourly => "hourly",
            Cadence::Daily => "daily",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
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

    pub(crate) fn name(self) -> &'static str {
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
pub(crate) enum Scenario {
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
    pub(crate) fn name(self) -> &'static str {
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
pub(crate) enum Label {
    Normal,
    Anomaly,
    Ignored,
}

/// An injected event: the points from `first` to `last` are its window (a flag there
/// detects it); `first_anomalous` is where its delay counts from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) first: usize,
    pub(crate) first_anomalous: usize,
    pub(crate) last: usize,
}

/// Labels the points `first..=last` anomalous and records them as one event, its delay
/// counted from `first`.
pub(crate) fn label_run(labels: &mut [Label], events: &mut Vec<Event>, first: usize, last: usize) {
    for l in &mut labels[first..=last] {
        *l = Label::Anomaly;
    }
    events.push(Event {
        first,
        first_anomalous: first,
        last,
    });
}

pub(crate) struct Series {
    pub(crate) family: Family,
    pub(crate) cadence: Cadence,
    pub(crate) scenario: Scenario,
    pub(crate) settings: Settings,
    pub(crate) points: Vec<Point>,
    pub(crate) labels: Vec<Label>,
    pub(crate) events: Vec<Event>,
    pub(crate) eval_start: usize,
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

pub(crate) fn generate_all(seed: u64) -> Vec<Series> {
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

pub(crate) type Generated = (Vec<f64>, Vec<Label>, Vec<Event>);

/// Where events start: after the evaluation start and a margin, apart from each other.
pub(crate) fn event_starts(
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
