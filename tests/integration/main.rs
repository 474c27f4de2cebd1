//! End-to-end tests: the `tidemark` binary against real Postgres, MariaDB, SQLite and
//! DuckDB (in builds with the `warehouse-duckdb` feature).
//! One test binary (faster to link, shared helpers); one module per area.

mod forms;
mod receivers;
mod support;

mod alerts;
mod anomaly_cli;
mod anomaly_feedback;
mod api;
mod browser;
mod cli;
mod dashboard;
mod dashboard_actions;
mod dashboard_lineage;
mod dashboard_pages;
mod demo;
mod diagnostics;
mod distribution;
mod durability;
mod engines;
mod faults;
#[cfg(feature = "warehouse-duckdb")]
mod files;
mod history;
mod identifiers;
mod limits;
mod lineage;
mod metrics;
mod partitions;
mod query_count;
mod serve;
mod store_contract;
mod telemetry;
