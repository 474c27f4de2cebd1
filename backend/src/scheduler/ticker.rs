//! The scheduler's clock: tokio-cron-scheduler fires one job every minute (UTC), which
//! ticks at the minute's end, and the [`Agenda`](super::agenda::Agenda) decides with croner
//! 4 which datasets' crons have a slot then, each on the wall clock of its own timezone.
//!
//! Why one minute tick rather than one tokio-cron-scheduler job per dataset (0.15.1, read in
//! its source):
//! - a job's timezone becomes a fixed UTC offset when the job is created
//!   (`Job::new_async_tz` keeps `time_offset_seconds`, and later ticks are computed in that
//!   `FixedOffset`), so after a daylight-saving change a Berlin `0 9 * * *` job would fire at
//!   10:00 local until the server restarts;
//! - it parses with croner 3 and `dom_and_dow(true)`, so `0 0 1 * FRI` would mean "the 1st,
//!   if it is a Friday", while `spec` validated it with croner 4 as cron has always meant it:
//!   "the 1st, and every Friday";
//! - its actors talk over broadcast channels of 200 messages whose listeners stop for good
//!   when they fall behind: thousands of jobs firing in the same second would silently stop
//!   job creation and deletion. One job firing once a minute never comes close.
//!
//! Every 5-field cron slot is at second 0 of a minute in UTC (timezone offsets are whole
//! quarter hours), so a minute tick sees every slot. The crate checks its jobs every 500 ms,
//! so a job at second 0 would fire up to half a second late: the job fires a little before
//! the minute instead and sleeps on tokio's timer until the minute has come, so the tick
//! arrives within milliseconds. A tick is never early (the agenda would find nothing due
//! and the slot would wait a whole minute); a late one still finds every slot due.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Second 58 of every minute, in tokio-cron-scheduler's 6-field syntax (seconds first).
const BEFORE_EACH_MINUTE: &str = "58 * * * * *";

/// Margin past the minute, for the wall clock and tokio's monotonic clock to disagree in.
const PAST_THE_MINUTE: Duration = Duration::from_millis(3);

pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    /// Starts sending `()` on `ticks` at second 0 of every minute.
    pub async fn start(ticks: mpsc::UnboundedSender<()>) -> Result<Ticker, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        let job = Job::new_async_tz(BEFORE_EACH_MINUTE, Utc, move |_id, _scheduler| {
            let ticks = ticks.clone();
            Box::pin(async move {
                tokio::time::sleep(until_the_minute(Utc::now())).await;
                // The receiver is gone only while the server stops.
                let _ = ticks.send(());
            })
        })?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        Ok(Ticker { scheduler })
    }

    /// Stops the clock: no more ticks.
    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!("stopping the scheduler's clock: {e}");
        }
    }
}

/// How long from `now` (a moment just before a minute, when the job fires) until the tick
/// is due: just past the coming minute. A job that fired late, already past the minute,
/// ticks at once.
fn until_the_minute(now: DateTime<Utc>) -> Duration {
    let into_minute = Duration::new(u64::from(now.second()), now.nanosecond() % 1_000_000_000);
    if into_minute < Duration::from_secs(30) {
        return Duration::ZERO;
    }
    Duration::from_secs(60) - into_minute + PAST_THE_MINUTE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::utc;

    #[test]
    fn the_tick_comes_just_past_the_minute_never_before() {
        assert_eq!(
            until_the_minute(utc("2026-03-10T12:00:58Z")),
            Duration::from_secs(2) + PAST_THE_MINUTE
        );
        assert_eq!(
            until_the_minute(utc("2026-03-10T12:00:59.750Z")),
            Duration::from_millis(250) + PAST_THE_MINUTE
        );
        // Fired late, past the minute: tick now.
        assert_eq!(
            until_the_minute(utc("2026-03-10T12:01:00.400Z")),
            Duration::ZERO
        );
        assert_eq!(
            until_the_minute(utc("2026-03-10T12:01:07Z")),
            Duration::ZERO
        );
    }
}
