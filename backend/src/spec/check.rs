//! The `checks:` list of a dataset file: each item is a one-key mapping `kind: {params}`.
//!
//! [`KINDS`] is the single table of check kinds and their parameters; validation and the
//! JSON Schema both read it, so they cannot drift apart.

use std::collections::HashMap;

use super::reader::{Cx, Fields, optional};
use super::thresholds::{self, FRESHNESS_KEYS, METRIC_KEYS};
use super::yaml::{Entry, Node, Pos, Value};
use super::{
    Aggregate, Check, CheckKind, DeclaredType, Level, Severity, Thresholds, TypeFamily, Validity,
};

/// Parameters every check accepts.
pub(crate) const COMMON_PARAMS: [&str; 4] = ["name", "severity", "filter", "description"];
pub(crate) const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
pub(crate) const LEVELS: [&str; 2] = ["warn", "fail"];
pub(crate) const DRIFT_KEYS: [&str; 3] = ["on_added", "on_removed", "on_type_changed"];
const VALIDITY_KEYS: [&str; 4] = ["valid_values", "valid_regex", "valid_min", "valid_max"];

/// Which thresholds a kind takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ThresholdStyle {
    /// min, max, between, equals, anomaly, warn/fail levels.
    Metric,
    /// warn_after, fail_after (listed in `params`), bounds on the age in seconds (min, max,
    /// between, equals) or anomaly.
    Freshness,
    /// None: the check judges declared columns and drift.
    Drift,
    /// `threshold` (listed in `params`): a p-value or PSI level, see [`super::drift`].
    Distribution,
}

pub(crate) struct KindSpec {
    pub keyword: &'static str,
    /// Parameters besides [`COMMON_PARAMS`] and the thresholds.
    pub params: &'static [&'static str],
    pub thresholds: ThresholdStyle,
    /// One line for editor hovers.
    pub summary: &'static str,
    build: fn(&mut Cx<'_>, &Fields<'_>, Pos) -> Option<CheckKind>,
}

impl KindSpec {
    /// Every key the kind accepts.
    pub fn allowed(&self) -> Vec<&'static str> {
        let thresholds: &[&'static str] = match self.thresholds {
            ThresholdStyle::Metric => &METRIC_KEYS,
            ThresholdStyle::Freshness => &FRESHNESS_KEYS,
            ThresholdStyle::Drift | ThresholdStyle::Distribution => &[],
        };
        let mut keys = COMMON_PARAMS.to_vec();
        keys.extend_from_slice(self.params);
        keys.extend_from_slice(thresholds);
        keys
    }
}

pub(crate) const KINDS: [KindSpec; 14] = [
    KindSpec {
        keyword: "row_count",
        params: &[],
        thresholds: ThresholdStyle::Metric,
        summary: "Number of rows in the dataset after filters.",
        build: |_, _, _| Some(CheckKind::RowCount),
    },
    KindSpec {
        keyword: "missing_count",
        params: &["column", "missing_values"],
        thresholds: ThresholdStyle::Metric,
        summary: "Rows where the column is NULL (or one of missing_values).",
        build: missing_count,
    },
    KindSpec {
        keyword: "missing_percent",
        params: &["column", "missing_values"],
        thresholds: ThresholdStyle::Metric,
        summary: "100 * missing_count / row_count; 0 when there are no rows.",
        build: missing_percent,
    },
    KindSpec {
        keyword: "duplicate_count",
        params: &["columns", "column", "per_partition"],
        thresholds: ThresholdStyle::Metric,
        summary: "Non-null key rows minus distinct non-null keys.",
        build: duplicate_count,
    },
    KindSpec {
        keyword: "invalid_count",
        params: &[
            "column",
            "valid_values",
            "valid_regex",
            "valid_min",
            "valid_max",
        ],
        thresholds: ThresholdStyle::Metric,
        summary: "Non-null values breaking the validity rules.",
        build: invalid_count,
    },
    KindSpec {
        keyword: "min",
        params: &["column"],
        thresholds: ThresholdStyle::Metric,
        summary: "Smallest non-null value of the column.",
        build: |cx, params, _| aggregate(cx, params, Aggregate::Min),
    },
    KindSpec {
        keyword: "max",
        params: &["column"],
        thresholds: ThresholdStyle::Metric,
        summary: "Largest non-null value of the column.",
        build: |cx, params, _| aggregate(cx, params, Aggregate::Max),
    },
    KindSpec {
        keyword: "avg",
        params: &["column"],
        thresholds: ThresholdStyle::Metric,
        summary: "Average of the non-null values of the column.",
        build: |cx, params, _| aggregate(cx, params, Aggregate::Avg),
    },
    KindSpec {
        keyword: "sum",
        params: &["column"],
        thresholds: ThresholdStyle::Metric,
        summary: "Sum of the non-null values of the column.",
        build: |cx, params, _| aggregate(cx, params, Aggregate::Sum),
    },
    KindSpec {
        keyword: "stddev",
        params: &["column"],
        thresholds: ThresholdStyle::Metric,
        summary: "Sample standard deviation of the non-null values of the column.",
        build: |cx, params, _| aggregate(cx, params, Aggregate::Stddev),
    },
    KindSpec {
        keyword: "freshness",
        params: &["column", "warn_after", "fail_after"],
        thresholds: ThresholdStyle::Freshness,
        summary: "Time between the warehouse's now() and the column's latest value.",
        build: |cx, params, _| {
            let column = column(cx, params)?;
            Some(CheckKind::Freshness { column })
        },
    },
    KindSpec {
        keyword: "schema",
        params: &["columns", "on_added", "on_removed", "on_type_changed"],
        thresholds: ThresholdStyle::Drift,
        summary: "Declared columns and drift against the previous snapshot.",
        build: schema,
    },
    KindSpec {
        keyword: "sql_metric",
        params: &["query"],
        thresholds: ThresholdStyle::Metric,
        summary: "The single number returned by a custom query.",
        build: |cx, params, _| {
            let query = params
                .require(cx, "query")
                .and_then(|node| cx.user_query(node, "query"));
            Some(CheckKind::SqlMetric { query: query? })
        },
    },
    KindSpec {
        keyword: "distribution",
        params: &["column", "method", "reference", "threshold"],
        thresholds: ThresholdStyle::Distribution,
        summary: "Drift of the column's distribution from a reference profile (KS, PSI or chi-square).",
        build: super::drift::distribution,
    },
];

pub(crate) fn kind_spec(keyword: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|spec| spec.keyword == keyword)
}

pub(crate) fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|spec| spec.keyword).collect()
}

/// One list item whose shape is right: a kind and its parameters.
struct Item<'n> {
    spec: &'static KindSpec,
    kind: &'n Entry,
    params: Option<Fields<'n>>,
}

/// Reads the `checks:` list; `dataset` is the context prefix (`dataset analytics.orders`).
pub(crate) fn checks(cx: &mut Cx<'_>, items: &[Node], dataset: &str) -> Option<Vec<Check>> {
    let shaped: Vec<Option<Item<'_>>> = items
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let mut cx = cx.scoped(&context(dataset, &format!("#{}", index + 1)));
            item(&mut cx, node)
        })
        .collect();
    let names = names(cx, &shaped, dataset);
    let checks: Vec<Option<Check>> = shaped
        .iter()
        .zip(names)
        .map(|(item, name)| {
            let item = item.as_ref()?;
            let mut cx = cx.scoped(&context(dataset, &name));
            build(&mut cx, item, name)
        })
        .collect();
    checks.into_iter().collect()
}

fn context(dataset: &str, check: &str) -> String {
    if dataset.is_empty() {
        format!("check {check}")
    } else {
        format!("{dataset}, check {check}")
    }
}

/// Checks the shape of one list item: a mapping with one key, a known kind.
fn item<'n>(cx: &mut Cx<'_>, node: &'n Node) -> Option<Item<'n>> {
    let Value::Map(entries) = &node.value else {
        let message = match node
            .scalar()
            .filter(|scalar| kind_spec(&scalar.text).is_some())
        {
            Some(kind) => format!(
                "'{}' needs its parameters: write '- {}: {{…}}'",
                kind.text, kind.text
            ),
            None => format!(
                "a check is written '- kind: {{parameters}}', like '- row_count: {{min: 1}}'; \
                 found {}",
                node.describe()
            ),
        };
        cx.error(node.pos, message);
        return None;
    };
    let [kind] = entries.as_slice() else {
        item_keys(cx, node.pos, entries);
        return None;
    };
    let Some(spec) = kind_spec(&kind.key) else {
        let hint = super::suggest::hint(&kind.key, &kind_names(), "expected one of", "");
        cx.error(
            kind.key_pos,
            format!("unknown check kind '{}'{hint}", kind.key),
        );
        return None;
    };
    let params = cx.mapping(&kind.value, &kind.key);
    Some(Item { spec, kind, params })
}

/// Explains an item with zero or several keys: usually parameters not indented under the kind.
fn item_keys(cx: &mut Cx<'_>, pos: Pos, entries: &[Entry]) {
    let keys: Vec<String> = entries
        .iter()
        .map(|entry| format!("'{}'", entry.key))
        .collect();
    let message = match entries.iter().find(|entry| kind_spec(&entry.key).is_some()) {
        _ if entries.is_empty() => "a check needs a kind, like '- row_count: {min: 1}'".to_owned(),
        Some(kind) => format!(
            "a check is a mapping with one key, its kind, but this one has {}: indent the \
             parameters under '{}:'",
            keys.join(", "),
            kind.key
        ),
        None => format!(
            "a check is a mapping with one key, its kind (one of: {}); found {}",
            kind_names().join(", "),
            keys.join(", ")
        ),
    };
    cx.error(pos, message);
}

/// Names every check: its `name`, else `kind(column)`; default names that collide get ` #2`,
/// ` #3`, …; an explicit name that repeats another check's name is reported.
fn names(cx: &mut Cx<'_>, items: &[Option<Item<'_>>], dataset: &str) -> Vec<String> {
    let explicit: Vec<Option<(&str, Pos)>> = items
        .iter()
        .map(|item| item.as_ref().and_then(explicit_name))
        .collect();
    let defaults: Vec<Option<(String, Pos)>> = items
        .iter()
        .map(|item| Some((default_name(item.as_ref()?), item.as_ref()?.kind.key_pos)))
        .collect();
    let mut used = reserve_explicit(cx, &explicit, &defaults, dataset);
    explicit
        .iter()
        .zip(&defaults)
        .enumerate()
        .map(|(index, names)| match names {
            (Some((name, _)), _) => (*name).to_owned(),
            (None, Some((default, pos))) => numbered(default, *pos, &mut used),
            (None, None) => format!("#{}", index + 1),
        })
        .collect()
}

/// Records the explicit names, reporting each that repeats an earlier explicit name or
/// another check's default name.
fn reserve_explicit(
    cx: &mut Cx<'_>,
    explicit: &[Option<(&str, Pos)>],
    defaults: &[Option<(String, Pos)>],
    dataset: &str,
) -> HashMap<String, Pos> {
    let mut used: HashMap<String, Pos> = HashMap::new();
    for (index, (name, pos)) in explicit
        .iter()
        .enumerate()
        .filter_map(|(index, name)| name.map(|name| (index, name)))
    {
        let default_owner = defaults.iter().enumerate().find_map(|(other, default)| {
            let (default, at) = default.as_ref()?;
            (other != index && explicit[other].is_none() && default == name).then_some(*at)
        });
        if let Some(first) = used.get(name).copied().or(default_owner) {
            let mut cx = cx.scoped(&context(dataset, name));
            cx.error(
                pos,
                format!(
                    "duplicate check name '{name}': the check at line {} has it too (names \
                     must be unique in a dataset)",
                    first.line
                ),
            );
        }
        used.entry(name.to_owned()).or_insert(pos);
    }
    used
}

/// The default name, or with ` #2`, ` #3`, … appended when it is taken.
fn numbered(default: &str, pos: Pos, used: &mut HashMap<String, Pos>) -> String {
    let mut name = default.to_owned();
    let mut suffix = 1;
    while used.contains_key(&name) {
        suffix += 1;
        name = format!("{default} #{suffix}");
    }
    used.insert(name.clone(), pos);
    name
}

fn explicit_name<'n>(item: &Item<'n>) -> Option<(&'n str, Pos)> {
    let node = item.params.as_ref()?.get("name")?;
    let scalar = node.scalar().filter(|scalar| !scalar.is_null())?;
    Some((scalar.text.as_str(), node.pos))
}

/// `kind(column)`, `duplicate_count(a, b)`, or the bare kind for dataset-level checks.
fn default_name(item: &Item<'_>) -> String {
    let keyword = item.spec.keyword;
    let text = |key: &str| {
        let scalar = item.params.as_ref()?.get(key)?.scalar()?;
        Some(scalar.text.clone())
    };
    let columns = item
        .params
        .as_ref()
        .and_then(|params| params.get("columns"))
        .and_then(|node| match &node.value {
            Value::Seq(items) => {
                let names: Option<Vec<&str>> = items
                    .iter()
                    .map(|item| item.scalar().map(|scalar| scalar.text.as_str()))
                    .collect();
                names.map(|names| names.join(", "))
            }
            _ => None,
        });
    let column = match keyword {
        "duplicate_count" => columns.or_else(|| text("column")),
        "schema" | "row_count" => None,
        _ => text("column"),
    };
    match column {
        Some(column) => format!("{keyword}({column})"),
        None => keyword.to_owned(),
    }
}

/// Builds one check, reading every part so that all of its problems are reported.
fn build(cx: &mut Cx<'_>, item: &Item<'_>, name: String) -> Option<Check> {
    let params = item.params.as_ref()?;
    let check = item.kind.key_pos;
    unknown_params(cx, item.spec, params);
    let explicit = params.read(cx, "name", Cx::string);
    if let (Some(Some(written)), Some(node)) = (&explicit, params.get("name"))
        && written.trim().is_empty()
    {
        cx.error(node.pos, "'name' must not be empty");
    }
    if item.spec.keyword == "sql_metric" && params.get("name").is_none() {
        cx.error(
            params.pos,
            "missing required key 'name' (a sql_metric is named by it)",
        );
    }
    let severity = params.read(cx, "severity", |cx, node, _| severity(cx, node));
    let filter = params.read(cx, "filter", Cx::user_filter);
    let description = params.read(cx, "description", Cx::string);
    let kind = (item.spec.build)(cx, params, check);
    let thresholds = match item.spec.thresholds {
        ThresholdStyle::Metric => thresholds::metric(cx, params, check),
        ThresholdStyle::Freshness => thresholds::freshness(cx, params, check),
        ThresholdStyle::Drift => Some(Thresholds::default()),
        ThresholdStyle::Distribution => super::drift::thresholds(cx, params, kind.as_ref()),
    };
    explicit?;
    Some(Check {
        name,
        kind: kind?,
        thresholds: thresholds?,
        filter: filter?,
        severity: severity?,
        description: description?,
        location: cx.location(check),
    })
}

/// Reports keys the kind does not take, explaining the common mix-ups.
fn unknown_params(cx: &mut Cx<'_>, spec: &KindSpec, params: &Fields<'_>) {
    let allowed = spec.allowed();
    for entry in params.entries {
        let key = entry.key.as_str();
        if allowed.contains(&key) {
            continue;
        }
        let message = if METRIC_KEYS.contains(&key) && spec.thresholds == ThresholdStyle::Drift {
            format!(
                "a schema check takes no thresholds: remove '{key}' (set drift levels with \
                 on_added, on_removed, on_type_changed)"
            )
        } else if METRIC_KEYS.contains(&key) && spec.thresholds == ThresholdStyle::Freshness {
            format!(
                "a freshness check takes warn_after, fail_after, bounds on the age in seconds \
                 (min, max, between, equals) or anomaly, not '{key}'"
            )
        } else if METRIC_KEYS.contains(&key) && spec.thresholds == ThresholdStyle::Distribution {
            format!(
                "a distribution check takes 'threshold' (a p-value, or a PSI with method psi), \
                 not '{key}'"
            )
        } else if kind_spec(key).is_some() {
            format!(
                "'{key}' is a check kind, not a parameter of {}: start a new list item \
                 ('- {key}: {{…}}')",
                spec.keyword
            )
        } else {
            cx.unknown_key(entry, &allowed);
            continue;
        };
        cx.error(entry.key_pos, message);
    }
}

fn severity(cx: &mut Cx<'_>, node: &Node) -> Option<Severity> {
    Some(match cx.choice(node, "severity", &SEVERITIES)? {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        _ => Severity::Critical,
    })
}

fn column(cx: &mut Cx<'_>, params: &Fields<'_>) -> Option<String> {
    let node = params.require(cx, "column")?;
    cx.string(node, "column")
}

fn missing_values(cx: &mut Cx<'_>, params: &Fields<'_>) -> Option<Vec<super::Literal>> {
    let values = params
        .get("missing_values")
        .map(|node| cx.literals(node, "missing_values"));
    optional(values).map(Option::unwrap_or_default)
}

fn missing_count(cx: &mut Cx<'_>, params: &Fields<'_>, _: Pos) -> Option<CheckKind> {
    let (column, missing_values) = (column(cx, params), missing_values(cx, params));
    Some(CheckKind::MissingCount {
        column: column?,
        missing_values: missing_values?,
    })
}

fn missing_percent(cx: &mut Cx<'_>, params: &Fields<'_>, _: Pos) -> Option<CheckKind> {
    let (column, missing_values) = (column(cx, params), missing_values(cx, params));
    Some(CheckKind::MissingPercent {
        column: column?,
        missing_values: missing_values?,
    })
}

/// `columns: [a, b]` or `column: a`, one of them.
fn duplicate_count(cx: &mut Cx<'_>, params: &Fields<'_>, _: Pos) -> Option<CheckKind> {
    let columns = match (params.entry("columns"), params.entry("column")) {
        (Some(columns), None) => cx.strings(&columns.value, "columns")?,
        (None, Some(column)) => vec![cx.string(&column.value, "column")?],
        (Some(columns), Some(column)) => {
            let later = columns.key_pos.max(column.key_pos);
            cx.error(later, "use either 'column' or 'columns', not both");
            return None;
        }
        (None, None) => {
            cx.error(params.pos, "missing required key 'columns' (or 'column')");
            return None;
        }
    };
    let per_partition = params.read(cx, "per_partition", Cx::boolean)?;
    Some(CheckKind::DuplicateCount {
        columns,
        per_partition: per_partition.unwrap_or(false),
    })
}

/// A `valid_regex`, checked here so that a typo is a diagnostic at its line rather than a
/// query error for every check of the dataset. Warehouse regex dialects differ in details
/// (POSIX on Postgres, PCRE on MariaDB); the common syntax parses the same in all of them.
fn regex(cx: &mut Cx<'_>, node: &Node) -> Option<String> {
    let pattern = cx.string(node, "valid_regex")?;
    match regex::Regex::new(&pattern) {
        Ok(_) => Some(pattern),
        Err(error) => {
            // The crate's message spans lines (pattern, caret, reason); the reason is last.
            let text = error.to_string();
            let reason = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            cx.error(
                node.pos,
                format!("invalid regular expression for 'valid_regex': {reason}"),
            );
            None
        }
    }
}

/// `column` plus at least one validity rule; every given rule must hold.
fn invalid_count(cx: &mut Cx<'_>, params: &Fields<'_>, check: Pos) -> Option<CheckKind> {
    let column = column(cx, params);
    let values = params.read(cx, "valid_values", Cx::literals);
    let regex = params.read(cx, "valid_regex", |cx, node, _| regex(cx, node));
    let min = params.read(cx, "valid_min", Cx::number);
    let max = params.read(cx, "valid_max", Cx::number);
    if VALIDITY_KEYS.iter().all(|key| params.get(key).is_none()) {
        cx.error(
            check,
            "invalid_count needs a rule: add valid_values, valid_regex, valid_min or valid_max",
        );
        return None;
    }
    let validity = Validity {
        values: values?,
        regex: regex?,
        min: min?,
        max: max?,
    };
    if let (Some(min), Some(max), Some(entry)) =
        (validity.min, validity.max, params.entry("valid_max"))
        && min > max
    {
        cx.error(
            entry.key_pos,
            format!("inverted range: valid_min {min} is greater than valid_max {max}"),
        );
        return None;
    }
    Some(CheckKind::InvalidCount {
        column: column?,
        validity,
    })
}

fn aggregate(cx: &mut Cx<'_>, params: &Fields<'_>, function: Aggregate) -> Option<CheckKind> {
    let column = column(cx, params)?;
    Some(CheckKind::Aggregate { function, column })
}

/// Declared columns and drift levels; at least one of them, or the check would judge nothing.
fn schema(cx: &mut Cx<'_>, params: &Fields<'_>, check: Pos) -> Option<CheckKind> {
    let columns = params.read(cx, "columns", |cx, node, _| declared_columns(cx, node));
    let [on_added, on_removed, on_type_changed] =
        DRIFT_KEYS.map(|key| params.read(cx, key, drift_level));
    if params.get("columns").is_none() && DRIFT_KEYS.iter().all(|key| params.get(key).is_none()) {
        cx.error(
            check,
            "a schema check needs 'columns' or at least one of on_added, on_removed, \
             on_type_changed",
        );
        return None;
    }
    Some(CheckKind::Schema {
        columns: columns?.unwrap_or_default(),
        on_added: on_added?,
        on_removed: on_removed?,
        on_type_changed: on_type_changed?,
    })
}

/// `{name: type}`: a family name, or else an exact warehouse type.
fn declared_columns(cx: &mut Cx<'_>, node: &Node) -> Option<Vec<(String, DeclaredType)>> {
    let fields = cx.mapping(node, "columns")?;
    if fields.entries.is_empty() {
        cx.error(node.pos, "'columns' must not be empty");
        return None;
    }
    let columns: Vec<Option<(String, DeclaredType)>> = fields
        .entries
        .iter()
        .map(|entry| {
            let written = cx.string(&entry.value, &entry.key)?;
            let declared = match TypeFamily::parse(&written) {
                Some(family) => DeclaredType::Family(family),
                None => DeclaredType::Exact(written),
            };
            Some((entry.key.clone(), declared))
        })
        .collect();
    columns.into_iter().collect()
}

fn drift_level(cx: &mut Cx<'_>, node: &Node, key: &str) -> Option<Level> {
    Some(match cx.choice(node, key, &LEVELS)? {
        "warn" => Level::Warn,
        _ => Level::Fail,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::spec::{AnomalySpec, AnomalyWatch, Bound, Literal};

    /// Reads a YAML list of checks; `Err` holds the diagnostics as printed.
    pub(crate) fn load(yaml: &str) -> Result<Vec<Check>, Vec<String>> {
        let document = crate::spec::yaml::parse(yaml);
        assert!(document.problems.is_empty(), "{:?}", document.problems);
        let root = document.root.expect("a list");
        let Value::Seq(items) = &root.value else {
            panic!("expected a list");
        };
        let mut diagnostics = Vec::new();
        let env = |name: &str| (name == "LIMIT").then(|| "42".to_owned());
        let mut cx = Cx::new(Arc::new(PathBuf::from("d.yml")), &env, &mut diagnostics);
        let checks = checks(&mut cx, items, "dataset t");
        if diagnostics.is_empty() {
            Ok(checks.expect("no diagnostics means checks"))
        } else {
            Err(diagnostics.iter().map(ToString::to_string).collect())
        }
    }

    fn one(yaml: &str) -> Check {
        let checks = load(yaml).expect("valid");
        assert_eq!(checks.len(), 1);
        checks.into_iter().next().expect("one check")
    }

    #[test]
    fn every_kind_is_in_the_table_once() {
        let names = kind_names();
        assert_eq!(names.len(), 14);
        for name in &names {
            assert_eq!(names.iter().filter(|other| *other == name).count(), 1);
        }
    }

    #[test]
    fn levels_become_warn_and_fail_bounds() {
        let check = one(
            "- missing_percent: { column: email, warn: { max: 0.5 }, fail: { min: 1, max: 5 } }",
        );
        assert_eq!(check.thresholds.warn, Some(Bound::Max(0.5)));
        assert_eq!(check.thresholds.fail, Some(Bound::Between(1.0, 5.0)));
        let check = one("- row_count: { warn: { equals: 3 } }");
        assert_eq!(check.thresholds.warn, Some(Bound::Equals(3.0)));
        assert_eq!(check.thresholds.fail, None);
    }

    #[test]
    fn bare_min_and_max_make_a_range() {
        let check = one("- row_count: { min: 1, max: 10 }");
        assert_eq!(check.thresholds.fail, Some(Bound::Between(1.0, 10.0)));
    }

    #[test]
    fn thresholds_may_come_from_the_environment() {
        let check = one("- row_count: { max: ${LIMIT} }");
        assert_eq!(check.thresholds.fail, Some(Bound::Max(42.0)));
    }

    #[test]
    fn anomaly_settings_are_kept_as_written() {
        let check = one("- sum: { column: x, anomaly: { sensitivity: high, direction: up } }");
        assert_eq!(
            check.thresholds.anomaly,
            Some(AnomalySpec {
                sensitivity: Some("high".into()),
                direction: Some("up".into()),
                watch: AnomalyWatch::Value,
            })
        );
        let check = one("- row_count: { anomaly: { watch: added } }");
        assert_eq!(
            check.thresholds.anomaly.map(|a| a.watch),
            Some(AnomalyWatch::Added)
        );
        let check = one("- sum: { column: x, anomaly: }");
        assert_eq!(check.thresholds.anomaly, Some(AnomalySpec::default()));
    }

    #[test]
    fn freshness_thresholds_are_seconds() {
        let check = one("- freshness: { column: ts, fail_after: 1h30m }");
        assert_eq!(check.thresholds.fail, Some(Bound::Max(5_400.0)));
        assert_eq!(check.thresholds.warn, None);
        let check = one("- freshness: { column: ts, anomaly: {} }");
        assert_eq!(check.thresholds.anomaly, Some(AnomalySpec::default()));
    }

    #[test]
    fn freshness_takes_bounds_on_the_age() {
        // No timestamps in the future: the age is never negative.
        let check = one("- freshness: { column: ts, min: 0 }");
        assert_eq!(check.thresholds.fail, Some(Bound::Min(0.0)));
        let check = one("- freshness: { column: ts, min: 0, warn_after: 1h, fail_after: 1d }");
        assert_eq!(check.thresholds.fail, Some(Bound::Between(0.0, 86_400.0)));
        assert_eq!(check.thresholds.warn, Some(Bound::Max(3_600.0)));
        let check = one("- freshness: { column: ts, between: [0, 60] }");
        assert_eq!(check.thresholds.fail, Some(Bound::Between(0.0, 60.0)));
        let errors =
            load("- freshness: { column: ts, max: 60, fail_after: 1h }").expect_err("refused");
        assert!(errors[0].contains("contradictory thresholds"), "{errors:?}");
        let errors =
            load("- freshness: { column: ts, min: 7200, fail_after: 1h }").expect_err("refused");
        assert!(errors[0].contains("inverted range"), "{errors:?}");
        let errors = load("- freshness: { column: ts, min: 0, anomaly: {} }").expect_err("refused");
        assert!(errors[0].contains("contradictory thresholds"), "{errors:?}");
    }

    #[test]
    fn literals_keep_their_yaml_type() {
        let check = one(
            "- invalid_count: { column: c, valid_values: [1, 2.5, true, 'true', x, '7'], max: 0 }",
        );
        let CheckKind::InvalidCount { validity, .. } = check.kind else {
            panic!("invalid_count");
        };
        assert_eq!(
            validity.values,
            Some(vec![
                Literal::Number(1.0),
                Literal::Number(2.5),
                Literal::Bool(true),
                Literal::Text("true".into()),
                Literal::Text("x".into()),
                Literal::Text("7".into()),
            ])
        );
    }

    #[test]
    fn validity_rules_combine() {
        let check = one(
            "- invalid_count: { column: q, valid_min: 1, valid_max: 100, valid_regex: '^[0-9]+$', max: 0 }",
        );
        assert_eq!(
            check.kind,
            CheckKind::InvalidCount {
                column: "q".into(),
                validity: Validity {
                    values: None,
                    regex: Some("^[0-9]+$".into()),
                    min: Some(1.0),
                    max: Some(100.0),
                },
            }
        );
    }

    #[test]
    fn duplicate_count_takes_one_column_or_several() {
        let check = one("- duplicate_count: { column: id, max: 0 }");
        assert_eq!(check.name, "duplicate_count(id)");
        assert_eq!(
            check.kind,
            CheckKind::DuplicateCount {
                columns: vec!["id".into()],
                per_partition: false,
            }
        );
        let check = one("- duplicate_count: { columns: [a, b], max: 0 }");
        assert_eq!(check.name, "duplicate_count(a, b)");
    }

    #[test]
    fn schema_types_are_families_or_exact_names() {
        let check = one("- schema: { columns: { id: integer, payload: jsonb, at: Timestamp } }");
        assert_eq!(
            check.kind,
            CheckKind::Schema {
                columns: vec![
                    ("id".into(), DeclaredType::Family(TypeFamily::Integer)),
                    ("payload".into(), DeclaredType::Exact("jsonb".into())),
                    ("at".into(), DeclaredType::Exact("Timestamp".into())),
                ],
                on_added: None,
                on_removed: None,
                on_type_changed: None,
            }
        );
        let check = one("- schema: { on_removed: warn }");
        assert_eq!(
            check.kind,
            CheckKind::Schema {
                columns: vec![],
                on_added: None,
                on_removed: Some(Level::Warn),
                on_type_changed: None,
            }
        );
    }

    #[test]
    fn common_parameters() {
        let check = one(
            "- row_count: { min: 1, name: enough, severity: critical, filter: 'a > 1', description: Rows arrive }",
        );
        assert_eq!(check.name, "enough");
        assert_eq!(check.severity, Some(Severity::Critical));
        assert_eq!(check.filter.as_deref(), Some("a > 1"));
        assert_eq!(check.description.as_deref(), Some("Rows arrive"));
        assert_eq!((check.location.line, check.location.column), (1, 3));
    }

    #[test]
    fn default_names_get_numbered_and_skip_taken_names() {
        let checks = load(
            "- row_count: { min: 1 }\n- row_count: { max: 9 }\n- row_count: { name: 'row_count #2', max: 5 }\n- avg: { column: a, min: 1 }\n- avg: { column: a, max: 2 }\n- sql_metric: { name: row, query: q, max: 0 }\n",
        )
        .expect("valid");
        let names: Vec<&str> = checks.iter().map(|check| check.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "row_count",
                "row_count #3",
                "row_count #2",
                "avg(a)",
                "avg(a) #2",
                "row"
            ]
        );
    }

    #[test]
    fn problems_name_the_dataset_and_check() {
        assert_eq!(
            load("- row_count: { min: 1 }\n- avg: { column: amount, max: x }\n").expect_err("x"),
            vec![
                "d.yml:2:31: dataset t, check avg(amount): expected a number for 'max', found 'x'"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn every_problem_in_a_check_is_reported() {
        let errors = load(
            "- invalid_count: { column: [a], valid_min: x, valid_max: y, severity: 1, warn: 3 }",
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 5, "{errors:#?}");
    }

    #[test]
    fn an_empty_name_is_refused() {
        assert_eq!(
            load("- row_count: { name: '', min: 1 }").expect_err("empty name"),
            ["d.yml:1:22: dataset t, check : 'name' must not be empty"]
        );
    }
}
