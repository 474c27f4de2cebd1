//! dbt's `manifest.json` (written by `dbt compile`, `dbt run`, `dbt build`): each model,
//! seed and snapshot with the nodes and sources it depends on. Relations are named
//! `database.schema.alias` (sources: `database.schema.identifier`), the names the tables
//! have in the warehouse; tests and other nodes that build no relation are left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::json::At;

/// Node kinds that build a relation in the warehouse.
const RELATIONS: [&str; 3] = ["model", "seed", "snapshot"];

/// One relation built from another: `downstream` depends on `upstream` (both
/// `database.schema.name`), as of `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub upstream: String,
    pub downstream: String,
    pub at: DateTime<Utc>,
}

/// Why a manifest file gave no dependencies; both messages name the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("cannot read the dbt manifest {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: not a dbt manifest: {reason}")]
    Invalid { path: String, reason: String },
}

/// The edges of the manifest file at `path`, each seen when the manifest was generated
/// (`metadata.generated_at`), or at `fallback` when it does not say.
pub fn read_manifest(
    path: &Path,
    fallback: DateTime<Utc>,
) -> Result<Vec<Dependency>, ManifestError> {
    let shown = || path.display().to_string();
    let text = std::fs::read(path).map_err(|e| ManifestError::Unreadable {
        path: shown(),
        reason: e.to_string(),
    })?;
    edges(&text, fallback).map_err(|reason| ManifestError::Invalid {
        path: shown(),
        reason,
    })
}

/// A manifest read, and the file's identity when it was: its length and modification time.
struct Cached {
    path: PathBuf,
    stamp: (u64, SystemTime),
    edges: Vec<Dependency>,
}

/// The manifest read last, kept by whoever builds lineage graphs again and again (the
/// server's alerting and dashboard share one): a manifest of a large dbt project takes long
/// to parse. One file is remembered (a project names one).
#[derive(Default)]
pub struct ManifestCache {
    last: Mutex<Option<Cached>>,
}

impl ManifestCache {
    /// [`read_manifest`], parsed again only when the file changed (its length or
    /// modification time). Edges of a manifest without `generated_at` keep the `fallback`
    /// of the read that parsed it.
    pub fn read(
        &self,
        path: &Path,
        fallback: DateTime<Utc>,
    ) -> Result<Vec<Dependency>, ManifestError> {
        let Some(stamp) = stamp(path) else {
            return read_manifest(path, fallback);
        };
        if let Ok(last) = self.last.lock()
            && let Some(cached) = last.as_ref().filter(|c| c.path == path && c.stamp == stamp)
        {
            return Ok(cached.edges.clone());
        }
        let edges = read_manifest(path, fallback)?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Cached {
                path: path.to_owned(),
                stamp,
                edges: edges.clone(),
            });
        }
        Ok(edges)
    }
}

/// What tells a manifest's versions apart: its length and modification time (`None` when
/// the file cannot be read).
pub fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    std::fs::metadata(path)
        .and_then(|m| Ok((m.len(), m.modified()?)))
        .ok()
}

fn edges(text: &[u8], fallback: DateTime<Utc>) -> Result<Vec<Dependency>, String> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| format!("the file is not JSON: {e}"))?;
    read(&value, fallback)
}

fn read(value: &Value, fallback: DateTime<Utc>) -> Result<Vec<Dependency>, String> {
    let root = At::root(value);
    let at = generated_at(root)?.unwrap_or(fallback);
    let nodes = map(root, "nodes")?;
    let sources = map(root, "sources")?;
    let mut relations = BTreeMap::new();
    for (id, node) in &nodes {
        if RELATIONS.contains(&node.text("resource_type")?) {
            relations.insert(id.as_str(), relation(*node, "alias")?);
        }
    }
    for (id, source) in &sources {
        relations.insert(id.as_str(), relation(*source, "identifier")?);
    }
    let mut edges = Vec::new();
    for (id, node) in &nodes {
        let Some(downstream) = relations.get(id.as_str()) else {
            continue;
        };
        for upstream in depends_on(*node)?.filter_map(|dep| relations.get(dep)) {
            edges.push(Dependency {
                upstream: (*upstream).to_owned(),
                downstream: (*downstream).to_owned(),
                at,
            });
        }
    }
    Ok(edges)
}

fn generated_at(root: At<'_, '_>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(metadata) = root.get("metadata")? else {
        return Ok(None);
    };
    let metadata = At {
        value: metadata,
        path: "metadata",
    };
    Ok(metadata
        .optional_text("generated_at")?
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// The entries of the object under `key` (absent: none), each at its path.
fn map<'a>(root: At<'a, '_>, key: &str) -> Result<Vec<(&'a String, At<'a, 'a>)>, String> {
    let Some(value) = root.get(key)? else {
        return Ok(Vec::new());
    };
    let entries = At { value, path: key }.object()?;
    Ok(entries
        .iter()
        .map(|(id, value)| (id, At { value, path: id }))
        .collect())
}

/// `database.schema.<name_key>` (the name when `name_key` is absent); a missing database
/// is left out.
fn relation(node: At<'_, '_>, name_key: &str) -> Result<String, String> {
    let table = match node.optional_text(name_key)? {
        Some(name) if !name.is_empty() => name,
        _ => node.text("name")?,
    };
    let parts = [
        node.optional_text("database")?,
        Some(node.text("schema")?),
        Some(table),
    ];
    Ok(parts
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("."))
}

/// The ids in `depends_on.nodes`.
fn depends_on<'a>(node: At<'a, '_>) -> Result<impl Iterator<Item = &'a str>, String> {
    let path = node.child("depends_on");
    let ids = match node.get("depends_on")? {
        Some(value) => At { value, path: &path }.array("nodes")?,
        None => &[],
    };
    Ok(ids.iter().filter_map(Value::as_str))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(edges: &[Dependency]) -> Vec<(&str, &str)> {
        edges
            .iter()
            .map(|e| (e.upstream.as_str(), e.downstream.as_str()))
            .collect()
    }

    #[test]
    fn models_depend_on_models_seeds_and_sources_and_tests_are_left_out() {
        let manifest = json!({
            "metadata": { "generated_at": "2026-11-26T10:00:00.123456Z" },
            "nodes": {
                "model.shop.stg_orders": {
                    "resource_type": "model", "database": "wh", "schema": "staging",
                    "name": "stg_orders", "alias": "stg_orders",
                    "depends_on": { "nodes": ["source.shop.raw.orders", "seed.shop.regions"] },
                },
                "seed.shop.regions": {
                    "resource_type": "seed", "database": "wh", "schema": "seeds",
                    "name": "regions", "alias": "regions", "depends_on": { "nodes": [] },
                },
                "model.shop.orders": {
                    "resource_type": "model", "database": "wh", "schema": "marts",
                    "name": "orders", "alias": "fct_orders",
                    "depends_on": { "macros": ["macro.dbt.x"], "nodes": ["model.shop.stg_orders"] },
                },
                "test.shop.not_null_orders_id": {
                    "resource_type": "test", "database": "wh", "schema": "marts",
                    "name": "not_null_orders_id",
                    "depends_on": { "nodes": ["model.shop.orders"] },
                },
            },
            "sources": {
                "source.shop.raw.orders": {
                    "resource_type": "source", "database": null, "schema": "raw",
                    "name": "orders", "identifier": "order_events",
                },
            },
        });
        let edges =
            edges(manifest.to_string().as_bytes(), Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pairs(&edges),
            [
                ("wh.staging.stg_orders", "wh.marts.fct_orders"),
                ("raw.order_events", "wh.staging.stg_orders"),
                ("wh.seeds.regions", "wh.staging.stg_orders"),
            ]
        );
        let generated = DateTime::parse_from_rfc3339("2026-11-26T10:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert!(edges.iter().all(|e| Some(e.at) == generated));
    }

    #[test]
    fn a_manifest_written_by_dbt_is_read() {
        // tests/lineage/dbt/generate.sh writes it with dbt-core 1.10 from the project there.
        let path = format!(
            "{}/../tests/lineage/dbt/manifest.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let edges = edges(&text, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pairs(&edges),
            [
                (
                    "warehouse.analytics_staging.stg_orders",
                    "warehouse.analytics.fct_orders"
                ),
                (
                    "warehouse.analytics_staging.stg_customers",
                    "warehouse.analytics.fct_orders"
                ),
                (
                    "warehouse.raw.customers",
                    "warehouse.analytics_staging.stg_customers"
                ),
                (
                    "warehouse.raw.order_events",
                    "warehouse.analytics_staging.stg_orders"
                ),
                (
                    "warehouse.analytics.regions",
                    "warehouse.analytics_staging.stg_orders"
                ),
            ]
        );
    }

    #[test]
    fn malformed_manifests_say_where() {
        let error = |text: &str| {
            edges(text.as_bytes(), Utc::now())
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            error("{\"nodes\": 3}"),
            Some("nodes must be an object".into())
        );
        assert_eq!(
            error(r#"{"nodes": {"model.a.b": {"resource_type": "model", "name": "b"}}}"#),
            Some("model.a.b.schema is missing".into())
        );
        assert_eq!(
            error(
                r#"{"nodes": {"model.a.b": {"resource_type": "model", "name": "b",
                   "schema": "s", "depends_on": {"nodes": "x"}}}}"#
            ),
            Some("model.a.b.depends_on.nodes must be an array".into())
        );
        assert!(error("not json").is_some_and(|m| m.starts_with("the file is not JSON: ")));
    }
}
