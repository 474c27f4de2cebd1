//! Freshness anomalies: a table late relative to its own habit.
//!
//! A table's habit is when `max(ts)` moves. The detector judges it through two series:
//!
//! - the **age** series ([`age_series`]): at each check, the hours since the data last
//!   changed — what the `freshness` check records each run. Its hour-of-day and
//!   day-of-week pattern *is* the load schedule (0 just after the nightly load, 23 just
//!   before it, 72 on a Monday morning when nothing loads at weekends), so a late load is
//!   an age above the band for that hour. Judge it with [`MetricKind::Freshness`].
//! - the **gap** series ([`gap_series`]): one point per update, at the update, whose value
//!   is the hours until the next update. [`judge_lateness`] judges the gap still open now:
//!   when the time since the last update already exceeds what gaps opening at that hour
//!   and weekday last, the table is late — whenever the check runs.
//!
//! Both use the detector unchanged. With [`MetricKind::Freshness`], lateness never becomes
//! "the new normal" the way a level shift does: a table hours late is still late.

use chrono::{DateTime, Utc};

use super::{Direction, MetricKind, Point, Settings, Verdict, judge};

/// The times at which `max(ts)` was seen to move, from `(checked_at, max_ts)` observations
/// in any order: the first check, and every check that saw a newer `max_ts` than the one
/// before it. Their resolution is the check schedule's.
pub fn update_times(observations: &[(DateTime<Utc>, DateTime<Utc>)]) -> Vec<DateTime<Utc>> {
    let mut observations = observations.to_vec();
    observations.sort();
    let mut updates = Vec::new();
    let mut newest_seen: Option<DateTime<Utc>> = None;
    for (checked_at, max_ts) in observations {
        if newest_seen.is_none_or(|seen| max_ts > seen) {
            updates.push(checked_at);
            newest_seen = Some(max_ts);
        }
    }
    updates
}

/// Hours since the latest update at or before each sample time (samples before the first
/// update are skipped: the table had no data yet).
pub fn age_series(updates: &[DateTime<Utc>], samples: &[DateTime<Utc>]) -> Vec<Point> {
    let updates = sorted(updates);
    samples
        .iter()
        .filter_map(|&at| {
            let before = updates.partition_point(|u| *u <= at);
            let last = updates.get(before.checked_sub(1)?)?;
            Some(Point::new(at, hours(at - *last)))
        })
        .collect()
}

/// One point per update but the last, at the update, valued the hours until the next one.
pub fn gap_series(updates: &[DateTime<Utc>]) -> Vec<Point> {
    sorted(updates)
        .windows(2)
        .map(|w| Point::new(w[0], hours(w[1] - w[0])))
        .collect()
}

/// Whether the table is late at `now`: the gap open since the last update, judged against
/// the gaps before it (only "too long" alerts). `settings.kind` and `direction` are set
/// for this; sensitivity, holidays, time zone and minimum history are the caller's.
pub fn judge_lateness(
    updates: &[DateTime<Utc>],
    now: DateTime<Utc>,
    settings: &Settings,
) -> Verdict {
    let settings = Settings {
        kind: MetricKind::Freshness,
        direction: Direction::Up,
        ..settings.clone()
    };
    let gaps = gap_series(updates);
    let Some(last) = sorted(updates).last().copied().filter(|last| *last <= now) else {
        return Verdict::NotEnoughHistory {
            have: 0,
            need: settings.min_history,
            reason: "the table has not been updated yet".into(),
        };
    };
    judge(&gaps, Point::new(last, hours(now - last)), &settings)
}

fn sorted(updates: &[DateTime<Utc>]) -> Vec<DateTime<Utc>> {
    let mut updates = updates.to_vec();
    updates.sort();
    updates.dedup();
    updates
}

fn hours(delta: chrono::TimeDelta) -> f64 {
    delta.num_milliseconds() as f64 / 3_600_000.0
}
