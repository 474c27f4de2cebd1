//! The values every layer above the detectors shares: check results and run reports (the
//! shape `tidemark run --format json` prints, docs/CHECKS.md), the summary and exit code
//! derived from them, bands, and what history keeps of a run (metric points with their
//! feedback, schema snapshot columns, distribution profiles). The engine produces them, the
//! store keeps them, alerts and the API read them; none of those imports another for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::anomaly::Mark;
use crate::distribution::Profile;
use crate::spec::Severity;
use crate::warehouse::TableSchema;
use crate::warehouse::cost::Cost;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    /// The check could not be evaluated (connection, SQL, timeout, missing column).
    Error,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Pass, Outcome::Warn, Outcome::Fail, Outcome::Error]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// One bucket's value of a partitioned check: a point of its series at the bucket's start,
/// replacing any point stored there before (a back-filled bucket is measured again).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketPoint {
    pub check: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub dataset: String,
    pub warehouse: String,
    pub check: String,
    pub kind: String,
    pub column: Option<String>,
    /// Only for multi-column keys, as CHECKS.md adds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    pub outcome: Outcome,
    #[serde(serialize_with = "serialize_number")]
    pub value: Option<f64>,
    pub expected: Option<serde_json::Value>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Where an `anomaly` threshold expected the value this time, when it judged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

/// The expected band of an `anomaly` threshold: learned from the check's history, kept with
/// the result and its metric point so that charts can draw it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub lower: f64,
    pub upper: f64,
    /// The detector judged the value an anomaly (outside the band, in a watched
    /// direction). Anomalous points are kept out of what later runs learn from.
    pub anomalous: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        let mut summary = Summary::default();
        for outcome in outcomes {
            *match outcome {
                Outcome::Pass => &mut summary.pass,
                Outcome::Warn => &mut summary.warn,
                Outcome::Fail => &mut summary.fail,
                Outcome::Error => &mut summary.error,
            } += 1;
        }
        summary
    }

    pub fn total(&self) -> usize {
        self.pass + self.warn + self.fail + self.error
    }

    /// CHECKS.md: 0 when nothing failed or errored, 1 when a check failed, 2 when a check
    /// errored (an error outranks a failure: the picture is incomplete).
    pub fn exit_code(&self) -> u8 {
        if self.error > 0 {
            2
        } else if self.fail > 0 {
            1
        } else {
            0
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub results: Vec<CheckResult>,
    pub summary: Summary,
    /// What the run cost the warehouses, in all and per dataset.
    pub cost: RunCost,
}

/// A run's cost: the sum of its datasets', and each dataset's (its schema, aggregate,
/// bucket, profile and `sql_metric` queries together).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunCost {
    #[serde(flatten)]
    pub total: Cost,
    pub datasets: Vec<DatasetCost>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetCost {
    pub dataset: String,
    pub warehouse: String,
    #[serde(flatten)]
    pub cost: Cost,
}

impl RunCost {
    pub fn of(datasets: Vec<DatasetCost>) -> Self {
        let total = datasets
            .iter()
            .fold(Cost::default(), |total, dataset| total + dataset.cost);
        RunCost { total, datasets }
    }
}

/// Integral values print as integers (`37`, not `37.0`); others as JSON numbers; non-finite
/// values, which JSON cannot hold, as null.
pub fn serialize_number<S: Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match json_number(*value) {
        Some(number) => number.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

pub fn json_number(value: Option<f64>) -> Option<serde_json::Number> {
    let v = value.filter(|v| v.is_finite())?;
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Some(serde_json::Number::from(v as i64))
    } else {
        serde_json::Number::from_f64(v)
    }
}

/// Numbers for people: integers as integers, others to at most 4 decimals.
pub fn format_number(v: f64) -> String {
    match json_number(Some(v)) {
        Some(n) if n.is_i64() => n.to_string(),
        _ => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

/// One point of a metric series: the value of a check at a time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub value: f64,
    /// The band an `anomaly` threshold expected the value in, when one judged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Judged an anomaly when it was measured.
    pub anomalous: bool,
    /// An anomaly later accepted as part of a level shift: the new normal.
    pub shift: bool,
    /// What a user said about the point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
}

impl MetricPoint {
    /// How anomaly detection learns from this point. An anomaly a user marked `expected`,
    /// or one a later run accepted as part of a level shift, is the new normal: the
    /// detector restarts the level from it. Incidents never train.
    pub fn mark(&self) -> Mark {
        match (self.feedback, self.anomalous, self.shift) {
            (Some(Feedback::Incident), _, _) => Mark::Incident,
            (Some(Feedback::Expected), true, _) | (None, true, true) => Mark::Shift,
            (None, true, false) => Mark::Anomaly,
            (_, false, _) => Mark::Normal,
        }
    }

    /// Whether anomaly detection learns from this point as it is.
    pub fn trains(&self) -> bool {
        matches!(self.mark(), Mark::Normal | Mark::Shift)
    }
}

/// A user's word on a result (and its metric point), for anomaly detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    /// The new normal: learn from it, even if it was judged an anomaly.
    Expected,
    /// A real problem: never learn from it.
    Incident,
}

impl Feedback {
    pub fn as_str(self) -> &'static str {
        match self {
            Feedback::Expected => "expected",
            Feedback::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Feedback::Expected, Feedback::Incident]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SnapshotColumn {
    pub name: String,
    pub data_type: String,
}

impl SnapshotColumn {
    pub fn from_schema(schema: &TableSchema) -> Vec<SnapshotColumn> {
        schema
            .columns
            .iter()
            .map(|c| SnapshotColumn {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
            })
            .collect()
    }
}

/// A distribution check's profile of its column, as a finished run leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProfile {
    pub check: String,
    pub column: String,
    pub profile: Profile,
}

/// A stored profile: which run measured it, and when (the run's end).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProfile {
    pub run_id: Uuid,
    pub taken_at: DateTime<Utc>,
    pub profile: Profile,
}

/// Which profiles of a check's column [`crate::store::History::distribution_profiles`] reads: those
/// taken between `since` and `until` (both inclusive, when given), the newest `limit`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileQuery<'a> {
    pub dataset: &'a str,
    pub check: &'a str,
    pub column: &'a str,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// Results for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{CheckResult, Outcome};

    /// A `row_count` result of `shop.orders` on `main` with no value: tests adjust it with
    /// struct update syntax.
    pub fn result(check: &str, outcome: Outcome, message: &str) -> CheckResult {
        CheckResult {
            dataset: "shop.orders".into(),
            warehouse: "main".into(),
            check: check.into(),
            kind: "row_count".into(),
            column: None,
            columns: None,
            outcome,
            value: None,
            expected: None,
            message: message.into(),
            severity: None,
            band: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome) -> CheckResult {
        CheckResult {
            value: Some(37.0),
            ..fixtures::result("row_count", outcome, "")
        }
    }

    #[test]
    fn exit_codes_follow_the_worst_outcome() {
        let all = |o: &[Outcome]| Summary::of(o.iter().copied()).exit_code();
        assert_eq!(all(&[Outcome::Pass, Outcome::Warn]), 0);
        assert_eq!(all(&[Outcome::Pass, Outcome::Fail]), 1);
        assert_eq!(all(&[Outcome::Fail, Outcome::Error]), 2);
    }

    #[test]
    fn integral_values_serialize_as_integers() {
        let json = serde_json::to_value(result(Outcome::Fail)).unwrap_or_default();
        assert_eq!(json["value"].to_string(), "37");
        assert_eq!(json["column"], serde_json::Value::Null);
        assert!(json.get("columns").is_none());
        assert_eq!(
            json_number(Some(2.5)).map(|n| n.to_string()),
            Some("2.5".into())
        );
        assert_eq!(json_number(Some(f64::NAN)), None);
    }
}
