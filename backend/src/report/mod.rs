//! Rendering a run for its reader: a table for people at a terminal, one JSON document for
//! scripts (CHECKS.md's shape), JUnit XML for CI systems.

mod human;
mod junit;

pub use human::{HumanStyle, render_human};
pub use junit::render_junit;

use crate::results::RunReport;

pub fn render_json(report: &RunReport) -> String {
    // A report holds only strings, numbers and maps: serialization cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
