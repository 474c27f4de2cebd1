//! Tidemark: declarative data quality checks run inside the warehouse.
//!
//! The path every run takes (the CLI's and, later, the scheduler's):
//!
//! ```text
//! YAML ──spec::load──▶ Project ──engine::plan──▶ one aggregate SELECT + one schema query
//!      + one query per sql_metric per dataset ──warehouse──▶ metrics ──engine::evaluate──▶ results
//! ```
//!
//! | module      | owns                                                              |
//! |-------------|-------------------------------------------------------------------|
//! | `spec`      | the check language, validation diagnostics, JSON Schema           |
//! | `warehouse` | connection pools and SQL dialects (quoting, types, clocks)        |
//! | `engine`    | planning checks into few queries, running them, judging outcomes  |
//! | `report`    | rendering results for terminals, JSON and JUnit                   |
//! | `demo`      | the self-contained demo warehouse and example suite               |
//! | `scheduler` | cron slots, claiming them once across replicas, retries, reaping  |
//! | `server`    | `tidemark serve`: start-up, signals, graceful stop                |
//! | `telemetry` | logs (text/JSON), OTLP traces and metrics, Prometheus `/metrics`  |
//! | `cli`       | the `tidemark` commands                                           |

pub mod cli;
pub mod demo;
pub mod engine;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod spec;
pub mod store;
pub mod telemetry;
pub mod warehouse;
pub mod web;
