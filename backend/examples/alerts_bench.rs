//! Alert delivery benchmark (issue: SLAs, incidents and alerts), run by
//! `tests/bench/alerts.sh`: opens N incidents at once (N datasets whose runs finish together,
//! each with a failing check) through the same path as the runner, then measures how long
//! the outbox worker takes to deliver every notification to a local Slack receiver (an axum
//! server here) and a local SMTP server (aiosmtpd), and the rate it held.
//!
//! ```text
//! cargo run --release --example alerts_bench -- STORE_URL SMTP_URL [N]
//! ```
//! STORE_URL: `sqlite:` (a new file) or `postgres://…` (an empty database).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tidemark::alerts::{self, Alerting};
use tidemark::results::{CheckResult, Outcome};
use tidemark::spec;
use tidemark::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(store_url), Some(smtp_url)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: alerts_bench STORE_URL SMTP_URL [N]");
    };
    let n: usize = args.get(3).map_or(Ok(1_000), |n| n.parse())?;
    let _ = rustls::crypto::ring::default_provider().install_default();

    let slack = Arc::new(AtomicUsize::new(0));
    let hook = receiver(Arc::clone(&slack)).await?;
    let dir = tempfile::tempdir()?;
    let project = project(dir.path(), n, &hook, smtp_url)?;
    let store = Arc::new(Store::open(Some(store_url), dir.path()).await?);
    let (_keep, watched) = tokio::sync::watch::channel(Arc::clone(&project));
    let alerting = Alerting::new(watched, alerts::Settings::default())
        .map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(alerts::run(
        Arc::clone(&alerting),
        Arc::clone(&store),
        stopped,
    ));

    let started = Instant::now();
    let runs = project.datasets.iter().map(|dataset| {
        let (store, alerting) = (Arc::clone(&store), Arc::clone(&alerting));
        async move {
            let result = failing(&dataset.name);
            alerts::after_run(&alerting, &store, dataset, std::slice::from_ref(&result)).await;
        }
    });
    join_all(runs).await;
    let opened = started.elapsed();
    let mut slack_done = None;
    let mut email_done = None;
    while slack_done.is_none() || email_done.is_none() {
        if slack_done.is_none() && slack.load(Ordering::Relaxed) >= n {
            slack_done = Some(started.elapsed());
        }
        if email_done.is_none() && delivered_emails(&store).await? >= n {
            email_done = Some(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not delivered in 10 min"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = slack_done.max(email_done).unwrap_or_default();
    println!(
        "store={} incidents={n} opened_in={:.2}s slack_all_delivered={:.2}s email_all_delivered={:.2}s \
         all={:.2}s rate={:.0}/s",
        store.kind(),
        opened.as_secs_f64(),
        slack_done.unwrap_or_default().as_secs_f64(),
        email_done.unwrap_or_default().as_secs_f64(),
        all.as_secs_f64(),
        (2 * n) as f64 / all.as_secs_f64(),
    );
    stop.send_replace(true);
    worker.await?;
    Ok(())
}

/// Emails delivered according to the store (the SMTP server acknowledged each).
async fn delivered_emails(store: &Store) -> anyhow::Result<usize> {
    use tidemark::store::{NotificationFilter, NotificationStatus, Page};
    let filter = NotificationFilter {
        status: Some(NotificationStatus::Delivered),
        ..NotificationFilter::default()
    };
    let mut count = 0;
    let mut before = None;
    loop {
        let page = store
            .notifications(
                &filter,
                Page {
                    limit: Page::MAX_LIMIT,
                    before,
                },
            )
            .await?;
        count += page.items.iter().filter(|n| n.channel == "mail").count();
        match page.next {
            Some(next) => before = Some(next),
            None => return Ok(count),
        }
    }
}

/// A project of `n` datasets owned by a team with a Slack and an email channel.
fn project(
    dir: &std::path::Path,
    n: usize,
    hook: &str,
    smtp: &str,
) -> anyhow::Result<Arc<spec::Project>> {
    std::fs::write(
        dir.join("tidemark.yml"),
        format!(
            "version: 1\nwarehouses: {{ main: {{ url: 'sqlite://w.db' }} }}\n\
             smtp: {{ url: '{smtp}', from: tidemark@example.com }}\n\
             channels:\n  hook: {{ slack: {{ webhook_url: '{hook}' }} }}\n  \
             mail: {{ email: {{ to: [team@example.com] }} }}\n\
             owners:\n  team: {{ channels: [hook, mail] }}\n"
        ),
    )?;
    std::fs::create_dir_all(dir.join("checks"))?;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("checks/d{i}.yml")),
            format!("dataset: bench.d{i}\nowner: team\nchecks:\n  - row_count: {{ min: 1 }}\n"),
        )?;
    }
    let project = spec::load_with_env(dir, &|_| None).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    Ok(Arc::new(project))
}

fn failing(dataset: &str) -> CheckResult {
    CheckResult {
        dataset: dataset.to_owned(),
        warehouse: "main".into(),
        check: "row_count".into(),
        kind: "row_count".into(),
        column: None,
        columns: None,
        outcome: Outcome::Fail,
        value: Some(0.0),
        expected: Some(serde_json::json!({"min": 1})),
        message: "0 rows (expected at least 1)".into(),
        severity: None,
        band: None,
    }
}

/// A local webhook answering 200, counting what it received; its URL.
async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let count = Arc::clone(&count);
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}
