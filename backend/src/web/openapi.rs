//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. Paths, methods and security
//! come from the route table ([`ROUTES`]); what each operation takes and returns is written
//! here, next to the schemas of the response bodies. The end-to-end tests validate real
//! responses against these schemas, so a field added to a response must be added here too.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::AppState;
use super::datasets::Health;
use super::error::ApiError;
use super::params::Params;
use super::router::{API_PREFIX, Access, Operation, ROUTES, Route};
use crate::lineage::Source;
use crate::store::{
    EventKind, IncidentKind, IncidentStatus, NotificationStatus, Page, RunStatus, Transition,
    Trigger,
};

/// `GET /openapi.json`
pub async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document(state.read_needs_token))
}

/// The document for a server that does (or does not) require a token for reading.
pub fn document(read_needs_token: bool) -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.verb.name().into(),
                operation(&route, read_needs_token),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tidemark API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Datasets and their health, check results, runs, metric series and \
                schema history kept by a Tidemark server; actions to run a dataset now and to \
                reload the configuration. Errors are JSON: {\"error\": {\"code\", \"message\"}}.",
        },
        "servers": [{ "url": API_PREFIX }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token made with `tidemark token create`. Needed for \
                        POST endpoints, and for GET endpoints other than /health and /ready \
                        when the server is started to require it.",
                },
            },
            "parameters": parameters(),
            "responses": error_responses(),
            "schemas": schemas(),
        },
    })
}

/// One operation, with the security and error responses its access implies.
fn operation(route: &Route, read_needs_token: bool) -> Value {
    let mut op = describe(route.operation);
    let protected = match route.access {
        Access::Public => false,
        Access::Read => read_needs_token,
        Access::Write => true,
    };
    let security = if protected {
        json!([{ "bearer": [] }])
    } else {
        json!([])
    };
    op["security"] = security;
    if protected {
        op["responses"]["401"] = error_ref("Unauthorized");
    }
    if route.operation != Operation::Health {
        op["responses"]["500"] = error_ref("Internal");
        op["responses"]["503"] = error_ref("Unavailable");
    }
    op
}

fn describe(operation: Operation) -> Value {
    match operation {
        Operation::Health => json!({
            "operationId": "health",
            "tags": ["probes"],
            "summary": "Liveness: the server process answers",
            "responses": { "200": ok("Status", "Always `{\"status\": \"ok\"}`") },
        }),
        Operation::Ready => json!({
            "operationId": "ready",
            "tags": ["probes"],
            "summary": "Readiness: the results store answers",
            "responses": { "200": ok("Status", "`{\"status\": \"ready\"}`") },
        }),
        Operation::OpenApi => json!({
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document",
                    "content": { "application/json": { "schema": { "type": "object" } } },
                },
            },
        }),
        Operation::ListDatasets => json!({
            "operationId": "listDatasets",
            "tags": ["datasets"],
            "summary": "Every dataset of the project with its current health",
            "description": "In the order the project declares them; not paged (`next` is \
                always null).",
            "responses": {
                "200": ok("DatasetList", "The datasets"),
                "400": error_ref("BadRequest"),
            },
        }),
        Operation::GetDataset => json!({
            "operationId": "getDataset",
            "tags": ["datasets"],
            "summary": "One dataset with its checks and the latest result of each",
            "parameters": [param("name")],
            "responses": {
                "200": ok("DatasetDetail", "The dataset"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::MetricSeries => json!({
            "operationId": "getMetricSeries",
            "tags": ["datasets"],
            "summary": "A check's values over time, oldest first",
            "parameters": [param("name"), param("check"), param("since")],
            "responses": {
                "200": ok("MetricSeries", "The series"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::SchemaHistory => json!({
            "operationId": "getSchemaHistory",
            "tags": ["datasets"],
            "summary": "The shapes the dataset's table has had, newest first",
            "description": "Each snapshot whose columns differ from the one before it.",
            "parameters": [param("name")],
            "responses": {
                "200": ok("SchemaHistory", "The snapshots"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::RunDataset => json!({
            "operationId": "runDataset",
            "tags": ["actions"],
            "summary": "Run a dataset's checks now",
            "description": "The scheduler starts a run with trigger `manual`; the response \
                comes once it is recorded, with its URL in `Location`.",
            "parameters": [param("name")],
            "responses": {
                "202": ok("RunAccepted", "The run started"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
                "409": error_ref("RunRefused"),
            },
        }),
        Operation::ListRuns => json!({
            "operationId": "listRuns",
            "tags": ["runs"],
            "summary": "Runs, newest first, filtered and paged",
            "parameters": [
                param("datasetFilter"), param("status"), param("trigger"),
                param("limit"), param("before"),
            ],
            "responses": {
                "200": ok("RunPage", "A page of runs"),
                "400": error_ref("BadRequest"),
            },
        }),
        Operation::GetRun => json!({
            "operationId": "getRun",
            "tags": ["runs"],
            "summary": "One run",
            "parameters": [param("id")],
            "responses": {
                "200": ok("Run", "The run"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::ListResults => json!({
            "operationId": "listResults",
            "tags": ["results"],
            "summary": "Check results, newest first, filtered and paged",
            "parameters": [
                param("datasetFilter"), param("checkFilter"), param("outcome"),
                param("runId"), param("since"), param("until"),
                param("limit"), param("before"),
            ],
            "responses": {
                "200": ok("ResultPage", "A page of results"),
                "400": error_ref("BadRequest"),
            },
        }),
        Operation::MarkResult => json!({
            "operationId": "markResult",
            "tags": ["results"],
            "summary": "Tell anomaly detection what a result was",
            "description": "`expected`: the new normal, learned from even if it was judged an \
                anomaly; `incident`: a real problem, never learned from; `none` clears the \
                mark. The check's next run honours it.",
            "parameters": [param("resultId"), param("mark")],
            "responses": {
                "200": ok("ResultMark", "The mark recorded"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::Reload => json!({
            "operationId": "reload",
            "tags": ["actions"],
            "summary": "Re-read the project files",
            "description": "Schedules and in-flight runs are kept. When the files have \
                problems the running configuration stays as it was and the problems are \
                returned as `path:line:col: message` in `error.diagnostics`.",
            "responses": {
                "200": ok("Status", "`{\"status\": \"reloaded\"}`"),
                "422": error_ref("InvalidConfiguration"),
            },
        }),
        Operation::ListIncidents => json!({
            "operationId": "listIncidents",
            "tags": ["incidents"],
            "summary": "Incidents, newest first, filtered and paged",
            "parameters": [
                param("datasetFilter"), param("incidentStatus"), param("limit"), param("before"),
            ],
            "responses": {
                "200": ok("IncidentPage", "A page of incidents"),
                "400": error_ref("BadRequest"),
            },
        }),
        Operation::GetIncident => json!({
            "operationId": "getIncident",
            "tags": ["incidents"],
            "summary": "One incident",
            "parameters": [param("incidentId")],
            "responses": {
                "200": ok("Incident", "The incident"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::IncidentEvents => json!({
            "operationId": "incidentEvents",
            "tags": ["incidents"],
            "summary": "An incident's timeline, oldest first: who opened, acknowledged, muted \
                or resolved it, and when (the latest 200 events)",
            "parameters": [param("incidentId")],
            "responses": {
                "200": ok("IncidentEvents", "The incident's timeline"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
        Operation::AcknowledgeIncident => incident_action(
            "acknowledgeIncident",
            "Acknowledge an incident: someone is on it, so no more reminders",
            vec![param("incidentId")],
        ),
        Operation::ResolveIncident => incident_action(
            "resolveIncident",
            "Resolve an incident by hand; its channels are told, as for a passing check",
            vec![param("incidentId")],
        ),
        Operation::MuteIncident => incident_action(
            "muteIncident",
            "Mute an incident's notifications until a time; what they missed is told after",
            vec![param("incidentId"), param("muteUntil")],
        ),
        Operation::ListNotifications => json!({
            "operationId": "listNotifications",
            "tags": ["incidents"],
            "summary": "Notifications of incidents, newest first; `status=dead` lists dead letters",
            "parameters": [
                param("notificationStatus"), param("incidentFilter"), param("limit"),
                param("before"),
            ],
            "responses": {
                "200": ok("NotificationPage", "A page of notifications"),
                "400": error_ref("BadRequest"),
            },
        }),
        Operation::RecordLineage => json!({
            "operationId": "recordLineage",
            "tags": ["lineage"],
            "summary": "Record an OpenLineage run event",
            "description": "The path Marquez serves, so OpenLineage integrations (Airflow, \
                Spark, dbt) can post here as they are. The job's inputs feed its outputs; a \
                run's START may carry the inputs and its COMPLETE the outputs. Dataset names \
                are kept without their namespaces.",
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "description": "An OpenLineage RunEvent or JobEvent \
                        (https://openlineage.io/spec/2-0-2/OpenLineage.json)",
                    "required": ["eventTime", "job"],
                } } },
            },
            "responses": {
                "201": ok("LineageRecorded", "The event's job and datasets, recorded"),
                "400": error_ref("InvalidBody"),
            },
        }),
        Operation::GetLineage => json!({
            "operationId": "getLineage",
            "tags": ["lineage"],
            "summary": "The dataset graph, or what is upstream and downstream of a dataset",
            "description": "Built from the datasets' `upstream:` lists, the dbt manifest named \
                in tidemark.yml and the OpenLineage events recorded. With `dataset`, only the \
                nodes reached from it (in `direction`, up to `depth` edges away) and the edges \
                between them; each node's `distance` says how far.",
            "parameters": [param("lineageDataset"), param("direction"), param("depth")],
            "responses": {
                "200": ok("Lineage", "The graph"),
                "400": error_ref("BadRequest"),
                "404": error_ref("NotFound"),
            },
        }),
    }
}

/// A POST on one incident answering with the incident as it became.
fn incident_action(id: &str, summary: &str, parameters: Vec<Value>) -> Value {
    json!({
        "operationId": id,
        "tags": ["incidents"],
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": ok("Incident", "The incident after the action"),
            "400": error_ref("BadRequest"),
            "404": error_ref("NotFound"),
            "409": error_ref("Conflict"),
        },
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema_ref(schema) } },
    })
}

fn error_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn error_responses() -> Value {
    let response = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": schema_ref("Error") } },
        })
    };
    json!({
        "BadRequest": response("A parameter is invalid, repeated or unknown; \
            `error.parameter` names it"),
        "Unauthorized": response("The bearer token is missing or not valid \
            (with a `WWW-Authenticate: Bearer` challenge)"),
        "InvalidBody": response("The request body could not be used; `error.message` \
            says why"),
        "NotFound": response("No such dataset, check or run"),
        "RunRefused": response("The scheduler declined to start the run"),
        "Conflict": response("The action does not fit the incident's state (it is resolved, \
            or the mute would end in the past)"),
        "InvalidConfiguration": response("The project files have problems, listed in \
            `error.diagnostics`"),
        "Unavailable": response("The results store or the scheduler is not available"),
        "Internal": response("An internal error (details are in the server log)"),
    })
}

fn parameters() -> Value {
    let path = |name: &str, description: &str| {
        json!({
            "name": name, "in": "path", "required": true,
            "description": description,
            "schema": { "type": "string" },
        })
    };
    let query = |name: &str, description: &str, schema: Value| {
        json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": schema,
        })
    };
    let time = json!({ "type": "string", "format": "date-time" });
    json!({
        "name": path("name", "The dataset's name as written in its file (e.g. \
            `analytics.orders`), percent-encoded"),
        "check": path("check", "The check's name (e.g. `missing_count(email)`), percent-encoded"),
        "id": path("id", "The run's id (a UUID)"),
        "incidentId": path("id", "The incident's id (a positive number)"),
        "resultId": path("id", "The result's id (a positive number)"),
        "mark": {
            "name": "mark", "in": "query", "required": true,
            "description": "expected, incident, or none to clear the mark",
            "schema": { "enum": ["expected", "incident", "none"] },
        },
        "incidentStatus": query("status", "Only incidents in this state",
            schema_ref("IncidentStatus")),
        "notificationStatus": query("status", "Only notifications in this state",
            schema_ref("NotificationStatus")),
        "incidentFilter": query("incident", "Only notifications of this incident",
            json!({ "type": "integer", "minimum": 1 })),
        "muteUntil": {
            "name": "until", "in": "query", "required": true,
            "description": "When the mute ends (RFC 3339, in the future)",
            "schema": { "type": "string", "format": "date-time" },
        },
        "datasetFilter": query("dataset", "Only this dataset", json!({ "type": "string" })),
        "lineageDataset": query("dataset", "Only what is upstream or downstream of this \
            dataset (by its name in the graph)", json!({ "type": "string" })),
        "direction": query("direction", "Which way from `dataset`",
            json!({ "enum": ["upstream", "downstream", "both"], "default": "both" })),
        "depth": query("depth", "At most this many edges from `dataset` (default: any)",
            json!({ "type": "integer", "minimum": 1 })),
        "checkFilter": query("check", "Only this check", json!({ "type": "string" })),
        "status": query("status", "Only runs in this state", schema_ref("RunStatus")),
        "trigger": query("trigger", "Only runs started this way", schema_ref("Trigger")),
        "outcome": query("outcome", "Only results with this outcome", schema_ref("Outcome")),
        "runId": query("run_id", "Only results of this run",
            json!({ "type": "string", "format": "uuid" })),
        "since": query("since", "Only from this time on (RFC 3339)", time.clone()),
        "until": query("until", "Only up to this time (RFC 3339)", time),
        "limit": query("limit", "Page size", json!({
            "type": "integer", "minimum": 1, "maximum": Page::MAX_LIMIT,
            "default": Params::DEFAULT_LIMIT,
        })),
        "before": query("before", "The `next` cursor of the previous page",
            json!({ "type": "integer", "minimum": 1 })),
    })
}

/// An object schema whose properties are all present in every response, except `optional`.
fn object(properties: Value, optional: &[&str]) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|p| {
            p.keys()
                .filter(|k| !optional.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    json!({ "type": "object", "properties": properties, "required": required })
}

fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

fn page_of(item: &str) -> Value {
    object(
        json!({
            "items": { "type": "array", "items": schema_ref(item) },
            "next": {
                "type": ["integer", "null"],
                "description": "Pass as `before` for the next page; null on the last page",
            },
        }),
        &[],
    )
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let opt_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "format": "date-time" });
    let opt_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let uuid = json!({ "type": "string", "format": "uuid" });
    let count = json!({ "type": "integer", "minimum": 0 });

    let dataset_properties = json!({
        "name": string,
        "warehouse": { "type": "string", "description": "The warehouse's name" },
        "owner": opt_string,
        "tags": strings,
        "upstream": strings,
        "schedule": {
            "type": ["string", "null"],
            "description": "Effective cron schedule (the dataset's or the project default)",
        },
        "timezone": string,
        "check_count": count,
        "health": schema_ref("Health"),
        "last_run_id": { "type": ["string", "null"], "format": "uuid" },
        "last_run_at": opt_time,
    });
    let mut detail_properties = dataset_properties.clone();
    detail_properties["checks"] = json!({ "type": "array", "items": schema_ref("Check") });

    let mut all = json!({
        "Error": object(json!({
            "error": object(json!({
                "code": { "type": "string", "enum": ApiError::CODES },
                "message": string,
                "parameter": { "type": "string", "description": "The invalid parameter (400)" },
                "diagnostics": {
                    "description": "Each problem as `path:line:col: message` (422)",
                    "type": "array", "items": { "type": "string" },
                },
            }), &["parameter", "diagnostics"]),
        }), &[]),
        "Status": object(json!({ "status": string }), &[]),
        "Outcome": { "type": "string", "enum": ["pass", "warn", "fail", "error"] },
        "Health": {
            "type": "string", "enum": Health::ALL,
            "description": "The worst outcome among the latest results of the dataset's \
                checks; `unknown` before the first result",
        },
        "RunStatus": {
            "type": "string", "enum": RunStatus::ALL,
        },
        "Trigger": { "type": "string", "enum": Trigger::ALL },
        "Severity": { "type": "string", "enum": ["low", "medium", "high", "critical"] },
        "Summary": object(json!({
            "pass": count, "warn": count, "fail": count, "error": count,
        }), &[]),
        "Dataset": object(dataset_properties, &[]),
        "DatasetList": page_of("Dataset"),
        "DatasetDetail": object(detail_properties, &[]),
        "Check": object(json!({
            "name": string,
            "kind": string,
            "column": opt_string,
            "columns": strings,
            "severity": nullable(schema_ref("Severity")),
            "description": opt_string,
            "latest": nullable(schema_ref("Result")),
        }), &[]),
        "Result": object(json!({
            "id": { "type": "integer", "description": "Increases with insertion" },
            "run_id": uuid,
            "check_hash": {
                "type": "string",
                "description": "Hash of the check's definition when the result was taken",
            },
            "observed_at": time,
            "dataset": string,
            "warehouse": string,
            "check": string,
            "kind": string,
            "column": opt_string,
            "columns": {
                "type": "array", "items": { "type": "string" },
                "description": "Only for checks over several columns",
            },
            "outcome": schema_ref("Outcome"),
            "value": { "type": ["number", "null"] },
            "expected": { "description": "The thresholds the value was judged against" },
            "message": string,
            "severity": schema_ref("Severity"),
            "band": schema_ref("Band"),
        }), &["columns", "severity", "band"]),
        "Band": object(json!({
            "lower": { "type": "number" },
            "upper": { "type": "number" },
            "anomalous": {
                "type": "boolean",
                "description": "The anomaly threshold judged the value an anomaly",
            },
        }), &[]),
        "ResultMark": object(json!({
            "result_id": { "type": "integer" },
            "feedback": {
                "anyOf": [schema_ref("Feedback"), { "type": "null" }],
            },
        }), &[]),
        "Feedback": { "enum": ["expected", "incident"] },
        "ResultPage": page_of("Result"),
        "Run": object(json!({
            "id": uuid,
            "batch_id": {
                "type": "string", "format": "uuid",
                "description": "Groups the runs of one invocation",
            },
            "dataset": string,
            "warehouse": string,
            "trigger": schema_ref("Trigger"),
            "slot": {
                "type": ["string", "null"], "format": "date-time",
                "description": "The cron slot of a scheduled run",
            },
            "status": schema_ref("RunStatus"),
            "replica": { "type": "string", "description": "The process that ran it" },
            "started_at": time,
            "finished_at": opt_time,
            "lease_until": time,
            "error": {
                "type": ["string", "null"],
                "description": "Why the run itself failed (not a check)",
            },
            "summary": schema_ref("Summary"),
            "cost": nullable(schema_ref("Cost")),
        }), &[]),
        "Cost": object(json!({
            "seconds": {
                "type": "number",
                "description": "How long the warehouse took to answer the run's queries",
            },
            "rows_scanned": {
                "type": "integer",
                "description": "Rows its scans read, where the engine reports them",
            },
            "bytes_scanned": { "type": "integer" },
        }), &["rows_scanned", "bytes_scanned"]),
        "RunPage": page_of("Run"),
        "RunAccepted": object(json!({ "run_id": uuid, "dataset": string }), &[]),
        "MetricSeries": object(json!({
            "dataset": string,
            "check": string,
            "points": {
                "type": "array",
                "items": object(json!({
                    "at": time,
                    "value": { "type": "number" },
                    "lower": {
                        "type": "number",
                        "description": "The band an anomaly threshold expected, when one judged",
                    },
                    "upper": { "type": "number" },
                    "anomalous": { "type": "boolean" },
                    "shift": {
                        "type": "boolean",
                        "description": "An anomaly later accepted as part of a level shift",
                    },
                    "feedback": schema_ref("Feedback"),
                }), &["lower", "upper", "feedback"]),
            },
        }), &[]),
        "SchemaHistory": object(json!({
            "dataset": string,
            "snapshots": { "type": "array", "items": schema_ref("SchemaSnapshot") },
        }), &[]),
        "SchemaSnapshot": object(json!({
            "dataset": string,
            "warehouse": string,
            "run_id": uuid,
            "taken_at": time,
            "columns": {
                "type": "array",
                "items": object(json!({ "name": string, "data_type": string }), &[]),
            },
        }), &[]),
    });
    if let Some(all) = all.as_object_mut() {
        all.extend(alert_schemas());
        all.extend(lineage_schemas());
    }
    all
}

/// Incidents and notifications (apart: one `json!` of every schema is too deep to expand).
fn alert_schemas() -> Map<String, Value> {
    let string = json!({ "type": "string" });
    let opt_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "format": "date-time" });
    let opt_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let schemas = json!({
        "IncidentStatus": { "type": "string", "enum": IncidentStatus::ALL },
        "NotificationStatus": { "type": "string", "enum": NotificationStatus::ALL },
        "Incident": object(json!({
            "id": { "type": "integer", "description": "Increases with creation" },
            "dataset": string,
            "check": string,
            "kind": {
                "type": "string", "enum": IncidentKind::ALL,
                "description": "`failure`: the data broke a rule (or an SLA); `error`: the \
                    check could not run",
            },
            "sla": { "type": "boolean", "description": "The check is part of an SLA" },
            "severity": schema_ref("Severity"),
            "status": schema_ref("IncidentStatus"),
            "opened_at": time,
            "last_seen_at": { "type": "string", "format": "date-time",
                "description": "The latest failing result" },
            "resolved_at": opt_time,
            "resolved_by": { "type": ["string", "null"], "enum": ["check", "api", null] },
            "acknowledged_at": opt_time,
            "muted_until": opt_time,
            "count": { "type": "integer", "description": "Failing results seen" },
            "flaps": { "type": "integer", "description": "Times it failed again soon after \
                resolving" },
            "value": { "type": ["number", "null"] },
            "expected": { "description": "The thresholds of the latest failing result" },
            "message": string,
            "cause": { "type": ["integer", "null"],
                "description": "The upstream incident that likely caused this one" },
            "version": { "type": "integer", "description": "Grows with every change" },
            "announced": { "type": ["string", "null"], "enum": ["open", "resolved", null],
                "description": "What the channels were last told" },
            "last_notified_at": opt_time,
        }), &[]),
        "IncidentPage": page_of("Incident"),
        "IncidentEvent": object(json!({
            "id": { "type": "integer" },
            "incident_id": { "type": "integer" },
            "version": { "type": "integer",
                "description": "The incident's version the change made" },
            "at": time,
            "kind": { "type": "string", "enum": EventKind::ALL },
            "actor": { "type": "string",
                "description": "`check` for what results did; the API token's name for what \
                    people did" },
            "detail": { "type": ["string", "null"],
                "description": "The failing message (opened, reopened), the mute's end \
                    (muted), the cause's incident id (linked)" },
        }), &[]),
        "IncidentEvents": object(json!({
            "items": { "type": "array", "items": schema_ref("IncidentEvent") },
        }), &[]),
        "Notification": object(json!({
            "id": { "type": "integer" },
            "idempotency_key": { "type": "string",
                "description": "incident/version/channel: unique per change and channel" },
            "incident_id": { "type": "integer" },
            "transition": { "type": "string", "enum": Transition::ALL },
            "channel": string,
            "status": schema_ref("NotificationStatus"),
            "attempts": count,
            "next_attempt_at": time,
            "last_error": opt_string,
            "created_at": time,
            "delivered_at": opt_time,
        }), &[]),
        "NotificationPage": page_of("Notification"),
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The lineage graph and what recording an event answers.
fn lineage_schemas() -> Map<String, Value> {
    let string = json!({ "type": "string" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let opt_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "format": "date-time" });
    let schemas = json!({
        "LineageRecorded": object(json!({
            "job": { "type": "string", "description": "namespace/name of the event's job" },
            "inputs": strings,
            "outputs": strings,
        }), &[]),
        "LineageSource": { "type": "string", "enum": Source::ALL.map(Source::as_str) },
        "Lineage": object(json!({
            "nodes": {
                "type": "array",
                "items": object(json!({
                    "name": string,
                    "warehouse": opt_string,
                    "dataset": { "type": ["string", "null"],
                        "description": "The project's dataset of that name, if declared" },
                    "distance": { "type": ["integer", "null"], "minimum": 0,
                        "description": "Edges away from `dataset` (null without one)" },
                }), &[]),
            },
            "edges": {
                "type": "array",
                "items": object(json!({
                    "upstream": string,
                    "downstream": string,
                    "source": schema_ref("LineageSource"),
                    "first_seen": time,
                    "last_seen": time,
                }), &[]),
            },
            "cycles": {
                "type": "array",
                "description": "Each cycle as a path from a node back to itself",
                "items": strings,
            },
            "problems": {
                "type": "array",
                "description": "Sources that could not be read (an invalid dbt manifest)",
                "items": string,
            },
        }), &[]),
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `$ref` in `value`.
    fn refs(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.insert(target.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_route_is_documented_once_and_nothing_else() {
        let doc = document(false);
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for verb in item.as_object().into_iter().flatten().map(|(k, _)| k) {
                documented.insert((verb.clone(), path.clone()));
            }
        }
        let served: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.verb.name().to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document(true);
        let mut targets = BTreeSet::new();
        refs(&doc, &mut targets);
        for target in targets {
            let pointer = target.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "dangling {target}");
        }
    }

    #[test]
    fn security_follows_access_and_configuration() {
        let security =
            |doc: &Value, path: &str, verb: &str| doc["paths"][path][verb]["security"].clone();
        let open = document(false);
        let closed = document(true);
        let bearer = json!([{ "bearer": [] }]);
        assert_eq!(security(&open, "/datasets", "get"), json!([]));
        assert_eq!(security(&closed, "/datasets", "get"), bearer);
        assert_eq!(security(&closed, "/health", "get"), json!([]));
        assert_eq!(security(&open, "/reload", "post"), bearer);
        assert!(open["paths"]["/reload"]["post"]["responses"]["401"].is_object());
        assert!(open["paths"]["/datasets"]["get"]["responses"]["401"].is_null());
    }

    #[test]
    fn path_parameters_are_declared_for_every_templated_segment() {
        let doc = document(false);
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.verb.name()];
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| doc.pointer(p["$ref"].as_str()?.trim_start_matches('#')))
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            let templated: BTreeSet<String> = route
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, templated, "{}", route.path);
        }
    }
}
