//! Tidemark: declarative data quality checks run inside the warehouse.
//!
//! The path every run takes, from the CLI or the scheduler alike:
//!
//! ```text
//! YAML ──spec::load──▶ Project ──engine::plan──▶ one aggregate SELECT + one schema query
//!      + one query per sql_metric and per distribution profile per dataset ──warehouse──▶
//!      metrics and profiles ──engine::evaluate──▶ results
//! results ──runner──▶ store (runs, results, metric series, schema snapshots) ──web──▶ API
//! ```
//!
//! | module      | owns                                                              |
//! |-------------|-------------------------------------------------------------------|
//! | `spec`      | the check language, validation diagnostics, JSON Schema           |
//! | `warehouse` | connection pools and SQL dialects (quoting, types, clocks)        |
//! | `engine`    | planning checks into few queries, running them, judging outcomes  |
//! | `anomaly`   | detectors over metric series: seasonality, level shifts, bands    |
//! | `distribution` | column profiles and the drift tests between them (KS, PSI, χ²) |
//! | `runner`    | running datasets and recording them: claims, leases, drift base   |
//! | `store`     | history: one contract, Postgres and SQLite implementations        |
//! | `alerts`    | SLAs, incidents, routing, Slack and email delivery via an outbox  |
//! | `scheduler` | cron slots, claiming them once across replicas, retries, reaping  |
//! | `server`    | `tidemark serve`: start-up, signals, graceful stop                |
//! | `web`       | the JSON API under `/api/v1`, tokens, OpenAPI                     |
//! | `dashboard` | server-rendered HTML pages and SVG charts beside the API          |
//! | `telemetry` | logs (text/JSON), OTLP traces and metrics, Prometheus `/metrics`  |
//! | `lineage`   | the dataset graph from its four sources, impact, cycles           |
//! | `report`    | rendering results for terminals, JSON and JUnit                   |
//! | `demo`      | the self-contained demo warehouse and example suite               |
//! | `cli`       | the `tidemark` commands                                           |

pub mod alerts;
pub mod anomaly;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod distribution;
pub mod engine;
pub mod lineage;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod spec;
pub mod store;
pub mod telemetry;
pub mod warehouse;
pub mod web;
