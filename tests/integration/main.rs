//! End-to-end tests: the `tidemark` binary against real Postgres, MariaDB and SQLite.
//! One test binary (faster to link, shared helpers); one module per area.

mod support;

mod cli;
mod diagnostics;
mod identifiers;
mod limits;
mod metrics;
mod query_count;
