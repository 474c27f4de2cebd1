//! Pruning: what retention keeps stays, settled incidents and stale lineage edges go.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tidemark::results::{CheckResult, Outcome, SnapshotColumn};
use tidemark::store::{
    Claim, FinishedRun, Incident, IncidentFilter, IncidentStatus, NewRun, NotificationFilter,
    Pruned, ResultFilter, Retention, RunFilter, RunStatus, StoreError,
};
use uuid::Uuid;

use crate::support::incident;

use super::{
    Fixture, all_results, all_runs, at, check, cli_run, columns, completed, days, everything,
    minutes, open_incident, opened, plain_point, run_ids, t0,
};

async fn prune_keeps_what_retention_keeps(f: &Fixture) {
    let store = &*f.store;
    let now = at("2026-06-01T00:00:00Z");
    let ago = |d: i64| now - TimeDelta::days(d);
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let snapshot = |run: &NewRun, cols: Vec<SnapshotColumn>, results: &[CheckResult]| FinishedRun {
        snapshot: Some(cols),
        ..completed(run, run.started_at + TimeDelta::seconds(1), results)
    };
    let values = |dataset: &str, n: usize| -> Vec<CheckResult> {
        (0..n)
            .map(|i| check(dataset, &format!("c{i}"), Outcome::Pass, Some(i as f64)))
            .collect()
    };

    // 40 days old: the run, its results and snapshot, and its metric points all go.
    let r40 = cli_run("orders", ago(40));
    // 20 days old: the run goes, its metric points stay.
    let r20 = cli_run("orders", ago(20));
    // 15 days old and abandoned: goes.
    let r15 = cli_run("orders", ago(15));
    // 12 days old and still running: stays.
    let r12 = NewRun {
        lease_until: now + minutes(1),
        ..cli_run("orders", ago(12))
    };
    // Exactly at the cut-off: stays (only older goes).
    let r10 = cli_run("orders", ago(10));
    // 5 days old: stays.
    let r5 = cli_run("orders", ago(5));
    for run in [&r40, &r20, &r15, &r12, &r10, &r5] {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    ok!(store.finish_run(&snapshot(
        &r40,
        columns(&[("a", "int")]),
        &values("orders", 2)
    )));
    ok!(store.finish_run(&snapshot(
        &r20,
        columns(&[("b", "int")]),
        &values("orders", 3)
    )));
    assert_eq!(run_ids(&ok!(store.expire_leases(ago(14)))), [r15.id]);
    ok!(store.finish_run(&completed(&r10, r10.started_at, &values("orders", 1))));
    ok!(store.finish_run(&snapshot(
        &r5,
        columns(&[("c", "int")]),
        &values("orders", 1)
    )));

    assert_eq!(
        ok!(store.prune(now, retention)),
        Pruned {
            runs: 3,
            results: 5,
            metric_points: 2,
            snapshots: 2,
            ..Pruned::default()
        }
    );
    for gone in [&r40, &r20, &r15] {
        assert!(matches!(
            store.run(gone.id).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(ok!(store.run(r12.id)).status, RunStatus::Running);
    let kept = all_runs(store, &RunFilter::default()).await;
    assert_eq!(run_ids(&kept), [r5.id, r10.id, r12.id]);
    let results = all_results(store, &ResultFilter::default()).await;
    let result_runs: Vec<Uuid> = results.iter().map(|r| r.run_id).collect();
    assert_eq!(result_runs, [r5.id, r10.id]);
    // c0 had a point from every finished run; c2 only from r20 (kept: within 30 days).
    let c0: Vec<DateTime<Utc>> = ok!(store.metric_series("orders", "c0", None))
        .iter()
        .map(|p| p.at)
        .collect();
    let second = TimeDelta::seconds(1);
    assert_eq!(c0, [ago(20) + second, ago(10), ago(5) + second]);
    assert_eq!(
        ok!(store.metric_series("orders", "c2", None)),
        vec![plain_point(ago(20) + second, 2.0)]
    );
    let history = ok!(store.schema_history("orders"));
    assert_eq!(
        history.iter().map(|s| s.run_id).collect::<Vec<_>>(),
        [r5.id]
    );

    // Nothing left to prune; a retention longer than all time prunes nothing.
    assert_eq!(ok!(store.prune(now, retention)), Pruned::default());
    let forever = Retention {
        results: Duration::MAX,
        metrics: Duration::MAX,
    };
    assert_eq!(ok!(store.prune(now, forever)), Pruned::default());
    // The stuck run goes once it is abandoned.
    assert_eq!(
        run_ids(&ok!(store.expire_leases(now + minutes(2)))),
        [r12.id]
    );
    assert_eq!(ok!(store.prune(now, retention)).runs, 1);
}

on_each_store!(
    prune_keeps_what_retention_keeps,
    postgres: postgres_prune_keeps_what_retention_keeps,
    sqlite: sqlite_prune_keeps_what_retention_keeps,
);

/// Prune forgets incidents settled before the cut-off (with their notifications) and
/// edges no job reported since; anything still open, unannounced or recent stays.
async fn prune_forgets_settled_incidents_and_stale_edges(f: &Fixture) {
    use tidemark::lineage::{Edge, Source};
    let store = &*f.store;
    let now = t0() + TimeDelta::days(30);
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let resolved = |dataset: &str, at: DateTime<Utc>, announced| Incident {
        status: IncidentStatus::Resolved,
        resolved_at: Some(at),
        announced: Some(announced),
        ..incident(dataset, "x", t0())
    };
    let old = t0() + TimeDelta::days(1);
    ok!(store.write_incidents(
        &[opened(
            resolved("settled", old, IncidentStatus::Resolved),
            &["a"]
        )],
        t0()
    ));
    let unannounced =
        open_incident(store, resolved("unannounced", old, IncidentStatus::Open)).await;
    let recent = open_incident(store, resolved("recent", now, IncidentStatus::Resolved)).await;
    let open = open_incident(store, incident("open", "x", t0())).await;
    let edge = |up: &str, last: DateTime<Utc>| Edge {
        upstream: up.into(),
        downstream: "orders".into(),
        source: Source::OpenLineage,
        first_seen: t0(),
        last_seen: last,
    };
    ok!(store.upsert_edges(&[edge("stale", old), edge("live", now)]));

    let pruned = ok!(store.prune(now, retention));
    assert_eq!((pruned.incidents, pruned.lineage_edges), (1, 1));
    let kept: Vec<i64> = ok!(store.incidents(&IncidentFilter::default(), everything()))
        .items
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(kept, [open.id, recent.id, unannounced.id]);
    let notifications = ok!(store.notifications(&NotificationFilter::default(), everything()));
    assert!(notifications.items.is_empty(), "{:?}", notifications.items);
    assert_eq!(ok!(store.edges()), [edge("live", now)]);
}

on_each_store!(
    prune_forgets_settled_incidents_and_stale_edges,
    postgres: prune_incidents_postgres,
    sqlite: prune_incidents_sqlite,
);
