//! Incidents and the notification outbox, as the store keeps them.
//!
//! An incident is one problem of one check: opened by its first failing result, updated by
//! repeats, resolved by a passing one (or through the API). Every write carries the version
//! it was computed from, so two replicas judging the same check cannot both win: the loser
//! gets [`StoreError::Conflict`] and judges again from what the winner wrote.
//!
//! A notification is written in the same transaction as the incident change that caused
//! it, under an idempotency key `incident/version/channel`: the key is unique, so a change
//! written twice (a retry after a lost reply) enqueues nothing twice, and a delivery worker
//! claims a row under a lease before sending it, so no two workers send it at once.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::results::serialize_number;
use crate::spec::Severity;

/// What broke: the data, or the check itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentKind {
    /// A check failed (or an SLA was breached): the data does not meet a rule.
    Failure,
    /// A check could not run (warehouse unreachable, bad SQL, timeout).
    Error,
}

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Failing, and nobody has said they are on it: reminders go out.
    Open,
    /// Failing, and someone is on it: no reminders.
    Acknowledged,
    Resolved,
}

/// A change worth telling the channels about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Opened,
    /// Failing again soon after it resolved (the check flaps).
    Reopened,
    /// Still open and unacknowledged after the re-notify interval.
    Reminder,
    Resolved,
}

/// A notification's delivery state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Delivered,
    /// Given up on: every attempt failed, or the receiver refused it for good.
    Dead,
}

/// A change in an incident's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Opened,
    /// Failing again soon after it resolved.
    Reopened,
    Acknowledged,
    Muted,
    Resolved,
    /// Found to be the consequence of an upstream incident that opened after it.
    Linked,
}

spelled!(IncidentKind { Failure => "failure", Error => "error" });
spelled!(IncidentStatus { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" });
spelled!(Transition {
    Opened => "opened",
    Reopened => "reopened",
    Reminder => "reminder",
    Resolved => "resolved",
});
spelled!(NotificationStatus { Pending => "pending", Delivered => "delivered", Dead => "dead" });
spelled!(EventKind {
    Opened => "opened",
    Reopened => "reopened",
    Acknowledged => "acknowledged",
    Muted => "muted",
    Resolved => "resolved",
    Linked => "linked",
});

impl IncidentStatus {
    pub fn is_active(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

/// Who resolved an incident.
pub const RESOLVED_BY_CHECK: &str = "check";
pub const RESOLVED_BY_API: &str = "api";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    /// Increasing with creation: the paging key. Ignored when writing a new incident.
    pub id: i64,
    pub dataset: String,
    pub check: String,
    pub kind: IncidentKind,
    /// Whether the check is (or measures) one of the dataset's SLAs.
    pub sla: bool,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub opened_at: DateTime<Utc>,
    /// When the latest failing result was seen.
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// [`RESOLVED_BY_CHECK`] or [`RESOLVED_BY_API`].
    pub resolved_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// No notifications until then.
    pub muted_until: Option<DateTime<Utc>>,
    /// Failing results seen.
    pub count: i64,
    /// Times it failed again soon after resolving.
    pub flaps: i64,
    /// The latest failing result's value, expectation and message.
    #[serde(serialize_with = "serialize_number")]
    pub value: Option<f64>,
    pub expected: Option<serde_json::Value>,
    pub message: String,
    /// The open incident of an upstream dataset that likely caused this one.
    pub cause: Option<i64>,
    /// Grows with every write; numbers the notifications of each change.
    pub version: i64,
    /// The state the channels were last told of: `Open` or `Resolved` (never told: `None`).
    pub announced: Option<IncidentStatus>,
    pub last_notified_at: Option<DateTime<Utc>>,
}

/// A notification to enqueue with an incident change.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNotification {
    pub transition: Transition,
    /// A channel of `tidemark.yml`, looked up when delivering.
    pub channel: String,
    /// What the templates render: the incident as it was at the change.
    pub payload: serde_json::Value,
}

/// One incident write, computed from the incident at `base` (`None`: a new incident).
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentChange {
    pub incident: Incident,
    pub base: Option<i64>,
    pub notifications: Vec<NewNotification>,
    /// What the change adds to the incident's timeline (a repeat failure adds nothing).
    pub event: Option<NewEvent>,
}

/// How many of its latest events an incident's timeline shows: a check flapping for months
/// would have thousands, and the notifications tell the rest.
pub const INCIDENT_EVENTS: i64 = 200;

/// Who changed an incident when its check's results did: the check itself.
pub const ACTOR_CHECK: &str = "check";

/// An entry of an incident's timeline, to write with its change (which gives it its time
/// and version).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    /// [`ACTOR_CHECK`], or the name of the API token of the person who acted.
    pub actor: String,
    /// The failing message of an opening, the end of a mute, the cause of a link.
    pub detail: Option<String>,
}

/// An entry of an incident's timeline, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: i64,
    /// The incident's version the change made.
    pub version: i64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub actor: String,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    pub id: i64,
    /// `incident/version/channel`: unique, also sent to receivers so they can deduplicate.
    pub idempotency_key: String,
    pub incident_id: i64,
    pub transition: Transition,
    pub channel: String,
    #[serde(skip)]
    pub payload: serde_json::Value,
    pub status: NotificationStatus,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How an attempt to deliver a notification ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Settlement {
    Delivered,
    /// Try again at this time.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up: dead-letter it.
    Dead {
        error: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFilter {
    pub dataset: Option<String>,
    pub status: Option<IncidentStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotificationFilter {
    pub status: Option<NotificationStatus>,
    pub incident: Option<i64>,
}

/// What the reminder sweep asks for ([`super::Incidents::incidents_due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub now: DateTime<Utc>,
    /// Open incidents last notified before this (or never), not muted, whose cause (if
    /// any) is no longer active.
    pub notified_before: DateTime<Utc>,
    /// Resolved incidents whose resolution was never announced, resolved before this.
    pub resolved_before: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_back_what_they_write_and_serialize_alike() {
        for kind in [IncidentKind::Failure, IncidentKind::Error] {
            assert_eq!(IncidentKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::json!(kind), kind.as_str());
        }
        for status in [
            IncidentStatus::Open,
            IncidentStatus::Acknowledged,
            IncidentStatus::Resolved,
        ] {
            assert_eq!(IncidentStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::json!(status), status.as_str());
        }
        for transition in [
            Transition::Opened,
            Transition::Reopened,
            Transition::Reminder,
            Transition::Resolved,
        ] {
            assert_eq!(Transition::parse(transition.as_str()), Some(transition));
        }
        assert_eq!(NotificationStatus::ALL, ["pending", "delivered", "dead"]);
        assert_eq!(NotificationStatus::parse("lost"), None);
    }
}
