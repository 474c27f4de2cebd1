//! Judging values against thresholds, and tables against declared schemas. Pure.

use serde_json::{Map, Value, json};

use crate::results::{Outcome, SnapshotColumn, format_number, json_number};
use crate::spec::{Bound, Check, CheckKind, DeclaredType, Level, Thresholds};
use crate::warehouse::{Dialect, TableSchema, humanize};

/// A judged check: what the engine fills into a result.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub value: Option<f64>,
    pub message: String,
}

impl Verdict {
    pub fn error(message: impl Into<String>) -> Self {
        Verdict {
            outcome: Outcome::Error,
            value: None,
            message: message.into(),
        }
    }
}

/// Judges a metric value. A metric with no value (no non-null values to aggregate, no rows
/// to date) fails: the data does not meet the rule. Anomaly thresholds need history, which
/// the store keeps; until there is some they pass with a note, as CHECKS.md says.
pub fn judge_metric(check: &Check, value: Option<f64>) -> Verdict {
    let Some(v) = value else {
        if let CheckKind::SqlMetric { .. } = check.kind {
            return Verdict::error("the query returned NULL, not a number");
        }
        return Verdict {
            outcome: Outcome::Fail,
            value: None,
            message: no_value_message(&check.kind),
        };
    };
    let t = &check.thresholds;
    let outcome = if t.fail.is_some_and(|b| !b.holds(v)) {
        Outcome::Fail
    } else if t.warn.is_some_and(|b| !b.holds(v)) {
        Outcome::Warn
    } else {
        Outcome::Pass
    };
    let mut message = describe(&check.kind, &check.name, v);
    if let Some(bound) = violated(t, outcome) {
        message.push_str(&format!(
            " (expected {})",
            describe_bound(&check.kind, bound)
        ));
    }
    Verdict {
        outcome,
        value: Some(v),
        message,
    }
}

fn violated(t: &Thresholds, outcome: Outcome) -> Option<Bound> {
    match outcome {
        Outcome::Fail => t.fail,
        Outcome::Warn => t.warn,
        _ => None,
    }
}

fn no_value_message(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Aggregate {
            function: crate::spec::Aggregate::Stddev,
            column,
        } => {
            format!("fewer than two values in {column}")
        }
        other => format!("no values in {}", other.column().unwrap_or("the table")),
    }
}

/// The value in words, the way a data engineer would say it.
fn describe(kind: &CheckKind, name: &str, v: f64) -> String {
    let n = format_number(v);
    match kind {
        CheckKind::RowCount => format!("{n} {}", plural(v, "row", "rows")),
        CheckKind::MissingCount { column, .. } => {
            format!("{n} {} missing {column}", plural(v, "row is", "rows are"))
        }
        CheckKind::MissingPercent { column, .. } => format!("{n}% of rows are missing {column}"),
        CheckKind::DuplicateCount { columns, .. } => {
            format!(
                "{n} duplicate {} by {}",
                plural(v, "row", "rows"),
                columns.join(", ")
            )
        }
        CheckKind::InvalidCount { column, .. } => {
            format!(
                "{n} {} an invalid {column}",
                plural(v, "row has", "rows have")
            )
        }
        CheckKind::Aggregate { function, column } => {
            format!("{}({column}) is {n}", function.keyword())
        }
        CheckKind::Freshness { column } => format!("newest {column} is {} old", age(v)),
        CheckKind::SqlMetric { .. } | CheckKind::Schema { .. } | CheckKind::Distribution { .. } => {
            format!("{name} is {n}")
        }
    }
}

fn describe_bound(kind: &CheckKind, bound: Bound) -> String {
    let f = |v: f64| match kind {
        CheckKind::Freshness { .. } => age(v),
        _ => format_number(v),
    };
    match bound {
        Bound::Min(min) if min == 0.0 && matches!(kind, CheckKind::Freshness { .. }) => {
            "not in the future".to_string()
        }
        Bound::Min(min) => format!("at least {}", f(min)),
        Bound::Max(max) => format!("at most {}", f(max)),
        Bound::Between(lo, hi) => format!("between {} and {}", f(lo), f(hi)),
        Bound::Equals(x) => format!("exactly {}", f(x)),
    }
}

fn age(seconds: f64) -> String {
    if seconds < 0.0 {
        return format!(
            "{} in the future",
            humanize(std::time::Duration::from_secs_f64(-seconds))
        );
    }
    match seconds.round() as u64 {
        0 => "under 1s".to_string(),
        whole => humanize(std::time::Duration::from_secs(whole)),
    }
}

fn plural<'a>(v: f64, one: &'a str, many: &'a str) -> &'a str {
    if v == 1.0 { one } else { many }
}

/// `expected` in results: the bare fail bound as written (`{"max": 0}`), or both levels.
pub fn expected(thresholds: &Thresholds) -> Option<Value> {
    let mut levels = Map::new();
    match (thresholds.warn, thresholds.fail) {
        (None, Some(fail)) if thresholds.anomaly.is_none() => return Some(bound_json(fail)),
        (warn, fail) => {
            if let Some(warn) = warn {
                levels.insert("warn".into(), bound_json(warn));
            }
            if let Some(fail) = fail {
                levels.insert("fail".into(), bound_json(fail));
            }
        }
    }
    if let Some(anomaly) = &thresholds.anomaly {
        levels.insert(
            "anomaly".into(),
            json!({ "sensitivity": anomaly.sensitivity, "direction": anomaly.direction }),
        );
    }
    (!levels.is_empty()).then_some(Value::Object(levels))
}

fn bound_json(bound: Bound) -> Value {
    let n = |v: f64| json_number(Some(v)).map_or(Value::Null, Value::Number);
    match bound {
        Bound::Min(v) => json!({ "min": n(v) }),
        Bound::Max(v) => json!({ "max": n(v) }),
        Bound::Between(lo, hi) => json!({ "between": [n(lo), n(hi)] }),
        Bound::Equals(v) => json!({ "equals": n(v) }),
    }
}

/// What a `schema` check compares the table with, besides its declared columns.
#[derive(Clone, Copy, Debug)]
pub enum DriftBase<'a> {
    /// Run without a store (`--no-store`): drift cannot be judged.
    NoStore,
    /// The store holds no snapshot of this table yet: this run takes the first.
    FirstSnapshot,
    /// The columns the previous run saw.
    Previous(&'a [SnapshotColumn]),
}

/// Compares the table with the declared columns (a mismatch fails) and with the previous
/// snapshot (each kind of drift at its own level). A schema has no metric value: the
/// message says what differs.
pub fn judge_schema(
    check: &Check,
    schema: &TableSchema,
    dialect: Dialect,
    base: DriftBase<'_>,
) -> Verdict {
    let CheckKind::Schema {
        columns,
        on_added,
        on_removed,
        on_type_changed,
    } = &check.kind
    else {
        return Verdict::error("not a schema check");
    };
    let mut problems: Vec<(Level, String)> = declared_mismatches(columns, schema, dialect)
        .into_iter()
        .map(|problem| (Level::Fail, problem))
        .collect();
    let watches_drift = [on_added, on_removed, on_type_changed]
        .iter()
        .any(|l| l.is_some());
    let mut notes = Vec::new();
    match base {
        DriftBase::Previous(previous) => {
            let drift = drift(previous, schema);
            let levelled = [
                (on_added, drift.added),
                (on_removed, drift.removed),
                (on_type_changed, drift.changed),
            ];
            for (level, changes) in levelled {
                if let Some(level) = level {
                    problems.extend(changes.into_iter().map(|change| (*level, change)));
                }
            }
        }
        DriftBase::FirstSnapshot if watches_drift => {
            notes.push("first snapshot taken: drift is judged from the next run".to_string());
        }
        DriftBase::NoStore if watches_drift => {
            notes.push("drift not judged: it needs the store (run without --no-store)".to_string());
        }
        _ => {}
    }
    let outcome = if problems.iter().any(|(level, _)| *level == Level::Fail) {
        Outcome::Fail
    } else if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Warn
    };
    let mut parts: Vec<String> = problems.into_iter().map(|(_, problem)| problem).collect();
    if parts.is_empty() {
        parts.push(format!("{} declared columns match", columns.len()));
    }
    parts.extend(notes);
    Verdict {
        outcome,
        value: None,
        message: parts.join("; "),
    }
}

fn declared_mismatches(
    columns: &[(String, DeclaredType)],
    schema: &TableSchema,
    dialect: Dialect,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, declared) in columns {
        let Some(actual) = schema.column(name) else {
            problems.push(format!("column {name} is missing"));
            continue;
        };
        let (matches, wanted) = match declared {
            DeclaredType::Family(family) => (
                dialect.family_matches(*family, actual.family, &actual.base_type),
                family.name(),
            ),
            DeclaredType::Exact(name) => (actual.has_type_named(name), name.as_str()),
        };
        if !matches {
            problems.push(format!("{name} is {}, expected {wanted}", actual.data_type));
        }
    }
    problems
}

/// Columns added, removed and retyped since the previous snapshot, in table order.
#[derive(Debug, Default, PartialEq)]
struct Drift {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

fn drift(previous: &[SnapshotColumn], schema: &TableSchema) -> Drift {
    let mut drift = Drift::default();
    for column in &schema.columns {
        match previous.iter().find(|p| p.name == column.name) {
            None => drift.added.push(format!(
                "column {} was added ({})",
                column.name, column.data_type
            )),
            Some(before) if before.data_type != column.data_type => drift.changed.push(format!(
                "{} changed type from {} to {}",
                column.name, before.data_type, column.data_type
            )),
            Some(_) => {}
        }
    }
    for before in previous {
        if schema.column(&before.name).is_none() {
            drift
                .removed
                .push(format!("column {} was removed", before.name));
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{AnomalySpec, TypeFamily, fixtures};
    use crate::warehouse::Column;

    fn check(kind: CheckKind, thresholds: Thresholds) -> Check {
        Check {
            name: "c".into(),
            thresholds,
            ..fixtures::check(kind)
        }
    }

    fn missing() -> CheckKind {
        CheckKind::MissingCount {
            column: "customer_id".into(),
            missing_values: vec![],
        }
    }

    #[test]
    fn fail_outranks_warn_and_messages_read_as_in_checks_md() {
        let t = Thresholds {
            warn: Some(Bound::Max(0.0)),
            fail: Some(Bound::Max(10.0)),
            anomaly: None,
        };
        let c = check(missing(), t);
        assert_eq!(judge_metric(&c, Some(0.0)).outcome, Outcome::Pass);
        assert_eq!(judge_metric(&c, Some(3.0)).outcome, Outcome::Warn);
        let v = judge_metric(&c, Some(37.0));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.message,
            "37 rows are missing customer_id (expected at most 10)"
        );
    }

    #[test]
    fn no_values_fail_and_null_sql_metrics_error() {
        let avg = check(
            CheckKind::Aggregate {
                function: crate::spec::Aggregate::Avg,
                column: "amount".into(),
            },
            Thresholds {
                fail: Some(Bound::Min(0.0)),
                ..Default::default()
            },
        );
        assert_eq!(
            judge_metric(&avg, None),
            Verdict {
                outcome: Outcome::Fail,
                value: None,
                message: "no values in amount".into()
            }
        );
        let sql = check(
            CheckKind::SqlMetric {
                query: "select null".into(),
            },
            Thresholds::default(),
        );
        assert_eq!(judge_metric(&sql, None).outcome, Outcome::Error);
    }

    #[test]
    fn an_anomaly_threshold_is_not_a_fixed_rule() {
        // Only the history judges it (engine::anomaly), after the fixed rules here.
        let c = check(
            CheckKind::RowCount,
            Thresholds {
                anomaly: Some(AnomalySpec::default()),
                ..Default::default()
            },
        );
        let v = judge_metric(&c, Some(5.0));
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(!v.message.contains("anomaly"), "{}", v.message);
    }

    #[test]
    fn expected_keeps_the_form_written() {
        let bare = Thresholds {
            fail: Some(Bound::Max(0.0)),
            ..Default::default()
        };
        assert_eq!(expected(&bare), Some(json!({ "max": 0 })));
        let both = Thresholds {
            warn: Some(Bound::Max(1.0)),
            fail: Some(Bound::Between(0.0, 2.5)),
            anomaly: None,
        };
        assert_eq!(
            expected(&both),
            Some(json!({ "warn": { "max": 1 }, "fail": { "between": [0, 2.5] } }))
        );
        assert_eq!(expected(&Thresholds::default()), None);
    }

    #[test]
    fn freshness_reads_as_an_age() {
        let c = check(
            CheckKind::Freshness {
                column: "updated_at".into(),
            },
            Thresholds {
                fail: Some(Bound::Max(3600.0)),
                ..Default::default()
            },
        );
        assert_eq!(
            judge_metric(&c, Some(5400.0)).message,
            "newest updated_at is 1h30m old (expected at most 1h)"
        );
    }

    #[test]
    fn schema_reports_each_missing_or_mistyped_column() {
        let c = check(
            CheckKind::Schema {
                columns: vec![
                    ("id".into(), DeclaredType::Family(TypeFamily::Integer)),
                    ("status".into(), DeclaredType::Family(TypeFamily::Integer)),
                    ("gone".into(), DeclaredType::Exact("text".into())),
                ],
                on_added: None,
                on_removed: None,
                on_type_changed: None,
            },
            Thresholds::default(),
        );
        let col = |name: &str, t: &str, family| Column {
            name: name.into(),
            data_type: t.into(),
            base_type: t.into(),
            family: Some(family),
        };
        let schema = TableSchema {
            columns: vec![
                col("id", "bigint", TypeFamily::Integer),
                col("status", "text", TypeFamily::Text),
            ],
        };
        let v = judge_schema(&c, &schema, Dialect::POSTGRES, DriftBase::NoStore);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.message,
            "status is text, expected integer; column gone is missing"
        );
    }

    #[test]
    fn drift_is_judged_at_each_kind_of_change_s_level() {
        let kind = |on_added, on_removed, on_type_changed| CheckKind::Schema {
            columns: vec![],
            on_added,
            on_removed,
            on_type_changed,
        };
        let col = |name: &str, t: &str| Column {
            name: name.into(),
            data_type: t.into(),
            base_type: t.into(),
            family: None,
        };
        let schema = TableSchema {
            columns: vec![
                col("id", "bigint"),
                col("status", "text"),
                col("note", "text"),
            ],
        };
        let snap = |name: &str, t: &str| SnapshotColumn {
            name: name.into(),
            data_type: t.into(),
        };
        let previous = [
            snap("id", "integer"),
            snap("status", "text"),
            snap("gone", "text"),
        ];
        let base = DriftBase::Previous(&previous);

        let all = check(
            kind(Some(Level::Warn), Some(Level::Fail), Some(Level::Warn)),
            Thresholds::default(),
        );
        let v = judge_schema(&all, &schema, Dialect::POSTGRES, base);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.message,
            "column note was added (text); column gone was removed; id changed type from integer to bigint"
        );
        let added_only = check(kind(Some(Level::Warn), None, None), Thresholds::default());
        let v = judge_schema(&added_only, &schema, Dialect::POSTGRES, base);
        assert_eq!(
            (v.outcome, v.message.as_str()),
            (Outcome::Warn, "column note was added (text)")
        );
        let unchanged = DriftBase::Previous(&[]);
        let empty = TableSchema { columns: vec![] };
        assert_eq!(
            judge_schema(&all, &empty, Dialect::POSTGRES, unchanged).outcome,
            Outcome::Pass
        );
        let first = judge_schema(&all, &schema, Dialect::POSTGRES, DriftBase::FirstSnapshot);
        assert_eq!(first.outcome, Outcome::Pass);
        assert!(
            first.message.contains("first snapshot"),
            "{}",
            first.message
        );
    }

    #[test]
    fn numbers_print_compactly() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(2.123456), "2.1235");
        assert_eq!(format_number(0.5), "0.5");
    }
}
