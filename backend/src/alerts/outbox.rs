//! The delivery worker: takes due notifications from the store's outbox, sends them, and
//! records how each attempt ended.
//!
//! - **Once.** A notification is claimed in the store under a lease before it is sent, so no
//!   other worker (another replica, or this one after a restart) sends it meanwhile; the
//!   lease outlasts an attempt's timeout. A worker that dies mid-attempt leaves a claim
//!   that lapses, and the notification is sent again by whoever claims it next: a receiver
//!   that never answered 2xx has not accepted it. The idempotency key goes along
//!   (`Idempotency-Key`, the email's Message-ID) for receivers that deduplicate.
//! - **Retries** with exponential backoff and full jitter from `TIDEMARK_ALERT_RETRY_MS`
//!   (5 s), at most 15 min apart; a `Retry-After` is waited out. After `max_attempts`
//!   (`alerts:` in `tidemark.yml`, 8) or a refusal that no retry can fix (a 4xx, a bad
//!   address) the notification is dead: kept, listed by the API, never sent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::templates::{Folded, Message};
use super::{Alerting, email, slack};
use crate::spec::{Channel, Redactor};
use crate::store::{Notification, Settlement, Store, StoreError};

/// Notifications claimed and sent side by side at once.
const BATCH: u32 = 32;
/// How often the outbox is looked at when nothing wakes the worker (another replica's
/// notifications, retries coming due).
const POLL: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth another try, not before `after` if the receiver said so.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// No retry can fix it.
    Refused(String),
}

impl Attempt {
    fn redacted(self, redactor: &Redactor) -> Attempt {
        match self {
            Attempt::Delivered => Attempt::Delivered,
            Attempt::Retry { after, error } => Attempt::Retry {
                after,
                error: redactor.text(&error),
            },
            Attempt::Refused(error) => Attempt::Refused(redactor.text(&error)),
        }
    }
}

/// Delivers notifications until `stop` turns true, then makes one last pass for what is due
/// (the runs drained before it) and returns.
pub async fn work(alerting: Arc<Alerting>, store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    loop {
        let stopping = *stop.borrow();
        match deliver_due(&alerting, &store).await {
            Ok(claimed) if claimed > 0 && !stopping => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!("the outbox could not be read: {e}"),
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = alerting.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Claims the notifications due now and sends them side by side; how many it claimed.
pub async fn deliver_due(alerting: &Alerting, store: &Store) -> Result<usize, StoreError> {
    let now = Utc::now();
    let claimed = store
        .claim_notifications(
            &alerting.claimer,
            now,
            now + alerting.settings.lease(),
            BATCH,
        )
        .await?;
    // Receivers' error pages may echo the webhook or parts of it; what is kept and logged
    // of an attempt is masked.
    let redactor = &Redactor::new(&alerting.project());
    let attempts = claimed.iter().map(|notification| async move {
        let attempt = deliver(alerting, store, notification)
            .await
            .redacted(redactor);
        let at = Utc::now();
        let settlement = settle(notification, attempt, alerting, at);
        log(notification, &settlement);
        if let Err(e) = store
            .settle_notification(notification.id, &alerting.claimer, at, &settlement)
            .await
        {
            tracing::warn!(
                notification = notification.id,
                "could not record a delivery attempt (the claim lapses and it is retried): {e}"
            );
        }
    });
    join_all(attempts).await;
    Ok(claimed.len())
}

/// One attempt at sending a notification to its channel.
async fn deliver(alerting: &Alerting, store: &Store, notification: &Notification) -> Attempt {
    let project = alerting.project();
    let Some(channel) = project.channels.get(&notification.channel) else {
        return Attempt::Refused(format!(
            "channel {} is no longer in tidemark.yml",
            notification.channel
        ));
    };
    let mut message: Message = match serde_json::from_value(notification.payload.clone()) {
        Ok(message) => message,
        Err(e) => return Attempt::Refused(format!("the stored message is unreadable: {e}")),
    };
    message.at_delivery(notification.incident_id, &project.dashboard_url);
    match store.incidents_caused_by(notification.incident_id).await {
        Ok(folded) => {
            message.folded = folded
                .iter()
                .map(|incident| Folded::new(incident, &project.dashboard_url))
                .collect();
        }
        Err(e) => {
            return Attempt::Retry {
                after: None,
                error: format!("reading the incidents folded into it: {e}"),
            };
        }
    }
    let key = &notification.idempotency_key;
    match channel {
        Channel::Slack { webhook_url } => match alerting.templates.slack(&message) {
            Ok(rendered) => {
                let payload = slack::payload(&rendered, &message.link);
                slack::post(&alerting.http, webhook_url.expose(), &payload, key).await
            }
            Err(e) => Attempt::Refused(format!("rendering the Slack message: {e}")),
        },
        // Kept, not sent: the dashboard's inbox renders it when it is read. Rendering it
        // now too refuses what the inbox could never show.
        Channel::Inbox => match alerting.templates.email(&message) {
            Ok(_) => Attempt::Delivered,
            Err(e) => Attempt::Refused(format!("rendering the inbox message: {e}")),
        },
        Channel::Email { to } => {
            let Some(smtp) = &project.smtp else {
                return Attempt::Refused("tidemark.yml has no 'smtp' section".to_owned());
            };
            match alerting.templates.email(&message) {
                Ok(rendered) => {
                    let mailer: &email::Mailer = &alerting.mailer;
                    mailer
                        .send(smtp, to, &rendered, key, alerting.settings.timeout)
                        .await
                }
                Err(e) => Attempt::Refused(format!("rendering the email: {e}")),
            }
        }
    }
}

/// What the store records of an attempt: retried with backoff until the last attempt.
fn settle(
    notification: &Notification,
    attempt: Attempt,
    alerting: &Alerting,
    at: DateTime<Utc>,
) -> Settlement {
    let attempts = notification.attempts + 1;
    let max_attempts = i64::from(alerting.project().alerts.max_attempts);
    match attempt {
        Attempt::Delivered => Settlement::Delivered,
        Attempt::Refused(error) => Settlement::Dead { error },
        Attempt::Retry { error, .. } if attempts >= max_attempts => Settlement::Dead {
            error: format!("gave up after {attempts} attempts; the last: {error}"),
        },
        Attempt::Retry { after, error } => {
            let delay =
                backoff(attempts, alerting.settings.retry, random()).max(after.unwrap_or_default());
            let delay = TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
            Settlement::Retry {
                at: at.checked_add_signed(delay).unwrap_or(at),
                error,
            }
        }
    }
}

/// The wait after the `attempts`-th failed attempt: `first` doubled each time, at most
/// [`MAX_BACKOFF`], then a random point in its upper half ("equal jitter"), so replicas
/// retrying the same receiver spread out but still back off.
pub fn backoff(attempts: i64, first: Duration, random: u64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = first
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_BACKOFF);
    let half = delay / 2;
    let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(random % span.saturating_add(1))
}

fn random() -> u64 {
    let mut bytes = [0u8; 8];
    // Without randomness the jitter is zero: still a valid backoff.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn log(notification: &Notification, settlement: &Settlement) {
    let (id, channel) = (notification.id, &notification.channel);
    match settlement {
        Settlement::Delivered => {
            tracing::info!(notification = id, %channel, "notification delivered")
        }
        Settlement::Retry { at, error } => {
            tracing::warn!(notification = id, %channel, retry_at = %at, "delivery failed: {error}");
        }
        Settlement::Dead { error } => {
            tracing::error!(notification = id, %channel, "notification dead-lettered: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() {
        let first = Duration::from_secs(5);
        for (attempts, low, high) in [(1, 2_500, 5_000), (2, 5_000, 10_000), (4, 20_000, 40_000)] {
            for random in [0, 1, 7_777, u64::MAX] {
                let delay = backoff(attempts, first, random).as_millis();
                assert!((low..=high).contains(&delay), "{attempts}: {delay}");
            }
        }
        assert_eq!(backoff(1, first, 0), Duration::from_millis(2_500));
        assert!(backoff(200, first, u64::MAX) <= MAX_BACKOFF);
        assert!(backoff(200, first, 0) >= MAX_BACKOFF / 2);
    }
}
