//! `tidemark lineage`: the project's dataset graph from every source, the views of each
//! warehouse included (read from their catalogs, which the server does not do on each
//! request), printed as text or JSON with its cycles. Exits 0, or 2 when a source could not
//! be read (the graph of the others is still printed).

use std::collections::BTreeMap;

use chrono::Utc;
use clap::ValueEnum;

use super::{EXIT_ERROR, open_store};
use crate::lineage::{Builder, Graph, Report};
use crate::spec::Project;
use crate::warehouse::Warehouse;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    Text,
    Json,
}

pub async fn run(project: &Project, format: LineageFormat) -> u8 {
    let store = match open_store(project).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut builder = Builder::new(project, Utc::now(), &Default::default());
    let mut problems = Vec::new();
    match store.edges().await {
        Ok(edges) => builder.edges(edges),
        Err(e) => problems.push(format!("the store: {e}")),
    }
    for config in project.warehouses.values() {
        let views = match Warehouse::connect(config, &project.root).await {
            Ok(warehouse) => {
                let views = warehouse.views().await;
                warehouse.close().await;
                views
            }
            Err(e) => Err(e),
        };
        match views {
            Ok(views) => builder.views(&config.name, &views),
            Err(e) => problems.push(format!("warehouse {}: {e}", config.name)),
        }
    }
    let (graph, built) = builder.finish();
    problems.extend(built);
    match format {
        LineageFormat::Json => {
            let report = Report::new(&graph, &BTreeMap::new(), problems.clone());
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        LineageFormat::Text => print!("{}", text(&graph, &problems)),
    }
    for problem in &problems {
        eprintln!("warning: {problem}");
    }
    if problems.is_empty() { 0 } else { EXIT_ERROR }
}

/// The graph for people: nodes, edges with their sources, cycles, problems.
fn text(graph: &Graph, problems: &[String]) -> String {
    let mut out = format!("datasets ({}):\n", graph.nodes().count());
    for node in graph.nodes() {
        let warehouse = node
            .warehouse
            .as_deref()
            .map(|w| format!(" [{w}]"))
            .unwrap_or_default();
        let declared = if node.dataset.is_some() {
            " (declared)"
        } else {
            ""
        };
        out.push_str(&format!("  {}{warehouse}{declared}\n", node.name));
    }
    out.push_str(&format!("edges ({}):\n", graph.edges().count()));
    for edge in graph.edges() {
        out.push_str(&format!(
            "  {} -> {}  {}, last seen {}\n",
            edge.upstream,
            edge.downstream,
            edge.source.as_str(),
            edge.last_seen.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    let cycles = graph.cycles();
    out.push_str(&format!("cycles ({}):\n", cycles.len()));
    for cycle in cycles {
        out.push_str(&format!("  {}\n", cycle.join(" -> ")));
    }
    if !problems.is_empty() {
        out.push_str(&format!("problems ({}):\n", problems.len()));
        for problem in problems {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::lineage::{Edge, Source};

    #[test]
    fn the_text_lists_nodes_edges_and_cycles() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .unwrap_or_default();
        let mut graph = Graph::default();
        graph.add_node("shop.orders", Some("main"), Some("shop.orders"));
        graph.add_edge(Edge::seen("a", "shop.orders", Source::View, at));
        graph.add_edge(Edge::seen("shop.orders", "a", Source::Dbt, at));
        assert_eq!(
            text(&graph, &["warehouse x: down".to_owned()]),
            "datasets (2):\n  a\n  shop.orders [main] (declared)\n\
             edges (2):\n  a -> shop.orders  view, last seen 2026-11-26T09:30:00Z\n  \
             shop.orders -> a  dbt, last seen 2026-11-26T09:30:00Z\n\
             cycles (1):\n  a -> shop.orders -> a\n\
             problems (1):\n  warehouse x: down\n"
        );
    }
}
