//! `GET /lineage`: the dataset graph drawn on the server ([`super::graph`]), whole or
//! around one dataset (`?dataset=&depth=`, upstream and downstream), each box coloured by
//! the dataset's health and linking to its page, with the same nodes as a table beside it
//! (readable without the picture, and searchable in the browser).
//!
//! Hundreds of boxes are no longer readable, so `?collapse=schema|warehouse` draws one box
//! per group, with its worst health, and a graph over [`AUTO_COLLAPSE`] nodes is grouped by
//! schema unless `collapse=none` asks for every node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::graph::{Shape, draw};
use super::{Dashboard, PageError, Viewer};
use crate::alerts::dataset_link;
use crate::lineage::{Graph, Node, normalize};
use crate::spec::Project;
use crate::web::{AppState, Health, Latest, Redactor};

/// How many edges away from the dataset the page reaches when no depth is given.
const DEFAULT_DEPTH: usize = 2;
/// Far enough for any real pipeline; a bound so that a typo is a clear 400.
const MAX_DEPTH: usize = 50;
/// Above this many nodes, the graph is grouped by schema unless asked otherwise.
const AUTO_COLLAPSE: usize = 300;
/// How many cycles the page names (the rest are counted).
const CYCLES_SHOWN: usize = 10;

/// `?dataset=&depth=&collapse=`; empty values mean the default, as a submitted form sends.
#[derive(Debug, Default, Deserialize)]
pub struct LineageQuery {
    dataset: Option<String>,
    depth: Option<String>,
    collapse: Option<String>,
}

/// How boxes are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Collapse {
    /// Grouped by schema only when the graph is large.
    Auto,
    None,
    Schema,
    Warehouse,
}

impl Collapse {
    const CHOICES: [(Collapse, &'static str, &'static str); 4] = [
        (Collapse::Auto, "", "automatic"),
        (Collapse::None, "none", "none"),
        (Collapse::Schema, "schema", "by schema"),
        (Collapse::Warehouse, "warehouse", "by warehouse"),
    ];

    fn parse(value: &str) -> Option<Collapse> {
        Collapse::CHOICES
            .iter()
            .find(|(_, spelled, _)| *spelled == value)
            .map(|(collapse, _, _)| *collapse)
    }

    /// The group a node belongs to, or `None` when nodes are not grouped.
    fn group(self, node: &Node) -> Option<&str> {
        match self {
            Collapse::Auto | Collapse::None => None,
            // Everything before the last dot; names without one share the empty schema.
            Collapse::Schema => Some(node.name.rsplit_once('.').map_or("", |(schema, _)| schema)),
            Collapse::Warehouse => Some(node.warehouse.as_deref().unwrap_or("")),
        }
    }

    fn groups(self) -> bool {
        matches!(self, Collapse::Schema | Collapse::Warehouse)
    }
}

/// The query, checked.
#[derive(Debug, PartialEq)]
struct Request {
    dataset: Option<String>,
    depth: usize,
    collapse: Collapse,
}

impl Request {
    fn parse(query: LineageQuery) -> Result<Request, PageError> {
        let given = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let depth = match given(query.depth) {
            None => DEFAULT_DEPTH,
            Some(depth) => depth
                .trim()
                .parse()
                .ok()
                .filter(|d| (1..=MAX_DEPTH).contains(d))
                .ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "The depth must be a whole number from 1 to {MAX_DEPTH}, not {depth:?}."
                    ))
                })?,
        };
        let collapse = match given(query.collapse) {
            None => Collapse::Auto,
            Some(collapse) => Collapse::parse(&collapse).ok_or_else(|| {
                PageError::BadRequest(format!(
                    "Collapse must be none, schema or warehouse, not {collapse:?}."
                ))
            })?,
        };
        Ok(Request {
            dataset: given(query.dataset).map(|d| normalize(&d)),
            depth,
            collapse,
        })
    }

    /// This page again with every node drawn, not grouped.
    fn ungrouped(&self) -> String {
        match &self.dataset {
            None => "/lineage?collapse=none".to_owned(),
            Some(dataset) => format!(
                "/lineage?dataset={}&depth={}&collapse=none",
                query_value(dataset),
                self.depth
            ),
        }
    }
}

/// The lineage page around `dataset` (its name percent-encoded).
pub(super) fn around_link(dataset: &str) -> String {
    format!("/lineage?dataset={}", query_value(dataset))
}

/// `value` percent-encoded for a query string: the encoding of a dataset page's path
/// segment, which leaves only unreserved characters.
fn query_value(value: &str) -> String {
    let link = dataset_link("", value);
    link.strip_prefix("/datasets/").unwrap_or(&link).to_owned()
}

/// A node of the graph shown, with what the page says of it.
struct Entry<'g> {
    node: &'g Node,
    health: Health,
    /// Direct neighbours in the whole graph (not only the part shown).
    upstream: usize,
    downstream: usize,
}

/// Worse health ranks higher; a dataset without results does not hide its group's health.
fn rank(health: Health) -> u8 {
    match health {
        Health::Unknown => 0,
        Health::Pass => 1,
        Health::Warn => 2,
        Health::Fail => 3,
        Health::Error => 4,
    }
}

/// The current health of each declared dataset, by its name in the graph (the worst, should
/// two warehouses declare the same name).
fn healths(project: &Project, latest: &Latest) -> HashMap<String, Health> {
    let mut healths = HashMap::new();
    for dataset in &project.datasets {
        let health = Health::of(latest.of(dataset).map(|r| r.result.outcome));
        healths
            .entry(normalize(&dataset.name))
            .and_modify(|known: &mut Health| {
                if rank(health) > rank(*known) {
                    *known = health;
                }
            })
            .or_insert(health);
    }
    healths
}

/// The distinct `(upstream, downstream)` pairs of a graph (edges are kept per source).
fn pairs(graph: &Graph) -> BTreeSet<(&str, &str)> {
    graph
        .edges()
        .map(|e| (e.upstream.as_str(), e.downstream.as_str()))
        .collect()
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    link: Option<String>,
    /// This page drawn around the node.
    around: String,
    health: &'static str,
    warehouse: Option<String>,
    upstream: usize,
    downstream: usize,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct Form {
    dataset: String,
    depth: usize,
    max_depth: usize,
    collapses: Vec<Choice>,
    /// Every node, for the dataset field's suggestions.
    names: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Focus {
    name: String,
    link: Option<String>,
    depth: usize,
}

/// `GET /lineage`.
#[derive(Debug, Serialize)]
pub struct LineagePage {
    title: String,
    form: Form,
    focus: Option<Focus>,
    /// What the drawing shows, in words.
    summary: String,
    /// Set when a large graph was grouped without being asked: the link to every node.
    full_graph: Option<String>,
    /// The SVG markup, escaped by [`draw`]; none for an empty graph.
    svg: Option<String>,
    rows: Vec<Row>,
    cycles: Vec<String>,
    more_cycles: usize,
    problems: Vec<String>,
}

impl LineagePage {
    /// The page for `request` over the `whole` graph; `problems` already redacted.
    fn new(
        whole: &Graph,
        healths: &HashMap<String, Health>,
        problems: Vec<String>,
        request: &Request,
    ) -> Result<LineagePage, PageError> {
        let part = match &request.dataset {
            None => None,
            Some(name) if whole.node(name).is_none() => {
                return Err(PageError::NotFound(format!(
                    "There is no dataset named {name:?} in the lineage graph."
                )));
            }
            Some(name) => {
                let reached =
                    whole.impact(name, crate::lineage::Direction::Both, Some(request.depth));
                Some(whole.subgraph(&reached.keys().cloned().collect()))
            }
        };
        let shown = part.as_ref().unwrap_or(whole);
        let entries = entries(whole, shown, healths);
        let collapse = match request.collapse {
            Collapse::Auto if entries.len() > AUTO_COLLAPSE => Collapse::Schema,
            other => other,
        };
        let edges = pairs(shown);
        let (shapes, boxed) = boxes(&entries, &edges, collapse, request.dataset.as_deref());
        let cycles = shown.cycles();
        Ok(LineagePage {
            title: request
                .dataset
                .as_ref()
                .map_or("Lineage".to_owned(), |name| format!("Lineage of {name}")),
            form: Form::new(whole, request),
            focus: request.dataset.as_ref().map(|name| Focus {
                link: shown
                    .node(name)
                    .and_then(|n| n.dataset.as_deref())
                    .map(|d| dataset_link("", d)),
                name: name.clone(),
                depth: request.depth,
            }),
            summary: summary(entries.len(), edges.len(), collapse, shapes.len()),
            full_graph: (request.collapse != collapse).then(|| request.ungrouped()),
            svg: (!shapes.is_empty()).then(|| draw(&title_of(request), &shapes, &boxed)),
            rows: entries.iter().map(Row::of).collect(),
            more_cycles: cycles.len().saturating_sub(CYCLES_SHOWN),
            cycles: cycles
                .iter()
                .take(CYCLES_SHOWN)
                .map(|cycle| cycle.join(" → "))
                .collect(),
            problems,
        })
    }
}

impl Form {
    fn new(whole: &Graph, request: &Request) -> Form {
        Form {
            dataset: request.dataset.clone().unwrap_or_default(),
            depth: request.depth,
            max_depth: MAX_DEPTH,
            collapses: Collapse::CHOICES
                .iter()
                .map(|&(collapse, value, label)| Choice {
                    value,
                    label,
                    selected: collapse == request.collapse,
                })
                .collect(),
            names: whole.nodes().map(|n| n.name.clone()).collect(),
        }
    }
}

impl Row {
    fn of(entry: &Entry) -> Row {
        Row {
            name: entry.node.name.clone(),
            link: entry.node.dataset.as_deref().map(|d| dataset_link("", d)),
            around: around_link(&entry.node.name),
            health: entry.health.as_str(),
            warehouse: entry.node.warehouse.clone(),
            upstream: entry.upstream,
            downstream: entry.downstream,
        }
    }
}

fn title_of(request: &Request) -> String {
    match &request.dataset {
        None => "Lineage of every dataset".to_owned(),
        Some(name) => format!("Lineage of {name}, {} edges either way", request.depth),
    }
}

fn summary(nodes: usize, edges: usize, collapse: Collapse, boxes: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let counted = format!(
        "{}, {}",
        plural(nodes, "dataset", "datasets"),
        plural(edges, "edge", "edges")
    );
    match collapse {
        Collapse::Auto | Collapse::None => counted,
        Collapse::Schema => format!("{counted}, drawn as {}", plural(boxes, "schema", "schemas")),
        Collapse::Warehouse => {
            format!(
                "{counted}, drawn as {}",
                plural(boxes, "warehouse", "warehouses")
            )
        }
    }
}

/// The nodes of `shown`, by name, with their health and direct neighbours in `whole`.
fn entries<'g>(
    whole: &Graph,
    shown: &'g Graph,
    healths: &HashMap<String, Health>,
) -> Vec<Entry<'g>> {
    let mut degree: HashMap<&str, (usize, usize)> = HashMap::new();
    for (upstream, downstream) in pairs(whole) {
        degree.entry(downstream).or_default().0 += 1;
        degree.entry(upstream).or_default().1 += 1;
    }
    shown
        .nodes()
        .map(|node| {
            let (upstream, downstream) =
                degree.get(node.name.as_str()).copied().unwrap_or_default();
            Entry {
                node,
                // Only declared datasets have results; nodes other sources report do not.
                health: healths.get(&node.name).copied().unwrap_or(Health::Unknown),
                upstream,
                downstream,
            }
        })
        .collect()
}

/// The boxes to draw and the edges between them: one per node, or one per group.
fn boxes(
    entries: &[Entry],
    edges: &BTreeSet<(&str, &str)>,
    collapse: Collapse,
    focus: Option<&str>,
) -> (Vec<Shape>, Vec<(usize, usize)>) {
    let mut groups: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for entry in entries {
        let key = collapse.group(entry.node).unwrap_or(&entry.node.name);
        groups.entry(key).or_default().push(entry);
    }
    let grouped = collapse.groups();
    let shapes = groups
        .iter()
        .map(|(key, members)| match members.as_slice() {
            [entry] if !grouped => single(entry, focus),
            _ => group(key, collapse, members, focus),
        })
        .collect();
    let box_of: HashMap<&str, usize> = groups
        .values()
        .enumerate()
        .flat_map(|(b, members)| members.iter().map(move |m| (m.node.name.as_str(), b)))
        .collect();
    let joined: BTreeSet<(usize, usize)> = edges
        .iter()
        .filter_map(|(upstream, downstream)| {
            Some((*box_of.get(upstream)?, *box_of.get(downstream)?))
        })
        // Edges inside a group vanish into its box; a node's own loop stays.
        .filter(|(from, to)| from != to || !grouped)
        .collect();
    (shapes, joined.into_iter().collect())
}

fn single(entry: &Entry, focus: Option<&str>) -> Shape {
    let name = &entry.node.name;
    Shape {
        label: name.clone(),
        title: format!("{name}: {}", entry.health.as_str()),
        health: entry.health.as_str(),
        link: entry.node.dataset.as_deref().map(|d| dataset_link("", d)),
        focus: focus == Some(name.as_str()),
    }
}

fn group(key: &str, collapse: Collapse, members: &[&Entry], focus: Option<&str>) -> Shape {
    let health = members
        .iter()
        .map(|m| m.health)
        .max_by_key(|h| rank(*h))
        .unwrap_or(Health::Unknown);
    let name = match (key, collapse) {
        ("", Collapse::Warehouse) => "(no warehouse)",
        ("", _) => "(no schema)",
        (key, _) => key,
    };
    Shape {
        label: format!("{name} ({})", members.len()),
        title: format!(
            "{name}: {} datasets, worst health {}",
            members.len(),
            health.as_str()
        ),
        health: health.as_str(),
        link: None,
        focus: members.iter().any(|m| focus == Some(m.node.name.as_str())),
    }
}

/// `GET /lineage?dataset=&depth=&collapse=`
pub(super) async fn page(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    query: Result<Query<LineageQuery>, QueryRejection>,
) -> Response {
    dashboard.respond(&viewer, lineage_page(&dashboard.state, query).await)
}

async fn lineage_page(
    state: &AppState,
    query: Result<Query<LineageQuery>, QueryRejection>,
) -> Result<(&'static str, LineagePage), PageError> {
    let Query(query) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let request = Request::parse(query)?;
    let project = state.project();
    let (graph, problems) = state.lineage_graph().await?;
    let latest = Latest::current(state).await?;
    let redactor = Redactor::new(&project);
    let problems = problems.iter().map(|p| redactor.text(p)).collect();
    let page = LineagePage::new(&graph, &healths(&project, &latest), problems, &request)?;
    Ok(("lineage", page))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::lineage::{Edge, Source};

    /// A graph of these edges, nodes named `*.declared` being the project's datasets.
    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::default();
        for (upstream, downstream) in edges {
            graph.add_edge(Edge::seen(
                upstream,
                downstream,
                Source::Declared,
                Utc::now(),
            ));
        }
        let names: Vec<String> = graph.nodes().map(|n| n.name.clone()).collect();
        for name in names.iter().filter(|n| n.ends_with("declared")) {
            graph.add_node(name, Some("main"), Some(name));
        }
        graph
    }

    fn request(query: &[(&str, &str)]) -> Result<Request, PageError> {
        let value = |key: &str| {
            query
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        Request::parse(LineageQuery {
            dataset: value("dataset"),
            depth: value("depth"),
            collapse: value("collapse"),
        })
    }

    fn page(graph: &Graph, healths: &[(&str, Health)], query: &[(&str, &str)]) -> LineagePage {
        let healths = healths.iter().map(|(n, h)| (n.to_string(), *h)).collect();
        let request = request(query).unwrap_or_else(|e| panic!("{e:?}"));
        LineagePage::new(graph, &healths, Vec::new(), &request).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn bad_request(query: &[(&str, &str)]) -> String {
        match request(query) {
            Err(PageError::BadRequest(text)) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queries_default_and_bad_values_are_400s() {
        let plain = request(&[("dataset", ""), ("depth", ""), ("collapse", "")]).ok();
        let expected = Request {
            dataset: None,
            depth: DEFAULT_DEPTH,
            collapse: Collapse::Auto,
        };
        assert_eq!(plain, Some(expected));
        let given = request(&[
            ("dataset", " a.b "),
            ("depth", "3"),
            ("collapse", "warehouse"),
        ]);
        assert_eq!(
            given.ok().map(|r| (r.dataset, r.depth, r.collapse)),
            Some((Some("a.b".into()), 3, Collapse::Warehouse))
        );
        for depth in ["0", "-1", "two", "51"] {
            assert!(
                bad_request(&[("depth", depth)]).contains("from 1 to 50"),
                "{depth}"
            );
        }
        assert!(bad_request(&[("collapse", "table")]).contains("\"table\""));
    }

    #[test]
    fn collapsing_merges_groups_with_their_worst_health_and_edges() {
        let g = graph(&[
            ("raw.a", "raw.b"),
            ("raw.b", "mart.declared"),
            ("raw.a", "mart.declared"),
            ("mart.declared", "nodot"),
        ]);
        let healths = HashMap::from([("mart.declared".to_owned(), Health::Warn)]);
        let entries = entries(&g, &g, &healths);
        let edges = pairs(&g);
        let (shapes, joined) = boxes(&entries, &edges, Collapse::Schema, Some("raw.b"));
        let seen: Vec<(&str, &str, bool)> = shapes
            .iter()
            .map(|s| (s.label.as_str(), s.health, s.focus))
            .collect();
        assert_eq!(
            seen,
            [
                ("(no schema) (1)", "unknown", false),
                ("mart (1)", "warn", false),
                ("raw (2)", "unknown", true)
            ]
        );
        // raw.a→raw.b disappears inside `raw`; the two edges into `mart` become one.
        assert_eq!(joined, [(1, 0), (2, 1)]);
        assert!(shapes.iter().all(|s| s.link.is_none()));

        let (shapes, joined) = boxes(&entries, &edges, Collapse::Warehouse, None);
        let labels: Vec<&str> = shapes.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["(no warehouse) (3)", "main (1)"]);
        assert_eq!(joined, [(0, 1), (1, 0)]);

        let (shapes, joined) = boxes(&entries, &edges, Collapse::None, None);
        assert_eq!(shapes.len(), 4);
        assert_eq!(joined.len(), 4);
        assert_eq!(shapes[0].link.as_deref(), Some("/datasets/mart.declared"));
    }

    #[test]
    fn depth_narrows_the_graph_around_a_dataset() {
        let g = graph(&[
            ("a", "b"),
            ("b", "c.declared"),
            ("c.declared", "d"),
            ("d", "e"),
        ]);
        let whole = page(&g, &[], &[]);
        assert_eq!(whole.rows.len(), 5);
        let near = page(&g, &[], &[("dataset", "c.declared"), ("depth", "1")]);
        let names: Vec<&str> = near.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "c.declared", "d"]);
        // Counts are of the whole graph, not only what is shown.
        assert_eq!((near.rows[0].upstream, near.rows[0].downstream), (1, 1));
        let focus = near.focus.as_ref().map(|f| f.link.clone());
        assert_eq!(focus, Some(Some("/datasets/c.declared".into())));
        assert!(
            near.svg
                .as_deref()
                .is_some_and(|svg| svg.contains(" focus\">"))
        );
        let wider = page(&g, &[], &[("dataset", "c.declared"), ("depth", "2")]);
        assert_eq!(wider.rows.len(), 5);
        let missing = request(&[("dataset", "<nowhere>")])
            .and_then(|r| LineagePage::new(&g, &HashMap::new(), Vec::new(), &r));
        assert!(
            matches!(missing, Err(PageError::NotFound(text)) if text.contains("\"<nowhere>\""))
        );
    }

    #[test]
    fn large_graphs_are_grouped_unless_asked_and_cycles_are_named() {
        let names: Vec<String> = (0..=AUTO_COLLAPSE)
            .map(|i| format!("s{}.t{i}", i % 7))
            .collect();
        let mut edges: Vec<(&str, &str)> = names.windows(2).map(|w| (&*w[0], &*w[1])).collect();
        edges.push((&names[3], &names[0]));
        let g = graph(&edges);
        let grouped = page(&g, &[], &[]);
        assert_eq!(
            grouped.full_graph.as_deref(),
            Some("/lineage?collapse=none")
        );
        assert!(
            grouped.summary.ends_with("drawn as 7 schemas"),
            "{}",
            grouped.summary
        );
        assert_eq!(grouped.rows.len(), AUTO_COLLAPSE + 1);
        assert_eq!(grouped.cycles, ["s0.t0 → s1.t1 → s2.t2 → s3.t3 → s0.t0"]);
        let every = page(&g, &[], &[("collapse", "none")]);
        assert!(every.full_graph.is_none());
        assert!(!every.summary.contains("drawn as"));
        let around = page(&g, &[], &[("dataset", "s1.t1"), ("collapse", "")]);
        assert!(
            around.full_graph.is_none(),
            "a small neighbourhood is not grouped"
        );
        assert_eq!(
            Request {
                dataset: Some("a b&c".into()),
                depth: 3,
                collapse: Collapse::Auto,
            }
            .ungrouped(),
            "/lineage?dataset=a%20b%26c&depth=3&collapse=none"
        );
    }
}
