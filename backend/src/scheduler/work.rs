//! The scheduler's runs: claiming a tick's slots in one batch, running and recording each
//! claimed slot (or retry, or run asked for), recording what could not run, and expiring
//! the leases of runs whose replica died.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use tokio::sync::mpsc::UnboundedSender;

use super::{
    Claims, Connections, Event, Finished, RunReply, SlotClaim, SlotRetry, Work, slot_request,
};
use crate::runner::{self, RecordError, Recorded, RunContext, RunRequest};
use crate::spec::Dataset;
use crate::store::{NewRun, Store, StoreError, Trigger};

/// One run task: runs a claimed slot, or claims (retries of a slot whose claim failed) and
/// runs, and records.
pub(super) async fn perform(
    cx: RunContext,
    store: Arc<Store>,
    connections: Arc<Connections>,
    dataset: Dataset,
    work: Work,
    reply: Option<RunReply>,
) -> Finished {
    let ending = execute(&cx, &store, &connections, &dataset, &work, reply).await;
    Finished {
        dataset: dataset.name,
        work,
        ending,
    }
}

async fn execute(
    cx: &RunContext,
    store: &Store,
    connections: &Connections,
    dataset: &Dataset,
    work: &Work,
    reply: Option<RunReply>,
) -> Result<Recorded, RecordError> {
    let warehouses = {
        let _waiting = crate::telemetry::metrics().queued("start");
        connections.for_dataset(dataset).await
    };
    let request = match work {
        Work::Claimed(run) => {
            return runner::run_started(cx, store, &warehouses, dataset, run).await;
        }
        Work::Retry(SlotRetry {
            slot,
            batch_id,
            claim: true,
            ..
        }) => slot_request(*slot, *batch_id),
        // A retry of a claimed slot: see `retry` for why it claims nothing.
        Work::Retry(SlotRetry {
            slot,
            batch_id,
            claim: false,
            ..
        }) => RunRequest {
            batch_id: *batch_id,
            trigger: Trigger::Retry,
            slot: Some(*slot),
        },
        Work::Manual => RunRequest {
            batch_id: Uuid::new_v4(),
            trigger: Trigger::Manual,
            slot: None,
        },
    };
    // The reply goes out as soon as the run is recorded as running, or with the reason it
    // could not start.
    let reply = std::sync::Mutex::new(reply);
    let take_reply = || reply.lock().ok().and_then(|mut r| r.take());
    let started = |run_id| {
        if let Some(reply) = take_reply() {
            let _ = reply.send(Ok(run_id));
        }
    };
    let result =
        runner::run_recorded_with(cx, store, &warehouses, dataset, &request, started).await;
    if let Some(reply) = take_reply() {
        let reason = match &result {
            Err(RecordError::NotStarted(e)) => format!("the run could not start: {e}"),
            _ => "the run did not start".to_owned(),
        };
        let _ = reply.send(Err(reason));
    }
    result
}

/// Claims the slots in one batch, except those of datasets with a run still going on
/// another replica (one query for all).
pub(super) async fn claim_slots(
    store: Arc<Store>,
    claims: Vec<(Dataset, NewRun)>,
    lease: Duration,
) -> Claims {
    let going = match store.running(Utc::now()).await {
        Ok(going) => going,
        Err(e) => return failed(claims, &e),
    };
    let busy = busy_elsewhere(&claims, going);
    let (busy_claims, mut free): (Vec<_>, Vec<_>) = claims
        .into_iter()
        .partition(|(_, run)| busy.contains_key(&run.dataset));
    let mut claimed: Claims = busy_claims
        .into_iter()
        .map(|(dataset, run)| {
            let reason = busy.get(&run.dataset).cloned().unwrap_or_default();
            (dataset, run, SlotClaim::Busy(reason))
        })
        .collect();
    // The claim's time is the run's start: what the scheduler's lag is measured to.
    let now = Utc::now();
    for (_, run) in &mut free {
        run.started_at = now;
        run.lease_until = now + lease;
    }
    let runs: Vec<NewRun> = free.iter().map(|(_, run)| run.clone()).collect();
    match store.start_runs(&runs).await {
        Ok(started) => {
            let started: HashSet<Uuid> = started.into_iter().collect();
            claimed.extend(free.into_iter().map(|(dataset, run)| {
                let claim = if started.contains(&run.id) {
                    SlotClaim::Started
                } else {
                    SlotClaim::Taken
                };
                (dataset, run, claim)
            }));
        }
        Err(e) => claimed.extend(failed(free, &e)),
    }
    claimed
}

/// The datasets being claimed that have a run still going for another slot (a run of the
/// very slot being claimed is a claim lost, not an overlap), with the reason to skip.
fn busy_elsewhere(
    claims: &[(Dataset, NewRun)],
    going: Vec<crate::store::Running>,
) -> HashMap<String, String> {
    let slots: HashMap<&str, Option<DateTime<Utc>>> = claims
        .iter()
        .map(|(_, run)| (run.dataset.as_str(), run.slot))
        .collect();
    going
        .into_iter()
        .filter(|run| {
            slots
                .get(run.dataset.as_str())
                .is_some_and(|slot| *slot != run.slot)
        })
        .map(|run| {
            let reason = format!(
                "the dataset's previous run is still going on {}",
                run.replica
            );
            (run.dataset, reason)
        })
        .collect()
}

/// Every claim failed with the store's error.
fn failed(claims: Vec<(Dataset, NewRun)>, error: &StoreError) -> Claims {
    claims
        .into_iter()
        .map(|(dataset, run)| {
            let error = StoreError::Unavailable(error.to_string());
            (dataset, run, SlotClaim::Failed(error))
        })
        .collect()
}

/// Hands back the claims of runs that never started (the server stopped first): their
/// slots are claimed again by another replica's sweep, or by the next start's catch-up.
/// Should the store not answer, the runs' leases lapse and they are retried as abandoned.
pub(super) async fn hand_back(store: &Store, runs: Vec<Uuid>) {
    if runs.is_empty() {
        return;
    }
    match store.release_claims(&runs).await {
        Ok(released) => tracing::info!(
            runs = released,
            "stopping: claimed slots not started are handed back"
        ),
        Err(e) => tracing::warn!(
            runs = runs.len(),
            "stopping: cannot hand back the claimed slots not started ({e}); \
             they are retried once their leases lapse"
        ),
    }
}

/// Marks runs whose replica stopped renewing their lease as abandoned, every `every`, and
/// tells the scheduler (which retries their slots once).
pub(super) async fn reap(store: Arc<Store>, every: Duration, events: UnboundedSender<Event>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match store.expire_leases(Utc::now()).await {
            Ok(abandoned) => {
                for run in &abandoned {
                    tracing::warn!(
                        run_id = %run.id,
                        dataset = %run.dataset,
                        replica = %run.replica,
                        slot = ?run.slot,
                        "run abandoned: its replica stopped renewing the lease"
                    );
                }
                if !abandoned.is_empty() {
                    let _ = events.send(Event::Abandoned(abandoned));
                }
            }
            Err(e) => tracing::warn!("cannot expire lapsed leases: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scheduler::tests::dataset;

    #[test]
    fn only_runs_of_other_slots_make_a_dataset_busy() {
        let slot = crate::scheduler::utc("2026-03-10T12:01:00Z");
        let earlier = crate::scheduler::utc("2026-03-10T12:00:00Z");
        let claim = |name: &str| {
            let request = crate::scheduler::slot_request(slot, uuid::Uuid::new_v4());
            (
                dataset(name),
                crate::runner::new_run(&dataset(name), &request, crate::runner::LEASE),
            )
        };
        let going = |name: &str, slot| crate::store::Running {
            dataset: name.to_owned(),
            slot: Some(slot),
            replica: "host-b:7".to_owned(),
        };
        let claims = [claim("a"), claim("b")];
        let busy = super::busy_elsewhere(
            &claims,
            vec![going("a", earlier), going("b", slot), going("c", earlier)],
        );
        assert_eq!(
            busy.into_iter().collect::<Vec<_>>(),
            vec![(
                "a".to_owned(),
                "the dataset's previous run is still going on host-b:7".to_owned()
            )]
        );
    }
}
