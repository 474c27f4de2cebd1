//! What the benchmark prints: the report (totals, then per scenario and per family and
//! cadence) and `--dump`'s CSV of one series.

use std::collections::BTreeMap;

use tidemark::anomaly::baseline::ZScore;
use tidemark::anomaly::judge_series;

use crate::detectors::Detector;
use crate::score::Score;
use crate::series::{Cadence, Label, Series};

/// `--dump N`: one series as CSV with its labels and both detectors' verdicts, to look at
/// what a detector did and why.
pub(crate) fn dump(series: &[Series], index: usize) {
    let Some(s) = series.get(index) else {
        eprintln!("there are {} series", series.len());
        std::process::exit(2)
    };
    println!(
        "# {} {} {}",
        s.family.name(),
        s.cadence.name(),
        s.scenario.name()
    );
    println!("i,ts,value,label,tidemark,zscore,lower,upper,reason");
    let ours = judge_series(&s.points, &s.settings);
    let z = ZScore::default().judge_series(&s.points);
    for (i, p) in s.points.iter().enumerate() {
        let (lower, upper) = ours[i].band().unwrap_or((f64::NAN, f64::NAN));
        println!(
            "{i},{},{},{:?},{},{},{lower:.3},{upper:.3},\"{}\"",
            p.at.format("%Y-%m-%d %H:%M %a"),
            p.value,
            s.labels[i],
            u8::from(ours[i].is_anomaly()),
            u8::from(z[i].is_anomaly()),
            ours[i].reason()
        );
    }
}

pub(crate) fn print_report(
    seed: u64,
    series: &[Series],
    detectors: &[Detector],
    results: &[Vec<Score>],
    timings: &[(f64, f64)],
) {
    let scored: usize = series
        .iter()
        .map(|s| s.points.len() - s.eval_start.min(s.points.len()))
        .sum();
    let hourly = series
        .iter()
        .filter(|s| s.cadence == Cadence::Hourly)
        .count();
    let events: usize = series.iter().map(|s| s.events.len()).sum();
    let positives: usize = series
        .iter()
        .map(|s| {
            s.labels[s.eval_start..]
                .iter()
                .filter(|l| **l == Label::Anomaly)
                .count()
        })
        .sum();
    println!(
        "Seed {seed}: {} series ({hourly} hourly, {} daily), {scored} scored points, \
         {positives} anomalous points in {events} events.",
        series.len(),
        series.len() - hourly
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    println!("Machine: {cores} cores, load average {load} when the timings were taken.\n");
    println!(
        "| detector | precision | recall | F1 | event recall | false alarms / 100 normal | \
         delay mean | delay median | judge p50 (µs) | judge p99 (µs) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (d, detector) in detectors.iter().enumerate() {
        let mut total = Score::default();
        for s in &results[d] {
            total.add(s);
        }
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.1} | {:.0} | {:.0} |",
            detector.name(),
            total.precision(),
            total.recall(),
            total.f1(),
            total.event_recall(),
            total.false_alarms_per_100(),
            total.mean_delay(),
            total.median_delay(),
            timings[d].0,
            timings[d].1
        );
    }
    print_breakdown("scenario", series, detectors, results, |s| {
        s.scenario.name().to_string()
    });
    print_breakdown("family and cadence", series, detectors, results, |s| {
        format!("{} ({})", s.family.name(), s.cadence.name())
    });
}

fn print_breakdown(
    by: &str,
    series: &[Series],
    detectors: &[Detector],
    results: &[Vec<Score>],
    key: impl Fn(&Series) -> String,
) {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        groups.entry(key(s)).or_default().push(i);
    }
    println!(
        "\nPer {by}: F1 / point recall / event recall / false alarms per 100 normal points.\n"
    );
    let names: Vec<String> = detectors.iter().map(Detector::name).collect();
    println!("| {by} | series | events | {} |", names.join(" | "));
    println!("|---|---|---|{}", "---|".repeat(detectors.len()));
    for (name, members) in groups {
        let events: usize = members.iter().map(|&i| series[i].events.len()).sum();
        let cells: Vec<String> = (0..detectors.len())
            .map(|d| {
                let mut total = Score::default();
                for &i in &members {
                    total.add(&results[d][i]);
                }
                format!(
                    "{} / {} / {} / {:.2}",
                    fmt_opt(total.f1()),
                    fmt_opt(total.recall()),
                    fmt_opt(total.event_recall()),
                    total.false_alarms_per_100()
                )
            })
            .collect();
        println!(
            "| {name} | {} | {events} | {} |",
            members.len(),
            cells.join(" | ")
        );
    }
}

fn fmt_opt(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{x:.2}")
    }
}
