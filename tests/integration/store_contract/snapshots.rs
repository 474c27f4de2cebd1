//! Schema snapshots and schema history, and distribution profiles.

use chrono::TimeDelta;
use tidemark::distribution::{Bin, Count, Profile};
use tidemark::results::{NewProfile, ProfileQuery, StoredProfile};
use tidemark::store::{Claim, FinishedRun, NewRun, Retention, SchemaSnapshot};

use super::{Fixture, cli_run, columns, completed, days, minutes, t0};

// ---------------------------------------------------------------------------------------
// Schema snapshots and schema history

async fn snapshots_and_schema_history(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.latest_snapshot("orders", "main")), None);
    assert_eq!(ok!(store.schema_history("orders")), vec![]);

    let a = columns(&[("id", "integer"), ("email", "text")]);
    let b = columns(&[("id", "integer"), ("email", "text"), ("phone", "text")]);
    let a_retyped = columns(&[("id", "integer"), ("email", "varchar(80)")]);
    let reordered = columns(&[("email", "text"), ("id", "integer")]);
    let mut snapshots = Vec::new();
    // (minute, warehouse, columns): the archive copy first, then main's history.
    let history = [
        (0, "archive", Some(&a)),
        (1, "main", Some(&a)),
        (2, "main", Some(&a)),
        (3, "main", Some(&b)),
        (4, "main", None),
        (5, "main", Some(&b)),
        (6, "main", Some(&a_retyped)),
        (7, "main", Some(&reordered)),
        (8, "main", Some(&reordered)),
    ];
    for (minute, warehouse, cols) in history {
        let run = NewRun {
            warehouse: warehouse.into(),
            ..cli_run("orders", t0() + minutes(minute))
        };
        assert_eq!(ok!(store.start_run(&run)), Claim::Started);
        let taken_at = t0() + minutes(minute) + TimeDelta::seconds(30);
        let finished = FinishedRun {
            snapshot: cols.cloned(),
            ..completed(&run, taken_at, &[])
        };
        ok!(store.finish_run(&finished));
        if let Some(cols) = cols {
            snapshots.push(SchemaSnapshot {
                dataset: "orders".into(),
                warehouse: warehouse.into(),
                run_id: run.id,
                taken_at,
                columns: cols.clone(),
            });
        }
    }
    // Another dataset's snapshot is not part of this history.
    let other = cli_run("customers", t0() + minutes(3));
    assert_eq!(ok!(store.start_run(&other)), Claim::Started);
    let other_done = FinishedRun {
        snapshot: Some(b.clone()),
        ..completed(&other, t0() + minutes(3), &[])
    };
    ok!(store.finish_run(&other_done));

    // snapshots: [archive a, a@1, a@2, b@3, b@5, a_retyped@6, reordered@7, reordered@8]
    assert_eq!(
        ok!(store.latest_snapshot("orders", "main")),
        Some(snapshots[7].clone())
    );
    assert_eq!(
        ok!(store.latest_snapshot("orders", "archive")),
        Some(snapshots[0].clone())
    );
    assert_eq!(ok!(store.latest_snapshot("orders", "elsewhere")), None);
    // Unchanged snapshots collapse into the first of their kind; a move to another
    // warehouse counts as a change.
    let changes: Vec<SchemaSnapshot> = [6, 5, 3, 1, 0]
        .map(|i| snapshots[i].clone())
        .into_iter()
        .collect();
    assert_eq!(ok!(store.schema_history("orders")), changes);
    assert_eq!(
        ok!(store.schema_history("customers")),
        vec![SchemaSnapshot {
            dataset: "customers".into(),
            warehouse: "main".into(),
            run_id: other.id,
            taken_at: t0() + minutes(3),
            columns: b,
        }]
    );
}

on_each_store!(
    snapshots_and_schema_history,
    postgres: postgres_snapshots_and_schema_history,
    sqlite: sqlite_snapshots_and_schema_history,
);

// ---------------------------------------------------------------------------------------
// Distribution profiles

/// A numeric profile with awkward numbers: they must come back exactly.
fn amount_profile(minute: i64) -> Profile {
    let m = minute as f64;
    Profile::Numeric {
        bins: vec![
            Bin {
                min: 0.1 + m,
                max: 2.5 + m,
                count: 10.0,
            },
            Bin {
                min: 2.5 + m,
                max: 2.5 + m,
                count: 1.0 / 3.0,
            },
        ],
    }
}

async fn distribution_profiles_are_kept_per_check_and_column(f: &Fixture) {
    let store = &*f.store;
    let query = |since, until, limit| ProfileQuery {
        dataset: "orders",
        check: "distribution(amount)",
        column: "amount",
        since,
        until,
        limit,
    };
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        vec![]
    );
    let statuses = Profile::Values {
        top: vec![Count {
            value: "placed".into(),
            count: 3.0,
        }],
        other: 1.0,
    };
    let mut kept = Vec::new();
    for minute in 0..3 {
        let run = cli_run("orders", t0() + minutes(minute));
        assert_eq!(ok!(store.start_run(&run)), Claim::Started);
        let taken_at = run.started_at + TimeDelta::seconds(1);
        let profile = |check: &str, column: &str, profile: &Profile| NewProfile {
            check: check.into(),
            column: column.into(),
            profile: profile.clone(),
        };
        let finished = FinishedRun {
            profiles: vec![
                profile("distribution(amount)", "amount", &amount_profile(minute)),
                profile("distribution(status)", "status", &statuses),
                // The same name over another column (an edited check) is another history.
                profile("distribution(amount)", "total", &statuses),
            ],
            ..completed(&run, taken_at, &[])
        };
        ok!(store.finish_run(&finished));
        kept.push(StoredProfile {
            run_id: run.id,
            taken_at,
            profile: amount_profile(minute),
        });
    }
    // Another dataset's profile of a check with the same name.
    let other = cli_run("customers", t0());
    assert_eq!(ok!(store.start_run(&other)), Claim::Started);
    ok!(store.finish_run(&FinishedRun {
        profiles: vec![NewProfile {
            check: "distribution(amount)".into(),
            column: "amount".into(),
            profile: statuses.clone(),
        }],
        ..completed(&other, t0(), &[])
    }));

    let newest_first = |indexes: &[usize]| -> Vec<StoredProfile> {
        indexes.iter().map(|i| kept[*i].clone()).collect()
    };
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        newest_first(&[2, 1, 0])
    );
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 1))),
        newest_first(&[2])
    );
    // `until` and `since` are inclusive.
    let middle = kept[1].taken_at;
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, Some(middle), 10))),
        newest_first(&[1, 0])
    );
    assert_eq!(
        ok!(store.distribution_profiles(&query(Some(middle), None, 10))),
        newest_first(&[2, 1])
    );
    let status = ProfileQuery {
        check: "distribution(status)",
        column: "status",
        ..query(None, None, 10)
    };
    assert_eq!(ok!(store.distribution_profiles(&status)).len(), 3);

    // Pruning a run removes its profiles.
    let retention = Retention {
        results: days(10),
        metrics: days(30),
    };
    let now = t0() + TimeDelta::days(10) + TimeDelta::seconds(90);
    ok!(store.prune(now, retention));
    assert_eq!(
        ok!(store.distribution_profiles(&query(None, None, 10))),
        newest_first(&[2])
    );
}

on_each_store!(
    distribution_profiles_are_kept_per_check_and_column,
    postgres: postgres_distribution_profiles_are_kept_per_check_and_column,
    sqlite: sqlite_distribution_profiles_are_kept_per_check_and_column,
);
