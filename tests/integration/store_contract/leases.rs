//! The slot claim (one run per dataset and slot, however many replicas ask) and the
//! leases that keep running runs alive.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tidemark::results::Outcome;
use tidemark::store::{
    Claim, LEASE_EXPIRED, NewRun, Page, Run, RunFilter, RunStatus, Running, StoreError, Trigger,
};
use uuid::Uuid;

use super::{
    Fixture, all_runs, at, check, cli_run, completed, minutes, new_run, record, run_ids, running,
    t0,
};

// ---------------------------------------------------------------------------------------
// The slot claim

async fn a_slot_is_claimed_once(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let first = new_run("orders", Trigger::Schedule, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&first)), Claim::Started);
    let rival = NewRun {
        replica: "host-b:99".into(),
        ..new_run("orders", Trigger::Schedule, Some(slot), t0() + minutes(1))
    };
    assert_eq!(ok!(store.start_run(&rival)), Claim::AlreadyClaimed);
    let orders = RunFilter {
        dataset: Some("orders".into()),
        ..RunFilter::default()
    };
    assert_eq!(all_runs(store, &orders).await, vec![running(&first)]);
    assert!(matches!(
        store.run(rival.id).await,
        Err(StoreError::NotFound)
    ));

    // Other datasets and other slots are claims of their own.
    let customers = new_run("customers", Trigger::Schedule, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&customers)), Claim::Started);
    let next = new_run("orders", Trigger::Schedule, Some(slot + minutes(1)), t0());
    assert_eq!(ok!(store.start_run(&next)), Claim::Started);

    // Runs from the CLI or the API have no slot and never conflict, with anything.
    for trigger in [Trigger::Cli, Trigger::Cli, Trigger::Manual, Trigger::Manual] {
        let run = new_run("orders", trigger, None, t0());
        assert_eq!(ok!(store.start_run(&run)), Claim::Started, "{trigger:?}");
    }
    let cli_in_slot = new_run("orders", Trigger::Cli, Some(slot), t0());
    assert_eq!(ok!(store.start_run(&cli_in_slot)), Claim::Started);
    // Retries carry the slot they retry, as often as it takes, and claim nothing.
    for _ in 0..2 {
        let retry = new_run("orders", Trigger::Retry, Some(slot), t0());
        assert_eq!(ok!(store.start_run(&retry)), Claim::Started);
        let stored = ok!(store.run(retry.id));
        assert_eq!((stored.trigger, stored.slot), (Trigger::Retry, Some(slot)));
    }
    let retry_ahead = new_run("orders", Trigger::Retry, Some(slot + minutes(5)), t0());
    assert_eq!(ok!(store.start_run(&retry_ahead)), Claim::Started);
    assert_eq!(all_runs(store, &orders).await.len(), 10);

    // A finished slot stays claimed.
    ok!(store.finish_run(&completed(&first, t0() + minutes(2), &[])));
    let late = new_run("orders", Trigger::Schedule, Some(slot), t0() + minutes(3));
    assert_eq!(ok!(store.start_run(&late)), Claim::AlreadyClaimed);

    // What a sweep still has to run: slots no scheduled run claimed (retries, CLI runs and
    // other datasets' claims do not count), in the order asked.
    record(store, "cli_only", t0(), &[]).await;
    let asked = |pairs: &[(&str, DateTime<Utc>)]| -> Vec<(String, DateTime<Utc>)> {
        pairs.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    };
    let wanted = asked(&[
        ("unknown", slot),
        ("orders", slot + minutes(5)),
        ("orders", slot + minutes(1)),
        ("cli_only", slot),
        ("customers", slot),
        ("customers", slot + minutes(1)),
    ]);
    assert_eq!(
        ok!(store.unclaimed_slots(&wanted)),
        asked(&[
            ("unknown", slot),
            ("orders", slot + minutes(5)),
            ("cli_only", slot),
            ("customers", slot + minutes(1)),
        ])
    );
    assert_eq!(ok!(store.unclaimed_slots(&[])), Vec::new());
}

/// A stopping replica hands back the slots it claimed but never started: claimable again,
/// while a run that finished, or that another replica expired, stays.
async fn claims_handed_back_can_be_claimed_again(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-01T10:00:00Z");
    let unstarted = NewRun {
        lease_until: t0() + minutes(10),
        ..new_run("orders", Trigger::Schedule, Some(slot), t0())
    };
    let done = new_run("customers", Trigger::Schedule, Some(slot), t0());
    let expired = NewRun {
        lease_until: t0() + minutes(1),
        ..new_run("items", Trigger::Schedule, Some(slot), t0())
    };
    for run in [&unstarted, &done, &expired] {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    ok!(store.finish_run(&completed(&done, t0() + minutes(1), &[])));
    assert_eq!(ok!(store.expire_leases(t0() + minutes(2))).len(), 1);

    let ids = [unstarted.id, done.id, expired.id, Uuid::new_v4()];
    assert_eq!(ok!(store.release_claims(&ids)), 1);
    assert!(matches!(
        store.run(unstarted.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(ok!(store.run(done.id)).status, RunStatus::Completed);
    assert_eq!(ok!(store.run(expired.id)).status, RunStatus::Abandoned);
    let again = new_run("orders", Trigger::Schedule, Some(slot), t0() + minutes(3));
    assert_eq!(ok!(store.start_run(&again)), Claim::Started);
    assert_eq!(ok!(store.release_claims(&[])), 0);
}

on_each_store!(
    claims_handed_back_can_be_claimed_again,
    postgres: postgres_claims_handed_back_can_be_claimed_again,
    sqlite: sqlite_claims_handed_back_can_be_claimed_again,
);

on_each_store!(
    a_slot_is_claimed_once,
    postgres: postgres_a_slot_is_claimed_once,
    sqlite: sqlite_a_slot_is_claimed_once,
);

async fn concurrent_claims_start_one_run(f: &Fixture) {
    // Two replicas (two pools on one store), twenty tasks racing for one slot.
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let slot = at("2026-03-10T12:05:00Z");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = replicas[i % 2].clone();
            let run = NewRun {
                replica: format!("replica-{i}"),
                ..new_run("orders", Trigger::Schedule, Some(slot), t0())
            };
            tokio::spawn(async move { (run.id, store.start_run(&run).await) })
        })
        .collect();
    let mut started = Vec::new();
    for task in tasks {
        let (id, claim) = task.await.expect("join a claiming task");
        match claim.unwrap_or_else(|e| panic!("start_run: {e}")) {
            Claim::Started => started.push(id),
            Claim::AlreadyClaimed => {}
        }
    }
    assert_eq!(started.len(), 1, "exactly one claim wins: {started:?}");
    let runs = all_runs(&f.store, &RunFilter::default()).await;
    assert_eq!(run_ids(&runs), started);
}

on_each_store!(
    concurrent_claims_start_one_run,
    postgres: postgres_concurrent_claims_start_one_run,
    sqlite: sqlite_concurrent_claims_start_one_run,
);

async fn slots_are_claimed_in_batches_once(f: &Fixture) {
    // Two replicas claim the same 1,500 slots (more than one statement's worth) at once,
    // as two servers do at a tick; each slot goes to exactly one of them.
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let slot = at("2026-03-10T12:10:00Z");
    let batch = |replica: &str| -> Vec<NewRun> {
        (0..1_500)
            .map(|i| NewRun {
                replica: replica.to_owned(),
                ..new_run(&format!("t{i:04}"), Trigger::Schedule, Some(slot), t0())
            })
            .collect()
    };
    let (a, b) = (batch("replica-a"), batch("replica-b"));
    let (won_a, won_b) = tokio::join!(replicas[0].start_runs(&a), replicas[1].start_runs(&b));
    let (won_a, won_b) = (won_a.expect("claim a"), won_b.expect("claim b"));
    assert_eq!(won_a.len() + won_b.len(), 1_500, "every slot claimed once");
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            before,
        };
        let runs = ok!(f.store.runs(&RunFilter::default(), page));
        stored.extend(run_ids(&runs.items));
        match runs.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let mut winners: Vec<Uuid> = won_a.iter().chain(&won_b).copied().collect();
    stored.sort();
    winners.sort();
    assert_eq!(stored, winners, "the ids returned are the runs stored");

    // Claimed slots stay claimed; runs without a slot always start.
    let again = vec![
        new_run("t0001", Trigger::Schedule, Some(slot), t0()),
        new_run("t0001", Trigger::Schedule, Some(slot + minutes(1)), t0()),
        cli_run("t0001", t0()),
    ];
    let mut started = ok!(f.store.start_runs(&again));
    let mut expected = vec![again[1].id, again[2].id];
    started.sort();
    expected.sort();
    assert_eq!(started, expected);
    assert_eq!(ok!(f.store.start_runs(&[])), Vec::<Uuid>::new());
}

on_each_store!(
    slots_are_claimed_in_batches_once,
    postgres: postgres_slots_are_claimed_in_batches_once,
    sqlite: sqlite_slots_are_claimed_in_batches_once,
);

async fn running_lists_live_runs_and_leases_renew_together(f: &Fixture) {
    let store = &*f.store;
    let slot = at("2026-03-10T12:00:00Z");
    let live = new_run("orders", Trigger::Schedule, Some(slot), t0()); // lease t0 + 1 min
    let waiting = cli_run("customers", t0());
    let done = cli_run("events", t0());
    assert_eq!(
        ok!(store.start_runs(&[live.clone(), waiting.clone(), done.clone()])).len(),
        3
    );
    ok!(store.finish_run(&completed(&done, t0() + minutes(1), &[])));
    let running = |dataset: &str, slot| Running {
        dataset: dataset.to_owned(),
        slot,
        replica: "test-host:4242".to_owned(),
    };
    let mut now_running = ok!(store.running(t0()));
    now_running.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    assert_eq!(
        now_running,
        vec![running("customers", None), running("orders", Some(slot))]
    );

    // One statement renews many leases; unknown and finished runs are passed over.
    let later = t0() + minutes(5);
    ok!(store.renew_leases(&[live.id, waiting.id, done.id, Uuid::new_v4()], later));
    assert_eq!(ok!(store.run(live.id)).lease_until, later);
    assert_eq!(ok!(store.run(waiting.id)).lease_until, later);
    assert_eq!(ok!(store.run(done.id)).lease_until, t0() + minutes(1));
    ok!(store.renew_leases(&[], later));

    // A run whose lease lapsed is not going any more, whatever its status says.
    assert_eq!(ok!(store.running(later)), vec![]);
}

on_each_store!(
    running_lists_live_runs_and_leases_renew_together,
    postgres: postgres_running_lists_live_runs_and_leases_renew_together,
    sqlite: sqlite_running_lists_live_runs_and_leases_renew_together,
);

// ---------------------------------------------------------------------------------------
// Leases

async fn heartbeats_extend_the_lease(f: &Fixture) {
    let store = &*f.store;
    let run = cli_run("orders", t0()); // lease until t0 + 1 min
    assert_eq!(ok!(store.start_run(&run)), Claim::Started);
    ok!(store.heartbeat(run.id, t0() + minutes(3)));
    assert_eq!(ok!(store.run(run.id)).lease_until, t0() + minutes(3));
    // Expired under the first lease, alive under the renewed one.
    assert_eq!(ok!(store.expire_leases(t0() + minutes(2))), vec![]);
    assert_eq!(ok!(store.run(run.id)).status, RunStatus::Running);

    // Only a running run has a lease to renew.
    ok!(store.finish_run(&completed(&run, t0() + minutes(2), &[])));
    let finished = store.heartbeat(run.id, t0() + minutes(9)).await;
    assert!(
        matches!(finished, Err(StoreError::NotFound)),
        "{finished:?}"
    );
    assert_eq!(ok!(store.run(run.id)).lease_until, t0() + minutes(3));
    let unknown = store.heartbeat(Uuid::new_v4(), t0()).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

on_each_store!(
    heartbeats_extend_the_lease,
    postgres: postgres_heartbeats_extend_the_lease,
    sqlite: sqlite_heartbeats_extend_the_lease,
);

async fn expired_leases_abandon_running_runs(f: &Fixture) {
    let store = &*f.store;
    let now = t0() + minutes(10);
    let with_lease = |dataset: &str, lease_until| NewRun {
        lease_until,
        ..cli_run(dataset, t0())
    };
    let a = with_lease("a", now - TimeDelta::microseconds(1));
    let b = with_lease("b", now - minutes(5));
    let on_the_dot = with_lease("c", now);
    let alive = with_lease("d", now + minutes(1));
    let finished = with_lease("e", now - minutes(5));
    for run in [&a, &b, &on_the_dot, &alive, &finished] {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    ok!(store.finish_run(&completed(&finished, t0() + minutes(1), &[])));

    // Abandoned when the lease was found lapsed: that is when the run ended.
    let abandoned = |run: &NewRun| Run {
        status: RunStatus::Abandoned,
        error: Some(LEASE_EXPIRED.into()),
        finished_at: Some(now),
        ..running(run)
    };
    assert_eq!(
        ok!(store.expire_leases(now)),
        vec![abandoned(&a), abandoned(&b)]
    );
    assert_eq!(ok!(store.run(a.id)), abandoned(&a));
    assert_eq!(ok!(store.run(on_the_dot.id)), running(&on_the_dot));
    assert_eq!(ok!(store.run(alive.id)), running(&alive));
    assert_eq!(ok!(store.run(finished.id)).status, RunStatus::Completed);
    assert_eq!(ok!(store.run(finished.id)).error, None);
    // Each expiry is reported once.
    assert_eq!(ok!(store.expire_leases(now)), vec![]);
    let by_status = RunFilter {
        status: Some(RunStatus::Abandoned),
        ..RunFilter::default()
    };
    assert_eq!(run_ids(&all_runs(store, &by_status).await), [b.id, a.id]);

    // The abandoned run's replica learns of it at its next heartbeat...
    assert!(matches!(
        store.heartbeat(b.id, now + minutes(1)).await,
        Err(StoreError::NotFound)
    ));
    // ...and if it still finishes, its results are kept, not lost.
    let late = [check("a", "row_count", Outcome::Pass, Some(5.0))];
    ok!(store.finish_run(&completed(&a, now + minutes(1), &late)));
    let a_now = ok!(store.run(a.id));
    assert_eq!(
        (a_now.status, a_now.error, a_now.summary.pass),
        (RunStatus::Completed, None, 1)
    );

    // Replicas expiring at the same time share the expired runs out, each to one of them.
    let many: Vec<NewRun> = (0..10)
        .map(|i| with_lease(&format!("many{i}"), now - minutes(1)))
        .collect();
    for run in &many {
        assert_eq!(ok!(store.start_run(run)), Claim::Started);
    }
    let replicas = [f.store.clone(), Arc::new(f.reopen().await)];
    let tasks: Vec<_> = replicas
        .iter()
        .cycle()
        .take(4)
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.expire_leases(now).await })
        })
        .collect();
    let mut expired = Vec::new();
    for task in tasks {
        let runs = task.await.expect("join").unwrap_or_else(|e| panic!("{e}"));
        expired.extend(run_ids(&runs));
    }
    expired.sort();
    let mut want: Vec<Uuid> = many.iter().map(|r| r.id).collect();
    want.sort();
    assert_eq!(expired, want);
}

on_each_store!(
    expired_leases_abandon_running_runs,
    postgres: postgres_expired_leases_abandon_running_runs,
    sqlite: sqlite_expired_leases_abandon_running_runs,
);
