//! OpenLineage run events, as Airflow, Spark and dbt integrations post them to
//! `/api/v1/lineage` (Marquez's path, so they need no change but the URL).
//!
//! An event names a job and the datasets it read (`inputs`) and wrote (`outputs`), but one
//! event need not carry both: the specification's own examples send the inputs with START
//! and the outputs with COMPLETE. So each event is kept as edges through its job
//! (`input → job`, `job → output`), and [`collapse_jobs`] joins them into dataset edges when
//! the graph is built. A job's datasets accumulate across its runs, each edge with the last
//! time it was reported, as in Marquez's job-centred model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::graph::{Edge, Source};
use crate::formats::json::At;

/// Job nodes are kept under this prefix; dataset names never start with it.
const JOB_PREFIX: &str = "openlineage-job:";

/// What Tidemark keeps of a run event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEvent {
    /// `namespace/name` of the job.
    pub job: String,
    pub event_time: DateTime<Utc>,
    /// Dataset names read and written (their namespaces are not part of the key).
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an OpenLineage run event: {0}")]
pub struct EventError(pub String);

impl RunEvent {
    /// Reads a RunEvent (or a JobEvent, which has no `run`) from its JSON text.
    pub fn parse(text: &[u8]) -> Result<RunEvent, EventError> {
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| EventError(format!("the body is not JSON: {e}")))?;
        Self::from_json(&value).map_err(EventError)
    }

    fn from_json(value: &Value) -> Result<RunEvent, String> {
        let root = At::root(value);
        let time = root.text("eventTime")?;
        let event_time = DateTime::parse_from_rfc3339(time)
            .map_err(|_| {
                format!(
                    "eventTime must be an RFC 3339 time such as 2026-01-31T00:00:00Z, not {time:?}"
                )
            })?
            .with_timezone(&Utc);
        let job = At {
            value: root.get("job")?.unwrap_or(&Value::Null),
            path: "job",
        };
        if job.value.is_null() {
            return Err("job is missing".into());
        }
        Ok(RunEvent {
            job: format!("{}/{}", job.text("namespace")?, job.text("name")?),
            event_time,
            inputs: datasets(root, "inputs")?,
            outputs: datasets(root, "outputs")?,
        })
    }

    /// The event's edges through its job, for the store.
    pub fn edges(&self) -> Vec<Edge> {
        let job = format!("{JOB_PREFIX}{}", self.job);
        let at = self.event_time;
        let reads = self
            .inputs
            .iter()
            .map(|input| Edge::seen(input, &job, Source::OpenLineage, at));
        let writes = self
            .outputs
            .iter()
            .map(|output| Edge::seen(&job, output, Source::OpenLineage, at));
        reads.chain(writes).collect()
    }
}

/// The names of the datasets listed under `key`.
fn datasets(root: At<'_, '_>, key: &str) -> Result<Vec<String>, String> {
    let list = root.array(key)?;
    list.iter()
        .enumerate()
        .map(|(i, value)| {
            let path = format!("{key}[{i}]");
            let dataset = At { value, path: &path };
            dataset.text("namespace")?;
            Ok(dataset.text("name")?.to_owned())
        })
        .collect()
}

/// Dataset edges from stored edges: every edge through a job becomes one from each of the
/// job's inputs to each of its outputs: first seen once both halves were, last seen when
/// either last was. Edges not through a job pass unchanged.
pub fn collapse_jobs(edges: Vec<Edge>) -> Vec<Edge> {
    let mut reads: BTreeMap<String, Vec<Edge>> = BTreeMap::new();
    let mut writes: BTreeMap<String, Vec<Edge>> = BTreeMap::new();
    let mut direct = Vec::new();
    for edge in edges {
        if edge.downstream.starts_with(JOB_PREFIX) {
            reads.entry(edge.downstream.clone()).or_default().push(edge);
        } else if edge.upstream.starts_with(JOB_PREFIX) {
            writes.entry(edge.upstream.clone()).or_default().push(edge);
        } else {
            direct.push(edge);
        }
    }
    for (job, inputs) in &reads {
        for input in inputs {
            for output in writes.get(job).into_iter().flatten() {
                direct.push(Edge {
                    upstream: input.upstream.clone(),
                    downstream: output.downstream.clone(),
                    source: Source::OpenLineage,
                    first_seen: input.first_seen.max(output.first_seen),
                    last_seen: input.last_seen.max(output.last_seen),
                });
            }
        }
    }
    direct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/lineage/openlineage/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn parse(name: &str) -> RunEvent {
        RunEvent::parse(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_specifications_examples_are_read() {
        let start = parse("start-single-input.json");
        assert_eq!(
            start,
            RunEvent {
                job: "workshop/process_taxes".into(),
                event_time: time("2020-12-28T09:52:00.001Z"),
                inputs: vec!["workshop.public.taxes".into()],
                outputs: vec![],
            }
        );
        let complete = parse("complete-single-output.json");
        assert_eq!(complete.outputs, ["workshop.public.unpaid_taxes"]);
        let with_facets = parse("complete-dataset-facets.json");
        assert_eq!(with_facets.outputs, complete.outputs);
        assert_eq!(with_facets.event_time, time("2020-12-28T10:52:00.001Z"));
    }

    #[test]
    fn a_runs_start_and_complete_make_one_dataset_edge() {
        let mut edges = parse("start-single-input.json").edges();
        edges.extend(parse("complete-single-output.json").edges());
        let collapsed = collapse_jobs(edges);
        assert_eq!(
            collapsed,
            [Edge {
                upstream: "workshop.public.taxes".into(),
                downstream: "workshop.public.unpaid_taxes".into(),
                source: Source::OpenLineage,
                first_seen: time("2020-12-28T10:52:00.001Z"),
                last_seen: time("2020-12-28T10:52:00.001Z"),
            }]
        );
    }

    #[test]
    fn malformed_events_say_what_is_wrong() {
        let error = |body: &str| {
            RunEvent::parse(body.as_bytes())
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            error("{"),
            Some(
                "not an OpenLineage run event: the body is not JSON: EOF while parsing an object \
                 at line 1 column 1"
                    .into()
            )
        );
        assert_eq!(
            error("[]"),
            Some("not an OpenLineage run event: the document must be an object".into())
        );
        let ok_job = r#""job": {"namespace": "n", "name": "j"}"#;
        assert_eq!(
            error(&format!(r#"{{"eventTime": "yesterday", {ok_job}}}"#)),
            Some(
                "not an OpenLineage run event: eventTime must be an RFC 3339 time such as \
                 2026-01-31T00:00:00Z, not \"yesterday\""
                    .into()
            )
        );
        assert_eq!(
            error(r#"{"eventTime": "2026-01-01T00:00:00Z"}"#),
            Some("not an OpenLineage run event: job is missing".into())
        );
        assert_eq!(
            error(&format!(
                r#"{{"eventTime": "2026-01-01T00:00:00Z", {ok_job}, "inputs": [{{"namespace": "n", "name": "a"}}, {{"namespace": "n"}}]}}"#
            )),
            Some("not an OpenLineage run event: inputs[1].name is missing".into())
        );
        assert_eq!(
            error(&format!(
                r#"{{"eventTime": "2026-01-01T00:00:00Z", {ok_job}, "outputs": "t"}}"#
            )),
            Some("not an OpenLineage run event: outputs must be an array".into())
        );
    }
}
