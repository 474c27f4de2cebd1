//! The demo's past: 60 days of runs back-filled into the store before the server starts, so
//! charts, anomaly bands and incidents mean something on first open.
//!
//! Each dataset is measured once for real; its history is drawn around today's values: row
//! counts follow a daily curve and dip at weekends, freshness is a loader's saw-tooth (or
//! the stall the data really shows), other metrics stay near today's value, and a check
//! failing today started failing a few hours or days ago. A few incidents are placed on
//! purpose ([`PLACED`]). Every value is judged like a real run's: the fixed thresholds by the
//! engine, SLAs, and `anomaly` thresholds by the detector over the points before it. The
//! runs are recorded through the store as scheduled runs, and the incidents through alerts,
//! in time order. The noise is a hash of the dataset, the check and the time: every demo
//! shows the same history relative to now.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc, Weekday};
use uuid::Uuid;

use crate::alerts::{self, PastRun};
use crate::engine::{AnomalyContext, Warehouses, judge_anomaly, judged};
use crate::results::MetricPoint;
use crate::results::{CheckResult, Outcome};
use crate::runner::{self, check_hash};
use crate::spec::{Bound, Check, CheckKind, Dataset, Project};
use crate::store::{FinishedRun, NewRun, RunStatus, Store, Trigger};

/// How far back the history goes.
pub const DAYS: i64 = 60;
/// Datasets measured every [`FAST_CADENCE_HOURS`]; the others every [`SLOW_CADENCE_HOURS`].
/// Real runs come more often; these keep the back-fill within seconds. Both are prime to 24
/// and 168, so that over the weeks every hour of the day and of the week is seen: the
/// detector's seasonal profile has no gaps for the first real run to fall into.
const FAST: &[&str] = &["orders", "events"];
const FAST_CADENCE_HOURS: i64 = 5;
const SLOW_CADENCE_HOURS: i64 = 7;
/// How often the loaders of the demo's tables land data, for their freshness saw-tooth.
const LOAD_EVERY_SECS: u64 = 15 * 60;
/// A table older than this now is stalled: its history shows the stall since it began.
const STALLED_AFTER_SECS: f64 = 2.0 * 3600.0;

/// What a placed incident does to a check's values while it lasts.
#[derive(Clone, Copy, Debug)]
enum Effect {
    /// The value times this (a volume drop).
    Scale(f64),
    /// This value instead (a null spike).
    Set(f64),
    /// The loader stops: every freshness check of the dataset ages.
    Stall,
}

/// An incident placed in the history: `check` of `dataset`, from `ago` hours before now,
/// for `hours`.
struct Placed {
    dataset: &'static str,
    check: &'static str,
    ago: i64,
    hours: i64,
    effect: Effect,
}

const PLACED: &[Placed] = &[
    Placed {
        dataset: "orders",
        check: "volume",
        ago: 4 * 24 + 3,
        hours: 9,
        effect: Effect::Scale(0.45),
    },
    Placed {
        dataset: "events",
        check: "missing_percent(user_id)",
        ago: 9 * 24 + 5,
        hours: 6,
        effect: Effect::Set(34.0),
    },
    Placed {
        dataset: "events",
        check: "freshness(occurred_at)",
        ago: 17 * 24 + 8,
        hours: 28,
        effect: Effect::Stall,
    },
];

impl Placed {
    fn applies(&self, dataset: &Dataset, check: &Check) -> bool {
        let same_check = match self.effect {
            Effect::Stall => matches!(check.kind, CheckKind::Freshness { .. }),
            _ => check.name == self.check,
        };
        self.dataset == dataset.name && same_check
    }

    fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = now - TimeDelta::hours(self.ago);
        (start, start + TimeDelta::hours(self.hours))
    }
}

/// Measures every dataset of `project` once and records [`DAYS`] days of history before
/// `now` in `store`, with the incidents it makes; how many runs it recorded.
pub async fn backfill(
    store: &Store,
    project: &Project,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let datasets: Vec<&Dataset> = project.datasets.iter().collect();
    let warehouses = Warehouses::connect(project, &datasets).await;
    let mut histories = Vec::with_capacity(datasets.len());
    for dataset in &datasets {
        let today = runner::measure_without_store(&warehouses, dataset).await;
        let context = AnomalyContext {
            at: now,
            timezone: dataset.timezone.unwrap_or(warehouses.calendar().timezone),
            holidays: warehouses.calendar().holidays.as_ref(),
        };
        histories.push(history(dataset, &today, now, context));
    }
    warehouses.close().await;
    let mut runs: Vec<PastRun<'_>> = histories.into_iter().flatten().collect();
    runs.sort_by_key(|run| run.at);
    record(store, &runs).await?;
    let recorded = runs.len();
    alerts::after_past_runs(store, project, &incident_worthy(runs)).await?;
    Ok(recorded)
}

/// The times a dataset ran, oldest first: on its cadence, then `now`, the run measured for
/// real. Every dataset has that last run whatever the time of day, so today's problems
/// have their incidents on first open.
fn slots(dataset: &Dataset, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let hours = if FAST.contains(&dataset.name.as_str()) {
        FAST_CADENCE_HOURS
    } else {
        SLOW_CADENCE_HOURS
    };
    let step = TimeDelta::hours(hours);
    let Ok(last) = (now - TimeDelta::seconds(1)).duration_trunc(step) else {
        return Vec::new();
    };
    let first = now - TimeDelta::days(DAYS);
    let count = ((last - first).num_hours() / hours).max(0);
    (0..=count)
        .rev()
        .map(|i| last - step * i32::try_from(i).unwrap_or(0))
        .filter(|at| *at > first)
        .chain([now])
        .collect()
}

/// A dataset's past runs, judged as the runner judges a real run.
fn history<'d>(
    dataset: &'d Dataset,
    today: &[CheckResult],
    now: DateTime<Utc>,
    context: AnomalyContext<'_>,
) -> Vec<PastRun<'d>> {
    let mut series: BTreeMap<&str, Vec<MetricPoint>> = BTreeMap::new();
    slots(dataset, now)
        .into_iter()
        .map(|at| {
            let results = dataset
                .checks
                .iter()
                .zip(today)
                .map(|(check, current)| past_result(dataset, check, current, at, now))
                .collect();
            let mut results = crate::engine::sla::judge(dataset, results, at);
            let context = AnomalyContext { at, ..context };
            for (check, result) in dataset.checks.iter().zip(results.iter_mut()) {
                let points = series.entry(check.name.as_str()).or_default();
                judge_against(check, result, points, &context);
            }
            PastRun {
                dataset,
                at,
                results,
            }
        })
        .collect()
}

/// Judges a past result's `anomaly` threshold over the points before it, then adds its
/// point to them as the store would keep it.
fn judge_against(
    check: &Check,
    result: &mut CheckResult,
    points: &mut Vec<MetricPoint>,
    context: &AnomalyContext<'_>,
) {
    if check.thresholds.anomaly.is_none() {
        return;
    }
    // A level shift the detector accepts is marked here for the points after it; the store
    // is not told (the first real run decides about it again, as it may).
    if let Some(since) = judge_anomaly(check, result, Some(points), context) {
        for point in points.iter_mut().filter(|p| p.at >= since && p.anomalous) {
            point.shift = true;
        }
    }
    let Some(value) = result.value.filter(|v| v.is_finite()) else {
        return;
    };
    points.push(MetricPoint {
        at: context.at,
        value,
        lower: result.band.map(|b| b.lower),
        upper: result.band.map(|b| b.upper),
        anomalous: result.band.is_some_and(|b| b.anomalous),
        shift: false,
        feedback: None,
    });
}

/// A check's result at `at`, drawn around `current` (today's result).
fn past_result(
    dataset: &Dataset,
    check: &Check,
    current: &CheckResult,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CheckResult {
    // Checks without a number (schema, errors) looked as they look today; the run at
    // `now` is today's.
    let today = current.value.filter(|v| v.is_finite() && at < now);
    let Some(today) = today else {
        return current.clone();
    };
    let noise = noise(&dataset.name, &check.name, at);
    let mut value = match check.kind {
        CheckKind::RowCount => (today * season(at) / season(now) * (1.0 + 0.03 * noise)).round(),
        CheckKind::Freshness { .. } => age(&dataset.name, today, at, now),
        _ if current.outcome == Outcome::Pass => inside(check, today * (1.0 + 0.01 * noise), today),
        _ if at >= onset(dataset, check, now) => today,
        // Failing today, but fine before it began.
        _ => inside(check, today, today),
    };
    for placed in PLACED.iter().filter(|p| p.applies(dataset, check)) {
        let (start, end) = placed.window(now);
        if (start..end).contains(&at) {
            value = match placed.effect {
                Effect::Scale(factor) => (value * factor).round(),
                Effect::Set(set) => set,
                Effect::Stall => (at - start).as_seconds_f64() + value,
            };
        }
    }
    judged(dataset, check, Some(value))
}

/// The shape of volume over a week: a daily curve peaking mid-afternoon (UTC), lower at
/// weekends.
fn season(at: DateTime<Utc>) -> f64 {
    let hour = f64::from(at.hour()) + f64::from(at.minute()) / 60.0;
    let daily = 1.0 + 0.2 * (2.0 * PI * (hour - 15.0) / 24.0).cos();
    let weekend = if matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
        0.8
    } else {
        1.0
    };
    daily * weekend
}

/// Seconds since the newest row at `at`: the loader's saw-tooth, or, for a table stalled
/// today (`today` seconds old), the stall since it began.
fn age(dataset: &str, today: f64, at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let stalled_since = now - TimeDelta::milliseconds((today * 1000.0) as i64);
    if today > STALLED_AFTER_SECS && at >= stalled_since {
        return (at - stalled_since).as_seconds_f64();
    }
    let since_load = hash(&[dataset.as_bytes(), &at.timestamp().to_le_bytes()]) % LOAD_EVERY_SECS;
    (60 + since_load) as f64
}

/// When a check failing today began to fail: 6 hours to 3 days ago, by its name.
fn onset(dataset: &Dataset, check: &Check, now: DateTime<Utc>) -> DateTime<Utc> {
    let hours = 6 + hash(&[dataset.name.as_bytes(), check.name.as_bytes()]) % 66;
    now - TimeDelta::hours(i64::try_from(hours).unwrap_or(6))
}

/// `value` brought within the check's thresholds, rounded like `today` when it is a count.
fn inside(check: &Check, value: f64, today: f64) -> f64 {
    let thresholds = &check.thresholds;
    let value = [thresholds.fail, thresholds.warn]
        .into_iter()
        .flatten()
        .fold(value, clamp);
    if today.fract() == 0.0 {
        value.round()
    } else {
        value
    }
}

fn clamp(value: f64, bound: Bound) -> f64 {
    match bound {
        Bound::Min(min) => value.max(min),
        Bound::Max(max) => value.min(max),
        Bound::Between(low, high) => value.clamp(low.min(high), high.max(low)),
        Bound::Equals(expected) => expected,
    }
}

/// Deterministic noise in [-1, 1] for a check at a time.
fn noise(dataset: &str, check: &str, at: DateTime<Utc>) -> f64 {
    let h = hash(&[
        dataset.as_bytes(),
        check.as_bytes(),
        &at.timestamp().to_le_bytes(),
    ]);
    (h % 2_000_001) as f64 / 1_000_000.0 - 1.0
}

/// FNV-1a, then a splitmix64 finaliser: stable across builds and platforms, unlike std's
/// hasher, so every demo has the same history.
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain([&0xff]) {
            h ^= u64::from(*byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Records the runs as scheduled runs that finished at their time: claimed together, then
/// each finished with its results, like the scheduler's.
async fn record(store: &Store, runs: &[PastRun<'_>]) -> anyhow::Result<()> {
    let batch_id = Uuid::new_v4();
    let new: Vec<NewRun> = runs
        .iter()
        .map(|run| NewRun {
            id: Uuid::new_v4(),
            batch_id,
            dataset: run.dataset.name.clone(),
            warehouse: run.dataset.warehouse.clone(),
            trigger: Trigger::Schedule,
            slot: Some(run.at),
            replica: "demo-history".to_owned(),
            started_at: run.at - TimeDelta::seconds(2),
            lease_until: run.at + TimeDelta::minutes(1),
        })
        .collect();
    store.start_runs(&new).await?;
    for (started, run) in new.iter().zip(runs) {
        let finished = FinishedRun {
            id: started.id,
            status: RunStatus::Completed,
            finished_at: run.at,
            error: None,
            results: run
                .results
                .iter()
                .zip(&run.dataset.checks)
                .map(|(result, check)| (result.clone(), check_hash(run.dataset, check)))
                .collect(),
            snapshot: None,
            profiles: Vec::new(),
            bucket_points: Vec::new(),
            cost: Default::default(),
        };
        store.finish_run(&finished).await?;
    }
    Ok(())
}

/// The runs that can move an incident: those with a result that is not a pass, and the
/// first all-pass run of a dataset after them (it resolves). Replaying only these is what
/// replaying all would do, in far fewer store reads.
fn incident_worthy(runs: Vec<PastRun<'_>>) -> Vec<PastRun<'_>> {
    let mut troubled: BTreeMap<String, bool> = BTreeMap::new();
    runs.into_iter()
        .filter(|run| {
            let bad = run.results.iter().any(|r| r.outcome != Outcome::Pass);
            let was_bad = troubled.insert(run.dataset.name.clone(), bad);
            bad || was_bad == Some(true)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::spec::fixtures;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        // 2026-11-02 is a Monday.
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn volume_follows_the_day_and_dips_at_weekends() {
        let afternoon = season(at(4, 15));
        assert!(afternoon > season(at(4, 3)), "the day peaks mid-afternoon");
        assert!(season(at(7, 15)) < afternoon, "Saturdays are quieter");
        assert!(season(at(8, 15)) < afternoon, "Sundays are quieter");
    }

    #[test]
    fn slots_cover_the_days_before_now_and_every_hour_of_the_day() {
        let mut dataset = fixtures::dataset(vec![]);
        dataset.name = "orders".into();
        let now = at(20, 10) + TimeDelta::minutes(7);
        let slots = slots(&dataset, now);
        let (first, last) = (slots[0], slots[slots.len() - 1]);
        assert_eq!(last, now, "the real run ends the history");
        let before = slots[slots.len() - 2];
        assert!(before < now && now - before <= TimeDelta::hours(FAST_CADENCE_HOURS));
        assert!(first > now - TimeDelta::days(DAYS));
        assert!(first - (now - TimeDelta::days(DAYS)) <= TimeDelta::hours(FAST_CADENCE_HOURS));
        let hours: std::collections::BTreeSet<u32> = slots.iter().map(|s| s.hour()).collect();
        assert_eq!(hours.len(), 24);
    }

    #[test]
    fn the_noise_is_reproducible_and_bounded() {
        let a = noise("orders", "volume", at(3, 4));
        assert_eq!(a, noise("orders", "volume", at(3, 4)));
        assert_ne!(a, noise("orders", "volume", at(3, 5)));
        for hour in 0..24 {
            let n = noise("events", "volume", at(9, hour));
            assert!((-1.0..=1.0).contains(&n), "{n}");
        }
    }

    #[test]
    fn healthy_values_are_brought_within_the_thresholds() {
        let mut check = fixtures::check(CheckKind::RowCount);
        check.thresholds.fail = Some(Bound::Max(0.0));
        assert_eq!(inside(&check, 7.0, 7.0), 0.0);
        check.thresholds.fail = Some(Bound::Between(10.0, 500.0));
        assert_eq!(inside(&check, 512.4, 512.4), 500.0);
        assert_eq!(inside(&check, 12.0, 12.0), 12.0);
    }

    #[test]
    fn a_table_stalled_today_ages_since_the_stall_began() {
        let now = at(20, 12);
        let stalled = 30.0 * 3600.0;
        assert_eq!(
            age("events", stalled, now - TimeDelta::hours(10), now),
            20.0 * 3600.0
        );
        let before = age("events", stalled, now - TimeDelta::hours(40), now);
        assert!(before <= (60 + LOAD_EVERY_SECS) as f64, "{before}");
    }
}
