//! The inbox: what the project's `inbox` channels were sent, as Slack and email would have
//! shown it. Delivering to an inbox channel only marks the notification delivered (see
//! `outbox`); its stored message is rendered here, with the same templates, when the
//! dashboard's `/inbox` page is read. So the demo shows real alerts without a Slack
//! workspace or a mail server.

use chrono::{DateTime, Utc};

use super::templates::{Message, Templates};
use crate::spec::{Channel, Project};
use crate::store::{Notification, NotificationFilter, NotificationStatus, Page, Store, StoreError};

/// How many delivered notifications (of any channel) the inbox looks through: the newest.
const SCANNED: u32 = 500;

/// One alert as an inbox channel received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessage {
    pub id: i64,
    pub channel: String,
    pub incident_id: i64,
    /// `opened`, `reopened`, `reminder` or `resolved`.
    pub transition: &'static str,
    /// When the change that sent it happened.
    pub at: DateTime<Utc>,
    pub subject: String,
    /// The Slack message's mrkdwn body, as text.
    pub slack: String,
    /// The email's plain-text part.
    pub email: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the alert templates do not compile: {0}")]
    Templates(String),
}

/// The newest `limit` notifications delivered to the project's inbox channels, newest first.
pub async fn messages(
    store: &Store,
    project: &Project,
    limit: usize,
) -> Result<Vec<InboxMessage>, InboxError> {
    let filter = NotificationFilter {
        status: Some(NotificationStatus::Delivered),
        ..NotificationFilter::default()
    };
    let page = Page {
        limit: SCANNED,
        before: None,
    };
    let delivered = store.notifications(&filter, page).await?.items;
    let inboxes: Vec<&Notification> = delivered
        .iter()
        .filter(|n| matches!(project.channels.get(&n.channel), Some(Channel::Inbox)))
        .take(limit)
        .collect();
    if inboxes.is_empty() {
        return Ok(Vec::new());
    }
    let templates = Templates::load(project.alerts.templates.as_deref()).map_err(|problems| {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        InboxError::Templates(text.join("; "))
    })?;
    let dashboard_url = &project.dashboard_url;
    Ok(inboxes
        .into_iter()
        .map(|n| render(&templates, n, dashboard_url))
        .collect())
}

/// A notification as its channel would have shown it; a message the templates cannot
/// render says so instead of hiding the notification.
fn render(templates: &Templates, notification: &Notification, dashboard_url: &str) -> InboxMessage {
    let rendered = serde_json::from_value::<Message>(notification.payload.clone())
        .map_err(|e| format!("the stored message is unreadable: {e}"))
        .and_then(|mut message| {
            message.at_delivery(notification.incident_id, dashboard_url);
            let email = templates.email(&message).map_err(|e| e.to_string())?;
            let slack = templates.slack(&message).map_err(|e| e.to_string())?;
            Ok((email, slack))
        });
    let (subject, slack, email) = match rendered {
        Ok((email, slack)) => (email.subject, slack.body, email.text),
        Err(reason) => {
            let text = format!("This alert cannot be shown: {reason}");
            ("(unreadable alert)".to_owned(), text.clone(), text)
        }
    };
    InboxMessage {
        id: notification.id,
        channel: notification.channel.clone(),
        incident_id: notification.incident_id,
        transition: notification.transition.as_str(),
        at: notification.created_at,
        subject,
        slack,
        email,
    }
}
