//! Planning: every aggregate metric of a dataset becomes one column of ONE `SELECT`, so a
//! dataset costs one scan however many checks it has. Check-level filters fold into the
//! same scan as conditional aggregates (`COUNT(CASE WHEN filter THEN 1 END)`); the dataset
//! filter is the `WHERE` clause. Pure: no I/O, so plans are unit-tested as SQL text.

use super::distribution::{self, ProfilePlan};
use chrono::{DateTime, Utc};

use crate::spec::{Aggregate, Check, CheckKind, Dataset, Grain, Partition, TypeFamily, Validity};
use crate::warehouse::{Dialect, TableSchema};

/// What the engine does for one check.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckPlan {
    /// A value derived from columns of the aggregate query.
    Metric(Derivation),
    /// A value per bucket, derived from the columns of each row of the bucket query.
    Bucketed(Derivation),
    /// Runs its own (user-written) query.
    SqlMetric(String),
    /// Judged from the table's columns.
    Schema,
    /// Runs its own profile query (a few rows), judged against stored profiles.
    Distribution(ProfilePlan),
    /// Cannot run: a missing table or column, or a column of the wrong type.
    Unrunnable(String),
}

/// How a check's value comes from the aggregate row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Derivation {
    Column(usize),
    /// `100 * part / whole`, 0 when `whole` is 0.
    Percent {
        part: usize,
        whole: usize,
    },
    /// Sample standard deviation from count, sum and sum of squares (SQLite has no
    /// STDDEV_SAMP).
    SampleStddev {
        n: usize,
        sum: usize,
        sum_sq: usize,
    },
}

impl Derivation {
    pub fn value(self, row: &[Option<f64>]) -> Option<f64> {
        let at = |i: usize| row.get(i).copied().flatten();
        match self {
            Derivation::Column(i) => at(i),
            Derivation::Percent { part, whole } => match (at(part), at(whole)) {
                (_, Some(0.0)) => Some(0.0),
                (Some(p), Some(w)) => Some(100.0 * p / w),
                _ => None,
            },
            Derivation::SampleStddev { n, sum, sum_sq } => {
                let (n, sum, sum_sq) = (at(n)?, at(sum)?, at(sum_sq)?);
                if n < 2.0 {
                    return None;
                }
                let variance = (sum_sq - sum * sum / n) / (n - 1.0);
                Some(variance.max(0.0).sqrt())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatasetPlan {
    /// The one aggregate statement, if any check needs it.
    pub aggregate: Option<String>,
    /// The bucket query of a partitioned dataset, if any check is computed per bucket.
    pub buckets: Option<BucketQuery>,
    /// One entry per check of the dataset, in order.
    pub checks: Vec<CheckPlan>,
}

impl DatasetPlan {
    /// Statements a run sends: the schema query, the aggregate, each sql_metric and each
    /// distribution profile.
    pub fn statement_count(&self) -> usize {
        let own_queries = self
            .checks
            .iter()
            .filter(|c| matches!(c, CheckPlan::SqlMetric(_) | CheckPlan::Distribution(_)))
            .count();
        1 + usize::from(self.aggregate.is_some())
            + usize::from(self.buckets.is_some())
            + own_queries
    }
}

/// Plans a dataset. With `schema` (a live run) checks on missing columns or columns of the
/// wrong type are marked unrunnable instead of breaking the shared query; without it
/// (`tidemark explain`) every check is planned as written.
pub fn plan_dataset(
    dataset: &Dataset,
    dialect: Dialect,
    schema: Option<&TableSchema>,
) -> DatasetPlan {
    let table_missing = schema.is_some_and(|s| s.columns.is_empty());
    let mut select = SelectList::default();
    let mut per_bucket = SelectList::default();
    let partition_problem = dataset
        .partition
        .as_ref()
        .and_then(|partition| schema.and_then(|s| partition_problem(partition, s)));
    let checks = dataset
        .checks
        .iter()
        .map(|check| {
            if let CheckKind::SqlMetric { query } = &check.kind {
                return CheckPlan::SqlMetric(query.trim().trim_end_matches(';').to_string());
            }
            if table_missing {
                return CheckPlan::Unrunnable(format!("table {} not found", dataset.name));
            }
            if let Some(problem) = schema.and_then(|s| column_problem(check, s)) {
                return CheckPlan::Unrunnable(problem);
            }
            match &check.kind {
                CheckKind::Schema { .. } => CheckPlan::Schema,
                CheckKind::Distribution { .. } => {
                    distribution::plan(dataset, check, dialect, schema)
                }
                kind if dataset.partition.is_some() && kind.per_bucket() => {
                    match &partition_problem {
                        Some(problem) => CheckPlan::Unrunnable(problem.clone()),
                        None => CheckPlan::Bucketed(plan_metric(check, dialect, &mut per_bucket)),
                    }
                }
                _ => CheckPlan::Metric(plan_metric(check, dialect, &mut select)),
            }
        })
        .collect();
    let aggregate = (!select.exprs.is_empty()).then(|| select.to_sql(dataset, dialect));
    let buckets = dataset
        .partition
        .as_ref()
        .filter(|_| !per_bucket.exprs.is_empty())
        .map(|partition| BucketQuery {
            partition: partition.clone(),
            family: schema
                .and_then(|s| s.column(&partition.column))
                .and_then(|c| c.family),
            select: per_bucket,
        });
    DatasetPlan {
        aggregate,
        buckets,
        checks,
    }
}

/// The aggregate of a partitioned dataset's per-bucket checks, one row per bucket of the
/// partition column; its range starts where a run says (the watermark minus `backfill`).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketQuery {
    pub partition: Partition,
    /// The partition column's family, when the schema is known (it types the range's
    /// literal).
    pub family: Option<TypeFamily>,
    select: SelectList,
}

impl BucketQuery {
    /// The statement for the complete buckets in `[from, until)`: the bucket's start as
    /// text first, then the checks' aggregates; the range is on the bare column, so the
    /// engine can use an index or prune partitions (and rows dated later, the bucket still
    /// filling included, are not read).
    pub fn sql(
        &self,
        dataset: &Dataset,
        dialect: Dialect,
        range: (DateTime<Utc>, DateTime<Utc>),
    ) -> String {
        let column = dialect.ident(&self.partition.column);
        let bucket = dialect.bucket(&column, self.partition.grain);
        let mut columns = vec![format!("  {}", dialect.bucket_label(&bucket))];
        columns.extend(
            self.select
                .exprs
                .iter()
                .map(|e| format!("  {}", dialect.as_double(e))),
        );
        let mut sql = format!(
            "SELECT\n{}\nFROM {}\nWHERE {}",
            columns.join(",\n"),
            dialect.table(&dataset.table),
            dialect.range(&column, range, self.family)
        );
        if let Some(filter) = &dataset.filter {
            sql.push_str(&format!(" AND ({filter})"));
        }
        sql.push_str(&format!("\nGROUP BY {bucket}\nORDER BY {bucket}"));
        sql
    }

    /// What each aggregate is for a bucket without rows: 0 for counts, else none.
    pub fn empty_row(&self) -> Vec<Option<f64>> {
        self.select
            .exprs
            .iter()
            .map(|e| e.starts_with("COUNT(").then_some(0.0))
            .collect()
    }
}

/// Why the partition column cannot bucket this table's rows, if it cannot.
fn partition_problem(partition: &Partition, schema: &TableSchema) -> Option<String> {
    let Some(column) = schema.column(&partition.column) else {
        return Some(format!(
            "partition: {}",
            missing_column_message(&partition.column, schema)
        ));
    };
    match column.family {
        Some(TypeFamily::Date) if partition.grain == Grain::Hour => Some(format!(
            "partition: grain hour needs a timestamp column; {} is {}",
            partition.column, column.data_type
        )),
        Some(family) if family.is_temporal() => None,
        _ => Some(format!(
            "partition: the column needs a timestamp or date; {} is {}",
            partition.column, column.data_type
        )),
    }
}

/// The aggregate query of one metric check on its own. When the shared query fails (a bad
/// check filter, a regex the warehouse rejects), each check is retried alone so that one
/// broken check errors by itself instead of taking the dataset's other checks with it.
pub fn plan_alone(dataset: &Dataset, check: &Check, dialect: Dialect) -> (String, Derivation) {
    let mut select = SelectList::default();
    let derivation = plan_metric(check, dialect, &mut select);
    (select.to_sql(dataset, dialect), derivation)
}

/// The aggregate expressions of one SELECT, deduplicated: `row_count` and the row count
/// behind `missing_percent` are one column.
#[derive(Clone, Debug, Default, PartialEq)]
struct SelectList {
    exprs: Vec<String>,
}

impl SelectList {
    fn add(&mut self, expr: String) -> usize {
        if let Some(i) = self.exprs.iter().position(|e| *e == expr) {
            return i;
        }
        self.exprs.push(expr);
        self.exprs.len() - 1
    }

    fn to_sql(&self, dataset: &Dataset, dialect: Dialect) -> String {
        let columns: Vec<String> = self
            .exprs
            .iter()
            .map(|e| format!("  {}", dialect.as_double(e)))
            .collect();
        let mut sql = format!(
            "SELECT\n{}\nFROM {}",
            columns.join(",\n"),
            dialect.table(&dataset.table)
        );
        if let Some(filter) = &dataset.filter {
            sql.push_str(&format!("\nWHERE ({filter})"));
        }
        sql
    }
}

fn plan_metric(check: &Check, dialect: Dialect, select: &mut SelectList) -> Derivation {
    let q = |c: &str| dialect.ident(c);
    let filter = check.filter.as_deref().map(|f| format!("({f})"));
    // Counts rows meeting `condition` (and the check filter).
    let count_when = |condition: Option<String>| -> String {
        match and(filter.clone(), condition) {
            None => "COUNT(*)".to_string(),
            Some(cond) => format!("COUNT(CASE WHEN {cond} THEN 1 END)"),
        }
    };
    // The column's values, NULL outside the check filter.
    let values_of = |column: &str| -> String {
        match &filter {
            None => q(column),
            Some(f) => format!("CASE WHEN {f} THEN {} END", q(column)),
        }
    };
    match &check.kind {
        CheckKind::RowCount => Derivation::Column(select.add(count_when(None))),
        CheckKind::MissingCount {
            column,
            missing_values,
        } => {
            let missing = missing_condition(dialect, column, missing_values);
            Derivation::Column(select.add(count_when(Some(missing))))
        }
        CheckKind::MissingPercent {
            column,
            missing_values,
        } => {
            let missing = missing_condition(dialect, column, missing_values);
            let part = select.add(count_when(Some(missing)));
            let whole = select.add(count_when(None));
            Derivation::Percent { part, whole }
        }
        CheckKind::DuplicateCount { columns, .. } if columns.len() == 1 => {
            let v = values_of(&columns[0]);
            Derivation::Column(select.add(format!("COUNT({v}) - COUNT(DISTINCT {v})")))
        }
        CheckKind::DuplicateCount { columns, .. } => {
            let not_null: Vec<String> = columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", q(c)))
                .collect();
            let keyed = and(filter.clone(), Some(not_null.join(" AND "))).unwrap_or_default();
            let quoted: Vec<String> = columns.iter().map(|c| q(c)).collect();
            let distinct = dialect.count_distinct_tuples(&quoted, &keyed);
            Derivation::Column(
                select.add(format!("COUNT(CASE WHEN {keyed} THEN 1 END) - {distinct}")),
            )
        }
        CheckKind::InvalidCount { column, validity } => {
            let valid = valid_condition(dialect, column, validity);
            let invalid = format!("{} IS NOT NULL AND NOT ({valid})", q(column));
            Derivation::Column(select.add(count_when(Some(invalid))))
        }
        CheckKind::Aggregate {
            function: Aggregate::Stddev,
            column,
        } => {
            let v = values_of(column);
            match dialect.stddev_samp(&v) {
                Some(expr) => Derivation::Column(select.add(expr)),
                None => {
                    let real = dialect.as_double(&v);
                    Derivation::SampleStddev {
                        n: select.add(format!("COUNT({v})")),
                        sum: select.add(format!("SUM({real})")),
                        sum_sq: select.add(format!("SUM({real} * {real})")),
                    }
                }
            }
        }
        CheckKind::Aggregate {
            function: Aggregate::Avg,
            column,
        } => Derivation::Column(select.add(dialect.avg(&values_of(column)))),
        CheckKind::Aggregate { function, column } => {
            let sql_function = function.keyword().to_ascii_uppercase();
            Derivation::Column(select.add(format!("{sql_function}({})", values_of(column))))
        }
        CheckKind::Freshness { column } => {
            Derivation::Column(select.add(dialect.freshness_seconds(&values_of(column))))
        }
        CheckKind::Schema { .. } | CheckKind::SqlMetric { .. } | CheckKind::Distribution { .. } => {
            unreachable!("planned without the aggregate query")
        }
    }
}

fn and(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a} AND ({b})")),
        (a, b) => a.or(b),
    }
}

fn missing_condition(
    dialect: Dialect,
    column: &str,
    missing_values: &[crate::spec::Literal],
) -> String {
    let c = dialect.ident(column);
    if missing_values.is_empty() {
        return format!("{c} IS NULL");
    }
    let list: Vec<String> = missing_values.iter().map(|v| dialect.literal(v)).collect();
    format!("{c} IS NULL OR {c} IN ({})", list.join(", "))
}

/// The condition a non-null value must meet to be valid: every rule given must hold.
fn valid_condition(dialect: Dialect, column: &str, validity: &Validity) -> String {
    let c = dialect.ident(column);
    let mut rules = Vec::new();
    if let Some(values) = &validity.values {
        let list: Vec<String> = values.iter().map(|v| dialect.literal(v)).collect();
        rules.push(format!("{c} IN ({})", list.join(", ")));
    }
    if let Some(regex) = &validity.regex {
        rules.push(dialect.regex_match(&c, &dialect.text_literal(regex)));
    }
    if let Some(min) = validity.min {
        rules.push(format!(
            "{c} >= {}",
            dialect.literal(&crate::spec::Literal::Number(min))
        ));
    }
    if let Some(max) = validity.max {
        rules.push(format!(
            "{c} <= {}",
            dialect.literal(&crate::spec::Literal::Number(max))
        ));
    }
    if rules.is_empty() {
        // Validation requires a rule; with none, every value is valid.
        return "1 = 1".to_string();
    }
    rules.join(" AND ")
}

/// Why a check cannot run against this table, judged from its columns.
fn column_problem(check: &Check, schema: &TableSchema) -> Option<String> {
    for name in check.kind.columns() {
        let Some(column) = schema.column(name) else {
            return Some(missing_column_message(name, schema));
        };
        let family = column.family;
        let needs = match &check.kind {
            CheckKind::Aggregate { function, .. } if family.is_some_and(|f| !f.is_numeric()) => {
                Some(format!("{} needs a numeric column", function.keyword()))
            }
            CheckKind::InvalidCount { validity, .. }
                if (validity.min.is_some() || validity.max.is_some())
                    && family.is_some_and(|f| !f.is_numeric()) =>
            {
                Some("valid_min and valid_max need a numeric column".to_string())
            }
            CheckKind::Freshness { .. } if !family.is_some_and(|f| f.is_temporal()) => {
                Some("freshness needs a timestamp or date column".to_string())
            }
            _ => None,
        };
        if let Some(needs) = needs {
            return Some(format!("{needs}; {name} is {}", column.data_type));
        }
    }
    None
}

fn missing_column_message(name: &str, schema: &TableSchema) -> String {
    let closest = schema
        .columns
        .iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&c.name.to_lowercase(), &name.to_lowercase()),
                &c.name,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, suggestion)) => format!("column {name} not found (did you mean {suggestion}?)"),
        None => format!("column {name} not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Literal, TypeFamily, fixtures};
    use crate::warehouse::Column;

    fn check(kind: CheckKind, filter: Option<&str>) -> Check {
        Check {
            filter: filter.map(str::to_string),
            ..fixtures::check(kind)
        }
    }

    fn dataset(checks: Vec<Check>, filter: Option<&str>) -> Dataset {
        Dataset {
            filter: filter.map(str::to_string),
            ..fixtures::dataset(checks)
        }
    }

    fn column(name: &str, family: TypeFamily) -> Column {
        Column {
            name: name.into(),
            data_type: family.name().into(),
            base_type: family.name().into(),
            family: Some(family),
        }
    }

    #[test]
    fn partitioned_metrics_group_by_bucket_over_a_range_of_the_bare_column() {
        let mut ds = dataset(
            vec![
                check(CheckKind::RowCount, None),
                check(
                    CheckKind::DuplicateCount {
                        columns: vec!["id".into()],
                        per_partition: false,
                    },
                    None,
                ),
            ],
            Some("region <> 'test'"),
        );
        ds.partition = Some(Partition {
            column: "occurred_at".into(),
            grain: Grain::Day,
            backfill: 1,
            history: 30,
        });
        let schema = TableSchema {
            columns: vec![
                column("id", TypeFamily::Integer),
                column("occurred_at", TypeFamily::Date),
            ],
        };
        let plan = plan_dataset(&ds, Dialect::POSTGRES, Some(&schema));
        assert!(matches!(plan.checks[0], CheckPlan::Bucketed(_)));
        assert!(matches!(plan.checks[1], CheckPlan::Metric(_)));
        let since = DateTime::from_timestamp(1_796_083_200, 0).expect("a time");
        let until = since + Grain::Day.duration();
        let sql = plan
            .buckets
            .expect("a bucket query")
            .sql(&ds, Dialect::POSTGRES, (since, until));
        assert_eq!(
            sql,
            "SELECT\n  to_char(date_trunc('day', \"occurred_at\"), 'YYYY-MM-DD\"T\"HH24:00:00'),\n  \
             CAST(COUNT(*) AS DOUBLE PRECISION)\nFROM \"shop\".\"orders\"\n\
             WHERE \"occurred_at\" >= E'2026-12-01' AND \"occurred_at\" < E'2026-12-02' \
             AND (region <> 'test')\n\
             GROUP BY date_trunc('day', \"occurred_at\")\nORDER BY date_trunc('day', \"occurred_at\")"
        );

        ds.partition.as_mut().expect("partitioned").grain = Grain::Hour;
        let plan = plan_dataset(&ds, Dialect::POSTGRES, Some(&schema));
        assert_eq!(
            plan.checks[0],
            CheckPlan::Unrunnable(
                "partition: grain hour needs a timestamp column; occurred_at is date".into()
            )
        );
    }

    #[test]
    fn all_metrics_share_one_select_and_reuse_columns() {
        let ds = dataset(
            vec![
                check(CheckKind::RowCount, None),
                check(
                    CheckKind::MissingPercent {
                        column: "customer_id".into(),
                        missing_values: vec![],
                    },
                    None,
                ),
                check(
                    CheckKind::Aggregate {
                        function: Aggregate::Avg,
                        column: "amount".into(),
                    },
                    None,
                ),
                check(
                    CheckKind::SqlMetric {
                        query: "select 1;".into(),
                    },
                    None,
                ),
            ],
            Some("region <> 'test'"),
        );
        let plan = plan_dataset(&ds, Dialect::POSTGRES, None);
        assert_eq!(
            plan.aggregate.as_deref(),
            Some(
                "SELECT\n  CAST(COUNT(*) AS DOUBLE PRECISION),\n  \
                 CAST(COUNT(CASE WHEN \"customer_id\" IS NULL THEN 1 END) AS DOUBLE PRECISION),\n  \
                 CAST(AVG(\"amount\") AS DOUBLE PRECISION)\n\
                 FROM \"shop\".\"orders\"\nWHERE (region <> 'test')"
            )
        );
        assert_eq!(
            plan.checks,
            vec![
                CheckPlan::Metric(Derivation::Column(0)),
                CheckPlan::Metric(Derivation::Percent { part: 1, whole: 0 }),
                CheckPlan::Metric(Derivation::Column(2)),
                CheckPlan::SqlMetric("select 1".into()),
            ]
        );
        assert_eq!(plan.statement_count(), 3);
    }

    #[test]
    fn check_filters_become_conditional_aggregates() {
        let ds = dataset(
            vec![
                check(CheckKind::RowCount, Some("status = 'x'")),
                check(
                    CheckKind::Aggregate {
                        function: Aggregate::Max,
                        column: "a".into(),
                    },
                    Some("b > 1"),
                ),
            ],
            None,
        );
        let sql = plan_dataset(&ds, Dialect::SQLITE, None)
            .aggregate
            .unwrap_or_default();
        assert!(
            sql.contains("CAST(COUNT(CASE WHEN (status = 'x') THEN 1 END) AS REAL)"),
            "{sql}"
        );
        assert!(
            sql.contains("CAST(MAX(CASE WHEN (b > 1) THEN \"a\" END) AS REAL)"),
            "{sql}"
        );
        assert!(!sql.contains("WHERE"));
    }

    #[test]
    fn literals_and_regexes_are_quoted_by_the_dialect() {
        let validity = Validity {
            values: Some(vec![Literal::Text("it's".into()), Literal::Number(3.0)]),
            regex: Some("^[a-z]+$".into()),
            min: None,
            max: None,
        };
        let ds = dataset(
            vec![check(
                CheckKind::InvalidCount {
                    column: "s".into(),
                    validity,
                },
                None,
            )],
            None,
        );
        let sql = plan_dataset(&ds, Dialect::MYSQL, None)
            .aggregate
            .unwrap_or_default();
        assert!(
            sql.contains("COUNT(CASE WHEN `s` IS NOT NULL AND NOT (`s` IN ('it''s', 3) AND CAST(`s` AS CHAR) REGEXP '^[a-z]+$') THEN 1 END)"),
            "{sql}"
        );
    }

    #[test]
    fn sqlite_stddev_is_derived_from_sums() {
        let ds = dataset(
            vec![check(
                CheckKind::Aggregate {
                    function: Aggregate::Stddev,
                    column: "x".into(),
                },
                None,
            )],
            None,
        );
        let plan = plan_dataset(&ds, Dialect::SQLITE, None);
        let CheckPlan::Metric(derivation) = plan.checks[0] else {
            panic!("not a metric")
        };
        // Values 2, 4, 4, 4, 5, 5, 7, 9: sample stddev sqrt(32/7).
        let row = [Some(8.0), Some(40.0), Some(232.0)];
        let value = derivation.value(&row).unwrap_or_default();
        assert!((value - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(derivation.value(&[Some(1.0), Some(3.0), Some(9.0)]), None);
    }

    #[test]
    fn missing_columns_and_wrong_types_are_unrunnable_without_breaking_the_rest() {
        let ds = dataset(
            vec![
                check(
                    CheckKind::Aggregate {
                        function: Aggregate::Avg,
                        column: "amont".into(),
                    },
                    None,
                ),
                check(
                    CheckKind::Aggregate {
                        function: Aggregate::Avg,
                        column: "status".into(),
                    },
                    None,
                ),
                check(
                    CheckKind::Freshness {
                        column: "amount".into(),
                    },
                    None,
                ),
                check(CheckKind::RowCount, None),
            ],
            None,
        );
        let schema = TableSchema {
            columns: vec![
                column("amount", TypeFamily::Decimal),
                column("status", TypeFamily::Text),
            ],
        };
        let plan = plan_dataset(&ds, Dialect::POSTGRES, Some(&schema));
        assert_eq!(
            plan.checks[..3],
            [
                CheckPlan::Unrunnable("column amont not found (did you mean amount?)".into()),
                CheckPlan::Unrunnable("avg needs a numeric column; status is text".into()),
                CheckPlan::Unrunnable(
                    "freshness needs a timestamp or date column; amount is decimal".into()
                ),
            ]
        );
        assert_eq!(plan.checks[3], CheckPlan::Metric(Derivation::Column(0)));
    }

    #[test]
    fn a_missing_table_leaves_only_sql_metrics() {
        let ds = dataset(
            vec![
                check(CheckKind::RowCount, None),
                check(
                    CheckKind::SqlMetric {
                        query: "select 1".into(),
                    },
                    None,
                ),
            ],
            None,
        );
        let plan = plan_dataset(&ds, Dialect::POSTGRES, Some(&TableSchema::default()));
        assert_eq!(plan.aggregate, None);
        assert_eq!(
            plan.checks[0],
            CheckPlan::Unrunnable("table shop.orders not found".into())
        );
    }

    #[test]
    fn percent_of_an_empty_table_is_zero() {
        let d = Derivation::Percent { part: 0, whole: 1 };
        assert_eq!(d.value(&[Some(0.0), Some(0.0)]), Some(0.0));
        assert_eq!(d.value(&[Some(1.0), Some(4.0)]), Some(25.0));
    }
}
