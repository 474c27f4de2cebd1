//! `tidemark backtest --dataset D [--check C] [--sensitivity S]`: replays a dataset's stored
//! metric history through the anomaly detector, each point judged only from the points
//! before it, and shows which would have alerted, so owners can tune noise before they
//! enable alerts. Points users marked as incidents stay out of training, as in real runs.

use serde::Serialize;
use serde_json::json;

use super::{EXIT_ERROR, Format, open_store};
use crate::anomaly::{self, Mark, Point, Sensitivity, Verdict};
use crate::engine::{AnomalyContext, anomaly_settings};
use crate::results::format_number;
use crate::results::{Feedback, MetricPoint};
use crate::spec::{Check, Dataset, Project};

/// What was asked for, besides the project.
pub struct Request {
    pub dataset: String,
    /// Only this check (default: the dataset's checks with an `anomaly` threshold, or every
    /// check if none has one).
    pub check: Option<String>,
    /// Overrides each check's sensitivity.
    pub sensitivity: Option<Sensitivity>,
    pub format: Format,
}

/// One check's replay.
#[derive(Debug, Serialize)]
struct Replay {
    check: String,
    points: usize,
    /// Points judged (after the minimum history).
    judged: usize,
    alerts: Vec<Alert>,
}

#[derive(Debug, Serialize)]
struct Alert {
    at: chrono::DateTime<chrono::Utc>,
    value: f64,
    lower: f64,
    upper: f64,
    reason: String,
}

pub async fn run(project: &Project, request: &Request) -> u8 {
    let Some(dataset) = project.datasets.iter().find(|d| d.name == request.dataset) else {
        eprintln!(
            "error: no dataset named {:?} in the project",
            request.dataset
        );
        return EXIT_ERROR;
    };
    let checks = match checks(dataset, request.check.as_deref()) {
        Ok(checks) => checks,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_ERROR;
        }
    };
    let store = match open_store(project).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut replays = Vec::new();
    for check in checks {
        match store.metric_series(&dataset.name, &check.name, None).await {
            Ok(history) => replays.push(replay(project, dataset, check, &history, request)),
            Err(e) => {
                eprintln!("error: reading the history of {}: {e}", check.name);
                return EXIT_ERROR;
            }
        }
    }
    print(dataset, &replays, request.format);
    0
}

/// The checks to replay.
fn checks<'d>(dataset: &'d Dataset, only: Option<&str>) -> Result<Vec<&'d Check>, String> {
    if let Some(name) = only {
        return match dataset.checks.iter().find(|c| c.name == name) {
            Some(check) => Ok(vec![check]),
            None => Err(format!(
                "dataset {} has no check named {name:?}",
                dataset.name
            )),
        };
    }
    let with_anomaly: Vec<&Check> = dataset
        .checks
        .iter()
        .filter(|c| c.thresholds.anomaly.is_some())
        .collect();
    Ok(if with_anomaly.is_empty() {
        dataset.checks.iter().collect()
    } else {
        with_anomaly
    })
}

fn replay(
    project: &Project,
    dataset: &Dataset,
    check: &Check,
    history: &[MetricPoint],
    request: &Request,
) -> Replay {
    let spec = check.thresholds.anomaly.clone().unwrap_or_default();
    let context = AnomalyContext {
        at: chrono::Utc::now(),
        timezone: dataset.timezone.unwrap_or(project.defaults.timezone),
        holidays: project.holidays.as_ref(),
    };
    let mut settings = anomaly_settings(check, &spec, &context);
    if let Some(sensitivity) = request.sensitivity {
        settings.sensitivity = sensitivity;
    }
    let points: Vec<Point> = history.iter().map(marked).collect();
    let verdicts = anomaly::judge_series(&points, &settings);
    let judged = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Judged(_)))
        .count();
    let alerts = points
        .iter()
        .zip(&verdicts)
        .filter_map(|(point, verdict)| match verdict {
            Verdict::Judged(j) if j.is_anomaly => Some(Alert {
                at: point.at,
                value: point.value,
                lower: j.lower,
                upper: j.upper,
                reason: j.reason.clone(),
            }),
            _ => None,
        })
        .collect();
    Replay {
        check: check.name.clone(),
        points: points.len(),
        judged,
        alerts,
    }
}

/// A stored point as the detector replays it: only users' incidents are kept out up front;
/// which points are anomalies is the replay's own finding.
fn marked(point: &MetricPoint) -> Point {
    let mark = match point.feedback {
        Some(Feedback::Incident) => Mark::Incident,
        _ => Mark::Normal,
    };
    Point::new(point.at, point.value).marked(mark)
}

fn print(dataset: &Dataset, replays: &[Replay], format: Format) {
    if format == Format::Json {
        let doc = json!({ "dataset": dataset.name, "checks": replays });
        println!("{doc:#}");
        return;
    }
    for replay in replays {
        println!(
            "{} · {}: {} points, {} judged, {} would have alerted",
            dataset.name,
            replay.check,
            replay.points,
            replay.judged,
            replay.alerts.len()
        );
        for alert in &replay.alerts {
            println!(
                "  {}  {}  expected [{}, {}]  {}",
                alert.at.to_rfc3339(),
                format_number(alert.value),
                format_number(alert.lower),
                format_number(alert.upper),
                alert.reason
            );
        }
    }
}
