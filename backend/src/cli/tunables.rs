//! The tunables of the run path and the server, in one place: flags with an environment
//! variable each (`tidemark serve --help` lists them; docs/serve.md explains them). Read
//! once here and handed down as values; no library code reads the environment for them.

use std::time::Duration;

use crate::alerts;
use crate::runner::{self, RunContext};

#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Tuning")]
pub struct Tunables {
    /// How long a run stays alive without a heartbeat (heartbeats come every third of it);
    /// a dead replica's run is taken as abandoned this long after its last heartbeat.
    #[arg(long, env = "TIDEMARK_LEASE_SECS", value_name = "SECS", default_value_t = runner::LEASE.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: u64,
    /// First retry delay of a failed scheduled run (doubling from there).
    #[arg(long, env = "TIDEMARK_RETRY_SECS", value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_secs: u64,
    /// How long a run's results are held while the store is unavailable, retrying, before
    /// they are reported as not stored.
    #[arg(long, env = "TIDEMARK_STORE_PATIENCE_SECS", value_name = "SECS", default_value_t = runner::STORE_PATIENCE.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub store_patience_secs: u64,
    /// First delay before a failed notification is retried (doubling, with jitter).
    #[arg(long, env = "TIDEMARK_ALERT_RETRY_MS", value_name = "MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_retry_ms: u64,
    /// Longest a Slack or SMTP delivery attempt may take.
    #[arg(long, env = "TIDEMARK_ALERT_TIMEOUT_SECS", value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_timeout_secs: u64,
    /// How often the reminder sweep runs.
    #[arg(long, env = "TIDEMARK_ALERT_SWEEP_SECS", value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_sweep_secs: u64,
}

impl Tunables {
    pub fn alerts(&self) -> alerts::Settings {
        alerts::Settings {
            retry: Duration::from_millis(self.alert_retry_ms),
            timeout: Duration::from_secs(self.alert_timeout_secs),
            sweep_every: Duration::from_secs(self.alert_sweep_secs),
        }
    }

    /// What each run is given, with the process's alerting and emitter.
    pub fn run_context(&self) -> RunContext {
        RunContext {
            lease: Duration::from_secs(self.lease_secs),
            store_patience: Duration::from_secs(self.store_patience_secs),
            ..RunContext::default()
        }
    }

    pub fn first_retry(&self) -> Duration {
        Duration::from_secs(self.retry_secs)
    }
}
