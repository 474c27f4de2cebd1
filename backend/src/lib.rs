//! Tidemark: declarative data quality checks run inside the warehouse.
//!
//! The path every run takes, from the CLI or the scheduler alike:
//!
//! ```text
//! YAML ──spec::load──▶ Project ──engine::plan──▶ one aggregate SELECT + one schema query
//!      + one query per sql_metric and per distribution profile per dataset ──warehouse──▶
//!      metrics and profiles ──engine::evaluate──▶ results ──engine::judge──▶ judged results
//!      (anomaly and SLA, against the dataset's history, read once by the runner beforehand)
//! judged results ──runner──▶ store (runs, results, metric series, schema snapshots)
//!      ──alerts──▶ incidents and notifications;  store ──web / dashboard──▶ API and pages
//! ```
//!
//! The modules in layers: a module uses only modules of lower layers, never one of its own
//! layer or above (`layering_points_down` below reads every `use crate::…` of the sources
//! and holds the code to this table).
//!
//! | layer | module         | owns                                                          |
//! |-------|----------------|---------------------------------------------------------------|
//! | 0     | `telemetry`    | logs (text/JSON), OTLP traces and metrics, Prometheus         |
//! | 0     | `holidays`     | public holiday calendars by country                           |
//! | 0     | `formats`      | documents other tools write: dbt manifests, JSON by path      |
//! | 1     | `spec`         | the check language, validation diagnostics, JSON Schema, the user-SQL guard, secrets |
//! | 2     | `warehouse`    | connection pools and SQL dialects (quoting, types, clocks)    |
//! | 2     | `anomaly`      | detectors over metric series: seasonality, level shifts, bands |
//! | 2     | `distribution` | column profiles and the drift tests between them (KS, PSI, χ²) |
//! | 3     | `results`      | check results, outcomes, bands, metric points, snapshots, profiles |
//! | 4     | `lineage`      | the dataset graph from its four sources, impact, cycles       |
//! | 5     | `engine`       | planning checks into few queries, running them, judging outcomes (thresholds, drift, anomaly, SLA) |
//! | 6     | `store`        | history: one trait per area, SQL written once for Postgres and SQLite |
//! | 7     | `alerts`       | incidents, routing, Slack and email delivery via an outbox    |
//! | 8     | `runner`       | running datasets and recording them: claims, leases, history read once |
//! | 9     | `scheduler`    | cron slots, claiming them once across replicas, retries, reaping |
//! | 10    | `web`          | the JSON API under `/api/v1`, tokens, OpenAPI                 |
//! | 10    | `report`       | rendering results for terminals, JSON and JUnit               |
//! | 11    | `dashboard`    | server-rendered HTML pages and SVG charts beside the API      |
//! | 12    | `server`       | `tidemark serve`: start-up, HTTP, signals, graceful stop      |
//! | 13    | `demo`         | the self-contained demo warehouse and example suite           |
//! | 14    | `cli`          | the `tidemark` commands                                       |

pub mod alerts;
pub mod anomaly;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod distribution;
pub mod engine;
pub mod formats;
pub mod holidays;
pub mod lineage;
pub mod report;
pub mod results;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod spec;
pub mod store;
pub mod telemetry;
pub mod warehouse;
pub mod web;

#[cfg(test)]
mod layering;
