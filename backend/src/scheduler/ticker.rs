//! The scheduler's clock: tokio-cron-scheduler fires one job at second 0 of every minute
//! (UTC), and the [`Agenda`](super::agenda::Agenda) decides with croner 4 which datasets'
//! crons have a slot then, each on the wall clock of its own timezone.
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
//! quarter hours), so a minute tick sees every slot; it arrives within half a second (the
//! crate checks its jobs every 500 ms).

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Second 0 of every minute, in tokio-cron-scheduler's 6-field syntax (seconds first).
const EVERY_MINUTE: &str = "0 * * * * *";

pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    /// Starts sending `()` on `ticks` at second 0 of every minute.
    pub async fn start(ticks: mpsc::UnboundedSender<()>) -> Result<Ticker, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        let job = Job::new_async_tz(EVERY_MINUTE, chrono::Utc, move |_id, _scheduler| {
            let ticks = ticks.clone();
            Box::pin(async move {
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
