//! The dataset graph: nodes keyed by a normalized name, edges from upstream to downstream
//! that remember which source reported them and when. Every walk keeps a visited set, so a
//! cycle in what the sources report (views reading each other, a job writing its own input)
//! ends a walk instead of looping; [`Graph::cycles`] reports each cycle as a path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where an edge came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A dataset file's `upstream:` list.
    Declared,
    /// An OpenLineage run event posted to the API.
    OpenLineage,
    /// A view definition read from a warehouse.
    View,
    /// A dbt `manifest.json`.
    Dbt,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Declared,
        Source::OpenLineage,
        Source::View,
        Source::Dbt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Declared => "declared",
            Source::OpenLineage => "openlineage",
            Source::View => "view",
            Source::Dbt => "dbt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }
}

/// `upstream` feeds `downstream`, as `source` reported between `first_seen` and `last_seen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub upstream: String,
    pub downstream: String,
    pub source: Source,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl Edge {
    /// An edge seen once, at `at`.
    pub fn seen(upstream: &str, downstream: &str, source: Source, at: DateTime<Utc>) -> Edge {
        Edge {
            upstream: normalize(upstream),
            downstream: normalize(downstream),
            source,
            first_seen: at,
            last_seen: at,
        }
    }
}

/// A dataset of the graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    /// The warehouse it lives in, when a source says (a declared dataset, a view).
    pub warehouse: Option<String>,
    /// The project's dataset of that name, when it declares one.
    pub dataset: Option<String>,
}

/// Which way a walk goes from a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// What feeds it, to any depth.
    Upstream,
    /// What it feeds: who is hit when it breaks.
    Downstream,
    Both,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }
}

/// A dataset name as the graph keys it: surrounding blanks trimmed. Names keep their case:
/// warehouses differ in how they fold it, and each source already reports the name the
/// warehouse uses.
pub fn normalize(name: &str) -> String {
    name.trim().to_owned()
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
    /// One edge per (upstream, downstream, source), with the widest time span reported.
    edges: BTreeMap<(String, String, Source), Edge>,
    downstream: BTreeMap<String, BTreeSet<String>>,
    upstream: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Adds a node, or fills in the warehouse and dataset of one already there.
    pub fn add_node(&mut self, name: &str, warehouse: Option<&str>, dataset: Option<&str>) {
        let node = self.node_entry(name);
        if node.warehouse.is_none() {
            node.warehouse = warehouse.map(str::to_owned);
        }
        if node.dataset.is_none() {
            node.dataset = dataset.map(str::to_owned);
        }
    }

    /// Adds an edge (and its nodes). The same edge from the same source again widens its
    /// time span.
    pub fn add_edge(&mut self, edge: Edge) {
        self.node_entry(&edge.upstream);
        self.node_entry(&edge.downstream);
        self.downstream
            .entry(edge.upstream.clone())
            .or_default()
            .insert(edge.downstream.clone());
        self.upstream
            .entry(edge.downstream.clone())
            .or_default()
            .insert(edge.upstream.clone());
        let key = (edge.upstream.clone(), edge.downstream.clone(), edge.source);
        match self.edges.get_mut(&key) {
            Some(known) => {
                known.first_seen = known.first_seen.min(edge.first_seen);
                known.last_seen = known.last_seen.max(edge.last_seen);
            }
            None => {
                self.edges.insert(key, edge);
            }
        }
    }

    fn node_entry(&mut self, name: &str) -> &mut Node {
        self.nodes.entry(name.to_owned()).or_insert_with(|| Node {
            name: name.to_owned(),
            warehouse: None,
            dataset: None,
        })
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Every node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Every edge, by upstream, downstream and source.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.values()
    }

    /// The nodes reachable from `start` in `direction`, each with its distance (`start` is
    /// 0), by name; at most `depth` steps away when a depth is given. A node both upstream
    /// and downstream (on a cycle) gets the shorter distance.
    pub fn impact(
        &self,
        start: &str,
        direction: Direction,
        depth: Option<usize>,
    ) -> BTreeMap<String, usize> {
        let mut reached = BTreeMap::new();
        if !self.nodes.contains_key(start) {
            return reached;
        }
        let sides: &[&BTreeMap<String, BTreeSet<String>>] = match direction {
            Direction::Upstream => &[&self.upstream],
            Direction::Downstream => &[&self.downstream],
            Direction::Both => &[&self.upstream, &self.downstream],
        };
        for side in sides {
            for (name, distance) in walk(side, start, depth) {
                let known = reached.entry(name).or_insert(distance);
                *known = (*known).min(distance);
            }
        }
        reached
    }

    /// The part of the graph on these nodes: them, and the edges between them.
    pub fn subgraph(&self, names: &BTreeSet<String>) -> Graph {
        let mut part = Graph::default();
        for edge in self.edges() {
            if names.contains(&edge.upstream) && names.contains(&edge.downstream) {
                part.add_edge(edge.clone());
            }
        }
        for name in names {
            if let Some(node) = self.nodes.get(name) {
                part.add_node(name, node.warehouse.as_deref(), node.dataset.as_deref());
            }
        }
        part
    }

    /// One cycle per strongly connected component that has one, as the path from its
    /// first node (by name) back to itself along the fewest edges: `[a, b, c, a]`.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        components(&self.downstream, &self.upstream, self.nodes.keys())
            .into_iter()
            .filter_map(|component| self.shortest_cycle(&component))
            .collect()
    }

    /// The shortest path from the component's first node back to itself, staying inside.
    fn shortest_cycle(&self, component: &BTreeSet<String>) -> Option<Vec<String>> {
        let first = component.first()?;
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([first.as_str()]);
        while let Some(at) = queue.pop_front() {
            for next in self.downstream.get(at).into_iter().flatten() {
                if next == first {
                    return Some(path_back(&parent, at, first));
                }
                if component.contains(next) && !parent.contains_key(next.as_str()) {
                    parent.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// `first → … → last → first`, from the BFS parents that lead to `last`.
fn path_back(parent: &BTreeMap<&str, &str>, last: &str, first: &str) -> Vec<String> {
    let mut path = vec![first.to_owned(), last.to_owned()];
    let mut at = last;
    while at != first {
        at = parent.get(at).copied().unwrap_or(first);
        path.push(at.to_owned());
    }
    path.reverse();
    path
}

/// Breadth-first from `start` along `next`, each node once, with its distance.
fn walk(
    next: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    depth: Option<usize>,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::from([(start.to_owned(), 0)]);
    let mut queue = VecDeque::from([(start.to_owned(), 0)]);
    while let Some((at, distance)) = queue.pop_front() {
        if depth.is_some_and(|depth| distance >= depth) {
            continue;
        }
        for neighbour in next.get(&at).into_iter().flatten() {
            if !seen.contains_key(neighbour) {
                seen.insert(neighbour.clone(), distance + 1);
                queue.push_back((neighbour.clone(), distance + 1));
            }
        }
    }
    seen
}

/// The strongly connected components with a cycle (two or more nodes, or one with an edge
/// to itself), by Kosaraju's algorithm with explicit stacks: a chain of thousands of
/// datasets must not overflow the call stack.
fn components<'a>(
    downstream: &BTreeMap<String, BTreeSet<String>>,
    upstream: &BTreeMap<String, BTreeSet<String>>,
    nodes: impl Iterator<Item = &'a String>,
) -> Vec<BTreeSet<String>> {
    let nodes: Vec<&String> = nodes.collect();
    let finished = finish_order(downstream, &nodes);
    let mut assigned: BTreeSet<&str> = BTreeSet::new();
    let mut found = Vec::new();
    for root in finished.iter().rev() {
        if assigned.contains(root) {
            continue;
        }
        let mut component = BTreeSet::new();
        let mut stack = vec![*root];
        assigned.insert(root);
        while let Some(at) = stack.pop() {
            component.insert(at.to_owned());
            for previous in upstream.get(at).into_iter().flatten() {
                if assigned.insert(previous) {
                    stack.push(previous);
                }
            }
        }
        let looped = |name: &String| downstream.get(name).is_some_and(|n| n.contains(name));
        if component.len() > 1 || component.iter().any(looped) {
            found.push(component);
        }
    }
    found.sort();
    found
}

/// The nodes in the order a depth-first search along `downstream` finishes them.
fn finish_order<'a>(
    downstream: &'a BTreeMap<String, BTreeSet<String>>,
    nodes: &[&'a String],
) -> Vec<&'a str> {
    let mut visited: BTreeSet<&str> = BTreeSet::new();
    let mut finished = Vec::with_capacity(nodes.len());
    for start in nodes {
        if !visited.insert(start) {
            continue;
        }
        let mut stack = vec![(start.as_str(), children(downstream, start))];
        while let Some((at, pending)) = stack.last_mut() {
            match pending.next() {
                Some(child) if visited.insert(child) => {
                    let grandchildren = children(downstream, child);
                    stack.push((child, grandchildren));
                }
                Some(_) => {}
                None => {
                    finished.push(*at);
                    stack.pop();
                }
            }
        }
    }
    finished
}

fn children<'a>(
    downstream: &'a BTreeMap<String, BTreeSet<String>>,
    at: &str,
) -> impl Iterator<Item = &'a str> + use<'a> {
    downstream.get(at).into_iter().flatten().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 11, 26, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::default();
        for (up, down) in edges {
            graph.add_edge(Edge::seen(up, down, Source::Declared, at(1)));
        }
        graph
    }

    fn names(reached: &BTreeMap<String, usize>) -> Vec<(&str, usize)> {
        reached.iter().map(|(n, d)| (n.as_str(), *d)).collect()
    }

    #[test]
    fn impact_walks_any_depth_or_a_limit() {
        let g = graph(&[
            ("raw", "stg"),
            ("stg", "mart"),
            ("mart", "report"),
            ("x", "stg"),
        ]);
        assert_eq!(
            names(&g.impact("stg", Direction::Downstream, None)),
            [("mart", 1), ("report", 2), ("stg", 0)]
        );
        assert_eq!(
            names(&g.impact("report", Direction::Upstream, None)),
            [("mart", 1), ("raw", 3), ("report", 0), ("stg", 2), ("x", 3)]
        );
        assert_eq!(
            names(&g.impact("report", Direction::Upstream, Some(1))),
            [("mart", 1), ("report", 0)]
        );
        assert_eq!(
            names(&g.impact("mart", Direction::Both, Some(1))),
            [("mart", 0), ("report", 1), ("stg", 1)]
        );
        assert!(g.impact("nowhere", Direction::Both, None).is_empty());
    }

    #[test]
    fn walks_end_on_cycles_and_cycles_are_paths() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "e")]);
        assert_eq!(
            names(&g.impact("a", Direction::Downstream, None)),
            [("a", 0), ("b", 1), ("c", 2), ("d", 3)]
        );
        assert_eq!(
            names(&g.impact("b", Direction::Both, None)),
            [("a", 1), ("b", 0), ("c", 1), ("d", 2)]
        );
        assert_eq!(g.cycles(), [vec!["a", "b", "c", "a"], vec!["e", "e"]]);
        assert!(
            graph(&[("a", "b"), ("b", "c"), ("a", "c")])
                .cycles()
                .is_empty()
        );
    }

    #[test]
    fn a_cycle_is_the_shortest_way_round() {
        // a→b→c→d→a and the shortcut b→a: the reported path is a→b→a.
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("b", "a")]);
        assert_eq!(g.cycles(), [vec!["a", "b", "a"]]);
    }

    #[test]
    fn the_same_edge_from_one_source_widens_its_time_span() {
        let mut g = Graph::default();
        g.add_edge(Edge::seen(" raw ", "stg", Source::OpenLineage, at(5)));
        g.add_edge(Edge::seen("raw", "stg", Source::OpenLineage, at(2)));
        g.add_edge(Edge::seen("raw", "stg", Source::View, at(3)));
        let edges: Vec<_> = g
            .edges()
            .map(|e| (e.source, e.first_seen, e.last_seen))
            .collect();
        assert_eq!(
            edges,
            [
                (Source::OpenLineage, at(2), at(5)),
                (Source::View, at(3), at(3))
            ]
        );
        g.add_node("raw", Some("main"), None);
        g.add_node("raw", Some("other"), Some("raw"));
        assert_eq!(
            g.node("raw"),
            Some(&Node {
                name: "raw".into(),
                warehouse: Some("main".into()),
                dataset: Some("raw".into()),
            })
        );
    }

    #[test]
    fn subgraphs_keep_the_edges_between_their_nodes() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "d")]);
        let part = g.subgraph(&["b".to_owned(), "c".to_owned()].into());
        let edges: Vec<_> = part
            .edges()
            .map(|e| (e.upstream.as_str(), e.downstream.as_str()))
            .collect();
        assert_eq!(edges, [("b", "c")]);
        assert_eq!(part.nodes().count(), 2);
    }

    #[test]
    fn sources_parse_their_own_spelling() {
        for source in Source::ALL {
            assert_eq!(Source::parse(source.as_str()), Some(source));
            assert_eq!(
                serde_json::to_value(source).ok(),
                Some(source.as_str().into())
            );
        }
        assert_eq!(Source::parse("marquez"), None);
    }
}
