//! Judging a dataset's freshness SLA. Its age is measured by the check
//! [`Sla::FRESHNESS_CHECK`], planned into the dataset's aggregate query like any freshness
//! check; `within` is that check's fail bound, so the engine judges it. `fresh_by` depends on
//! the time of day, which a fixed bound cannot say, so it is judged here, on the measured
//! age, before the results are stored or printed. Pure: results and a time in, results out.

use chrono::{DateTime, NaiveTime, TimeDelta, TimeZone, Utc};

use crate::results::{CheckResult, Outcome};
use crate::spec::{Dataset, FreshBy, Sla};
use crate::warehouse::humanize;

/// The results with the freshness SLA's judged against `fresh_by` at `now`.
pub fn judge(
    dataset: &Dataset,
    mut results: Vec<CheckResult>,
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let Some(fresh_by) = dataset
        .sla
        .as_ref()
        .and_then(|sla| sla.freshness.as_ref())
        .and_then(|freshness| freshness.fresh_by)
    else {
        return results;
    };
    let measured = results
        .iter_mut()
        .filter(|r| r.check == Sla::FRESHNESS_CHECK);
    for result in measured {
        judge_fresh_by(result, fresh_by, now);
    }
    results
}

fn judge_fresh_by(result: &mut CheckResult, fresh_by: FreshBy, now: DateTime<Utc>) {
    let expected = result.expected.get_or_insert_with(|| serde_json::json!({}));
    if let Some(expected) = expected.as_object_mut() {
        expected.insert("fresh_by".into(), fresh_by.to_string().into());
    }
    let (Some(age), Outcome::Pass | Outcome::Warn) = (result.value, result.outcome) else {
        return;
    };
    let allowed = allowed_age(fresh_by, now);
    if age <= allowed.as_seconds_f64() {
        return;
    }
    result.outcome = Outcome::Fail;
    result.message = format!(
        "{} (expected a value from the day by {fresh_by}: at most {} old now)",
        result.message,
        humanize(allowed.to_std().unwrap_or_default())
    );
}

/// How old the newest value may be at `now`: since the local midnight of the latest day
/// whose `fresh_by` time has passed.
pub fn allowed_age(fresh_by: FreshBy, now: DateTime<Utc>) -> TimeDelta {
    let local = now.with_timezone(&fresh_by.timezone);
    let today = local.date_naive();
    let day = if local.time() >= fresh_by.time {
        today
    } else {
        today.pred_opt().unwrap_or(today)
    };
    // Midnight may not exist (a DST gap at 00:00 in a few zones): the day starts at the
    // first local time that does.
    let start = (0..24)
        .filter_map(|hour| NaiveTime::from_hms_opt(hour, 0, 0))
        .find_map(|time| {
            fresh_by
                .timezone
                .from_local_datetime(&day.and_time(time))
                .earliest()
        });
    match start {
        Some(start) => now - start.with_timezone(&Utc),
        None => TimeDelta::zero(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures;
    use crate::spec::{CheckKind, FreshnessSla, Severity};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn berlin_nine() -> FreshBy {
        FreshBy {
            time: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            timezone: chrono_tz::Europe::Berlin,
        }
    }

    #[test]
    fn before_the_deadline_yesterdays_data_will_do() {
        // 07:00 in Berlin (CET, UTC+1): the latest passed deadline is yesterday's 09:00, so
        // anything since yesterday's midnight (23:00 UTC the day before) is fresh.
        let now = at("2026-03-10T06:00:00Z");
        assert_eq!(allowed_age(berlin_nine(), now), TimeDelta::hours(31));
    }

    #[test]
    fn after_the_deadline_only_todays_data_will_do() {
        let now = at("2026-03-10T09:30:00Z"); // 10:30 in Berlin
        assert_eq!(
            allowed_age(berlin_nine(), now),
            TimeDelta::hours(10) + TimeDelta::minutes(30)
        );
    }

    #[test]
    fn daylight_saving_days_count_local_midnight() {
        // 29 March 2026: Berlin springs forward at 02:00; 10:00 CEST is 08:00 UTC, and the
        // day began at 23:00 UTC the day before (CET).
        assert_eq!(
            allowed_age(berlin_nine(), at("2026-03-29T08:00:00Z")),
            TimeDelta::hours(9)
        );
    }

    fn dataset(fresh_by: Option<FreshBy>) -> Dataset {
        let mut dataset = fixtures::dataset(vec![]);
        dataset.sla = Some(Sla {
            freshness: Some(FreshnessSla {
                column: "updated_at".into(),
                within: None,
                fresh_by,
            }),
            checks: vec![],
            severity: Severity::High,
        });
        dataset
    }

    fn measured(age: Option<f64>, outcome: Outcome) -> CheckResult {
        let check = fixtures::check(CheckKind::Freshness {
            column: "updated_at".into(),
        });
        CheckResult {
            dataset: "shop.orders".into(),
            warehouse: "main".into(),
            check: Sla::FRESHNESS_CHECK.into(),
            kind: check.kind.keyword().into(),
            column: Some("updated_at".into()),
            columns: None,
            outcome,
            value: age,
            expected: None,
            message: "newest updated_at is 12h old".into(),
            severity: Some(Severity::High),
            band: None,
        }
    }

    #[test]
    fn stale_data_after_the_deadline_breaches_the_sla() {
        let now = at("2026-03-10T09:30:00Z");
        let judged = judge(
            &dataset(Some(berlin_nine())),
            vec![measured(Some(12.0 * 3600.0), Outcome::Pass)],
            now,
        );
        assert_eq!(judged[0].outcome, Outcome::Fail);
        assert!(
            judged[0].message.contains("by 09:00 Europe/Berlin"),
            "{}",
            judged[0].message
        );
        assert_eq!(
            judged[0].expected,
            Some(serde_json::json!({"fresh_by": "09:00 Europe/Berlin"}))
        );
    }

    #[test]
    fn fresh_data_errors_and_datasets_without_fresh_by_are_left_alone() {
        let now = at("2026-03-10T09:30:00Z");
        let fresh = judge(
            &dataset(Some(berlin_nine())),
            vec![measured(Some(3600.0), Outcome::Pass)],
            now,
        );
        assert_eq!(fresh[0].outcome, Outcome::Pass);
        let errored = judge(
            &dataset(Some(berlin_nine())),
            vec![measured(None, Outcome::Error)],
            now,
        );
        assert_eq!(errored[0].outcome, Outcome::Error);
        let untouched = judge(
            &dataset(None),
            vec![measured(Some(1e9), Outcome::Pass)],
            now,
        );
        assert_eq!(untouched[0], measured(Some(1e9), Outcome::Pass));
    }
}
