//! What the dataset page shows around its checks: how fresh the data was at each run (with
//! the freshness SLA and its breaches), how the table changed shape, and the datasets it
//! reads from and feeds (depth 1 in the lineage graph) with their health and owners.
//! Pure, like the rest of the views: built from what the page read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::chart::{Mark, Threshold, marked_chart};
use super::views::moment;
use crate::alerts::dataset_link;
use crate::lineage::{Direction, Graph, normalize};
use crate::results::{MetricPoint, SnapshotColumn};
use crate::spec::{Check, CheckKind, Dataset, Project, Sla};
use crate::store::SchemaSnapshot;
use crate::web::{Health, Latest};

/// A run at which the data was older than the freshness SLA allows.
const BREACH: Mark = Mark {
    class: "breach",
    label: "SLA breach",
};

const SECONDS_PER_HOUR: f64 = 3_600.0;

/// The dataset page's parts beyond its checks and runs.
#[derive(Debug, Serialize)]
pub struct Context {
    /// The age of the newest data at each run, in hours (SVG, escaped by the chart).
    freshness_chart: Option<String>,
    /// Which check it charts: the SLA's when there is one, else the first freshness check.
    freshness_check: Option<String>,
    /// How many charted runs breached the freshness SLA.
    breaches: usize,
    /// Newest first.
    schema_changes: Vec<SchemaChange>,
    upstream: Vec<Neighbour>,
    downstream: Vec<Neighbour>,
}

impl Context {
    /// `series`: each check's metric series, in the order of the dataset's checks.
    pub fn new(
        project: &Project,
        dataset: &Dataset,
        latest: &Latest,
        series: &[Vec<MetricPoint>],
        schema: &[SchemaSnapshot],
        lineage: &Graph,
    ) -> Context {
        let freshness = dataset
            .checks
            .iter()
            .zip(series)
            .find(|(c, _)| c.name == Sla::FRESHNESS_CHECK)
            .or_else(|| {
                let mut checks = dataset.checks.iter().zip(series);
                checks.find(|(c, _)| matches!(c.kind, CheckKind::Freshness { .. }))
            });
        let timeline = freshness.map(|(check, points)| Timeline::of(check, points));
        let neighbours = |direction| neighbours(project, dataset, latest, lineage, direction);
        Context {
            freshness_check: freshness.map(|(check, _)| check.name.clone()),
            breaches: timeline.as_ref().map_or(0, |t| t.breaches.len()),
            freshness_chart: timeline.and_then(|t| t.chart()),
            schema_changes: schema_changes(schema),
            upstream: neighbours(Direction::Upstream),
            downstream: neighbours(Direction::Downstream),
        }
    }
}

/// A freshness check's series in hours, and the runs that breached its SLA.
struct Timeline {
    title: String,
    points: Vec<MetricPoint>,
    thresholds: Vec<Threshold>,
    breaches: HashSet<DateTime<Utc>>,
}

impl Timeline {
    fn of(check: &Check, points: &[MetricPoint]) -> Timeline {
        let hours = |seconds: f64| seconds / SECONDS_PER_HOUR;
        // Only the SLA's check breaches an SLA; judged in seconds, as the check was.
        let sla = check.name == Sla::FRESHNESS_CHECK;
        let breaches = points
            .iter()
            .filter(|p| sla && check.thresholds.fail.is_some_and(|b| !b.holds(p.value)))
            .map(|p| p.at)
            .collect();
        let thresholds = Threshold::of(&check.thresholds)
            .into_iter()
            .map(|t| Threshold {
                value: hours(t.value),
                ..t
            })
            .collect();
        let points = points
            .iter()
            .map(|p| MetricPoint {
                value: hours(p.value),
                lower: p.lower.map(hours),
                upper: p.upper.map(hours),
                ..*p
            })
            .collect();
        Timeline {
            title: format!("{}: age of the newest data in hours", check.name),
            points,
            thresholds,
            breaches,
        }
    }

    fn chart(&self) -> Option<String> {
        let mark = |p: &MetricPoint| self.breaches.contains(&p.at).then_some(BREACH);
        marked_chart(&self.title, &self.points, &self.thresholds, &mark)
    }
}

/// A column as a snapshot saw it.
#[derive(Debug, PartialEq, Serialize)]
pub struct Column {
    name: String,
    data_type: String,
}

impl Column {
    fn of(column: &SnapshotColumn) -> Column {
        Column {
            name: column.name.clone(),
            data_type: column.data_type.clone(),
        }
    }
}

/// A column whose type changed.
#[derive(Debug, PartialEq, Serialize)]
pub struct Retyped {
    name: String,
    from: String,
    to: String,
}

/// How one snapshot of the table differs from the one before it.
#[derive(Debug, PartialEq, Serialize)]
pub struct SchemaChange {
    at: String,
    /// The oldest snapshot kept: nothing before it to compare with.
    first: bool,
    /// How many columns the table had then.
    columns: usize,
    added: Vec<Column>,
    removed: Vec<Column>,
    retyped: Vec<Retyped>,
}

/// The changes between consecutive snapshots of `history` (newest first, as
/// [`crate::store::History::schema_history`] returns it), newest first. A snapshot that
/// only reordered columns or moved warehouse lists no column.
pub fn schema_changes(history: &[SchemaSnapshot]) -> Vec<SchemaChange> {
    history
        .iter()
        .enumerate()
        .map(|(i, snapshot)| diff(history.get(i + 1), snapshot))
        .collect()
}

fn diff(before: Option<&SchemaSnapshot>, after: &SchemaSnapshot) -> SchemaChange {
    let old = before.map_or(&[][..], |b| b.columns.as_slice());
    let has = |columns: &[SnapshotColumn], name: &str| columns.iter().any(|c| c.name == name);
    let added = after
        .columns
        .iter()
        .filter(|c| before.is_some() && !has(old, &c.name))
        .map(Column::of)
        .collect();
    let removed = old
        .iter()
        .filter(|c| !has(&after.columns, &c.name))
        .map(Column::of)
        .collect();
    let retyped = after
        .columns
        .iter()
        .filter_map(|c| {
            let was = old.iter().find(|o| o.name == c.name)?;
            (was.data_type != c.data_type).then(|| Retyped {
                name: c.name.clone(),
                from: was.data_type.clone(),
                to: c.data_type.clone(),
            })
        })
        .collect();
    SchemaChange {
        at: moment(after.taken_at),
        first: before.is_none(),
        columns: after.columns.len(),
        added,
        removed,
        retyped,
    }
}

/// A dataset one edge away in the lineage graph.
#[derive(Debug, Serialize)]
struct Neighbour {
    name: String,
    /// Its dashboard page, when the project declares it.
    link: Option<String>,
    health: &'static str,
    owner: Option<String>,
}

/// The datasets one edge `direction` of `dataset`, by name.
fn neighbours(
    project: &Project,
    dataset: &Dataset,
    latest: &Latest,
    lineage: &Graph,
    direction: Direction,
) -> Vec<Neighbour> {
    let start = normalize(&dataset.name);
    lineage
        .impact(&start, direction, Some(1))
        .into_iter()
        .filter(|(_, distance)| *distance == 1)
        .map(|(name, _)| {
            let declared = lineage
                .node(&name)
                .and_then(|node| node.dataset.as_deref())
                .and_then(|declared| project.datasets.iter().find(|d| d.name == declared));
            let health = declared.map_or(Health::Unknown, |d| {
                Health::of(latest.of(d).map(|r| r.result.outcome))
            });
            Neighbour {
                link: declared.map(|d| dataset_link("", &d.name)),
                health: health.as_str(),
                owner: declared.and_then(|d| d.owner.clone()),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;

    fn snapshot(hours: i64, columns: &[(&str, &str)]) -> SchemaSnapshot {
        SchemaSnapshot {
            dataset: "orders".into(),
            warehouse: "main".into(),
            run_id: Uuid::nil(),
            taken_at: DateTime::UNIX_EPOCH + TimeDelta::hours(hours),
            columns: columns
                .iter()
                .map(|(name, data_type)| SnapshotColumn {
                    name: (*name).into(),
                    data_type: (*data_type).into(),
                })
                .collect(),
        }
    }

    fn names(columns: &[Column]) -> Vec<&str> {
        columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn each_change_lists_added_removed_and_retyped_columns() {
        let history = [
            snapshot(2, &[("id", "bigint"), ("status", "text"), ("note", "text")]),
            snapshot(
                1,
                &[("id", "integer"), ("status", "text"), ("amount", "numeric")],
            ),
            snapshot(0, &[("id", "integer"), ("status", "text")]),
        ];
        let changes = schema_changes(&history);
        assert_eq!(changes.len(), 3);

        let newest = &changes[0];
        assert_eq!(newest.at, "1970-01-01 02:00 UTC");
        assert!(!newest.first);
        assert_eq!(names(&newest.added), ["note"]);
        assert_eq!(names(&newest.removed), ["amount"]);
        assert_eq!(
            newest.retyped,
            [Retyped {
                name: "id".into(),
                from: "integer".into(),
                to: "bigint".into(),
            }]
        );

        assert_eq!(names(&changes[1].added), ["amount"]);
        assert!(changes[1].removed.is_empty() && changes[1].retyped.is_empty());

        // The oldest is where the history starts, not a change of every column.
        let oldest = &changes[2];
        assert!(oldest.first);
        assert_eq!(oldest.columns, 2);
        assert!(oldest.added.is_empty() && oldest.removed.is_empty());
    }

    #[test]
    fn reordered_columns_are_no_column_change() {
        let history = [
            snapshot(1, &[("b", "text"), ("a", "text")]),
            snapshot(0, &[("a", "text"), ("b", "text")]),
        ];
        let change = &schema_changes(&history)[0];
        assert!(change.added.is_empty() && change.removed.is_empty());
        assert!(change.retyped.is_empty());
        assert!(schema_changes(&[]).is_empty());
    }
}
