//! JUnit XML, the format CI systems (GitLab, Jenkins, GitHub test reporters) read: one
//! testsuite per dataset, one testcase per check. `fail` is a failure, `error` an error;
//! JUnit has no warning, so a `warn` passes with its message in system-out.

use std::fmt::Write;

use crate::results::{CheckResult, Outcome, RunReport, Summary};

pub fn render_junit(report: &RunReport) -> String {
    let seconds = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    let s = report.summary;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tidemark\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{seconds:.3}\">",
        s.total(),
        s.fail,
        s.error
    );
    for (dataset, results) in group_by_dataset(&report.results) {
        let s = Summary::of(results.iter().map(|r| r.outcome));
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" timestamp=\"{}\">",
            escape(dataset),
            s.total(),
            s.fail,
            s.error,
            report.started_at.format("%Y-%m-%dT%H:%M:%S")
        );
        for result in results {
            write_case(&mut out, result);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn write_case(out: &mut String, r: &CheckResult) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        escape(&r.dataset),
        escape(&r.check)
    );
    let message = escape(&r.message);
    let _ = match r.outcome {
        Outcome::Pass => writeln!(out, "/>"),
        Outcome::Warn => writeln!(
            out,
            ">\n      <system-out>warn: {message}</system-out>\n    </testcase>"
        ),
        Outcome::Fail => writeln!(
            out,
            ">\n      <failure message=\"{message}\" type=\"{}\">{message}</failure>\n    </testcase>",
            r.kind
        ),
        Outcome::Error => writeln!(
            out,
            ">\n      <error message=\"{message}\" type=\"{}\">{message}</error>\n    </testcase>",
            r.kind
        ),
    };
}

fn group_by_dataset(results: &[CheckResult]) -> Vec<(&str, Vec<&CheckResult>)> {
    let mut groups: Vec<(&str, Vec<&CheckResult>)> = Vec::new();
    for result in results {
        match groups.iter_mut().find(|(name, _)| *name == result.dataset) {
            Some((_, members)) => members.push(result),
            None => groups.push((&result.dataset, vec![result])),
        }
    }
    groups
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot hold at all
/// (most control characters) are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
