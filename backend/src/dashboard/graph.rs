//! A directed graph drawn as SVG in layers, upstream on the left, in the manner of Sugiyama
//! but simplified to what lineage graphs need:
//!
//! 1. back edges (found by a depth-first search) are set aside, so a cycle in what the
//!    sources report cannot make the layering loop; they are still drawn, dashed;
//! 2. each node's layer is the longest path to it from a source, so every other edge
//!    points right; sources then move next to their nearest child, so a raw table feeding
//!    only a late mart is not drawn at the far left with one long edge;
//! 3. an edge across several layers passes through a waypoint in each layer between, so
//!    that it is routed around the boxes there rather than through them;
//! 4. a few sweeps order each layer by the barycentre of its neighbours' positions, which
//!    removes most crossings at the cost of a sort.
//!
//! All of it is linear in nodes, edges and waypoints apart from the sorts, and waypoints
//! have a budget, so thousands of datasets draw in milliseconds (crates such as layout-rs
//! are much slower on graphs this size).
//!
//! Pure: shapes and edges in, markup out, deterministic. The markup is inserted into the
//! page unescaped, so every text in it is escaped here.

use std::fmt::Write as _;

use handlebars::html_escape;

/// Each box, in SVG user units; the drawing keeps its size and the page scrolls it, since a
/// graph scaled down to fit would be unreadable.
const BOX_WIDTH: usize = 180;
const BOX_HEIGHT: usize = 28;
const COLUMN_GAP: usize = 60;
/// The height a box takes in its layer, and the one a waypoint takes (even numbers, so
/// that middles are whole).
const BOX_SLOT: usize = 40;
const WAYPOINT_SLOT: usize = 10;
const MARGIN: usize = 20;
/// How far an edge within one layer swings out of its boxes before turning back.
const BEND: usize = 50;
/// Longer labels are cut (the full text is the box's tooltip and in the table).
const LABEL_CHARS: usize = 24;
/// Barycentre passes, alternately rightward and leftward; more change little.
const SWEEPS: usize = 4;
/// Waypoints per node at most (beyond, the longest edges are drawn straight across): a
/// graph whose edges each span hundreds of layers must not make the drawing explode.
const WAYPOINTS_PER_NODE: usize = 4;

/// One box of the drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub label: String,
    /// The tooltip.
    pub title: String,
    /// One of the health CSS classes' suffixes (`pass`, `fail`, …).
    pub health: &'static str,
    /// Where the box links to, if anywhere.
    pub link: Option<String>,
    /// Highlighted: the dataset the graph is drawn around.
    pub focus: bool,
}

/// Where everything goes. Indices below the node count are nodes; the others waypoints.
#[derive(Debug)]
struct Plan {
    /// Each layer's nodes and waypoints, top to bottom; layers left to right.
    layers: Vec<Vec<usize>>,
    /// Each distinct edge: `(upstream, downstream, waypoints)`, the waypoints in layer
    /// order (for a back edge, from the downstream node's side).
    routes: Vec<(usize, usize, Vec<usize>)>,
    /// The layer of each node and waypoint.
    layer: Vec<usize>,
}

/// Lays out `count` nodes and the `(upstream, downstream)` edges between them; edges naming
/// other indices are ignored.
fn plan(count: usize, edges: &[(usize, usize)]) -> Plan {
    let mut edges: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(from, to)| from < count && to < count)
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let between: Vec<(usize, usize)> = edges.iter().copied().filter(|(f, t)| f != t).collect();
    let mut layer = longest_path(&acyclic(count, &between));
    let routes = waypoints(count, &edges, &mut layer);
    let mut neighbours = vec![Vec::new(); layer.len()];
    for &(from, to, ref via) in &routes {
        // In layer order, as the waypoints are.
        let (low, high) = if layer[from] <= layer[to] {
            (from, to)
        } else {
            (to, from)
        };
        let chain: Vec<usize> = std::iter::once(low)
            .chain(via.iter().copied())
            .chain(std::iter::once(high))
            .collect();
        for pair in chain.windows(2).filter(|pair| pair[0] != pair[1]) {
            neighbours[pair[0]].push(pair[1]);
            neighbours[pair[1]].push(pair[0]);
        }
    }
    let layers = order(count, &neighbours, &layer);
    Plan {
        layers,
        routes,
        layer,
    }
}

/// Each node's successors without the back edges of a depth-first search (explicit stack:
/// a chain of thousands of datasets must not overflow the call stack).
fn acyclic(count: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut next = vec![Vec::new(); count];
    for &(from, to) in edges {
        next[from].push(to);
    }
    let mut mark = vec![Mark::New; count];
    let mut forward = vec![Vec::new(); count];
    for root in 0..count {
        if mark[root] != Mark::New {
            continue;
        }
        mark[root] = Mark::Open;
        let mut stack = vec![(root, 0)];
        while let Some(&(at, child)) = stack.last() {
            let Some(&to) = next[at].get(child) else {
                mark[at] = Mark::Done;
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match mark[to] {
                // Back to a node still open: this edge closes a cycle.
                Mark::Open => {}
                Mark::Done => forward[at].push(to),
                Mark::New => {
                    forward[at].push(to);
                    mark[to] = Mark::Open;
                    stack.push((to, 0));
                }
            }
        }
    }
    forward
}

/// Each node's layer in an acyclic graph: the longest path to it from a source, sources
/// then moved to just before their nearest child.
fn longest_path(forward: &[Vec<usize>]) -> Vec<usize> {
    let mut indegree = vec![0usize; forward.len()];
    for &to in forward.iter().flatten() {
        indegree[to] += 1;
    }
    let sources: Vec<usize> = (0..forward.len()).filter(|&n| indegree[n] == 0).collect();
    let mut layer = vec![0; forward.len()];
    let mut ready = sources.clone();
    while let Some(at) = ready.pop() {
        for &to in &forward[at] {
            layer[to] = layer[to].max(layer[at] + 1);
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.push(to);
            }
        }
    }
    for source in sources {
        if let Some(nearest) = forward[source].iter().map(|&to| layer[to]).min() {
            layer[source] = nearest - 1;
        }
    }
    layer
}

/// Each edge with the waypoints it passes through, added to `layer` (indices from
/// `count` on): the shortest spans first, while the budget lasts.
fn waypoints(
    count: usize,
    edges: &[(usize, usize)],
    layer: &mut Vec<usize>,
) -> Vec<(usize, usize, Vec<usize>)> {
    let span = |&(from, to): &(usize, usize)| layer[from].abs_diff(layer[to]);
    let mut by_span: Vec<(usize, usize)> = edges.to_vec();
    by_span.sort_by_key(span);
    let mut budget = WAYPOINTS_PER_NODE * count;
    let mut routes = Vec::with_capacity(edges.len());
    for (from, to) in by_span {
        let (low, high) = (layer[from].min(layer[to]), layer[from].max(layer[to]));
        let needed = (high - low).saturating_sub(1);
        let mut via = Vec::new();
        if needed <= budget {
            budget -= needed;
            for l in low + 1..high {
                via.push(layer.len());
                layer.push(l);
            }
        }
        routes.push((from, to, via));
    }
    routes
}

/// The layers, each ordered by a few barycentre sweeps. A position is the offset of a
/// node's middle from its layer's, as drawn (layers are centred on each other).
fn order(count: usize, neighbours: &[Vec<usize>], layer: &[usize]) -> Vec<Vec<usize>> {
    let depth = layer.iter().max().map_or(0, |last| last + 1);
    let mut layers = vec![Vec::new(); depth];
    for (node, &l) in layer.iter().enumerate() {
        layers[l].push(node);
    }
    let mut position = vec![0.0; layer.len()];
    for nodes in &layers {
        place(count, nodes, &mut position);
    }
    for sweep in 0..SWEEPS {
        let rightward = sweep % 2 == 0;
        let sequence: Vec<usize> = if rightward {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for l in sequence {
            // The side already placed in this sweep.
            let placed = |other: &&usize| {
                if rightward {
                    layer[**other] < l
                } else {
                    layer[**other] > l
                }
            };
            let mut keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&node| {
                    let (sum, n) = neighbours[node]
                        .iter()
                        .filter(placed)
                        .fold((0.0, 0u32), |(sum, n), &other| {
                            (sum + position[other], n + 1)
                        });
                    let key = if n == 0 {
                        position[node]
                    } else {
                        sum / f64::from(n)
                    };
                    (key, node)
                })
                .collect();
            // Stable: ties keep their order, so the result is deterministic.
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[l] = keyed.into_iter().map(|(_, node)| node).collect();
            place(count, &layers[l], &mut position);
        }
    }
    layers
}

/// The height `node` takes in its layer.
fn slot(count: usize, node: usize) -> usize {
    if node < count {
        BOX_SLOT
    } else {
        WAYPOINT_SLOT
    }
}

/// Sets the position of each of a layer's nodes.
fn place(count: usize, nodes: &[usize], position: &mut [f64]) {
    let total: usize = nodes.iter().map(|&n| slot(count, n)).sum();
    let mut top = 0;
    for &node in nodes {
        let height = slot(count, node);
        position[node] = (top + height / 2) as f64 - total as f64 / 2.0;
        top += height;
    }
}

/// The drawing's coordinates: the left edge of each layer, the middle of each node and
/// waypoint, and the size of the whole.
struct Geometry {
    left: Vec<usize>,
    middle: Vec<usize>,
    width: usize,
    height: usize,
}

impl Geometry {
    fn of(count: usize, plan: &Plan) -> Geometry {
        let totals: Vec<usize> = plan
            .layers
            .iter()
            .map(|nodes| nodes.iter().map(|&n| slot(count, n)).sum())
            .collect();
        let tallest = totals.iter().copied().max().unwrap_or(0);
        let mut middle = vec![0; plan.layer.len()];
        for (nodes, total) in plan.layers.iter().zip(&totals) {
            let mut top = MARGIN + (tallest - total) / 2;
            for &node in nodes {
                middle[node] = top + slot(count, node) / 2;
                top += slot(count, node);
            }
        }
        let depth = plan.layers.len();
        Geometry {
            left: (0..depth)
                .map(|l| MARGIN + l * (BOX_WIDTH + COLUMN_GAP))
                .collect(),
            middle,
            width: 2 * MARGIN + (depth * (BOX_WIDTH + COLUMN_GAP)).saturating_sub(COLUMN_GAP),
            height: 2 * MARGIN + tallest,
        }
    }

    /// The left and right ends of a node or waypoint, at its middle.
    fn ends(&self, plan: &Plan, node: usize) -> ((usize, usize), (usize, usize)) {
        let left = self.left[plan.layer[node]];
        let y = self.middle[node];
        ((left, y), (left + BOX_WIDTH, y))
    }
}

/// The graph as an `<svg>` element titled `title`.
pub fn draw(title: &str, shapes: &[Shape], edges: &[(usize, usize)]) -> String {
    let plan = plan(shapes.len(), edges);
    let geometry = Geometry::of(shapes.len(), &plan);
    let (width, height) = (geometry.width, geometry.height);
    let mut svg = String::with_capacity(300 * shapes.len() + 120 * edges.len() + 600);
    let _ = write!(
        svg,
        r#"<svg class="lineage" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="lineage-title"><title id="lineage-title">{}</title>"#,
        html_escape(title)
    );
    svg.push_str(
        r#"<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z"/></marker></defs><g class="edges">"#,
    );
    for route in &plan.routes {
        edge(&mut svg, &plan, &geometry, route);
    }
    svg.push_str(r#"</g><g class="nodes">"#);
    for (node, shape) in shapes.iter().enumerate() {
        let ((x, y), _) = geometry.ends(&plan, node);
        node_box(&mut svg, shape, (x, y - BOX_HEIGHT / 2));
    }
    svg.push_str("</g></svg>");
    svg
}

/// An edge as a path with an arrowhead: curves between layers, straight through each
/// waypoint's layer; a swing out and back within one layer; a loop from a box to itself.
fn edge(svg: &mut String, plan: &Plan, geometry: &Geometry, route: &(usize, usize, Vec<usize>)) {
    let &(from, to, ref via) = route;
    let (from_left, from_right) = geometry.ends(plan, from);
    let (to_left, to_right) = geometry.ends(plan, to);
    let (class, path) = if from == to {
        let (x, y) = from_right;
        let (top, bottom, out) = (y - BOX_HEIGHT / 2, y + BOX_HEIGHT / 2, x + BEND / 2);
        let d = format!(
            "M{x},{top} C{out},{} {out},{} {x},{bottom}",
            top - 10,
            bottom + 10
        );
        ("edge back", d)
    } else if plan.layer[from] == plan.layer[to] {
        let ((x1, y1), (x2, y2)) = (from_right, to_right);
        let out = x1 + BEND;
        (
            "edge back",
            format!("M{x1},{y1} C{out},{y1} {out},{y2} {x2},{y2}"),
        )
    } else {
        // The points left to right: out of the upstream end, across each waypoint's layer,
        // into the downstream end; a back edge is the same way, reversed.
        let forward = plan.layer[from] < plan.layer[to];
        let (start, end) = if forward {
            (from_right, to_left)
        } else {
            (to_right, from_left)
        };
        let mut points = vec![start];
        for &waypoint in via {
            let (left, right) = geometry.ends(plan, waypoint);
            points.extend([left, right]);
        }
        points.push(end);
        if !forward {
            points.reverse();
        }
        let class = if forward { "edge" } else { "edge back" };
        (class, path_through(&points))
    };
    let _ = write!(
        svg,
        r#"<path class="{class}" d="{path}" marker-end="url(#lineage-arrow)"/>"#
    );
}

/// `M` the first point, then alternately a curve to the next layer and a line across it.
fn path_through(points: &[(usize, usize)]) -> String {
    let mut path = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        match i {
            0 => {
                let _ = write!(path, "M{x},{y}");
            }
            i if i % 2 == 1 => {
                let (x0, y0) = points[i - 1];
                let middle = (x0 + x) / 2;
                let _ = write!(path, " C{middle},{y0} {middle},{y} {x},{y}");
            }
            _ => {
                let _ = write!(path, " L{x},{y}");
            }
        }
    }
    path
}

fn node_box(svg: &mut String, shape: &Shape, (x, y): (usize, usize)) {
    if let Some(link) = &shape.link {
        let _ = write!(svg, r#"<a href="{}">"#, html_escape(link));
    }
    let focus = if shape.focus { " focus" } else { "" };
    let _ = write!(
        svg,
        r#"<g class="node health-{}{focus}"><title>{}</title><rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="4"/><text x="{}" y="{}">{}</text></g>"#,
        html_escape(shape.health),
        html_escape(&shape.title),
        x + 8,
        y + BOX_HEIGHT / 2 + 4,
        html_escape(&cut(&shape.label)),
    );
    if shape.link.is_some() {
        svg.push_str("</a>");
    }
}

/// `label`, or its start and an ellipsis when it is too long for a box.
fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_owned();
    }
    let mut short: String = label.chars().take(LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nodes of each layer, without waypoints.
    fn layers(count: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
        let mut layers = plan(count, edges).layers;
        for nodes in &mut layers {
            nodes.retain(|&n| n < count);
        }
        layers
    }

    /// Each node's layer, from the layers.
    fn layer_of(count: usize, layers: &[Vec<usize>]) -> Vec<usize> {
        let mut layer = vec![usize::MAX; count];
        for (l, nodes) in layers.iter().enumerate() {
            for &node in nodes {
                layer[node] = l;
            }
        }
        layer
    }

    /// A node's index within its layer.
    fn rank(layers: &[Vec<usize>], node: usize) -> Option<usize> {
        layers
            .iter()
            .find_map(|l| l.iter().position(|&n| n == node))
    }

    #[test]
    fn every_edge_of_a_dag_points_to_a_later_layer() {
        // A diamond, a long edge, and a source that only feeds the last node.
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (0, 4), (5, 4)];
        let drawn = layers(6, &edges);
        let layer = layer_of(6, &drawn);
        for (from, to) in edges {
            assert!(layer[from] < layer[to], "{from}→{to}: {drawn:?}");
        }
        assert_eq!(layer, [0, 1, 1, 2, 3, 2], "{drawn:?}");
        // Every node is drawn exactly once.
        let mut all: Vec<usize> = drawn.concat();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn cycles_and_self_loops_terminate_with_every_node_placed() {
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3), (4, 4), (3, 1), (9, 0)];
        let drawn = layers(5, &edges);
        let layer = layer_of(5, &drawn);
        assert!(layer.iter().all(|&l| l < drawn.len()), "{drawn:?}");
        // The edges left after the one back edge still point right.
        assert!(layer[0] < layer[1] && layer[1] < layer[2] && layer[2] < layer[3]);
        // The back edge 2→0 passes a waypoint in the layer between, beside 1.
        let plan = plan(5, &edges);
        let back = plan.routes.iter().find(|(f, t, _)| (*f, *t) == (2, 0));
        let via = back.map(|(_, _, via)| via.as_slice()).unwrap_or_default();
        assert_eq!(via.len(), 1);
        assert_eq!(plan.layer[via[0]], layer[1]);
        // A long cycle of thousands does not overflow the stack either.
        let n = 20_000;
        let ring: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        assert_eq!(layers(n, &ring).len(), n);
    }

    #[test]
    fn barycentre_sweeps_uncross_edges() {
        // Layer 1 starts as [2, 3] (by index), but 0 feeds 3 and 1 feeds 2.
        let drawn = layers(4, &[(0, 3), (1, 2)]);
        assert_eq!(drawn.len(), 2);
        let crossing = (rank(&drawn, 0) < rank(&drawn, 1)) != (rank(&drawn, 3) < rank(&drawn, 2));
        assert!(!crossing, "{drawn:?}");
    }

    #[test]
    fn long_edges_pass_waypoints_while_the_budget_lasts() {
        // A chain of 30, and an edge from each node to the last: spans of 2 to 29 layers.
        let count = 30;
        let mut edges: Vec<(usize, usize)> = (1..count).map(|i| (i - 1, i)).collect();
        edges.extend((0..count - 2).map(|i| (i, count - 1)));
        let plan = plan(count, &edges);
        let via = |from: usize, to: usize| {
            plan.routes
                .iter()
                .find(|(f, t, _)| (*f, *t) == (from, to))
                .map(|(_, _, via)| via.clone())
        };
        let short = via(count - 3, count - 1).unwrap_or_default();
        assert_eq!(short.len(), 1);
        assert_eq!(plan.layer[short[0]], count - 2);
        assert!(plan.layers[count - 2].contains(&short[0]));
        assert_eq!(via(0, count - 1), Some(Vec::new()));
        let waypoints = plan.layer.len() - count;
        assert!(waypoints <= WAYPOINTS_PER_NODE * count, "{waypoints}");
        assert!(waypoints > 100, "{waypoints}");
        assert_eq!(
            path_through(&[(0, 0), (10, 5), (20, 5), (30, 0)]),
            "M0,0 C5,0 5,5 10,5 L20,5 C25,5 25,0 30,0"
        );
    }

    fn shape(label: &str, link: Option<&str>) -> Shape {
        Shape {
            label: label.into(),
            title: label.into(),
            health: "fail",
            link: link.map(str::to_owned),
            focus: false,
        }
    }

    #[test]
    fn text_is_escaped_and_long_labels_cut() {
        let hostile = "<script>alert(\"x\")</script>";
        let shapes = [
            shape(hostile, Some("/datasets/a\"><script>")),
            shape(&"n".repeat(40), None),
        ];
        let svg = draw("<b>title</b>", &shapes, &[(0, 1), (1, 0), (1, 1)]);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)"), "{svg}");
        assert!(svg.contains(r#"<a href="/datasets/a&quot;&gt;&lt;script&gt;">"#));
        assert_eq!(svg.matches("<a ").count(), 1);
        assert!(svg.contains(&format!(">{}…</text>", "n".repeat(LABEL_CHARS - 1))));
        assert_eq!(svg.matches(r#"class="node health-fail""#).count(), 2);
        // One forward edge, one back edge, one loop.
        assert_eq!(svg.matches(r#"class="edge back""#).count(), 2);
        assert_eq!(svg.matches(r#"class="edge""#).count(), 1);
        assert_eq!(cut("é".repeat(30).as_str()).chars().count(), LABEL_CHARS);
    }

    #[test]
    fn an_empty_graph_draws_an_empty_svg() {
        let svg = draw("nothing", &[], &[(0, 1)]);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<path class"));
    }
}
