//! `tidemark anomaly detect`: judges a metric series given as CSV on stdin, each row only
//! from the rows before it, and prints `ts,is_anomaly,lower,upper` for every row.
//!
//! The whole input is read and checked before anything is printed, so bad input gives one
//! error naming its line and column (exit 2) and no partial output.

use std::io::{BufRead, Write};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::EXIT_ERROR;
use crate::anomaly::{
    Direction, HolidayCalendar, MetricKind, Point, Sensitivity, Settings, Verdict, judge_series,
};

#[derive(Debug, clap::Subcommand)]
pub(super) enum AnomalyCommand {
    /// Judge every point of a series read as CSV `ts,value` on stdin (header optional);
    /// prints `ts,is_anomaly,lower,upper`, each row judged only from the rows before it.
    Detect(DetectArgs),
}

#[derive(Debug, clap::Args)]
pub(super) struct DetectArgs {
    /// What the metric is: row_count, freshness, missing_percent, missing_count,
    /// duplicate_count, invalid_count, avg, sum, min, max, stddev, sql_metric.
    #[arg(long, default_value = "avg", value_parser = parse_kind)]
    kind: MetricKind,
    /// Holidays judged like Sundays: country codes (US, GB, DE, FR, NL) and/or
    /// YYYY-MM-DD dates, comma-separated.
    #[arg(long, value_name = "CC")]
    holidays: Option<HolidayCalendar>,
    /// low, medium, high, or the band's half-width in standard deviations.
    #[arg(long, default_value = "medium")]
    sensitivity: Sensitivity,
    /// Which deviations alert: up, down or both [default: up for freshness, else both].
    #[arg(long)]
    direction: Option<Direction>,
    /// Points of history needed before judging.
    #[arg(long, default_value_t = crate::anomaly::DEFAULT_MIN_HISTORY)]
    min_history: usize,
    /// Time zone for seasonality and holidays (and for timestamps without an offset).
    #[arg(long, value_name = "TZ")]
    timezone: Option<Tz>,
}

fn parse_kind(s: &str) -> Result<MetricKind, String> {
    MetricKind::from_check(s).ok_or_else(|| format!("unknown metric kind `{s}`"))
}

pub(super) fn run(command: AnomalyCommand) -> u8 {
    match command {
        AnomalyCommand::Detect(args) => detect(args),
    }
}

fn detect(args: DetectArgs) -> u8 {
    let settings = Settings {
        sensitivity: args.sensitivity,
        direction: args
            .direction
            .unwrap_or(Settings::for_kind(args.kind).direction),
        kind: args.kind,
        min_history: args.min_history,
        holidays: args.holidays,
        timezone: args.timezone,
    };
    let rows = match read_rows(std::io::stdin().lock(), settings.timezone) {
        Ok(rows) => rows,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_ERROR;
        }
    };
    let points: Vec<Point> = rows.iter().map(|r| r.point).collect();
    let verdicts = judge_series(&points, &settings);
    match write_verdicts(std::io::stdout().lock(), &rows, &verdicts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            EXIT_ERROR
        }
    }
}

/// One input row: its timestamp as written (echoed back) and the point.
#[derive(Debug, PartialEq)]
struct Row {
    ts: String,
    point: Point,
}

/// Reads `ts,value` rows. A first line whose first field is not a timestamp is a header.
fn read_rows(input: impl BufRead, timezone: Option<Tz>) -> Result<Vec<Row>, String> {
    let mut rows: Vec<Row> = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("line {number}: cannot read the input: {e}"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if number == 1 && parse_ts(fields[0], timezone).is_none() {
            continue; // header
        }
        let row = parse_row(&fields, number, timezone)?;
        if let Some(previous) = rows.last()
            && row.point.at < previous.point.at
        {
            return Err(format!(
                "line {number}, column 1: {} is earlier than the row before it ({}); sort the \
                 rows by time",
                row.ts, previous.ts
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

fn parse_row(fields: &[&str], number: usize, timezone: Option<Tz>) -> Result<Row, String> {
    let [ts, value] = fields else {
        return Err(format!(
            "line {number}: expected 2 columns (ts,value), found {}",
            fields.len()
        ));
    };
    let at = parse_ts(ts, timezone).ok_or_else(|| {
        format!(
            "line {number}, column 1: `{ts}` is not a timestamp (RFC 3339, YYYY-MM-DD or \
             YYYY-MM-DD HH:MM:SS)"
        )
    })?;
    let value: f64 = value
        .parse()
        .map_err(|_| format!("line {number}, column 2: `{value}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!(
            "line {number}, column 2: `{value}` is not a finite number"
        ));
    }
    Ok(Row {
        ts: (*ts).to_string(),
        point: Point::new(at, value),
    })
}

/// RFC 3339, or a date or date-time without an offset (in `timezone`, else UTC).
fn parse_ts(s: &str, timezone: Option<Tz>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Some(at.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    match timezone {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|at| at.with_timezone(&Utc)),
        None => Some(naive.and_utc()),
    }
}

fn write_verdicts(mut out: impl Write, rows: &[Row], verdicts: &[Verdict]) -> std::io::Result<()> {
    writeln!(out, "ts,is_anomaly,lower,upper")?;
    for (row, verdict) in rows.iter().zip(verdicts) {
        let (lower, upper) = verdict
            .band()
            .map(|(l, u)| (number(l), number(u)))
            .unwrap_or_default();
        writeln!(out, "{},{},{lower},{upper}", row.ts, verdict.is_anomaly())?;
    }
    out.flush()
}

/// Up to 6 decimals, without trailing zeros.
fn number(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Result<Vec<Row>, String> {
        read_rows(input.as_bytes(), None)
    }

    #[test]
    fn reads_rows_with_or_without_a_header() {
        let with = read("ts,value\n2026-01-01,1\n2026-01-02 03:04:05,2.5\n").expect("rows");
        let without = read("2026-01-01T00:00:00Z,1\n").expect("rows");
        assert_eq!(with.len(), 2);
        assert_eq!(with[1].point.value, 2.5);
        assert_eq!(with[0].point.at, without[0].point.at);
    }

    #[test]
    fn bad_input_names_the_line_and_column() {
        assert_eq!(
            read("ts,value\n2026-01-01,1\n2026-01-02,abc\n"),
            Err("line 3, column 2: `abc` is not a number".into())
        );
        assert!(
            read("2026-01-01,1\nyesterday,2\n")
                .expect_err("an error")
                .starts_with("line 2, column 1:")
        );
        assert_eq!(
            read("2026-01-01,1,2\n"),
            Err("line 1: expected 2 columns (ts,value), found 3".into())
        );
        assert!(
            read("2026-01-01,NaN\n")
                .expect_err("an error")
                .contains("not a finite number")
        );
        assert!(
            read("2026-01-02,1\n2026-01-01,2\n")
                .expect_err("an error")
                .contains("sort the rows")
        );
    }

    #[test]
    fn naive_timestamps_follow_the_time_zone() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let rows = read_rows("2026-07-01 12:00:00,1\n".as_bytes(), Some(berlin)).expect("rows");
        assert_eq!(rows[0].point.at.to_rfc3339(), "2026-07-01T10:00:00+00:00");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-0.0000001), "0");
        assert_eq!(number(0.1234567), "0.123457");
    }
}
