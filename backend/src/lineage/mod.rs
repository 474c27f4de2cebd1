//! Lineage: which datasets feed which, so that a broken dataset's impact (everything
//! downstream) and a failure's possible causes (everything upstream) can be shown.
//!
//! The graph is fed from four places, each edge remembering which:
//!
//! | source        | where from                                  | kept                    |
//! |---------------|---------------------------------------------|-------------------------|
//! | `declared`    | dataset files' `upstream:` lists            | derived on each build   |
//! | `openlineage` | run events posted to `POST /api/v1/lineage` | in the store            |
//! | `view`        | view definitions read from each warehouse   | read by `tidemark lineage` |
//! | `dbt`         | the `manifest.json` named in `tidemark.yml` | read on each build      |
//!
//! Sources name datasets differently (`workshop.public.orders` from OpenLineage, `orders`
//! in a dataset file), so a name that ends with a declared dataset's name (on a dot) and is
//! not itself declared is taken as that dataset: the most specific such dataset wins.
//!
//! | module        | owns                                                   |
//! |---------------|--------------------------------------------------------|
//! | `graph`       | nodes, edges, impact walks, cycles                     |
//! | `views`       | tables a view definition reads (sqlparser)             |
//! | `openlineage` | run events and the job edges they leave                |
//! | `dbt`         | manifest models, seeds, snapshots and sources          |
//! | `emit`        | OpenLineage events of Tidemark's own runs, posted out  |
//! | `json`        | reading other tools' JSON with paths in every message  |

pub mod emit;
mod graph;
mod openlineage;
mod views;

pub use crate::formats::dbt::{ManifestCache, ManifestError, stamp as manifest_stamp};
pub use graph::{Direction, Edge, Graph, Node, Source, normalize};
pub use openlineage::{EventError, RunEvent};
pub use views::{ViewError, view_tables};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::spec::Project;
use crate::warehouse::Views;

/// Builds a project's graph from its sources. Problems with one source (an unreadable
/// manifest, a view that does not parse) are collected, not fatal: the other sources still
/// make a graph.
pub struct Builder {
    graph: Graph,
    /// Declared dataset name → its warehouse.
    datasets: BTreeMap<String, String>,
    problems: Vec<String>,
    now: DateTime<Utc>,
}

impl Builder {
    /// The project's datasets and their declared edges (seen `now`), and the dbt manifest's
    /// edges when `lineage.dbt_manifest` names one (read through `manifests`).
    pub fn new(project: &Project, now: DateTime<Utc>, manifests: &ManifestCache) -> Builder {
        let mut builder = Builder {
            graph: Graph::default(),
            datasets: project
                .datasets
                .iter()
                .map(|d| (normalize(&d.name), d.warehouse.clone()))
                .collect(),
            problems: Vec::new(),
            now,
        };
        for dataset in &project.datasets {
            let name = normalize(&dataset.name);
            builder
                .graph
                .add_node(&name, Some(&dataset.warehouse), Some(&dataset.name));
            for upstream in &dataset.upstream {
                let upstream = builder.resolve(upstream, None);
                builder
                    .graph
                    .add_edge(Edge::seen(&upstream, &name, Source::Declared, now));
            }
        }
        if let Some(path) = &project.lineage.dbt_manifest {
            match manifests.read(path, now) {
                Ok(dependencies) => builder.edges(
                    dependencies
                        .iter()
                        .map(|d| Edge::seen(&d.upstream, &d.downstream, Source::Dbt, d.at))
                        .collect(),
                ),
                Err(problem) => builder.problems.push(problem.to_string()),
            }
        }
        builder
    }

    /// Adds edges as stored (OpenLineage jobs are joined into dataset edges here).
    pub fn edges(&mut self, edges: Vec<Edge>) {
        for edge in openlineage::collapse_jobs(edges) {
            self.add(edge);
        }
    }

    /// Adds the views of `warehouse` and the tables each reads; a view that cannot be read
    /// is a problem, and the others are still added.
    pub fn views(&mut self, warehouse: &str, views: &Views) {
        for view in &views.views {
            match view_tables(view, views.dialect, &views.default_schema) {
                Ok(tables) => {
                    let name = self.resolve(&view.qualified_name(), Some(warehouse));
                    self.graph.add_node(&name, Some(warehouse), None);
                    for table in tables {
                        let upstream = self.resolve(&table, Some(warehouse));
                        self.graph.add_node(&upstream, Some(warehouse), None);
                        let edge = Edge::seen(&upstream, &name, Source::View, self.now);
                        self.graph.add_edge(edge);
                    }
                }
                Err(problem) => self
                    .problems
                    .push(format!("warehouse {warehouse}: {problem}")),
            }
        }
    }

    fn add(&mut self, edge: Edge) {
        let upstream = self.resolve(&edge.upstream, None);
        let downstream = self.resolve(&edge.downstream, None);
        self.graph.add_edge(Edge {
            upstream,
            downstream,
            ..edge
        });
    }

    /// The declared dataset a name stands for, or the name itself (see the module docs).
    fn resolve(&self, name: &str, warehouse: Option<&str>) -> String {
        let name = normalize(name);
        if self.datasets.contains_key(&name) {
            return name;
        }
        self.datasets
            .iter()
            .filter(|(dataset, _)| {
                name.strip_suffix(dataset.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
            })
            .filter(|(_, home)| warehouse.is_none_or(|w| w == home.as_str()))
            .max_by_key(|(dataset, _)| dataset.len())
            .map_or(name.clone(), |(dataset, _)| dataset.clone())
    }

    /// The graph, and the problems met building it.
    pub fn finish(self) -> (Graph, Vec<String>) {
        (self.graph, self.problems)
    }
}

/// A graph as the API and `tidemark lineage --format json` print it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub nodes: Vec<ReportNode>,
    pub edges: Vec<Edge>,
    /// Each cycle among these nodes as a path from a node back to itself.
    pub cycles: Vec<Vec<String>>,
    /// Sources that could not be read (the graph is built from the others).
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ReportNode {
    #[serde(flatten)]
    pub node: Node,
    /// Edges away from the dataset asked about (0: itself); null when none was.
    pub distance: Option<usize>,
}

impl Report {
    /// The graph's nodes (with their distances, when a walk found them) and edges.
    pub fn new(
        graph: &Graph,
        distances: &BTreeMap<String, usize>,
        problems: Vec<String>,
    ) -> Report {
        Report {
            nodes: graph
                .nodes()
                .map(|node| ReportNode {
                    node: node.clone(),
                    distance: distances.get(&node.name).copied(),
                })
                .collect(),
            edges: graph.edges().cloned().collect(),
            cycles: graph.cycles(),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::{Dialect, View};

    /// A project with `shop.orders` and `orders` on `main`, and `refunds` on `other`.
    fn project(dir: &std::path::Path) -> Project {
        let write = |path: &str, text: &str| {
            std::fs::create_dir_all(dir.join("checks")).ok();
            std::fs::write(dir.join(path), text).ok();
        };
        write(
            "tidemark.yml",
            "version: 1\nwarehouses:\n  main: { url: 'sqlite://a.db' }\n  \
             other: { url: 'sqlite://b.db' }\n",
        );
        write(
            "checks/a.yml",
            "dataset: shop.orders\nwarehouse: main\nchecks: []\n",
        );
        write(
            "checks/b.yml",
            "dataset: orders\nwarehouse: main\nupstream: [raw.events]\nchecks: []\n",
        );
        write(
            "checks/c.yml",
            "dataset: refunds\nwarehouse: other\nchecks: []\n",
        );
        crate::spec::load_with_env(dir, &|_| None).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn pairs(graph: &Graph) -> Vec<(String, String, Source)> {
        graph
            .edges()
            .map(|e| (e.upstream.clone(), e.downstream.clone(), e.source))
            .collect()
    }

    #[test]
    fn names_from_other_sources_resolve_to_the_most_specific_declared_dataset() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        let mut builder = Builder::new(&project(dir.path()), now, &ManifestCache::default());
        builder.edges(vec![
            Edge::seen("db.shop.orders", "x.orders", Source::OpenLineage, now),
            Edge::seen("db.refunds", "borders", Source::OpenLineage, now),
        ]);
        let views = Views {
            dialect: Dialect::SQLITE,
            default_schema: "main".into(),
            views: vec![
                View {
                    schema: "main".into(),
                    name: "v".into(),
                    sql: "CREATE VIEW v AS SELECT * FROM refunds JOIN orders USING (id)".into(),
                },
                View {
                    schema: "main".into(),
                    name: "broken".into(),
                    sql: "CREATE VIEW broken AS SELEC".into(),
                },
            ],
        };
        builder.views("main", &views);
        let (graph, problems) = builder.finish();
        assert_eq!(
            pairs(&graph),
            [
                // `refunds` is declared on another warehouse than the view's.
                ("main.refunds".into(), "main.v".into(), Source::View),
                ("orders".into(), "main.v".into(), Source::View),
                ("raw.events".into(), "orders".into(), Source::Declared),
                // From outside, `db.refunds` is `refunds`; `borders` is not `orders`.
                ("refunds".into(), "borders".into(), Source::OpenLineage),
                ("shop.orders".into(), "orders".into(), Source::OpenLineage),
            ]
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("warehouse main: cannot read view main.broken: "),
            "{problems:?}"
        );
        let orders = graph.node("orders").cloned();
        assert_eq!(
            orders.map(|n| (n.warehouse, n.dataset)),
            Some((Some("main".into()), Some("orders".into())))
        );
    }
}
