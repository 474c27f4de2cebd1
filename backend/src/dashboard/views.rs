//! What the templates are given: plain, already formatted values (times in UTC, numbers as
//! the CLI prints them, secrets masked), so the templates only lay them out. Built from the
//! project, the latest results and what the store returns, without I/O of their own.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chart::{Threshold, line_chart};
use super::context::Context;
use super::lineage::around_link;
use crate::alerts::{check_link, dataset_link, expectation};
use crate::lineage::Graph;
use crate::results::MetricPoint;
use crate::results::format_number;
use crate::spec::{Check, Dataset, Project};
use crate::store::{Incident, Run, SchemaSnapshot, StoredResult};
use crate::web::{Declared, Health, Latest, Redactor};

/// A time as the pages show it.
pub(super) fn moment(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An age in seconds, coarsely: `45s`, `12m`, `3h 5m`, `2d 4h`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A dataset's current state, as both pages show it.
#[derive(Debug, Serialize)]
pub struct Status {
    health: &'static str,
    /// How old the newest data was at the last run (the stalest of its freshness checks).
    freshness: Option<String>,
    last_run: Option<String>,
}

impl Status {
    fn of(latest: &Latest, dataset: &Dataset) -> (Health, Status) {
        let health = Health::of(latest.of(dataset).map(|r| r.result.outcome));
        let freshness = latest
            .of(dataset)
            .filter(|r| r.result.kind == "freshness")
            .filter_map(|r| r.result.value)
            .reduce(f64::max);
        let last_run = latest.of(dataset).map(|r| r.observed_at).max();
        let status = Status {
            health: health.as_str(),
            freshness: freshness.map(age),
            last_run: last_run.map(moment),
        };
        (health, status)
    }
}

/// How many datasets one overview page lists: most projects fit on one page, and a page
/// of thousands costs the server (and the browser) far more than it tells anyone.
pub const OVERVIEW_PAGE: usize = 500;

/// The overview's query: `?owner=&tag=&warehouse=&health=&q=&page=`; empty means any.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Filters {
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warehouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<String>,
    /// Part of the name, in any case.
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// Which page of the matching datasets, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<usize>,
}

impl Filters {
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    fn keeps(&self, dataset: &Dataset, health: Health) -> bool {
        let is = |filter: &Option<String>, value: Option<&str>| {
            Filters::given(filter).is_none_or(|wanted| value == Some(wanted))
        };
        is(&self.owner, dataset.owner.as_deref())
            && is(&self.warehouse, Some(&dataset.warehouse))
            && is(&self.health, Some(health.as_str()))
            && Filters::given(&self.tag).is_none_or(|tag| dataset.tags.iter().any(|t| t == tag))
            && Filters::given(&self.q)
                .is_none_or(|q| dataset.name.to_lowercase().contains(&q.to_lowercase()))
    }
}

/// Where the overview's page `page` of the same filters is: `/?…&page=N`.
fn page_link(filters: &Filters, page: usize) -> String {
    let filters = Filters {
        page: Some(page),
        ..filters.clone()
    };
    // Only strings and a number: encoding them cannot fail.
    format!(
        "/?{}",
        serde_urlencoded::to_string(&filters).unwrap_or_default()
    )
}

/// One page of the matching datasets, and the links to its neighbours.
#[derive(Debug, Serialize)]
struct Paging {
    /// The 1-based positions of the first and last dataset shown.
    first: usize,
    last: usize,
    previous: Option<String>,
    next: Option<String>,
}

impl Paging {
    /// The part of `matched` datasets page `filters.page` shows, when there is more than
    /// one page.
    fn of(filters: &Filters, matched: usize) -> (std::ops::Range<usize>, Option<Paging>) {
        let pages = matched.div_ceil(OVERVIEW_PAGE).max(1);
        let page = filters.page.unwrap_or(1).clamp(1, pages);
        let start = (page - 1) * OVERVIEW_PAGE;
        let range = start..matched.min(start + OVERVIEW_PAGE);
        let paging = (pages > 1).then(|| Paging {
            first: range.start + 1,
            last: range.end,
            previous: (page > 1).then(|| page_link(filters, page - 1)),
            next: (page < pages).then(|| page_link(filters, page + 1)),
        });
        (range, paging)
    }
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    selected: bool,
}

/// The options of one `<select>`: every value in use, the filtered one selected.
fn choices<'a>(values: impl Iterator<Item = &'a str>, filter: &Option<String>) -> Vec<Choice> {
    let selected = Filters::given(filter);
    values
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|value| Choice {
            value: value.to_owned(),
            selected: selected == Some(value),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct Form {
    q: String,
    owners: Vec<Choice>,
    tags: Vec<Choice>,
    warehouses: Vec<Choice>,
    healths: Vec<Choice>,
    filtered: bool,
}

impl Form {
    fn new(project: &Project, filters: &Filters) -> Form {
        let datasets = &project.datasets;
        Form {
            q: Filters::given(&filters.q).unwrap_or_default().to_owned(),
            owners: choices(
                datasets.iter().filter_map(|d| d.owner.as_deref()),
                &filters.owner,
            ),
            tags: choices(
                datasets
                    .iter()
                    .flat_map(|d| d.tags.iter().map(String::as_str)),
                &filters.tag,
            ),
            warehouses: choices(
                datasets.iter().map(|d| d.warehouse.as_str()),
                &filters.warehouse,
            ),
            healths: choices(Health::ALL.into_iter(), &filters.health),
            filtered: [
                &filters.owner,
                &filters.tag,
                &filters.warehouse,
                &filters.health,
                &filters.q,
            ]
            .into_iter()
            .any(|f| Filters::given(f).is_some()),
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    link: String,
    warehouse: String,
    owner: Option<String>,
    tags: Vec<String>,
    #[serde(flatten)]
    status: Status,
    open_incidents: usize,
}

/// `GET /`: the datasets the filters keep, in the project's order, a page at a time.
#[derive(Debug, Serialize)]
pub struct Overview {
    title: &'static str,
    form: Form,
    rows: Vec<Row>,
    /// How many datasets the filters keep (on every page).
    shown: usize,
    total: usize,
    /// Present when the datasets kept take more than one page.
    paging: Option<Paging>,
}

impl Overview {
    /// `incidents`: the latest incident of each check of the project's datasets.
    pub fn new(
        project: &Project,
        latest: &Latest,
        incidents: &[Incident],
        filters: &Filters,
    ) -> Overview {
        let mut open: HashMap<&str, usize> = HashMap::new();
        for incident in incidents.iter().filter(|i| i.status.is_active()) {
            *open.entry(incident.dataset.as_str()).or_default() += 1;
        }
        let kept: Vec<(&Dataset, Status)> = project
            .datasets
            .iter()
            .filter_map(|dataset| {
                let (health, status) = Status::of(latest, dataset);
                filters.keeps(dataset, health).then_some((dataset, status))
            })
            .collect();
        let (range, paging) = Paging::of(filters, kept.len());
        let shown = kept.len();
        let rows = kept
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .map(|(dataset, status)| Row {
                name: dataset.name.clone(),
                link: dataset_link("", &dataset.name),
                warehouse: dataset.warehouse.clone(),
                owner: dataset.owner.clone(),
                tags: dataset.tags.clone(),
                status,
                open_incidents: open.get(dataset.name.as_str()).copied().unwrap_or(0),
            })
            .collect();
        Overview {
            title: "Datasets",
            form: Form::new(project, filters),
            rows,
            shown,
            total: project.datasets.len(),
            paging,
        }
    }
}

/// A check with its latest result and its chart: on the dataset page and its own page.
#[derive(Debug, Serialize)]
pub(super) struct CheckRow {
    name: String,
    /// Its own page.
    link: String,
    kind: &'static str,
    column: Option<String>,
    description: Option<String>,
    severity: Option<&'static str>,
    outcome: Option<&'static str>,
    value: Option<String>,
    expected: Option<String>,
    message: Option<String>,
    observed_at: Option<String>,
    /// SVG markup, escaped by the chart itself.
    chart: Option<String>,
}

impl CheckRow {
    pub(super) fn new(
        dataset: &str,
        check: &Check,
        latest: Option<&StoredResult>,
        series: &[MetricPoint],
        redactor: &Redactor,
    ) -> CheckRow {
        let result = latest.map(|r| &r.result);
        CheckRow {
            name: check.name.clone(),
            link: check_link("", dataset, &check.name),
            kind: check.kind.keyword(),
            column: check.kind.column().map(str::to_owned),
            description: check.description.clone(),
            severity: check.severity.map(|s| s.as_str()),
            outcome: result.map(|r| r.outcome.as_str()),
            value: result.and_then(|r| r.value).map(format_number),
            expected: result.and_then(|r| r.expected.as_ref()).map(expectation),
            message: result.map(|r| redactor.text(&r.message)),
            observed_at: latest.map(|r| moment(r.observed_at)),
            chart: line_chart(&check.name, series, &Threshold::of(&check.thresholds)),
        }
    }
}

#[derive(Debug, Serialize)]
struct RunRow {
    started_at: String,
    trigger: &'static str,
    status: &'static str,
    /// `2 pass, 1 fail`: the outcomes of its checks.
    outcomes: String,
    /// What its queries cost the warehouse ("scanned …; 1.52s in the warehouse").
    cost: Option<String>,
    error: Option<String>,
}

impl RunRow {
    fn new(run: &Run, redactor: &Redactor) -> RunRow {
        let counts = [
            ("pass", run.summary.pass),
            ("warn", run.summary.warn),
            ("fail", run.summary.fail),
            ("error", run.summary.error),
        ];
        let outcomes = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(outcome, n)| format!("{n} {outcome}"))
            .collect::<Vec<_>>()
            .join(", ");
        RunRow {
            started_at: moment(run.started_at),
            trigger: run.trigger.as_str(),
            status: run.status.as_str(),
            outcomes,
            cost: run.cost.map(|cost| cost.describe()),
            error: run.error.as_deref().map(|e| redactor.text(e)),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct IncidentRow {
    id: i64,
    check: String,
    kind: &'static str,
    severity: &'static str,
    status: &'static str,
    opened_at: String,
    count: i64,
    message: String,
}

impl IncidentRow {
    pub(super) fn new(incident: &Incident, redactor: &Redactor) -> IncidentRow {
        IncidentRow {
            id: incident.id,
            check: incident.check.clone(),
            kind: incident.kind.as_str(),
            severity: incident.severity.as_str(),
            status: incident.status.as_str(),
            opened_at: moment(incident.opened_at),
            count: incident.count,
            message: redactor.text(&incident.message),
        }
    }
}

/// What the dataset page reads from the store besides the latest results.
pub struct History {
    /// Each check's metric series, in the order of the dataset's checks.
    pub series: Vec<Vec<MetricPoint>>,
    /// Newest first.
    pub runs: Vec<Run>,
    /// The latest incident of each of its checks that has one.
    pub incidents: Vec<Incident>,
    /// Snapshots of its table that changed shape, newest first.
    pub schema: Vec<SchemaSnapshot>,
    /// The lineage graph in force.
    pub lineage: Graph,
}

/// `GET /datasets/{name}`.
#[derive(Debug, Serialize)]
pub struct DatasetPage {
    title: String,
    #[serde(flatten)]
    declared: Declared,
    #[serde(flatten)]
    status: Status,
    checks: Vec<CheckRow>,
    runs: Vec<RunRow>,
    /// The newest finished run's cost.
    cost: Option<String>,
    incidents: Vec<IncidentRow>,
    /// The lineage page around this dataset.
    lineage_link: String,
    #[serde(flatten)]
    context: Context,
}

impl DatasetPage {
    pub fn new(project: &Project, dataset: &Dataset, latest: &Latest, history: &History) -> Self {
        let redactor = Redactor::new(project);
        let checks = dataset
            .checks
            .iter()
            .zip(&history.series)
            .map(|(check, series)| {
                let result = latest.of(dataset).find(|r| r.result.check == check.name);
                CheckRow::new(&dataset.name, check, result, series, &redactor)
            })
            .collect();
        DatasetPage {
            title: dataset.name.clone(),
            declared: Declared::of(project, dataset),
            status: Status::of(latest, dataset).1,
            checks,
            runs: history
                .runs
                .iter()
                .map(|r| RunRow::new(r, &redactor))
                .collect(),
            cost: history
                .runs
                .iter()
                .find_map(|r| r.cost)
                .map(|cost| cost.describe()),
            incidents: history
                .incidents
                .iter()
                .filter(|i| i.status.is_active())
                .map(|i| IncidentRow::new(i, &redactor))
                .collect(),
            lineage_link: around_link(&dataset.name),
            context: Context::new(
                project,
                dataset,
                latest,
                &history.series,
                &history.schema,
                &history.lineage,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_coarsely() {
        assert_eq!(age(-5.0), "0s");
        assert_eq!(age(45.0), "45s");
        assert_eq!(age(12.0 * 60.0 + 5.0), "12m");
        assert_eq!(age(3.0 * 3600.0 + 5.0 * 60.0), "3h 5m");
        assert_eq!(age(2.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "2d 4h");
    }

    #[test]
    fn the_overview_pages_keep_their_filters() {
        let filters = Filters {
            q: Some("a&b c".into()),
            health: Some("fail".into()),
            page: Some(2),
            ..Filters::default()
        };
        let (range, paging) = Paging::of(&filters, 2 * OVERVIEW_PAGE + 1);
        assert_eq!(range, OVERVIEW_PAGE..2 * OVERVIEW_PAGE);
        let paging = paging.expect("three pages");
        assert_eq!(
            (paging.first, paging.last),
            (OVERVIEW_PAGE + 1, 2 * OVERVIEW_PAGE)
        );
        assert_eq!(
            paging.previous.as_deref(),
            Some("/?health=fail&q=a%26b+c&page=1")
        );
        assert_eq!(
            paging.next.as_deref(),
            Some("/?health=fail&q=a%26b+c&page=3")
        );
        // The last page is short; a page past the end shows the last one.
        let beyond = Filters {
            page: Some(9),
            ..filters.clone()
        };
        let (range, paging) = Paging::of(&beyond, 2 * OVERVIEW_PAGE + 1);
        assert_eq!(range, 2 * OVERVIEW_PAGE..2 * OVERVIEW_PAGE + 1);
        assert!(paging.is_some_and(|p| p.next.is_none() && p.previous.is_some()));
        // One page: no paging at all.
        let (range, paging) = Paging::of(&Filters::default(), 3);
        assert_eq!(range, 0..3);
        assert!(paging.is_none());
    }

    #[test]
    fn choices_are_distinct_sorted_and_selected() {
        let wanted = Some("b".to_owned());
        let choices = choices(["b", "a", "b"].into_iter(), &wanted);
        let seen: Vec<(&str, bool)> = choices
            .iter()
            .map(|c| (c.value.as_str(), c.selected))
            .collect();
        assert_eq!(seen, [("a", false), ("b", true)]);
    }
}
