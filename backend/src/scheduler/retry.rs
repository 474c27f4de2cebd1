//! Retrying a scheduled run that the warehouse let down. Pure.
//!
//! A scheduled run whose results include `error` outcomes caused by the warehouse being
//! unreachable or overwhelmed (connection refused, lost connection, timeouts) is run again
//! after 10s, 20s, 40s… (capped at 10 minutes), until a run gets through or the next retry
//! would come at or after the dataset's next slot, which then takes over. Errors that a
//! retry cannot fix (SQL the warehouse rejects, a missing column, a bad threshold) are not
//! retried: they are the check's answer until someone edits it.
//!
//! The slot itself is already claimed by the run that failed, and the store admits one
//! scheduled run per slot. So a retry is a new run with trigger `retry`: it carries the slot
//! and the failed run's `batch_id`, so the runs of one slot share a batch, but claims
//! nothing (the claim, and so catch-up and the sweep, count `schedule` runs only). Only
//! the replica that claimed the slot retries it, so retries happen once across replicas
//! too. A run whose claim itself failed (the store was unreachable) is retried by claiming
//! the same slot again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::results::{CheckResult, Outcome};

/// Exponential backoff: `first`, then doubling, never more than `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(10),
            cap: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.first
            .checked_mul(1 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// When retry number `attempt` should run, counted from `now`; `None` when that is at or
    /// after `deadline` (the dataset's next slot).
    pub fn retry_at(
        &self,
        now: DateTime<Utc>,
        attempt: u32,
        deadline: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let at = now + chrono::Duration::from_std(self.delay(attempt)).ok()?;
        match deadline {
            Some(deadline) if at >= deadline => None,
            _ => Some(at),
        }
    }
}

/// Whether a run should be retried: at least one check errored because the warehouse could
/// not be reached or did not answer in time.
pub fn warehouse_unavailable(results: &[CheckResult]) -> bool {
    results
        .iter()
        .any(|r| r.outcome == Outcome::Error && transient(&r.message))
}

/// Messages of errors that say nothing about the check, only about the warehouse at that
/// moment: failing to connect (the engine's "cannot connect to warehouse …"), losing or
/// being refused a connection, running out of time. Matched case-insensitively on the
/// wording of the engine and of the drivers (sqlx, Postgres, MySQL/MariaDB).
fn transient(message: &str) -> bool {
    const NEEDLES: [&str; 11] = [
        "cannot connect to warehouse",
        "timed out",
        "error communicating with database",
        "connection refused",
        "connection reset",
        "broken pipe",
        "closed pool",
        "terminating connection",
        "the database system is",
        "too many connections",
        "too many clients",
    ];
    let message = message.to_lowercase();
    NEEDLES.iter().any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::utc;

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (1..=8).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff.delay(1000), Duration::from_secs(600));
    }

    #[test]
    fn a_retry_never_reaches_the_next_slot() {
        let backoff = Backoff::default();
        let now = utc("2026-05-04T10:00:05Z");
        let next_slot = Some(utc("2026-05-04T10:01:00Z"));
        assert_eq!(
            backoff.retry_at(now, 1, next_slot),
            Some(utc("2026-05-04T10:00:15Z"))
        );
        assert_eq!(
            backoff.retry_at(now, 3, next_slot),
            Some(utc("2026-05-04T10:00:45Z"))
        );
        assert_eq!(backoff.retry_at(now, 4, next_slot), None);
        assert_eq!(
            backoff.retry_at(utc("2026-05-04T10:00:50Z"), 1, next_slot),
            None
        );
        assert_eq!(
            backoff.retry_at(now, 4, None),
            Some(utc("2026-05-04T10:01:25Z"))
        );
    }

    fn result(outcome: Outcome, message: &str) -> CheckResult {
        crate::results::fixtures::result("rows", outcome, message)
    }

    #[test]
    fn only_errors_from_an_unavailable_warehouse_are_retried() {
        let retried = [
            "cannot connect to warehouse main: error communicating with database: Connection refused (os error 111)",
            "warehouse main: query failed: pool timed out while waiting for an open connection",
            "warehouse main: query timed out after 5s",
            "warehouse main: query failed: terminating connection due to administrator command",
            "warehouse main: query failed: sorry, too many clients already",
        ];
        for message in retried {
            assert!(
                warehouse_unavailable(&[result(Outcome::Error, message)]),
                "{message}"
            );
        }
        let not_retried = [
            "warehouse main: query failed: relation \"orders\" does not exist",
            "warehouse main: query failed: syntax error at or near \"FORM\"",
            "column amount does not exist in orders",
        ];
        for message in not_retried {
            assert!(
                !warehouse_unavailable(&[result(Outcome::Error, message)]),
                "{message}"
            );
        }
        // A failing check is the data's answer, whatever its message says.
        assert!(!warehouse_unavailable(&[result(
            Outcome::Fail,
            "connection refused"
        )]));
    }
}
