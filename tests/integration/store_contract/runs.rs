//! Runs and their results: what is written is read back as written.

use serde_json::json;
use tidemark::results::{CheckResult, Outcome, SnapshotColumn, Summary};
use tidemark::spec::Severity;
use tidemark::store::{
    Claim, FinishedRun, NewRun, ResultFilter, Run, RunFilter, RunStatus, SchemaSnapshot,
    StoreError, StoredResult, Trigger,
};
use uuid::Uuid;

use super::{
    Fixture, all_results, all_runs, at, check, cli_run, completed, hash_of, ids, minutes,
    plain_point, running, t0,
};

async fn runs_and_results_round_trip(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let new = NewRun {
        id: Uuid::new_v4(),
        batch_id: Uuid::new_v4(),
        dataset: "orders".into(),
        warehouse: "main".into(),
        trigger: Trigger::Schedule,
        slot: Some(slot),
        replica: "host-a:4242".into(),
        // Nanoseconds: the stores keep microseconds.
        started_at: at("2026-03-10T12:00:00.123456789Z"),
        lease_until: at("2026-03-10T12:01:00.5Z"),
    };
    assert_eq!(ok!(store.start_run(&new)), Claim::Started);
    let started = Run {
        started_at: at("2026-03-10T12:00:00.123456Z"),
        ..running(&new)
    };
    assert_eq!(ok!(store.run(new.id)), started);

    let results = vec![
        CheckResult {
            expected: Some(json!({"min": 1, "max": 10000})),
            message: "1234 rows".into(),
            ..check("orders", "row_count", Outcome::Pass, Some(1234.0))
        },
        CheckResult {
            kind: "unique".into(),
            columns: Some(vec!["customer_id".into(), "day".into()]),
            expected: Some(json!({"max": 0})),
            message: "3 duplicate keys".into(),
            severity: Some(Severity::Critical),
            ..check(
                "orders",
                "unique(customer_id, day)",
                Outcome::Fail,
                Some(3.0),
            )
        },
        CheckResult {
            kind: "avg".into(),
            column: Some("amount".into()),
            expected: Some(json!({"between": [0.25, 1e-7], "note": "ünïcode ' \" \\ ;--"})),
            message: "avg 0.30000000000000004 is high — ✓ 'quoted'".into(),
            severity: Some(Severity::Low),
            ..check("orders", "avg(amount)", Outcome::Warn, Some(0.1 + 0.2))
        },
        CheckResult {
            kind: "freshness".into(),
            column: Some("updated_at".into()),
            message: "connection refused".into(),
            severity: Some(Severity::Medium),
            ..check("orders", "freshness(updated_at)", Outcome::Error, None)
        },
        CheckResult {
            expected: Some(json!(null)),
            severity: Some(Severity::High),
            ..check("orders", "max(amount)", Outcome::Pass, Some(f64::MAX))
        },
        check(
            "orders",
            "min(amount)",
            Outcome::Pass,
            Some(f64::MIN_POSITIVE),
        ),
        // Not finite: kept as null, as JSON prints it.
        check("orders", "change", Outcome::Warn, Some(f64::INFINITY)),
        check("orders", "ratio", Outcome::Warn, Some(f64::NAN)),
    ];
    let columns = vec![
        SnapshotColumn {
            name: "id".into(),
            data_type: "integer".into(),
        },
        SnapshotColumn {
            name: "amount".into(),
            data_type: "numeric(10,2)".into(),
        },
    ];
    let finished_at = at("2026-03-10T12:00:07.654321Z");
    // What the run's queries cost is kept with it; bytes the engine did not report stay
    // unknown.
    let cost = tidemark::warehouse::cost::Cost {
        rows_scanned: Some(10_000_000),
        bytes_scanned: None,
        seconds: 1.25,
    };
    let finished = FinishedRun {
        snapshot: Some(columns.clone()),
        cost,
        ..completed(&new, finished_at, &results)
    };
    ok!(store.finish_run(&finished));

    let done = Run {
        status: RunStatus::Completed,
        finished_at: Some(finished_at),
        cost: Some(cost),
        summary: Summary {
            pass: 3,
            warn: 3,
            fail: 1,
            error: 1,
        },
        ..started.clone()
    };
    assert_eq!(ok!(store.run(new.id)), done);
    assert_eq!(
        all_runs(store, &RunFilter::default()).await,
        vec![done.clone()]
    );

    let by_run = ResultFilter {
        run_id: Some(new.id),
        ..ResultFilter::default()
    };
    let mut stored = all_results(store, &by_run).await;
    stored.reverse(); // newest first; ids increase with insertion
    assert!(
        stored.windows(2).all(|w| w[0].id < w[1].id),
        "{:?}",
        ids(&stored)
    );
    let expected: Vec<StoredResult> = results
        .iter()
        .zip(&stored)
        .map(|(r, s)| StoredResult {
            id: s.id,
            run_id: new.id,
            check_hash: hash_of(r),
            observed_at: finished_at,
            result: CheckResult {
                value: r.value.filter(|v| v.is_finite()),
                ..r.clone()
            },
        })
        .collect();
    assert_eq!(stored, expected);

    // A metric point for every finite value, at the run's finish.
    let point = |value| vec![plain_point(finished_at, value)];
    assert_eq!(
        ok!(store.metric_series("orders", "row_count", None)),
        point(1234.0)
    );
    assert_eq!(
        ok!(store.metric_series("orders", "avg(amount)", None)),
        point(0.1 + 0.2)
    );
    assert_eq!(
        ok!(store.metric_series("orders", "max(amount)", None)),
        point(f64::MAX)
    );
    for no_value in ["freshness(updated_at)", "change", "ratio"] {
        assert_eq!(ok!(store.metric_series("orders", no_value, None)), vec![]);
    }
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")),
        Some(SchemaSnapshot {
            dataset: "orders".into(),
            warehouse: "main".into(),
            run_id: new.id,
            taken_at: finished_at,
            columns,
        })
    );

    // A run that could not complete: an error, no results, no snapshot.
    let broken = cli_run("orders", t0() + minutes(5));
    assert_eq!(ok!(store.start_run(&broken)), Claim::Started);
    let failed = FinishedRun {
        status: RunStatus::Failed,
        error: Some("could not connect: timed out after 10s".into()),
        ..completed(&broken, t0() + minutes(6), &[])
    };
    ok!(store.finish_run(&failed));
    assert_eq!(
        ok!(store.run(broken.id)),
        Run {
            status: RunStatus::Failed,
            finished_at: Some(t0() + minutes(6)),
            error: Some("could not connect: timed out after 10s".into()),
            // It sent no query: it cost nothing.
            cost: Some(Default::default()),
            ..running(&broken)
        }
    );
    let broken_results = ResultFilter {
        run_id: Some(broken.id),
        ..ResultFilter::default()
    };
    assert_eq!(all_results(store, &broken_results).await, vec![]);
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")).map(|s| s.run_id),
        Some(new.id)
    );

    // Finishing twice is refused and leaves the first record alone.
    let again = store.finish_run(&finished).await;
    assert!(matches!(again, Err(StoreError::Query(_))), "{again:?}");
    assert_eq!(ok!(store.run(new.id)), done);
    assert_eq!(all_results(store, &by_run).await.len(), results.len());
    // A run cannot finish as running, nor can an unknown run finish.
    let unfinished = FinishedRun {
        status: RunStatus::Running,
        ..completed(&cli_run("orders", t0()), t0(), &[])
    };
    assert!(matches!(
        store.finish_run(&unfinished).await,
        Err(StoreError::Query(_))
    ));
    let unknown = completed(&cli_run("orders", t0()), t0(), &results);
    assert!(matches!(
        store.finish_run(&unknown).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.run(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    ));
}

on_each_store!(
    runs_and_results_round_trip,
    postgres: postgres_runs_and_results_round_trip,
    sqlite: sqlite_runs_and_results_round_trip,
);
