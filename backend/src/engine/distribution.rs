//! `distribution` checks in a run. Each sends one profile query of its own (a profile is
//! rows, not one aggregate, so it cannot join the dataset's aggregate `SELECT`): the
//! warehouse sorts or groups the column and returns at most [`BINS`] or [`TOP_VALUES`]
//! rows, never the column itself. The profile is judged against reference profiles the
//! store kept from earlier runs ([`Baselines`], read before the checks like the schema
//! snapshot), and stored with the run for later ones.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::evaluate::Verdict;
use super::plan::CheckPlan;
use super::query_error;
use crate::distribution::{self, BINS, Bin, Change, Comparison, Count, Profile, TOP_VALUES};
use crate::results::{Outcome, ProfileQuery, StoredProfile, format_number};
use crate::spec::{Bound, Check, CheckKind, Dataset, DriftMethod, DriftReference};
use crate::warehouse::{Cell, Dialect, TableSchema, Warehouse};

/// The most profiles `last_7d` pools: a week of runs every 20 minutes.
const MAX_POOLED: u32 = 500;

/// How a distribution check measures its column.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfilePlan {
    pub method: DriftMethod,
    /// Equal-count bins (a numeric column), or the most frequent values.
    pub numeric: bool,
    /// Planned without the column's type, on which the profile depends: taken as numeric.
    pub assumed_numeric: bool,
    pub sql: String,
}

impl ProfilePlan {
    /// One line for `tidemark explain`.
    pub fn describe(&self, check: &Check) -> String {
        let column = check.kind.column().unwrap_or_default();
        let (name, method) = (&check.name, self.method.keyword());
        let bins = format!("{BINS} equal-count bins of {column}");
        let values = format!("the {TOP_VALUES} most frequent values of {column}");
        if self.assumed_numeric {
            let otherwise = match self.method {
                DriftMethod::Psi => "psi",
                _ => "chi_square",
            };
            format!("{name}: {bins} ({method}) if it is numeric, else {values} ({otherwise})")
        } else if self.numeric {
            format!("{name} ({method}): {bins}")
        } else {
            format!("{name} ({method}): {values}")
        }
    }
}

/// Plans a distribution check: the method (by the column's type when not given) and its
/// profile query. Without the table's schema (`tidemark explain`) a column whose type
/// decides is taken to be numeric.
pub(super) fn plan(
    dataset: &Dataset,
    check: &Check,
    dialect: Dialect,
    schema: Option<&TableSchema>,
) -> CheckPlan {
    let CheckKind::Distribution { column, method, .. } = &check.kind else {
        return CheckPlan::Unrunnable("internal: not a distribution check".into());
    };
    let described = schema.and_then(|s| s.column(column));
    // Unknown types (an untyped SQLite column) are not assumed numeric.
    let numeric_column = described.map(|c| c.family.is_some_and(|f| f.is_numeric()));
    let known_not_numeric = described.is_some_and(|c| c.family.is_some_and(|f| !f.is_numeric()));
    let by_type = matches!(method, None | Some(DriftMethod::Psi));
    let (method, numeric) = match method {
        Some(DriftMethod::Ks) if known_not_numeric => {
            let data_type = described.map(|c| c.data_type.as_str()).unwrap_or_default();
            return CheckPlan::Unrunnable(format!(
                "ks needs a numeric column; {column} is {data_type} (use chi_square or psi)"
            ));
        }
        Some(DriftMethod::Ks) => (DriftMethod::Ks, true),
        Some(DriftMethod::ChiSquare) => (DriftMethod::ChiSquare, false),
        Some(DriftMethod::Psi) => (DriftMethod::Psi, numeric_column.unwrap_or(true)),
        None if numeric_column.unwrap_or(true) => (DriftMethod::Ks, true),
        None => (DriftMethod::ChiSquare, false),
    };
    let rows = rows_of(dataset, check, dialect, column);
    let sql = if numeric {
        bins_sql(dialect, dataset, column, &rows)
    } else {
        values_sql(dialect, dataset, column, &rows)
    };
    CheckPlan::Distribution(ProfilePlan {
        method,
        numeric,
        assumed_numeric: by_type && numeric_column.is_none(),
        sql,
    })
}

/// The rows a profile describes: the column's non-null values within both filters.
fn rows_of(dataset: &Dataset, check: &Check, dialect: Dialect, column: &str) -> String {
    let mut conditions = vec![format!("{} IS NOT NULL", dialect.ident(column))];
    conditions.extend(
        [&dataset.filter, &check.filter]
            .into_iter()
            .flatten()
            .map(|filter| format!("({filter})")),
    );
    conditions.join(" AND ")
}

/// `NTILE` numbers the sorted values into equal-count bins; each bin returns its ends and
/// size. The warehouse sorts the column once (window functions: Postgres, MariaDB 10.2+,
/// MySQL 8, SQLite 3.25+).
fn bins_sql(dialect: Dialect, dataset: &Dataset, column: &str, rows: &str) -> String {
    let c = dialect.ident(column);
    format!(
        "SELECT {}, {}, {}\nFROM (\n  SELECT {} AS v, NTILE({BINS}) OVER (ORDER BY {c}) AS tile\n  \
         FROM {}\n  WHERE {rows}\n) tiles\nGROUP BY tile\nORDER BY tile",
        dialect.as_double("MIN(v)"),
        dialect.as_double("MAX(v)"),
        dialect.as_double("COUNT(*)"),
        dialect.as_double(&c),
        dialect.table(&dataset.table),
    )
}

/// The most frequent values with their counts, and (on every row) how many values there
/// are in all, which gives the count of the values not listed. Ordered by position: Spark
/// cannot order by an aggregate that a window in the select list also reads.
fn values_sql(dialect: Dialect, dataset: &Dataset, column: &str, rows: &str) -> String {
    let c = dialect.ident(column);
    format!(
        "SELECT {}, {}, {}\nFROM {}\nWHERE {rows}\nGROUP BY {c}\nORDER BY 2 DESC, 1\n\
         LIMIT {TOP_VALUES}",
        dialect.as_text(&c),
        dialect.as_double("COUNT(*)"),
        dialect.as_double("SUM(COUNT(*)) OVER ()"),
        dialect.table(&dataset.table),
    )
}

/// The profile a plan's query returned.
fn parse(numeric: bool, rows: &[Vec<Cell>]) -> Result<Profile, String> {
    let shape = |row: &[Cell]| format!("unexpected row in the profile query's result: {row:?}");
    if numeric {
        let bins = rows
            .iter()
            .map(|row| match row.as_slice() {
                [Cell::Number(min), Cell::Number(max), Cell::Number(count)] => Ok(Bin {
                    min: *min,
                    max: *max,
                    count: *count,
                }),
                other => Err(shape(other)),
            })
            .collect::<Result<_, _>>()?;
        return Ok(Profile::Numeric { bins });
    }
    let mut top: Vec<Count> = Vec::with_capacity(rows.len());
    let mut total = 0.0;
    for row in rows {
        let [Cell::Text(value), Cell::Number(count), Cell::Number(all)] = row.as_slice() else {
            return Err(shape(row));
        };
        total = *all;
        // Values a case-insensitive collation grouped apart may cast to the same text.
        match top.iter_mut().find(|c| c.value == *value) {
            Some(listed) => listed.count += count,
            None => top.push(Count {
                value: value.clone(),
                count: *count,
            }),
        }
    }
    let other = (total - top.iter().map(|c| c.count).sum::<f64>()).max(0.0);
    Ok(Profile::Values { top, other })
}

/// Measures the column and judges it; the profile is returned when it holds values, to be
/// stored with the run.
pub(super) async fn run(
    check: &Check,
    plan: &ProfilePlan,
    warehouse: &Warehouse,
    baselines: &Baselines,
) -> (Verdict, Option<Profile>) {
    let rows = match warehouse.fetch_rows(&plan.sql, max_rows(plan)).await {
        Ok(rows) => rows,
        Err(e) => return (Verdict::error(query_error(warehouse, &e)), None),
    };
    match parse(plan.numeric, &rows) {
        Ok(profile) => {
            let verdict = judge(check, plan.method, &profile, baselines.of(&check.name));
            let keep = profile.total() > 0.0;
            (verdict, keep.then_some(profile))
        }
        Err(e) => (Verdict::error(e), None),
    }
}

fn max_rows(plan: &ProfilePlan) -> usize {
    (if plan.numeric { BINS } else { TOP_VALUES }) as usize
}

/// The stored profiles each distribution check of a dataset is judged against.
#[derive(Clone, Debug, Default)]
pub struct Baselines {
    /// By check name; `None` without a store (`--no-store`).
    stored: Option<HashMap<String, Vec<StoredProfile>>>,
}

impl Baselines {
    /// No store: drift is not judged.
    pub fn none() -> Baselines {
        Baselines::default()
    }

    /// What to read for each distribution check of `dataset`, by check name: the newest
    /// profile (`previous`), those of the 7 days before `now` (`last_7d`), or the newest at
    /// or before a time (`snapshot`). The caller reads them from the store and hands them
    /// to [`Baselines::stored`].
    pub fn wanted(dataset: &Dataset, now: DateTime<Utc>) -> Vec<ProfileQuery<'_>> {
        let mut wanted = Vec::new();
        for check in &dataset.checks {
            let CheckKind::Distribution {
                column, reference, ..
            } = &check.kind
            else {
                continue;
            };
            let (since, until, limit) = match reference {
                DriftReference::Previous => (None, None, 1),
                DriftReference::Last7Days => (Some(now - TimeDelta::days(7)), None, MAX_POOLED),
                DriftReference::Snapshot(at) => (None, Some(*at), 1),
            };
            wanted.push(ProfileQuery {
                dataset: &dataset.name,
                check: &check.name,
                column,
                since,
                until,
                limit,
            });
        }
        wanted
    }

    /// The profiles read for [`Baselines::wanted`], by check name.
    pub fn stored(stored: HashMap<String, Vec<StoredProfile>>) -> Baselines {
        Baselines {
            stored: Some(stored),
        }
    }

    /// `None` without a store.
    fn of(&self, check: &str) -> Option<&[StoredProfile]> {
        let stored = self.stored.as_ref()?;
        Some(stored.get(check).map_or(&[], Vec::as_slice))
    }
}

/// What the current profile is compared with, in words and as one profile.
struct Reference {
    name: String,
    profile: Profile,
}

/// Judges `current` against the check's reference among `stored` (`None`: no store). Until
/// there is a reference the check passes with a note; a `snapshot` that is not there is an
/// error, since its baseline is gone for good.
fn judge(
    check: &Check,
    method: DriftMethod,
    current: &Profile,
    stored: Option<&[StoredProfile]>,
) -> Verdict {
    let CheckKind::Distribution {
        column, reference, ..
    } = &check.kind
    else {
        return Verdict::error("internal: not a distribution check");
    };
    if current.total() <= 0.0 {
        return Verdict {
            outcome: Outcome::Fail,
            value: None,
            message: format!("no values in {column}"),
        };
    }
    let Some(stored) = stored else {
        return note("drift not judged: it needs the store (run without --no-store)");
    };
    let reference = match pick(*reference, column, current, stored) {
        Ok(reference) => reference,
        Err(verdict) => return verdict,
    };
    match distribution::compare(method, &reference.profile, current) {
        Ok(comparison) => judged(check, method, column, current, &reference, &comparison),
        Err(e) => Verdict::error(e),
    }
}

fn note(message: impl Into<String>) -> Verdict {
    Verdict {
        outcome: Outcome::Pass,
        value: None,
        message: message.into(),
    }
}

/// The reference profile among `stored` (newest first), or the verdict when there is none.
fn pick(
    reference: DriftReference,
    column: &str,
    current: &Profile,
    stored: &[StoredProfile],
) -> Result<Reference, Verdict> {
    let mut alike = stored.iter().filter(|s| s.profile.same_kind(current));
    match reference {
        DriftReference::Previous => match (alike.next(), stored.first()) {
            (Some(previous), _) => Ok(Reference {
                name: "the previous run".into(),
                profile: previous.profile.clone(),
            }),
            (None, Some(other)) => Err(note(format!(
                "the previous profile of {column} was of {}: this one is the new reference",
                other.profile.describe()
            ))),
            (None, None) => Err(note(format!(
                "first profile of {column} recorded: drift is judged from the next run"
            ))),
        },
        DriftReference::Last7Days => {
            let profiles: Vec<&Profile> = alike.map(|s| &s.profile).collect();
            let runs = profiles.len();
            match distribution::pool(&profiles) {
                Some(profile) => Ok(Reference {
                    name: format!("the last 7 days ({runs} {})", plural(runs, "run", "runs")),
                    profile,
                }),
                None => Err(note(format!(
                    "no profile of {column} in the 7 days before this run: drift is judged \
                     from the next run"
                ))),
            }
        }
        DriftReference::Snapshot(at) => match alike.next() {
            Some(snapshot) => Ok(Reference {
                name: format!("the profile of {}", rfc3339(snapshot.taken_at)),
                profile: snapshot.profile.clone(),
            }),
            None => Err(Verdict::error(format!(
                "no profile of {column} as {} recorded at or before {}: the snapshot \
                 reference is missing (retention may have pruned it)",
                current.describe(),
                rfc3339(at)
            ))),
        },
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The verdict on a comparison: the worst level whose bound the value breaks.
fn judged(
    check: &Check,
    method: DriftMethod,
    column: &str,
    current: &Profile,
    reference: &Reference,
    comparison: &Comparison,
) -> Verdict {
    let value = comparison.value;
    let thresholds = &check.thresholds;
    let (outcome, broken) = match (thresholds.fail, thresholds.warn) {
        (Some(fail), _) if !fail.holds(value) => (Outcome::Fail, Some(fail)),
        (_, Some(warn)) if !warn.holds(value) => (Outcome::Warn, Some(warn)),
        _ => (Outcome::Pass, None),
    };
    let (what, in_line) = match current {
        Profile::Numeric { .. } => ("distribution", "is in line with"),
        Profile::Values { .. } => ("value frequencies", "are in line with"),
    };
    let verb = if broken.is_some() {
        "drifted from"
    } else {
        in_line
    };
    let mut details = vec![statistic(method, value, broken)];
    if let Some(distance) = comparison.distance {
        details.push(format!("D = {}", format_number(distance)));
    }
    details.extend(comparison.change.as_ref().map(change));
    Verdict {
        outcome,
        value: Some(value),
        message: format!(
            "{column}'s {what} {verb} {} ({})",
            reference.name,
            details.join("; ")
        ),
    }
}

/// `KS p = 0.0003 < 0.01`, `PSI = 0.31 > 0.25`, `chi-square p < 0.0001`.
fn statistic(method: DriftMethod, value: f64, broken: Option<Bound>) -> String {
    let name = match method {
        DriftMethod::Ks => "KS p",
        DriftMethod::Psi => "PSI",
        DriftMethod::ChiSquare => "chi-square p",
    };
    let shown = if method.is_p_value() && value < 1e-4 {
        format!("{name} < 0.0001")
    } else {
        format!("{name} = {}", format_number(value))
    };
    match broken {
        Some(Bound::Min(level)) => format!("{shown} < {}", format_number(level)),
        Some(Bound::Max(level)) => format!("{shown} > {}", format_number(level)),
        _ => shown,
    }
}

fn change(change: &Change) -> String {
    match change {
        Change::Median { before, after } => {
            format!(
                "median {} → {}",
                format_number(*before),
                format_number(*after)
            )
        }
        Change::Share {
            value,
            before,
            after,
        } => {
            let value = match value {
                Some(value) => format!("'{value}'"),
                None => "other values".to_owned(),
            };
            format!("{value} {:.1}% → {:.1}%", before * 100.0, after * 100.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::distribution::fixtures::points;
    use crate::spec::{Thresholds, TypeFamily, fixtures};
    use crate::warehouse::Column;

    fn distribution(method: Option<DriftMethod>, reference: DriftReference) -> Check {
        Check {
            name: "distribution(amount)".into(),
            thresholds: Thresholds {
                fail: Some(Bound::Min(0.01)),
                ..Thresholds::default()
            },
            ..fixtures::check(CheckKind::Distribution {
                column: "amount".into(),
                method,
                reference,
            })
        }
    }

    fn schema(family: TypeFamily, data_type: &str) -> TableSchema {
        TableSchema {
            columns: vec![Column {
                name: "amount".into(),
                data_type: data_type.into(),
                base_type: data_type.into(),
                family: Some(family),
            }],
        }
    }

    fn planned(check: &Check, dialect: Dialect, schema: Option<&TableSchema>) -> CheckPlan {
        let dataset = Dataset {
            filter: Some("region <> 'test'".into()),
            ..fixtures::dataset(vec![check.clone()])
        };
        plan(&dataset, check, dialect, schema)
    }

    fn stored(profile: Profile, at: &str) -> StoredProfile {
        StoredProfile {
            run_id: Uuid::nil(),
            taken_at: DateTime::parse_from_rfc3339(at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            profile,
        }
    }

    #[test]
    fn numeric_columns_are_binned_by_ntile_in_one_query() {
        let check = Check {
            filter: Some("amount > 0".into()),
            ..distribution(None, DriftReference::Previous)
        };
        let numeric = schema(TypeFamily::Decimal, "numeric(10,2)");
        let CheckPlan::Distribution(plan) = planned(&check, Dialect::POSTGRES, Some(&numeric))
        else {
            panic!("planned")
        };
        assert_eq!((plan.method, plan.numeric), (DriftMethod::Ks, true));
        assert_eq!(
            plan.sql,
            "SELECT CAST(MIN(v) AS DOUBLE PRECISION), CAST(MAX(v) AS DOUBLE PRECISION), \
             CAST(COUNT(*) AS DOUBLE PRECISION)\nFROM (\n  SELECT CAST(\"amount\" AS DOUBLE \
             PRECISION) AS v, NTILE(100) OVER (ORDER BY \"amount\") AS tile\n  FROM \
             \"shop\".\"orders\"\n  WHERE \"amount\" IS NOT NULL AND (region <> 'test') AND \
             (amount > 0)\n) tiles\nGROUP BY tile\nORDER BY tile"
        );
    }

    #[test]
    fn other_columns_are_counted_by_value() {
        let check = distribution(None, DriftReference::Previous);
        let text = schema(TypeFamily::Text, "varchar(20)");
        let CheckPlan::Distribution(plan) = planned(&check, Dialect::MYSQL, Some(&text)) else {
            panic!("planned")
        };
        assert_eq!((plan.method, plan.numeric), (DriftMethod::ChiSquare, false));
        assert_eq!(
            plan.sql,
            "SELECT CAST(`amount` AS CHAR), CAST(COUNT(*) AS DOUBLE), CAST(SUM(COUNT(*)) OVER \
             () AS DOUBLE)\nFROM `shop`.`orders`\nWHERE `amount` IS NOT NULL AND (region <> \
             'test')\nGROUP BY `amount`\nORDER BY 2 DESC, 1\nLIMIT 20"
        );
        let ks = distribution(Some(DriftMethod::Ks), DriftReference::Previous);
        assert_eq!(
            planned(&ks, Dialect::MYSQL, Some(&text)),
            CheckPlan::Unrunnable(
                "ks needs a numeric column; amount is varchar(20) (use chi_square or psi)".into()
            )
        );
        let psi = distribution(Some(DriftMethod::Psi), DriftReference::Previous);
        let CheckPlan::Distribution(plan) = planned(&psi, Dialect::SQLITE, Some(&text)) else {
            panic!("planned")
        };
        assert!(!plan.numeric);
        assert!(
            plan.sql.starts_with("SELECT CAST(\"amount\" AS TEXT)"),
            "{}",
            plan.sql
        );
        // Without a schema (explain) the type is unknown: a numeric column is assumed.
        let CheckPlan::Distribution(plan) = planned(&psi, Dialect::SQLITE, None) else {
            panic!("planned")
        };
        assert!(plan.numeric);
        assert_eq!(
            plan.describe(&psi),
            "distribution(amount): 100 equal-count bins of amount (psi) if it is numeric, \
             else the 20 most frequent values of amount (psi)"
        );
    }

    #[test]
    fn rows_become_profiles() {
        let n = Cell::Number;
        let bins = parse(true, &[vec![n(1.0), n(2.0), n(3.0)]]);
        assert_eq!(
            bins,
            Ok(Profile::Numeric {
                bins: vec![Bin {
                    min: 1.0,
                    max: 2.0,
                    count: 3.0
                }]
            })
        );
        let text = |s: &str| Cell::Text(s.into());
        let values = parse(
            false,
            &[
                vec![text("a"), n(5.0), n(12.0)],
                vec![text("b"), n(4.0), n(12.0)],
                vec![text("a"), n(1.0), n(12.0)],
            ],
        );
        let count = |value: &str, count| Count {
            value: value.into(),
            count,
        };
        assert_eq!(
            values,
            Ok(Profile::Values {
                top: vec![count("a", 6.0), count("b", 4.0)],
                other: 2.0
            })
        );
        assert_eq!(
            parse(false, &[]),
            Ok(Profile::Values {
                top: vec![],
                other: 0.0
            })
        );
        assert!(parse(true, &[vec![Cell::Null, n(1.0), n(1.0)]]).is_err());
    }

    #[test]
    fn a_shift_fails_with_what_moved() {
        let check = distribution(None, DriftReference::Previous);
        let before: Vec<f64> = (0..60).map(f64::from).collect();
        let after: Vec<f64> = (30..90).map(f64::from).collect();
        let stored = [stored(points(&before), "2026-03-01T00:00:00Z")];
        let verdict = judge(&check, DriftMethod::Ks, &points(&after), Some(&stored));
        assert_eq!(verdict.outcome, Outcome::Fail);
        assert!(verdict.value.is_some_and(|p| p < 0.01), "{verdict:?}");
        assert_eq!(
            verdict.message,
            "amount's distribution drifted from the previous run (KS p < 0.0001 < 0.01; D = \
             0.5; median 29 → 59)"
        );
        let same = judge(&check, DriftMethod::Ks, &points(&before), Some(&stored));
        assert_eq!(same.outcome, Outcome::Pass);
        assert_eq!(
            same.message,
            "amount's distribution is in line with the previous run (KS p = 1; D = 0; median \
             29 → 29)"
        );
    }

    #[test]
    fn values_name_the_value_that_moved_most() {
        let check = Check {
            thresholds: Thresholds {
                warn: Some(Bound::Max(0.1)),
                fail: Some(Bound::Max(0.25)),
                anomaly: None,
            },
            ..distribution(Some(DriftMethod::Psi), DriftReference::Last7Days)
        };
        let values = |a: f64, b: f64| Profile::Values {
            top: vec![
                Count {
                    value: "a".into(),
                    count: a,
                },
                Count {
                    value: "b".into(),
                    count: b,
                },
            ],
            other: 0.0,
        };
        let week = [
            stored(values(50.0, 50.0), "2026-03-02T00:00:00Z"),
            stored(values(500.0, 500.0), "2026-03-01T00:00:00Z"),
            stored(points(&[1.0]), "2026-02-28T00:00:00Z"),
        ];
        let verdict = judge(&check, DriftMethod::Psi, &values(30.0, 70.0), Some(&week));
        assert_eq!(verdict.outcome, Outcome::Warn, "{verdict:?}");
        assert_eq!(
            verdict.message,
            "amount's value frequencies drifted from the last 7 days (2 runs) (PSI = 0.1695 > \
             0.1; 'a' 50.0% → 30.0%)"
        );
    }

    #[test]
    fn without_a_reference_the_check_passes_with_a_note_unless_a_snapshot_is_gone() {
        let current = points(&[1.0, 2.0]);
        let previous = distribution(None, DriftReference::Previous);
        let first = judge(&previous, DriftMethod::Ks, &current, Some(&[]));
        assert_eq!(
            (first.outcome, first.value, first.message.as_str()),
            (
                Outcome::Pass,
                None,
                "first profile of amount recorded: drift is judged from the next run"
            )
        );
        let unstored = judge(&previous, DriftMethod::Ks, &current, None);
        assert_eq!(unstored.outcome, Outcome::Pass);
        assert!(unstored.message.contains("--no-store"), "{unstored:?}");
        let at = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let pinned = distribution(None, DriftReference::Snapshot(at));
        let gone = judge(&pinned, DriftMethod::Ks, &current, Some(&[]));
        assert_eq!(gone.outcome, Outcome::Error);
        assert_eq!(
            gone.message,
            "no profile of amount as a numeric distribution recorded at or before \
             2026-03-01T00:00:00Z: the snapshot reference is missing (retention may have \
             pruned it)"
        );
        let empty = judge(&previous, DriftMethod::Ks, &points(&[]), Some(&[]));
        assert_eq!(
            (empty.outcome, empty.message.as_str()),
            (Outcome::Fail, "no values in amount")
        );
    }
}
