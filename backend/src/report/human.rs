//! The terminal table: one block per dataset, one line per check, then a summary line.

use std::fmt::Write;

use crate::results::{Outcome, RunReport};

/// Whether to colour the output (a terminal without `NO_COLOR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HumanStyle {
    Plain,
    Colour,
}

pub fn render_human(report: &RunReport, style: HumanStyle) -> String {
    let paint = |outcome: Outcome, text: &str| match style {
        HumanStyle::Plain => text.to_string(),
        HumanStyle::Colour => format!("\x1b[{}m{text}\x1b[0m", colour(outcome)),
    };
    let name_width = report
        .results
        .iter()
        .map(|r| r.check.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut current: Option<(&str, &str)> = None;
    for result in &report.results {
        let dataset = (result.dataset.as_str(), result.warehouse.as_str());
        if current != Some(dataset) {
            if current.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{} ({})", result.dataset, result.warehouse);
            current = Some(dataset);
        }
        let label = paint(result.outcome, &format!("{:<5}", result.outcome.as_str()));
        let _ = writeln!(
            out,
            "  {label}  {:<name_width$}  {}",
            result.check, result.message
        );
    }
    if !report.results.is_empty() {
        out.push('\n');
    }
    let s = report.summary;
    let seconds = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    let worst = [Outcome::Error, Outcome::Fail, Outcome::Warn]
        .into_iter()
        .find(|o| report.results.iter().any(|r| r.outcome == *o))
        .unwrap_or(Outcome::Pass);
    let line = format!(
        "{} {}: {} pass, {} warn, {} fail, {} error in {seconds:.2}s",
        s.total(),
        if s.total() == 1 { "check" } else { "checks" },
        s.pass,
        s.warn,
        s.fail,
        s.error
    );
    let line = match report.cost.datasets.is_empty() {
        true => line,
        false => format!("{line} ({})", report.cost.total.describe()),
    };
    let _ = writeln!(out, "{}", paint(worst, &line));
    out
}

fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "32",
        Outcome::Warn => "33",
        Outcome::Fail => "31",
        Outcome::Error => "35",
    }
}
