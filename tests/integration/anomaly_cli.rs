//! The contract of `tidemark anomaly detect`, black-box: CSV in on stdin, one
//! `ts,is_anomaly,lower,upper` row out per input row, each judged only from the rows
//! before it (so the output for a prefix of the input is a prefix of the output), and bad
//! input rejected with its line and column and exit code 2.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::Output;

/// Runs `tidemark anomaly detect ARGS` with `input` on stdin.
fn detect(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["anomaly", "detect"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TIDEMARK_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tidemark binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for tidemark");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Hourly rows for three weeks: a daily cycle with a little deterministic noise, a spike
/// at row 400 and a drop at row 450.
fn hourly_csv() -> String {
    let mut csv = String::from("ts,value\n");
    for i in 0..504u32 {
        let hour = f64::from(i % 24);
        let wobble = f64::from((i * 37) % 11) / 10.0 - 0.5;
        let mut value = 100.0 + 40.0 * (std::f64::consts::PI * hour / 12.0).sin() + wobble;
        if i == 400 {
            value *= 3.0;
        }
        if i == 450 {
            value = 0.0;
        }
        let day = 1 + i / 24;
        csv.push_str(&format!(
            "2026-03-{day:02}T{:02}:00:00Z,{value:.3}\n",
            i % 24
        ));
    }
    csv
}

fn data_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().skip(1).collect()
}

#[test]
fn prints_a_band_for_every_row_and_flags_the_spike_and_the_drop() {
    let out = detect(&["--kind", "row_count"], &hourly_csv());
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "ts,is_anomaly,lower,upper");
    let rows = data_lines(&out.stdout);
    assert_eq!(rows.len(), 504);
    // Before the minimum history: not judged, no band.
    assert_eq!(rows[0], "2026-03-01T00:00:00Z,false,,");
    assert_eq!(rows[13], "2026-03-01T13:00:00Z,false,,");
    let fields: Vec<&str> = rows[14].split(',').collect();
    assert!(
        !fields[2].is_empty() && !fields[3].is_empty(),
        "{}",
        rows[14]
    );
    let flagged: Vec<usize> = (336..504).filter(|&i| rows[i].contains(",true,")).collect();
    assert!(
        flagged.contains(&400) && flagged.contains(&450),
        "{flagged:?}"
    );
    assert!(
        flagged.len() <= 4,
        "few false alarms in the last week: {flagged:?}"
    );
}

#[test]
fn each_row_is_judged_only_from_the_rows_before_it() {
    let csv = hourly_csv();
    let full = detect(&[], &csv);
    full.assert_code(0);
    let full_rows = data_lines(&full.stdout);
    for keep in [20, 337, 401, 451] {
        let prefix: String = csv
            .lines()
            .take(keep + 1)
            .map(|l| format!("{l}\n"))
            .collect();
        let out = detect(&[], &prefix);
        out.assert_code(0);
        assert_eq!(
            data_lines(&out.stdout),
            full_rows[..keep],
            "prefix of {keep} rows"
        );
    }
}

#[test]
fn options_change_the_judgement() {
    let csv = hourly_csv();
    let up_only = detect(&["--direction", "up"], &csv);
    up_only.assert_code(0);
    let rows = data_lines(&up_only.stdout);
    assert!(rows[400].contains(",true,"), "{}", rows[400]);
    assert!(
        rows[450].contains(",false,"),
        "the drop is not alerted on: {}",
        rows[450]
    );
    let lenient = detect(
        &["--sensitivity", "50", "--holidays", "DE,2026-03-10"],
        &csv,
    );
    lenient.assert_code(0);
    let flagged: Vec<usize> = data_lines(&lenient.stdout)
        .iter()
        .enumerate()
        .filter(|(_, row)| row.contains(",true,"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged, [400, 450], "only the tripled and the zero value");
    let later = detect(&["--min-history", "100"], &csv);
    assert!(data_lines(&later.stdout)[99].ends_with(",false,,"));
}

#[test]
fn dates_and_naive_timestamps_without_a_header() {
    let csv: String = (1..=28)
        .map(|d| format!("2026-02-{d:02},{}\n", 10 + d % 3))
        .collect();
    let out = detect(&[], &csv);
    out.assert_code(0);
    assert_eq!(data_lines(&out.stdout).len(), 28);
    let out = detect(&[], "2026-02-01 10:00:00,1\n2026-02-01 11:00:00,2\n");
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "ts,is_anomaly,lower,upper\n2026-02-01 10:00:00,false,,\n2026-02-01 11:00:00,false,,\n"
    );
}

#[test]
fn empty_input_prints_the_header_only() {
    let out = detect(&[], "");
    out.assert_code(0);
    assert_eq!(out.stdout, "ts,is_anomaly,lower,upper\n");
}

#[test]
fn bad_input_names_the_line_and_column_and_exits_2() {
    let cases = [
        (
            "ts,value\n2026-01-01,1\n2026-01-02,lots\n",
            "line 3, column 2: `lots` is not a number",
        ),
        (
            "2026-01-01,1\nnot a time,2\n",
            "line 2, column 1: `not a time` is not a timestamp",
        ),
        (
            "2026-01-01,1,3\n",
            "line 1: expected 2 columns (ts,value), found 3",
        ),
        (
            "2026-01-01,inf\n",
            "line 1, column 2: `inf` is not a finite number",
        ),
        (
            "2026-01-02,1\n2026-01-01,2\n",
            "line 2, column 1: 2026-01-01 is earlier than the row before it",
        ),
    ];
    for (input, message) in cases {
        let out = detect(&[], input);
        out.assert_code(2);
        assert!(out.stdout.is_empty(), "no partial output: {}", out.both());
        assert!(out.stderr.contains(message), "{message}\n{}", out.both());
    }
    let bad_flag = detect(&["--kind", "weight"], "");
    bad_flag.assert_code(2);
    assert!(
        bad_flag.stderr.contains("unknown metric kind `weight`"),
        "{}",
        bad_flag.both()
    );
    let bad_holidays = detect(&["--holidays", "XX"], "");
    bad_holidays.assert_code(2);
    assert!(
        bad_holidays.stderr.contains("unknown holiday country `XX`"),
        "{}",
        bad_holidays.both()
    );
}
