//! When a dataset's cron fires: its slots, computed with croner 4 on the wall clock of the
//! dataset's timezone. Pure.
//!
//! A slot is an instant (stored in UTC); every replica computes the same slots from the same
//! cron and timezone, which is what lets the store's unique (dataset, slot) claim make a
//! slot run once across replicas. Daylight saving time follows croner (the Open Cron Pattern
//! Specification, like Vixie cron): a fixed-time job whose wall-clock time does not exist on
//! spring-forward day fires at the first valid minute after the gap; on fall-back day it
//! fires once, at the first of the two occurrences; interval jobs (`*/30` minutes) fire for
//! each occurrence of their wall-clock times, in real-time order.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::spec::{Dataset, Defaults};

/// A parsed cron expression and the timezone its wall clock runs in.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    expression: String,
    timezone: Tz,
}

impl Schedule {
    /// The schedule a dataset runs on: its own `schedule:` or else the project default, on
    /// its own `timezone:` or else the project's. `None` when it has no schedule at all
    /// (such a dataset runs only when asked).
    pub fn of(dataset: &Dataset, defaults: &Defaults) -> Option<Result<Schedule, String>> {
        let expression = dataset
            .schedule
            .as_deref()
            .or(defaults.schedule.as_deref())?;
        let timezone = dataset.timezone.unwrap_or(defaults.timezone);
        Some(Schedule::parse(expression, timezone))
    }

    /// Parses a 5-field cron expression the way `spec` validated it.
    pub fn parse(expression: &str, timezone: Tz) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| format!("invalid cron expression {expression:?}: {e}"))?;
        Ok(Schedule {
            cron,
            expression: expression.to_owned(),
            timezone,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first slot strictly after `t`; `None` when the cron never fires again (e.g.
    /// `0 0 31 2 *`).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.trunc_subsecs(0).with_timezone(&self.timezone);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(next.with_timezone(&Utc))
    }

    /// The latest slot at or before `t`: the one due at `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.trunc_subsecs(0).with_timezone(&self.timezone);
        let previous = self.cron.find_previous_occurrence(&local, true).ok()?;
        Some(previous.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::utc;

    fn schedule(expression: &str, timezone: Tz) -> Schedule {
        Schedule::parse(expression, timezone).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n` consecutive slots after `start`.
    fn slots_after(schedule: &Schedule, start: &str, n: usize) -> Vec<DateTime<Utc>> {
        let mut at = utc(start);
        let mut slots = Vec::new();
        for _ in 0..n {
            at = schedule.next_after(at).expect("a next slot");
            slots.push(at);
        }
        slots
    }

    #[test]
    fn next_is_strictly_after_and_latest_is_inclusive() {
        let s = schedule("*/15 * * * *", chrono_tz::UTC);
        assert_eq!(
            s.next_after(utc("2026-05-04T10:07:30.250Z")),
            Some(utc("2026-05-04T10:15:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-05-04T10:15:00Z")),
            Some(utc("2026-05-04T10:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-05-04T10:07:30Z")),
            Some(utc("2026-05-04T10:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-05-04T10:15:00Z")),
            Some(utc("2026-05-04T10:15:00Z"))
        );
        // A tick a few hundred milliseconds after the minute still sees that minute's slot.
        assert_eq!(
            s.latest_at_or_before(utc("2026-05-04T10:15:00.400Z")),
            Some(utc("2026-05-04T10:15:00Z"))
        );
    }

    #[test]
    fn wall_clock_time_follows_the_timezone_across_spring_forward() {
        // Berlin moves from +01:00 to +02:00 at 02:00 on 2026-03-29: 09:00 local is 08:00
        // UTC before and 07:00 UTC after (a UTC offset frozen at start would keep 08:00).
        let s = schedule("0 9 * * *", chrono_tz::Europe::Berlin);
        assert_eq!(
            slots_after(&s, "2026-03-27T12:00:00Z", 3),
            [
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-30T07:00:00Z"),
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_fires_right_after_the_gap() {
        // 02:30 does not exist in Berlin on 2026-03-29: the job fires at 03:00 CEST.
        let s = schedule("30 2 * * *", chrono_tz::Europe::Berlin);
        assert_eq!(
            slots_after(&s, "2026-03-28T12:00:00Z", 2),
            [utc("2026-03-29T01:00:00Z"), utc("2026-03-30T00:30:00Z")]
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-03-29T05:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn fall_back_runs_a_fixed_time_once_and_an_interval_for_each_occurrence() {
        // Berlin goes from 03:00 CEST back to 02:00 CET on 2026-10-25: 02:00–02:59 happens twice.
        let fixed = schedule("30 2 * * *", chrono_tz::Europe::Berlin);
        assert_eq!(
            slots_after(&fixed, "2026-10-24T12:00:00Z", 2),
            [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
        let interval = schedule("*/30 2 * * *", chrono_tz::Europe::Berlin);
        assert_eq!(
            slots_after(&interval, "2026-10-24T12:00:00Z", 5),
            [
                utc("2026-10-25T00:00:00Z"), // 02:00 CEST
                utc("2026-10-25T00:30:00Z"), // 02:30 CEST
                utc("2026-10-25T01:00:00Z"), // 02:00 CET
                utc("2026-10-25T01:30:00Z"), // 02:30 CET
                utc("2026-10-26T01:00:00Z"), // the next day, 02:00 CET
            ]
        );
        // Searching back from the second pass finds the second pass first.
        assert_eq!(
            interval.latest_at_or_before(utc("2026-10-25T01:45:00Z")),
            Some(utc("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_match_either_like_vixie_cron() {
        // 2026-06-01 is a Monday; the first Friday after it is the 5th.
        let s = schedule("0 0 1 * FRI", chrono_tz::UTC);
        assert_eq!(
            slots_after(&s, "2026-05-31T12:00:00Z", 3),
            [
                utc("2026-06-01T00:00:00Z"),
                utc("2026-06-05T00:00:00Z"),
                utc("2026-06-12T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn a_cron_that_never_fires_has_no_slots() {
        let s = schedule("0 0 31 2 *", chrono_tz::UTC);
        assert_eq!(s.next_after(utc("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn a_dataset_takes_its_own_schedule_and_timezone_or_the_defaults() {
        let defaults = Defaults {
            schedule: Some("0 * * * *".into()),
            timezone: chrono_tz::Europe::Berlin,
        };
        let mut dataset = crate::scheduler::tests::dataset("orders");
        let s = Schedule::of(&dataset, &defaults)
            .expect("scheduled")
            .expect("valid");
        assert_eq!(
            (s.expression(), s.timezone()),
            ("0 * * * *", chrono_tz::Europe::Berlin)
        );
        dataset.schedule = Some("*/5 * * * *".into());
        dataset.timezone = Some(chrono_tz::America::New_York);
        let s = Schedule::of(&dataset, &defaults)
            .expect("scheduled")
            .expect("valid");
        assert_eq!(
            (s.expression(), s.timezone()),
            ("*/5 * * * *", chrono_tz::America::New_York)
        );
        dataset.schedule = None;
        assert!(Schedule::of(&dataset, &Defaults::default()).is_none());
    }
}
