//! The judging that needs history, after the dataset was measured: `anomaly` thresholds
//! against each check's own series, then the freshness SLA. Pure: the runner reads the
//! dataset's [`History`] from the store once, before measuring, and hands it in. (Fixed
//! thresholds, schema drift and distribution drift are judged as the aggregate's values
//! are read, in `evaluate`, against the snapshot and profiles of the same history.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{AnomalyContext, Baselines, judge_anomaly, sla};
use crate::results::{CheckResult, MetricPoint, Outcome, SnapshotColumn};
use crate::spec::Dataset;

/// What a dataset's run is judged against, read once per run.
pub struct History {
    /// The columns the previous run saw: the base of schema drift (`None`: the first run).
    pub snapshot: Option<Vec<SnapshotColumn>>,
    /// The reference profiles of distribution checks.
    pub baselines: Baselines,
    /// The series of each check with an `anomaly` threshold, oldest first, by check name; an
    /// error the store gave instead makes that check `error`.
    pub series: HashMap<String, Result<Vec<MetricPoint>, String>>,
    /// The newest stored bucket of a partitioned dataset: where its next run starts (less
    /// `backfill`).
    pub watermark: Option<DateTime<Utc>>,
}

/// The judged results, and the level shifts the detector accepted (by check), which the
/// caller marks in the store so that later runs learn the new level.
pub struct Judged {
    pub results: Vec<CheckResult>,
    pub shifts: Vec<(String, DateTime<Utc>)>,
}

/// Judges the measured `results` of `dataset` against `history` (`None` without a store:
/// anomaly thresholds pass with a note) and its SLA at `context.at`.
pub fn judge(
    dataset: &Dataset,
    mut results: Vec<CheckResult>,
    history: Option<&History>,
    context: &AnomalyContext<'_>,
) -> Judged {
    let mut shifts = Vec::new();
    for (check, result) in dataset.checks.iter().zip(results.iter_mut()) {
        if check.thresholds.anomaly.is_none() {
            continue;
        }
        let series = match history.map(|h| h.series.get(&check.name)) {
            None => None,
            Some(Some(Ok(points))) => Some(points.as_slice()),
            Some(Some(Err(e))) => {
                result.outcome = Outcome::Error;
                result.message = format!("cannot read the check's history: {e}");
                continue;
            }
            Some(None) => Some(&[][..]),
        };
        if let Some(since) = judge_anomaly(check, result, series, context) {
            shifts.push((check.name.clone(), since));
        }
    }
    Judged {
        results: sla::judge(dataset, results, context.at),
        shifts,
    }
}
