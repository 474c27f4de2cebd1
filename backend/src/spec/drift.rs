//! The parameters of a `distribution` check: which column, which test, what it is compared
//! with, and what level of the test's result alerts.
//!
//! The threshold's direction comes from the method: `ks` and `chi_square` give p-values
//! (drift when small), `psi` an index (drift when large). A bare number is the fail level,
//! as elsewhere in the language; defaults follow common practice, so that a check needs only
//! its column.

use chrono::{DateTime, Utc};

use super::check::LEVELS;
use super::reader::{Cx, Fields};
use super::yaml::{Node, Pos, Value};
use super::{Bound, CheckKind, DriftMethod, DriftReference, Thresholds};

/// The spellings of `method`.
pub(crate) const METHODS: [&str; 3] = ["ks", "psi", "chi_square"];
/// The named references; a fixed one is written `{snapshot: <time>}`.
pub(crate) const REFERENCES: [&str; 2] = ["previous", "last_7d"];
pub(crate) const SNAPSHOT: &str = "snapshot";

/// Default fail level of a p-value: drift this unlikely by chance alone alerts.
const DEFAULT_P_VALUE: f64 = 0.01;
/// Default PSI levels: the usual reading is < 0.1 stable, 0.1–0.25 a moderate shift, above
/// 0.25 a major one.
const DEFAULT_PSI_WARN: f64 = 0.1;
const DEFAULT_PSI_FAIL: f64 = 0.25;

pub(crate) fn distribution(cx: &mut Cx<'_>, params: &Fields<'_>, _: Pos) -> Option<CheckKind> {
    let column = params
        .require(cx, "column")
        .and_then(|node| cx.string(node, "column"));
    let method = params.read(cx, "method", |cx, node, key| {
        cx.choice(node, key, &METHODS).and_then(DriftMethod::parse)
    });
    let reference = params.read(cx, "reference", |cx, node, _| reference(cx, node));
    Some(CheckKind::Distribution {
        column: column?,
        method: method?,
        reference: reference?.unwrap_or(DriftReference::Previous),
    })
}

/// `previous`, `last_7d` or `{snapshot: 2026-03-01T00:00:00Z}`.
fn reference(cx: &mut Cx<'_>, node: &Node) -> Option<DriftReference> {
    if let Value::Map(_) = &node.value {
        let fields = cx.fields(node, "reference", &[SNAPSHOT])?;
        let at = fields.require(cx, SNAPSHOT)?;
        return snapshot_time(cx, at).map(DriftReference::Snapshot);
    }
    let text = cx.text(node, "reference")?;
    if DateTime::parse_from_rfc3339(&text.value).is_ok() {
        cx.error(
            node.pos,
            format!(
                "a fixed reference is written 'reference: {{snapshot: {}}}'",
                text.value
            ),
        );
        return None;
    }
    match cx.choice(node, "reference", &REFERENCES)? {
        "previous" => Some(DriftReference::Previous),
        _ => Some(DriftReference::Last7Days),
    }
}

fn snapshot_time(cx: &mut Cx<'_>, node: &Node) -> Option<DateTime<Utc>> {
    let text = cx.text(node, SNAPSHOT)?;
    match DateTime::parse_from_rfc3339(&text.value) {
        Ok(time) => Some(time.with_timezone(&Utc)),
        Err(_) => {
            let shown = text.shown();
            cx.error(
                node.pos,
                format!(
                    "invalid time {shown} for '{SNAPSHOT}': write an RFC 3339 time such as \
                     2026-03-01T00:00:00Z"
                ),
            );
            None
        }
    }
}

/// The check's levels: `threshold: 0.01` (the fail level) or `threshold: {warn, fail}`, or
/// the method's defaults. `kind` is the check as read (`None` if it had problems: the
/// numbers are then read without judging their range).
pub(crate) fn thresholds(
    cx: &mut Cx<'_>,
    params: &Fields<'_>,
    kind: Option<&CheckKind>,
) -> Option<Thresholds> {
    let method = match kind {
        Some(CheckKind::Distribution { method, .. }) => Some(method.unwrap_or(DriftMethod::Ks)),
        _ => None,
    };
    let Some(node) = params.get("threshold") else {
        return Some(defaults(method.unwrap_or(DriftMethod::Ks)));
    };
    let levels = match &node.value {
        Value::Map(_) => {
            let fields = cx.fields(node, "threshold", &LEVELS)?;
            if fields.entries.is_empty() {
                cx.error(node.pos, "'threshold' needs a warn or fail level");
                return None;
            }
            let warn = fields.read(cx, "warn", |cx, node, key| level(cx, node, key, method));
            let fail = fields.read(cx, "fail", |cx, node, key| level(cx, node, key, method));
            (warn?, fail?)
        }
        _ => (None, Some(level(cx, node, "threshold", method)?)),
    };
    let (warn, fail) = ordered(cx, node.pos, levels, method)?;
    let bound = |level: f64| match method {
        Some(DriftMethod::Psi) => Bound::Max(level),
        _ => Bound::Min(level),
    };
    Some(Thresholds {
        warn: warn.map(bound),
        fail: fail.map(bound),
        anomaly: None,
    })
}

fn defaults(method: DriftMethod) -> Thresholds {
    if method.is_p_value() {
        Thresholds {
            warn: None,
            fail: Some(Bound::Min(DEFAULT_P_VALUE)),
            anomaly: None,
        }
    } else {
        Thresholds {
            warn: Some(Bound::Max(DEFAULT_PSI_WARN)),
            fail: Some(Bound::Max(DEFAULT_PSI_FAIL)),
            anomaly: None,
        }
    }
}

/// One level: a p-value strictly between 0 and 1, or a positive PSI.
fn level(cx: &mut Cx<'_>, node: &Node, key: &str, method: Option<DriftMethod>) -> Option<f64> {
    let level = cx.number(node, key)?;
    let problem = match method {
        Some(DriftMethod::Psi) if level <= 0.0 => Some("a PSI level must be above 0"),
        Some(m) if m.is_p_value() && !(level > 0.0 && level < 1.0) => {
            Some("a p-value level must be between 0 and 1 (exclusive)")
        }
        _ => None,
    };
    if let Some(problem) = problem {
        cx.error(node.pos, format!("{problem}, found {level} for '{key}'"));
        return None;
    }
    Some(level)
}

/// Refuses a warn level stricter than the fail level: it could never be reached.
fn ordered(
    cx: &mut Cx<'_>,
    pos: Pos,
    (warn, fail): (Option<f64>, Option<f64>),
    method: Option<DriftMethod>,
) -> Option<(Option<f64>, Option<f64>)> {
    if let (Some(w), Some(f), Some(method)) = (warn, fail, method) {
        let (inverted, hint) = if method.is_p_value() {
            (
                w < f,
                "a p-value warns first, at the larger level (warn: 0.05, fail: 0.01)",
            )
        } else {
            (
                w > f,
                "a PSI warns first, at the smaller level (warn: 0.1, fail: 0.25)",
            )
        };
        if inverted {
            cx.error(
                pos,
                format!("inverted levels: warn {w} is stricter than fail {f}; {hint}"),
            );
            return None;
        }
    }
    Some((warn, fail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::check::tests::load;

    fn kind(yaml: &str) -> (CheckKind, Thresholds, String) {
        let checks = load(yaml).expect("valid");
        let check = checks.into_iter().next().expect("one check");
        (check.kind, check.thresholds, check.name)
    }

    #[test]
    fn a_column_is_enough() {
        let (kind, thresholds, name) = kind("- distribution: { column: amount }");
        assert_eq!(name, "distribution(amount)");
        assert_eq!(
            kind,
            CheckKind::Distribution {
                column: "amount".into(),
                method: None,
                reference: DriftReference::Previous,
            }
        );
        assert_eq!(thresholds.fail, Some(Bound::Min(0.01)));
        assert_eq!(thresholds.warn, None);
    }

    #[test]
    fn psi_levels_bound_the_index_from_above() {
        let (_, thresholds, _) = kind("- distribution: { column: a, method: psi }");
        assert_eq!(thresholds.warn, Some(Bound::Max(0.1)));
        assert_eq!(thresholds.fail, Some(Bound::Max(0.25)));
        let (_, thresholds, _) =
            kind("- distribution: { column: a, method: psi, threshold: { warn: 0.2, fail: 0.5 } }");
        assert_eq!(thresholds.warn, Some(Bound::Max(0.2)));
        assert_eq!(thresholds.fail, Some(Bound::Max(0.5)));
    }

    #[test]
    fn p_value_levels_bound_it_from_below() {
        let (kind, thresholds, _) = kind(
            "- distribution: { column: s, method: chi_square, threshold: { warn: 0.05 }, reference: last_7d }",
        );
        assert_eq!(thresholds.warn, Some(Bound::Min(0.05)));
        assert_eq!(thresholds.fail, None);
        let CheckKind::Distribution { reference, .. } = kind else {
            panic!("distribution")
        };
        assert_eq!(reference, DriftReference::Last7Days);
    }

    #[test]
    fn a_snapshot_reference_is_a_time() {
        let (kind, _, _) = kind(
            "- distribution: { column: a, method: ks, threshold: 0.001, reference: { snapshot: '2026-03-01T12:00:00+01:00' } }",
        );
        let at = DateTime::parse_from_rfc3339("2026-03-01T11:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            kind,
            CheckKind::Distribution {
                column: "a".into(),
                method: Some(DriftMethod::Ks),
                reference: DriftReference::Snapshot(at.expect("a time")),
            }
        );
    }

    #[test]
    fn problems_point_at_their_value() {
        let problems = |yaml: &str| load(yaml).expect_err("invalid");
        assert_eq!(
            problems("- distribution: { column: a, method: kss }"),
            [
                "d.yml:1:38: dataset t, check distribution(a): invalid value 'kss' for 'method' (did you mean 'ks'?)"
            ]
        );
        assert_eq!(
            problems("- distribution: { method: ks }"),
            ["d.yml:1:17: dataset t, check distribution: missing required key 'column'"]
        );
        assert_eq!(
            problems("- distribution: { column: a, threshold: 5 }"),
            [
                "d.yml:1:41: dataset t, check distribution(a): a p-value level must be between 0 and 1 (exclusive), found 5 for 'threshold'"
            ]
        );
        assert_eq!(
            problems("- distribution: { column: a, threshold: { warn: 0.01, fail: 0.05 } }"),
            [
                "d.yml:1:41: dataset t, check distribution(a): inverted levels: warn 0.01 is stricter than fail 0.05; a p-value warns first, at the larger level (warn: 0.05, fail: 0.01)"
            ]
        );
        assert_eq!(
            problems("- distribution: { column: a, reference: 2026-03-01T00:00:00Z }"),
            [
                "d.yml:1:41: dataset t, check distribution(a): a fixed reference is written 'reference: {snapshot: 2026-03-01T00:00:00Z}'"
            ]
        );
        assert_eq!(
            problems("- distribution: { column: a, reference: { snapshot: yesterday } }"),
            [
                "d.yml:1:53: dataset t, check distribution(a): invalid time 'yesterday' for 'snapshot': write an RFC 3339 time such as 2026-03-01T00:00:00Z"
            ]
        );
        assert_eq!(
            problems("- distribution: { column: a, max: 0.2 }"),
            [
                "d.yml:1:30: dataset t, check distribution(a): a distribution check takes 'threshold' (a p-value, or a PSI with method psi), not 'max'"
            ]
        );
    }
}
