//! Lineage over HTTP: OpenLineage run events in (Marquez's path, so existing integrations
//! only need the URL), the dataset graph and impact out. The graph is built on each read
//! from the project in force, the dbt manifest and the stored events, so a reload or a new
//! manifest shows at once.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::params::Params;
use crate::lineage::{Builder, Direction, Graph, Report, RunEvent};

/// What `POST /lineage` recorded.
#[derive(Debug, Serialize)]
pub struct Recorded {
    /// `namespace/name` of the event's job.
    job: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// `POST /lineage`: an OpenLineage RunEvent (or JobEvent).
pub async fn record(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Recorded>), ApiError> {
    let event = RunEvent::parse(&body).map_err(|e| ApiError::InvalidBody(e.to_string()))?;
    state.store.upsert_edges(&event.edges()).await?;
    Ok((
        StatusCode::CREATED,
        Json(Recorded {
            job: event.job,
            inputs: event.inputs,
            outputs: event.outputs,
        }),
    ))
}

impl AppState {
    /// The graph of the project in force and the stored edges, and the problems met
    /// building it (the API and the dashboard's lineage page draw the same graph).
    pub(crate) async fn lineage_graph(&self) -> Result<(Graph, Vec<String>), ApiError> {
        let stored = self.store.edges().await?;
        let mut builder = Builder::new(&self.project(), Utc::now(), self.impacts.manifests());
        builder.edges(stored);
        Ok(builder.finish())
    }
}

/// `GET /lineage?dataset=&direction=upstream|downstream|both&depth=`: the whole graph, or
/// what is upstream and/or downstream of one dataset (to any depth, or `depth` edges).
pub async fn graph(
    State(state): State<AppState>,
    mut params: Params,
) -> Result<Json<Report>, ApiError> {
    let dataset = params.text("dataset")?;
    let direction = params
        .parsed(
            "direction",
            "one of upstream, downstream, both",
            Direction::parse,
        )?
        .unwrap_or(Direction::Both);
    let depth = params.parsed("depth", "a whole number of at least 1", |s| {
        s.parse::<usize>().ok().filter(|n| *n >= 1)
    })?;
    params.finish()?;
    let (graph, problems) = state.lineage_graph().await?;
    let Some(dataset) = dataset else {
        return Ok(Json(Report::new(&graph, &BTreeMap::new(), problems)));
    };
    let name = crate::lineage::normalize(&dataset);
    if graph.node(&name).is_none() {
        return Err(ApiError::NotFound(format!(
            "no dataset named {dataset:?} in the lineage graph"
        )));
    }
    let distances = graph.impact(&name, direction, depth);
    let names: BTreeSet<String> = distances.keys().cloned().collect();
    Ok(Json(Report::new(
        &graph.subgraph(&names),
        &distances,
        problems,
    )))
}
