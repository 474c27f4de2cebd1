//! Incidents: written once per check and versioned, and the reminder sweep over those
//! not yet settled.

use chrono::{DateTime, Utc};
use tidemark::store::{
    Due, EventKind, Incident, IncidentChange, IncidentFilter, IncidentStatus, NewEvent,
    NotificationFilter, Page, StoreError,
};

use crate::support::incident;

use super::{Fixture, everything, minutes, open_incident, opened, t0};

async fn incidents_are_written_once_per_check_and_versioned(f: &Fixture) {
    let store = &f.store;
    let enqueued = ok!(store.write_incidents(
        &[opened(incident("orders", "row_count", t0()), &["a", "b"])],
        t0()
    ));
    assert_eq!(enqueued.len(), 2);
    let [stored] = ok!(store.latest_incidents(&["orders".to_owned()]))
        .try_into()
        .expect("one");
    assert_eq!(
        Incident {
            id: stored.id,
            ..incident("orders", "row_count", t0())
        },
        stored
    );
    assert_eq!(ok!(store.incident(stored.id)), stored);
    assert!(matches!(
        store.incident(stored.id + 1000).await,
        Err(StoreError::NotFound)
    ));

    // A second active incident for the check loses, and writes nothing.
    let again = store
        .write_incidents(
            &[opened(incident("orders", "row_count", t0()), &["c"])],
            t0(),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let listed = ok!(store.notifications(&NotificationFilter::default(), everything()));
    assert_eq!(listed.items.len(), 2);
    let keys: Vec<&str> = listed
        .items
        .iter()
        .map(|n| n.idempotency_key.as_str())
        .collect();
    assert_eq!(
        keys,
        [format!("{}/1/b", stored.id), format!("{}/1/a", stored.id)]
    );

    // Updates name the version they were computed from; a stale one loses.
    let update = |base: i64, count: i64| IncidentChange {
        incident: Incident {
            count,
            version: base + 1,
            ..stored.clone()
        },
        base: Some(base),
        notifications: vec![],
        event: None,
    };
    ok!(store.write_incidents(&[update(1, 2)], t0()));
    let stale = store.write_incidents(&[update(1, 3)], t0()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(ok!(store.incident(stored.id)).count, 2);

    // Once resolved, the check may have a new incident, which links to its cause.
    let resolved = Incident {
        status: IncidentStatus::Resolved,
        resolved_at: Some(t0() + minutes(1)),
        resolved_by: Some("check".to_owned()),
        version: 3,
        ..ok!(store.incident(stored.id))
    };
    ok!(store.write_incidents(
        &[IncidentChange {
            incident: resolved,
            base: Some(2),
            notifications: vec![],
            event: Some(NewEvent {
                kind: EventKind::Resolved,
                actor: "ci".to_owned(),
                detail: None,
            }),
        }],
        t0() + minutes(1)
    ));
    // The timeline has what the changes said happened, in order; repeats add nothing.
    let timeline: Vec<(EventKind, String, i64, DateTime<Utc>)> =
        ok!(store.incident_events(stored.id))
            .into_iter()
            .map(|e| (e.kind, e.actor, e.version, e.at))
            .collect();
    assert_eq!(
        timeline,
        [
            (EventKind::Opened, "check".to_owned(), 1, t0()),
            (EventKind::Resolved, "ci".to_owned(), 3, t0() + minutes(1)),
        ]
    );
    assert_eq!(
        ok!(store.incident_events(stored.id))[0].detail.as_deref(),
        Some("0 rows")
    );
    assert!(ok!(store.incident_events(stored.id + 1000)).is_empty());
    let upstream = open_incident(store, incident("raw", "row_count", t0())).await;
    let next = open_incident(
        store,
        Incident {
            cause: Some(upstream.id),
            ..incident("orders", "row_count", t0() + minutes(2))
        },
    )
    .await;
    assert!(next.id > stored.id);
    assert_eq!(
        ok!(store.incidents_caused_by(upstream.id)),
        std::slice::from_ref(&next)
    );
    let open = IncidentFilter {
        status: Some(IncidentStatus::Open),
        ..IncidentFilter::default()
    };
    let ids: Vec<i64> = ok!(store.incidents(&open, everything()))
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [next.id, upstream.id]);
    let of_orders = IncidentFilter {
        dataset: Some("orders".to_owned()),
        ..IncidentFilter::default()
    };
    let page = ok!(store.incidents(
        &of_orders,
        Page {
            limit: 1,
            before: None
        }
    ));
    assert_eq!((page.items[0].id, page.next), (next.id, Some(next.id)));
    let rest = ok!(store.incidents(
        &of_orders,
        Page {
            limit: 1,
            before: page.next
        }
    ));
    assert_eq!((rest.items[0].id, rest.next), (stored.id, None));
}

on_each_store!(
    incidents_are_written_once_per_check_and_versioned,
    postgres: incidents_are_written_once_per_check_and_versioned_on_postgres,
    sqlite: incidents_are_written_once_per_check_and_versioned_on_sqlite,
);

async fn the_reminder_sweep_finds_unsettled_incidents(f: &Fixture) {
    let store = &f.store;
    let now = t0() + minutes(600);
    let long_ago = Some(t0());
    let never = open_incident(store, incident("a", "x", t0())).await;
    let reminded_long_ago = open_incident(
        store,
        Incident {
            last_notified_at: long_ago,
            announced: Some(IncidentStatus::Open),
            ..incident("b", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            last_notified_at: Some(now - minutes(5)),
            ..incident("c", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            muted_until: Some(now + minutes(5)),
            ..incident("d", "x", t0())
        },
    )
    .await;
    open_incident(
        store,
        Incident {
            cause: Some(never.id),
            ..incident("e", "x", t0())
        },
    )
    .await;
    let resolved = |dataset: &str, announced| Incident {
        status: IncidentStatus::Resolved,
        resolved_at: long_ago,
        announced: Some(announced),
        ..incident(dataset, "x", t0())
    };
    let unannounced = open_incident(store, resolved("f", IncidentStatus::Open)).await;
    open_incident(store, resolved("g", IncidentStatus::Resolved)).await;
    open_incident(
        store,
        Incident {
            status: IncidentStatus::Acknowledged,
            ..incident("h", "x", t0())
        },
    )
    .await;
    let due = Due {
        now,
        notified_before: now - minutes(60),
        resolved_before: now - minutes(60),
    };
    let ids: Vec<i64> = ok!(store.incidents_due(due)).iter().map(|i| i.id).collect();
    assert_eq!(ids, [never.id, reminded_long_ago.id, unannounced.id]);
}

on_each_store!(
    the_reminder_sweep_finds_unsettled_incidents,
    postgres: the_reminder_sweep_finds_unsettled_incidents_on_postgres,
    sqlite: the_reminder_sweep_finds_unsettled_incidents_on_sqlite,
);
