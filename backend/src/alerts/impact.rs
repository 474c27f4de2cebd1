//! What the lineage graph tells alerts: which datasets upstream of a failing one may have
//! caused it (its incident is then folded under theirs), and which downstream ones it puts
//! at risk (its notification names them and their owners).
//!
//! The graph is the whole one ([`crate::lineage::Builder`]: declared `upstream:`, the dbt
//! manifest, stored OpenLineage edges), walked to any depth. A server judges every run's
//! results against it, so an [`ImpactCache`] keeps the last one built and builds again
//! only when what it was built from changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};

use super::templates::AtRisk;
use crate::lineage::{Builder, Direction, Edge, Graph, ManifestCache, manifest_stamp, normalize};
use crate::spec::{Dataset, Project};
use crate::store::{EdgesVersion, Incident, Store, StoreError};

/// How long a built graph serves at most, even when nothing seems to have changed: an edge
/// pruned and another as old stored in its place leave the [`EdgesVersion`] as it was.
const REBUILD_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// What a graph was built from.
struct Built {
    project: Arc<Project>,
    edges: EdgesVersion,
    manifest: Manifest,
    at: Instant,
    impact: Arc<Impact>,
}

impl Built {
    fn serves(&self, project: &Arc<Project>, edges: EdgesVersion, manifest: Manifest) -> bool {
        Arc::ptr_eq(&self.project, project)
            && self.edges == edges
            && self.manifest == manifest
            && self.at.elapsed() < REBUILD_AFTER
    }
}

/// A dbt manifest's stamp ([`manifest_stamp`]), if the project names one.
type Manifest = Option<(u64, SystemTime)>;

/// The project's lineage graph, as alerts read it.
pub struct Impact {
    graph: Graph,
}

/// The graph built last, kept by the server's alerting and shared with its dashboard.
#[derive(Default)]
pub struct ImpactCache {
    last: tokio::sync::Mutex<Option<Built>>,
    /// The dbt manifest read last, for this graph and the dashboard's.
    manifests: ManifestCache,
}

impl ImpactCache {
    /// The dbt manifest read last: what other builders of the same graph read it through.
    pub fn manifests(&self) -> &ManifestCache {
        &self.manifests
    }

    /// The graph of `project` as it is now: the one built last if the project, the stored
    /// edges and the dbt manifest are as they were then (two cheap reads), else a new one.
    /// One build at a time: the runs of a minute tick all ask at once, and a graph of a
    /// large project built by each of them would take as much memory as there are runs.
    pub async fn current(&self, store: &Store, project: &Arc<Project>) -> Arc<Impact> {
        let edges = match store.edges_version().await {
            Ok(edges) => edges,
            // The full read will fail alike, and say so.
            Err(_) => {
                let impact = Impact::load(store, project, Utc::now(), &self.manifests).await;
                return Arc::new(impact);
            }
        };
        let manifest = project
            .lineage
            .dbt_manifest
            .as_deref()
            .and_then(manifest_stamp);
        let mut last = self.last.lock().await;
        if let Some(built) = last.as_ref().filter(|b| b.serves(project, edges, manifest)) {
            return Arc::clone(&built.impact);
        }
        let stored = store.edges().await;
        // A graph missing the stored edges is not kept: the next caller tries the store again.
        let complete = stored.is_ok();
        let impact = Arc::new(Impact::read(project, stored, Utc::now(), &self.manifests));
        if !complete {
            return impact;
        }
        *last = Some(Built {
            project: Arc::clone(project),
            edges,
            manifest,
            at: Instant::now(),
            impact: Arc::clone(&impact),
        });
        impact
    }
}

impl Impact {
    /// The graph of every source. Stored edges the store cannot give, or a manifest that
    /// cannot be read now, are logged and left out: the declared lineage still folds.
    pub async fn load(
        store: &Store,
        project: &Project,
        now: DateTime<Utc>,
        manifests: &ManifestCache,
    ) -> Impact {
        Impact::read(project, store.edges().await, now, manifests)
    }

    /// The graph of the project's own sources and the stored edges as the store gave them.
    fn read(
        project: &Project,
        stored: Result<Vec<Edge>, StoreError>,
        now: DateTime<Utc>,
        manifests: &ManifestCache,
    ) -> Impact {
        let stored = stored.unwrap_or_else(|e| {
            tracing::warn!("lineage edges not read; alerts use the others: {e}");
            Vec::new()
        });
        Impact::new(project, stored, now, manifests)
    }

    /// The graph of the project's own sources and the `stored` edges.
    fn new(
        project: &Project,
        stored: Vec<Edge>,
        now: DateTime<Utc>,
        manifests: &ManifestCache,
    ) -> Impact {
        let mut builder = Builder::new(project, now, manifests);
        builder.edges(stored);
        let (graph, problems) = builder.finish();
        for problem in problems {
            tracing::warn!("lineage source left out of alerts: {problem}");
        }
        Impact { graph }
    }

    /// The names of the project's datasets upstream of `dataset` (to any depth), each with
    /// its distance; its declared `upstream:` names always among them (at distance 1).
    pub fn upstream(&self, dataset: &Dataset) -> BTreeMap<String, usize> {
        let mut upstream: BTreeMap<String, usize> = self
            .reached(&dataset.name, Direction::Upstream)
            .into_iter()
            .filter_map(|(node, distance)| Some((self.declared(&node)?.to_owned(), distance)))
            .collect();
        for name in &dataset.upstream {
            upstream.entry(name.clone()).or_insert(1);
        }
        upstream.remove(&dataset.name);
        upstream
    }

    /// Every dataset downstream of `dataset` (to any depth), nearest first, with its owner
    /// when the project declares it.
    pub fn downstream(&self, dataset: &str, project: &Project) -> Vec<AtRisk> {
        let mut reached: Vec<(usize, String)> = self
            .reached(dataset, Direction::Downstream)
            .into_iter()
            .map(|(node, distance)| {
                let shown = self.declared(&node).map(str::to_owned);
                (distance, shown.unwrap_or(node))
            })
            .collect();
        reached.sort();
        reached
            .into_iter()
            .map(|(_, name)| AtRisk {
                owner: owner_of(project, &name).unwrap_or_default().to_owned(),
                dataset: name,
            })
            .collect()
    }

    /// The nodes `direction` of the dataset (to any depth, itself left out), by name.
    fn reached(&self, dataset: &str, direction: Direction) -> BTreeMap<String, usize> {
        let mut reached = self.graph.impact(&normalize(dataset), direction, None);
        reached.retain(|_, distance| *distance > 0);
        reached
    }

    /// The project's dataset a node stands for.
    fn declared(&self, node: &str) -> Option<&str> {
        self.graph.node(node)?.dataset.as_deref()
    }
}

fn owner_of<'p>(project: &'p Project, dataset: &str) -> Option<&'p str> {
    let declared = project.datasets.iter().find(|d| d.name == dataset)?;
    declared.owner.as_deref()
}

/// The incident a new incident of a dataset is folded under: among the active incidents
/// of datasets upstream of it, the root causes (not themselves folded) before the folded,
/// the nearest first, then the oldest. A folded one stands for its own cause, so a chain
/// of failures folds under the incident at its root.
pub fn likely_cause(latest: &[Incident], upstream: &BTreeMap<String, usize>) -> Option<i64> {
    latest
        .iter()
        .filter(|i| i.status.is_active())
        .filter_map(|i| Some((i.cause.is_some(), *upstream.get(&i.dataset)?, i.id, i)))
        .min_by_key(|(folded, distance, id, _)| (*folded, *distance, *id))
        .map(|(_, _, _, i)| i.cause.unwrap_or(i.id))
}

/// How long before an upstream incident opened a downstream one may have opened and still
/// be taken for its consequence: the downstream check ran first and failed first, the
/// cause was found at its own next run.
const ADOPT_WITHIN: TimeDelta = TimeDelta::days(1);

/// The incidents among `latest` (of datasets downstream of `root`'s) that the new root
/// incident `root` adopts as its consequences: active, not folded under anything yet, and
/// opened at most [`ADOPT_WITHIN`] before it. A downstream incident older than that broke
/// on its own.
pub fn adopted<'a>(root: &Incident, latest: &'a [Incident]) -> impl Iterator<Item = &'a Incident> {
    let since = root.opened_at - ADOPT_WITHIN;
    latest.iter().filter(move |i| {
        i.dataset != root.dataset
            && i.status.is_active()
            && i.cause.is_none()
            && (since..=root.opened_at).contains(&i.opened_at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::IncidentStatus;

    fn incident(id: i64, dataset: &str, status: IncidentStatus, cause: Option<i64>) -> Incident {
        let at = Utc::now();
        Incident {
            id,
            dataset: dataset.into(),
            check: "row_count".into(),
            kind: crate::store::IncidentKind::Failure,
            sla: false,
            severity: crate::spec::Severity::Medium,
            status,
            opened_at: at,
            last_seen_at: at,
            resolved_at: None,
            resolved_by: None,
            acknowledged_at: None,
            muted_until: None,
            count: 1,
            flaps: 0,
            value: None,
            expected: None,
            message: String::new(),
            cause,
            version: 1,
            announced: None,
            last_notified_at: None,
        }
    }

    /// `raw` (owner `a`) feeds `mart` (owner `b`) as declared; an orchestrator reported
    /// `mart` feeding `x.report` through a job, and `x.report` feeding `raw` (a cycle).
    fn impact(dir: &std::path::Path) -> (Impact, Project) {
        let write = |path: &str, text: &str| {
            std::fs::create_dir_all(dir.join("checks")).ok();
            std::fs::write(dir.join(path), text).ok();
        };
        write(
            "tidemark.yml",
            "version: 1\nwarehouses: { main: { url: 'sqlite://a.db' } }\n\
             owners: { a: {}, b: {} }\n",
        );
        write("checks/raw.yml", "dataset: raw\nowner: a\nchecks: []\n");
        write(
            "checks/mart.yml",
            "dataset: mart\nowner: b\nupstream: [raw]\nchecks: []\n",
        );
        let project =
            crate::spec::load_with_env(dir, &|_| None).unwrap_or_else(|e| panic!("{e:?}"));
        let mut stored = crate::lineage::RunEvent {
            job: "airflow/report".into(),
            event_time: Utc::now(),
            inputs: vec!["db.mart".into()],
            outputs: vec!["x.report".into()],
        }
        .edges();
        stored.push(Edge::seen(
            "x.report",
            "raw",
            crate::lineage::Source::OpenLineage,
            Utc::now(),
        ));
        let manifests = ManifestCache::default();
        (
            Impact::new(&project, stored, Utc::now(), &manifests),
            project,
        )
    }

    #[test]
    fn upstream_and_downstream_walk_every_source_to_any_depth() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (impact, project) = impact(dir.path());
        let dataset = |name: &str| project.datasets.iter().find(|d| d.name == name);
        let Some(mart) = dataset("mart") else {
            panic!("no mart");
        };
        // Only project datasets can have incidents; `x.report` is not one.
        assert_eq!(impact.upstream(mart), BTreeMap::from([("raw".into(), 1)]));
        let at_risk = |name: &str| -> Vec<(String, String)> {
            impact
                .downstream(name, &project)
                .into_iter()
                .map(|d| (d.dataset, d.owner))
                .collect()
        };
        assert_eq!(
            at_risk("raw"),
            [
                ("mart".into(), "b".into()),
                ("x.report".into(), String::new())
            ]
        );
        assert_eq!(
            at_risk("x.report"),
            [("raw".into(), "a".into()), ("mart".into(), "b".into())]
        );
    }

    #[test]
    fn the_cause_is_the_nearest_active_root_upstream() {
        let upstream = BTreeMap::from([("raw".to_owned(), 2), ("stg".to_owned(), 1)]);
        let raw = incident(1, "raw", IncidentStatus::Open, None);
        let stg_folded = incident(2, "stg", IncidentStatus::Open, Some(1));
        let stg_root = incident(3, "stg", IncidentStatus::Acknowledged, None);
        let elsewhere = incident(4, "other", IncidentStatus::Open, None);
        let closed = incident(5, "stg", IncidentStatus::Resolved, None);
        let cause = |latest: &[Incident]| likely_cause(latest, &upstream);
        assert_eq!(cause(&[raw.clone(), stg_root.clone()]), Some(3));
        // A folded incident stands for its own cause.
        assert_eq!(cause(std::slice::from_ref(&stg_folded)), Some(1));
        assert_eq!(cause(&[stg_folded, raw.clone()]), Some(1));
        assert_eq!(cause(&[elsewhere, closed]), None);
    }

    #[test]
    fn a_new_root_adopts_the_recent_unfolded_incidents_downstream() {
        let root = incident(9, "raw", IncidentStatus::Open, None);
        let opened = |mut i: Incident, hours_before: i64| {
            i.opened_at = root.opened_at - TimeDelta::hours(hours_before);
            i
        };
        let latest = [
            root.clone(),
            opened(incident(1, "mart", IncidentStatus::Open, None), 2),
            opened(incident(2, "mart", IncidentStatus::Acknowledged, None), 23),
            opened(incident(3, "mart", IncidentStatus::Open, Some(7)), 1),
            opened(incident(4, "mart", IncidentStatus::Resolved, None), 1),
            opened(incident(5, "mart", IncidentStatus::Open, None), 25),
            opened(incident(6, "mart", IncidentStatus::Open, None), -1),
        ];
        let ids: Vec<i64> = adopted(&root, &latest).map(|i| i.id).collect();
        assert_eq!(ids, [1, 2]);
    }
}
