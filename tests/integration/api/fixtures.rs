//! Seeded history: runs and results written through the store API, and what was written,
//! to compute every expectation from.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use tidemark::results::{CheckResult, Outcome, SnapshotColumn};
use tidemark::store::{Claim, FinishedRun, NewRun, RunStatus, Store, Trigger};

use super::{DAILY_NAME, ORDERS_NAME, SECURE_URL};

/// One seeded result: `(check, outcome, value, message)`.
pub(super) type Seed = (&'static str, Outcome, Option<f64>, String);

/// What was written to the store, to compute every expectation from.
pub(super) struct SeededRun {
    pub(super) id: Uuid,
    pub(super) dataset: &'static str,
    pub(super) trigger: Trigger,
    pub(super) status: RunStatus,
    pub(super) finished_at: DateTime<Utc>,
    pub(super) results: Vec<Seed>,
}

/// Which seeded results (or runs) a filter should return.
pub(super) type ResultWanted<'a> = dyn Fn(&SeededRun, &Seed) -> bool + 'a;
pub(super) type RunWanted<'a> = dyn Fn(&SeededRun) -> bool + 'a;

pub(super) struct History {
    pub(super) runs: Vec<SeededRun>,
}

impl History {
    pub(super) fn results(&self) -> impl Iterator<Item = (&SeededRun, &Seed)> {
        self.runs
            .iter()
            .flat_map(|run| run.results.iter().map(move |r| (run, r)))
    }
}

pub(super) fn t0() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().expect("a time")
}

pub(super) fn columns(spec: &[(&str, &str)]) -> Vec<SnapshotColumn> {
    spec.iter()
        .map(|(name, data_type)| SnapshotColumn {
            name: (*name).into(),
            data_type: (*data_type).into(),
        })
        .collect()
}

/// 30 runs of `analytics.orders` (one failed, with the secret URL in its error; the table
/// changing shape twice; a check since removed from the project), 5 of `sales.Daily Orders`
/// (the last one erroring with the secret URL in its message), none of `ops.events`.
pub(super) async fn seed(store: &Store) -> History {
    let mut runs = Vec::new();
    for i in 0..30i64 {
        let started_at = t0() + Duration::minutes(10 * i);
        let failed = i == 7;
        let mut results: Vec<Seed> = Vec::new();
        if !failed {
            results.push((
                "row_count",
                Outcome::Pass,
                Some((100 + i) as f64),
                "ok".into(),
            ));
            let missing = i % 4;
            let outcome = if missing == 0 {
                Outcome::Pass
            } else {
                Outcome::Warn
            };
            results.push((
                "missing_count(email)",
                outcome,
                Some(missing as f64),
                format!("{missing} missing"),
            ));
        }
        if i == 0 {
            results.push(("retired_check", Outcome::Fail, Some(1.0), "gone".into()));
        }
        let snapshot = (!failed).then(|| match i {
            0..10 => columns(&[("id", "integer"), ("email", "text")]),
            10..20 => columns(&[("id", "integer"), ("email", "text"), ("amount", "decimal")]),
            _ => columns(&[("id", "integer"), ("email", "text"), ("amount", "float")]),
        });
        let trigger = if i % 3 == 0 {
            Trigger::Schedule
        } else {
            Trigger::Cli
        };
        let error = failed.then(|| format!("cannot connect to {SECURE_URL}: refused"));
        runs.push(
            record(
                store,
                ORDERS_NAME,
                "main",
                trigger,
                started_at,
                results,
                snapshot,
                error,
            )
            .await,
        );
    }
    for i in 0..5i64 {
        let started_at = t0() + Duration::hours(i) + Duration::minutes(5);
        let result: Seed = if i == 4 {
            (
                "row_count",
                Outcome::Error,
                None,
                format!("connection to {SECURE_URL} refused"),
            )
        } else {
            (
                "row_count",
                Outcome::Pass,
                Some(10.0 * i as f64),
                "ok".into(),
            )
        };
        runs.push(
            record(
                store,
                DAILY_NAME,
                "secure",
                Trigger::Schedule,
                started_at,
                vec![result],
                None,
                None,
            )
            .await,
        );
    }
    History { runs }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    store: &Store,
    dataset: &'static str,
    warehouse: &str,
    trigger: Trigger,
    started_at: DateTime<Utc>,
    results: Vec<Seed>,
    snapshot: Option<Vec<SnapshotColumn>>,
    error: Option<String>,
) -> SeededRun {
    let id = Uuid::new_v4();
    let claim = store
        .start_run(&NewRun {
            id,
            batch_id: Uuid::new_v4(),
            dataset: dataset.into(),
            warehouse: warehouse.into(),
            trigger,
            slot: (trigger == Trigger::Schedule).then_some(started_at),
            replica: "seed".into(),
            started_at,
            lease_until: started_at + Duration::minutes(5),
        })
        .await
        .expect("start a run");
    assert_eq!(claim, Claim::Started);
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let finished_at = started_at + Duration::minutes(1);
    let check_results = results
        .iter()
        .map(|(check, outcome, value, message)| {
            let result = CheckResult {
                dataset: dataset.into(),
                warehouse: warehouse.into(),
                check: (*check).into(),
                kind: check.split('(').next().unwrap_or(check).into(),
                column: check
                    .split_once('(')
                    .map(|(_, c)| c.trim_end_matches(')').to_owned()),
                columns: None,
                outcome: *outcome,
                value: *value,
                expected: Some(json!({ "fail": { "min": 1 } })),
                message: message.clone(),
                severity: None,
                band: None,
            };
            (result, format!("hash-{check}"))
        })
        .collect();
    store
        .finish_run(&FinishedRun {
            id,
            status,
            finished_at,
            error,
            results: check_results,
            snapshot,
            profiles: Vec::new(),
            bucket_points: Vec::new(),
            cost: Default::default(),
        })
        .await
        .expect("finish a run");
    SeededRun {
        id,
        dataset,
        trigger,
        status,
        finished_at,
        results,
    }
}
