//! The notification outbox: each notification is claimed by one worker and settled.

use std::sync::Arc;

use tidemark::store::{NotificationFilter, NotificationStatus, Settlement, StoreError, Transition};

use crate::support::incident;

use super::{Fixture, everything, minutes, opened, t0};

async fn notifications_are_claimed_by_one_worker_and_settled(f: &Fixture) {
    let store = &f.store;
    let other = Arc::new(f.reopen().await);
    let ids = ok!(store.write_incidents(
        &[opened(
            incident("orders", "row_count", t0()),
            &["a", "b", "c"]
        )],
        t0()
    ));
    let lease = t0() + minutes(1);
    let (mine, theirs) = tokio::join!(
        store.claim_notifications("w1", t0(), lease, 2),
        other.claim_notifications("w2", t0(), lease, 2),
    );
    let mut claimed: Vec<i64> = mine
        .expect("w1 claims")
        .iter()
        .chain(&theirs.expect("w2 claims"))
        .map(|n| n.id)
        .collect();
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "each claimed once");
    assert!(ok!(store.claim_notifications("w3", t0(), lease, 10)).is_empty());

    // Lapsed claims are taken over, and the old claimer can no longer settle.
    let later = lease + minutes(1);
    let taken = ok!(store.claim_notifications("w3", later, later + minutes(1), 10));
    assert_eq!(taken.len(), 3);
    let lost = store
        .settle_notification(ids[0], "w1", later, &Settlement::Delivered)
        .await;
    assert!(matches!(lost, Err(StoreError::NotFound)), "{lost:?}");
    let retry_at = later + minutes(5);
    ok!(store.settle_notification(ids[0], "w3", later, &Settlement::Delivered));
    ok!(store.settle_notification(
        ids[1],
        "w3",
        later,
        &Settlement::Retry {
            at: retry_at,
            error: "HTTP 500".into()
        }
    ));
    ok!(store.settle_notification(
        ids[2],
        "w3",
        later,
        &Settlement::Dead {
            error: "HTTP 404".into()
        }
    ));
    assert_eq!(ok!(store.next_attempt(&ids)), Some(retry_at));
    assert!(ok!(store.claim_notifications("w3", later, later + minutes(1), 10)).is_empty());

    let dead = NotificationFilter {
        status: Some(NotificationStatus::Dead),
        ..NotificationFilter::default()
    };
    let [letter] = ok!(store.notifications(&dead, everything()))
        .items
        .try_into()
        .expect("one dead letter");
    assert_eq!(
        (letter.id, letter.attempts, letter.last_error.as_deref()),
        (ids[2], 1, Some("HTTP 404"))
    );
    let delivered = NotificationFilter {
        status: Some(NotificationStatus::Delivered),
        ..NotificationFilter::default()
    };
    let [sent] = ok!(store.notifications(&delivered, everything()))
        .items
        .try_into()
        .expect("one delivered");
    assert_eq!((sent.id, sent.delivered_at), (ids[0], Some(later)));

    let [retried] = ok!(store.claim_notifications("w4", retry_at, retry_at + minutes(1), 10))
        .try_into()
        .expect("the retry comes due");
    assert_eq!(
        (retried.id, retried.attempts, retried.transition),
        (ids[1], 1, Transition::Opened)
    );
    ok!(store.settle_notification(ids[1], "w4", retry_at, &Settlement::Delivered));
    assert_eq!(ok!(store.next_attempt(&ids)), None);
    let by_incident = NotificationFilter {
        incident: Some(retried.incident_id),
        ..NotificationFilter::default()
    };
    assert_eq!(
        ok!(store.notifications(&by_incident, everything()))
            .items
            .len(),
        3
    );
}

on_each_store!(
    notifications_are_claimed_by_one_worker_and_settled,
    postgres: notifications_are_claimed_by_one_worker_and_settled_on_postgres,
    sqlite: notifications_are_claimed_by_one_worker_and_settled_on_sqlite,
);
